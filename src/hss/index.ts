/**
 * The HSS HTTP services (issue 4): the signalling API (Clearwater's Homestead, port 8888) and
 * the provisioning API (Homestead-prov, port 8889) as fastify plugins, builders of ready
 * instances, a starter for both, {@link HttpHss}, the client the core uses for a remote HSS, and
 * {@link HssProvisioningClient}, the one the portal uses.
 */
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import { hssProvisioningPlugin, type HssProvisioningOptions } from './provisioning.js';
import { hssSignallingPlugin, type HssSignallingOptions } from './signalling.js';

export { HSS_ERRORS, HssError, type HssErrorCode } from './errors.js';
export { HttpHss, type HttpHssOptions } from './client.js';
export { HssProvisioningClient, type HssProvisioningClientOptions, type PrivateAnswer, type PrivateBody } from './provisioning-client.js';
export { hssProvisioningPlugin, type HssProvisioningOptions } from './provisioning.js';
export { hssSignallingPlugin, type HssSignallingOptions } from './signalling.js';

/** Options of the fastify instance itself (logger, body limit); identities may be long. */
export type HssServerOptions = Pick<FastifyServerOptions, 'logger' | 'bodyLimit'>;

function instance(server: HssServerOptions | undefined): FastifyInstance {
  return Fastify({ logger: false, ...server, routerOptions: { maxParamLength: 2048 } }) as unknown as FastifyInstance;
}

/** A fastify instance serving the signalling API (not listening yet; `inject()` works). */
export async function buildHssSignalling(opts: HssSignallingOptions, server?: HssServerOptions): Promise<FastifyInstance> {
  const app = instance(server);
  await app.register(hssSignallingPlugin, opts);
  await app.ready();
  return app;
}

/** A fastify instance serving the provisioning API (not listening yet; `inject()` works). */
export async function buildHssProvisioning(opts: HssProvisioningOptions, server?: HssServerOptions): Promise<FastifyInstance> {
  const app = instance(server);
  await app.register(hssProvisioningPlugin, opts);
  await app.ready();
  return app;
}

export interface HssServersOptions extends Omit<HssSignallingOptions, 'apiKey' | 'realm'> {
  /** Address both listen on, e.g. `127.0.0.1` or `0.0.0.0`. */
  readonly bind: string;
  /** Default 8888; 0 picks a free port. */
  readonly signallingPort?: number;
  /** Default 8889; 0 picks a free port. */
  readonly provisioningPort?: number;
  /** The home domain: the Digest realm `/av` answers first and the default realm of provisioned credentials. */
  readonly homeDomain: string;
  readonly apiKey?: string;
  readonly server?: HssServerOptions;
}

export interface HssServers {
  readonly signalling: FastifyInstance;
  readonly provisioning: FastifyInstance;
  /** The ports actually bound (useful with port 0). */
  readonly signallingPort: number;
  readonly provisioningPort: number;
  close(): Promise<void>;
}

function portOf(app: FastifyInstance): number {
  const address = app.server.address();
  return typeof address === 'object' && address ? address.port : 0;
}

/** Starts both APIs on `bind`; closes whichever started if the other cannot listen. */
export async function startHssServers(opts: HssServersOptions): Promise<HssServers> {
  const { bind, signallingPort = 8888, provisioningPort = 8889, homeDomain, server, ...signallingOpts } = opts;
  const signalling = await buildHssSignalling({ ...signallingOpts, realm: homeDomain }, server);
  const provisioning = await buildHssProvisioning({ store: opts.store, homeDomain, ...(opts.apiKey !== undefined ? { apiKey: opts.apiKey } : {}) }, server);
  try {
    await signalling.listen({ host: bind, port: signallingPort });
    await provisioning.listen({ host: bind, port: provisioningPort });
  } catch (error) {
    await Promise.allSettled([signalling.close(), provisioning.close()]);
    throw error;
  }
  return {
    signalling,
    provisioning,
    signallingPort: portOf(signalling),
    provisioningPort: portOf(provisioning),
    close: async () => {
      await Promise.all([signalling.close(), provisioning.close()]);
    },
  };
}
