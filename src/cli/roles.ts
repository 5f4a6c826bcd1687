/**
 * The SIP roles of a cluster, each in its own process (issue 7, docs/cluster.md):
 *
 * - `tidewater edge`: the P-CSCF. Holds client flows (UDP, TCP, TLS, WS, WSS) and sends REGISTER
 *   and the Service-Route's requests to the core nodes of `coreUris`, spreading them and failing
 *   over. Its address is in the Path and Record-Route it adds, so requests towards a client come
 *   back to the edge holding its flow.
 * - `tidewater core`: the I-CSCF and the S-CSCF. Stateless between requests: registrations,
 *   nonce counts and reg-event subscriptions are in the shared stores (Redis), the subscriber
 *   data in the HSS (`hssUrl`, or PostgreSQL), so any core serves any request, a refresh or a
 *   call set up by another. What only this core knows is the service state of calls it is
 *   setting up through application servers: those come back to its own address (ISC).
 *
 * Every node of a deployment must share the key nonces and flow tokens are made with: with
 * `redisUrl` it is the deployment's key in Redis.
 */
import { BlockList, isIP } from 'node:net';
import { ConfigError, fieldAt, type AllInOneConfig } from '../config/index.js';
import { FlowTokens } from '../ims/edge/flow-token.js';
import { CachedHss } from '../ims/hss-cache.js';
import { LocalHss } from '../ims/hss-local.js';
import type { Hss } from '../ims/hss.js';
import { HttpHss } from '../hss/index.js';
import { SoftphoneTokens } from '../portal/index.js';
import type { Flow } from '../sip/index.js';
import type { RunningServer } from './all-in-one-command.js';
import { edgeListeners } from './all-in-one.js';
import { edgeCertificate } from './edge-certificate.js';
import { wireCore, wireEdge } from './ims-wiring.js';
import { clusterRouting } from './peers.js';
import { startSipNode } from './sip-node.js';
import { loadNonceKey, openStores, type StoreName } from './storage.js';

const warnCheckpointsStopped = (error: Error): void =>
  process.emitWarning(`SQLite background checkpoints stopped (${error.message}); the event loop does them all again`);

/** The HSS a role asks: the one at `hssUrl`, or the subscriber store of the configuration. */
async function hssOf(config: AllInOneConfig): Promise<{ hss: CachedHss; close(): Promise<void> }> {
  if (config.hssUrl) return { hss: new CachedHss(new HttpHss({ url: config.hssUrl, ...(config.apiKey ? { apiKey: config.apiKey } : {}) })), close: async () => undefined };
  // The HSS writes registration state (SAR) on a connection of its own: it checkpoints in the background too.
  const stores = await openStores(config, ['subscribers'], {
    sqliteBackgroundCheckpoints: true,
    onSqliteCheckpointFailure: warnCheckpointsStopped,
  });
  const local: Hss = new LocalHss(stores.subscribers);
  return { hss: new CachedHss(local), close: () => stores.close() };
}

/**
 * What a SIP role runs on: the stores `want`, the deployment's key (Redis's with `redisUrl`,
 * else the data folder's) and the HSS; `close()` closes them all. Nothing stays open on failure.
 */
async function openRole<K extends StoreName>(config: AllInOneConfig, want: readonly K[]) {
  const stores = await openStores(config, want, {
    onError: (backend, error) => process.emitWarning(`${backend} connection failed (${error.message}); requests needing it get 503 until it is back`),
    sqliteBackgroundCheckpoints: true,
    onSqliteCheckpointFailure: warnCheckpointsStopped,
  });
  try {
    const source = await hssOf(config);
    const close = async (): Promise<void> => {
      await source.close();
      await stores.close();
    };
    return { stores, key: stores.redis?.sharedKey ?? loadNonceKey(config.dataDir), hss: source.hss, close };
  } catch (e) {
    await stores.close();
    throw e;
  }
}

/** `tidewater edge`: the P-CSCF alone. */
export async function startEdge(config: AllInOneConfig): Promise<RunningServer> {
  if (config.trustedPeers.length === 0) {
    const f = fieldAt('trustedPeers')!;
    throw new ConfigError([`config: trustedPeers (${f.flag}, ${f.env}) must name the core nodes for tidewater edge: requests for its clients come from them`]);
  }
  const certificate = edgeCertificate(config);
  const { stores, key, hss, close } = await openRole(config, ['registrations']);
  return startSipNode({
    name: 'edge',
    config,
    sip: edgeListeners(config),
    tls: { cert: certificate.cert, key: certificate.key },
    close,
    build: async ({ transports, listeners }) => {
      const lookupFlow = (id: string) => transports.getFlow(id);
      // The cores reach this edge's clients through its own address (TCP between nodes).
      const tcp = listeners.proxy.find((l) => l.protocol === 'TCP')!;
      const pathHost = `${tcp.host.includes(':') ? `[${tcp.host}]` : tcp.host}:${tcp.port};transport=tcp`;
      // Requests for its clients come from the cores, which must be among trustedPeers.
      const fromCore = trustedPeers(config);
      const wiring = wireEdge({
        config,
        key,
        registrations: stores.registrations,
        implicitSetOf: (impu) => hss.implicitSetOf(impu),
        lookupFlow,
        pathHost,
        ...(fromCore ? { fromCore } : {}),
      });
      const routing = clusterRouting(config, [
        [config.serviceHosts.icscf, config.coreUris],
        [config.serviceHosts.scscf, config.coreUris],
      ]);
      return {
        services: [wiring.edge],
        defaultService: wiring.edge,
        core: {
          ...routing,
          lookupFlow,
          flowOfRoutes: (consumed, arrival) => wiring.tokens.flowOfRoutes(consumed, arrival),
          supported: ['path', 'outbound'],
        },
        metrics: wiring.metrics,
        describe: { registrations: stores.where.registrations, cores: config.coreUris ?? `DNS ${config.serviceHosts.scscf}`, certificate: certificate.certFile },
        attach: (_core, t) =>
          t.onFlowClosed((flow, reason) => {
            // The flow's bindings stay in the shared store until they expire: a request routed
            // to one meanwhile gets 430 Flow Failed here (RFC 5626 §5.3).
            if (reason !== 'local') wiring.edge.flowClosed(flow.id);
          }),
        stop: () => wiring.stop(),
      };
    },
  });
}

/** Who may send the core initial requests straight: `trustedPeers` (addresses and CIDR blocks). */
export function trustedPeers(config: AllInOneConfig): ((flow: Flow) => boolean) | undefined {
  if (config.trustedPeers.length === 0) return undefined;
  const list = new BlockList();
  for (const entry of config.trustedPeers) {
    const [address, bits] = entry.split('/') as [string, string | undefined];
    const family = isIP(address) === 6 ? 'ipv6' : 'ipv4';
    if (bits === undefined) list.addAddress(address, family);
    else list.addSubnet(address, Number(bits), family);
  }
  return (flow) => {
    const address = flow.remote.address;
    return list.check(address, isIP(address) === 6 ? 'ipv6' : 'ipv4');
  };
}

/** `tidewater core`: the I-CSCF and S-CSCF alone, on UDP and TCP `sipPort`. */
export async function startCore(config: AllInOneConfig): Promise<RunningServer> {
  const { stores, key, hss, close } = await openRole(config, ['registrations', 'nonceCounts', 'subscriptions']);
  return startSipNode({
    name: 'core',
    config,
    sip: [
      ['UDP', config.sipPort],
      ['TCP', config.sipPort],
    ],
    close,
    build: async ({ listeners, log, onError }) => {
      const tcp = listeners.proxy.find((l) => l.protocol === 'TCP')!;
      const host = tcp.host.includes(':') ? `[${tcp.host}]` : tcp.host;
      const trusted = trustedPeers(config);
      const wiring = wireCore({
        config,
        hss,
        registrations: stores.registrations,
        nonceCounts: stores.nonceCounts,
        subscriptions: stores.subscriptions,
        nonceKey: key,
        tokens: new FlowTokens(key),
        softphoneTokens: new SoftphoneTokens(key),
        // Application servers send a call being set up back to this node, which holds its service state.
        iscReturnHost: `${host}:${tcp.port};transport=tcp`,
        ...(trusted ? { trusted } : {}),
        log,
        onError,
      });
      const routing = clusterRouting(config, [[config.serviceHosts.mmtel, config.mmtelUris]]);
      return {
        services: [wiring.icscf, wiring.scscf],
        // A request addressed to this node by address (an application server's return) is the S-CSCF's.
        defaultService: wiring.scscf,
        core: { ...routing, tryingForReliableNonInvite: true },
        metrics: wiring.metrics,
        describe: { registrations: stores.where.registrations, hss: config.hssUrl ?? 'subscriber store', mmtel: config.mmtelUris ?? `DNS ${config.serviceHosts.mmtel}` },
        attach: (core) => wiring.attach(core),
        continuing: (consumed) => wiring.isIscReturn(consumed),
        stop: () => wiring.stop(),
      };
    },
  });
}
