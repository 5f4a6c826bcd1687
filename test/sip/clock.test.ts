import { describe, expect, it, vi } from 'vitest';
import { SlottedClock } from '../../src/sip/clock.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('the slotted system clock', () => {
  it('fires timers in due order, never early, and not at all once cleared', async () => {
    const clock = new SlottedClock(10);
    const fired: Array<[string, number]> = [];
    const t0 = clock.now();
    clock.setTimeout(() => fired.push(['b', clock.now() - t0]), 40);
    clock.setTimeout(() => fired.push(['a', clock.now() - t0]), 15);
    const c = clock.setTimeout(() => fired.push(['c', clock.now() - t0]), 20);
    clock.clearTimeout(c);
    await sleep(120);
    expect(fired.map(([n]) => n)).toEqual(['a', 'b']);
    expect(fired[0]![1]).toBeGreaterThanOrEqual(15);
    expect(fired[1]![1]).toBeGreaterThanOrEqual(40);
  });

  it('runs the other timers of a slot when one throws, then reports the error', async () => {
    const clock = new SlottedClock(50);
    const ran: string[] = [];
    const errors: unknown[] = [];
    const onError = (e: unknown) => errors.push(e);
    process.on('uncaughtException', onError);
    try {
      clock.setTimeout(() => {
        throw new Error('boom');
      }, 1);
      clock.setTimeout(() => ran.push('second'), 1);
      await sleep(120);
    } finally {
      process.off('uncaughtException', onError);
    }
    expect(ran).toEqual(['second']);
    expect(String(errors[0])).toMatch(/boom/);
  });

  it('fires exactly the timers of a slot not cleared, in the order they were set, whatever the order they are cleared in', async () => {
    const clock = new SlottedClock(1000);
    const fired: number[] = [];
    const handles: Array<ReturnType<SlottedClock['setTimeout']>> = [];
    // All in one slot (1 s resolution). Timer 2 clears 6 and 9 while the slot fires.
    for (let i = 0; i < 20; i++) {
      handles.push(
        clock.setTimeout(() => {
          fired.push(i);
          if (i === 2) for (const j of [6, 9]) clock.clearTimeout(handles[j]);
        }, 1),
      );
    }
    for (const i of [0, 19, 7, 3, 18, 8, 1, 12, 4, 5]) clock.clearTimeout(handles[i]);
    clock.clearTimeout(handles[0]); // twice: no harm
    await sleep(1100);
    expect(fired).toEqual([2, 10, 11, 13, 14, 15, 16, 17]);
    clock.clearTimeout(handles[2]); // after it fired: no harm
  });

  it('fires a timer set for before the one it waits for on time, and wakes for cleared slots not at all', async () => {
    const clock = new SlottedClock(10);
    const t0 = clock.now();
    const fired: Array<[string, number]> = [];
    const spy = vi.spyOn(globalThis, 'setTimeout');
    try {
      // Timer C of 500 INVITE hops, 10 ms apart over 5 s, all answered (cleared) at once.
      const handles = Array.from({ length: 500 }, (_, i) => clock.setTimeout(() => fired.push([`c${i}`, 0]), 175_000 + i * 10));
      for (const h of handles) clock.clearTimeout(h);
      clock.setTimeout(() => fired.push(['late', clock.now() - t0]), 60);
      clock.setTimeout(() => fired.push(['early', clock.now() - t0]), 20);
      await sleep(150);
      // One Node timer at a time: the first set, then one each time an earlier slot came.
      expect(spy.mock.calls.length).toBeLessThanOrEqual(6);
    } finally {
      spy.mockRestore();
    }
    expect(fired.map(([n]) => n)).toEqual(['early', 'late']);
    expect(fired[0]![1]).toBeGreaterThanOrEqual(20);
    expect(fired[0]![1]).toBeLessThan(60);
    expect(fired[1]![1]).toBeGreaterThanOrEqual(60);
  });

  it('runs a timer a firing timer sets for now in a later turn, not in the same one', async () => {
    const clock = new SlottedClock(10);
    const order: string[] = [];
    clock.setTimeout(() => {
      order.push('first');
      clock.setTimeout(() => order.push('set by first'), 0);
      queueMicrotask(() => order.push('microtask of first'));
    }, 1);
    await sleep(100);
    expect(order).toEqual(['first', 'microtask of first', 'set by first']);
  });
});
