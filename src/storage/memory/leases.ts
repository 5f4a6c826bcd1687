/**
 * Claims of `claimExpired` (registration and subscription stores) for the stores of one
 * process (memory, SQLite): kept in a map, not in the store, since only this process claims.
 */

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
   * Claims until `until` the first `limit` due entries that no claim holds at `now`, in the
   * order `due(count)` gives its first `count` entries. Ended claims are dropped first; at most
   * the remaining ones are skipped, so asking `due` for `limit` more than that finds `limit`
   * unclaimed entries whenever there are.
   */
  claimDue<T>(
    due: (count: number) => Iterable<T>,
    limit: number,
    now: number,
    until: number,
    keyOf: (entry: T) => string,
    versionOf: (entry: T) => number,
  ): T[] {
    for (const [key, lease] of this.leases) if (lease.until <= now) this.leases.delete(key);
    const out: T[] = [];
    for (const entry of due(Math.min(limit + this.leases.size, Number.MAX_SAFE_INTEGER))) {
      if (out.length === limit) break;
      const key = keyOf(entry);
      const version = versionOf(entry);
      const lease = this.leases.get(key);
      if (lease !== undefined && lease.version === version && lease.until > now) continue;
      this.leases.set(key, { version, until });
      out.push(entry);
    }
    return out;
  }
}
