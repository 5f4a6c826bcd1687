/**
 * Sums `perf script` call stacks of a target run with `node --perf-basic-prof`, which sees what
 * `--cpu-prof` does not: V8's runtime and collector, native add-ons (better-sqlite3), libuv and
 * the kernel. On a 2 vCPU VM `--cpu-prof` counted 15-20 % of the wall time as busy where /proc
 * gave the all-in-one's main thread 49 % of a core under the same load (docs/performance.md).
 *
 *   perf record -e cpu-clock -F 2000 -g -p <pid> -o perf.data -- sleep 12
 *   perf script -i perf.data -F ip,sym > stacks.txt
 *   tsx bench/perf-report.ts stacks.txt                      shares of the usual suspects, top leaves
 *   tsx bench/perf-report.ts stacks.txt --share 'sqlite3_step' --share 'Scavenger'
 *   tsx bench/perf-report.ts stacks.txt --by '^Statement::JS_'   the JS callers of a native frame
 *
 * A share is the part of all samples with a frame matching the expression anywhere in the stack
 * (inclusive). `--by` groups the samples at the first matching frame by the three nearest
 * JavaScript frames above it. (`cpu-clock`: the VMs have no hardware counters.)
 */
import { readFileSync } from 'node:fs';

const DEFAULT_SHARES: [string, string][] = [
  ['better-sqlite3 statements', '^Statement::JS_'],
  ['  of which SQLite itself', '^sqlite3_step'],
  ['garbage collection', 'Heap::CollectGarbage|Scavenger|IncrementalMarking|MarkCompact|Sweeper'],
  ['UDP send (dgram)', 'UDPWrap::DoSend'],
  ['V8 runtime calls', '^v8::internal::Runtime_'],
  ['kernel', '\\[kernel|^entry_SYSCALL|^do_syscall'],
  ['microtasks (promise continuations)', '^Builtins_RunMicrotasks'],
];

function usage(): never {
  console.error('usage: tsx bench/perf-report.ts <perf script -F ip,sym output> [--share REGEX]... [--by REGEX] [--top N]');
  process.exit(2);
}

const args = process.argv.slice(2);
const file = args.shift();
if (file === undefined || file.startsWith('--')) usage();
const shares: [string, RegExp][] = [];
let by: RegExp | undefined;
let top = 30;
while (args.length > 0) {
  const flag = args.shift();
  const value = args.shift();
  if (value === undefined) usage();
  if (flag === '--share') shares.push([value, new RegExp(value)]);
  else if (flag === '--by') by = new RegExp(value);
  else if (flag === '--top') top = Number(value);
  else usage();
}
if (shares.length === 0 && by === undefined) for (const [name, re] of DEFAULT_SHARES) shares.push([name, new RegExp(re)]);

/** Each stack, leaf first: `perf script -F ip,sym` prints one `<ip> <symbol>` line per frame and a blank line per sample. */
function* stacks(text: string): Generator<string[]> {
  let stack: string[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '') {
      if (stack.length > 0) yield stack;
      stack = [];
      continue;
    }
    const space = line.indexOf(' ');
    stack.push(space < 0 ? line : line.slice(space + 1));
  }
  if (stack.length > 0) yield stack;
}

const shortJs = (frame: string): string => frame.replace(/file:\/\/\/\S*?\/(dist\/)?src\//, '').slice(0, 70);
const counts = new Map<string, number>();
const leaves = new Map<string, number>();
const callers = new Map<string, number>();
const bump = (m: Map<string, number>, k: string) => m.set(k, (m.get(k) ?? 0) + 1);
let total = 0;
for (const stack of stacks(readFileSync(file, 'latin1'))) {
  total++;
  bump(leaves, stack[0]!);
  for (const [name, re] of shares) if (stack.some((f) => re.test(f))) bump(counts, name);
  if (by !== undefined) {
    const re = by;
    const at = stack.findIndex((f) => re.test(f));
    if (at >= 0) {
      const js = stack.slice(at + 1).filter((f) => f.startsWith('JS:')).slice(0, 3).map(shortJs);
      bump(callers, `${stack[at]!.split('(')[0]!.slice(0, 40)} <- ${js.join(' < ') || '(no JavaScript caller)'}`);
    }
  }
}
if (total === 0) {
  console.error(`no samples in ${file}`);
  process.exit(1);
}
const pct = (n: number) => `${((100 * n) / total).toFixed(1).padStart(5)} %`;
console.log(`${total} samples`);
for (const [name] of shares) console.log(`${pct(counts.get(name) ?? 0)}  ${name}`);
const sorted = (m: Map<string, number>) => [...m].sort((a, b) => b[1] - a[1]).slice(0, top);
if (by !== undefined) {
  console.log(`\nby the JavaScript above ${by.source}:`);
  for (const [k, n] of sorted(callers)) console.log(`${pct(n)}  ${k}`);
} else {
  console.log('\nleaf frames (self time):');
  for (const [k, n] of sorted(leaves)) console.log(`${pct(n)}  ${shortJs(k)}`);
}
