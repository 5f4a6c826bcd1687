/**
 * Proxy benchmark: CPU per call of Tidewater's static proxy against Kamailio doing the same
 * job (bench/proxy/kamailio-proxy.cfg), on one pinned core each, SIPp on another core.
 *
 *   npm run bench:proxy                      both targets (tidewater first, if it exists)
 *   npm run bench:proxy -- kamailio          one target
 *
 * For each target: a SIPp UAS (CPU 1) is the proxy's static next hop; the target starts on
 * CPU 0; after a warm-up, fixed-count steps of INVITE..BYE calls are offered at increasing
 * rates by a SIPp UAC (CPU 1) through the target. Per step: the target's on-CPU time (every
 * thread of every process, schedstat), SIPp's successes, failures, elapsed time and
 * INVITE->200 response times. Output: a table per target, the ratio
 * "tidewater/kamailio CPU per call", and bench/results/<timestamp>/report.md (with every
 * step's SIPp files beside it).
 *
 * Environment (all optional):
 *   BENCH_TARGETS          comma list, default "tidewater,kamailio" (arguments win); also
 *                          floor-relay, floor-parse, floor-edit: Node moving the same datagrams
 *                          with no transactions (bench/proxy/floor.ts), for the floor under a proxy
 *   BENCH_CALLS            calls per step, default 10000
 *   BENCH_RATES            offered calls/s, comma list, default "500,1000,2000,3000"
 *   BENCH_WARMUP_CALLS     unmeasured calls before the steps, default 2000 (0: none), at the lowest rate
 *   BENCH_STOP_AFTER_FAILS stop a target's ramp after this many failing steps in a row, default 1
 *   BENCH_PAUSE_MS         pause between steps (transaction timers drain), default 2000
 *   BENCH_TARGET_CPU / BENCH_SIPP_CPU   cores, default 0 / 1
 *   BENCH_KAM_CHILDREN     Kamailio UDP workers (-n), default 1
 *   BENCH_KAM_ALLOCATOR    Kamailio memory manager, tlsf | fm | qm, default tlsf (see targets.ts)
 *   BENCH_TIDEWATER_CMD    command template for tidewater, placeholders {port} {wsPort} {route};
 *                          default: node dist/examples/static-proxy.js ... (targets.ts)
 */
import { spawnSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, release } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { startSippUas, type SippUas } from '../../test/harness/sipp.js';
import { freePort, freeUdpTcpPort, type RunningProcess } from '../../test/harness/tools.js';
import { processTree } from '../lib/proc.js';
import { runMeasuredStep, sippVersion, SOCKET_BUFFER } from '../lib/sipp-step.js';
import { compare, consoleTable, markdownReport, type StepResult, type TargetOutcome } from './report.js';
import { KAMAILIO_ALLOCATORS, type KamailioAllocator } from '../lib/kamailio.js';
import { FLOOR_TARGETS, floorTarget, kamailioTarget, tidewaterTarget, type Target } from './targets.js';

const HERE = fileURLToPath(new URL('./', import.meta.url));
const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const UAC_XML = join(HERE, 'call-uac.xml');
const UAS_XML = join(HERE, 'call-uas.xml');
const DEFAULT_TARGETS = ['tidewater', 'kamailio'];
/** The default targets, then the opt-in floors (bench/proxy/floor.ts). */
const KNOWN_TARGETS: readonly string[] = [...DEFAULT_TARGETS, ...FLOOR_TARGETS];
const LIST_SPLIT = /[\s,]+/;
const FILE_NAME_UNSAFE = /[:.]/g;

interface Config {
  readonly targets: readonly string[];
  readonly calls: number;
  readonly rates: readonly number[];
  readonly warmupCalls: number;
  readonly stopAfterFails: number;
  readonly pauseMs: number;
  readonly targetCpu: number;
  readonly sippCpu: number;
  readonly kamChildren: number;
  readonly kamAllocator: KamailioAllocator;
  readonly tidewaterCmd: string | undefined;
}

function intEnv(key: string, fallback: number, min: number): number {
  const raw = process.env[key];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min) fail(`${key}=${raw}: expected an integer >= ${min}`);
  return value;
}

function allocatorEnv(): KamailioAllocator {
  const raw = process.env.BENCH_KAM_ALLOCATOR || 'tlsf';
  const found = KAMAILIO_ALLOCATORS.find((a) => a === raw);
  return found ?? fail(`BENCH_KAM_ALLOCATOR=${raw}: expected one of ${KAMAILIO_ALLOCATORS.join(', ')}`);
}

function fail(message: string): never {
  console.error(`bench:proxy: ${message}`);
  process.exit(2);
}

function readConfig(argv: readonly string[]): Config {
  const targetList = argv.length > 0 ? argv : (process.env.BENCH_TARGETS ?? DEFAULT_TARGETS.join(',')).split(LIST_SPLIT);
  const targets = targetList.filter((t) => t !== '');
  for (const t of targets) if (!KNOWN_TARGETS.includes(t)) fail(`unknown target "${t}": expected one of ${KNOWN_TARGETS.join(', ')}`);
  const rates = (process.env.BENCH_RATES ?? '500,1000,2000,3000').split(LIST_SPLIT).filter((r) => r !== '').map(Number);
  if (rates.length === 0 || rates.some((r) => !Number.isInteger(r) || r < 1)) fail(`BENCH_RATES=${process.env.BENCH_RATES}: expected positive integers`);
  return {
    targets,
    calls: intEnv('BENCH_CALLS', 10_000, 1),
    rates,
    warmupCalls: intEnv('BENCH_WARMUP_CALLS', 2_000, 0),
    stopAfterFails: intEnv('BENCH_STOP_AFTER_FAILS', 1, 1),
    pauseMs: intEnv('BENCH_PAUSE_MS', 2_000, 0),
    targetCpu: intEnv('BENCH_TARGET_CPU', 0, 0),
    sippCpu: intEnv('BENCH_SIPP_CPU', 1, 0),
    kamChildren: intEnv('BENCH_KAM_CHILDREN', 1, 1),
    kamAllocator: allocatorEnv(),
    tidewaterCmd: process.env.BENCH_TIDEWATER_CMD || undefined,
  };
}

/** Installs sipp and kamailio when root (scripts/test-setup.mjs), else names the packages. */
function ensureTools(): void {
  const setup = join(REPO_ROOT, 'scripts', 'test-setup.mjs');
  const res = spawnSync(process.execPath, [setup, 'sipp=sip-tester', 'kamailio=kamailio', 'taskset=util-linux'], {
    stdio: 'inherit',
  });
  if (res.status !== 0) process.exit(1);
}

function log(line: string): void {
  console.log(`[${new Date().toISOString().slice(11, 19)}] ${line}`);
}

/** A running target with its callee. */
interface Bench {
  readonly cfg: Config;
  readonly name: string;
  readonly proc: RunningProcess;
  readonly uas: SippUas;
  readonly port: number;
}

/** Runs one fixed-count step at `rate` and measures it; files go to `dir`. */
async function runStep(b: Bench, rate: number, calls: number, dir: string): Promise<StepResult> {
  const m = await runMeasuredStep({
    targetPid: b.proc.pid,
    uasPid: b.uas.pid,
    sipp: { scenario: UAC_XML, remote: `127.0.0.1:${b.port}`, dest: `127.0.0.1:${b.uas.port}` },
    rate,
    ops: calls,
    sippCpu: b.cfg.sippCpu,
    dir,
  });
  return { ...m, target: b.name, calls: m.ops, cpuUsPerCall: m.cpuUsPerOp, uasCorePct: m.uasCorePct ?? Number.NaN };
}

function brief(s: StepResult): string {
  const f = (x: number | undefined, d = 0): string => (x === undefined || !Number.isFinite(x) ? '-' : x.toFixed(d));
  return (
    `offered ${s.offered}/s achieved ${f(s.achieved, 1)}/s failed ${s.failed} retrans ${s.retransmissions} | ` +
    `target ${f(s.cpuUsPerCall, 1)} µs/call, ${f(s.targetCorePct, 1)} % core | INVITE->200 p50/p99 ${f(s.p50Ms)}/${f(s.p99Ms)} ms | ` +
    `SIPp UAC ${f(s.uacCorePct)} % UAS ${f(s.uasCorePct)} % | UDP drops ${s.udpDrops} | ` +
    `foreign ${f(s.foreignCorePct)} % ${s.foreignTop} => ${s.pass ? 'pass' : 'FAIL'}`
  );
}

/** Warm-up, then the ramp; stops after `stopAfterFails` failing steps in a row. */
async function ramp(b: Bench, outDir: string): Promise<StepResult[]> {
  const { cfg } = b;
  if (cfg.warmupCalls > 0) {
    const warm = await runStep(b, Math.min(...cfg.rates), cfg.warmupCalls, join(outDir, 'warmup'));
    log(`${b.name} warm-up: ${brief(warm)}`);
    await sleep(cfg.pauseMs);
  }
  const steps: StepResult[] = [];
  let fails = 0;
  for (const rate of cfg.rates) {
    const step = await runStep(b, rate, cfg.calls, join(outDir, `rate-${rate}`));
    steps.push(step);
    log(`${b.name} ${rate}/s: ${brief(step)}`);
    fails = step.pass ? 0 : fails + 1;
    if (fails >= cfg.stopAfterFails) {
      log(`${b.name}: stopping the ramp after ${fails} failing step(s)`);
      break;
    }
    await sleep(cfg.pauseMs);
  }
  return steps;
}

/** Starts the callee and `target`, runs the ramp, stops both. */
async function benchTarget(target: Target, cfg: Config, outDir: string): Promise<TargetOutcome> {
  const uas = await startSippUas({
    scenario: UAS_XML,
    calls: Number.POSITIVE_INFINITY,
    timeoutSec: 3600,
    cpu: cfg.sippCpu,
    traceMessages: false,
    outDir: join(outDir, 'uas'),
    extraArgs: [...SOCKET_BUFFER, '-default_behaviors', 'all,-abortunexp'],
  });
  const port = await freeUdpTcpPort();
  const ctx = { port, wsPort: await freePort('tcp'), route: `sip:127.0.0.1:${uas.port};transport=udp`, cpu: cfg.targetCpu, runDir: join(outDir, 'target') };
  let proc: RunningProcess;
  try {
    proc = await target.start(ctx);
  } catch (err) {
    await uas.stop();
    const why = err instanceof Error ? err.message : String(err);
    log(`${target.name} did not start: ${why}`);
    return { name: target.name, description: target.description, steps: [], note: `did not start: ${why.split('\n')[0]}` };
  }
  log(`${target.name} ready on 127.0.0.1:${port} (pids ${(await processTree(proc.pid)).join(' ')}), UAS on ${uas.port}`);
  try {
    const steps = await ramp({ cfg, name: target.name, proc, uas, port }, outDir);
    return { name: target.name, description: target.description, steps };
  } finally {
    await proc.stop();
    await uas.stop();
    await writeFile(join(outDir, 'target.log'), `--- stdout ---\n${proc.stdout}\n--- stderr ---\n${proc.stderr}\n`);
  }
}

async function main(): Promise<void> {
  const cfg = readConfig(process.argv.slice(2));
  ensureTools();
  if (cpus().length < 2) log(`warning: ${cpus().length} CPU: target and SIPp share a core, CPU figures include contention`);
  const stamp = new Date().toISOString().replace(FILE_NAME_UNSAFE, '-');
  const resultsDir = join(REPO_ROOT, 'bench', 'results', stamp);
  await mkdir(resultsDir, { recursive: true });
  log(`bench:proxy targets=${cfg.targets.join(',')} calls/step=${cfg.calls} rates=${cfg.rates.join(',')} out=${resultsDir}`);

  const outcomes: TargetOutcome[] = [];
  for (const name of cfg.targets) {
    const floor = FLOOR_TARGETS.find((f) => f === name);
    const target =
      name === 'kamailio'
        ? await kamailioTarget(cfg.kamChildren, cfg.kamAllocator)
        : floor !== undefined
          ? floorTarget(floor)
          : tidewaterTarget(cfg.tidewaterCmd);
    if (typeof target === 'string') {
      log(`${name}: not run (${target}); running the other targets alone`);
      outcomes.push({ name, description: '-', steps: [], note: `not run: ${target}` });
      continue;
    }
    outcomes.push(await benchTarget(target, cfg, join(resultsDir, name)));
  }

  // Tidewater's ratio (with its goal) first, then each floor's, when they ran.
  const comparisons = [compare(outcomes), ...FLOOR_TARGETS.filter((f) => cfg.targets.includes(f)).map((f) => compare(outcomes, f))];
  for (const o of outcomes) {
    console.log(`\n${o.name}: ${o.description}${o.note ? `\n  ${o.note}` : ''}`);
    if (o.steps.length > 0) console.log(consoleTable(o.steps));
  }
  console.log('');
  for (const cmp of comparisons) console.log(cmp.line);
  const header = [
    `date: ${new Date().toISOString()}`,
    `machine: ${cpus().length} x ${cpus()[0]?.model ?? '?'}, Linux ${release()}, node ${process.version}, SIPp ${sippVersion()}`,
    `target on CPU ${cfg.targetCpu}, SIPp UAC and UAS on CPU ${cfg.sippCpu}, all on 127.0.0.1`,
    `${cfg.calls} calls per step at ${cfg.rates.join(', ')} calls/s, warm-up ${cfg.warmupCalls} calls at ${Math.min(...cfg.rates)}/s`,
  ];
  const reportFile = join(resultsDir, 'report.md');
  await writeFile(reportFile, markdownReport(header, outcomes, ...comparisons));
  console.log(`report: ${reportFile}`);
}

await main();
