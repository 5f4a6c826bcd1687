/**
 * In-process registration records with an expiry index and a flow index: the data structure
 * behind {@link MemoryRegistrationStore} and {@link CachedRegistrationStore}. It does no
 * compare-and-set itself; its owners do, and hand it records with their versions.
 */
import type { Page } from '../common.js';
import { ownString } from '../kept-strings.js';
import { copyBinding } from '../registration-records.js';
import type { Binding, BindingRef, RegistrationCounts, RegistrationRecord } from '../registration-store.js';
import { BinaryHeap } from './binary-heap.js';

/** A stored record: validated, frozen bindings and their version. */
export interface StoredRegistration {
  readonly version: number;
  readonly bindings: readonly Binding[];
}

/**
 * One binding in the expiry heap. Entries are never removed when a record changes; an entry
 * is live while its AoR still has the version it was pushed with (versions never repeat for
 * an AoR), and stale entries are dropped when they reach the top or by compaction.
 */
interface ExpiryEntry {
  readonly at: number;
  readonly aor: string;
  readonly version: number;
  readonly index: number;
}

/** Stale heap entries tolerated beyond the live bindings before a rebuild. */
const COMPACTION_SLACK = 1024;

export class RegistrationIndex {
  private readonly records = new Map<string, StoredRegistration>();
  private readonly heap = new BinaryHeap<ExpiryEntry>((a, b) => a.at < b.at);
  /** flow id -> AoRs with at least one binding on that flow. */
  private readonly flows = new Map<string, Set<string>>();
  private bindingCount = 0;

  /** The stored record of `aor` (frozen; never hand it out, copy it). */
  record(aor: string): StoredRegistration | undefined {
    return this.records.get(aor);
  }

  /** The version of `aor`, 0 when absent. */
  version(aor: string): number {
    return this.records.get(aor)?.version ?? 0;
  }

  /** A caller-owned copy of the record of `aor`. */
  snapshot(aor: string): RegistrationRecord | undefined {
    const stored = this.records.get(aor);
    return stored && toRecord(aor, stored);
  }

  /**
   * Stores `bindings` (validated and frozen, non-empty) for `aor` at `version`. A record already
   * at `version` is left alone: a version names one content (see common.ts).
   */
  set(key: string, bindings: readonly Binding[], version: number): void {
    if (this.records.get(key)?.version === version) return;
    this.unlink(key);
    // Kept in the record map, the expiry heap and the flow sets: a string of its own, not a
    // slice of the REGISTER it came from.
    const aor = ownString(key);
    this.records.set(aor, { version, bindings });
    this.bindingCount += bindings.length;
    for (let index = 0; index < bindings.length; index++) {
      const binding = bindings[index]!;
      this.heap.push({ at: binding.expiresAt, aor, version, index });
      if (binding.flowId !== undefined) {
        let aors = this.flows.get(binding.flowId);
        if (!aors) this.flows.set(binding.flowId, (aors = new Set()));
        aors.add(aor);
      }
    }
    this.compactIfNeeded();
  }

  /** Removes the record of `aor`, if any. */
  remove(aor: string): void {
    if (this.unlink(aor)) this.records.delete(aor);
    this.compactIfNeeded();
  }

  /** Up to `limit` live bindings with `expiresAt <= now`, earliest first. */
  expired(now: number, limit: number): BindingRef[] {
    this.dropStaleTop();
    const out: BindingRef[] = [];
    const heap = this.heap;
    // Best-first walk of the heap: each popped position's children are no earlier than it.
    const frontier = new BinaryHeap<number>((i, j) => heap.at(i)!.at < heap.at(j)!.at);
    if (heap.size > 0) frontier.push(0);
    while (out.length < limit) {
      const position = frontier.pop();
      if (position === undefined) break;
      const entry = heap.at(position)!;
      if (entry.at > now) break;
      const live = this.liveBinding(entry);
      if (live) out.push({ aor: entry.aor, binding: copyBinding(live), version: entry.version });
      if (2 * position + 1 < heap.size) frontier.push(2 * position + 1);
      if (2 * position + 2 < heap.size) frontier.push(2 * position + 2);
    }
    return out;
  }

  /** The earliest expiry of a live binding. */
  nextExpiryAt(): number | undefined {
    this.dropStaleTop();
    return this.heap.peek()?.at;
  }

  /** Every binding on `flowId`, with its AoR and version. */
  ofFlow(flowId: string): BindingRef[] {
    const out: BindingRef[] = [];
    for (const aor of this.flows.get(flowId) ?? []) {
      const stored = this.records.get(aor)!;
      for (const binding of stored.bindings) {
        if (binding.flowId === flowId) out.push({ aor, binding: copyBinding(binding), version: stored.version });
      }
    }
    return out;
  }

  /** Records in AoR order after `after`. O(n log n) per page: meant for the CLI and tests. */
  page(after: string | undefined, limit: number): Page<RegistrationRecord> {
    const keys: string[] = [];
    for (const aor of this.records.keys()) if (after === undefined || aor > after) keys.push(aor);
    keys.sort();
    const items = keys.slice(0, limit).map((aor) => toRecord(aor, this.records.get(aor)!));
    return keys.length > limit ? { items, next: keys[limit - 1]! } : { items };
  }

  /** Entries in the expiry heap, stale ones included: at most twice the bindings plus a constant. */
  get expiryEntries(): number {
    return this.heap.size;
  }

  counts(): RegistrationCounts {
    return { aors: this.records.size, bindings: this.bindingCount };
  }

  /** Drops `aor` from the flow index and the binding count; true when it had a record. */
  private unlink(aor: string): boolean {
    const old = this.records.get(aor);
    if (!old) return false;
    this.bindingCount -= old.bindings.length;
    for (const binding of old.bindings) {
      if (binding.flowId === undefined) continue;
      const aors = this.flows.get(binding.flowId);
      if (!aors) continue;
      aors.delete(aor);
      if (aors.size === 0) this.flows.delete(binding.flowId);
    }
    return true;
  }

  private liveBinding(entry: ExpiryEntry): Binding | undefined {
    const stored = this.records.get(entry.aor);
    return stored !== undefined && stored.version === entry.version ? stored.bindings[entry.index] : undefined;
  }

  private dropStaleTop(): void {
    for (let top = this.heap.peek(); top !== undefined && !this.liveBinding(top); top = this.heap.peek()) {
      this.heap.pop();
    }
  }

  private compactIfNeeded(): void {
    if (this.heap.size <= 2 * this.bindingCount + COMPACTION_SLACK) return;
    const entries: ExpiryEntry[] = [];
    for (const [aor, { version, bindings }] of this.records) {
      for (let index = 0; index < bindings.length; index++) {
        entries.push({ at: bindings[index]!.expiresAt, aor, version, index });
      }
    }
    this.heap.rebuild(entries);
  }
}

function toRecord(aor: string, stored: StoredRegistration): RegistrationRecord {
  return { aor, version: stored.version, bindings: stored.bindings.map(copyBinding) };
}
