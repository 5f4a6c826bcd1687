/**
 * The clock every timer in the SIP stack runs on. Production code uses {@link systemClock};
 * tests pass a fake clock (test/harness/fake-clock.ts) and advance time instead of sleeping.
 */
export interface TimerHandle {
  /** Opaque; only ever handed back to {@link Clock.clearTimeout}. */
  readonly __timer: unknown;
}

export interface Clock {
  /** Milliseconds since an arbitrary epoch; monotonic. */
  now(): number;
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle | undefined): void;
}

/** The timers due at one time, in the order they were set; a cleared one leaves a hole. */
class Slot {
  readonly entries: Array<Entry | undefined> = [];
  /** Entries neither fired nor cleared: at 0 the slot is dropped. */
  live = 0;
  constructor(readonly due: number) {}
}

/** A pending timer; it is its own handle (one object per timer). */
interface Entry extends TimerHandle {
  fn: (() => void) | undefined;
  /** The slot it waits in, and where; undefined once it fired or was cleared. */
  slot: Slot | undefined;
  index: number;
}

/**
 * A clock whose timers share time slots and one Node timer. A SIP transaction sets two to four
 * timers (A-M of RFC 3261 §17) and most are cancelled or fire within seconds of each other: with a
 * Node timer each, a proxy at a few thousand calls/s spends much of its time creating, cancelling
 * and firing them. Here a timer becomes an entry in the slot of its due time, rounded up to
 * `resolutionMs`: it never fires early, at most `resolutionMs` late, which is far inside what the
 * RFC's timers (T1 = 500 ms) care about.
 *
 * One Node timer waits for the earliest slot; the slots' due times are kept in a binary heap of
 * numbers. A slot whose timers were all cleared is dropped at once and never wakes the process:
 * most timers are cleared (timer C, 3 minutes on every INVITE hop, and timer B or F, 32 s on
 * every client transaction), and a Node timer per slot kept a Timeout with its closure for each
 * 10 ms of those minutes (some 18,000 at a few hundred calls/s), woke up a hundred times a second
 * to find its slot empty, and made Node keep a timer list for each distinct delay. Timers do not
 * keep the process alive.
 */
export class SlottedClock implements Clock {
  private readonly slots = new Map<number, Slot>();
  /** Due times of slots made, as a binary min-heap; those of dropped slots stay until popped. */
  private readonly dues: number[] = [];
  private timer: NodeJS.Timeout | undefined;
  /** The due time the Node timer was set for (Infinity: none). */
  private armedFor = Infinity;
  private readonly onTimer: () => void;

  constructor(private readonly resolutionMs = 10) {
    this.onTimer = () => this.fire();
  }

  now(): number {
    return performance.now();
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const now = performance.now();
    const due = Math.ceil((now + Math.max(0, ms)) / this.resolutionMs) * this.resolutionMs;
    let slot = this.slots.get(due);
    if (slot === undefined) {
      slot = new Slot(due);
      this.slots.set(due, slot);
      heapPush(this.dues, due);
      if (due < this.armedFor) this.arm(due, now);
    }
    const entry: Entry = { __timer: null, fn, slot, index: slot.entries.length };
    slot.entries.push(entry);
    slot.live++;
    return entry;
  }

  clearTimeout(handle: TimerHandle | undefined): void {
    if (!handle) return;
    const entry = handle as Entry;
    // Dropping the callback lets what it closes over be collected before the slot comes due;
    // leaving a hole in the slot lets the entry go too, and the last one out drops the slot.
    entry.fn = undefined;
    const slot = entry.slot;
    if (slot === undefined) return;
    entry.slot = undefined;
    slot.entries[entry.index] = undefined;
    if (--slot.live === 0 && this.slots.get(slot.due) === slot) this.slots.delete(slot.due);
  }

  /** Sets the Node timer for `due`, replacing one set for later. */
  private arm(due: number, now: number): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.armedFor = due;
    this.timer = setTimeout(this.onTimer, Math.max(1, Math.ceil(due - now)));
    this.timer.unref();
  }

  private fire(): void {
    this.timer = undefined;
    this.armedFor = Infinity;
    // Node schedules from its cached loop time, which lags performance.now(): a timer can come
    // up to a millisecond or so before the slot is due. Only slots due by now run; the Node
    // timer is set again for the rest. Those due are taken out first, so a timer set while they
    // run waits for the next turn, as a Node timer would.
    const now = performance.now();
    const dues = this.dues;
    let due: Slot[] | undefined;
    while (dues.length > 0 && dues[0]! <= now) {
      const at = heapPop(dues);
      const slot = this.slots.get(at);
      if (slot === undefined) continue;
      this.slots.delete(at);
      (due ??= []).push(slot);
    }
    this.armNext(now);
    if (due === undefined) return;
    let failure: unknown;
    let failed = false;
    for (const slot of due) {
      const entries = slot.entries;
      for (let i = 0; i < entries.length; i++) {
        const entry = entries[i];
        if (entry === undefined) continue;
        const fn = entry.fn;
        entry.fn = undefined;
        entry.slot = undefined;
        if (fn === undefined) continue;
        try {
          fn();
        } catch (e) {
          if (!failed) failure = e;
          failed = true;
        }
      }
    }
    // Like a throwing Node timer, but only after every other timer due has run.
    if (failed) throw failure;
  }

  /** Sets the Node timer for the earliest slot left, skipping the due times of dropped ones. */
  private armNext(now: number): void {
    const dues = this.dues;
    while (dues.length > 0 && !this.slots.has(dues[0]!)) heapPop(dues);
    if (dues.length > 0 && dues[0]! < this.armedFor) this.arm(dues[0]!, now);
  }
}

function heapPush(heap: number[], value: number): void {
  let i = heap.length;
  heap.push(value);
  while (i > 0) {
    const parent = (i - 1) >> 1;
    const p = heap[parent]!;
    if (p <= value) break;
    heap[i] = p;
    i = parent;
  }
  heap[i] = value;
}

function heapPop(heap: number[]): number {
  const top = heap[0]!;
  const last = heap.pop()!;
  const n = heap.length;
  if (n === 0) return top;
  let i = 0;
  for (;;) {
    const left = 2 * i + 1;
    if (left >= n) break;
    const right = left + 1;
    const child = right < n && heap[right]! < heap[left]! ? right : left;
    if (heap[child]! >= last) break;
    heap[i] = heap[child]!;
    i = child;
  }
  heap[i] = last;
  return top;
}

export const systemClock: Clock = new SlottedClock(10);
