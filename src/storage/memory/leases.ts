/**
 * Claims of `claimExpired` (registration and subscription stores) for the stores of one
 * process (memory, SQLite): kept in a map, not in the store, since only this process claims.
 */
import { checkInteger } from '../registration-records.js';

/** Validates a claim's lease and returns when it ends, for `now` already validated. */
export function leaseEnd(now: number, leaseMs: number): number {
  return now + checkInteger(leaseMs, 'leaseMs', 1, Number.MAX_SAFE_INTEGER - Math.max(now, 0));
}

interface Lease {
  /** The version of the entry's record when it was claimed: a write of the record ends the claim. */
  readonly version: number;
  readonly until: number;
}

/**
 * The claims of a single-process store's `claimExpired`: which due entries were handed out,
 * at which version of their record, and until when. A claim holds while `now` is before its
 * end and its record still has that version (versions never repeat, common.ts), so a refresh
 * or a removal ends it without this map hearing of the write. Ended claims are dropped at the
 * next claim, so the map holds at most the entries claimed within the last lease.
 */
export class LocalLeases {
  /** Entry key (adapter-chosen, unique per entry of a record) -> its claim. */
  private readonly leases = new Map<string, Lease>();

  /**
   * Drops the claims over by `now` and returns how many are left: at most that many due
   * entries are skipped, so a caller reading `limit` more due entries than that finds `limit`
   * unclaimed ones whenever there are.
   */
  held(now: number): number {
    for (const [key, lease] of this.leases) if (lease.until <= now) this.leases.delete(key);
    return this.leases.size;
  }

  /** Claims entry `key` of a record at `version` until `until`; false when a claim on it holds at `now`. */
  claim(key: string, version: number, now: number, until: number): boolean {
    const lease = this.leases.get(key);
    if (lease !== undefined && lease.version === version && lease.until > now) return false;
    this.leases.set(key, { version, until });
    return true;
  }
}
