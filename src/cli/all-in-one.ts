/**
 * The all-in-one: every function in one process on embedded SQLite storage. One proxy core
 * hosts the edge (P-CSCF; also the default service for whatever clients send), the I-CSCF, the
 * S-CSCF and the MMTel application server, each addressed by its service host name; requests
 * between them are in-process hops (LocalHop), never sockets.
 */
import type { AllInOneConfig } from '../config/index.js';
import { CachedHss } from '../ims/hss-cache.js';
import { LocalHss } from '../ims/hss-local.js';
import { createMmtelService } from '../ims/mmtel/index.js';
import { ProxyCore, SipStack, TransportLayer, type ProxyListener, type TransportProtocol } from '../sip/index.js';
import { startMetricsServer, type MetricSource } from '../observability/http.js';
import { Lifecycle, type WorkCounts } from '../observability/lifecycle.js';
import { SipInFlight } from '../observability/sip-in-flight.js';
import { startOverloadControl } from '../observability/overload.js';
import { createLogger, errorSink, type Logger } from '../observability/log.js';
import { HttpHss } from '../hss/index.js';
import { SoftphoneTokens } from '../portal/index.js';
import { apiAccess } from './api-key.js';
import { certificateLines, edgeCertificate, type EdgeCertificate } from './edge-certificate.js';
import { startHss, startPortal, startXdms, type HttpService } from './services.js';
import { wireCore, wireEdge } from './ims-wiring.js';
import { listenSip, localAliases } from './sip-node.js';
import { openAllInOneStorage } from './storage.js';

/** One listener, as printed on the ready lines. */
export interface ListenerInfo {
  /** `sip`, `metrics`, ... */
  readonly service: string;
  /** `udp`, `tcp`, `tls`, `ws`, `wss`, `http`. */
  readonly protocol: string;
  readonly address: string;
  readonly port: number;
}

/** A running all-in-one. */
export interface RunningAllInOne {
  readonly listeners: readonly ListenerInfo[];
  /** Lines for the operator to read once (a newly generated API key). */
  readonly notices: readonly string[];
  /** Lines printed after the listeners: the TLS certificate and its fingerprints. */
  readonly details: readonly string[];
  /** The certificate of the TLS and WSS listeners. */
  readonly certificate: EdgeCertificate;
  /** Answers /health/ready; once draining, new SIP requests get 503 (src/observability/lifecycle.ts). */
  readonly lifecycle: Lifecycle;
  /** Requests not yet answered and calls routed through this process (src/observability/sip-in-flight.ts). */
  inFlight(): WorkCounts;
  /** Stops every listener and closes storage. */
  stop(): Promise<void>;
}

/** Options that are not configuration: where errors go (default: the log at `config.log.level`). */
export interface AllInOneHooks {
  readonly onError?: (error: unknown) => void;
}

export async function runAllInOne(config: AllInOneConfig, hooks: AllInOneHooks = {}): Promise<RunningAllInOne> {
  const log = createLogger(config.log.level);
  const onError = hooks.onError ?? errorSink(log, 'sip');
  const lifecycle = new Lifecycle({ graceMs: config.shutdownGraceMs });
  // The all-in-one migrates its PostgreSQL database itself (docs/storage.md, "Choosing the stores").
  const storage = await openAllInOneStorage(config, {
    postgresSchema: 'migrate',
    onError: (backend, error) => log.warn({ err: error.message }, `${backend} connection failed; requests needing it get 503 until it is back`),
    sqliteBackgroundCheckpoints: true,
    onSqliteCheckpointFailure: (error) => log.warn({ err: error.message }, 'SQLite background checkpoints stopped; the event loop does them all again'),
  });
  const transports = new TransportLayer();
  const cleanup: Array<() => void | Promise<void>> = [() => storage.close()];
  const stop = async (): Promise<void> => {
    for (const step of cleanup.splice(0).reverse()) await step();
  };
  try {
    cleanup.push(() => transports.close());
    const certificate = edgeCertificate(config);
    const listeners = await listenSip(transports, config.bind, edgeListeners(config), { cert: certificate.cert, key: certificate.key });
    // The portal's softphone page registers with tokens the registrar accepts (src/portal/softphone-token.ts).
    const softphoneTokens = new SoftphoneTokens(storage.nonceKey);
    const wiring = wire(config, storage, transports, listeners.proxy, onError, log, softphoneTokens, lifecycle);
    cleanup.push(() => wiring.stop());
    const access = apiAccess(config);
    const proxy = listeners.proxy[0]!;
    const wss = listeners.proxy.find((l) => l.protocol === 'WSS')!;
    const forget = (impi: string, impu: string) => wiring.hss.forget(impi, impu);
    const starts = [
      () => startHss(config, storage.subscribers, access.key),
      () => startXdms(config, storage.documents, access.key),
      () => startPortal(config, storage, access.key, `${proxy.host}:${proxy.port} (UDP or TCP)`, forget, { tokens: softphoneTokens, wssPort: wss.port }),
    ];
    const http: HttpService[] = [];
    for (const start of starts) {
      const service = await start();
      cleanup.push(() => service.close());
      http.push(service);
    }
    const metrics = await startMetricsServer(config.bind, config.metricsPort, wiring.metrics, { ready: lifecycle.readiness });
    cleanup.push(() => metrics.close());
    const info = [
      ...listeners.info,
      ...http.flatMap((service) => service.listeners),
      { service: 'metrics', protocol: 'http', address: metrics.address, port: metrics.port },
    ];
    log.info(
      {
        domain: config.domain,
        dataDir: config.dataDir,
        stores: storage.where,
        listeners: info.map((l) => `${l.service}/${l.protocol} ${l.address}:${l.port}`),
        certificate: { origin: certificate.origin, file: certificate.certFile, sha256: certificate.sha256 },
      },
      'all-in-one started',
    );
    cleanup.unshift(() => log.flush());
    lifecycle.markReady();
    const inFlight = () => wiring.inFlight.counts();
    return { listeners: info, notices: access.notices, details: certificateLines(certificate), certificate, lifecycle, inFlight, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}

/**
 * The edge's listeners, each on `config.bind` only: SIP over UDP and TCP (sipPort), TLS (tlsPort),
 * WebSocket (wsPort) and secure WebSocket (wssPort); TLS and WSS present the edge's certificate.
 */
export function edgeListeners(config: AllInOneConfig): Array<[TransportProtocol, number]> {
  return [
    ['UDP', config.sipPort],
    ['TCP', config.sipPort],
    ['TLS', config.tlsPort],
    ['WS', config.wsPort],
    ['WSS', config.wssPort],
  ];
}

function wire(
  config: AllInOneConfig,
  storage: Awaited<ReturnType<typeof openAllInOneStorage>>,
  transports: TransportLayer,
  listeners: ProxyListener[],
  onError: (e: unknown) => void,
  log: Logger,
  softphoneTokens: SoftphoneTokens,
  lifecycle: Lifecycle,
): { stop(): void; metrics: MetricSource[]; hss: CachedHss; inFlight: SipInFlight } {
  const hosts = config.serviceHosts;
  // The core asks the HSS of this process, or the one at hssUrl (TS 29.228 Cx over Homestead's HTTP API).
  const remote = config.hssUrl ? new HttpHss({ url: config.hssUrl, ...(config.apiKey ? { apiKey: config.apiKey } : {}) }) : undefined;
  const hss = new CachedHss(remote ?? new LocalHss(storage.subscribers));
  // New requests get 503 while the SIP listener's queue is over overload.targetLatencyMs.
  const overload = startOverloadControl(config.overload, transports);
  const stack = new SipStack({ transport: transports, onError, autoTrying: false, admit: overload.admit });
  transports.onMessage((m) => stack.receive(m));
  transports.onError(onError);

  const lookupFlow = (id: string) => transports.getFlow(id);
  const edgeWiring = wireEdge({ config, key: storage.nonceKey, registrations: storage.registrations, implicitSetOf: (impu) => hss.implicitSetOf(impu), lookupFlow });
  const { edge, tokens } = edgeWiring;
  const coreWiring = wireCore({
    config,
    hss,
    registrations: storage.registrations,
    nonceCounts: storage.nonceCounts,
    ...(storage.nonceCountsSince === undefined ? {} : { nonceCountsSince: storage.nonceCountsSince }),
    subscriptions: storage.subscriptions,
    nonceKey: storage.nonceKey,
    tokens,
    softphoneTokens,
    log,
    onError,
  });
  const { icscf, scscf } = coreWiring;
  // The MMTel AS (the default iFC's ServerName) reads each user's simservs from the XDMS's store here.
  const mmtel = createMmtelService({
    host: hosts.mmtel,
    domain: config.domain,
    documents: storage.documents,
    internationalPrefixes: config.mmtel.internationalPrefixes,
    homeCountryCode: config.mmtel.homeCountryCode,
    maxDiversions: config.mmtel.maxDiversions,
    onError,
  });
  for (const service of [edge, icscf, scscf, mmtel]) for (const h of service.hosts) coreWiring.inProcess.add(h.toLowerCase());
  // What a graceful stop waits for is counted between the stack and the core; a draining
  // lifecycle refuses new requests (503 with Retry-After) before any service sees them.
  const inFlight = new SipInFlight();
  const core = new ProxyCore({
    transactions: inFlight.layer(stack),
    listeners,
    aliases: localAliases(listeners),
    services: [edge, icscf, scscf, mmtel],
    defaultService: edge,
    lookupFlow,
    flowOfRoutes: (consumed, arrival) => tokens.flowOfRoutes(consumed, arrival),
    supported: ['path', 'outbound'],
    admit: lifecycle.admit,
    onError,
  });
  coreWiring.attach(core);
  stack.setUser(inFlight.user(core));

  transports.onFlowClosed((flow, reason) => {
    stack.flowClosed(flow.id);
    if (reason === 'local') return;
    edge.flowClosed(flow.id);
    void coreWiring.flowFailed(flow.id).catch(onError);
  });
  const metrics: MetricSource[] = [
    ...coreWiring.metrics,
    ...edgeWiring.metrics,
    ...overload.metrics,
    { name: 'tidewater_sip_client_transactions', help: 'SIP client transactions alive.', type: 'gauge', read: () => stack.transactionCount.client },
    { name: 'tidewater_sip_server_transactions', help: 'SIP server transactions alive.', type: 'gauge', read: () => stack.transactionCount.server },
  ];
  return {
    metrics,
    hss,
    inFlight,
    stop() {
      coreWiring.stop();
      edgeWiring.stop();
      overload.stop();
    },
  };
}
