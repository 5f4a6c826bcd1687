/**
 * What made a benchmark's slow responses: for each SIPp step of a run whose target ran with
 * `--import ./bench/stall-watch.mjs` (and, for collections, `--trace-gc-nvp`), the responses of
 * at least --slow ms (default 20) in 100 ms bins on the target's clock, each with the long
 * event-loop turns and the collections of 3 ms or more around it; and per step the turns and
 * mark-compacts inside it.
 *
 *   tsx bench/tail.ts bench/results/<ims run>/tidewater/load [--slow MS]
 *   tsx bench/tail.ts bench/results/<proxy run>/tidewater [--slow MS]
 *
 * A step is a folder with SIPp's stat.csv and a *_rtt.csv (response times, `-trace_rtt`); its
 * start is SIPp's StartTime, put on the target's clock with the origin stall-watch printed.
 * Times printed are ms since the target's start, as `--trace-gc-nvp` prints them.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { parseSippStats } from '../test/harness/sipp.js';
import { gcLines } from './lib/gc-log.js';
import { percentile } from './lib/proc.js';

interface Turn {
  readonly ms: number;
  readonly end: number;
}
interface Collection {
  readonly at: number;
  readonly pause: number;
  readonly kind: string;
}

const ORIGIN = /stall-watch origin ([0-9.]+)/;
const TURN = /stall-watch turn ([0-9.]+) ms ending at ([0-9.]+) ms/g;
const BIN_MS = 100;

const fmtTurns = (turns: readonly Turn[]): string => turns.map((t) => `${t.end.toFixed(0)}:${t.ms.toFixed(0)}`).join(' ') || '-';

function step(dir: string, name: string, origin: number, turns: readonly Turn[], gcs: readonly Collection[], slowMs: number): void {
  const rttFile = readdirSync(dir).find((f) => f.endsWith('_rtt.csv'));
  if (rttFile === undefined) return;
  // SIPp's time columns are "date<TAB>time<TAB>epoch seconds".
  const startField = parseSippStats(readFileSync(join(dir, 'stat.csv'), 'utf8')).raw['StartTime']?.split('\t').pop();
  if (startField === undefined) return;
  const start = Number(startField) * 1000 - origin;
  const rows = readFileSync(join(dir, rttFile), 'utf8')
    .trim()
    .split('\n')
    .slice(1)
    .map((l) => l.split(';').map(Number) as [number, number, number]);
  if (rows.length === 0) return;
  const end = start + rows[rows.length - 1]![0];
  // The p99 the bench reports: of the first response time (RTD 1: REGISTER->200, INVITE->200).
  const p99 = percentile(rows.filter((r) => r[2] === 1).map((r) => r[1]).sort((a, b) => a - b), 99);
  const slow = rows.filter((r) => r[1] >= slowMs);
  console.log(
    `== ${name}: ${rows.length} responses, p99 ${p99 ?? '-'} ms (RTD 1), ${slow.length} of ${slowMs} ms or more (any RTD); ${start.toFixed(0)}..${end.toFixed(0)} ms`,
  );
  console.log(`  turns: ${fmtTurns(turns.filter((t) => t.end >= start && t.end <= end + BIN_MS))}`);
  const mcs = gcs.filter((g) => g.kind === 'mc' && g.at >= start && g.at <= end);
  console.log(`  mark-compacts: ${mcs.map((g) => `${g.at}:${g.pause}`).join(' ') || '-'}`);
  const bins = new Map<number, { n: number; max: number }>();
  for (const [at, ms] of slow) {
    const bin = Math.floor((start + at) / BIN_MS) * BIN_MS;
    const b = bins.get(bin) ?? { n: 0, max: 0 };
    b.n++;
    b.max = Math.max(b.max, ms);
    bins.set(bin, b);
  }
  for (const [bin, b] of [...bins].sort((x, y) => x[0] - y[0])) {
    const near = turns.filter((t) => t.end >= bin - 1.5 * BIN_MS && t.end <= bin + 2.5 * BIN_MS);
    const g = gcs.filter((x) => x.at >= bin - 1.5 * BIN_MS && x.at <= bin + 2.5 * BIN_MS && x.pause >= 3);
    console.log(`  ${bin}: ${b.n} slow, max ${b.max} ms | turns ${fmtTurns(near)} | gc ${g.map((x) => `${x.kind}@${x.at}:${x.pause}`).join(' ') || '-'}`);
  }
}

function main(): void {
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { slow: { type: 'string' } } });
  const dir = positionals[0];
  if (dir === undefined) {
    console.error('usage: tsx bench/tail.ts <folder with target.log and the step folders> [--slow MS]');
    process.exit(2);
  }
  const slowMs = values.slow === undefined ? 20 : Number(values.slow);
  if (!(slowMs > 0)) {
    console.error(`--slow ${values.slow}: expected a positive number of ms`);
    process.exit(2);
  }
  const log = readFileSync(join(dir, 'target.log'), 'utf8');
  const origin = ORIGIN.exec(log)?.[1];
  if (origin === undefined) {
    console.error(`${join(dir, 'target.log')}: no "stall-watch origin" line; run the target with --import ./bench/stall-watch.mjs`);
    process.exit(1);
  }
  const turns: Turn[] = [...log.matchAll(TURN)].map((m) => ({ ms: Number(m[1]), end: Number(m[2]) }));
  const gcs: Collection[] = gcLines(log).map((g) => ({ at: g.at, pause: g.fields.get('pause') ?? 0, kind: g.kind }));
  for (const name of readdirSync(dir).sort()) {
    const sub = join(dir, name);
    if (existsSync(join(sub, 'stat.csv'))) step(sub, name, Number(origin), turns, gcs, slowMs);
  }
}

main();
