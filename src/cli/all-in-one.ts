/**
 * The all-in-one: every function in one process on embedded SQLite storage. One proxy core
 * hosts the edge (P-CSCF; also the default service for whatever clients send), the I-CSCF, the
 * S-CSCF and the MMTel application server, each addressed by its service host name; requests
 * between them are in-process hops (LocalHop), never sockets.
 */
import { networkInterfaces } from 'node:os';
import type { AllInOneConfig } from '../config/index.js';
import { BindingExpiry } from '../ims/core/expiry.js';
import { IcscfService } from '../ims/core/icscf.js';
import { Isc } from '../ims/core/isc.js';
import { Registrar, type RegistrationListener } from '../ims/core/registrar.js';
import { RegEventNotifier } from '../ims/core/reg-event.js';
import { ORIG_USER, ScscfService } from '../ims/core/scscf.js';
import { ThirdPartyRegistrar } from '../ims/core/third-party-register.js';
import { EdgeService, type FlowRegistration } from '../ims/edge/edge.js';
import { FlowTokens } from '../ims/edge/flow-token.js';
import { CachedHss } from '../ims/hss-cache.js';
import { LocalHss } from '../ims/hss-local.js';
import { HomeDomain } from '../ims/identity.js';
import { FilterCriteriaCache } from '../ims/ifc/index.js';
import { createMmtelService } from '../ims/mmtel/index.js';
import {
  DigestVerifier,
  NonceManager,
  ProxyCore,
  SipStack,
  TransportLayer,
  parseUri,
  systemClock,
  type ProxyListener,
  type TransportProtocol,
} from '../sip/index.js';
import { startMetricsServer, type MetricSource } from '../observability/http.js';
import { Lifecycle, type WorkCounts } from '../observability/lifecycle.js';
import { SipInFlight } from '../observability/sip-in-flight.js';
import { createLogger, errorSink, type Logger } from '../observability/log.js';
import { HttpHss } from '../hss/index.js';
import { SoftphoneTokens } from '../portal/index.js';
import { apiAccess } from './api-key.js';
import { certificateLines, edgeCertificate, type EdgeCertificate } from './edge-certificate.js';
import { startHss, startPortal, startXdms, type HttpService } from './services.js';
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
  });
  const transports = new TransportLayer();
  const cleanup: Array<() => void | Promise<void>> = [() => storage.close()];
  const stop = async (): Promise<void> => {
    for (const step of cleanup.splice(0).reverse()) await step();
  };
  try {
    cleanup.push(() => transports.close());
    const certificate = edgeCertificate(config);
    const listeners = await listen(transports, config, certificate);
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
async function listen(transports: TransportLayer, config: AllInOneConfig, certificate: EdgeCertificate): Promise<{ proxy: ProxyListener[]; info: ListenerInfo[] }> {
  const advertised = advertisedHost(config.bind);
  const proxy: ProxyListener[] = [];
  const info: ListenerInfo[] = [];
  const tls = { cert: certificate.cert, key: certificate.key };
  const wanted: Array<[TransportProtocol, number]> = [
    ['UDP', config.sipPort],
    ['TCP', config.sipPort],
    ['TLS', config.tlsPort],
    ['WS', config.wsPort],
    ['WSS', config.wssPort],
  ];
  let sipPort = config.sipPort;
  for (const [protocol, port] of wanted) {
    // Port 0 for SIP: UDP picks a free port and TCP takes the same one.
    const p = protocol === 'TCP' ? sipPort : port;
    const secure = protocol === 'TLS' || protocol === 'WSS';
    const bound = await transports.listen({ protocol, address: config.bind, port: p, ...(secure ? { tls } : {}) });
    if (protocol === 'UDP') sipPort = bound.port;
    proxy.push({ protocol, host: advertised, port: bound.port });
    info.push({ service: 'sip', protocol: protocol.toLowerCase(), address: bound.address, port: bound.port });
  }
  return { proxy, info };
}

/** The address written into Via, Record-Route and Path: the bind address, or this host's own when bound to all. */
export function advertisedHost(bind: string): string {
  if (bind !== '0.0.0.0' && bind !== '::') return bind;
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (!a.internal && a.family === 'IPv4') return a.address;
  }
  return '127.0.0.1';
}

/** Every address of this host, with each SIP port: Route values naming them address this proxy. */
export function localAliases(listeners: readonly ProxyListener[]): string[] {
  const hosts = new Set(['127.0.0.1', '::1', 'localhost']);
  for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) hosts.add(a.address);
  const out: string[] = [];
  for (const l of listeners) for (const h of hosts) out.push(`${h.includes(':') ? `[${h}]` : h}:${l.port}`);
  return out;
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
  const home = new HomeDomain(config.domain);
  // The core asks the HSS of this process, or the one at hssUrl (TS 29.228 Cx over Homestead's HTTP API).
  const remote = config.hssUrl ? new HttpHss({ url: config.hssUrl, ...(config.apiKey ? { apiKey: config.apiKey } : {}) }) : undefined;
  const hss = new CachedHss(remote ?? new LocalHss(storage.subscribers));
  const tokens = new FlowTokens(storage.nonceKey);
  const scscfName = `sip:${hosts.scscf}`;
  const serviceRoute = `<sip:${ORIG_USER}@${hosts.scscf};lr>`;
  const stack = new SipStack({ transport: transports, onError, autoTrying: false });
  transports.onMessage((m) => stack.receive(m));
  transports.onError(onError);

  const listenersOfChange: RegistrationListener[] = [];
  const onChange: RegistrationListener = (event) => {
    for (const l of listenersOfChange) {
      try {
        l(event);
      } catch (e) {
        onError(e);
      }
    }
  };
  const verifier = new DigestVerifier({
    nonces: new NonceManager({ key: storage.nonceKey, clock: { now: Date.now }, lifetimeSeconds: config.auth.nonceLifetime }),
    nonceCounts: storage.nonceCounts,
  });
  const registrar = new Registrar({
    home,
    realm: config.domain,
    hss,
    registrations: storage.registrations,
    verifier,
    algorithms: config.auth.algorithms,
    limits: config.registration,
    scscf: scscfName,
    serviceRoute,
    flowOfPath: (path) => {
      const first = path[0];
      return first === undefined ? undefined : tokens.flowOf(parseUri(first));
    },
    tokenPasswords: (impi, impu, now) => softphoneTokens.passwordsFor(impi, impu, now),
    onChange,
  });
  const edge = new EdgeService({
    host: hosts.edge,
    registrarRoute: `<sip:${hosts.icscf};lr>`,
    tokens,
    lookupFlow: (id) => transports.getFlow(id),
    recover: async (flowId) => {
      const out = new Map<string, FlowRegistration>();
      const now = Date.now();
      for (const { aor, binding } of await storage.registrations.bindingsOfFlow(flowId)) {
        if (binding.expiresAt <= now) continue;
        const set = await hss.implicitSetOf(aor);
        const identities = set ? set.members.filter((m) => !m.barred).map((m) => m.impu) : [aor];
        const known = out.get(aor);
        if (!known || known.expiresAt < binding.expiresAt) out.set(aor, { identities, serviceRoute: [serviceRoute], expiresAt: binding.expiresAt });
      }
      return out;
    },
  });
  const icscf = new IcscfService({ host: hosts.icscf, hss, home, defaultScscf: scscfName });
  // The notifier sends through the core, which exists only once the services do.
  const late: { core?: ProxyCore } = {};
  const regEvent = new RegEventNotifier({
    home,
    hss,
    registrations: storage.registrations,
    send: (request, onResponse) => late.core!.originate(request, onResponse),
    contact: `sip:${hosts.scscf}`,
    clock: systemClock,
    onError,
  });
  listenersOfChange.push(regEvent.onRegistrationChange);
  listenersOfChange.push((e) => log.debug({ aor: e.aor, cause: e.cause, bindings: e.bindings.length }, 'registration changed'));
  // Initial Filter Criteria and ISC (TS 24.229 §5.4.3): application servers hosted here are reached in-process.
  const inProcess = new Set<string>();
  const criteria = new FilterCriteriaCache(undefined, (problems) => log.warn({ problems }, 'initial filter criteria left out'));
  const isc = new Isc({ host: hosts.scscf, asTimeoutMs: config.ifc.asTimeoutMs, criteria, inProcess: (uri) => inProcess.has(uri.host.toLowerCase()) });
  const thirdParty = new ThirdPartyRegistrar({
    hss,
    registrations: storage.registrations,
    criteria,
    scscf: scscfName,
    send: (request, onResponse) => late.core!.originate(request, onResponse),
    asTimeoutMs: config.ifc.asTimeoutMs,
    clock: systemClock,
    onChange,
    onError,
  });
  listenersOfChange.push(thirdParty.onRegistrationChange);
  const scscf = new ScscfService({
    host: hosts.scscf,
    home,
    hss,
    registrations: storage.registrations,
    registrar,
    icscf: `sip:${hosts.icscf}`,
    name: scscfName,
    regEvent,
    isc,
    watchRegister: thirdParty.watch,
  });
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
  for (const service of [edge, icscf, scscf, mmtel]) for (const h of service.hosts) inProcess.add(h.toLowerCase());
  // What a graceful stop waits for is counted between the stack and the core; a draining
  // lifecycle refuses new requests (503 with Retry-After) before any service sees them.
  const inFlight = new SipInFlight();
  const core = new ProxyCore({
    transactions: inFlight.layer(stack),
    listeners,
    aliases: localAliases(listeners),
    services: [edge, icscf, scscf, mmtel],
    defaultService: edge,
    lookupFlow: (id) => transports.getFlow(id),
    flowOfRoutes: (consumed, arrival) => tokens.flowOfRoutes(consumed, arrival),
    supported: ['path', 'outbound'],
    admit: lifecycle.admit,
    onError,
  });
  late.core = core;
  stack.setUser(inFlight.user(core));

  const expiry = new BindingExpiry({ registrations: storage.registrations, hss, scscf: scscfName, clock: systemClock, onChange, onError });
  expiry.start();
  transports.onFlowClosed((flow, reason) => {
    if (reason === 'local') return;
    edge.flowClosed(flow.id);
    void expiry.flowFailed(flow.id).catch(onError);
  });
  const sweeper = setInterval(() => edge.sweep(), 30_000);
  sweeper.unref();
  const metrics: MetricSource[] = [
    { name: 'tidewater_registered_aors', help: 'Public identities (implicit sets) with at least one binding.', type: 'gauge', read: async () => (await storage.registrations.count()).aors },
    { name: 'tidewater_bindings', help: 'Contact bindings stored, including expired ones not yet swept.', type: 'gauge', read: async () => (await storage.registrations.count()).bindings },
    { name: 'tidewater_edge_registered_flows', help: 'Client flows with a live registration at the edge.', type: 'gauge', read: () => edge.registeredFlows },
    { name: 'tidewater_reg_event_subscriptions', help: 'Active reg-event subscriptions (RFC 3680).', type: 'gauge', read: () => regEvent.subscriptionCount },
    { name: 'tidewater_isc_service_states', help: 'Requests sent to application servers whose service state (ISC token) is kept.', type: 'gauge', read: () => isc.tokenCount },
    { name: 'tidewater_sip_client_transactions', help: 'SIP client transactions alive.', type: 'gauge', read: () => stack.transactionCount.client },
    { name: 'tidewater_sip_server_transactions', help: 'SIP server transactions alive.', type: 'gauge', read: () => stack.transactionCount.server },
  ];
  return {
    metrics,
    hss,
    inFlight,
    stop() {
      expiry.stop();
      regEvent.stop();
      clearInterval(sweeper);
    },
  };
}
