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
type Slot = Array<Entry | undefined>;

/** A pending timer; it is its own handle (one object per timer). */
interface Entry extends TimerHandle {
  fn: (() => void) | undefined;
  /** The slot it waits in, and where; undefined once it fired or was cleared. */
  slot: Slot | undefined;
  index: number;
}

/**
 * A clock whose timers share one Node timer per time slot. A SIP transaction sets two to four
 * timers (A-M of RFC 3261 §17) and most are cancelled or fire within seconds of each other: with a
 * Node timer each, a proxy at a few thousand calls/s spends much of its time creating, cancelling
 * and firing them. Here a timer becomes an entry in the slot of its due time, rounded up to
 * `resolutionMs`: it never fires early, at most `resolutionMs` late, which is far inside what the
 * RFC's timers (T1 = 500 ms) care about. Timers do not keep the process alive.
 */
export class SlottedClock implements Clock {
  private readonly slots = new Map<number, Slot>();

  constructor(private readonly resolutionMs = 10) {}

  now(): number {
    return performance.now();
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const now = performance.now();
    const due = Math.ceil((now + Math.max(0, ms)) / this.resolutionMs) * this.resolutionMs;
    let slot = this.slots.get(due);
    if (slot === undefined) {
      slot = [];
      this.slots.set(due, slot);
      const t = setTimeout(() => this.fire(due), due - now);
      t.unref();
    }
    const entry: Entry = { __timer: null, fn, slot, index: slot.length };
    slot.push(entry);
    return entry;
  }

  clearTimeout(handle: TimerHandle | undefined): void {
    if (!handle) return;
    const entry = handle as Entry;
    // Dropping the callback lets what it closes over be collected before the slot comes due;
    // leaving a hole in the slot lets the entry go too. Most timers are cleared (timer C, set
    // for 3 minutes on every INVITE hop), and kept until due they would make up a large part
    // of the heap a busy node has to mark.
    entry.fn = undefined;
    const slot = entry.slot;
    entry.slot = undefined;
    if (slot !== undefined) slot[entry.index] = undefined;
  }

  private fire(due: number): void {
    // Node schedules from its cached loop time, which lags performance.now(): a timer can come
    // up to a millisecond or so before the slot is due. Wait out the rest rather than fire early.
    const early = due - performance.now();
    if (early > 0) {
      setTimeout(() => this.fire(due), Math.ceil(early)).unref();
      return;
    }
    const slot = this.slots.get(due);
    this.slots.delete(due);
    if (!slot) return;
    let failure: unknown;
    let failed = false;
    for (let i = 0; i < slot.length; i++) {
      const entry = slot[i];
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
    // Like a throwing Node timer, but only after every other timer of the slot has run.
    if (failed) throw failure;
  }
}

export const systemClock: Clock = new SlottedClock(10);
