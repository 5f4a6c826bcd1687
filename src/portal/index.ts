/**
 * The self-service portal (Clearwater's Ellis): the REST API of INTERFACES.md and a web UI, one
 * fastify plugin on its own accounts and the registrar's bindings, with the HSS's subscriber
 * data and the XDMS's documents in this process or, through the narrow interfaces of
 * subscribers.ts, in others. Wiring lives in src/cli.
 */
import cookie from '@fastify/cookie';
import formbody from '@fastify/formbody';
import fastify, { type FastifyError, type FastifyInstance, type FastifyPluginAsync, type FastifyReply } from 'fastify';
import type { AccountStore, NumberRange, RegistrationStore, SubscriberStore } from '../storage/index.js';
import { checkRange, StorageError } from '../storage/index.js';
import { registerApi } from './api.js';
import { Auth } from './auth.js';
import type { PortalContext } from './context.js';
import { fromStorage, PortalError } from './errors.js';
import { NumberService } from './numbers.js';
import { RateLimiter, type RateLimitOptions } from './rate-limit.js';
import { ServiceSettings } from './services.js';
import { isPortalSubscribers, StoreSubscribers, type PortalDocuments, type PortalSubscribers } from './subscribers.js';
import { registerUi } from './ui.js';
import { checkSoftphone, type SoftphoneOptions } from './ui-softphone.js';

export { PORTAL_ERRORS, PortalError, type PortalErrorCode } from './errors.js';
export { hashPassword, verifyPassword } from './passwords.js';
export { RemoteHssSubscribers } from './remote-hss.js';
export { SOFTPHONE_TOKEN_WINDOW_MS, SoftphoneTokens, type SoftphoneCredentials } from './softphone-token.js';
export type { SoftphoneOptions } from './ui-softphone.js';
export { StoreSubscribers, type NewNumber, type PortalDocuments, type PortalSubscribers } from './subscribers.js';

/** The default number pool (INTERFACES.md). */
export const DEFAULT_POOL: NumberRange = Object.freeze({ start: '6505550000', end: '6505559999' });
/** Sessions last 12 hours by default. */
export const DEFAULT_SESSION_TTL_MS = 12 * 3600 * 1000;

export interface PortalOptions {
  /** The portal's own data: accounts, the numbers they own, sessions. */
  readonly accounts: AccountStore;
  /**
   * The HSS's subscriber data: its store in this process, or {@link RemoteHssSubscribers} for
   * an HSS in another (any {@link PortalSubscribers}).
   */
  readonly subscribers: SubscriberStore | PortalSubscribers;
  /** The registrar's bindings, read to show registration state; an empty store shows "not registered". */
  readonly registrations: RegistrationStore;
  /** simservs documents: the XDMS's store in this process, or an `XcapClient` of an XDMS in another. */
  readonly documents: PortalDocuments;
  /** Home domain: numbers are `sip:<number>@<domain>`, HA1s are for realm `<domain>`. */
  readonly domain: string;
  /** Number pool; default 6505550000-6505559999. */
  readonly pool?: NumberRange;
  /** Pool of numbers given for `{pstn: true}`; without it such requests answer 400. */
  readonly pstnPool?: NumberRange;
  /** Code new users must give to sign up (compared in constant time). */
  readonly signupCode: string;
  /** Operator key (`NGV-API-Key`); without it only sessions authenticate. */
  readonly apiKey?: string;
  /** Shown with a new SIP password: where a softphone sends its requests, e.g. `192.0.2.10:5060 (UDP or TCP)`. */
  readonly outboundProxy: string;
  /**
   * The softphone page of each number (`/numbers/<number>/phone`): where the edge's secure
   * WebSocket is and the tokens the registrar accepts. Without it there is no such page.
   */
  readonly softphone?: SoftphoneOptions;
  /** Secure cookies always (true), never (false), or when the request came over TLS (default). */
  readonly secureCookies?: boolean;
  readonly sessionTtlMs?: number;
  /** Login and signup attempts per client address; default 10 a minute each. */
  readonly rateLimit?: RateLimitOptions;
  /** Wall clock, ms; default `Date.now`. */
  readonly now?: () => number;
  /** Called when a number's credentials or identities changed (drop an HSS cache entry). */
  readonly onSubscriberChanged?: (impi: string, impu: string) => void;
}

function checkOptions(opts: PortalOptions): { pool: NumberRange; pstnPool?: NumberRange } {
  if (typeof opts.signupCode !== 'string' || opts.signupCode.length === 0) throw new Error('portal: signupCode must not be empty');
  if (opts.apiKey !== undefined && opts.apiKey.length === 0) throw new Error('portal: apiKey must not be empty (leave it out instead)');
  if (!opts.domain || /[\s/@]/.test(opts.domain)) throw new Error(`portal: domain must be a host name, got "${opts.domain}"`);
  const range = (r: NumberRange, key: string): NumberRange => {
    try {
      return checkRange(r);
    } catch (error) {
      throw new Error(`portal: ${key}: ${(error as Error).message}`);
    }
  };
  if (opts.softphone) checkSoftphone(opts.softphone);
  const pool = range(opts.pool ?? DEFAULT_POOL, 'pool');
  return opts.pstnPool ? { pool, pstnPool: range(opts.pstnPool, 'pstnPool') } : { pool };
}

function sendError(reply: FastifyReply, error: PortalError): FastifyReply {
  const body: Record<string, unknown> = { code: error.code, status: error.status, message: error.message, error: true };
  if (error.field !== undefined) body.field = error.field;
  return reply.code(error.status).type('application/json').send(body);
}

function asPortalError(error: FastifyError | Error): PortalError {
  if (error instanceof PortalError) return error;
  if (error instanceof StorageError) return fromStorage(error);
  const status = (error as FastifyError).statusCode ?? 500;
  if (status === 413) return new PortalError('TW_ERR_PORTAL_BAD_REQUEST', 'the body is too large', 'body');
  if (status >= 400 && status < 500) return new PortalError('TW_ERR_PORTAL_BAD_REQUEST', error.message, 'body');
  return new PortalError('TW_ERR_PORTAL_INTERNAL', 'internal error');
}

/** The portal as a fastify plugin: REST API and web UI. */
export const portalApi: FastifyPluginAsync<PortalOptions> = async (app, opts) => {
  const { pool, pstnPool } = checkOptions(opts);
  const now = opts.now ?? Date.now;
  const subscribers = isPortalSubscribers(opts.subscribers) ? opts.subscribers : new StoreSubscribers(opts.subscribers, opts.domain);
  const ctx: PortalContext = {
    accounts: opts.accounts,
    auth: new Auth({
      accounts: opts.accounts,
      ...(opts.apiKey !== undefined && { apiKey: opts.apiKey }),
      ...(opts.secureCookies !== undefined && { secureCookies: opts.secureCookies }),
      sessionTtlMs: opts.sessionTtlMs ?? DEFAULT_SESSION_TTL_MS,
      now,
    }),
    numbers: new NumberService({
      accounts: opts.accounts,
      subscribers,
      registrations: opts.registrations,
      documents: opts.documents,
      domain: opts.domain,
      pool,
      ...(pstnPool && { pstnPool }),
      now,
      ...(opts.onSubscriberChanged && { onSubscriberChanged: opts.onSubscriberChanged }),
    }),
    services: new ServiceSettings(opts.documents, subscribers),
    limiter: new RateLimiter({ now, ...opts.rateLimit }),
    signupCode: opts.signupCode,
    domain: opts.domain,
    outboundProxy: opts.outboundProxy,
    ...(opts.softphone && { softphone: opts.softphone }),
    now,
  };
  await app.register(cookie);
  await app.register(formbody);
  const asText = (_req: unknown, body: string, done: (err: Error | null, body?: string) => void) => done(null, body);
  app.addContentTypeParser(['application/xml', 'text/xml', 'application/simservs+xml'], { parseAs: 'string' }, asText);
  app.setErrorHandler((error: FastifyError, request, reply) => {
    const portalError = asPortalError(error);
    if (portalError.status >= 500) request.log.error({ err: error, url: request.routeOptions.url }, 'portal request failed');
    return sendError(reply, portalError);
  });
  app.setNotFoundHandler((request, reply) =>
    sendError(reply, new PortalError('TW_ERR_PORTAL_NOT_FOUND', `no such resource: ${request.method} ${request.url.split('?')[0]}`)),
  );
  registerApi(app, ctx);
  registerUi(app, ctx);
};

/** A fastify server with only the portal (trailing slashes optional, as Ellis's clients vary). */
export async function buildPortalServer(
  opts: PortalOptions & { readonly logger?: boolean; readonly trustProxy?: boolean; readonly bodyLimit?: number },
): Promise<FastifyInstance> {
  const app = fastify({
    logger: opts.logger ?? false,
    bodyLimit: opts.bodyLimit ?? 256 * 1024,
    trustProxy: opts.trustProxy ?? false,
    routerOptions: { ignoreTrailingSlash: true },
  });
  await app.register(portalApi, opts);
  return app;
}
