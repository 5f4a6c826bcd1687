/**
 * Replay protection by nonce-count (RFC 7616 §3.4 and §5.5, RFC 3261 §22.4): a client
 * increments nc on every request that reuses a nonce; the server refuses an nc it has
 * already seen for that nonce.
 */
import type { Clock } from '../clock.js';

/** How often at most expired records are looked for. */
const DROP_EVERY_MS = 1_000;

/**
 * Highest nonce-count seen per nonce. A shared implementation (e.g. Redis) lets every
 * node of a cluster refuse a replay another node already accepted.
 */
export interface NonceCountStore {
  /**
   * Returns true, and records `nc`, when `nc` is strictly greater than the highest count
   * seen for `nonce` (0 for a nonce never seen, so the first accepted nc is at least 1).
   * Returns false otherwise, leaving the record unchanged. Must be atomic per nonce.
   *
   * @param ttlMs how much longer the nonce itself stays valid; the record may be dropped
   *   after that, since the nonce is then refused as stale anyway.
   */
  checkAndAdvance(nonce: string, nc: number, ttlMs?: number): boolean | Promise<boolean>;
}

/** Options of {@link MemoryNonceCountStore}. */
export interface MemoryNonceCountStoreOptions {
  readonly clock: Pick<Clock, 'now'>;
  /** Upper bound on remembered nonces; default 100 000. */
  readonly maxEntries?: number;
  /** Record lifetime when the caller gives no ttl; default 300 000 ms (the nonce lifetime). */
  readonly defaultTtlMs?: number;
}

/**
 * In-process {@link NonceCountStore} bounded to `maxEntries`. Expired records are dropped
 * first; when still full, the oldest records are evicted. Eviction never opens a replay
 * window: a nonce first seen after a record expiring at time T was evicted, and itself
 * expiring no later than T (so issued no later), is refused, because it may be the
 * evicted one. Such a client simply gets a new challenge.
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
  private readonly clock: Pick<Clock, 'now'>;
  private readonly maxEntries: number;
  private readonly defaultTtlMs: number;
  /** Latest expiry among records evicted for room; see the class comment. */
  private evictedHorizon = Number.NEGATIVE_INFINITY;
  /** When {@link dropExpired} next looks at the front. */
  private nextDrop = Number.NEGATIVE_INFINITY;

  constructor(options: MemoryNonceCountStoreOptions) {
    this.clock = options.clock;
    this.maxEntries = Math.max(1, Math.floor(options.maxEntries ?? 100_000));
    this.defaultTtlMs = options.defaultTtlMs ?? 300_000;
  }

  /** Number of nonces currently remembered. */
  get size(): number {
    return this.counts.size;
  }

  checkAndAdvance(nonce: string, nc: number, ttlMs?: number): boolean {
    if (!Number.isSafeInteger(nc) || nc < 1) return false;
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
    this.counts.set(nonce, nc);
    this.queued.push(nonce);
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
