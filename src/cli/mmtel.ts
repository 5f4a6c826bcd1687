/**
 * `tidewater mmtel`: the MMTel application server alone (issue 6), for an S-CSCF in another
 * process to reach over ISC. One proxy core on `sipPort` (UDP and TCP, on `bind`) hosts only the
 * MMTel service, addressed by `serviceHosts.mmtel` or by this process's own address in the
 * S-CSCF's Route; it reads the simservs documents from the XDMS at `xdmsUrl` (XCAP, with
 * `apiKey`) or, when that is unset, from its document store (PostgreSQL with `postgresUrl`, else
 * the data folder). Its health endpoints and metrics are on `metricsPort`; on SIGTERM it drains
 * like the all-in-one (new requests get 503, what is in flight gets `shutdownGraceMs`).
 */
import type { AllInOneConfig } from '../config/index.js';
import { createMmtelService, type SimservsDocuments } from '../ims/mmtel/index.js';
import { startMetricsServer, type MetricSource } from '../observability/http.js';
import { Lifecycle } from '../observability/lifecycle.js';
import { createLogger, errorSink } from '../observability/log.js';
import { SipInFlight } from '../observability/sip-in-flight.js';
import { startOverloadControl } from '../observability/overload.js';
import { ProxyCore, SipStack, TransportLayer, type ProxyListener, type TransportProtocol } from '../sip/index.js';
import { XcapClient } from '../xdms/index.js';
import type { ListenerInfo } from './all-in-one.js';
import { advertisedHost, localAliases } from './sip-node.js';
import type { RunningServer } from './all-in-one-command.js';
import { openStores } from './storage.js';

/** Where the documents come from, and what closes them. */
async function documentsOf(config: AllInOneConfig): Promise<{ documents: SimservsDocuments; where: string; close(): Promise<void> }> {
  if (config.xdmsUrl !== undefined) {
    return { documents: new XcapClient({ url: config.xdmsUrl, ...(config.apiKey ? { apiKey: config.apiKey } : {}) }), where: config.xdmsUrl, close: async () => undefined };
  }
  const stores = await openStores(config, ['documents']);
  return { documents: stores.documents, where: stores.where.documents, close: () => stores.close() };
}

/** Starts the MMTel AS alone; `stop()` closes its listeners (SIP, metrics) and the data folder. */
export async function startMmtelAlone(config: AllInOneConfig): Promise<RunningServer> {
  const log = createLogger(config.log.level);
  const onError = errorSink(log, 'mmtel');
  const source = await documentsOf(config);
  const transports = new TransportLayer();
  try {
    const advertised = advertisedHost(config.bind);
    const listeners: ProxyListener[] = [];
    const info: ListenerInfo[] = [];
    let port = config.sipPort;
    for (const protocol of ['UDP', 'TCP'] as TransportProtocol[]) {
      // Port 0: UDP picks a free port and TCP takes the same one.
      const bound = await transports.listen({ protocol, address: config.bind, port });
      port = bound.port;
      listeners.push({ protocol, host: advertised, port: bound.port });
      info.push({ service: 'sip', protocol: protocol.toLowerCase(), address: bound.address, port: bound.port });
    }
    // New requests get 503 while the SIP listener's queue is over overload.targetLatencyMs.
    const overload = startOverloadControl(config.overload, transports);
    const stack = new SipStack({ transport: transports, onError, admit: overload.admit });
    transports.onMessage((m) => stack.receive(m));
    transports.onError(onError);
    const mmtel = createMmtelService({
      host: config.serviceHosts.mmtel,
      domain: config.domain,
      documents: source.documents,
      internationalPrefixes: config.mmtel.internationalPrefixes,
      homeCountryCode: config.mmtel.homeCountryCode,
      maxDiversions: config.mmtel.maxDiversions,
      onError,
    });
    const lifecycle = new Lifecycle({ graceMs: config.shutdownGraceMs });
    const inFlight = new SipInFlight();
    // A Route naming this process by address (the iFC's ServerName) reaches the AS too.
    const core = new ProxyCore({
      transactions: inFlight.layer(stack),
      listeners,
      aliases: localAliases(listeners),
      services: [mmtel],
      defaultService: mmtel,
      admit: lifecycle.admit,
      onError,
    });
    stack.setUser(inFlight.user(core));
    const gauges: MetricSource[] = [
      ...overload.metrics,
      { name: 'tidewater_sip_client_transactions', help: 'SIP client transactions alive.', type: 'gauge', read: () => stack.transactionCount.client },
      { name: 'tidewater_sip_server_transactions', help: 'SIP server transactions alive.', type: 'gauge', read: () => stack.transactionCount.server },
    ];
    const metrics = await startMetricsServer(config.bind, config.metricsPort, gauges, { ready: lifecycle.readiness });
    info.push({ service: 'metrics', protocol: 'http', address: metrics.address, port: metrics.port });
    log.info({ domain: config.domain, host: config.serviceHosts.mmtel, documents: source.where }, 'mmtel started');
    lifecycle.markReady();
    return {
      listeners: info,
      notices: [],
      lifecycle,
      inFlight: () => inFlight.counts(),
      stop: async () => {
        overload.stop();
        await metrics.close();
        await transports.close();
        await source.close();
        log.flush();
      },
    };
  } catch (e) {
    await transports.close();
    await source.close();
    throw e;
  }
}
