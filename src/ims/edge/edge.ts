/**
 * The edge (P-CSCF, 3GPP TS 24.229 §5.2): the first hop of every client. It
 * - forwards REGISTER towards the I-CSCF with a Path carrying a flow token (RFC 3327, RFC 5626
 *   §5.2), and learns from the 200 which identities the flow registered (P-Associated-URI) and
 *   the Service-Route to use for them (RFC 3608);
 * - refuses requests from flows that registered nothing (403), asserts the caller's identity
 *   (RFC 3325: P-Asserted-Identity from the registered set; a client's own is removed), and
 *   routes them along the Service-Route, Record-Routing itself with the flow token;
 * - delivers requests for its clients (reached through the stored Path) over the client's flow,
 *   and in-dialog requests over the flow named in the Route set; an INVITE whose offer a WebRTC
 *   client on a WebSocket flow cannot accept gets 488 instead (media.ts).
 */
import {
  SipUri,
  type Flow,
  type ProxyService,
  type RequestContext,
  type ResponseContext,
  type SipRequest,
  type SipResponse,
  type Uri,
} from '../../sip/index.js';
import { ownString, StringPool } from '../../storage/kept-strings.js';
import { timeHigh, timeLow, timeOf } from '../../storage/kept-times.js';
import { impuOf } from '../identity.js';
import type { FlowTokens } from './flow-token.js';
import { mediaMismatch } from './media.js';

/** What a flow registered, learnt from a 200 to its REGISTER. */
export interface FlowRegistration {
  /** P-Associated-URI, default identity first (TS 24.229 §5.2.2.4). */
  readonly identities: readonly string[];
  /** Service-Route values, as `<uri>` (RFC 3608 §6). */
  readonly serviceRoute: readonly string[];
  /** Wall-clock ms. */
  readonly expiresAt: number;
}

/**
 * What the edge keeps of one AoR a flow registered: a {@link FlowRegistration} as one object,
 * the identity list as its one string when the set has one identity, and the expiry as two
 * small integers (kept-times.ts). The edge keeps one per registered client for as long as it
 * is registered, and every full collection marks each object of them (registration-index.ts).
 */
class Learnt {
  private readonly expiresHigh: number;
  private readonly expiresLow: number;

  constructor(
    readonly aor: string,
    /** P-Associated-URI, default identity first: the list, or its one member. */
    private readonly identities: string | readonly string[],
    readonly serviceRoute: readonly string[],
    expiresAt: number,
  ) {
    this.expiresHigh = timeHigh(expiresAt);
    this.expiresLow = timeLow(expiresAt, this.expiresHigh);
  }

  static of(aor: string, r: FlowRegistration): Learnt {
    return new Learnt(aor, r.identities.length === 1 ? r.identities[0]! : r.identities, r.serviceRoute, r.expiresAt);
  }

  /** Registered and not expired at `now`, with at least one identity not barred. */
  live(now: number): boolean {
    return timeOf(this.expiresHigh, this.expiresLow) > now && this.identities.length > 0;
  }

  expiredAt(now: number): boolean {
    return timeOf(this.expiresHigh, this.expiresLow) <= now;
  }

  has(identity: string): boolean {
    return typeof this.identities === 'string' ? this.identities === identity : this.identities.includes(identity);
  }

  get defaultIdentity(): string {
    return typeof this.identities === 'string' ? this.identities : this.identities[0]!;
  }
}

/** What a flow registered: most flows are one client with one AoR, kept without a map. */
type FlowRegistrations = Learnt | Map<string, Learnt>;

export interface EdgeOptions {
  /** The edge's service host (e.g. `pcscf.example.com`). */
  readonly host: string;
  /**
   * Where requests for its clients must come back, as written in Path after the flow token:
   * `host[:port][;uri-parameters]`. Default {@link host}, right when the core runs in the same
   * process; in a cluster this edge's own address, since only this edge holds the flow.
   */
  readonly pathHost?: string;
  /** Where REGISTER goes: the I-CSCF, as a Route URI (e.g. `sip:icscf.example.com;lr`). */
  readonly registrarRoute: string;
  readonly tokens: FlowTokens;
  /** A live flow by id. */
  readonly lookupFlow: (flowId: string) => Flow | undefined;
  /** Wall clock, ms. */
  readonly now?: () => number;
  /**
   * What a flow the edge has no record of registered, from the registrar's stored bindings:
   * after a restart, clients stay registered for their calls as well as for being called.
   * Keyed by the registered AoR.
   */
  readonly recover?: (flowId: string) => Promise<ReadonlyMap<string, FlowRegistration>>;
  /**
   * The nodes of the core (a cluster's `trustedPeers`): a request from one whose Route names a
   * flow of this edge (the Path it stored) is for that client, not from one. Without it, only
   * requests from services of this process are.
   */
  readonly fromCore?: (flow: Flow) => boolean;
}

/** Methods routed for clients (RFC 3261, 3262, 3311, 3428, 6665, 6086). */
const ALLOW = 'INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER, MESSAGE, SUBSCRIBE, NOTIFY, INFO, UPDATE, PRACK, REFER';

/** A Request-URI with no user part names a server (the domain or the edge), not a user. */
function isServerUri(uri: Uri): boolean {
  return uri instanceof SipUri && uri.user === null;
}

const CLIENT_IDENTITY_HEADERS = ['p-asserted-identity', 'p-preferred-identity'];

export class EdgeService implements ProxyService {
  readonly hosts: readonly string[];
  private readonly flows = new Map<string, FlowRegistrations>();
  /** Service-Routes, the same for every client of a core: one copy each. */
  private readonly routes = new StringPool(256);
  private readonly now: () => number;

  constructor(private readonly opts: EdgeOptions) {
    this.hosts = [opts.host];
    this.now = opts.now ?? Date.now;
  }

  onInitialRequest(ctx: RequestContext): void | Promise<void> {
    if (!ctx.flow) return this.terminating(ctx);
    if (this.opts.fromCore?.(ctx.flow) && this.opts.tokens.flowOfRoutes(ctx.consumedRoutes, ctx.flow) !== undefined) return this.terminating(ctx);
    if (ctx.request.method === 'REGISTER') return this.register(ctx, ctx.flow);
    if (ctx.request.method === 'OPTIONS' && isServerUri(ctx.request.uri)) return ctx.respond(200, 'OK', [['Allow', ALLOW]]);
    if (!this.flows.has(ctx.flow.id) && this.opts.recover) return this.recoverThenOriginate(ctx, ctx.flow);
    return this.originating(ctx, ctx.flow);
  }

  private async recoverThenOriginate(ctx: RequestContext, flow: Flow): Promise<void> {
    ctx.defer();
    const regs = await this.opts.recover!(flow.id);
    if (regs.size && !this.flows.has(flow.id)) {
      const learnt = [...regs].map(([aor, r]) => Learnt.of(aor, r));
      this.flows.set(flow.id, learnt.length === 1 ? learnt[0]! : new Map(learnt.map((l) => [l.aor, l])));
    }
    this.originating(ctx, flow);
  }

  /** In-dialog requests leave over the flow named in the Route set, if any (RFC 5626 §5.3). */
  onInDialogRequest(ctx: RequestContext): void {
    const flowId = this.opts.tokens.flowOfRoutes(ctx.consumedRoutes, ctx.flow);
    if (flowId === undefined) return ctx.forward();
    if (!this.opts.lookupFlow(flowId)) return ctx.respond(430, 'Flow Failed');
    ctx.forward({ flowId });
  }

  onResponse(rctx: ResponseContext): void {
    if (rctx.request.method === 'REGISTER' && rctx.response.status === 200) this.learn(rctx.request, rctx.response);
  }

  /** The flow closed (RFC 5626 §5.3): whatever it registered is gone with it. */
  flowClosed(flowId: string): void {
    this.flows.delete(flowId);
  }

  /** Drops what expired registrations left behind (UDP flows never close). */
  sweep(): void {
    const now = this.now();
    for (const [flowId, regs] of this.flows) {
      if (regs instanceof Learnt) {
        if (regs.expiredAt(now)) this.flows.delete(flowId);
        continue;
      }
      for (const [aor, reg] of regs) if (reg.expiredAt(now)) regs.delete(aor);
      this.settle(flowId, regs);
    }
  }

  /** How many flows have a registration (for metrics). */
  get registeredFlows(): number {
    return this.flows.size;
  }

  // ---- client side -----------------------------------------------------------------------

  private register(ctx: RequestContext, flow: Flow): void {
    const req = ctx.request;
    const ob = req.contacts.some((c) => c.params.has('reg-id')) ? ';ob' : '';
    req.prepend('path', `<sip:${this.opts.tokens.encode(flow.id)}@${this.opts.pathHost ?? this.opts.host};lr${ob}>`);
    if (!hasOption(req, 'supported', 'path')) req.append('supported', 'path');
    ctx.forward({ routes: [this.opts.registrarRoute] });
  }

  private originating(ctx: RequestContext, flow: Flow): void {
    const regs = this.flows.get(flow.id);
    const req = ctx.request;
    const identity = regs && this.assertedIdentity(req, regs, this.now());
    if (!identity) return ctx.respond(403, 'Forbidden - not registered');
    for (const h of CLIENT_IDENTITY_HEADERS) req.remove(h);
    req.append('p-asserted-identity', `<${identity.impu}>`);
    ctx.forward({ routes: [...identity.serviceRoute] }, { recordRouteUser: this.opts.tokens.encode(flow.id) });
  }

  /**
   * RFC 3325 §6 / TS 24.229 §5.2.6.3.1: a P-Preferred-Identity the flow registered wins, else
   * the From identity if registered, else the default identity of the first live registration;
   * undefined when the flow has none. A flow may carry the registrations of many users (a PBX
   * or SBC behind one connection): a wanted identity is first looked up as the AoR it was
   * registered under, so a request costs the same whatever the number of users on its flow.
   */
  private assertedIdentity(req: SipRequest, regs: FlowRegistrations, now: number): { impu: string; serviceRoute: readonly string[] } | undefined {
    const wanted: string[] = [];
    const ppi = req.has('p-preferred-identity') ? req.nameAddrs('p-preferred-identity') : [];
    for (const p of ppi) {
      const i = impuOf(p.uri);
      if (i) wanted.push(i);
    }
    const from = impuOf(req.from.uri);
    if (from) wanted.push(from);
    if (regs instanceof Learnt) {
      if (!regs.live(now)) return undefined;
      for (const w of wanted) if (regs.has(w)) return { impu: w, serviceRoute: regs.serviceRoute };
      return { impu: regs.defaultIdentity, serviceRoute: regs.serviceRoute };
    }
    for (const w of wanted) {
      const r = regs.get(w);
      if (r && r.live(now) && r.has(w)) return { impu: w, serviceRoute: r.serviceRoute };
      // Another identity of the set of a registered AoR (an implicit registration).
      for (const other of regs.values()) if (other !== r && other.live(now) && other.has(w)) return { impu: w, serviceRoute: other.serviceRoute };
    }
    for (const r of regs.values()) if (r.live(now)) return { impu: r.defaultIdentity, serviceRoute: r.serviceRoute };
    return undefined;
  }

  /** From a 200 to a REGISTER: what the flow now has registered (RFC 3608, TS 24.229 §5.2.2.4). */
  private learn(req: SipRequest, res: SipResponse): void {
    const path = req.has('path') ? req.nameAddrs('path')[0] : undefined;
    const flowId = path && this.opts.tokens.flowOf(path.uri);
    const aor = impuOf(req.to.uri);
    if (!flowId || !aor) return;
    const expires = registeredFor(req, res);
    const regs = this.flows.get(flowId);
    if (expires <= 0) {
      if (regs instanceof Learnt) {
        if (regs.aor === aor) this.flows.delete(flowId);
      } else if (regs) {
        regs.delete(aor);
        this.settle(flowId, regs);
      }
      return;
    }
    const associated = res.has('p-associated-uri') ? res.nameAddrs('p-associated-uri').map((n) => impuOf(n.uri)) : [];
    // Kept for as long as the registration: strings of their own, not views of the 200 (see
    // kept-strings.ts), the AoR itself once.
    const key = ownString(aor);
    const identities = associated.filter((i): i is string => i !== undefined).map((i) => (i === key ? key : ownString(i)));
    if (!identities.length) identities.push(key);
    const serviceRoute = res.has('service-route') ? this.routes.list(res.nameAddrs('service-route').map((n) => `<${n.uri.toString()}>`)) : [];
    const learnt = new Learnt(key, identities.length === 1 ? identities[0]! : Object.freeze(identities), serviceRoute, this.now() + expires * 1000);
    if (regs === undefined) this.flows.set(ownString(flowId), learnt);
    else if (!(regs instanceof Learnt)) regs.set(key, learnt);
    else if (regs.aor === key) this.flows.set(flowId, learnt);
    else this.flows.set(flowId, new Map([[regs.aor, regs], [key, learnt]]));
  }

  /** A flow's map after removals: gone when empty, its one entry alone when one is left. */
  private settle(flowId: string, regs: Map<string, Learnt>): void {
    if (regs.size === 0) this.flows.delete(flowId);
    else if (regs.size === 1) this.flows.set(flowId, regs.values().next().value!);
  }

  // ---- core side ---------------------------------------------------------------------------

  /**
   * A request for a client, addressed to this edge by the client's stored Path: over the
   * client's flow (RFC 5626 §5.3), 430 when that flow is gone, 488 with Warning 302 (RFC 3261
   * §20.43) for an offer the client cannot accept (TS 24.229 §5.2.7.2).
   */
  private terminating(ctx: RequestContext): void {
    const flowId = this.opts.tokens.flowOfRoutes(ctx.consumedRoutes, undefined);
    if (flowId === undefined) return ctx.forward();
    const flow = this.opts.lookupFlow(flowId);
    if (!flow) return ctx.respond(430, 'Flow Failed');
    const mismatch = mediaMismatch(ctx.request, flow.protocol);
    if (mismatch !== undefined) return ctx.respond(488, 'Not Acceptable Here', [['Warning', `302 ${this.opts.host} "${mismatch}"`]]);
    ctx.forward({ flowId }, { recordRouteUser: this.opts.tokens.encode(flowId) });
  }
}

/**
 * Seconds the REGISTER's own contacts stay registered according to the 200 (its Contact list
 * holds every binding of the AoR, RFC 3261 §10.3 step 8); 0 when none of them is left.
 */
function registeredFor(req: SipRequest, res: SipResponse): number {
  if (req.isWildcardContact) return 0;
  const mine = req.contacts.map((c) => c.uri.toString());
  let best = 0;
  const headerExpires = res.expires;
  for (const c of res.contacts) {
    if (!(c.uri instanceof SipUri) || !mine.includes(c.uri.toString())) continue;
    const e = Number(c.params.get('expires') ?? headerExpires ?? 0);
    if (e > best) best = e;
  }
  return best;
}

function hasOption(req: SipRequest, header: string, option: string): boolean {
  return req.getAll(header).some((v) => v.trim().toLowerCase() === option);
}
