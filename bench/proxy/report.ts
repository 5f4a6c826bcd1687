/** Tables and the comparison verdict of the proxy benchmark (console and report.md). */

/** What one fixed-count step measured. */
export interface StepResult {
  readonly target: string;
  /** Offered call rate, calls/s. */
  readonly offered: number;
  /** Calls the step was asked to make. */
  readonly calls: number;
  readonly created: number;
  readonly successful: number;
  /** max(SIPp's failed calls, calls - successful). */
  readonly failed: number;
  readonly retransmissions: number;
  /** Successful calls per second of SIPp run time. */
  readonly achieved: number;
  /** Target on-CPU time during the step, ns (all threads of all its processes). */
  readonly targetCpuNs: number;
  /** Target CPU time per created call, µs. */
  readonly cpuUsPerCall: number;
  /** Target CPU time over the step's wall time, % of one core. */
  readonly targetCorePct: number;
  /** SIPp UAC CPU over its run time, % of one core (user + system, /usr/bin/time). */
  readonly uacCorePct: number | undefined;
  /** SIPp UAS CPU over the step's wall time, % of one core. */
  readonly uasCorePct: number;
  /** INVITE -> 200 response time percentiles, ms (1 ms resolution). */
  readonly p50Ms: number | undefined;
  readonly p99Ms: number | undefined;
  /** UDP datagrams dropped by the kernel for full buffers during the step (whole machine). */
  readonly udpDrops: number;
  /** CPU used by every other process during the step, % of one core (shared machine noise). */
  readonly foreignCorePct: number;
  /** The three biggest other consumers, e.g. `node:35% tsc:20%`. */
  readonly foreignTop: string;
  readonly sippExit: number | null;
  /** < 0.1 % failed and achieved >= 95 % of offered. */
  readonly pass: boolean;
}

/** Per-target summary line, e.g. why it did not run. */
export interface TargetOutcome {
  readonly name: string;
  readonly description: string;
  readonly steps: readonly StepResult[];
  readonly note?: string;
}

const fmt = (x: number | undefined, digits = 0): string => (x === undefined || !Number.isFinite(x) ? '-' : x.toFixed(digits));

const HEADER = [
  'offered/s', 'achieved/s', 'failed', 'retrans', 'CPU µs/call', 'target core %', 'p50 ms', 'p99 ms',
  'UAC core %', 'UAS core %', 'UDP drops', 'foreign core %', 'pass',
];

function row(s: StepResult): string[] {
  return [
    String(s.offered), fmt(s.achieved, 1), String(s.failed), String(s.retransmissions), fmt(s.cpuUsPerCall, 1),
    fmt(s.targetCorePct, 1), fmt(s.p50Ms), fmt(s.p99Ms), fmt(s.uacCorePct, 1), fmt(s.uasCorePct, 1),
    String(s.udpDrops), fmt(s.foreignCorePct, 0), s.pass ? 'yes' : 'NO',
  ];
}

/** Markdown table of a target's steps. */
export function markdownTable(steps: readonly StepResult[]): string {
  const lines = [`| ${HEADER.join(' | ')} |`, `|${HEADER.map(() => '---').join('|')}|`];
  for (const s of steps) lines.push(`| ${row(s).join(' | ')} |`);
  return lines.join('\n');
}

/** Fixed-width table of a target's steps for the console. */
export function consoleTable(steps: readonly StepResult[]): string {
  const rows = [HEADER, ...steps.map(row)];
  const widths = HEADER.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((cell, i) => cell.padStart(widths[i] ?? 0)).join('  ')).join('\n');
}

/** CPU per call of Tidewater over Kamailio, over the offered rates both passed. */
export interface Comparison {
  /** Σ CPU / Σ calls of tidewater ÷ the same for kamailio, over the common passing rates. */
  readonly ratio: number | undefined;
  readonly perRate: ReadonlyArray<{ readonly offered: number; readonly ratio: number }>;
  readonly line: string;
}

export const CPU_RATIO_GOAL = 1.5;

/**
 * Compares `name`'s CPU per call with Kamailio's at the offered rates both passed. The goal
 * applies to Tidewater; the floor targets get the ratio alone.
 */
export function compare(outcomes: readonly TargetOutcome[], name = 'tidewater'): Comparison {
  const tw = outcomes.find((o) => o.name === name);
  const kam = outcomes.find((o) => o.name === 'kamailio');
  const goal = name === 'tidewater';
  const na = (why: string): Comparison => ({
    ratio: undefined,
    perRate: [],
    line: `${name}/kamailio CPU per call = n/a (${why})${goal ? ` (goal <= ${CPU_RATIO_GOAL}x)` : ''}`,
  });
  if (tw === undefined || tw.steps.length === 0) return na(`${name} not measured${tw?.note ? `: ${tw.note}` : ''}`);
  if (kam === undefined || kam.steps.length === 0) return na('kamailio not measured');
  const perRate: Array<{ offered: number; ratio: number }> = [];
  let twNs = 0, twCalls = 0, kamNs = 0, kamCalls = 0;
  for (const t of tw.steps.filter((s) => s.pass)) {
    const k = kam.steps.find((s) => s.pass && s.offered === t.offered);
    if (k === undefined || t.created === 0 || k.created === 0) continue;
    perRate.push({ offered: t.offered, ratio: t.cpuUsPerCall / k.cpuUsPerCall });
    twNs += t.targetCpuNs;
    twCalls += t.created;
    kamNs += k.targetCpuNs;
    kamCalls += k.created;
  }
  if (perRate.length === 0) return na('no offered rate that both targets passed');
  const ratio = twNs / twCalls / (kamNs / kamCalls);
  const verdict = ratio <= CPU_RATIO_GOAL ? 'met' : 'NOT met';
  return {
    ratio,
    perRate,
    line: `${name}/kamailio CPU per call = ${ratio.toFixed(2)}x${goal ? ` (goal <= ${CPU_RATIO_GOAL}x: ${verdict})` : ''}`,
  };
}

/** The whole report.md. */
export function markdownReport(header: readonly string[], outcomes: readonly TargetOutcome[], ...comparisons: Comparison[]): string {
  const parts = ['# Proxy benchmark', '', ...header.map((h) => `- ${h}`), ''];
  for (const o of outcomes) {
    parts.push(`## ${o.name}`, '', o.description, '');
    if (o.note !== undefined) parts.push(`Note: ${o.note}`, '');
    if (o.steps.length > 0) parts.push(markdownTable(o.steps), '');
  }
  parts.push('## Comparison', '');
  for (const cmp of comparisons) {
    parts.push(cmp.line, '');
    for (const r of cmp.perRate) parts.push(`- at ${r.offered} calls/s: ${r.ratio.toFixed(2)}x`);
    parts.push('');
  }
  parts.push(
    'CPU µs/call: on-CPU time of every thread of every target process (/proc/PID/task/*/schedstat) ' +
      'during the step, divided by the calls created. A call is INVITE/100/180/200/ACK/BYE/200 through ' +
      'the proxy (6 datagrams in, 7 out; the floor targets send no 100 Trying, so 6 out). pass = < 0.1 % failed and achieved >= 95 % of offered; ' +
      'a saturated target can still pass while its queue grows: read p99. foreign core % = CPU used by ' +
      'other processes during the step: on a shared machine, a step with tens of % is not a clean sample.',
    '',
  );
  return parts.join('\n');
}
