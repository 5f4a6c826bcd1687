/**
 * The reg-event notifier's subscriptions (RFC 3680, RFC 6665, 3GPP TS 24.229 §5.4.2.1): per
 * subscription, the dialog state a NOTIFY is built from (RFC 3261 §12) and the counters that
 * must advance by one per NOTIFY whichever node sends it.
 *
 * Shared by every core node (issue 7), so that any node can send the NOTIFY for a registration
 * change it saw, answer a refresh of a subscription another node created, and end a
 * subscription that expired after its creator died. Each NOTIFY is a compare-and-set write of
 * the subscription (next CSeq, next reginfo version) before it is sent, so two nodes never send
 * the same CSeq or the same version; the final NOTIFY is sent by whoever deletes the record.
 *
 * Adapters: memory (tests, one process), SQLite (the all-in-one's data folder) and Redis (a
 * cluster). There is no PostgreSQL adapter on purpose: subscriptions are volatile signalling
 * state, written on every NOTIFY and gone within hours, like the registrar's bindings, which
 * live in Redis or the data folder too; a subscriber whose subscription is lost subscribes again
 * (RFC 6665 §4.1.2.4: its refresh is answered 481).
 */
import type { CasResult } from './common.js';
import type { Binding } from './registration-store.js';

/**
 * What names a subscription: its dialog's Call-ID and the notifier's tag (RFC 3261 §12.1.1),
 * and the `id` parameter of its Event header (RFC 6665 §4.1.2.3, §8.2.1). The notifier's tag
 * is fresh for every subscription, so a key is never used twice.
 */
export interface SubscriptionKey {
  readonly callId: string;
  /** The notifier's (To) tag of the dialog. */
  readonly localTag: string;
  /** The Event header's `id`; absent when the SUBSCRIBE had none. */
  readonly eventId?: string;
}

/** One identity of the watched implicit set, as the reginfo document lists it. */
export interface WatchedIdentity {
  readonly impu: string;
  readonly barred: boolean;
}

/** A binding as last reported to the subscriber, with the contact event it was reported with. */
export interface ReportedBinding {
  readonly binding: Binding;
  /** An RFC 3680 §5.1.2 contact event name: lower-case letters, e.g. `registered`. */
  readonly event: string;
}

/** What a writer stores for a subscription. Times are ms since the Unix epoch (wall clock). */
export interface SubscriptionData {
  /**
   * The watched implicit set's default identity: the key of its bindings and of registrar
   * changes. Fixed for the subscription's life.
   */
  readonly aor: string;
  /** The set's identities the document lists (TS 24.229 §5.4.2.1.2). */
  readonly identities: readonly WatchedIdentity[];
  /** The SUBSCRIBE's To with the notifier's tag: the NOTIFY's From (RFC 3261 §12.1.1). */
  readonly localUri: string;
  /** The SUBSCRIBE's From: the NOTIFY's To. */
  readonly remoteUri: string;
  /** The subscriber's (From) tag, which an in-dialog SUBSCRIBE must carry. */
  readonly remoteTag: string;
  /** The Record-Route of the SUBSCRIBE, first to last (RFC 3261 §12.1.1). */
  readonly routeSet: readonly string[];
  /** The subscriber's Contact URI (RFC 6665 §4.1.2.1: a SUBSCRIBE refreshes it). */
  readonly remoteTarget: string;
  /** CSeq of the last SUBSCRIBE received; a refresh must be above it (RFC 3261 §12.2.2). */
  readonly remoteCseq: number;
  /** CSeq of the last NOTIFY sent, 0 before the first (RFC 3261 §12.2.1.1). */
  readonly localCseq: number;
  /** The version the next reginfo document carries: 0 for the first, then one more each (RFC 3680 §5.3). */
  readonly reginfoVersion: number;
  /** The contacts the last document reported, so the next can say what changed (RFC 3680 §5.1.2). */
  readonly reported: readonly ReportedBinding[];
  /** When the subscription expires: it has once `now >= expiresAt` (RFC 6665 §4.2.2). */
  readonly expiresAt: number;
}

/** A stored subscription and the version a writer passes back to change it. */
export interface SubscriptionRecord extends SubscriptionData {
  readonly key: SubscriptionKey;
  /** Positive; never repeats for a key (see common.ts). */
  readonly version: number;
}

/**
 * Reg-event subscriptions with compare-and-set writes, an index by watched set and an expiry
 * index.
 *
 * Rules every adapter keeps (checked by test/storage/subscription-store.contract.ts):
 * - Values in and out are copies; nothing depends on object identity.
 * - Writes are compare-and-set on the record's version.
 * - The store never reads a clock: expiry queries take `now` from the caller, and `get` and
 *   `byAor` return expired subscriptions too until a writer removes them.
 */
export interface SubscriptionStore {
  /** The subscription named `key`, or undefined. */
  get(key: SubscriptionKey): Promise<SubscriptionRecord | undefined>;

  /**
   * Replaces (creates, with `expectedVersion` 0) the subscription `key` if its version is still
   * `expectedVersion`. Returns the new version, or a conflict and nothing written. A put naming
   * another `aor` than the stored record's is a conflict too (a subscription never changes set).
   * Rejects with TW_ERR_STORAGE_INVALID for malformed data.
   */
  put(key: SubscriptionKey, data: SubscriptionData, expectedVersion: number): Promise<CasResult>;

  /** Removes the subscription `key` if its version is still `expectedVersion`. */
  delete(key: SubscriptionKey, expectedVersion: number): Promise<CasResult>;

  /** Every subscription watching the set whose default identity is `aor`, in no set order. */
  byAor(aor: string): Promise<SubscriptionRecord[]>;

  /**
   * Up to `limit` subscriptions whose expiry has passed (`expiresAt <= now`), earliest first
   * (the order among equal expiries is unspecified). A sweeper ends them (RFC 6665 §4.2.2:
   * NOTIFY with `terminated;reason=timeout`) by deleting each with the version returned here:
   * of several sweepers, exactly one wins and sends the final NOTIFY.
   */
  expiredBefore(now: number, limit: number): Promise<SubscriptionRecord[]>;

  /**
   * Like {@link expiredBefore}, but hands each due subscription to one sweeper only: one
   * returned here is not returned again by any `claimExpired` with a `now` earlier than this
   * `now + leaseMs`, from any node (a shared adapter's instances on the same data share the
   * claims; a single-process adapter keeps them in its one instance). The claimer ends it
   * (deletes it with the returned version) within the lease; if it did not (it died, or lost the
   * delete to a NOTIFY's write), the subscription is offered again once the lease is over, or at
   * once after a write of the subscription: any write (a refresh, a NOTIFY, a delete) ends its
   * claim, so a refreshed one is due at its new expiry and a deleted one is gone. Up to `limit`,
   * earliest first as far as the adapter knows (one offered again after a lease may rank by its
   * lease end). The delete's compare-and-set still decides who sends the final NOTIFY.
   *
   * An adapter may keep a claimed subscription in its expiry index at the lease end (Redis
   * does), so until then `expiredBefore` may leave it out and `nextExpiryAt` may report the
   * lease end. `leaseMs` is a positive integer.
   */
  claimExpired(now: number, leaseMs: number, limit: number): Promise<SubscriptionRecord[]>;

  /** The earliest `expiresAt` of any stored subscription, so a sweeper can sleep until then. */
  nextExpiryAt(): Promise<number | undefined>;

  /** How many subscriptions are stored, expired ones not yet removed included. */
  count(): Promise<number>;
}
