import type { Clock, TimerHandle } from '../../src/sip/clock.js';

interface Pending {
  at: number;
  seq: number;
  fn: () => void;
  cancelled: boolean;
}

/** A manual clock: timers fire only when the test advances time. */
export class FakeClock implements Clock {
  private time = 0;
  private seq = 0;
  private pending: Pending[] = [];

  now(): number {
    return this.time;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const p: Pending = { at: this.time + Math.max(0, ms), seq: this.seq++, fn, cancelled: false };
    this.pending.push(p);
    return { __timer: p };
  }

  clearTimeout(handle: TimerHandle | undefined): void {
    if (handle) (handle.__timer as Pending).cancelled = true;
  }

  /** Number of timers still waiting to fire. */
  get pendingCount(): number {
    return this.pending.filter((p) => !p.cancelled).length;
  }

  /** Advances time by `ms`, firing due timers in order (timers set while firing also run if due). */
  advance(ms: number): void {
    const target = this.time + ms;
    for (;;) {
      let next: Pending | undefined;
      for (const p of this.pending) {
        if (p.cancelled || p.at > target) continue;
        if (!next || p.at < next.at || (p.at === next.at && p.seq < next.seq)) next = p;
      }
      if (!next) break;
      this.pending = this.pending.filter((p) => p !== next);
      this.time = Math.max(this.time, next.at);
      next.fn();
    }
    this.time = target;
    this.pending = this.pending.filter((p) => !p.cancelled);
  }
}
