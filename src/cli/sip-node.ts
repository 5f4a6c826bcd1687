/**
 * What every SIP process of a cluster has around its services (`tidewater edge`, `tidewater
 * core`, `tidewater mmtel`): listeners on the configured address, a transaction stack, a proxy
 * core hosting the services, a lifecycle that drains on SIGTERM, and the metrics port with
 * /health/live and /health/ready. The all-in-one builds the same pieces around all its services.
 */
import { networkInterfaces } from 'node:os';
import type { AllInOneConfig } from '../config/index.js';
import { startMetricsServer, type MetricSource } from '../observability/http.js';
import { ADMITTED, Lifecycle } from '../observability/lifecycle.js';
import { createLogger, errorSink, type Logger } from '../observability/log.js';
import { startOverloadControl } from '../observability/overload.js';
import { SipInFlight } from '../observability/sip-in-flight.js';
import {
  ProxyCore,
  SipStack,
  TransportError,
  TransportLayer,
  type BoundListener,
  type ProxyCoreOptions,
  type ProxyListener,
  type ProxyService,
  type TransportProtocol,
  type Uri,
} from '../sip/index.js';
import type { ListenerInfo } from './all-in-one.js';
import type { RunningServer } from './all-in-one-command.js';

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

/** The SIP listeners of a process, each on `bind` only. */
export interface SipListeners {
  readonly proxy: ProxyListener[];
  readonly info: ListenerInfo[];
}

/** Tries for a UDP and TCP pair on one free port before start-up fails. */
const PORT_PAIR_ATTEMPTS = 5;

/**
 * Listens on each protocol and port of `wanted`, on `bind`; TLS and WSS present `tls`. Port 0
 * for UDP picks a free port, and TCP given the same port 0 right after takes UDP's; when
 * another process holds that number for TCP, UDP gives it back and both try another.
 */
export async function listenSip(
  transports: TransportLayer,
  bind: string,
  wanted: ReadonlyArray<readonly [TransportProtocol, number]>,
  tls?: { readonly cert: string | Buffer; readonly key: string | Buffer },
): Promise<SipListeners> {
  const advertised = advertisedHost(bind);
  const proxy: ProxyListener[] = [];
  const info: ListenerInfo[] = [];
  let udp: { bound: BoundListener; asked: number; index: number } | undefined;
  const listen = (protocol: TransportProtocol, port: number): Promise<BoundListener> => {
    const secure = protocol === 'TLS' || protocol === 'WSS';
    if (secure && !tls) throw new Error(`${protocol} needs a certificate`);
    return transports.listen({ protocol, address: bind, port, ...(secure ? { tls: tls! } : {}) });
  };
  const record = (bound: BoundListener, index = proxy.length): void => {
    proxy[index] = { protocol: bound.protocol, host: advertised, port: bound.port };
    info[index] = { service: 'sip', protocol: bound.protocol.toLowerCase(), address: bound.address, port: bound.port };
  };
  for (const [protocol, port] of wanted) {
    const takesUdpPort = protocol === 'TCP' && udp !== undefined && port === udp.asked;
    let bound: BoundListener | undefined;
    for (let attempt = 1; bound === undefined; attempt++) {
      try {
        bound = await listen(protocol, takesUdpPort ? udp!.bound.port : port);
      } catch (error) {
        const retry = takesUdpPort && port === 0 && attempt < PORT_PAIR_ATTEMPTS && error instanceof TransportError && error.sysCode === 'EADDRINUSE';
        if (!retry) throw error;
        await transports.unlisten(udp!.bound);
        udp!.bound = await listen('UDP', 0);
        record(udp!.bound, udp!.index);
      }
    }
    if (protocol === 'UDP') udp = { bound, asked: port, index: proxy.length };
    record(bound);
  }
  return { proxy, info };
}

/** What a role gives {@link startSipNode}: its services, and how its proxy core is set up. */
export interface SipRole {
  readonly services: readonly ProxyService[];
  readonly defaultService?: ProxyService;
  /** More options of the proxy core (resolver, flows, Supported). */
  readonly core?: Partial<Omit<ProxyCoreOptions, 'transactions' | 'listeners' | 'services' | 'defaultService' | 'admit' | 'onError'>>;
  readonly metrics?: readonly MetricSource[];
  /** Called with the core once it exists (services that send requests of their own). */
  attach?(core: ProxyCore, transports: TransportLayer): void;
  /** Lines for the start-up log. */
  readonly describe?: Record<string, unknown>;
  /**
   * True for a request that continues work this node already took on (an application server
   * sending back a call this core is setting up): admitted even while draining, or that call
   * would fail instead of finishing within the grace period.
   */
  continuing?(consumed: readonly Uri[]): boolean;
  stop?(): void | Promise<void>;
}

/** What a role's builder is given. */
export interface SipNodeContext {
  readonly transports: TransportLayer;
  readonly listeners: SipListeners;
  readonly log: Logger;
  readonly onError: (e: unknown) => void;
}

export interface SipNodeSpec {
  /** `edge`, `core`, `mmtel`: the log's name and the ready line's. */
  readonly name: string;
  readonly config: AllInOneConfig;
  readonly sip: ReadonlyArray<readonly [TransportProtocol, number]>;
  readonly tls?: { readonly cert: string | Buffer; readonly key: string | Buffer };
  /** Builds the role on the listeners; may open stores (closed by the role's `stop`). */
  build(ctx: SipNodeContext): Promise<SipRole>;
  /** Closed after everything else (the role's stores), also when start-up fails. */
  readonly close?: () => Promise<void>;
}

/**
 * Starts one SIP role: listeners, the role's services on a proxy core, and the metrics port.
 * New requests get 503 while draining (lifecycle); `stop()` closes everything in reverse order.
 */
export async function startSipNode(spec: SipNodeSpec): Promise<RunningServer> {
  const { config } = spec;
  const log = createLogger(config.log.level);
  const onError = errorSink(log, spec.name);
  // A node cut off the network answers no keepalive: its connections close within
  // 2 x failoverTimeoutMs and what waited on them fails over, as if it had been killed.
  const transports = new TransportLayer({ outboundKeepaliveMs: config.failoverTimeoutMs });
  const cleanup: Array<() => void | Promise<void>> = [];
  if (spec.close) cleanup.push(spec.close);
  cleanup.push(() => transports.close());
  const stop = async (): Promise<void> => {
    for (const step of cleanup.splice(0).reverse()) {
      try {
        await step();
      } catch (e) {
        onError(e);
      }
    }
    log.flush();
  };
  try {
    const listeners = await listenSip(transports, config.bind, spec.sip, spec.tls);
    // Overload control refuses new requests statelessly, before any transaction (overload.ts).
    const overload = startOverloadControl(config.overload, transports);
    cleanup.push(() => overload.stop());
    const stack = new SipStack({ transport: transports, onError, autoTrying: false, ...(overload.admit ? { admit: overload.admit } : {}) });
    transports.onMessage((m) => stack.receive(m));
    transports.onError(onError);
    // A node that died takes its connections with it: what was sent on them fails over at once.
    transports.onFlowClosed((flow) => void stack.flowClosed(flow.id));
    const role = await spec.build({ transports, listeners, log, onError });
    if (role.stop) cleanup.push(() => role.stop!());
    const lifecycle = new Lifecycle({ graceMs: config.shutdownGraceMs });
    const inFlight = new SipInFlight();
    const core = new ProxyCore({
      transactions: inFlight.layer(stack),
      listeners: listeners.proxy,
      aliases: localAliases(listeners.proxy),
      services: [...role.services],
      ...(role.defaultService ? { defaultService: role.defaultService } : {}),
      ...role.core,
      admit: (request, consumed) => (role.continuing?.(consumed) ? ADMITTED : lifecycle.admit()),
      onError,
    });
    stack.setUser(inFlight.user(core));
    role.attach?.(core, transports);
    const gauges: MetricSource[] = [
      ...(role.metrics ?? []),
      ...overload.metrics,
      { name: 'tidewater_sip_client_transactions', help: 'SIP client transactions alive.', type: 'gauge', read: () => stack.transactionCount.client },
      { name: 'tidewater_sip_server_transactions', help: 'SIP server transactions alive.', type: 'gauge', read: () => stack.transactionCount.server },
    ];
    const metrics = await startMetricsServer(config.bind, config.metricsPort, gauges, { ready: lifecycle.readiness });
    cleanup.push(() => metrics.close());
    const info = [...listeners.info, { service: 'metrics', protocol: 'http', address: metrics.address, port: metrics.port }];
    log.info({ domain: config.domain, listeners: info.map((l) => `${l.service}/${l.protocol} ${l.address}:${l.port}`), ...role.describe }, `${spec.name} started`);
    lifecycle.markReady();
    return { listeners: info, notices: [], lifecycle, inFlight: () => inFlight.counts(), stop };
  } catch (e) {
    await stop();
    throw e;
  }
}
