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

export const systemClock: Clock = {
  now: () => performance.now(),
  setTimeout(fn, ms) {
    const t = setTimeout(fn, ms);
    t.unref?.();
    return { __timer: t };
  },
  clearTimeout(handle) {
    if (handle) clearTimeout(handle.__timer as NodeJS.Timeout);
  },
};
