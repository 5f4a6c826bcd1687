/**
 * The S-CSCF (3GPP TS 24.229 §5.4): registrar for its users, and router of their requests in
 * the originating session case (reached by the Service-Route it handed out, whose user part is
 * `orig`) and the terminating one (reached from the I-CSCF), where a request is forked to every
 * live contact of the callee's implicit set over the stored Path (RFC 3327).
 *
 * In both cases the served user's initial Filter Criteria come first (§5.4.3.2 step 4, §5.4.3.3
 * step 3): each matching one sends the request to its application server over ISC (isc.ts),
 * and what comes back continues at the next criterion. A terminating AS that changes the
 * Request-URI diverts the request: the diverting user's originating-CDIV criteria apply, then
 * the request is routed to its new target.
 */
import { lowerAscii, parseUri, type ProxyService, type RequestContext, type ResponseContext, type Uri } from '../../sip/index.js';
import type { RegistrationStore } from '../../storage/index.js';
import { ifcRequestOf, nextMatch, SessionCase, DefaultHandling } from '../ifc/index.js';
import { locate, type Hss, type LocationInfo } from '../hss.js';
import { impuOf, type HomeDomain } from '../identity.js';
import { gruuInstance, isInstance, liveTargets } from './bindings.js';
import { routeTo, type TrustedPeer } from './icscf.js';
import { isOriginatingCase, type Isc, type ServiceState } from './isc.js';
import type { Registrar } from './registrar.js';

/** The part of the reg-event notifier the S-CSCF hands SUBSCRIBEs to. */
export interface RegEventHandler {
  handleSubscribe(ctx: RequestContext): Promise<void>;
  handleInDialog(ctx: RequestContext): Promise<void>;
}

/** What the S-CSCF lets watch a REGISTER (third-party registration wants the 200 it got). */
export type RegisterWatch = (ctx: RequestContext) => RequestContext;

export interface ScscfOptions {
  readonly host: string;
  /** Network peers whose requests it serves (a P-CSCF or I-CSCF in another process); by default none. */
  readonly trusted?: TrustedPeer;
  readonly home: HomeDomain;
  readonly hss: Hss;
  readonly registrations: RegistrationStore;
  readonly registrar: Registrar;
  /** Where terminating requests for home users go: the I-CSCF, e.g. `sip:icscf.example.com`. */
  readonly icscf: string;
  /**
   * This S-CSCF's name as the HSS records it (`sip:scscf.example.com`): a callee registered here
   * is served terminating at once, without the round trip through the I-CSCF.
   */
  readonly name?: string;
  readonly regEvent?: RegEventHandler;
  /** Initial Filter Criteria over ISC; without it no application server is involved. */
  readonly isc?: Isc;
  /** Wraps the context of each REGISTER handed to the registrar. */
  readonly watchRegister?: RegisterWatch;
  /** Wall clock, ms. */
  readonly now?: () => number;
}

/** The user part of the Service-Route that marks the originating session case. */
export const ORIG_USER = 'orig';

const P_SERVED_USER = 'p-served-user';

export class ScscfService implements ProxyService {
  readonly hosts: readonly string[];
  private readonly now: () => number;

  constructor(private readonly opts: ScscfOptions) {
    this.hosts = [opts.host];
    this.now = opts.now ?? Date.now;
  }

  onInitialRequest(ctx: RequestContext): Promise<void> | void {
    const req = ctx.request;
    if (req.method === 'REGISTER') return this.opts.registrar.register(this.opts.watchRegister?.(ctx) ?? ctx);
    if (req.method === 'SUBSCRIBE' && this.opts.regEvent && isRegEvent(req.get('event'))) return this.opts.regEvent.handleSubscribe(ctx);
    const isc = this.opts.isc;
    if (isc) {
      const hop = isc.classify(ctx.consumedRoutes);
      // The relay is a hop of this process only: from the network it would be an open relay.
      if (hop?.kind === 'relay') return ctx.flow ? ctx.respond(403, 'Forbidden') : isc.relay(ctx);
      if (hop?.kind === 'return') return this.returned(ctx, hop.token);
      // A request an AS made itself (a B2BUA's new leg without the token, TS 24.229 §5.4.3.2).
      if (ctx.flow && req.has(P_SERVED_USER)) return this.fromApplicationServer(ctx);
    }
    // Everything else reaches the S-CSCF from the edge or the I-CSCF of this process (or a
    // trusted peer). Sent straight from anywhere else it would skip the edge's checks: a forged
    // P-Asserted-Identity would originate as someone else, or reach a callee as someone else.
    if (ctx.flow && !this.opts.trusted?.(ctx.flow)) return ctx.respond(403, 'Forbidden - not a trusted peer');
    if (isOriginating(ctx.consumedRoutes, this.opts.host)) return this.originating(ctx);
    return this.terminating(ctx);
  }

  onInDialogRequest(ctx: RequestContext): Promise<void> | void {
    const req = ctx.request;
    if (this.opts.regEvent && req.method === 'SUBSCRIBE' && isRegEvent(req.get('event'))) return this.opts.regEvent.handleInDialog(ctx);
    ctx.forward();
  }

  onResponse(rctx: ResponseContext): void {
    this.opts.isc?.onResponse(rctx);
  }

  /**
   * TS 24.229 §5.4.3.2: the served user is the asserted identity the edge put in; a barred one
   * may not originate. Its originating services come first.
   */
  private async originating(ctx: RequestContext, identity?: Uri): Promise<void> {
    ctx.defer();
    const req = ctx.request;
    req.remove(P_SERVED_USER);
    const pai = identity ?? (req.has('p-asserted-identity') ? req.nameAddrs('p-asserted-identity')[0]?.uri : undefined);
    if (!pai) return ctx.respond(403, 'Forbidden - no asserted identity');
    const served = await this.firstKnown(pai);
    if (!served) return ctx.respond(403, 'Forbidden - unknown served user');
    if (served.barred) return ctx.respond(403, 'Forbidden - barred identity');
    const registered = served.state === 'REGISTERED';
    const sessionCase = registered ? SessionCase.ORIGINATING_REGISTERED : SessionCase.ORIGINATING_UNREGISTERED;
    return this.services(ctx, await this.serviceState(served.impu, sessionCase, registered));
  }

  /** After the originating services: out of the home network, to the callee served here, or to the I-CSCF. */
  private async routeOriginating(ctx: RequestContext): Promise<void> {
    const req = ctx.request;
    if (!this.opts.home.isHome(req.uri)) return ctx.forward({}, { recordRoute: false });
    if (this.opts.name !== undefined) {
      // The I-CSCF would ask the HSS where the callee is served (LIR) and route back here.
      const callee = await this.firstKnown(req.uri);
      if (callee?.state === 'REGISTERED' && callee.scscf === this.opts.name) return this.startTerminating(ctx, callee);
      if (callee && callee.state !== 'REGISTERED' && (callee.scscf === undefined || callee.scscf === this.opts.name)) {
        // A callee with services for the unregistered state is served here (TS 24.229 §5.3.2.1: the
        // I-CSCF would pick an S-CSCF for it); without any, the I-CSCF answers as before.
        const state = await this.terminatingState(ctx, callee);
        if (this.firstCriterion(ctx, state) >= 0) return this.services(ctx, state);
      }
    }
    ctx.forward({ routes: [routeTo(this.opts.icscf)] }, { recordRoute: false });
  }

  /** TS 24.229 §5.4.3.3: the callee's terminating services, then its live contacts (480 when none). */
  private async terminating(ctx: RequestContext): Promise<void> {
    ctx.defer();
    const callee = await this.firstKnown(ctx.request.uri);
    if (!callee) return ctx.respond(404, 'Not Found');
    return this.startTerminating(ctx, callee);
  }

  private async startTerminating(ctx: RequestContext, callee: LocationInfo & { readonly impu: string }): Promise<void> {
    return this.services(ctx, await this.terminatingState(ctx, callee));
  }

  private async terminatingState(ctx: RequestContext, callee: LocationInfo & { readonly impu: string }): Promise<ServiceState> {
    const registered = callee.state === 'REGISTERED';
    const sessionCase = registered ? SessionCase.TERMINATING_REGISTERED : SessionCase.TERMINATING_UNREGISTERED;
    const state = await this.serviceState(callee.impu, sessionCase, registered);
    return { ...state, defaultImpu: callee.defaultImpu, target: targetOf(this.opts.home, ctx.request.uri) };
  }

  /**
   * A request an AS sent back with a token: services continue where they were; a terminating
   * request whose Request-URI the AS changed was diverted (TS 24.229 §5.4.3.3 step 3, orig-cdiv).
   */
  private async returned(ctx: RequestContext, token: string): Promise<void> {
    ctx.defer();
    // Only the S-CSCF itself continues a timed-out AS's session, through an in-process hop.
    const state = this.opts.isc!.resume(token, ctx.flow !== undefined);
    if (!state) return ctx.respond(480, 'Temporarily Unavailable - service state expired');
    return this.services(ctx, this.diverted(ctx, state) ?? state);
  }

  private diverted(ctx: RequestContext, state: ServiceState): ServiceState | undefined {
    if (state.target === undefined || targetOf(this.opts.home, ctx.request.uri) === state.target) return undefined;
    return { servedUser: state.servedUser, sessionCase: SessionCase.ORIGINATING_CDIV, registered: state.registered, profile: state.profile, next: 0 };
  }

  /**
   * A request from the network with P-Served-User and no token: the new leg of a B2BUA continues
   * the services of the invocation it belongs to (one pending for that served user); anything
   * else is refused, since the header alone proves nothing about who sent it.
   */
  private async fromApplicationServer(ctx: RequestContext): Promise<void> {
    ctx.defer();
    const psu = ctx.request.nameAddrs(P_SERVED_USER)[0];
    const served = psu ? impuOf(psu.uri) : undefined;
    const term = psu?.params.get('sescase')?.toLowerCase() === 'term';
    if (served) {
      const pending = this.opts.isc!.pendingFor(served, term ? SessionCase.TERMINATING_REGISTERED : SessionCase.ORIGINATING_REGISTERED);
      if (pending) return this.services(ctx, this.diverted(ctx, pending) ?? pending);
    }
    // Not the continuation of a service this S-CSCF invoked: an AS it does not know, or anyone
    // naming a served user of their choosing.
    return ctx.respond(403, 'Forbidden - no service invocation for this served user');
  }

  /** The first matching criterion from `state.next`, or -1. */
  private firstCriterion(ctx: RequestContext, state: ServiceState): number {
    const criteria = this.opts.isc && state.profile ? this.opts.isc.criteriaOf(state.profile) : undefined;
    if (!criteria?.criteria.length) return -1;
    return nextMatch(criteria, ifcRequestOf(ctx.request), state, state.next);
  }

  /** The next matching criterion's AS gets the request; with none left, normal routing. */
  private async services(ctx: RequestContext, state: ServiceState): Promise<void> {
    const isc = this.opts.isc;
    const criteria = isc && state.profile ? isc.criteriaOf(state.profile) : undefined;
    if (isc && criteria?.criteria.length) {
      const view = ifcRequestOf(ctx.request);
      for (let at = nextMatch(criteria, view, state, state.next); at >= 0; at = nextMatch(criteria, view, state, state.next)) {
        const as = criteria.criteria[at]!.applicationServer;
        state = { ...state, next: at + 1 };
        const uri = isc.asUri(as);
        if (uri) return isc.invoke(ctx, state, as, uri);
        // A ServerName that is no SIP URI cannot be reached: default handling at once.
        if (as.defaultHandling === DefaultHandling.SESSION_TERMINATED) return ctx.respond(500, 'Server Internal Error - application server unusable');
      }
    }
    ctx.request.remove(P_SERVED_USER);
    if (isOriginatingCase(state.sessionCase)) return this.routeOriginating(ctx);
    return this.serveCallee(ctx, state.defaultImpu ?? state.servedUser);
  }

  private async serviceState(impu: string, sessionCase: SessionCase, registered: boolean): Promise<ServiceState> {
    const profile = this.opts.isc ? ((await this.opts.hss.implicitSetOf(impu))?.serviceProfile ?? '') : '';
    return { servedUser: impu, sessionCase, registered, profile, next: 0 };
  }

  /**
   * Forks to the callee's live contacts; a Request-URI that is a public GRUU (RFC 5627 §5.5)
   * reaches only the contacts of its instance, the most recently refreshed first (RFC 5626 §5.3),
   * and gets 480 when that instance has none.
   */
  private async serveCallee(ctx: RequestContext, defaultImpu: string): Promise<void> {
    const record = await this.opts.registrations.get(defaultImpu);
    let targets = liveTargets(record?.bindings ?? [], this.now());
    const instance = gruuInstance(ctx.request.uri);
    if (instance === null) return ctx.respond(404, 'Not Found - unknown GRUU');
    if (instance !== undefined) targets = targets.filter((b) => isInstance(b, instance)).sort((a, b) => b.expiresAt - a.expiresAt);
    if (!targets.length) return ctx.respond(480, 'Temporarily Unavailable');
    ctx.forward(
      targets.map((b) => ({ uri: parseUri(b.contact), routes: [...b.path] })),
      { recordRoute: false, ...(instance !== undefined ? { mode: 'sequential' as const } : {}) },
    );
  }

  private firstKnown(uri: Uri) {
    return locate(this.opts.hss, this.opts.home, uri);
  }
}

function isOriginating(consumed: readonly Uri[], host: string): boolean {
  const h = lowerAscii(host);
  return consumed.some((u) => u.kind === 'sip' && u.user === ORIG_USER && lowerAscii(u.host) === h);
}

/** The identity a Request-URI names, to tell whether an AS retargeted the request. */
function targetOf(home: HomeDomain, uri: Uri): string {
  return home.candidates(uri)[0] ?? uri.toString();
}

function isRegEvent(event: string | undefined): boolean {
  if (!event) return false;
  const semi = event.indexOf(';');
  return (semi < 0 ? event : event.slice(0, semi)).trim().toLowerCase() === 'reg';
}
