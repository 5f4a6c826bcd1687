// Preload for a benchmark target (`node --import ./bench/stall-watch.mjs ...`, added to
// BENCH_TIDEWATER_CMD): prints to stderr, so into the run's target.log, the process's time
// origin once and every event-loop turn longer than STALL_WATCH_MS (default 8 ms), as measured
// by a 2 ms interval timer. `tsx bench/tail.ts` lines those up with the slow responses SIPp saw
// and the collections of `--trace-gc-nvp`. Plain JavaScript: node loads it before any loader.
import { writeSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { setInterval } from 'node:timers';

const threshold = Number(process.env.STALL_WATCH_MS ?? 8);
writeSync(2, `stall-watch origin ${performance.timeOrigin}\n`);
let last = performance.now();
setInterval(() => {
  const now = performance.now();
  if (now - last > threshold) writeSync(2, `stall-watch turn ${(now - last).toFixed(1)} ms ending at ${now.toFixed(1)} ms\n`);
  last = now;
}, 2).unref();
