/**
 * Cluster benchmark (issue 7): what a registration and a call cost in CPU, process by process,
 * in three shapes measured in the same run on the same machine:
 *
 * - `aio`: the all-in-one (one process, SQLite);
 * - `core1`: 1 edge, 1 core, MMTel, HSS and XDMS as processes, on Redis (append-only, as the
 *   cluster tests run it) and PostgreSQL;
 * - `core2`: the same with 2 cores behind the edge, on the same Redis and PostgreSQL.
 *
 * Every process runs in a network namespace of its own (test/harness/netns.ts, so it needs
 * root), SIPp in another, Redis and PostgreSQL on the network's root address. Nothing is pinned:
 * on a 2-core machine the figures are CPU time per operation, not capacity.
 *
 *   npm run bench:cluster
 *   npm run bench:cluster -- --shapes aio,core2 --reg-ops 6000 --reg-rate 300
 *
 * Per shape, each on users of its own (so every registration is a new one): `BENCH_REG_OPS`
 * registrations (REGISTER, 401, REGISTER with credentials, 200) at `BENCH_REG_RATE`/s, measured;
 * then `BENCH_CALL_PAIRS` callers and callees registered (not measured), and `BENCH_CALL_OPS`
 * calls (INVITE, 100, 180, 200, ACK, BYE, 200, through edge, core, MMTel, core, edge) at
 * `BENCH_CALL_RATE`/s, measured. Output: a table on the console and
 * bench/results/cluster-<timestamp>.md.
 *
 * Environment (or --kebab-case flags): BENCH_SHAPES (aio,core1,core2), BENCH_REG_OPS (3000),
 * BENCH_REG_RATE (150), BENCH_CALL_OPS (1500), BENCH_CALL_RATE (75), BENCH_CALL_PAIRS (500).
 */
import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { startRole, type Role, type RoleProcess } from '../../test/harness/cluster.js';
import { tidewaterCli } from '../../test/harness/ims.js';
import { createTestNetwork, type TestNetwork } from '../../test/harness/netns.js';
import type { PostgresCluster } from '../../test/harness/postgres.js';
import type { RedisServer } from '../../test/harness/redis.js';
import { runSipp, startSippUas, type SippResult, type SippUas } from '../../test/harness/sipp.js';
import { requireTool } from '../../test/harness/tools.js';
import { fail as failWith, intEnv, LIST_SPLIT, log } from '../lib/env.js';
import { cpuNs, processTree } from '../lib/proc.js';
import { SOCKET_BUFFER, sippVersion } from '../lib/sipp-step.js';

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BENCH_IMS = join(REPO_ROOT, 'bench', 'ims');
const DOMAIN = 'example.com';
const API_KEY = 'bench-cluster-operator-key-0123456789';
const SIP_PORT = 5060;
const HSS_PORT = 8888;
const XDMS_PORT = 7888;
const REG_PORT = 15064;
const CALLER_PORT = 15060;
const CALLEE_PORT = 15062;
const FIRST_NUMBER = 6_505_600_000;
const KNOWN_SHAPES = ['aio', 'core1', 'core2'] as const;
type Shape = (typeof KNOWN_SHAPES)[number];
const FLAG = /^--([a-z][a-z0-9-]*)(?:=(.*))?$/;
const DASH = /-/g;
const FLAG_KEYS = new Set(['SHAPES', 'REG_OPS', 'REG_RATE', 'CALL_OPS', 'CALL_RATE', 'CALL_PAIRS']);
const SS_PID = /pid=(\d+)/;
const FILE_NAME_UNSAFE = /[:.]/g;
/** Finished transactions linger 32 s (timer J/K over UDP); a pause between phases lets the CPU settle. */
const PAUSE_MS = 3000;

const fail = (message: string): never => failWith('bench:cluster', message);

function applyFlags(argv: readonly string[]): void {
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    const match = FLAG.exec(arg);
    if (match === null) fail(`unexpected argument ${arg}`);
    const name = (match![1] ?? '').toUpperCase().replace(DASH, '_');
    if (!FLAG_KEYS.has(name)) fail(`unknown option ${arg}`);
    const value = match![2] ?? argv[++i];
    if (value === undefined) fail(`${arg} needs a value`);
    process.env[`BENCH_${name}`] = value;
  }
}

interface Config {
  readonly shapes: readonly Shape[];
  readonly regOps: number;
  readonly regRate: number;
  readonly callOps: number;
  readonly callRate: number;
  readonly callPairs: number;
}

function readConfig(): Config {
  const P = 'bench:cluster';
  const shapes = (process.env.BENCH_SHAPES || KNOWN_SHAPES.join(',')).split(LIST_SPLIT).filter((s) => s !== '');
  for (const s of shapes) if (!(KNOWN_SHAPES as readonly string[]).includes(s)) fail(`BENCH_SHAPES: unknown shape ${s} (known: ${KNOWN_SHAPES.join(', ')})`);
  return {
    shapes: shapes as Shape[],
    regOps: intEnv(P, 'BENCH_REG_OPS', 3000, 1),
    regRate: intEnv(P, 'BENCH_REG_RATE', 150, 1),
    callOps: intEnv(P, 'BENCH_CALL_OPS', 1500, 1),
    callRate: intEnv(P, 'BENCH_CALL_RATE', 75, 1),
    callPairs: intEnv(P, 'BENCH_CALL_PAIRS', 500, 1),
  };
}

const number = (i: number): string => String(FIRST_NUMBER + i);
const password = (i: number): string => `bench-${(i * 7919).toString(36)}`;

/** The users of one shape: registrations, then callers, then callees. */
interface Users {
  readonly reg: { from: number; count: number };
  readonly callers: { from: number; count: number };
  readonly callees: { from: number; count: number };
}

function usersOf(cfg: Config, index: number): Users {
  const per = cfg.regOps + 2 * cfg.callPairs;
  const base = index * per;
  return {
    reg: { from: base, count: cfg.regOps },
    callers: { from: base + cfg.regOps, count: cfg.callPairs },
    callees: { from: base + cfg.regOps + cfg.callPairs, count: cfg.callPairs },
  };
}

/** A group of processes whose CPU is counted together. */
interface Group {
  readonly label: string;
  pids(): Promise<number[]>;
}

/** The PID of whatever listens on TCP `address:port` (ss -ltnp): Redis, the PostgreSQL postmaster. */
function listenerPid(address: string, port: number): number {
  const res = spawnSync('ss', ['-Hltnp', `src ${address}:${port}`], { encoding: 'utf8' });
  const pid = SS_PID.exec(res.stdout)?.[1];
  if (pid === undefined) fail(`nothing found listening on ${address}:${port} (ss -ltnp: ${res.stdout.trim() || res.stderr.trim()})`);
  return Number(pid);
}

/** One measured phase: CPU per group over a SIPp run. */
interface Measured {
  readonly ops: number;
  readonly successful: number;
  readonly failed: number;
  readonly achieved: number;
  /** µs of CPU per successful operation, per group label. */
  readonly usPerOp: ReadonlyMap<string, number>;
  readonly totalUsPerOp: number;
}

/** On-CPU ns of each process of `pids`. */
async function cpuByPid(pids: readonly number[]): Promise<Map<number, number>> {
  const out = new Map<number, number>();
  for (const pid of pids) out.set(pid, await cpuNs([pid]));
  return out;
}

/**
 * CPU a group used between two readings: per process, the growth of those alive at both, plus
 * the whole time of those that started in between (a PostgreSQL backend for a new pooled
 * connection). A process that ended in between takes its time with it (not counted).
 */
function grown(before: ReadonlyMap<number, number>, after: ReadonlyMap<number, number>): number {
  let ns = 0;
  for (const [pid, t] of after) ns += t - (before.get(pid) ?? 0);
  return ns;
}

async function measure(groups: readonly Group[], run: () => Promise<SippResult>, ops: number): Promise<Measured> {
  const before = await Promise.all(groups.map(async (g) => cpuByPid(await g.pids())));
  const t0 = performance.now();
  const res = await run();
  const wallSec = (performance.now() - t0) / 1000;
  const after = await Promise.all(groups.map(async (g) => cpuByPid(await g.pids())));
  const ok = Math.max(1, res.stats.successful);
  const usPerOp = new Map<string, number>();
  let total = 0;
  groups.forEach((g, i) => {
    const us = grown(before[i]!, after[i]!) / 1000 / ok;
    usPerOp.set(g.label, (usPerOp.get(g.label) ?? 0) + us);
    total += us;
  });
  return {
    ops,
    successful: res.stats.successful,
    failed: Math.max(res.stats.failed, ops - res.stats.successful),
    achieved: res.stats.elapsedSec > 0 ? res.stats.successful / res.stats.elapsedSec : res.stats.successful / wallSec,
    usPerOp,
    totalUsPerOp: total,
  };
}

function brief(m: Measured): string {
  return [...m.usPerOp].map(([label, us]) => `${label} ${us.toFixed(0)}`).join(', ') + `; total ${m.totalUsPerOp.toFixed(0)}`;
}

interface ShapeResult {
  readonly shape: Shape;
  readonly reg: Measured;
  readonly call: Measured;
}

class Bench {
  private net!: TestNetwork;
  private redis!: RedisServer;
  private pg!: PostgresCluster;
  private work = '';
  private readonly roles: RoleProcess[] = [];

  constructor(private readonly cfg: Config) {}

  async setUp(): Promise<void> {
    requireTool('sipp', 'sip-tester');
    this.work = await mkdtemp(join(tmpdir(), 'tw-bench-cluster-'));
    this.net = await createTestNetwork({ nodes: ['aio', 'hss', 'xdms', 'mmtel', 'core1', 'core2', 'edge', 'ua'] });
    [this.redis, this.pg] = await Promise.all([this.net.startRedis(), this.net.startPostgres()]);
    const total = this.cfg.shapes.length * (this.cfg.regOps + 2 * this.cfg.callPairs);
    const csv = join(this.work, 'subscribers.csv');
    await writeFile(csv, Array.from({ length: total }, (_, i) => `${number(i)},${password(i)}`).join('\n') + '\n');
    await tidewaterCli(['migrate', '--postgres-url', this.pg.url]);
    log(`importing ${total} subscribers into PostgreSQL and into the all-in-one's SQLite`);
    await tidewaterCli(['subscriber', 'import', csv, '--postgres-url', this.pg.url, '--data-dir', join(this.work, 'pg-import')]);
    await tidewaterCli(['subscriber', 'import', csv, '--data-dir', join(this.work, 'aio')]);
  }

  async tearDown(): Promise<void> {
    await Promise.all(this.roles.map((r) => r.dispose().catch(() => undefined)));
    await this.net?.destroy();
    if (this.work) await rm(this.work, { recursive: true, force: true });
  }

  private common(): Record<string, unknown> {
    return { domain: DOMAIN, apiKey: API_KEY, postgresUrl: this.pg.url, redisUrl: [this.redis.url], redisPrefix: 'twb:', log: { level: 'warn' } };
  }

  private sipUri(node: string): string {
    return `sip:${this.net.node(node).address}:${SIP_PORT};transport=tcp`;
  }

  private async start(node: string, role: Role, config: Record<string, unknown>): Promise<RoleProcess> {
    const r = await startRole(this.net, node, role, config);
    this.roles.push(r);
    return r;
  }

  private async stopAll(): Promise<void> {
    await Promise.all(this.roles.splice(0).map((r) => r.dispose()));
  }

  /** Starts the shape's processes; returns the groups to measure and the node SIPp sends to. */
  private async deploy(shape: Shape): Promise<{ groups: Group[]; entry: string }> {
    const own = (label: string, r: RoleProcess): Group => ({ label, pids: () => processTree(r.proc.pid) });
    if (shape === 'aio') {
      const aio = await this.start('aio', 'all-in-one', {
        domain: DOMAIN, dataDir: join(this.work, 'aio'), sipPort: SIP_PORT, log: { level: 'warn' },
      });
      return { groups: [own('all-in-one', aio)], entry: 'aio' };
    }
    const hssUrl = `http://${this.net.node('hss').address}:${HSS_PORT}`;
    const xdmsUrl = `http://${this.net.node('xdms').address}:${XDMS_PORT}`;
    const cores = shape === 'core2' ? ['core1', 'core2'] : ['core1'];
    const [hss, xdms] = await Promise.all([
      this.start('hss', 'hss', { ...this.common(), hssPort: HSS_PORT }),
      this.start('xdms', 'xdms', { ...this.common(), xdmsPort: XDMS_PORT }),
    ]);
    const coreConfig = { ...this.common(), sipPort: SIP_PORT, hssUrl, mmtelUris: [this.sipUri('mmtel')], trustedPeers: [this.net.subnet] };
    const [mmtel, ...coreRoles] = await Promise.all([
      this.start('mmtel', 'mmtel', { ...this.common(), sipPort: SIP_PORT, xdmsUrl }),
      ...cores.map((c) => this.start(c, 'core', coreConfig)),
    ]);
    const edge = await this.start('edge', 'edge', {
      ...this.common(), sipPort: SIP_PORT, hssUrl, coreUris: cores.map((c) => this.sipUri(c)), trustedPeers: [this.net.subnet],
    });
    const root = this.net.rootAddress;
    const redisPid = listenerPid(root, Number(new URL(this.redis.url).port));
    const pgPid = listenerPid(root, this.pg.port);
    return {
      groups: [
        own('edge', edge),
        ...coreRoles.map((r) => own('core', r)),
        own('mmtel', mmtel!),
        own('hss', hss),
        own('xdms', xdms),
        { label: 'redis', pids: () => processTree(redisPid) },
        { label: 'postgresql', pids: () => processTree(pgPid) },
      ],
      entry: 'edge',
    };
  }

  /** A SIPp run from the `ua` node to `entry`, in a folder of its own under `dir` (SIPp's files are found by folder). */
  private async sipp(entry: string, opts: { scenario: string; localPort: number; calls: number; rate: number; csv: string; dir: string }): Promise<SippResult> {
    const ua = this.net.node('ua');
    const outDir = await mkdtemp(join(opts.dir, 'sipp-'));
    return runSipp({
      scenario: opts.scenario,
      address: ua.address,
      prefix: ['ip', 'netns', 'exec', ua.namespace],
      remote: `${this.net.node(entry).address}:${SIP_PORT}`,
      localPort: opts.localPort,
      calls: opts.calls,
      rate: opts.rate,
      limit: 500,
      timeoutSec: Math.ceil(opts.calls / opts.rate) + 60,
      recvTimeoutMs: 10_000,
      traceMessages: false,
      outDir,
      keys: { expires: '3600' },
      extraArgs: [...SOCKET_BUFFER, '-inf', opts.csv],
    });
  }

  private async usersCsv(name: string, range: { from: number; count: number }): Promise<string> {
    const file = join(this.work, name);
    const lines = Array.from({ length: range.count }, (_, k) => {
      const i = range.from + k;
      return `${number(i)};${DOMAIN};${number(i)}@${DOMAIN};${password(i)}`;
    });
    await writeFile(file, `SEQUENTIAL\n${lines.join('\n')}\n`);
    return file;
  }

  async runShape(shape: Shape, index: number): Promise<ShapeResult> {
    const users = usersOf(this.cfg, index);
    const dir = join(this.work, shape);
    await mkdir(dir, { recursive: true });
    log(`${shape}: starting`);
    const { groups, entry } = await this.deploy(shape);
    const reg = join(BENCH_IMS, 'reg-auth.xml');
    let uas: SippUas | undefined;
    try {
      // Warm the processes up (JIT, connection pools) on the first 10 % of the users, unmeasured.
      const warm = Math.max(1, Math.floor(users.reg.count / 10));
      const warmCsv = await this.usersCsv(`${shape}-warm.csv`, { from: users.reg.from, count: warm });
      await this.sipp(entry, { scenario: reg, localPort: REG_PORT, calls: warm, rate: this.cfg.regRate, csv: warmCsv, dir });
      await sleep(PAUSE_MS);
      const regCsv = await this.usersCsv(`${shape}-reg.csv`, { from: users.reg.from + warm, count: users.reg.count - warm });
      const regOps = users.reg.count - warm;
      log(`${shape}: ${regOps} registrations at ${this.cfg.regRate}/s`);
      const regResult = await measure(groups, () => this.sipp(entry, { scenario: reg, localPort: REG_PORT, calls: regOps, rate: this.cfg.regRate, csv: regCsv, dir }), regOps);
      log(`${shape}: registrations ${regResult.successful}/${regOps}, µs CPU each: ${brief(regResult)}`);

      const [callersCsv, calleesCsv] = await Promise.all([this.usersCsv(`${shape}-callers.csv`, users.callers), this.usersCsv(`${shape}-callees.csv`, users.callees)]);
      // Callers and callees together at the measured registration rate, which the shape sustained.
      const preRate = Math.max(1, Math.floor(this.cfg.regRate / 2));
      const pre = await Promise.all([
        this.sipp(entry, { scenario: reg, localPort: CALLER_PORT, calls: users.callers.count, rate: preRate, csv: callersCsv, dir }),
        this.sipp(entry, { scenario: reg, localPort: CALLEE_PORT, calls: users.callees.count, rate: preRate, csv: calleesCsv, dir }),
      ]);
      for (const p of pre) {
        if (p.stats.successful !== users.callers.count) throw new Error(`${shape}: registering callers and callees failed: ${JSON.stringify({ ...p.stats, raw: undefined })}`);
      }
      const ua = this.net.node('ua');
      uas = await startSippUas({
        scenario: join(BENCH_IMS, 'call-uas.xml'),
        address: ua.address,
        prefix: ['ip', 'netns', 'exec', ua.namespace],
        localPort: CALLEE_PORT,
        calls: Infinity,
        timeoutSec: 3600,
        outDir: await mkdtemp(join(dir, 'uas-')),
        traceMessages: false,
        extraArgs: SOCKET_BUFFER,
      });
      const callsFile = join(this.work, `${shape}-calls.csv`);
      const lines = Array.from({ length: this.cfg.callOps }, (_, k) => `${number(users.callers.from + (k % users.callers.count))};${number(users.callees.from + (k % users.callees.count))};${DOMAIN}`);
      await writeFile(callsFile, `SEQUENTIAL\n${lines.join('\n')}\n`);
      await sleep(PAUSE_MS);
      log(`${shape}: ${this.cfg.callOps} calls at ${this.cfg.callRate}/s`);
      const call = join(BENCH_IMS, 'call-uac.xml');
      const callResult = await measure(groups, () => this.sipp(entry, { scenario: call, localPort: CALLER_PORT, calls: this.cfg.callOps, rate: this.cfg.callRate, csv: callsFile, dir }), this.cfg.callOps);
      log(`${shape}: calls ${callResult.successful}/${this.cfg.callOps}, µs CPU each: ${brief(callResult)}`);
      return { shape, reg: regResult, call: callResult };
    } finally {
      await uas?.stop().catch(() => undefined);
      await this.stopAll();
    }
  }
}

const SHAPE_TITLE: Record<Shape, string> = { aio: 'all-in-one', core1: '1 core', core2: '2 cores' };
const ROWS = ['all-in-one', 'edge', 'core', 'mmtel', 'hss', 'xdms', 'redis', 'postgresql'];

function table(results: readonly ShapeResult[], phase: 'reg' | 'call'): string {
  const f = (x: number | undefined): string => (x === undefined ? '' : x.toFixed(0));
  const head = `| µs CPU per ${phase === 'reg' ? 'registration' : 'call'} | ${results.map((r) => SHAPE_TITLE[r.shape]).join(' | ')} |`;
  const rule = `|---|${results.map(() => '---:').join('|')}|`;
  const rows = ROWS.filter((row) => results.some((r) => r[phase].usPerOp.has(row))).map(
    (row) => `| ${row} | ${results.map((r) => f(r[phase].usPerOp.get(row))).join(' | ')} |`,
  );
  const total = `| **total** | ${results.map((r) => `**${f(r[phase].totalUsPerOp)}**`).join(' | ')} |`;
  const outcome = `| successful / offered | ${results.map((r) => `${r[phase].successful} / ${r[phase].ops}`).join(' | ')} |`;
  const rate = `| achieved /s | ${results.map((r) => r[phase].achieved.toFixed(1)).join(' | ')} |`;
  return [head, rule, ...rows, total, outcome, rate].join('\n');
}

async function main(): Promise<void> {
  applyFlags(process.argv.slice(2));
  const cfg = readConfig();
  if (process.getuid?.() !== 0) fail('needs root: every process runs in a network namespace of its own (ip netns)');
  const bench = new Bench(cfg);
  const results: ShapeResult[] = [];
  const stop = (): void => void bench.tearDown().finally(() => process.exit(130));
  process.once('SIGINT', stop);
  try {
    await bench.setUp();
    for (const [i, shape] of cfg.shapes.entries()) results.push(await bench.runShape(shape, i));
  } finally {
    await bench.tearDown();
  }
  const stamp = new Date().toISOString().replace(FILE_NAME_UNSAFE, '-');
  const cpuModel = cpus()[0]?.model ?? '?';
  const report = [
    `# bench:cluster ${new Date().toISOString()}`,
    '',
    `Machine: ${cpus().length} × ${cpuModel}, Linux ${release()}, node ${process.version}, SIPp ${sippVersion()}. Nothing pinned.`,
    `Registrations: ${cfg.regOps} per shape (the first 10 % unmeasured warm-up) at ${cfg.regRate}/s, each REGISTER, 401, REGISTER, 200.`,
    `Calls: ${cfg.callOps} per shape at ${cfg.callRate}/s between ${cfg.callPairs} pairs, each INVITE to BYE through edge, core, MMTel, core, edge.`,
    'CPU: on-CPU time of every thread of each process (schedstat) over the SIPp run, divided by the successful operations;',
    'a row with several processes (2 cores, PostgreSQL backends) is their sum. Redis runs with appendonly yes (everysec).',
    '',
    table(results, 'reg'),
    '',
    table(results, 'call'),
    '',
  ].join('\n');
  await mkdir(join(REPO_ROOT, 'bench', 'results'), { recursive: true });
  const file = join(REPO_ROOT, 'bench', 'results', `cluster-${stamp}.md`);
  await writeFile(file, report);
  console.log(`\n${report}\nwritten to ${file}`);
}

await main();
