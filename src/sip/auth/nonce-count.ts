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

interface Entry {
  nc: number;
  readonly expiresAt: number;
}

/**
 * In-process {@link NonceCountStore} bounded to `maxEntries`. Expired records are dropped
 * first; when still full, the oldest records are evicted. Eviction never opens a replay
 * window: a nonce first seen after a record expiring at time T was evicted, and itself
 * expiring no later than T (so issued no later), is refused, because it may be the
 * evicted one. Such a client simply gets a new challenge.
 */
export class MemoryNonceCountStore implements NonceCountStore {
  private readonly entries = new Map<string, Entry>();
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
    return this.entries.size;
  }

  checkAndAdvance(nonce: string, nc: number, ttlMs?: number): boolean {
    if (!Number.isSafeInteger(nc) || nc < 1) return false;
    const now = this.clock.now();
    this.dropExpired(now);
    const entry = this.entries.get(nonce);
    if (entry) {
      if (nc <= entry.nc) return false;
      entry.nc = nc;
      return true;
    }
    const expiresAt = now + (ttlMs ?? this.defaultTtlMs);
    if (expiresAt <= this.evictedHorizon) return false;
    this.entries.set(nonce, { nc, expiresAt });
    if (this.entries.size > this.maxEntries) this.evictOldest();
    return true;
  }

  /**
   * Drops the expired records from the front of the insertion order, at most once a second. A
   * Map's deleted entries stay in its table as holes until V8 rebuilds it, and an iteration from
   * the front steps over each of them, so doing this on every request cost up to the table's
   * capacity each time. A record kept past its nonce's expiry is harmless: that nonce is stale.
   */
  private dropExpired(now: number): void {
    if (now < this.nextDrop) return;
    this.nextDrop = now + DROP_EVERY_MS;
    for (const [nonce, entry] of this.entries) {
      if (entry.expiresAt > now) return;
      this.entries.delete(nonce);
    }
  }

  /** Full: the oldest sixteenth goes at once, so one scan of the front serves many new nonces. */
  private evictOldest(): void {
    let n = Math.max(1, this.maxEntries >> 4);
    for (const [nonce, entry] of this.entries) {
      this.entries.delete(nonce);
      if (entry.expiresAt > this.evictedHorizon) this.evictedHorizon = entry.expiresAt;
      if (--n === 0) return;
    }
  }
}
