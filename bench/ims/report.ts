/** Summary, comparison and markdown of the IMS benchmark (console and bench/results/ims-*.md). */
import type { MeasuredStep } from '../lib/sipp-step.js';
import type { MemoryKb } from '../lib/proc.js';

/** A measured step with what it was (`reg 4000/s`, `call half 1500/s`, `prereg callers`...). */
export interface Step extends MeasuredStep {
  readonly label: string;
}

/** A rate ramp and the step at half its maximum sustainable rate. */
export interface RampResult {
  readonly steps: readonly Step[];
  readonly half?: Step;
}

/** Memory after `registered` bindings (successful registrations since the baseline). */
export interface MemoryPoint {
  readonly size: number;
  readonly registered: number;
  readonly memory: MemoryKb;
  /** Bindings the target reports holding (Kamailio's usrloc), when it can tell. */
  readonly bindings?: number;
}

export interface MemoryResult {
  readonly start: MemoryKb;
  /** After the warm-up registrations: the point the deltas are taken from. */
  readonly baseline: MemoryKb;
  readonly warmup: number;
  readonly points: readonly MemoryPoint[];
  readonly steps: readonly Step[];
}

export interface ImsOutcome {
  readonly name: string;
  readonly description: string;
  readonly notes: readonly string[];
  readonly reg?: RampResult;
  readonly call?: RampResult;
  readonly prereg: readonly Step[];
  readonly mem?: MemoryResult;
}

export const CPU_RATIO_GOAL = 2;
export const BINDING_BYTES_GOAL = 2048;
export const P99_GOAL_MS = 20;

const fmt = (x: number | undefined, digits = 0): string => (x === undefined || !Number.isFinite(x) ? '-' : x.toFixed(digits));

/** Highest offered rate of a passing step. */
export function maxSustainable(steps: readonly Step[]): number | undefined {
  const passing = steps.filter((s) => s.pass).map((s) => s.offered);
  return passing.length === 0 ? undefined : Math.max(...passing);
}

/** Σ CPU / Σ operations over the passing steps, restricted to `rates` when given. */
function cpuPerOp(steps: readonly Step[], rates?: ReadonlySet<number>): number | undefined {
  const used = steps.filter((s) => s.pass && s.created > 0 && (rates === undefined || rates.has(s.offered)));
  const ops = used.reduce((n, s) => n + s.created, 0);
  return ops === 0 ? undefined : used.reduce((n, s) => n + s.targetCpuNs, 0) / 1000 / ops;
}

/** CPU per operation of each target over the offered rates both passed (all its passing rates if alone). */
function comparableCpu(a: readonly Step[] | undefined, b: readonly Step[] | undefined): [number | undefined, number | undefined] {
  if (a === undefined || b === undefined) return [a && cpuPerOp(a), b && cpuPerOp(b)];
  const common = new Set(a.filter((s) => s.pass).map((s) => s.offered).filter((r) => b.some((s) => s.pass && s.offered === r)));
  if (common.size === 0) return [cpuPerOp(a), cpuPerOp(b)];
  return [cpuPerOp(a, common), cpuPerOp(b, common)];
}

/** Bytes per binding at memory point `size`: PSS delta from the baseline over the bindings added. */
export function bytesPerBinding(mem: MemoryResult | undefined, size: number): number | undefined {
  const point = mem?.points.find((p) => p.size === size);
  if (mem === undefined || point === undefined || point.registered === 0) return undefined;
  return ((point.memory.pssKb - mem.baseline.pssKb) * 1024) / point.registered;
}

/** Growth of the live heap after a full GC per registration (Node targets started with their inspector). */
export function heapBytesPerBinding(mem: MemoryResult | undefined, size: number): number | undefined {
  const point = mem?.points.find((p) => p.size === size);
  const at = point?.memory.heapKb;
  const base = mem?.baseline.heapKb;
  if (point === undefined || at === undefined || base === undefined || point.registered === 0) return undefined;
  return ((at - base) * 1024) / point.registered;
}

interface Row {
  readonly metric: string;
  readonly tw: number | undefined;
  readonly kam: number | undefined;
  readonly digits: number;
  readonly goal: string;
  /** Verdict from Tidewater's value and the ratio; undefined = no goal. */
  readonly verdict?: (tw: number, ratio: number | undefined) => boolean;
}

function rows(tw: ImsOutcome | undefined, kam: ImsOutcome | undefined, memSizes: readonly number[]): Row[] {
  const [twReg, kamReg] = comparableCpu(tw?.reg?.steps, kam?.reg?.steps);
  const [twCall, kamCall] = comparableCpu(tw?.call?.steps, kam?.call?.steps);
  const max = (o: ImsOutcome | undefined, k: 'reg' | 'call'): number | undefined => maxSustainable(o?.[k]?.steps ?? []);
  const half = (o: ImsOutcome | undefined, k: 'reg' | 'call', p: 'p50Ms' | 'p99Ms'): number | undefined => o?.[k]?.half?.[p];
  const ratioMax = (_: number, r: number | undefined): boolean => r !== undefined && r >= 1 / CPU_RATIO_GOAL;
  const ratioCpu = (_: number, r: number | undefined): boolean => r !== undefined && r <= CPU_RATIO_GOAL;
  const p99 = (v: number): boolean => v < P99_GOAL_MS;
  const list: Row[] = [
    { metric: 'REGISTER max sustainable /s', tw: max(tw, 'reg'), kam: max(kam, 'reg'), digits: 0, goal: `≥ Kamailio/${CPU_RATIO_GOAL}`, verdict: ratioMax },
    { metric: 'CPU µs per REGISTER (incl. 401)', tw: twReg, kam: kamReg, digits: 1, goal: `≤ ${CPU_RATIO_GOAL}x Kamailio`, verdict: ratioCpu },
    { metric: 'REGISTER p50 ms at half max', tw: half(tw, 'reg', 'p50Ms'), kam: half(kam, 'reg', 'p50Ms'), digits: 0, goal: '' },
    { metric: 'REGISTER p99 ms at half max', tw: half(tw, 'reg', 'p99Ms'), kam: half(kam, 'reg', 'p99Ms'), digits: 0, goal: `< ${P99_GOAL_MS} ms`, verdict: p99 },
    { metric: 'calls max sustainable /s', tw: max(tw, 'call'), kam: max(kam, 'call'), digits: 0, goal: `≥ Kamailio/${CPU_RATIO_GOAL}`, verdict: ratioMax },
    { metric: 'CPU µs per call (INVITE..BYE)', tw: twCall, kam: kamCall, digits: 1, goal: `≤ ${CPU_RATIO_GOAL}x Kamailio`, verdict: ratioCpu },
    { metric: 'INVITE->200 p50 ms at half max', tw: half(tw, 'call', 'p50Ms'), kam: half(kam, 'call', 'p50Ms'), digits: 0, goal: '' },
    { metric: 'INVITE->200 p99 ms at half max', tw: half(tw, 'call', 'p99Ms'), kam: half(kam, 'call', 'p99Ms'), digits: 0, goal: `< ${P99_GOAL_MS} ms`, verdict: p99 },
  ];
  for (const size of memSizes) {
    list.push({
      metric: `bytes per binding at ${size}`,
      tw: bytesPerBinding(tw?.mem, size),
      kam: bytesPerBinding(kam?.mem, size),
      digits: 0,
      goal: `< ${BINDING_BYTES_GOAL} B`,
      verdict: (v) => v < BINDING_BYTES_GOAL,
    });
    list.push({ metric: `live heap bytes per binding at ${size} (after a full GC)`, tw: heapBytesPerBinding(tw?.mem, size), kam: undefined, digits: 0, goal: '' });
  }
  return list;
}

/** The comparison table: one row per metric, both targets, the ratio, the goal and its verdict. */
export function summaryTable(outcomes: readonly ImsOutcome[], memSizes: readonly number[]): string {
  const tw = outcomes.find((o) => o.name === 'tidewater');
  const kam = outcomes.find((o) => o.name === 'kamailio');
  const lines = ['| metric | tidewater | kamailio | tidewater/kamailio | goal | met |', '|---|---|---|---|---|---|'];
  for (const r of rows(tw, kam, memSizes)) {
    const ratio = r.tw !== undefined && r.kam !== undefined && r.kam !== 0 ? r.tw / r.kam : undefined;
    const met = r.verdict === undefined ? '' : r.tw === undefined ? 'n/a' : r.verdict(r.tw, ratio) ? 'yes' : 'NO';
    lines.push(`| ${r.metric} | ${fmt(r.tw, r.digits)} | ${fmt(r.kam, r.digits)} | ${fmt(ratio, 2)} | ${r.goal} | ${met} |`);
  }
  return lines.join('\n');
}

const STEP_HEADER = [
  'step', 'offered/s', 'achieved/s', 'failed', 'retrans', 'CPU µs/op', 'target core %', 'p50 ms', 'p99 ms',
  'UAC core %', 'UAS core %', 'UDP drops', 'foreign core %', 'pass',
];

function stepRow(s: Step): string[] {
  return [
    s.label, String(s.offered), fmt(s.achieved, 1), String(s.failed), String(s.retransmissions), fmt(s.cpuUsPerOp, 1),
    fmt(s.targetCorePct, 1), fmt(s.p50Ms), fmt(s.p99Ms), fmt(s.uacCorePct, 1), fmt(s.uasCorePct, 1),
    String(s.udpDrops), fmt(s.foreignCorePct, 0), s.pass ? 'yes' : 'NO',
  ];
}

/** Markdown table of steps. */
export function stepsTable(steps: readonly Step[]): string {
  const lines = [`| ${STEP_HEADER.join(' | ')} |`, `|${STEP_HEADER.map(() => '---').join('|')}|`];
  for (const s of steps) lines.push(`| ${stepRow(s).join(' | ')} |`);
  return lines.join('\n');
}

/** Every step of a target in run order. */
export function allSteps(o: ImsOutcome): Step[] {
  const ramp = (r: RampResult | undefined): Step[] => (r === undefined ? [] : [...r.steps, ...(r.half ? [r.half] : [])]);
  return [...ramp(o.reg), ...o.prereg, ...ramp(o.call), ...(o.mem?.steps ?? [])];
}

function memoryTable(mem: MemoryResult): string {
  const mb = (kb: number): string => (kb / 1024).toFixed(1);
  const lines = [
    '| point | bindings added | target says | RSS MiB | PSS MiB | PSS bytes/binding | RSS bytes/binding |',
    '|---|---|---|---|---|---|---|',
    `| start | - | - | ${mb(mem.start.rssKb)} | ${mb(mem.start.pssKb)} | - | - |`,
    `| baseline (after ${mem.warmup} warm-up registrations) | 0 | - | ${mb(mem.baseline.rssKb)} | ${mb(mem.baseline.pssKb)} | - | - |`,
  ];
  for (const p of mem.points) {
    const per = (now: number, base: number): string => fmt(p.registered > 0 ? ((now - base) * 1024) / p.registered : undefined);
    lines.push(
      `| ${p.size} | ${p.registered} | ${p.bindings ?? '-'} | ${mb(p.memory.rssKb)} | ${mb(p.memory.pssKb)} | ` +
        `${per(p.memory.pssKb, mem.baseline.pssKb)} | ${per(p.memory.rssKb, mem.baseline.rssKb)} |`,
    );
  }
  return lines.join('\n');
}

const METHOD = [
  'CPU µs/op: on-CPU time of every thread of every target process (/proc/PID/task/*/schedstat) during the step,',
  'divided by the operations SIPp created. A REGISTER op is REGISTER -> 401 -> REGISTER+Authorization -> 200;',
  'a call is INVITE/100/180/200/ACK/BYE/200 between two registered users. CPU per REGISTER and per call in the',
  'summary: Σ CPU / Σ ops over the passing ramp steps at the offered rates both targets passed. Max sustainable =',
  'highest passing step (< 0.1 % failed, achieved ≥ 95 % of offered); half max = one more step at half that rate.',
  'Bytes per binding: PSS of all target processes (shared pages counted once) after registering N distinct users,',
  'minus PSS at the baseline, over the registrations that succeeded; lowest of six samples 0.5 s apart, 2 s after',
  'the registrations. foreign core % = CPU of other processes during the step: tens of % means a noisy sample.',
];

/** The whole report file. */
export function markdownReport(header: readonly string[], outcomes: readonly ImsOutcome[], memSizes: readonly number[]): string {
  const parts = ['# IMS all-in-one benchmark', '', ...header.map((h) => `- ${h}`), '', '## Summary', '', summaryTable(outcomes, memSizes), ''];
  for (const o of outcomes) {
    parts.push(`## ${o.name}`, '', o.description, '');
    for (const n of o.notes) parts.push(`Note: ${n}`, '');
    const steps = allSteps(o);
    if (steps.length > 0) parts.push(stepsTable(steps), '');
    if (o.mem !== undefined) parts.push('Memory:', '', memoryTable(o.mem), '');
  }
  parts.push('## Method', '', ...METHOD, '');
  return parts.join('\n');
}
