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

/** A pending timer; it is its own handle (one object per timer). */
interface Entry extends TimerHandle {
  fn: (() => void) | undefined;
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
  private readonly slots = new Map<number, Entry[]>();

  constructor(private readonly resolutionMs = 10) {}

  now(): number {
    return performance.now();
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const now = performance.now();
    const due = Math.ceil((now + Math.max(0, ms)) / this.resolutionMs) * this.resolutionMs;
    const entry: Entry = { __timer: null, fn };
    const slot = this.slots.get(due);
    if (slot) slot.push(entry);
    else {
      this.slots.set(due, [entry]);
      const t = setTimeout(() => this.fire(due), due - now);
      t.unref();
    }
    return entry;
  }

  clearTimeout(handle: TimerHandle | undefined): void {
    // Dropping the callback lets what it closes over be collected before the slot comes due.
    if (handle) (handle as Entry).fn = undefined;
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
    for (const entry of slot) {
      const fn = entry.fn;
      if (fn === undefined) continue;
      entry.fn = undefined;
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
