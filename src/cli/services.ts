/**
 * The HTTP services (HSS, XDMS, portal), started the same way inside the all-in-one and alone
 * (`tidewater hss`, `tidewater xdms`, `tidewater portal`, issue 4): each takes the stores it
 * serves and the API key rule of the configuration, and reports its listeners. The portal alone
 * reaches the HSS and the XDMS by URL when `hssProvisioningUrl` and `xdmsUrl` are set.
 */
import type { AddressInfo } from 'node:net';
import type { AllInOneConfig } from '../config/index.js';
import { ConfigError, fieldAt } from '../config/index.js';
import { HssProvisioningClient, startHssServers } from '../hss/index.js';
import {
  buildPortalServer,
  RemoteHssSubscribers,
  SoftphoneTokens,
  StoreSubscribers,
  type PortalDocuments,
  type PortalSubscribers,
  type SoftphoneOptions,
} from '../portal/index.js';
import { isPortalSubscribers } from '../portal/subscribers.js';
import type { AccountStore, DocumentStore, RegistrationStore, SubscriberStore } from '../storage/index.js';
import { buildXdmsServer, XcapClient } from '../xdms/index.js';
import type { ListenerInfo } from './all-in-one.js';
import type { RunningServer } from './all-in-one-command.js';
import { startMetricsServer } from '../observability/http.js';
import { Lifecycle } from '../observability/lifecycle.js';
import { apiAccess } from './api-key.js';
import { rangeOf } from './number-range.js';
import { loadNonceKey, openStores, type OpenedStores, type StoreName, type Stores } from './storage.js';

/** A started HTTP service. */
export interface HttpService {
  readonly listeners: readonly ListenerInfo[];
  close(): Promise<void>;
}

/** The `NGV-API-Key` option of a service, when the configuration wants one. */
type KeyOption = { apiKey?: string };

function keyOption(key: string | undefined): KeyOption {
  return key ? { apiKey: key } : {};
}

function listenerOf(service: string, address: string | AddressInfo | null): ListenerInfo {
  if (address === null || typeof address === 'string') throw new Error(`${service} is not listening on a TCP port`);
  return { service, protocol: 'http', address: address.address, port: address.port };
}

export async function startHss(config: AllInOneConfig, subscribers: SubscriberStore, key: string | undefined): Promise<HttpService> {
  const hss = await startHssServers({
    store: subscribers,
    bind: config.bind,
    homeDomain: config.domain,
    serverName: `sip:${config.serviceHosts.scscf}`,
    signallingPort: config.hssPort,
    provisioningPort: config.hssProvisioningPort,
    ...keyOption(key),
  });
  return {
    listeners: [
      { service: 'hss', protocol: 'http', address: config.bind, port: hss.signallingPort },
      { service: 'hss-provisioning', protocol: 'http', address: config.bind, port: hss.provisioningPort },
    ],
    close: () => hss.close(),
  };
}

export async function startXdms(config: AllInOneConfig, documents: DocumentStore, key: string | undefined): Promise<HttpService> {
  const xdms = await buildXdmsServer({ store: documents, logger: false, ...keyOption(key) });
  await xdms.listen({ host: config.bind, port: config.xdmsPort });
  return { listeners: [listenerOf('xdms', xdms.server.address())], close: () => xdms.close() };
}

/** What the portal works on: its accounts, the bindings it shows, subscriber data and documents here or elsewhere. */
export interface PortalStores {
  readonly accounts: AccountStore;
  readonly subscribers: SubscriberStore | PortalSubscribers;
  readonly registrations: RegistrationStore;
  readonly documents: PortalDocuments;
}

export async function startPortal(
  config: AllInOneConfig,
  stores: PortalStores,
  key: string | undefined,
  outboundProxy: string,
  onSubscriberChanged?: (impi: string, impu: string) => void,
  softphone?: SoftphoneOptions,
): Promise<HttpService> {
  const portal = await buildPortalServer({
    ...stores,
    subscribers: portalSubscribersOf(config, stores.subscribers),
    domain: config.domain,
    pool: rangeOf(config.numberPool),
    signupCode: config.signupCode,
    ...(config.pstnPool ? { pstnPool: rangeOf(config.pstnPool) } : {}),
    ...keyOption(key),
    outboundProxy,
    ...(onSubscriberChanged ? { onSubscriberChanged } : {}),
    ...(softphone ? { softphone } : {}),
  });
  await portal.listen({ host: config.bind, port: config.portalPort });
  return { listeners: [listenerOf('portal', portal.server.address())], close: () => portal.close() };
}

/** The portal's subscriber data; on a store, each new number gets the default iFC towards `serviceHosts.mmtel`. */
function portalSubscribersOf(config: AllInOneConfig, subscribers: SubscriberStore | PortalSubscribers): PortalSubscribers {
  return isPortalSubscribers(subscribers) ? subscribers : new StoreSubscribers(subscribers, config.domain, config.serviceHosts.mmtel);
}

/**
 * One service alone on the stores `want` of the configuration (PostgreSQL, Redis or the data
 * folder: storage.ts), closing them when it stops. A PostgreSQL database must already be at this
 * release's schema (`tidewater migrate`).
 */
async function alone<K extends StoreName>(
  config: AllInOneConfig,
  want: readonly K[],
  start: (stores: OpenedStores<K>, key: string | undefined) => Promise<HttpService>,
): Promise<RunningServer> {
  const access = apiAccess(config);
  const stores = await openStores(config, want);
  let service: HttpService | undefined;
  try {
    service = await start(stores, access.key);
    // /health/live and /health/ready (and /metrics) on metricsPort, as every Tidewater process has.
    const lifecycle = new Lifecycle({ graceMs: config.shutdownGraceMs });
    const metrics = await startMetricsServer(config.bind, config.metricsPort, [], { ready: lifecycle.readiness });
    lifecycle.markReady();
    const running = service;
    return {
      listeners: [...running.listeners, { service: 'metrics', protocol: 'http', address: metrics.address, port: metrics.port }],
      notices: access.notices,
      stop: async () => {
        lifecycle.markStopped();
        await metrics.close();
        await running.close();
        await stores.close();
      },
    };
  } catch (e) {
    await service?.close();
    await stores.close();
    throw e;
  }
}

export function startHssAlone(config: AllInOneConfig): Promise<RunningServer> {
  return alone(config, ['subscribers'], (stores, key) => startHss(config, stores.subscribers, key));
}

export function startXdmsAlone(config: AllInOneConfig): Promise<RunningServer> {
  return alone(config, ['documents'], (stores, key) => startXdms(config, stores.documents, key));
}

/** The HSS provisioning API and the XDMS of a portal in its own process: both, or neither (undefined). */
function remoteServicesOf(config: AllInOneConfig): { hssProvisioningUrl: string; xdmsUrl: string } | undefined {
  const { hssProvisioningUrl, xdmsUrl } = config;
  if (hssProvisioningUrl === undefined && xdmsUrl === undefined) return undefined;
  if (hssProvisioningUrl !== undefined && xdmsUrl !== undefined) return { hssProvisioningUrl, xdmsUrl };
  const [given, missing] = hssProvisioningUrl === undefined ? ['xdmsUrl', 'hssProvisioningUrl'] : ['hssProvisioningUrl', 'xdmsUrl'];
  const f = fieldAt(missing)!;
  throw new ConfigError([
    `config: ${missing} (${f.flag}, ${f.env}) is needed with ${given}: the portal uses an HSS and an XDMS in other processes together, or neither`,
  ]);
}

/**
 * The portal's stores when the HSS and the XDMS run elsewhere: subscriber data over the HSS
 * provisioning API and simservs over XCAP, both with the configured `apiKey`; accounts, the
 * IRS of each number and the bindings shown stay in the portal's own stores (storage.ts).
 */
function remotePortalStores(
  config: AllInOneConfig,
  urls: { hssProvisioningUrl: string; xdmsUrl: string },
  own: Pick<Stores, 'accounts' | 'registrations' | 'documents'>,
): PortalStores {
  const key = keyOption(config.apiKey);
  const hss = new HssProvisioningClient({ url: urls.hssProvisioningUrl, ...key });
  return {
    accounts: own.accounts,
    registrations: own.registrations,
    subscribers: new RemoteHssSubscribers(hss, own.documents, config.serviceHosts.mmtel),
    documents: new XcapClient({ url: urls.xdmsUrl, ...key }),
  };
}

/**
 * The portal's softphone page when alone: the edge's WSS port is `wssPort` of the same
 * configuration (none when it is 0), and its tokens are made with the key the registrar checks
 * them with: the deployment's key in Redis with `redisUrl` (every core shares it), else the data
 * folder's `nonce.key` (a core on the same folder, or one given a copy of the file).
 */
function softphoneAlone(config: AllInOneConfig, shared: Buffer | undefined): SoftphoneOptions | undefined {
  if (config.wssPort === 0) return undefined;
  return { tokens: new SoftphoneTokens(shared ?? loadNonceKey(config.dataDir)), wssPort: config.wssPort };
}

/**
 * The portal alone. With `hssProvisioningUrl` and `xdmsUrl` it keeps only its accounts in its
 * own stores (as Ellis kept its own database) and provisions numbers in the HSS and the XDMS
 * at those URLs; without them it shares the subscriber data and documents of its stores (the
 * data folder, or PostgreSQL with `postgresUrl`) with whatever else uses them. Either way the
 * bindings it shows are those of its stores (the data folder, or Redis with `redisUrl`). A core
 * in another process sees a password reset once its HSS cache entry ages out (10 s), not at once
 * as inside the all-in-one.
 */
export async function startPortalAlone(config: AllInOneConfig): Promise<RunningServer> {
  const remote = remoteServicesOf(config);
  const proxy = `${config.domain}:${config.sipPort} (UDP or TCP)`;
  return alone(config, ['accounts', 'registrations', 'subscribers', 'documents'], (stores, key) =>
    startPortal(config, remote ? remotePortalStores(config, remote, stores) : stores, key, proxy, undefined, softphoneAlone(config, stores.redis?.sharedKey)),
  );
}
