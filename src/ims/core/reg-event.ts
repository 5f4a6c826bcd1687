/**
 * The S-CSCF's notifier for the reg event package (RFC 3680, RFC 6665, 3GPP TS 24.229
 * §5.4.2.1): a UE or its P-CSCF subscribes to a public identity's registration state and gets a
 * NOTIFY with a full reginfo document at once, on every change of the implicit set's bindings,
 * on each refresh, and a final one when the subscription ends.
 *
 * Subscriptions live in a {@link SubscriptionStore}; notifiers of several core nodes sharing one
 * store (issue 7) act as one notifier. Whichever node sees a registration change notifies every
 * subscription of the set, a refresh or an unsubscribe may reach any node, and any node's sweep
 * ends subscriptions nobody refreshed, even those of a node that died: each due subscription is
 * claimed by one sweeping node for a lease (SubscriptionStore.claimExpired), and one a node
 * died holding is left to another node once the lease is over. Each NOTIFY is preceded
 * by a compare-and-set write of its subscription (the next CSeq, the next reginfo version), and
 * is sent only if that write won, so no CSeq or version is ever sent twice; the final NOTIFY is
 * sent by whoever deleted the subscription. The set's bindings are read after the subscription
 * and before that write, so a NOTIFY with a higher version never carries older bindings.
 */
import {
  SipParseError,
  makeResponse,
  newTag,
  type Clock,
  type RequestContext,
  type SipRequest,
  type SipResponse,
  type TimerHandle,
} from '../../sip/index.js';
import type {
  Binding,
  ImplicitSet,
  RegistrationStore,
  SubscriptionData,
  SubscriptionKey,
  SubscriptionRecord,
  SubscriptionStore,
} from '../../storage/index.js';
// The default for callers that wire no store: one process, like the notifier before issue 7.
import { locate, type LocationInfo } from '../hss.js';
import { impuOf, type HomeDomain } from '../identity.js';
import { acceptsReginfo, nextNotify, parseEvent, pathHost, subscriptionKey, type Termination } from './reg-event-dialog.js';
import { REGINFO_TYPE, type ReportCause, type SetIdentity } from './reginfo.js';
import type { RegistrationListener } from './registrar.js';

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
  /** Where the subscriptions live. Nodes that share one store share the subscriptions. */
  readonly subscriptions: SubscriptionStore;
  /** Sends a request made here (ProxyCore.originate); exactly one final response reaches the callback. */
  readonly send: (request: SipRequest, onResponse: (response: SipResponse) => void) => void;
  /** The notifier's Contact URI, e.g. `sip:scscf.example.com`: in-dialog SUBSCRIBEs come back there. */
  readonly contact: string;
  /** Timers for subscription expiry. */
  readonly clock: Clock;
  /** Wall clock, ms: subscription and binding expiries, the same on every node. */
  readonly now?: () => number;
  readonly limits?: SubscriptionLimits;
  /** Most subscriptions per implicit set; more get 403. Default 16. */
  readonly maxPerSet?: number;
  /**
   * Once {@link RegEventNotifier.start} was called, the longest time between two sweeps for
   * expired subscriptions, which bounds how late one created by another node is ended; default
   * 1000 ms. Subscriptions this notifier wrote are ended on time without it.
   */
  readonly sweepIntervalMs?: number;
  /** Most subscriptions ended per sweep; default 1000. */
  readonly sweepBatch?: number;
  /**
   * How long a sweep's claim on the subscriptions it took keeps other nodes' sweeps off them;
   * default 10 000 ms. One this node failed to end (or died before ending) is ended by a sweep
   * after that.
   */
  readonly leaseMs?: number;
  readonly onError?: (e: unknown) => void;
}

type ChangeEvent = Parameters<RegistrationListener>[0];

/** A NOTIFY whose subscription write won: it must be sent. `final` ends the subscription. */
interface Outgoing {
  readonly key: SubscriptionKey;
  readonly request: SipRequest;
  readonly final: boolean;
}

/** Compare-and-set attempts on one subscription before giving up (a 500 for a refresh). */
const MAX_ATTEMPTS = 8;
const ignoreResponse = (): void => {};

export class RegEventNotifier {
  private readonly store: SubscriptionStore;
  private readonly now: () => number;
  private readonly limits: SubscriptionLimits;
  private readonly sweepIntervalMs: number;
  private readonly sweepBatch: number;
  private readonly leaseMs: number;
  private timer: TimerHandle | undefined;
  /** When {@link timer} fires; +Infinity with no timer. */
  private timerAt = Number.POSITIVE_INFINITY;
  private polling = false;
  private stopped = false;
  private sweeping = false;

  constructor(private readonly opts: RegEventOptions) {
    this.store = opts.subscriptions;
    this.now = opts.now ?? Date.now;
    this.limits = opts.limits ?? DEFAULT_SUBSCRIPTION_LIMITS;
    this.sweepIntervalMs = opts.sweepIntervalMs ?? 1000;
    this.sweepBatch = opts.sweepBatch ?? 1000;
    this.leaseMs = opts.leaseMs ?? 10_000;
  }

  /** Subscriptions in the store, of every node sharing it (for metrics). */
  get subscriptionCount(): Promise<number> {
    return this.store.count();
  }

  /**
   * Sweeps the store every {@link RegEventOptions.sweepIntervalMs} from now on, so that
   * subscriptions other nodes wrote are ended when they expire even if those nodes died.
   */
  start(): void {
    this.polling = true;
    this.stopped = false;
    this.wake(this.now() + this.sweepIntervalMs);
  }

  /** Stops sweeping. The subscriptions stay in the store: another node, or a later start, ends them. */
  stop(): void {
    this.polling = false;
    this.stopped = true;
    this.opts.clock.clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = Number.POSITIVE_INFINITY;
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
   * Registrar listener: every subscription on the set, whichever node made it, gets the new
   * state (TS 24.229 §5.4.2.1.2); a set left with no contact ends them (Subscription-State
   * terminated;reason=noresource). Resolves once the NOTIFYs are sent; never rejects.
   */
  readonly onRegistrationChange = async (event: ChangeEvent): Promise<void> => {
    try {
      const subs = await this.store.byAor(event.aor);
      if (!subs.length) return;
      const identities = event.implicitSet ? identitiesOf(event.implicitSet) : undefined;
      const bindings = await this.liveBindings(event.aor);
      await Promise.all(
        subs.map((first) =>
          this.retry(first.key, first, (sub, attempt) => {
            const current = identities ? { ...sub, identities } : sub;
            return this.attempt(current, event.cause, undefined, attempt === 0 ? bindings : undefined);
          }).then(
            (out) => out && this.dispatch(out),
            (e: unknown) => this.opts.onError?.(e),
          ),
        ),
      );
    } catch (e) {
      this.opts.onError?.(e);
    }
  };

  /**
   * Ends the subscriptions expired by now (RFC 6665 §4.2.2: NOTIFY terminated;reason=timeout).
   * Any node may sweep: each due subscription is claimed by one node for the lease
   * ({@link RegEventOptions.leaseMs}), so nodes sweeping at once split them, and one claimed by
   * a node that died is offered to the others once the lease is over. The claimer deletes it
   * with the version it was claimed at, and the compare-and-set still decides: exactly one
   * delete wins and sends the final NOTIFY, and one refreshed meanwhile is left alone. Resolves
   * with how many this call ended.
   */
  async sweep(): Promise<number> {
    return (await this.sweepOnce()).ended;
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
    const watching = await this.store.byAor(aor);
    if (watching.length >= (this.opts.maxPerSet ?? 16)) return ctx.respond(403, 'Forbidden - too many subscriptions');
    const identities = await this.identities(target.impu, aor, watching);
    const bindings = await this.liveBindings(aor);
    if (!(await this.authorized(req, aor, identities, bindings))) return ctx.respond(403, 'Forbidden - not allowed to watch this registration');

    const localTag = newTag();
    const local = req.to.clone();
    local.tag = localTag;
    const key = subscriptionKey(req.callId, localTag, event.id);
    const data: SubscriptionData = {
      aor,
      identities,
      localUri: local.toString(),
      remoteUri: req.get('from')!,
      remoteTag,
      routeSet: req.getAll('record-route'),
      remoteTarget: contact.uri.toString(),
      remoteCseq: req.cseq.seq,
      localCseq: 0,
      reginfoVersion: 0,
      reported: [],
      expiresAt: this.now() + expires * 1000,
    };
    if (expires === 0) {
      // A fetch (RFC 6665 §4.4.3): one NOTIFY of the state and no subscription to keep.
      this.accept(ctx, localTag, 0);
      const { request } = nextNotify({ key, version: 0, ...data }, bindings, 'none', 'timeout', this.now(), this.opts.contact);
      return this.dispatch({ key, request, final: true });
    }
    const created = await this.store.put(key, data, 0);
    if (!created.ok) throw new Error(`reg-event subscription ${req.callId} exists although its tag is new`);
    this.wake(data.expiresAt);
    this.accept(ctx, localTag, expires);
    // RFC 6665 §4.2.1.3: the first NOTIFY at once. The bindings are read again, after the
    // subscription became visible: a change the read misses finds the subscription and notifies.
    const out = await this.retry(key, { key, version: created.version, ...data }, (sub) => this.attempt(sub, 'none', undefined));
    if (out) this.dispatch(out);
  }

  /** 200 (RFC 6665 §4.2.1.1: Expires as granted, a Contact). */
  private accept(ctx: RequestContext, localTag: string, expires: number): void {
    const ok = makeResponse(ctx.request, 200, 'OK', localTag);
    // RFC 3261 §12.1.1: the subscriber's route set is the Record-Route of this 2xx.
    for (const rr of ctx.request.getAll('record-route')) ok.append('record-route', rr);
    ok.append('expires', String(expires));
    ok.append('contact', `<${this.opts.contact}>`);
    ctx.respondWith(ok);
  }

  /** The identity the Request-URI names, trying its number forms (TS 24.229 §5.4.3.2). */
  private async resolve(req: SipRequest): Promise<{ impu: string; defaultImpu: string } | undefined> {
    const where = await locate(this.opts.hss, this.opts.home, req.uri);
    return where && { impu: where.impu, defaultImpu: where.defaultImpu };
  }

  private async identities(impu: string, aor: string, watching: readonly SubscriptionRecord[]): Promise<readonly SetIdentity[]> {
    const set = await this.opts.hss.implicitSetOf?.(impu);
    if (set) return identitiesOf(set);
    const known = watching[0];
    if (known) return known.identities;
    return impu === aor ? [{ impu, barred: false }] : [{ impu: aor, barred: false }, { impu, barred: false }];
  }

  /**
   * TS 24.229 §5.4.2.1.1: the asserted subscriber (P-Asserted-Identity, set by the edge) must be
   * an identity of the same implicit set, or a P-CSCF (a URI without user part) whose host is on
   * the Path of one of the set's registrations.
   */
  private async authorized(req: SipRequest, aor: string, identities: readonly SetIdentity[], bindings: readonly Binding[]): Promise<boolean> {
    if (!req.has('p-asserted-identity')) return false;
    for (const pai of req.nameAddrs('p-asserted-identity')) {
      const uri = pai.uri;
      if (uri.kind === 'sip' && uri.user === null) {
        const host = uri.host.toLowerCase();
        if (bindings.some((b) => b.path.some((p) => pathHost(p) === host))) return true;
        continue;
      }
      const impu = impuOf(uri);
      if (!impu) continue;
      if (identities.some((i) => i.impu === impu)) return true;
      const where = await this.opts.hss.locationInfo(impu);
      if (where?.defaultImpu === aor) return true;
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

  /**
   * RFC 6665 §4.2.1.2: a refresh is answered 200 and a NOTIFY of the current state; with
   * `Expires: 0` the NOTIFY is the final one. Handled the same whichever node created the
   * subscription: all of its state is in the store.
   */
  private async refresh(ctx: RequestContext): Promise<void> {
    const req = ctx.request;
    const event = parseEvent(req.get('event'));
    const localTag = req.to.tag;
    if (event?.package !== 'reg' || !localTag) return ctx.respond(481);
    const key = subscriptionKey(req.callId, localTag, event.id);
    const expires = this.grant(req);
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const sub = await this.store.get(key);
      if (!sub || sub.remoteTag !== req.from.tag) return ctx.respond(481);
      // RFC 3261 §12.2.2: a CSeq not above the last one is out of order.
      if (req.cseq.seq <= sub.remoteCseq) return ctx.respond(500, 'Server Internal Error - CSeq out of order');
      if (expires === 'too-brief') return ctx.respond(423, 'Interval Too Brief', [['Min-Expires', String(this.limits.minExpires)]]);
      const contact = req.contacts[0];
      const refreshed: SubscriptionRecord = {
        ...sub,
        remoteCseq: req.cseq.seq,
        // SUBSCRIBE is a target refresh request (RFC 6665 §4.1.2.1).
        remoteTarget: contact ? contact.uri.toString() : sub.remoteTarget,
        expiresAt: expires === 0 ? sub.expiresAt : this.now() + expires * 1000,
      };
      const out = await this.attempt(refreshed, 'none', expires === 0 ? 'timeout' : undefined);
      if (!out) continue;
      const ok = makeResponse(req, 200, 'OK');
      ok.append('expires', String(expires));
      ok.append('contact', `<${this.opts.contact}>`);
      ctx.respondWith(ok);
      if (expires > 0) this.wake(refreshed.expiresAt);
      return this.dispatch(out);
    }
    throw contended(key);
  }

  // ---- NOTIFY ------------------------------------------------------------------------------

  /**
   * One compare-and-set attempt at `sub`'s next NOTIFY: reads the set's bindings (unless given,
   * read after `sub`), then writes `sub` as it is once that NOTIFY is sent, or deletes it when
   * the NOTIFY ends it: with `end`, or with `noresource` when a registration change left the set
   * without contacts (TS 24.229 §5.4.2.1.2). Resolves with the NOTIFY if the write won,
   * undefined if another writer changed the subscription since `sub` was read.
   */
  private async attempt(sub: SubscriptionRecord, cause: ReportCause, end: Termination | undefined, known?: readonly Binding[]): Promise<Outgoing | undefined> {
    const bindings = known ?? (await this.liveBindings(sub.aor));
    const ending = end ?? (cause !== 'none' && bindings.length === 0 ? 'noresource' : undefined);
    const { data, request } = nextNotify(sub, bindings, cause, ending, this.now(), this.opts.contact);
    const result = ending ? await this.store.delete(sub.key, sub.version) : await this.store.put(sub.key, data, sub.version);
    return result.ok ? { key: sub.key, request, final: ending !== undefined } : undefined;
  }

  /**
   * Runs `once` on the stored subscription until it resolves with a value, re-reading the
   * subscription after each conflict. Resolves undefined once the subscription is gone.
   */
  private async retry<T>(
    key: SubscriptionKey,
    first: SubscriptionRecord | undefined,
    once: (sub: SubscriptionRecord, attempt: number) => Promise<T | undefined>,
  ): Promise<T | undefined> {
    let sub = first;
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      sub ??= await this.store.get(key);
      if (!sub) return undefined;
      const done = await once(sub, attempt);
      if (done !== undefined) return done;
      sub = undefined;
    }
    throw contended(key);
  }

  /**
   * Sends a NOTIFY. One answered with an error, or not at all, ends the subscription (RFC 6665
   * §4.2.2: the subscriber or a proxy on the way is in trouble).
   */
  private dispatch(out: Outgoing): void {
    const onResponse = out.final
      ? ignoreResponse
      : (res: SipResponse): void => {
          if (res.status >= 300) this.drop(out.key);
        };
    try {
      this.opts.send(out.request, onResponse);
    } catch (e) {
      this.opts.onError?.(e);
      if (!out.final) this.drop(out.key);
    }
  }

  /** Deletes the subscription without a NOTIFY, whatever its version. */
  private drop(key: SubscriptionKey): void {
    this.retry(key, undefined, async (sub) => ((await this.store.delete(key, sub.version)).ok ? true : undefined)).catch((e: unknown) =>
      this.opts.onError?.(e),
    );
  }

  private async liveBindings(aor: string): Promise<readonly Binding[]> {
    const record = await this.opts.registrations.get(aor);
    const now = this.now();
    return (record?.bindings ?? []).filter((b) => b.expiresAt > now);
  }

  // ---- expiry ------------------------------------------------------------------------------

  private async sweepOnce(): Promise<{ found: number; ended: number }> {
    if (this.sweeping) return { found: 0, ended: 0 };
    this.sweeping = true;
    try {
      const expired = await this.store.claimExpired(this.now(), this.leaseMs, this.sweepBatch);
      // One attempt each: losing means the subscription was refreshed, notified or ended meanwhile
      // (a notified one is due again at once, for the next sweep).
      let ended = 0;
      await Promise.all(
        expired.map(async (sub) => {
          try {
            const out = await this.attempt(sub, 'none', 'timeout');
            if (!out) return;
            this.dispatch(out);
            ended++;
          } catch (e) {
            this.opts.onError?.(e);
          }
        }),
      );
      return { found: expired.length, ended };
    } finally {
      this.sweeping = false;
    }
  }

  /** Makes the sweep timer fire no later than `at` (wall clock). */
  private wake(at: number): void {
    if (this.stopped || at >= this.timerAt) return;
    this.opts.clock.clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = this.opts.clock.setTimeout(this.onTimer, Math.max(0, at - this.now()));
  }

  private readonly onTimer = (): void => {
    this.timer = undefined;
    this.timerAt = Number.POSITIVE_INFINITY;
    void this.sweepOnce().then(
      (swept) => this.rearm(swept.found === this.sweepBatch),
      (e: unknown) => {
        this.opts.onError?.(e);
        this.rearm(false);
      },
    );
  };

  /**
   * The next sweep: at once after a full batch; polling, within the interval; otherwise at the
   * store's next expiry. One still due after this sweep is claimed by another node, or failed
   * here and stays claimed by this one until the lease is over: it is looked at again after an
   * interval, not in a busy loop.
   */
  private rearm(more: boolean): void {
    const now = this.now();
    if (more) return this.wake(now);
    if (this.polling) return this.wake(now + this.sweepIntervalMs);
    this.store.nextExpiryAt().then(
      (next) => {
        if (next !== undefined) this.wake(next > now ? next : now + this.sweepIntervalMs);
      },
      (e: unknown) => {
        this.opts.onError?.(e);
        this.wake(now + this.sweepIntervalMs);
      },
    );
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

function contended(key: SubscriptionKey): Error {
  return new Error(`reg-event subscription ${key.callId}: ${MAX_ATTEMPTS} concurrent writes in a row won over this one`);
}

function identitiesOf(set: ImplicitSet): SetIdentity[] {
  return set.members.map((m) => ({ impu: m.impu, barred: m.barred }));
}
