/**
 * The S-CSCF side of the ISC interface (3GPP TS 24.229 §5.4.3.2, §5.4.3.3): a request whose
 * served user has a matching initial Filter Criterion goes to the criterion's application
 * server with
 *
 *   Route: <AS URI;lr>, <sip:odi-TOKEN@scscf-host;lr>
 *   P-Served-User: <served user>;sescase=orig|term;regstate=reg|unreg   (RFC 5502)
 *
 * The token (an original dialog identifier, TS 24.229 §3.1) names the service state kept here:
 * served user, session case and the next criterion to evaluate. Whatever the AS sends back with
 * it (the request it proxied, or a B2BUA's new leg) continues at that criterion.
 *
 * An AS outside this process is reached through one in-process hop of the S-CSCF itself (the
 * relay, `sip:isc@scscf-host`): the relay answers 100 at once and forwards to the AS, so the
 * S-CSCF can cancel the attempt when the AS shows no sign of life within `asTimeoutMs`, and an
 * AS that cannot be reached at all comes back as a response the S-CSCF sees. Default handling
 * (TS 29.228 Annex B DefaultHandling) then applies to a 408, a 5xx, or that timeout, from an AS
 * that had not answered otherwise (nor sent the request back): SESSION_CONTINUED sends the
 * request on as if the AS had proxied it back, SESSION_TERMINATED answers the caller with the
 * failure (408 for the timeout). Any other answer of the AS (a 2xx, 3xx, 4xx or 6xx: the AS
 * acting as a UA, redirecting or barring) reaches the caller as it is.
 *
 * Token state lives in memory for `tokenTtlMs` (5 minutes: longer than a call may ring, so a
 * diverting AS can still send a late new branch). After a restart the tokens of calls being set
 * up are unknown: a request coming back with one is answered 480, and established dialogs are
 * unaffected (the S-CSCF does not stay in them).
 */
import {
  lowerAscii,
  makeResponse,
  newTag,
  parseUri,
  randomToken,
  type RequestContext,
  type ResponseContext,
  type SipRequest,
  type SipUri,
  type Uri,
} from '../../sip/index.js';
import {
  DefaultHandling,
  FilterCriteriaCache,
  SessionCase,
  type ApplicationServer,
  type FilterCriteria,
} from '../ifc/index.js';

/** User part of the relay hop's Route value. */
export const RELAY_USER = 'isc';
/** Prefix of the user part that carries a token. */
export const TOKEN_PREFIX = 'odi-';
const TIMER = 'isc-as';
const DEFAULT_TOKEN_TTL_MS = 300_000;
const DEFAULT_MAX_TOKENS = 200_000;
/** How often at most {@link Isc} looks for expired tokens. */
const EVICT_EVERY_MS = 1_000;

/** Where a served user's request is in its service chain. */
export interface ServiceState {
  /** The served user's public identity. */
  readonly servedUser: string;
  readonly sessionCase: SessionCase;
  readonly registered: boolean;
  /** The served user's service profile (TS 29.228 Annex B XML). */
  readonly profile: string;
  /** Index (in priority order) of the first criterion still to evaluate. */
  readonly next: number;
  /** Terminating: key of the callee's bindings (its set's default identity). */
  readonly defaultImpu?: string;
  /** Terminating: the callee identity the Request-URI named when services started (a change is a diversion). */
  readonly target?: string;
}

export interface IscOptions {
  /** The S-CSCF's service host, e.g. `scscf.example.com`: requests come back to it. */
  readonly host: string;
  /**
   * Where requests come back instead, as `host[:port][;uri-parameters]`: this node's own address
   * when several nodes serve the S-CSCF's host (a cluster) and only this one keeps the service
   * state of the calls it set up. Default {@link host}.
   */
  readonly returnHost?: string;
  /** How long an AS may take to answer (other than 100) or send the request back, ms (INVITE only). */
  readonly asTimeoutMs: number;
  /** True when a URI addresses a service of this process: such an AS needs neither the relay nor the timer. */
  readonly inProcess?: (uri: SipUri) => boolean;
  readonly criteria?: FilterCriteriaCache;
  readonly tokenTtlMs?: number;
  readonly maxTokens?: number;
  /** Wall or monotonic clock, ms. */
  readonly now?: () => number;
}

/** One invocation of an AS from one request context. */
interface Leg {
  readonly token: string;
  readonly key: string;
  readonly defaultHandling: DefaultHandling;
  ctx: RequestContext | undefined;
  alive: boolean;
  timedOut: boolean;
  done: boolean;
}

interface Entry {
  readonly state: ServiceState;
  readonly leg: Leg;
  readonly expiresAt: number;
}

/** What the S-CSCF is asked to do with a request addressed to it by an ISC Route value. */
export type IscHop = { readonly kind: 'relay' } | { readonly kind: 'return'; readonly token: string };

export class Isc {
  readonly criteria: FilterCriteriaCache;
  private readonly tokens = new Map<string, Entry>();
  /** Legs by the request they forwarded: the responses of that request are the AS's. */
  private readonly legs = new WeakMap<SipRequest, Leg>();
  /** Tokens of legs not yet alive, by served user and session direction: a B2BUA's fresh leg finds its state here. */
  private readonly pending = new Map<string, string[]>();
  private readonly host: string;
  /** `returnHost` as written in the Route, and its host, which also addresses this S-CSCF. */
  private readonly returnHost: string;
  private readonly returnHostName: string;
  private readonly ttl: number;
  private readonly max: number;
  private readonly now: () => number;
  private nextEvict = Number.NEGATIVE_INFINITY;

  constructor(private readonly opts: IscOptions) {
    this.host = opts.host.toLowerCase();
    this.returnHost = opts.returnHost ?? this.host;
    const returnUri = parseUri(`sip:${this.returnHost}`);
    this.returnHostName = returnUri.kind === 'sip' ? returnUri.host.toLowerCase() : this.host;
    this.criteria = opts.criteria ?? new FilterCriteriaCache();
    this.ttl = opts.tokenTtlMs ?? DEFAULT_TOKEN_TTL_MS;
    this.max = opts.maxTokens ?? DEFAULT_MAX_TOKENS;
    this.now = opts.now ?? (() => performance.now());
  }

  /** The compiled criteria of a profile (cached by its text). */
  criteriaOf(profile: string): FilterCriteria {
    return this.criteria.get(profile);
  }

  /** Tokens alive now (for metrics and tests). */
  get tokenCount(): number {
    return this.tokens.size;
  }

  /** The first Route value this S-CSCF consumed, when it is the relay's or a token's. */
  classify(consumed: readonly Uri[]): IscHop | undefined {
    for (const u of consumed) {
      if (u.kind !== 'sip') continue;
      const host = lowerAscii(u.host);
      if (host !== this.host && host !== this.returnHostName) continue;
      if (u.user === RELAY_USER) return { kind: 'relay' };
      if (u.user?.startsWith(TOKEN_PREFIX)) return { kind: 'return', token: u.user.slice(TOKEN_PREFIX.length) };
      return undefined;
    }
    return undefined;
  }

  /** The AS's URI as a loose-routing Route target, or undefined when ServerName is not a SIP URI. */
  asUri(as: ApplicationServer): SipUri | undefined {
    let uri: Uri;
    try {
      uri = parseUri(as.serverName.trim());
    } catch {
      return undefined;
    }
    if (uri.kind !== 'sip') return undefined;
    const route = uri.clone();
    route.params.set('lr');
    route.headers = null;
    return route;
  }

  /**
   * TS 24.229 §5.4.3.2 step 4 / §5.4.3.3 step 3: sends the request to the AS at `asUri` with the
   * Route values that bring it back, and P-Served-User. `state.next` is where services resume.
   */
  invoke(ctx: RequestContext, state: ServiceState, as: ApplicationServer, asUri: SipUri): void {
    const token = this.newToken();
    const key = pendingKey(state.servedUser, state.sessionCase);
    const leg: Leg = { token, key, defaultHandling: as.defaultHandling, ctx, alive: false, timedOut: false, done: false };
    this.store(token, { state, leg, expiresAt: this.now() + this.ttl });
    this.addPending(key, token);
    const req = ctx.request;
    req.remove('p-served-user');
    req.append('p-served-user', pServedUser(state));
    const local = this.opts.inProcess?.(asUri) === true;
    const routes = [`<${asUri.toString()}>`, this.returnRoute(token)];
    if (!local) routes.unshift(`<sip:${RELAY_USER}@${this.host};lr>`);
    this.legs.set(req, leg);
    ctx.forward({ routes }, { recordRoute: false });
    if (!local && req.method === 'INVITE' && this.opts.asTimeoutMs > 0) ctx.setTimer(TIMER, this.opts.asTimeoutMs, () => this.timedOut(leg));
  }

  /** The Route value that brings a request back to services at the state of `token`. */
  returnRoute(token: string): string {
    return `<sip:${TOKEN_PREFIX}${token}@${this.returnHost};lr>`;
  }

  /**
   * The relay hop: 100 at once (so the S-CSCF may cancel), then on to the AS along the Route
   * values after the relay's own (for an in-process AS the core consumed them together).
   */
  relay(ctx: RequestContext): void {
    const consumed = ctx.consumedRoutes;
    const at = consumed.findIndex((u) => u.kind === 'sip' && u.user === RELAY_USER && lowerAscii(u.host) === this.host);
    const after = consumed.slice(at + 1).map((u) => `<${u.toString()}>`);
    if (ctx.request.method === 'INVITE') ctx.respond(100);
    ctx.forward(after.length ? { routes: after } : {}, { recordRoute: false });
  }

  /**
   * The state a request coming back with `token` continues from, undefined for an unknown or
   * expired token, or for the AS's own return after it timed out (`fromAs`): the session went on
   * without it (DefaultHandling) or failed, and must not start twice. The AS is alive: its timer stops.
   */
  resume(token: string, fromAs = true): ServiceState | undefined {
    const entry = this.lookup(token);
    if (!entry || (fromAs && entry.leg.timedOut)) return undefined;
    this.markAlive(entry.leg);
    return entry.state;
  }

  /**
   * A B2BUA's new leg that came without the token but with P-Served-User: the state of the
   * newest invocation for that served user and direction whose AS has not answered yet.
   */
  pendingFor(servedUser: string, sessionCase: SessionCase): ServiceState | undefined {
    const key = pendingKey(servedUser, sessionCase);
    const list = this.pending.get(key);
    while (list?.length) {
      const entry = this.lookup(list[list.length - 1]!);
      if (entry && !entry.leg.alive && !entry.leg.done) {
        this.markAlive(entry.leg);
        return entry.state;
      }
      list.pop();
    }
    this.pending.delete(key);
    return undefined;
  }

  /** A response of a branch the S-CSCF forwarded: the AS's answer when that branch went to an AS. */
  onResponse(rctx: ResponseContext): void {
    const leg = this.legs.get(rctx.request);
    if (!leg || leg.done) return;
    const status = rctx.response.status;
    if (status < 200) {
      if (status > 100) this.markAlive(leg);
      return;
    }
    const alive = leg.alive;
    leg.done = true;
    this.release(leg);
    // A failure of an AS that never answered otherwise: DefaultHandling applies (an AS that rang,
    // or answered 4xx/6xx, acted as a UA and its answer stands).
    const failed = status >= 300 && !alive && (leg.timedOut || status === 408 || (status >= 500 && status <= 599));
    if (failed && leg.defaultHandling === DefaultHandling.SESSION_CONTINUED) {
      // Continued here, in this process: through the service host, never over the network.
      rctx.forward({ routes: [`<sip:${TOKEN_PREFIX}${leg.token}@${this.host};lr>`] }, { recordRoute: false });
      return;
    }
    // The AS gave its final answer: it sends nothing more with the token (a diverting AS sends
    // its new branches before that), so its state goes now rather than at the end of the TTL.
    this.tokens.delete(leg.token);
    if (failed && leg.timedOut) rctx.replace(makeResponse(rctx.request, 408, 'Request Timeout - application server did not answer', newTag()));
  }

  private timedOut(leg: Leg): void {
    if (leg.alive || leg.done || !leg.ctx) return;
    leg.timedOut = true;
    leg.ctx.cancelBranches();
  }

  private markAlive(leg: Leg): void {
    if (leg.alive) return;
    leg.alive = true;
    if (!leg.done) leg.ctx?.cancelTimer(TIMER);
    this.dropPending(leg);
  }

  private release(leg: Leg): void {
    leg.ctx?.cancelTimer(TIMER);
    leg.ctx = undefined;
    this.dropPending(leg);
  }

  private dropPending(leg: Leg): void {
    const list = this.pending.get(leg.key);
    if (!list) return;
    const i = list.indexOf(leg.token);
    if (i >= 0) list.splice(i, 1);
    if (list.length === 0) this.pending.delete(leg.key);
  }

  private addPending(key: string, token: string): void {
    const list = this.pending.get(key);
    if (list) list.push(token);
    else this.pending.set(key, [token]);
  }

  private newToken(): string {
    let token = randomToken(12);
    while (this.tokens.has(token)) token = randomToken(12);
    return token;
  }

  private lookup(token: string): Entry | undefined {
    const entry = this.tokens.get(token);
    if (!entry) return undefined;
    if (entry.expiresAt > this.now()) return entry;
    this.tokens.delete(token);
    this.dropPending(entry.leg);
    return undefined;
  }

  /**
   * Entries are kept in expiry order (one TTL for all), so the expired ones are at the front.
   * Deleted tokens stay in the Map's table as holes until V8 rebuilds it, and an iteration from
   * the front steps over each of them: the front is looked at once a second at most, when all
   * the expired tokens go, and a full table loses its oldest sixteenth at once. A lookup never
   * returns an expired token.
   */
  private store(token: string, entry: Entry): void {
    const now = this.now();
    if (now >= this.nextEvict) {
      this.nextEvict = now + EVICT_EVERY_MS;
      this.evict((e) => e.expiresAt <= now);
    }
    if (this.tokens.size >= this.max) {
      let n = Math.max(1, this.max >> 4);
      this.evict(() => n-- > 0);
    }
    this.tokens.set(token, entry);
  }

  /** Drops tokens from the front (the oldest) while `take` says so. */
  private evict(take: (e: Entry) => boolean): void {
    for (const [k, e] of this.tokens) {
      if (!take(e)) break;
      this.tokens.delete(k);
      this.dropPending(e.leg);
    }
  }
}

function pendingKey(servedUser: string, sessionCase: SessionCase): string {
  return `${isOriginatingCase(sessionCase) ? 'orig' : 'term'} ${servedUser}`;
}

/** True for the originating session cases (registered, unregistered, after a diversion). */
export function isOriginatingCase(sessionCase: SessionCase): boolean {
  return sessionCase === SessionCase.ORIGINATING_REGISTERED || sessionCase === SessionCase.ORIGINATING_UNREGISTERED || sessionCase === SessionCase.ORIGINATING_CDIV;
}

/** RFC 5502 P-Served-User, with TS 24.229's `orig-cdiv` parameter after a diversion. */
export function pServedUser(state: ServiceState): string {
  const sescase = isOriginatingCase(state.sessionCase) ? 'orig' : 'term';
  const cdiv = state.sessionCase === SessionCase.ORIGINATING_CDIV ? ';orig-cdiv' : '';
  return `<${state.servedUser}>;sescase=${sescase};regstate=${state.registered ? 'reg' : 'unreg'}${cdiv}`;
}

/**
 * For an application server hosted in this process: the Route values to forward with so the
 * request reaches the S-CSCF again. The proxy core consumes every Route value addressing this
 * process at once, so the S-CSCF's own (with the token) is among `ctx.consumedRoutes`, after the
 * AS's: forward with `{ routes: continuationRoutes(ctx) }`.
 */
export function continuationRoutes(ctx: RequestContext): string[] {
  const at = ctx.consumedRoutes.findIndex((u) => u.kind === 'sip' && u.user?.startsWith(TOKEN_PREFIX) === true);
  return at < 0 ? [] : ctx.consumedRoutes.slice(at).map((u) => `<${u.toString()}>`);
}
