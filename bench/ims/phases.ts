/**
 * The measured phases of the IMS benchmark on one target: REGISTER ramp, call ramp (callers and
 * callees registered first, from the ports they then send and receive on), memory per binding.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { startSippUas, type SippUas } from '../../test/harness/sipp.js';
import { freePort, type RunningProcess } from '../../test/harness/tools.js';
import { log } from '../lib/env.js';
import type { KamailioAllocator } from '../lib/kamailio.js';
import { liveHeap } from '../lib/inspector.js';
import { memoryKb, processTree, type MemoryKb } from '../lib/proc.js';
import { briefStep, runMeasuredStep, SOCKET_BUFFER } from '../lib/sipp-step.js';
import { maxSustainable, type ImsOutcome, type MemoryPoint, type MemoryResult, type RampResult, type Step } from './report.js';
import type { ImsTarget, InstanceContext } from './targets.js';
import { benchUsers, writeCallsCsv, writeUsersCsv } from './users.js';

export interface Config {
  readonly targets: readonly string[];
  readonly phases: ReadonlySet<string>;
  readonly regRates: readonly number[];
  readonly regOps: number;
  readonly regUsers: number;
  readonly callRates: readonly number[];
  readonly callOps: number;
  readonly callPairs: number;
  readonly warmupOps: number;
  readonly memSizes: readonly number[];
  readonly memWarmup: number;
  /** 0: automatic. */
  readonly memRate: number;
  /** 0: automatic. */
  readonly preregRate: number;
  readonly expires: number;
  readonly stopAfterFails: number;
  readonly pauseMs: number;
  readonly targetCpu: number;
  readonly sippCpu: number;
  readonly kamChildren: number;
  readonly kamAllocator: KamailioAllocator;
  readonly tidewaterCmd: string | undefined;
}

const REG_XML = fileURLToPath(new URL('./reg-auth.xml', import.meta.url));
const CALL_XML = fileURLToPath(new URL('./call-uac.xml', import.meta.url));
const UAS_XML = fileURLToPath(new URL('./call-uas.xml', import.meta.url));
const MEM_RATE_CAP = 5000;
const MEM_RATE_FALLBACK = 500;
/** Pre-registration before the calls: at most this rate, 250/s without a REGISTER phase, and this many attempts. */
const PREREG_RATE_CAP = 1000;
const PREREG_RATE_FALLBACK = 250;
const PREREG_ATTEMPTS = 3;
/** Pause before the half-rate step: the 32 s a SIP node keeps a finished transaction, and a few more. */
const SETTLE_AFTER_OVERLOAD_MS = 35_000;
/** Past RFC 3261 timer J (64*T1 = 32 s over UDP): finished transactions are gone, only bindings stay. */
const SETTLE_MS = 35_000;
const SAMPLES = 6;
const SAMPLE_GAP_MS = 500;
const LABEL_UNSAFE = /[\s/]+/g;

/** A running instance of a target. */
interface Instance {
  readonly name: string;
  readonly cfg: Config;
  readonly target: ImsTarget;
  readonly ctx: InstanceContext;
  readonly proc: RunningProcess;
  readonly dir: string;
}

/** What a step sends: scenario, injection file, local port; the callee to measure too. */
interface Load {
  readonly scenario: string;
  readonly csv: string;
  readonly localPort: number;
  readonly uas?: SippUas;
  readonly unit: string;
}

async function step(inst: Instance, label: string, load: Load, rate: number, ops: number): Promise<Step> {
  const m = await runMeasuredStep({
    targetPid: inst.proc.pid,
    uasPid: load.uas?.pid,
    sipp: {
      scenario: load.scenario,
      remote: `127.0.0.1:${inst.ctx.port}`,
      localPort: load.localPort,
      keys: { expires: String(inst.cfg.expires) },
      extraArgs: ['-inf', load.csv],
    },
    rate,
    ops,
    sippCpu: inst.cfg.sippCpu,
    dir: join(inst.dir, label.replace(LABEL_UNSAFE, '-')),
  });
  log(`${inst.name} ${label}: ${briefStep(m, load.unit)}`);
  return { ...m, label };
}

/** Warm-up, ramp until `stopAfterFails` failing steps in a row, then a step at half the maximum. */
async function ramp(inst: Instance, kind: string, load: Load, rates: readonly number[], ops: number): Promise<RampResult> {
  const { cfg } = inst;
  if (cfg.warmupOps > 0) {
    await step(inst, `${kind} warm-up ${Math.min(...rates)}/s`, load, Math.min(...rates), cfg.warmupOps);
    await sleep(cfg.pauseMs);
  }
  const steps: Step[] = [];
  let fails = 0;
  for (const rate of rates) {
    const s = await step(inst, `${kind} ${rate}/s`, load, rate, ops);
    steps.push(s);
    fails = s.pass ? 0 : fails + 1;
    await sleep(cfg.pauseMs);
    if (fails >= cfg.stopAfterFails) break;
  }
  const max = maxSustainable(steps);
  if (max === undefined) return { steps };
  const halfRate = Math.max(1, Math.round(max / 2));
  // The ramp ended on an overloaded step: let what it left behind go first (a SIP node keeps a
  // finished transaction 64*T1 = 32 s), so the half-rate step measures the steady state.
  await sleep(Math.max(0, SETTLE_AFTER_OVERLOAD_MS - cfg.pauseMs));
  const half = await step(inst, `${kind} half-max ${halfRate}/s`, load, halfRate, ops);
  await sleep(cfg.pauseMs);
  return { steps, half };
}

async function startInstance(target: ImsTarget, cfg: Config, dir: string, ports: () => Promise<{ port: number; wsPort: number }>, inspect = false): Promise<Instance> {
  const ctx: InstanceContext = { ...(await ports()), cpu: cfg.targetCpu, runDir: join(dir, 'target'), inspect };
  const proc = await target.start(ctx);
  log(`${target.name} ready on 127.0.0.1:${ctx.port} (pids ${(await processTree(proc.pid)).join(' ')})`);
  return { name: target.name, cfg, target, ctx, proc, dir };
}

async function stopInstance(inst: Instance): Promise<void> {
  await inst.proc.stop();
  await writeFile(join(inst.dir, 'target.log'), `--- stdout ---\n${inst.proc.stdout}\n--- stderr ---\n${inst.proc.stderr}\n`);
}

async function regPhase(inst: Instance): Promise<RampResult> {
  const csv = join(inst.dir, 'reg-users.csv');
  await writeUsersCsv(csv, benchUsers(0, inst.cfg.regUsers));
  const load = { scenario: REG_XML, csv, localPort: await freePort('udp'), unit: 'REGISTER' };
  return ramp(inst, 'reg', load, inst.cfg.regRates, inst.cfg.regOps);
}

/** Registers callers from the calling port and callees from the callee's port, starts the callee, ramps calls. */
async function callPhase(inst: Instance, prereg: Step[], regMax: number | undefined): Promise<RampResult> {
  const { cfg } = inst;
  // Pre-registration is set-up, not a measurement: at half the REGISTER rate the target
  // sustained (a target refusing an overload with 503 would leave users unregistered and fail
  // calls that say nothing about calls), and again for as long as some failed.
  const preregRate = cfg.preregRate > 0 ? cfg.preregRate : regMax === undefined ? PREREG_RATE_FALLBACK : Math.min(PREREG_RATE_CAP, Math.round(regMax / 2));
  const callers = benchUsers(cfg.regUsers, cfg.callPairs);
  const callees = benchUsers(cfg.regUsers + cfg.callPairs, cfg.callPairs);
  const [callerCsv, calleeCsv, callsCsv] = ['callers.csv', 'callees.csv', 'calls.csv'].map((f) => join(inst.dir, f)) as [string, string, string];
  await Promise.all([writeUsersCsv(callerCsv, callers), writeUsersCsv(calleeCsv, callees), writeCallsCsv(callsCsv, callers, callees)]);
  const [callPort, uasPort] = [await freePort('udp'), await freePort('udp')];
  const reg = { scenario: REG_XML, unit: 'REGISTER' };
  await preregister(inst, prereg, 'prereg callers', { ...reg, csv: callerCsv, localPort: callPort }, preregRate);
  await preregister(inst, prereg, 'prereg callees', { ...reg, csv: calleeCsv, localPort: uasPort }, preregRate);
  const uas = await startSippUas({
    scenario: UAS_XML,
    localPort: uasPort,
    calls: Number.POSITIVE_INFINITY,
    timeoutSec: 3600,
    cpu: cfg.sippCpu,
    traceMessages: false,
    outDir: join(inst.dir, 'uas'),
    extraArgs: [...SOCKET_BUFFER, '-default_behaviors', 'all,-abortunexp'],
  });
  try {
    return await ramp(inst, 'call', { scenario: CALL_XML, csv: callsCsv, localPort: callPort, uas, unit: 'call' }, cfg.callRates, cfg.callOps);
  } finally {
    await uas.stop();
  }
}

/** Registers every user of `load.csv` at `rate`, all of them again while some failed (at most {@link PREREG_ATTEMPTS} times). */
async function preregister(inst: Instance, steps: Step[], label: string, load: Parameters<typeof step>[2], rate: number): Promise<void> {
  for (let attempt = 1; attempt <= PREREG_ATTEMPTS; attempt++) {
    const done = await step(inst, attempt === 1 ? label : `${label} (attempt ${attempt})`, load, rate, inst.cfg.callPairs);
    steps.push(done);
    if (done.failed === 0) return;
  }
}

/**
 * Lowest PSS (with its RSS) of a few samples after the target settled: garbage not yet collected
 * is not a binding. A Node target started with its inspector also gets a full garbage collection
 * first, and its live heap after it (`heapKb`): PSS alone mostly says how far V8 grew its heap
 * while the load's finished transactions were alive, and whether it gave the pages back yet.
 */
async function settledMemory(inst: Instance): Promise<MemoryKb> {
  await sleep(SETTLE_MS);
  const heap = await liveHeap(inst.proc.stderr);
  let best: MemoryKb | undefined;
  for (let i = 0; i < SAMPLES; i++) {
    if (i > 0) await sleep(SAMPLE_GAP_MS);
    const m = await memoryKb(await processTree(inst.proc.pid));
    if (best === undefined || m.pssKb < best.pssKb) best = m;
  }
  return heap === undefined ? (best as MemoryKb) : { ...(best as MemoryKb), heapKb: Math.round(heap / 1024) };
}

/** Registers users `from` .. `from + count - 1` from `localPort` as one step; successful registrations. */
async function registerRange(inst: Instance, label: string, from: number, count: number, rate: number, localPort: number, steps: Step[]): Promise<number> {
  const csv = join(inst.dir, `${label}.csv`);
  await writeUsersCsv(csv, benchUsers(from, count));
  const s = await step(inst, label, { scenario: REG_XML, csv, localPort, unit: 'REGISTER' }, rate, count);
  steps.push(s);
  return s.successful;
}

async function memPhase(inst: Instance, regMax: number | undefined): Promise<MemoryResult> {
  const { cfg } = inst;
  const rate = cfg.memRate > 0 ? cfg.memRate : regMax === undefined ? MEM_RATE_FALLBACK : Math.min(MEM_RATE_CAP, Math.round(regMax / 2));
  const port = await freePort('udp');
  const steps: Step[] = [];
  const start = await settledMemory(inst);
  if (cfg.memWarmup > 0) await registerRange(inst, 'mem warm-up', 0, cfg.memWarmup, rate, port, steps);
  const baseline = cfg.memWarmup > 0 ? await settledMemory(inst) : start;
  const points: MemoryPoint[] = [];
  let registered = 0;
  let done = 0;
  for (const size of cfg.memSizes) {
    registered += await registerRange(inst, `mem to ${size}`, cfg.memWarmup + done, size - done, rate, port, steps);
    done = size;
    const memory = await settledMemory(inst);
    const bindings = await inst.target.bindings(inst.ctx);
    points.push({ size, registered, memory, ...(bindings === undefined ? {} : { bindings }) });
    const per = ((memory.pssKb - baseline.pssKb) * 1024) / Math.max(1, registered);
    const heapPer = memory.heapKb !== undefined && baseline.heapKb !== undefined ? ((memory.heapKb - baseline.heapKb) * 1024) / Math.max(1, registered) : undefined;
    const heapNote = heapPer === undefined ? '' : `; live heap after a full GC ${(memory.heapKb! / 1024).toFixed(1)} MiB, ${heapPer.toFixed(0)} B/binding`;
    log(`${inst.name} memory at ${size}: PSS ${(memory.pssKb / 1024).toFixed(1)} MiB, ${per.toFixed(0)} B/binding (${registered} registered)${heapNote}`);
  }
  return { start, baseline, warmup: cfg.memWarmup, points, steps };
}

/** Runs the configured phases on fresh instances of `target`. */
export async function runPhases(
  target: ImsTarget,
  cfg: Config,
  outDir: string,
  ports: () => Promise<{ port: number; wsPort: number }>,
): Promise<ImsOutcome> {
  const notes: string[] = [];
  const prereg: Step[] = [];
  let reg: RampResult | undefined;
  let call: RampResult | undefined;
  let mem: MemoryResult | undefined;
  const guarded = async (what: string, fn: () => Promise<void>): Promise<void> => {
    try {
      await fn();
    } catch (err) {
      const why = err instanceof Error ? err.message.split('\n').slice(0, 6).join(' | ') : String(err);
      log(`${target.name} ${what}: ${why}`);
      notes.push(`${what}: ${why}`);
    }
  };
  if (cfg.phases.has('reg') || cfg.phases.has('call')) {
    await guarded('REGISTER and call phases', async () => {
      const inst = await startInstance(target, cfg, join(outDir, 'load'), ports);
      try {
        if (cfg.phases.has('reg')) reg = await regPhase(inst);
        if (cfg.phases.has('call')) call = await callPhase(inst, prereg, reg && maxSustainable(reg.steps));
      } finally {
        await stopInstance(inst);
      }
    });
  }
  if (cfg.phases.has('mem')) {
    await guarded('memory phase', async () => {
      const inst = await startInstance(target, cfg, join(outDir, 'memory'), ports, true);
      try {
        mem = await memPhase(inst, reg && maxSustainable(reg.steps));
      } finally {
        await stopInstance(inst);
      }
    });
  }
  return { name: target.name, description: target.description, notes, reg, call, prereg, mem };
}
