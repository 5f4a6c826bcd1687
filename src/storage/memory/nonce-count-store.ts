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

interface Entry {
  nc: number;
  readonly expiresAt: number;
}

/**
 * Records are kept in insertion order; expired ones are dropped from the head first, and when
 * still full the oldest are evicted. Eviction never opens a replay window: a nonce first seen
 * after a record expiring at time T was evicted, and itself expiring no later than T (so issued
 * no later), is refused, because it may be the evicted one. Its client gets a new challenge.
 */
export class MemoryNonceCountStore implements NonceCountStore {
  private readonly entries = new Map<string, Entry>();
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
    return this.entries.size;
  }

  async checkAndAdvance(nonce: string, nc: number, ttlMs?: number): Promise<boolean> {
    if (!isValidNonceCount(nc)) return false;
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
    // kept for the nonce's lifetime: a copy of its own, not a view into the request it came in
    this.entries.set(ownString(nonce), { nc, expiresAt });
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
