/**
 * The S-CSCF's notifier for the reg event package (RFC 3680, RFC 6665, 3GPP TS 24.229
 * §5.4.2.1): a UE or its P-CSCF subscribes to a public identity's registration state and gets a
 * NOTIFY with a full reginfo document at once, on every change of the implicit set's bindings,
 * on each refresh, and a final one when the subscription ends.
 */
import {
  SipParseError,
  makeRequest,
  makeResponse,
  newTag,
  parseNameAddr,
  type Clock,
  type RequestContext,
  type SipRequest,
  type SipResponse,
  type TimerHandle,
} from '../../sip/index.js';
import type { Binding, ImplicitSet, RegistrationStore } from '../../storage/index.js';
import { locate, type LocationInfo } from '../hss.js';
import { impuOf, type HomeDomain } from '../identity.js';
import type { RegistrationListener } from './registrar.js';
import { REGINFO_TYPE, fullReginfo, reginfoXml, reportContacts, type ReportCause, type ReportedContact, type SetIdentity } from './reginfo.js';

/** What the notifier asks of the HSS ({@link Hss} has it; `implicitSetOf` is optional there). */
export interface RegEventHss {
  /** LIR (TS 29.228 §6.1.4): whether the identity exists, and its set's default identity. */
  locationInfo(impu: string): Promise<LocationInfo | undefined>;
  /**
   * The identities of `impu`'s implicit set (the user profile of TS 29.228 §6.1.2). Without it
   * the document lists the identities learnt from registrar changes, else the subscribed one.
   */
  implicitSetOf?(impu: string): Promise<ImplicitSet | undefined>;
}

/** Subscription durations in seconds (RFC 6665 §4.2.1.1). */
export interface SubscriptionLimits {
  readonly minExpires: number;
  readonly maxExpires: number;
  readonly defaultExpires: number;
}

/**
 * TS 24.229 §5.1.1.3 has UEs ask for 600 000 s; a day bounds how long a vanished subscriber
 * stays (a deregistration ends the subscription anyway, TS 24.229 §5.4.2.1.2).
 */
export const DEFAULT_SUBSCRIPTION_LIMITS: SubscriptionLimits = { minExpires: 60, maxExpires: 86_400, defaultExpires: 3600 };

export interface RegEventOptions {
  readonly home: HomeDomain;
  readonly hss: RegEventHss;
  readonly registrations: RegistrationStore;
  /** Sends a request made here (ProxyCore.originate); exactly one final response reaches the callback. */
  readonly send: (request: SipRequest, onResponse: (response: SipResponse) => void) => void;
  /** The notifier's Contact URI, e.g. `sip:scscf.example.com`: in-dialog SUBSCRIBEs come back there. */
  readonly contact: string;
  /** Timers for subscription expiry. */
  readonly clock: Clock;
  /** Wall clock, ms, for binding expiries. */
  readonly now?: () => number;
  readonly limits?: SubscriptionLimits;
  /** Most subscriptions per implicit set; more get 403. Default 16. */
  readonly maxPerSet?: number;
  readonly onError?: (e: unknown) => void;
}

interface Subscription {
  readonly key: string;
  readonly callId: string;
  readonly localTag: string;
  readonly eventId: string | undefined;
  /** The set's default identity: the key of its bindings and of registrar changes. */
  readonly aor: string;
  identities: readonly SetIdentity[];
  /** SUBSCRIBE's To with our tag, and its From (RFC 3261 §12.1.1). */
  readonly localUri: string;
  readonly remoteUri: string;
  readonly routeSet: readonly string[];
  remoteTarget: string;
  remoteCseq: number;
  localCseq: number;
  version: number;
  reported: Map<string, ReportedContact>;
  /** The set's bindings as last known (kept current by registrar changes). */
  bindings: readonly Binding[];
  expiresAt: number;
  timer: TimerHandle | undefined;
  /** Reading the store for a NOTIFY to come: a registrar change only updates `bindings` and `pendingCause`. */
  pending: boolean;
  pendingCause: ReportCause | undefined;
  active: boolean;
}

type Termination = 'timeout' | 'noresource';

const MAX_FORWARDS = '70';

export class RegEventNotifier {
  private readonly byKey = new Map<string, Subscription>();
  private readonly byAor = new Map<string, Set<Subscription>>();
  private readonly now: () => number;
  private readonly limits: SubscriptionLimits;

  constructor(private readonly opts: RegEventOptions) {
    this.now = opts.now ?? Date.now;
    this.limits = opts.limits ?? DEFAULT_SUBSCRIPTION_LIMITS;
  }

  /** Active subscriptions (for metrics). */
  get subscriptionCount(): number {
    return this.byKey.size;
  }

  /**
   * An out-of-dialog SUBSCRIBE for the identity in the Request-URI (RFC 6665 §4.2.1, TS 24.229
   * §5.4.2.1.1): 489 for another package, 423 below the minimum, 404 for an unknown identity,
   * 403 unless the subscriber is the identity's own set or a P-CSCF on its Path; else 200 and a
   * full-state NOTIFY (RFC 3680 §5.2). `Expires: 0` fetches: one NOTIFY, terminated.
   */
  async handleSubscribe(ctx: RequestContext): Promise<void> {
    ctx.defer();
    try {
      await this.subscribe(ctx);
    } catch (e) {
      this.failed(ctx, e);
    }
  }

  /** A refresh or an unsubscribe (`Expires: 0`) in an existing subscription's dialog (RFC 6665 §4.2.1.2); 481 if none. */
  async handleInDialog(ctx: RequestContext): Promise<void> {
    ctx.defer();
    try {
      await this.refresh(ctx);
    } catch (e) {
      this.failed(ctx, e);
    }
  }

  /**
   * Registrar listener: every subscription on the set gets the new state (TS 24.229
   * §5.4.2.1.2); a set left with no contact ends them (Subscription-State terminated).
   */
  readonly onRegistrationChange: RegistrationListener = (event) => {
    const subs = this.byAor.get(event.aor);
    if (!subs) return;
    const identities = event.implicitSet ? identitiesOf(event.implicitSet) : undefined;
    const now = this.now();
    const live = event.bindings.filter((b) => b.expiresAt > now);
    for (const sub of [...subs]) {
      if (identities) sub.identities = identities;
      sub.bindings = live;
      if (sub.pending) {
        sub.pendingCause = event.cause;
        continue;
      }
      this.notify(sub, event.cause, live.length ? undefined : 'noresource');
    }
  };

  /** Cancels every subscription timer and forgets the subscriptions (no NOTIFY is sent). */
  stop(): void {
    for (const sub of this.byKey.values()) this.opts.clock.clearTimeout(sub.timer);
    this.byKey.clear();
    this.byAor.clear();
  }

  // ---- SUBSCRIBE ---------------------------------------------------------------------------

  private async subscribe(ctx: RequestContext): Promise<void> {
    const req = ctx.request;
    const event = parseEvent(req.get('event'));
    if (event?.package !== 'reg') return ctx.respond(489, 'Bad Event', [['Allow-Events', 'reg']]);
    if (!acceptsReginfo(req)) return ctx.respond(406, 'Not Acceptable', [['Accept', REGINFO_TYPE]]);
    const expires = this.grant(req);
    if (expires === 'too-brief') return ctx.respond(423, 'Interval Too Brief', [['Min-Expires', String(this.limits.minExpires)]]);
    const contact = req.contacts[0];
    if (!contact) return ctx.respond(400, 'Bad Request - SUBSCRIBE without Contact');
    const remoteTag = req.from.tag;
    if (!remoteTag) return ctx.respond(400, 'Bad Request - From without tag');
    const target = await this.resolve(req);
    if (!target) return ctx.respond(404, 'Not Found');
    const aor = target.defaultImpu;
    if ((this.byAor.get(aor)?.size ?? 0) >= (this.opts.maxPerSet ?? 16)) return ctx.respond(403, 'Forbidden - too many subscriptions');

    const localTag = newTag();
    const local = req.to.clone();
    local.tag = localTag;
    const sub: Subscription = {
      key: dialogKey(req.callId, remoteTag, localTag),
      callId: req.callId,
      localTag,
      eventId: event.id,
      aor,
      identities: await this.identities(target.impu, aor),
      localUri: local.toString(),
      remoteUri: req.get('from')!,
      routeSet: req.getAll('record-route'),
      remoteTarget: contact.uri.toString(),
      remoteCseq: req.cseq.seq,
      localCseq: 0,
      version: 0,
      reported: new Map(),
      bindings: [],
      expiresAt: 0,
      timer: undefined,
      pending: true,
      pendingCause: undefined,
      active: expires > 0,
    };
    if (sub.active) this.index(sub);
    try {
      const record = await this.opts.registrations.get(aor);
      if (!sub.pendingCause) sub.bindings = (record?.bindings ?? []).filter((b) => b.expiresAt > this.now());
      if (!(await this.authorized(req, sub))) {
        this.unindex(sub);
        return ctx.respond(403, 'Forbidden - not allowed to watch this registration');
      }
    } catch (e) {
      this.unindex(sub);
      throw e;
    }
    this.accept(ctx, sub, expires);
  }

  /** 200 (RFC 6665 §4.2.1.1: Expires as granted, a Contact), then the first NOTIFY (§4.2.1.3). */
  private accept(ctx: RequestContext, sub: Subscription, expires: number): void {
    const ok = makeResponse(ctx.request, 200, 'OK', sub.localTag);
    // RFC 3261 §12.1.1: the subscriber's route set is the Record-Route of this 2xx.
    for (const rr of ctx.request.getAll('record-route')) ok.append('record-route', rr);
    ok.append('expires', String(expires));
    ok.append('contact', `<${this.opts.contact}>`);
    ctx.respondWith(ok);
    sub.pending = false;
    sub.pendingCause = undefined;
    if (expires === 0) return this.notify(sub, 'none', 'timeout');
    this.arm(sub, expires);
    this.notify(sub, 'none');
  }

  /** The identity the Request-URI names, trying its number forms (TS 24.229 §5.4.3.2). */
  private async resolve(req: SipRequest): Promise<{ impu: string; defaultImpu: string } | undefined> {
    const where = await locate(this.opts.hss, this.opts.home, req.uri);
    return where && { impu: where.impu, defaultImpu: where.defaultImpu };
  }

  private async identities(impu: string, aor: string): Promise<readonly SetIdentity[]> {
    const set = await this.opts.hss.implicitSetOf?.(impu);
    if (set) return identitiesOf(set);
    const known = this.byAor.get(aor)?.values().next().value;
    if (known) return known.identities;
    return impu === aor ? [{ impu, barred: false }] : [{ impu: aor, barred: false }, { impu, barred: false }];
  }

  /**
   * TS 24.229 §5.4.2.1.1: the asserted subscriber (P-Asserted-Identity, set by the edge) must be
   * an identity of the same implicit set, or a P-CSCF (a URI without user part) whose host is on
   * the Path of one of the set's registrations.
   */
  private async authorized(req: SipRequest, sub: Subscription): Promise<boolean> {
    if (!req.has('p-asserted-identity')) return false;
    for (const pai of req.nameAddrs('p-asserted-identity')) {
      const uri = pai.uri;
      if (uri.kind === 'sip' && uri.user === null) {
        const host = uri.host.toLowerCase();
        if (sub.bindings.some((b) => b.path.some((p) => pathHost(p) === host))) return true;
        continue;
      }
      const impu = impuOf(uri);
      if (!impu) continue;
      if (sub.identities.some((i) => i.impu === impu)) return true;
      const where = await this.opts.hss.locationInfo(impu);
      if (where?.defaultImpu === sub.aor) return true;
    }
    return false;
  }

  /** RFC 6665 §4.2.1.1: the duration granted, capped at the maximum; `too-brief` below the minimum. */
  private grant(req: SipRequest): number | 'too-brief' {
    const asked = req.expires ?? this.limits.defaultExpires;
    if (asked === 0) return 0;
    if (asked < this.limits.minExpires) return 'too-brief';
    return Math.min(asked, this.limits.maxExpires);
  }

  // ---- in-dialog SUBSCRIBE -----------------------------------------------------------------

  private async refresh(ctx: RequestContext): Promise<void> {
    const req = ctx.request;
    const sub = this.byKey.get(dialogKey(req.callId, req.from.tag ?? '', req.to.tag ?? ''));
    const event = parseEvent(req.get('event'));
    if (!sub || event?.package !== 'reg' || event.id !== sub.eventId) return ctx.respond(481);
    // RFC 3261 §12.2.2: a CSeq not above the last one is out of order.
    if (req.cseq.seq <= sub.remoteCseq) return ctx.respond(500, 'Server Internal Error - CSeq out of order');
    sub.remoteCseq = req.cseq.seq;
    const expires = this.grant(req);
    if (expires === 'too-brief') return ctx.respond(423, 'Interval Too Brief', [['Min-Expires', String(this.limits.minExpires)]]);
    const contact = req.contacts[0];
    if (contact) sub.remoteTarget = contact.uri.toString(); // SUBSCRIBE is a target refresh (RFC 6665 §4.1.2.1)
    const ok = makeResponse(req, 200, 'OK');
    ok.append('expires', String(expires));
    ok.append('contact', `<${this.opts.contact}>`);
    if (expires === 0) {
      ctx.respondWith(ok);
      return this.notify(sub, 'none', 'timeout');
    }
    this.arm(sub, expires);
    sub.pending = true;
    let cause: ReportCause | undefined;
    try {
      const record = await this.opts.registrations.get(sub.aor);
      if (!sub.pendingCause) sub.bindings = (record?.bindings ?? []).filter((b) => b.expiresAt > this.now());
    } finally {
      cause = sub.pendingCause;
      sub.pending = false;
      sub.pendingCause = undefined;
    }
    if (!sub.active) return ctx.respond(481);
    ctx.respondWith(ok);
    // RFC 6665 §4.2.1.2: a refresh is answered with a NOTIFY of the current state.
    this.notify(sub, cause ?? 'none', cause && !sub.bindings.length ? 'noresource' : undefined);
  }

  // ---- NOTIFY ------------------------------------------------------------------------------

  /**
   * Sends the set's state as a full document with the next version (RFC 3680 §5.3). With
   * `end`, the subscription ends with this NOTIFY (RFC 6665 §4.2.2: Subscription-State
   * terminated with a reason). A NOTIFY answered with an error, or not at all, ends it too
   * (RFC 6665 §4.2.2: the subscriber or a proxy on the way is in trouble).
   */
  private notify(sub: Subscription, cause: ReportCause, end?: Termination): void {
    const now = this.now();
    const report = reportContacts(sub.reported, sub.bindings, cause, now);
    sub.reported = report.next;
    const body = reginfoXml(fullReginfo(sub.version++, sub.identities, report, now));
    let state: string;
    if (end) {
      state = `terminated;reason=${end}`;
      this.unindex(sub);
    } else {
      state = `active;expires=${Math.max(1, Math.ceil((sub.expiresAt - this.opts.clock.now()) / 1000))}`;
    }
    const request = this.notifyRequest(sub, state, body);
    const onResponse = (res: SipResponse): void => {
      if (res.status >= 300 && sub.active) this.unindex(sub);
    };
    try {
      this.opts.send(request, onResponse);
    } catch (e) {
      this.opts.onError?.(e);
      if (sub.active) this.unindex(sub);
    }
  }

  /** The NOTIFY inside the subscription's dialog (RFC 3261 §12.2.1.1, RFC 6665 §4.2.2); the sender adds Via. */
  private notifyRequest(sub: Subscription, subscriptionState: string, body: string): SipRequest {
    let uri = sub.remoteTarget;
    let routes = sub.routeSet;
    const first = routes[0] !== undefined ? parseNameAddr(routes[0], 'route') : undefined;
    if (first && !(first.uri.kind === 'sip' && first.uri.params.has('lr'))) {
      // A strict router (RFC 3261 §12.2.1.1): it becomes the Request-URI, the target the last Route.
      uri = first.uri.toString();
      routes = [...routes.slice(1), `<${sub.remoteTarget}>`];
    }
    const headers: Array<[string, string]> = [['Max-Forwards', MAX_FORWARDS]];
    for (const r of routes) headers.push(['Route', r]);
    headers.push(
      ['From', sub.localUri],
      ['To', sub.remoteUri],
      ['Call-ID', sub.callId],
      ['CSeq', `${++sub.localCseq} NOTIFY`],
      ['Contact', `<${this.opts.contact}>`],
      ['Event', sub.eventId !== undefined ? `reg;id=${sub.eventId}` : 'reg'],
      ['Subscription-State', subscriptionState],
      ['Content-Type', REGINFO_TYPE],
    );
    return makeRequest('NOTIFY', uri, headers, body);
  }

  // ---- bookkeeping -------------------------------------------------------------------------

  /** (Re)starts the expiry timer: when it fires the subscriber gets terminated;reason=timeout. */
  private arm(sub: Subscription, seconds: number): void {
    this.opts.clock.clearTimeout(sub.timer);
    sub.expiresAt = this.opts.clock.now() + seconds * 1000;
    sub.timer = this.opts.clock.setTimeout(() => {
      sub.timer = undefined;
      if (sub.active) this.notify(sub, 'none', 'timeout');
    }, seconds * 1000);
  }

  private index(sub: Subscription): void {
    this.byKey.set(sub.key, sub);
    let set = this.byAor.get(sub.aor);
    if (!set) this.byAor.set(sub.aor, (set = new Set()));
    set.add(sub);
  }

  private unindex(sub: Subscription): void {
    sub.active = false;
    this.opts.clock.clearTimeout(sub.timer);
    sub.timer = undefined;
    this.byKey.delete(sub.key);
    const set = this.byAor.get(sub.aor);
    if (!set) return;
    set.delete(sub);
    if (set.size === 0) this.byAor.delete(sub.aor);
  }

  private failed(ctx: RequestContext, e: unknown): void {
    if (e instanceof SipParseError) {
      if (!ctx.settled) ctx.respond(400, `Bad Request - ${e.message}`);
      return;
    }
    this.opts.onError?.(e);
    if (!ctx.settled) ctx.respond(500, 'Server Internal Error');
  }
}

function dialogKey(callId: string, remoteTag: string, localTag: string): string {
  return `${callId}\n${remoteTag}\n${localTag}`;
}

function identitiesOf(set: ImplicitSet): SetIdentity[] {
  return set.members.map((m) => ({ impu: m.impu, barred: m.barred }));
}

/** `Event: reg;id=x` as package name (lower case) and id parameter (RFC 6665 §8.2.1). */
function parseEvent(value: string | undefined): { package: string; id: string | undefined } | undefined {
  if (!value) return undefined;
  const [name, ...params] = value.split(';');
  let id: string | undefined;
  for (const p of params) {
    const eq = p.indexOf('=');
    if (eq > 0 && p.slice(0, eq).trim().toLowerCase() === 'id') id = p.slice(eq + 1).trim();
  }
  return { package: name!.trim().toLowerCase(), id };
}

/** RFC 6665 §4.2.1.1 / RFC 3680 §4.4: reginfo must be acceptable when Accept is present. */
function acceptsReginfo(req: SipRequest): boolean {
  const values = req.getAll('accept').flatMap((v) => v.split(','));
  const types = values.map((v) => v.split(';')[0]!.trim().toLowerCase()).filter((t) => t.length > 0);
  if (!types.length) return true;
  return types.some((t) => t === REGINFO_TYPE || t === 'application/*' || t === '*/*');
}

function pathHost(path: string): string | undefined {
  try {
    const uri = parseNameAddr(path.startsWith('<') ? path : `<${path}>`, 'path').uri;
    return uri.kind === 'sip' ? uri.host.toLowerCase() : undefined;
  } catch {
    return undefined;
  }
}
