/**
 * In-process registration records with an expiry index and a flow index: the data structure
 * behind {@link MemoryRegistrationStore} and {@link CachedRegistrationStore}. It does no
 * compare-and-set itself; its owners do, and hand it records with their versions.
 *
 * The records are kept in a packed form of their own, because every full collection of the
 * garbage collector marks each object they are made of, and with 100,000 registered users that
 * marking is what the slowest event-loop turns were made of (docs/performance.md, 2026-11-27
 * night and late night). A binding is one object with every field in it: the received-from
 * address inline, a one-URI Path as its string, its two times as pairs of small integers
 * (kept-times.ts), and the next binding of its AoR linked from it. The expiry heap is a set of
 * parallel arrays, with no object per entry. Reads build {@link Binding} copies, as the
 * store's contract asks of them anyway.
 */
import type { Page } from '../common.js';
import { ownString } from '../kept-strings.js';
import { timeHigh, timeLow, timeOf } from '../kept-times.js';
import type { Binding, BindingRef, RegistrationCounts, RegistrationRecord } from '../registration-store.js';
import { BinaryHeap } from './binary-heap.js';

/** One stored binding (validated by its owner) and the next of its AoR. */
class StoredBinding {
  readonly contact: string;
  /** The Path: its one URI, the (pooled, frozen) list of several, or undefined when empty. */
  readonly path: string | readonly string[] | undefined;
  readonly expiresHigh: number;
  readonly expiresLow: number;
  readonly registeredHigh: number;
  readonly registeredLow: number;
  readonly callId: string;
  readonly cseq: number;
  readonly q: number | undefined;
  readonly instanceId: string | undefined;
  readonly regId: number | undefined;
  readonly flowId: string | undefined;
  readonly userAgent: string | undefined;
  readonly address: string | undefined;
  readonly port: number;
  readonly transport: string | undefined;
  next: StoredBinding | undefined = undefined;

  constructor(b: Binding) {
    this.contact = b.contact;
    this.path = b.path.length === 0 ? undefined : b.path.length === 1 ? b.path[0] : b.path;
    this.expiresHigh = timeHigh(b.expiresAt);
    this.expiresLow = timeLow(b.expiresAt, this.expiresHigh);
    this.registeredHigh = timeHigh(b.registeredAt);
    this.registeredLow = timeLow(b.registeredAt, this.registeredHigh);
    this.callId = b.callId;
    this.cseq = b.cseq;
    this.q = b.q;
    this.instanceId = b.instanceId;
    this.regId = b.regId;
    this.flowId = b.flowId;
    this.userAgent = b.userAgent;
    this.address = b.receivedFrom?.address;
    this.port = b.receivedFrom?.port ?? 0;
    this.transport = b.receivedFrom?.transport;
  }

  get expiresAt(): number {
    return timeOf(this.expiresHigh, this.expiresLow);
  }

  /** A fresh, caller-owned {@link Binding}. */
  toBinding(): Binding {
    const path = this.path;
    const out: { -readonly [K in keyof Binding]: Binding[K] } = {
      contact: this.contact,
      path: path === undefined ? [] : typeof path === 'string' ? [path] : path.slice(),
      expiresAt: this.expiresAt,
      callId: this.callId,
      cseq: this.cseq,
      registeredAt: timeOf(this.registeredHigh, this.registeredLow),
    };
    if (this.q !== undefined) out.q = this.q;
    if (this.instanceId !== undefined) out.instanceId = this.instanceId;
    if (this.regId !== undefined) out.regId = this.regId;
    if (this.flowId !== undefined) out.flowId = this.flowId;
    if (this.userAgent !== undefined) out.userAgent = this.userAgent;
    if (this.address !== undefined) out.receivedFrom = { address: this.address, port: this.port, transport: this.transport! };
    return out;
  }
}

/** A stored record: its version and its bindings, linked from the first. */
class StoredRecord {
  constructor(
    readonly aor: string,
    readonly version: number,
    readonly first: StoredBinding,
    readonly count: number,
  ) {}

  /** Caller-owned copies of the bindings, in order. */
  bindings(): Binding[] {
    const out: Binding[] = [];
    for (let b: StoredBinding | undefined = this.first; b; b = b.next) out.push(b.toBinding());
    return out;
  }

  at(position: number): StoredBinding | undefined {
    let b: StoredBinding | undefined = this.first;
    for (let i = 0; b && i < position; i++) b = b.next;
    return b;
  }
}

/**
 * The expiry heap: one entry per binding pushed, in parallel arrays (expiry, AoR, version,
 * position in the record). Entries are never removed when a record changes; an entry is live
 * while its AoR still has the version it was pushed with (versions never repeat for an AoR),
 * and stale entries are dropped when they reach the top or by compaction.
 */
class ExpiryHeap {
  private at = new Float64Array(1024);
  private readonly aors: string[] = [];
  private readonly versions: number[] = [];
  private readonly positions: number[] = [];
  size = 0;

  expiry(i: number): number {
    return this.at[i]!;
  }

  aor(i: number): string {
    return this.aors[i]!;
  }

  version(i: number): number {
    return this.versions[i]!;
  }

  position(i: number): number {
    return this.positions[i]!;
  }

  push(at: number, aor: string, version: number, position: number): void {
    this.reserve();
    let i = this.size++;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (this.at[parent]! <= at) break;
      this.move(parent, i);
      i = parent;
    }
    this.put(i, at, aor, version, position);
  }

  pop(): void {
    const last = --this.size;
    if (last > 0) this.siftDown(0, this.at[last]!, this.aors[last]!, this.versions[last]!, this.positions[last]!);
    this.truncate();
  }

  clear(): void {
    this.size = 0;
    this.truncate();
  }

  /** Restores the heap order over entries added by {@link append} in any order, in O(n). */
  heapify(): void {
    for (let i = (this.size >> 1) - 1; i >= 0; i--) this.siftDown(i, this.at[i]!, this.aors[i]!, this.versions[i]!, this.positions[i]!);
  }

  /** Appends an entry without ordering it: for a rebuild followed by {@link heapify}. */
  append(at: number, aor: string, version: number, position: number): void {
    this.reserve();
    this.put(this.size++, at, aor, version, position);
  }

  /** Room for one more entry. */
  private reserve(): void {
    if (this.size < this.at.length) return;
    const grown = new Float64Array(this.at.length * 2);
    grown.set(this.at);
    this.at = grown;
  }

  private siftDown(start: number, at: number, aor: string, version: number, position: number): void {
    const n = this.size;
    let i = start;
    for (;;) {
      let child = 2 * i + 1;
      if (child >= n) break;
      if (child + 1 < n && this.at[child + 1]! < this.at[child]!) child++;
      if (this.at[child]! >= at) break;
      this.move(child, i);
      i = child;
    }
    this.put(i, at, aor, version, position);
  }

  private move(from: number, to: number): void {
    this.put(to, this.at[from]!, this.aors[from]!, this.versions[from]!, this.positions[from]!);
  }

  private put(i: number, at: number, aor: string, version: number, position: number): void {
    this.at[i] = at;
    this.aors[i] = aor;
    this.versions[i] = version;
    this.positions[i] = position;
  }

  /** Lets go of the AoRs beyond the size, and of most of the room once the heap has shrunk. */
  private truncate(): void {
    this.aors.length = this.versions.length = this.positions.length = this.size;
    if (this.at.length > 1024 && this.size < this.at.length >> 2) this.at = this.at.slice(0, Math.max(1024, this.size * 2));
  }
}

/** Stale heap entries tolerated beyond the live bindings before a rebuild. */
const COMPACTION_SLACK = 1024;

export class RegistrationIndex {
  private readonly records = new Map<string, StoredRecord>();
  private readonly heap = new ExpiryHeap();
  /** flow id -> the AoR, or the set of AoRs, with at least one binding on that flow. */
  private readonly flows = new Map<string, string | Set<string>>();
  private bindingCount = 0;

  /** The version of `aor`, 0 when absent. */
  version(aor: string): number {
    return this.records.get(aor)?.version ?? 0;
  }

  /** A caller-owned copy of the record of `aor`. */
  snapshot(aor: string): RegistrationRecord | undefined {
    const stored = this.records.get(aor);
    return stored && { aor: stored.aor, version: stored.version, bindings: stored.bindings() };
  }

  /**
   * Stores `bindings` (validated, non-empty) for `aor` at `version`. A record already at
   * `version` is left alone: a version names one content (see common.ts).
   */
  set(key: string, bindings: readonly Binding[], version: number): void {
    if (this.records.get(key)?.version === version) return;
    this.unlink(key);
    // Kept in the record map, the expiry heap and the flow index: a string of its own, not a
    // slice of the REGISTER it came from.
    const aor = ownString(key);
    let first: StoredBinding | undefined;
    let last: StoredBinding | undefined;
    for (let position = 0; position < bindings.length; position++) {
      const stored = new StoredBinding(bindings[position]!);
      if (last) last.next = stored;
      else first = stored;
      last = stored;
      this.heap.push(stored.expiresAt, aor, version, position);
      if (stored.flowId !== undefined) this.linkFlow(stored.flowId, aor);
    }
    this.records.set(aor, new StoredRecord(aor, version, first!, bindings.length));
    this.bindingCount += bindings.length;
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
    const frontier = new BinaryHeap<number>((i, j) => heap.expiry(i) < heap.expiry(j));
    if (heap.size > 0) frontier.push(0);
    while (out.length < limit) {
      const entry = frontier.pop();
      if (entry === undefined || heap.expiry(entry) > now) break;
      const live = this.liveBinding(entry);
      if (live) out.push({ aor: heap.aor(entry), binding: live.toBinding(), version: heap.version(entry) });
      if (2 * entry + 1 < heap.size) frontier.push(2 * entry + 1);
      if (2 * entry + 2 < heap.size) frontier.push(2 * entry + 2);
    }
    return out;
  }

  /** The earliest expiry of a live binding. */
  nextExpiryAt(): number | undefined {
    this.dropStaleTop();
    return this.heap.size > 0 ? this.heap.expiry(0) : undefined;
  }

  /** Every binding on `flowId`, with its AoR and version. */
  ofFlow(flowId: string): BindingRef[] {
    const out: BindingRef[] = [];
    const aors = this.flows.get(flowId);
    if (aors === undefined) return out;
    for (const aor of typeof aors === 'string' ? [aors] : aors) {
      const stored = this.records.get(aor)!;
      for (let b: StoredBinding | undefined = stored.first; b; b = b.next) {
        if (b.flowId === flowId) out.push({ aor, binding: b.toBinding(), version: stored.version });
      }
    }
    return out;
  }

  /** Records in AoR order after `after`. O(n log n) per page: meant for the CLI and tests. */
  page(after: string | undefined, limit: number): Page<RegistrationRecord> {
    const keys: string[] = [];
    for (const aor of this.records.keys()) if (after === undefined || aor > after) keys.push(aor);
    keys.sort();
    const items = keys.slice(0, limit).map((aor) => this.snapshot(aor)!);
    return keys.length > limit ? { items, next: keys[limit - 1]! } : { items };
  }

  /** Entries in the expiry heap, stale ones included: at most twice the bindings plus a constant. */
  get expiryEntries(): number {
    return this.heap.size;
  }

  counts(): RegistrationCounts {
    return { aors: this.records.size, bindings: this.bindingCount };
  }

  private linkFlow(flowId: string, aor: string): void {
    const aors = this.flows.get(flowId);
    if (aors === undefined) this.flows.set(flowId, aor);
    else if (typeof aors !== 'string') aors.add(aor);
    else if (aors !== aor) this.flows.set(flowId, new Set([aors, aor]));
  }

  /** Drops `aor` from the flow index and the binding count; true when it had a record. */
  private unlink(aor: string): boolean {
    const old = this.records.get(aor);
    if (!old) return false;
    this.bindingCount -= old.count;
    for (let b: StoredBinding | undefined = old.first; b; b = b.next) {
      if (b.flowId === undefined) continue;
      const aors = this.flows.get(b.flowId);
      if (aors === undefined) continue;
      if (typeof aors === 'string') {
        if (aors === aor) this.flows.delete(b.flowId);
      } else {
        aors.delete(aor);
        if (aors.size === 1) this.flows.set(b.flowId, aors.values().next().value!);
      }
    }
    return true;
  }

  /** The stored binding heap entry `i` stands for, if it is still live. */
  private liveBinding(i: number): StoredBinding | undefined {
    const stored = this.records.get(this.heap.aor(i));
    return stored !== undefined && stored.version === this.heap.version(i) ? stored.at(this.heap.position(i)) : undefined;
  }

  private dropStaleTop(): void {
    while (this.heap.size > 0 && !this.liveBinding(0)) this.heap.pop();
  }

  private compactIfNeeded(): void {
    if (this.heap.size <= 2 * this.bindingCount + COMPACTION_SLACK) return;
    const heap = this.heap;
    heap.clear();
    for (const stored of this.records.values()) {
      let position = 0;
      for (let b: StoredBinding | undefined = stored.first; b; b = b.next) heap.append(b.expiresAt, stored.aor, stored.version, position++);
    }
    heap.heapify();
  }
}
