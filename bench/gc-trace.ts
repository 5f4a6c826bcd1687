/**
 * Sums a Node process's `--trace-gc-nvp` output: how often each kind of collection ran, the main
 * thread's time in it, and what the scavenges kept. For a benchmark target, add the flag to its
 * command (BENCH_TIDEWATER_CMD) and read the target.log the run leaves under bench/results/:
 *
 *   tsx bench/gc-trace.ts bench/results/<run>/tidewater/load/target.log [--from MS] [--to MS | --last S] [--ops N]
 *
 * --from/--to keep the collections between those times (ms since the process started, the
 * number before "ms:" on each line); --last S keeps the last S seconds before the last
 * collection (the final step of a run that measured one rate: its pause and the process's
 * stop add no collections); --ops divides the totals by that many operations (calls or
 * REGISTERs of the window). "promoted" is what survived a second scavenge (or a first one
 * while the young generation was full) and moved to the old generation, where only a
 * mark-compact frees it: the bytes that make mark-compacts come often.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { gcLines } from './lib/gc-log.js';

interface Kind {
  count: number;
  pauseMs: number;
  /** Incremental marking steps before the pause (mark-compact only). */
  incrementalMs: number;
  promoted: number;
  survived: number;
}

interface GcSummary {
  readonly firstMs: number;
  readonly lastMs: number;
  readonly kinds: ReadonlyMap<string, Kind>;
}

const KIND_NAMES: Readonly<Record<string, string>> = { s: 'scavenge', mc: 'mark-compact', ms: 'minor mark-sweep', mmc: 'minor mark-compact' };

/** The collections in `text` between `from` and `to` ms (inclusive). */
function summarise(text: string, from = 0, to = Number.POSITIVE_INFINITY): GcSummary {
  const kinds = new Map<string, Kind>();
  let firstMs = Number.NaN;
  let lastMs = Number.NaN;
  for (const { at, kind, fields } of gcLines(text)) {
    if (at < from || at > to) continue;
    if (Number.isNaN(firstMs)) firstMs = at;
    lastMs = at;
    const name = KIND_NAMES[kind] ?? kind;
    let k = kinds.get(name);
    if (k === undefined) kinds.set(name, (k = { count: 0, pauseMs: 0, incrementalMs: 0, promoted: 0, survived: 0 }));
    const num = (key: string): number => fields.get(key) ?? 0;
    k.count++;
    k.pauseMs += num('pause');
    k.incrementalMs += num('incremental');
    k.promoted += num('promoted');
    k.survived += num('new_space_survived');
  }
  return { firstMs, lastMs, kinds };
}

function main(): void {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { from: { type: 'string' }, to: { type: 'string' }, last: { type: 'string' }, ops: { type: 'string' } },
  });
  const file = positionals[0];
  if (file === undefined) {
    console.error('usage: tsx bench/gc-trace.ts <log with --trace-gc-nvp lines> [--from MS] [--to MS | --last S] [--ops N]');
    process.exit(2);
  }
  const ops = values.ops === undefined ? undefined : Number(values.ops);
  if (ops !== undefined && !(ops > 0)) {
    console.error(`--ops must be a positive number, got ${values.ops}`);
    process.exit(2);
  }
  const text = readFileSync(file, 'utf8');
  let from = values.from === undefined ? 0 : Number(values.from);
  const to = values.to === undefined ? undefined : Number(values.to);
  if (values.last !== undefined) from = summarise(text).lastMs - Number(values.last) * 1000;
  if (Number.isNaN(from) || (to !== undefined && Number.isNaN(to))) {
    console.error('--from, --to and --last take numbers');
    process.exit(2);
  }
  const s = summarise(text, from, to);
  if (s.kinds.size === 0) {
    console.error(`${file}: no --trace-gc-nvp lines in that window`);
    process.exit(1);
  }
  const seconds = (s.lastMs - s.firstMs) / 1000;
  console.log(`${file}: collections from ${s.firstMs} to ${s.lastMs} ms (${seconds.toFixed(1)} s)`);
  const per = (v: number, unit: string): string => (ops === undefined ? '' : `, ${(v / ops).toFixed(unit === 'B' ? 0 : 2)} ${unit}/op`);
  let mainMs = 0;
  for (const [name, k] of s.kinds) {
    mainMs += k.pauseMs + k.incrementalMs;
    const parts = [`${k.count} ${name}s`, `pauses ${k.pauseMs.toFixed(0)} ms${per(k.pauseMs * 1000, 'µs')}`];
    if (k.incrementalMs > 0) parts.push(`incremental marking ${k.incrementalMs.toFixed(0)} ms${per(k.incrementalMs * 1000, 'µs')}`);
    if (k.survived > 0) parts.push(`survived ${(k.survived / 1e6).toFixed(1)} MB${per(k.survived, 'B')}`);
    if (k.promoted > 0) parts.push(`promoted ${(k.promoted / 1e6).toFixed(1)} MB${per(k.promoted, 'B')}`);
    console.log(`  ${parts.join(', ')}`);
  }
  const share = seconds > 0 ? ` (${((mainMs / 1000 / seconds) * 100).toFixed(1)} % of a core over the window)` : '';
  console.log(`  main thread in GC: ${mainMs.toFixed(0)} ms${share}${per(mainMs * 1000, 'µs')}`);
}

main();
