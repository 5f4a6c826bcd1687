/**
 * The IMS functions assembled on a proxy core, shared by the all-in-one (everything in one
 * process) and the roles run alone in a cluster (`tidewater edge`, `tidewater core`):
 *
 * - {@link wireEdge}: the P-CSCF, with its flow tokens and what it recovers of a flow after a
 *   restart from the registration store;
 * - {@link wireCore}: the I-CSCF, the S-CSCF with its registrar, reg-event notifier, iFC/ISC
 *   and third-party registration, and binding expiry.
 *
 * Each returns its services for the caller's ProxyCore, and takes the core late (`attach`),
 * since the core can only be built once its services exist.
 */
import type { AllInOneConfig } from '../config/index.js';
import { BindingExpiry } from '../ims/core/expiry.js';
import { IcscfService, type TrustedPeer } from '../ims/core/icscf.js';
import { Isc } from '../ims/core/isc.js';
import { Registrar, type RegistrationListener } from '../ims/core/registrar.js';
import { RegEventNotifier } from '../ims/core/reg-event.js';
import { ORIG_USER, ScscfService } from '../ims/core/scscf.js';
import { ThirdPartyRegistrar } from '../ims/core/third-party-register.js';
import { EdgeService, type FlowRegistration } from '../ims/edge/edge.js';
import { FlowTokens } from '../ims/edge/flow-token.js';
import type { CachedHss } from '../ims/hss-cache.js';
import { HomeDomain } from '../ims/identity.js';
import { FilterCriteriaCache } from '../ims/ifc/index.js';
import type { MetricSource } from '../observability/http.js';
import type { Logger } from '../observability/log.js';
import type { SoftphoneTokens } from '../portal/index.js';
import { DigestVerifier, NonceManager, parseUri, systemClock, type Flow, type ProxyCore, type SipUri, type Uri } from '../sip/index.js';
import type { NonceCountStore, RegistrationStore, SubscriptionStore } from '../storage/index.js';

/** The S-CSCF's Service-Route (RFC 3608): originating requests come back to it with this user part. */
export function serviceRouteOf(config: AllInOneConfig): string {
  return `<sip:${ORIG_USER}@${config.serviceHosts.scscf};lr>`;
}

export interface EdgeWiringOptions {
  readonly config: AllInOneConfig;
  /** Key of the flow tokens in Path and Record-Route (the registrar decodes them with the same key). */
  readonly key: Buffer;
  readonly registrations: RegistrationStore;
  /** The implicit set of an identity, for the identities a recovered flow may use. */
  readonly implicitSetOf: CachedHss['implicitSetOf'];
  readonly lookupFlow: (flowId: string) => Flow | undefined;
  /** Host part of the Path (EdgeOptions.pathHost): this edge's address in a cluster. */
  readonly pathHost?: string;
  /** The core nodes of a cluster (EdgeOptions.fromCore). */
  readonly fromCore?: (flow: Flow) => boolean;
}

export interface EdgeWiring {
  readonly edge: EdgeService;
  readonly tokens: FlowTokens;
  readonly metrics: MetricSource[];
  stop(): void;
}

/** The P-CSCF: REGISTER goes to the I-CSCF, everything else of a registered flow along its Service-Route. */
export function wireEdge(opts: EdgeWiringOptions): EdgeWiring {
  const { config } = opts;
  const tokens = new FlowTokens(opts.key);
  const serviceRoute = serviceRouteOf(config);
  const edge = new EdgeService({
    host: config.serviceHosts.edge,
    ...(opts.pathHost ? { pathHost: opts.pathHost } : {}),
    ...(opts.fromCore ? { fromCore: opts.fromCore } : {}),
    registrarRoute: `<sip:${config.serviceHosts.icscf};lr>`,
    tokens,
    lookupFlow: opts.lookupFlow,
    recover: async (flowId) => {
      const out = new Map<string, FlowRegistration>();
      const now = Date.now();
      for (const { aor, binding } of await opts.registrations.bindingsOfFlow(flowId)) {
        if (binding.expiresAt <= now) continue;
        const set = await opts.implicitSetOf(aor);
        const identities = set ? set.members.filter((m) => !m.barred).map((m) => m.impu) : [aor];
        const known = out.get(aor);
        if (!known || known.expiresAt < binding.expiresAt) out.set(aor, { identities, serviceRoute: [serviceRoute], expiresAt: binding.expiresAt });
      }
      return out;
    },
  });
  const sweeper = setInterval(() => edge.sweep(), 30_000);
  sweeper.unref();
  return {
    edge,
    tokens,
    metrics: [{ name: 'tidewater_edge_registered_flows', help: 'Client flows with a live registration at the edge.', type: 'gauge', read: () => edge.registeredFlows }],
    stop: () => clearInterval(sweeper),
  };
}

export interface CoreWiringOptions {
  readonly config: AllInOneConfig;
  readonly hss: CachedHss;
  readonly registrations: RegistrationStore;
  readonly nonceCounts: NonceCountStore;
  /** Reg-event subscriptions, shared by every core of a deployment. */
  readonly subscriptions: SubscriptionStore;
  /** Key of the digest nonces; every core of a deployment must share it. */
  readonly nonceKey: Buffer;
  /** When `nonceCounts` began to be kept, if it forgets on restart: nonces issued before are stale. */
  readonly nonceCountsSince?: number;
  /** The edge's flow tokens, to learn the edge flow of a binding from its Path. */
  readonly tokens: FlowTokens;
  readonly softphoneTokens?: SoftphoneTokens;
  /**
   * Host (and port) in the Route that brings a request back from an application server (ISC):
   * the S-CSCF's service host when every node serving it shares the service state (one
   * process), this node's own address in a cluster, where only this node knows the call.
   */
  readonly iscReturnHost?: string;
  /** Who may send initial requests to the I-CSCF and S-CSCF besides this process (the edges of a cluster). */
  readonly trusted?: TrustedPeer;
  readonly log: Logger;
  readonly onError: (e: unknown) => void;
}

export interface CoreWiring {
  readonly icscf: IcscfService;
  readonly scscf: ScscfService;
  /** Hosts of application servers in this process (added by the caller): reached without the ISC relay. */
  readonly inProcess: Set<string>;
  readonly metrics: MetricSource[];
  /** Registration changes, for whoever else wants to know. */
  readonly listeners: RegistrationListener[];
  /** Gives the wiring the core it sends its own requests (NOTIFY, third-party REGISTER) through, and starts the timers. */
  attach(core: ProxyCore): void;
  /** An edge flow of this process failed: its bindings go (RFC 5626 §5.3). */
  flowFailed(flowId: string): Promise<number>;
  /** True when the Route values consumed bring back a request an application server had from this S-CSCF (ISC). */
  isIscReturn(consumed: readonly Uri[]): boolean;
  stop(): void;
}

/** The I-CSCF and the S-CSCF with everything the S-CSCF does: registrar, reg-event, iFC/ISC, expiry. */
export function wireCore(opts: CoreWiringOptions): CoreWiring {
  const { config, hss, log, onError } = opts;
  const hosts = config.serviceHosts;
  const home = new HomeDomain(config.domain);
  const scscfName = `sip:${hosts.scscf}`;
  const listeners: RegistrationListener[] = [];
  const onChange: RegistrationListener = (event) => {
    for (const l of listeners) {
      try {
        l(event);
      } catch (e) {
        onError(e);
      }
    }
  };
  const verifier = new DigestVerifier({
    nonces: new NonceManager({
      key: opts.nonceKey,
      clock: { now: Date.now },
      lifetimeSeconds: config.auth.nonceLifetime,
      ...(opts.nonceCountsSince === undefined ? {} : { issuedNotBefore: opts.nonceCountsSince }),
    }),
    nonceCounts: opts.nonceCounts,
  });
  const softphone = opts.softphoneTokens;
  const registrar = new Registrar({
    home,
    realm: config.domain,
    hss,
    registrations: opts.registrations,
    verifier,
    algorithms: config.auth.algorithms,
    limits: config.registration,
    scscf: scscfName,
    serviceRoute: serviceRouteOf(config),
    flowOfPath: (path) => {
      const first = path[0];
      return first === undefined ? undefined : opts.tokens.flowOf(parseUri(first));
    },
    ...(softphone ? { tokenPasswords: (impi: string, impu: string, now: number) => softphone.passwordsFor(impi, impu, now) } : {}),
    onChange,
  });
  const trusted = opts.trusted ? { trusted: opts.trusted } : {};
  const icscf = new IcscfService({ host: hosts.icscf, hss, home, defaultScscf: scscfName, ...trusted });
  // The notifier and the third-party registrar send through the core, attached once it exists.
  const late: { core?: ProxyCore } = {};
  const send = (request: Parameters<ProxyCore['originate']>[0], onResponse: Parameters<ProxyCore['originate']>[1]) => late.core!.originate(request, onResponse);
  const regEvent = new RegEventNotifier({
    home,
    hss,
    registrations: opts.registrations,
    subscriptions: opts.subscriptions,
    send,
    contact: scscfName,
    clock: systemClock,
    onError,
  });
  listeners.push(regEvent.onRegistrationChange);
  listeners.push((e) => log.debug({ aor: e.aor, cause: e.cause, bindings: e.bindings.length }, 'registration changed'));
  // Initial Filter Criteria and ISC (TS 24.229 §5.4.3): application servers hosted here are reached in-process.
  const inProcess = new Set<string>();
  const criteria = new FilterCriteriaCache(undefined, (problems) => log.warn({ problems }, 'initial filter criteria left out'));
  const isc = new Isc({
    host: hosts.scscf,
    ...(opts.iscReturnHost ? { returnHost: opts.iscReturnHost } : {}),
    asTimeoutMs: config.ifc.asTimeoutMs,
    criteria,
    inProcess: (uri: SipUri) => inProcess.has(uri.host.toLowerCase()),
  });
  const thirdParty = new ThirdPartyRegistrar({
    hss,
    registrations: opts.registrations,
    criteria,
    scscf: scscfName,
    send,
    asTimeoutMs: config.ifc.asTimeoutMs,
    clock: systemClock,
    onChange,
    onError,
  });
  listeners.push(thirdParty.onRegistrationChange);
  const scscf = new ScscfService({
    host: hosts.scscf,
    home,
    hss,
    registrations: opts.registrations,
    registrar,
    icscf: `sip:${hosts.icscf}`,
    name: scscfName,
    regEvent,
    isc,
    watchRegister: thirdParty.watch,
    ...trusted,
  });
  const expiry = new BindingExpiry({ registrations: opts.registrations, hss, scscf: scscfName, clock: systemClock, onChange, onError });
  const metrics: MetricSource[] = [
    { name: 'tidewater_registered_aors', help: 'Public identities (implicit sets) with at least one binding.', type: 'gauge', read: async () => (await opts.registrations.count()).aors },
    { name: 'tidewater_bindings', help: 'Contact bindings stored, including expired ones not yet swept.', type: 'gauge', read: async () => (await opts.registrations.count()).bindings },
    { name: 'tidewater_reg_event_subscriptions', help: 'Active reg-event subscriptions (RFC 3680).', type: 'gauge', read: () => regEvent.subscriptionCount },
    { name: 'tidewater_isc_service_states', help: 'Requests sent to application servers whose service state (ISC token) is kept.', type: 'gauge', read: () => isc.tokenCount },
  ];
  return {
    icscf,
    scscf,
    inProcess,
    metrics,
    listeners,
    attach(core) {
      late.core = core;
      expiry.start();
      regEvent.start();
    },
    flowFailed: (flowId) => expiry.flowFailed(flowId),
    isIscReturn: (consumed) => isc.classify(consumed)?.kind === 'return',
    stop() {
      expiry.stop();
      regEvent.stop();
    },
  };
}
