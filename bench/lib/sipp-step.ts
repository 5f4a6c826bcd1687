/**
 * One measured benchmark step: a SIPp client runs `ops` operations (SIPp calls) at a fixed
 * offered rate against a target, and the step records the target's on-CPU time (every thread of
 * every process of its tree, schedstat), SIPp's own CPU, SIPp's successes, failures and response
 * times, the kernel's UDP drops and the CPU used meanwhile by every other process.
 */
import { spawnSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { runSipp, type SippOptions, type SippResult } from '../../test/harness/sipp.js';
import { findTool } from '../../test/harness/tools.js';
import { cpuNs, cpuSnapshot, foreignCpu, percentile, processTree, udpBufferDrops } from './proc.js';

/** 4 MB socket buffers for SIPp, as the targets get (shared bench/README.md). */
export const SOCKET_BUFFER = ['-buff_size', '4194304'];
const SIPP_VERSION = /SIPp v(\S+?)\.?\s/;

/** What one step measured. */
export interface MeasuredStep {
  /** Offered rate, operations/s. */
  readonly offered: number;
  /** Operations the step was asked to run. */
  readonly ops: number;
  readonly created: number;
  readonly successful: number;
  /** max(SIPp's failed calls, ops - successful). */
  readonly failed: number;
  readonly retransmissions: number;
  /** Successful operations per second of SIPp run time. */
  readonly achieved: number;
  /** Target on-CPU time during the step, ns. */
  readonly targetCpuNs: number;
  /** Target CPU time per created operation, µs. */
  readonly cpuUsPerOp: number;
  /** Target CPU time over the step's wall time, % of one core. */
  readonly targetCorePct: number;
  /** SIPp client CPU over its run time, % of one core (/usr/bin/time). */
  readonly uacCorePct: number | undefined;
  /** CPU of the background SIPp callee (if any) over the step's wall time, % of one core. */
  readonly uasCorePct: number | undefined;
  /** Response-time percentiles of RTD `rtd`, ms (1 ms resolution). */
  readonly p50Ms: number | undefined;
  readonly p99Ms: number | undefined;
  /** UDP datagrams dropped by the kernel for full buffers during the step (whole machine). */
  readonly udpDrops: number;
  /** CPU used by every other process during the step, % of one core. */
  readonly foreignCorePct: number;
  /** The three biggest other consumers, e.g. `node:35% tsc:20%`. */
  readonly foreignTop: string;
  readonly sippExit: number | null;
  /** < 0.1 % failed and achieved >= 95 % of offered. */
  readonly pass: boolean;
}

/** A step to run. */
export interface StepSpec {
  /** Root PID of the target; its whole tree is measured. */
  readonly targetPid: number;
  /** PID of a background SIPp callee to measure too. */
  readonly uasPid?: number;
  /** SIPp options besides the fixed ones (count, rate, timeouts, traces, CPU, output folder). */
  readonly sipp: Pick<SippOptions, 'scenario' | 'remote' | 'dest' | 'localPort' | 'keys' | 'extraArgs'>;
  readonly rate: number;
  readonly ops: number;
  readonly sippCpu: number;
  /** Folder for SIPp's files. */
  readonly dir: string;
  /** Response-time duration whose percentiles are reported; default 1. */
  readonly rtd?: number;
}

/** /usr/bin/time output "elapsed user system" -> % of one core. */
export async function timeCorePct(file: string): Promise<number | undefined> {
  const text = await readFile(file, 'utf8').catch(() => '');
  const [elapsed, user, sys] = (text.trim().split('\n').pop() ?? '').split(' ').map(Number);
  if (!elapsed || user === undefined || sys === undefined) return undefined;
  return (100 * (user + sys)) / elapsed;
}

/** SIPp's version, e.g. `3.6.1-SCTP-PCAP-RTPSTREAM`. */
export function sippVersion(): string {
  const res = spawnSync('sipp', ['-v'], { encoding: 'utf8' });
  return SIPP_VERSION.exec(`${res.stdout}${res.stderr}`)?.[1] ?? '?';
}

function sippRun(spec: StepSpec): Promise<SippResult> {
  const time = findTool('time');
  return runSipp({
    ...spec.sipp,
    calls: spec.ops,
    rate: spec.rate,
    timeoutSec: Math.ceil(spec.ops / spec.rate) + 30,
    recvTimeoutMs: 10_000,
    cpu: spec.sippCpu,
    traceMessages: false,
    rtt: true,
    rttEvery: 1000,
    outDir: spec.dir,
    prefix: time === undefined ? undefined : [time, '-f', '%e %U %S', '-o', 'sipp.time'],
    extraArgs: [...SOCKET_BUFFER, ...(spec.sipp.extraArgs ?? [])],
  });
}

/** Runs one fixed-count step and measures it. */
export async function runMeasuredStep(spec: StepSpec): Promise<MeasuredStep> {
  const pids = await processTree(spec.targetPid);
  const uasPids = spec.uasPid === undefined ? [] : [spec.uasPid];
  const [cpu0, uas0, drops0, all0] = await Promise.all([cpuNs(pids), cpuNs(uasPids), udpBufferDrops(), cpuSnapshot()]);
  const t0 = performance.now();
  const res = await sippRun(spec);
  const wallSec = (performance.now() - t0) / 1000;
  const [cpu1, uas1, drops1, all1] = await Promise.all([cpuNs(pids), cpuNs(uasPids), udpBufferDrops(), cpuSnapshot()]);
  const foreign = foreignCpu(all0, all1, new Set([...pids, ...uasPids, process.pid]));
  const pctOfCore = (ns: number): number => (100 * ns) / 1e9 / wallSec;
  const times = [...(res.rtt.get(spec.rtd ?? 1) ?? [])].sort((x, y) => x - y);
  const { stats } = res;
  const failed = Math.max(stats.failed, spec.ops - stats.successful);
  const achieved = stats.elapsedSec > 0 ? stats.successful / stats.elapsedSec : 0;
  const targetCpuNs = cpu1 - cpu0;
  return {
    offered: spec.rate,
    ops: spec.ops,
    created: stats.created,
    successful: stats.successful,
    failed,
    retransmissions: stats.retransmissions,
    achieved,
    targetCpuNs,
    cpuUsPerOp: stats.created > 0 ? targetCpuNs / 1000 / stats.created : Number.NaN,
    targetCorePct: pctOfCore(targetCpuNs),
    uacCorePct: await timeCorePct(join(spec.dir, 'sipp.time')),
    uasCorePct: spec.uasPid === undefined ? undefined : pctOfCore(uas1 - uas0),
    p50Ms: percentile(times, 50),
    p99Ms: percentile(times, 99),
    udpDrops: drops1 - drops0,
    foreignCorePct: pctOfCore(foreign.ns),
    foreignTop: foreign.top.map((t) => `${t.comm}:${pctOfCore(t.ns).toFixed(0)}%`).join(' '),
    sippExit: res.exitCode,
    pass: failed / spec.ops < 0.001 && achieved >= 0.95 * spec.rate,
  };
}

/** One log line for a step. */
export function briefStep(s: MeasuredStep, unit: string): string {
  const f = (x: number | undefined, d = 0): string => (x === undefined || !Number.isFinite(x) ? '-' : x.toFixed(d));
  return (
    `offered ${s.offered}/s achieved ${f(s.achieved, 1)}/s failed ${s.failed} retrans ${s.retransmissions} | ` +
    `target ${f(s.cpuUsPerOp, 1)} µs/${unit}, ${f(s.targetCorePct, 1)} % core | p50/p99 ${f(s.p50Ms)}/${f(s.p99Ms)} ms | ` +
    `SIPp UAC ${f(s.uacCorePct)} % UAS ${f(s.uasCorePct)} % | UDP drops ${s.udpDrops} | ` +
    `foreign ${f(s.foreignCorePct)} % ${s.foreignTop} => ${s.pass ? 'pass' : 'FAIL'}`
  );
}
