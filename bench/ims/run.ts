/**
 * IMS benchmark: Tidewater's all-in-one against Kamailio as registrar + digest auth + stateful
 * proxy (bench/ims/kamailio-ims.cfg), measured the same way in the same run: each target pinned
 * to one CPU, SIPp on another, all on 127.0.0.1.
 *
 *   tsx bench/ims/run.ts                          both targets (tidewater first)
 *   tsx bench/ims/run.ts --target tidewater       one target (also: kamailio, both)
 *   tsx bench/ims/run.ts --reg-rates 1000,2000    any BENCH_* setting below as --kebab-case flag
 *
 * Per target, on a fresh instance: authenticated REGISTER ramp (users 0..), one step at half
 * the maximum sustainable rate; callers and callees pre-registered (callers from the port the
 * calling SIPp uses, callees from the port the callee SIPp then listens on), call ramp and half
 * step. Then, on another fresh instance: memory per binding (PSS after N distinct
 * registrations minus the baseline). Output: tables on the console and
 * bench/results/ims-<timestamp>.md, SIPp files in bench/results/ims-<timestamp>/.
 *
 * Environment (all optional):
 *   BENCH_TARGETS        tidewater,kamailio (default both)
 *   BENCH_PHASES         reg,call,mem (default all three)
 *   BENCH_REG_RATES      offered REGISTER/s, default 250,500,1000,2000,4000,8000,12000,16000
 *   BENCH_REG_OPS        REGISTERs per step, default 10000 (BENCH_REG_USERS distinct users, default 10000)
 *   BENCH_CALL_RATES     offered calls/s, default 100,250,500,1000,2000,3000,4000,5000
 *   BENCH_CALL_OPS       calls per step, default 5000, between BENCH_CALL_PAIRS caller/callee pairs (1000)
 *   BENCH_WARMUP_OPS     unmeasured REGISTERs and calls before each ramp, at its lowest rate, default 1000
 *   BENCH_MEM_SIZES      bindings at which memory is read, default 10000,100000
 *   BENCH_MEM_WARMUP     registrations before the memory baseline, default 2000 (0: baseline = start)
 *   BENCH_MEM_RATE       REGISTER/s of the memory phase, default half the max sustainable (≤ 5000), else 1000
 *   BENCH_PREREG_RATE    REGISTER/s of the pre-registration before calls, default half the max sustainable
 *                        (≤ 1000), else 250; repeated while some failed (at most 3 times)
 *   BENCH_EXPIRES        registration lifetime, s, default 600
 *   BENCH_STOP_AFTER_FAILS  failing steps in a row that end a ramp, default 1
 *   BENCH_PAUSE_MS       pause between steps, default 2000
 *   BENCH_TARGET_CPU / BENCH_SIPP_CPU   default 0 / 1
 *   BENCH_KAM_CHILDREN   Kamailio UDP workers, default 2;  BENCH_KAM_ALLOCATOR tlsf | fm | qm, default tlsf
 *   BENCH_TIDEWATER_CMD  command template, placeholders {port} {wsPort} {dataDir} (targets.ts)
 */
import { spawnSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, release } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, freeUdpTcpPort } from '../../test/harness/tools.js';
import { fail as failWith, intEnv, intListEnv, LIST_SPLIT, log } from '../lib/env.js';
import { KAMAILIO_ALLOCATORS, kamailioModuleInstalled, type KamailioAllocator } from '../lib/kamailio.js';
import { sippVersion } from '../lib/sipp-step.js';
import { runPhases, type Config } from './phases.js';
import { markdownReport, summaryTable, stepsTable, allSteps, type ImsOutcome } from './report.js';
import { kamailioImsTarget, tidewaterImsTarget, type ImsTarget } from './targets.js';

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const KNOWN_TARGETS = ['tidewater', 'kamailio'];
const KNOWN_PHASES = ['reg', 'call', 'mem'];
const FILE_NAME_UNSAFE = /[:.]/g;
const FLAG = /^--([a-z][a-z0-9-]*)(?:=(.*))?$/;
const DASH = /-/g;
/** Flags that set a BENCH_* variable (`--reg-rates` -> BENCH_REG_RATES); --target sets BENCH_TARGETS. */
const FLAG_KEYS = new Set([
  'TARGETS', 'PHASES', 'REG_RATES', 'REG_OPS', 'REG_USERS', 'CALL_RATES', 'CALL_OPS', 'CALL_PAIRS', 'WARMUP_OPS',
  'MEM_SIZES', 'MEM_WARMUP', 'MEM_RATE', 'PREREG_RATE', 'EXPIRES', 'STOP_AFTER_FAILS', 'PAUSE_MS', 'TARGET_CPU',
  'SIPP_CPU', 'KAM_CHILDREN', 'KAM_ALLOCATOR', 'TIDEWATER_CMD',
]);

const fail = (message: string): never => failWith('bench:ims', message);

/** Turns `--name value` / `--name=value` into BENCH_NAME; a bare word is a target. */
function applyFlags(argv: readonly string[]): void {
  const targets: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    const match = FLAG.exec(arg);
    if (match === null) {
      targets.push(arg);
      continue;
    }
    const name = match[1] === 'target' ? 'TARGETS' : (match[1] ?? '').toUpperCase().replace(DASH, '_');
    if (!FLAG_KEYS.has(name)) fail(`unknown option ${arg}`);
    const value = match[2] ?? argv[++i];
    if (value === undefined) fail(`${arg} needs a value`);
    process.env[`BENCH_${name}`] = value;
  }
  if (targets.length > 0) process.env.BENCH_TARGETS = targets.join(',');
}

function listEnv(key: string, fallback: string, known: readonly string[]): string[] {
  const values = (process.env[key] || fallback).split(LIST_SPLIT).filter((t) => t !== '').flatMap((t) => (t === 'both' ? known : [t]));
  for (const v of values) if (!known.includes(v)) fail(`${key}: unknown "${v}", expected ${known.join(', ')}`);
  return [...new Set(values)];
}

function allocatorEnv(): KamailioAllocator {
  const raw = process.env.BENCH_KAM_ALLOCATOR || 'tlsf';
  return KAMAILIO_ALLOCATORS.find((a) => a === raw) ?? fail(`BENCH_KAM_ALLOCATOR=${raw}: expected one of ${KAMAILIO_ALLOCATORS.join(', ')}`);
}

function readConfig(argv: readonly string[]): Config {
  applyFlags(argv);
  const i = (key: string, fallback: number, min: number): number => intEnv('bench:ims', `BENCH_${key}`, fallback, min);
  const l = (key: string, fallback: string): number[] => intListEnv('bench:ims', `BENCH_${key}`, fallback);
  const memSizes = [...new Set(l('MEM_SIZES', '10000,100000'))].sort((a, b) => a - b);
  return {
    targets: listEnv('BENCH_TARGETS', KNOWN_TARGETS.join(','), KNOWN_TARGETS),
    phases: new Set(listEnv('BENCH_PHASES', KNOWN_PHASES.join(','), KNOWN_PHASES)),
    regRates: l('REG_RATES', '250,500,1000,2000,4000,8000,12000,16000'),
    regOps: i('REG_OPS', 10_000, 1),
    regUsers: i('REG_USERS', 10_000, 1),
    callRates: l('CALL_RATES', '100,250,500,1000,2000,3000,4000,5000'),
    callOps: i('CALL_OPS', 5_000, 1),
    callPairs: i('CALL_PAIRS', 1_000, 1),
    warmupOps: i('WARMUP_OPS', 1_000, 0),
    memSizes,
    memWarmup: i('MEM_WARMUP', 2_000, 0),
    memRate: i('MEM_RATE', 0, 0),
    preregRate: i('PREREG_RATE', 0, 0),
    expires: i('EXPIRES', 600, 1),
    stopAfterFails: i('STOP_AFTER_FAILS', 1, 1),
    pauseMs: i('PAUSE_MS', 2_000, 0),
    targetCpu: i('TARGET_CPU', 0, 0),
    sippCpu: i('SIPP_CPU', 1, 0),
    kamChildren: i('KAM_CHILDREN', 2, 1),
    kamAllocator: allocatorEnv(),
    tidewaterCmd: process.env.BENCH_TIDEWATER_CMD || undefined,
  };
}

/** Installs SIPp (and Kamailio with its SQLite module) when root, else names the packages. */
function ensureTools(cfg: Config): void {
  const tools = ['sipp=sip-tester', 'taskset=util-linux', 'time=time'];
  if (cfg.targets.includes('kamailio')) tools.push('kamailio=kamailio');
  const res = spawnSync(process.execPath, [join(REPO_ROOT, 'scripts', 'test-setup.mjs'), ...tools], { stdio: 'inherit' });
  if (res.status !== 0) process.exit(1);
  if (!cfg.targets.includes('kamailio') || kamailioModuleInstalled('db_sqlite')) return;
  if (process.getuid?.() !== 0) fail('Kamailio\'s db_sqlite module is missing: apt-get install kamailio-sqlite-modules');
  log('installing kamailio-sqlite-modules');
  const apt = spawnSync('apt-get', ['-o', 'DPkg::Lock::Timeout=600', 'install', '-y', 'kamailio-sqlite-modules'], {
    stdio: 'inherit',
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
  if (apt.status !== 0 || !kamailioModuleInstalled('db_sqlite')) fail('could not install kamailio-sqlite-modules');
}

async function makeTarget(name: string, cfg: Config): Promise<ImsTarget | string> {
  return name === 'kamailio' ? kamailioImsTarget(cfg.kamChildren, cfg.kamAllocator) : tidewaterImsTarget(cfg.tidewaterCmd);
}

/** Provisions `target` and runs the phases; a target that cannot run is reported, not fatal. */
async function benchTarget(name: string, cfg: Config, outDir: string): Promise<ImsOutcome> {
  const target = await makeTarget(name, cfg);
  if (typeof target === 'string') {
    log(`${name}: not run (${target})`);
    return { name, description: '-', notes: [`not run: ${target}`], prereg: [] };
  }
  const users = Math.max(cfg.regUsers + 2 * cfg.callPairs, cfg.memWarmup + (cfg.memSizes.at(-1) ?? 0));
  const t0 = Date.now();
  await target.prepare(join(outDir, 'provisioned'), users);
  log(`${name}: ${users} subscribers provisioned in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  const ports = async (): Promise<{ port: number; wsPort: number }> => ({ port: await freeUdpTcpPort(), wsPort: await freePort('tcp') });
  return runPhases(target, cfg, outDir, ports);
}

async function main(): Promise<void> {
  const cfg = readConfig(process.argv.slice(2));
  ensureTools(cfg);
  if (cpus().length < 2) log(`warning: ${cpus().length} CPU: target and SIPp share a core, CPU figures include contention`);
  const stamp = new Date().toISOString().replace(FILE_NAME_UNSAFE, '-');
  const resultsDir = join(REPO_ROOT, 'bench', 'results');
  const outDir = join(resultsDir, `ims-${stamp}`);
  await mkdir(outDir, { recursive: true });
  log(`bench:ims targets=${cfg.targets.join(',')} phases=${[...cfg.phases].join(',')} out=${outDir}`);
  const outcomes: ImsOutcome[] = [];
  for (const name of cfg.targets) outcomes.push(await benchTarget(name, cfg, join(outDir, name)));

  for (const o of outcomes) {
    console.log(`\n## ${o.name}: ${o.description}${o.notes.map((n) => `\n  ${n}`).join('')}`);
    const steps = allSteps(o);
    if (steps.length > 0) console.log(stepsTable(steps));
  }
  console.log(`\n${summaryTable(outcomes, cfg.memSizes)}`);
  const header = [
    `date: ${new Date().toISOString()}`,
    `machine: ${cpus().length} x ${cpus()[0]?.model ?? '?'}, Linux ${release()}, node ${process.version}, SIPp ${sippVersion()}`,
    `target on CPU ${cfg.targetCpu}, every SIPp on CPU ${cfg.sippCpu}, all on 127.0.0.1 over UDP`,
    `REGISTER: ${cfg.regOps} per step at ${cfg.regRates.join(', ')}/s over ${cfg.regUsers} users; ` +
      `calls: ${cfg.callOps} per step at ${cfg.callRates.join(', ')}/s over ${cfg.callPairs} pairs; warm-up ${cfg.warmupOps}`,
    `memory: ${cfg.memSizes.join(' and ')} bindings after ${cfg.memWarmup} warm-up registrations, fresh instance; expires ${cfg.expires} s`,
  ];
  const reportFile = join(resultsDir, `ims-${stamp}.md`);
  await writeFile(reportFile, markdownReport(header, outcomes, cfg.memSizes));
  console.log(`\nreport: ${reportFile}`);
}

await main();
