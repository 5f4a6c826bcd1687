/**
 * The in-process {@link SubscriptionStore}: for tests and a single process whose subscriptions
 * need not outlive it. Versions come from one counter per store, so they never repeat.
 */
import { checkExpectedVersion, resultLimit, type CasResult } from '../common.js';
import { checkAor, checkNow, leaseEnd } from '../registration-records.js';
import { checkKey, checkSubscriptionData, encodeKey, toSubscriptionRecord } from '../subscription-records.js';
import type { SubscriptionData, SubscriptionKey, SubscriptionRecord, SubscriptionStore } from '../subscription-store.js';
import { BinaryHeap } from './binary-heap.js';
import { LocalLeases } from './leases.js';

interface Stored {
  readonly key: SubscriptionKey;
  readonly version: number;
  readonly data: SubscriptionData;
}

/**
 * One subscription in the expiry heap. Entries are never removed when a record changes; an
 * entry is live while its subscription still has the version it was pushed with, and stale
 * entries are dropped when they reach the top or by compaction.
 */
interface ExpiryEntry {
  readonly at: number;
  readonly id: string;
  readonly version: number;
}

/** Stale heap entries tolerated beyond the live subscriptions before a rebuild. */
const COMPACTION_SLACK = 1024;

export class MemorySubscriptionStore implements SubscriptionStore {
  /** Encoded key -> record. */
  private readonly records = new Map<string, Stored>();
  /** AoR -> encoded keys of the subscriptions watching it. */
  private readonly aors = new Map<string, Set<string>>();
  private readonly heap = new BinaryHeap<ExpiryEntry>((a, b) => a.at < b.at);
  /** The claims of `claimExpired`, by encoded key. */
  private readonly leases = new LocalLeases();
  private lastVersion = 0;

  async get(key: SubscriptionKey): Promise<SubscriptionRecord | undefined> {
    const stored = this.records.get(encodeKey(checkKey(key)));
    return stored && toSubscriptionRecord(stored.key, stored.version, stored.data);
  }

  async put(key: SubscriptionKey, data: SubscriptionData, expectedVersion: number): Promise<CasResult> {
    const checkedKey = checkKey(key);
    checkExpectedVersion(expectedVersion);
    const checked = checkSubscriptionData(data);
    const id = encodeKey(checkedKey);
    const current = this.records.get(id);
    const currentVersion = current?.version ?? 0;
    if (currentVersion !== expectedVersion || (current && current.data.aor !== checked.aor)) {
      return { ok: false, currentVersion };
    }
    const version = ++this.lastVersion;
    this.records.set(id, { key: checkedKey, version, data: checked });
    if (!current) {
      let keys = this.aors.get(checked.aor);
      if (!keys) this.aors.set(checked.aor, (keys = new Set()));
      keys.add(id);
    }
    this.heap.push({ at: checked.expiresAt, id, version });
    this.compactIfNeeded();
    return { ok: true, version };
  }

  async delete(key: SubscriptionKey, expectedVersion: number): Promise<CasResult> {
    const id = encodeKey(checkKey(key));
    checkExpectedVersion(expectedVersion);
    const current = this.records.get(id);
    const currentVersion = current?.version ?? 0;
    if (currentVersion !== expectedVersion) return { ok: false, currentVersion };
    if (current) {
      this.records.delete(id);
      const keys = this.aors.get(current.data.aor)!;
      keys.delete(id);
      if (keys.size === 0) this.aors.delete(current.data.aor);
      this.compactIfNeeded();
    }
    return { ok: true, version: 0 };
  }

  async byAor(aor: string): Promise<SubscriptionRecord[]> {
    const out: SubscriptionRecord[] = [];
    for (const id of this.aors.get(checkAor(aor)) ?? []) {
      const stored = this.records.get(id)!;
      out.push(toSubscriptionRecord(stored.key, stored.version, stored.data));
    }
    return out;
  }

  async expiredBefore(now: number, limit: number): Promise<SubscriptionRecord[]> {
    checkNow(now);
    return this.due(now, resultLimit(limit)).map((s) => toSubscriptionRecord(s.key, s.version, s.data));
  }

  async claimExpired(now: number, leaseMs: number, limit: number): Promise<SubscriptionRecord[]> {
    const until = leaseEnd(checkNow(now), leaseMs);
    resultLimit(limit);
    return this.leases
      .claimDue((count) => this.due(now, count), limit, now, until, (s) => encodeKey(s.key), (s) => s.version)
      .map((s) => toSubscriptionRecord(s.key, s.version, s.data));
  }

  async nextExpiryAt(): Promise<number | undefined> {
    this.dropStaleTop();
    return this.heap.peek()?.at;
  }

  async count(): Promise<number> {
    return this.records.size;
  }

  /** Up to `limit` live subscriptions with `expiresAt <= now`, earliest first. */
  private due(now: number, limit: number): Stored[] {
    this.dropStaleTop();
    const out: Stored[] = [];
    const heap = this.heap;
    // Best-first walk of the heap: each popped position's children are no earlier than it.
    const frontier = new BinaryHeap<number>((i, j) => heap.at(i)!.at < heap.at(j)!.at);
    if (heap.size > 0) frontier.push(0);
    while (out.length < limit) {
      const position = frontier.pop();
      if (position === undefined) break;
      const entry = heap.at(position)!;
      if (entry.at > now) break;
      const live = this.live(entry);
      if (live) out.push(live);
      if (2 * position + 1 < heap.size) frontier.push(2 * position + 1);
      if (2 * position + 2 < heap.size) frontier.push(2 * position + 2);
    }
    return out;
  }

  private live(entry: ExpiryEntry): Stored | undefined {
    const stored = this.records.get(entry.id);
    return stored?.version === entry.version ? stored : undefined;
  }

  private dropStaleTop(): void {
    for (let top = this.heap.peek(); top !== undefined && !this.live(top); top = this.heap.peek()) this.heap.pop();
  }

  private compactIfNeeded(): void {
    if (this.heap.size <= 2 * this.records.size + COMPACTION_SLACK) return;
    const entries: ExpiryEntry[] = [];
    for (const [id, { version, data }] of this.records) entries.push({ at: data.expiresAt, id, version });
    this.heap.rebuild(entries);
  }
}
