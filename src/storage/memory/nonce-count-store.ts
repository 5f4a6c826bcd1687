/**
 * In-process {@link NonceCountStore}, bounded. It mirrors MemoryNonceCountStore of
 * src/sip/auth/nonce-count.ts (the storage layer may not import the SIP stack's code) behind
 * the storage contract's Promise-returning signature.
 */
import { ownString } from '../kept-strings.js';
import { DEFAULT_NONCE_TTL_MS, isValidNonceCount, type NonceCountStore, type StorageClock } from '../nonce-count-store.js';

/** How often at most expired records are looked for. */
const DROP_EVERY_MS = 1_000;

/** Options of {@link MemoryNonceCountStore}. */
export interface MemoryNonceCountStoreOptions {
  readonly clock: StorageClock;
  /** Upper bound on remembered nonces; default 100 000. */
  readonly maxEntries?: number;
  /** Record lifetime when the caller gives no ttl; default {@link DEFAULT_NONCE_TTL_MS}. */
  readonly defaultTtlMs?: number;
}

/**
 * Records are kept in insertion order; expired ones are dropped from the head first, and when
 * still full the oldest are evicted. Eviction never opens a replay window: a nonce first seen
 * after a record expiring at time T was evicted, and itself expiring no later than T (so issued
 * no later), is refused, because it may be the evicted one. Its client gets a new challenge.
 */
export class MemoryNonceCountStore implements NonceCountStore {
  /** Highest nc per nonce. The value is a plain number, so a record is its key and a slot. */
  private readonly counts = new Map<string, number>();
  /**
   * The same nonces in insertion order with their expiry, oldest at `head`: the queue that
   * expiry and eviction take from. Kept as two arrays (the expiries unboxed doubles) rather than
   * an object per record, because every object a record adds is one more for each full garbage
   * collection to mark, and at 1,000 REGISTERs a second the store holds its 100,000 records.
   */
  private queued: string[] = [];
  private expiries: number[] = [];
  private head = 0;
  private readonly clock: StorageClock;
  private readonly maxEntries: number;
  private readonly defaultTtlMs: number;
  /** Latest expiry among records evicted for room; see the class comment. */
  private evictedHorizon = Number.NEGATIVE_INFINITY;
  /** When {@link dropExpired} next looks at the front. */
  private nextDrop = Number.NEGATIVE_INFINITY;

  constructor(options: MemoryNonceCountStoreOptions) {
    this.clock = options.clock;
    this.maxEntries = Math.max(1, Math.floor(options.maxEntries ?? 100_000));
    this.defaultTtlMs = options.defaultTtlMs ?? DEFAULT_NONCE_TTL_MS;
  }

  /** Number of nonces currently remembered. */
  get size(): number {
    return this.counts.size;
  }

  async checkAndAdvance(nonce: string, nc: number, ttlMs?: number): Promise<boolean> {
    if (!isValidNonceCount(nc)) return false;
    const now = this.clock.now();
    this.dropExpired(now);
    const seen = this.counts.get(nonce);
    if (seen !== undefined) {
      if (nc <= seen) return false;
      this.counts.set(nonce, nc);
      return true;
    }
    const expiresAt = now + (ttlMs ?? this.defaultTtlMs);
    if (expiresAt <= this.evictedHorizon) return false;
    // kept for the nonce's lifetime: a copy of its own, not a view into the request it came in
    const kept = ownString(nonce);
    this.counts.set(kept, nc);
    this.queued.push(kept);
    this.expiries.push(expiresAt);
    if (this.counts.size > this.maxEntries) this.evictOldest();
    return true;
  }

  /**
   * Drops the expired records from the front of the queue, at most once a second. A record
   * kept past its nonce's expiry is harmless: that nonce is refused as stale anyway.
   */
  private dropExpired(now: number): void {
    if (now < this.nextDrop) return;
    this.nextDrop = now + DROP_EVERY_MS;
    while (this.head < this.queued.length && this.expiries[this.head]! <= now) this.shift();
    this.compact();
  }

  /** Full: the oldest sixteenth goes at once. */
  private evictOldest(): void {
    for (let n = Math.max(1, this.maxEntries >> 4); n > 0 && this.head < this.queued.length; n--) {
      const expiresAt = this.shift();
      if (expiresAt > this.evictedHorizon) this.evictedHorizon = expiresAt;
    }
    this.compact();
  }

  /** Forgets the oldest record; returns its expiry. */
  private shift(): number {
    const expiresAt = this.expiries[this.head]!;
    this.counts.delete(this.queued[this.head]!);
    this.head++;
    return expiresAt;
  }

  /** Drops the taken prefix of the queue once it is most of it (amortised O(1) per record). */
  private compact(): void {
    if (this.head < 1024 || this.head * 2 < this.queued.length) return;
    this.queued = this.queued.slice(this.head);
    this.expiries = this.expiries.slice(this.head);
    this.head = 0;
  }
}
