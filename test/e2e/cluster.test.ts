/**
 * Cluster mode end to end (issue 7): 2 edges, 2 cores, an MMTel AS, the HSS, the XDMS and the
 * portal, each a `tidewater <role>` process in a network namespace of its own with a real
 * address, on a private Redis (append-only) and PostgreSQL the test starts on the network.
 * 2,000 subscribers are imported into PostgreSQL; SIPp registers them through both edges and
 * calls between users on different edges, every call going edge -> core -> MMTel -> core -> edge.
 * Then a core is killed (-9), drained (SIGTERM) and cut off the network during a steady load of
 * calls and re-registrations, and the load must go on through the other core.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Cluster } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_KEY_HEADER } from '../../src/hss/http.js';
import { openRedisStores, type RedisStores } from '../../src/storage/redis/index.js';
import { startRole, type RoleProcess } from '../harness/cluster.js';
import { REPO_ROOT, sippPidIn, tidewaterCli } from '../harness/ims.js';
import { createTestNetwork, type TestNetwork } from '../harness/netns.js';
import type { PostgresCluster } from '../harness/postgres.js';
import type { RedisServer } from '../harness/redis.js';
import { runSipp, type SippOptions, type SippResult } from '../harness/sipp.js';
import { requireTool } from '../harness/tools.js';

const DOMAIN = 'example.com';
const API_KEY = 'cluster-e2e-operator-key-0123456789';
const USERS = 2000;
const FIRST_NUMBER = 6_505_550_000;
/** Callers register and call from ua1:CALLER_PORT through edge1; callees answer on ua2:CALLEE_PORT through edge2. */
const CALLERS = { from: 0, count: 800 } as const;
const CALLEES = { from: 800, count: 800 } as const;
/** The rest re-register during the load tests: half from ua1 through edge1, half from ua2 through edge2. */
const REREG_1 = { from: 1600, count: 200 } as const;
const REREG_2 = { from: 1800, count: 200 } as const;
const CALLER_PORT = 15060;
const CALLEE_PORT = 15062;
const REREG_PORT = 15064;
const SIP_PORT = 5060;
const HSS_PORT = 8888;
const HSS_PROV_PORT = 8889;
const XDMS_PORT = 7888;
const PORTAL_PORT = 8080;
const BENCH = join(REPO_ROOT, 'bench', 'ims');

const number = (i: number) => String(FIRST_NUMBER + i);
const password = (i: number) => `pw-${(i * 7919).toString(36)}-cluster`;

let net: TestNetwork;
let redis: RedisServer | undefined;
/** The Redis URLs every node is given: one server, or the seed nodes of a Redis Cluster. */
let redisUrls: readonly string[];
let redisCluster = false;
let pg: PostgresCluster;
let work: string;
let shared: RedisStores;
const roles = new Map<string, RoleProcess>();
let callee: { result: Promise<SippResult>; stop(): Promise<SippResult> } | undefined;

function role(name: string): RoleProcess {
  const r = roles.get(name);
  if (!r) throw new Error(`no role ${name}`);
  return r;
}

function sipUri(node: string): string {
  return `sip:${net.node(node).address}:${SIP_PORT};transport=tcp`;
}

/** What every node of the deployment is configured with. */
function common(): Record<string, unknown> {
  return { domain: DOMAIN, apiKey: API_KEY, postgresUrl: pg.url, redisUrl: redisUrls, redisCluster, redisPrefix: 'twc:', log: { level: 'warn' }, shutdownGraceMs: 8000 };
}

function hssUrl(): string {
  return `http://${net.node('hss').address}:${HSS_PORT}`;
}

function coreConfig(): Record<string, unknown> {
  return { ...common(), sipPort: SIP_PORT, hssUrl: hssUrl(), mmtelUris: [sipUri('mmtel')], trustedPeers: [net.subnet] };
}

function edgeConfig(): Record<string, unknown> {
  return { ...common(), sipPort: SIP_PORT, hssUrl: hssUrl(), coreUris: [sipUri('core1'), sipUri('core2')], trustedPeers: [net.subnet] };
}

/** `SEQUENTIAL` injection file of reg-auth.xml for users `from`..`from+count-1`. */
async function usersCsv(name: string, range: { from: number; count: number }): Promise<string> {
  const file = join(work, name);
  const lines = Array.from({ length: range.count }, (_, k) => {
    const i = range.from + k;
    return `${number(i)};${DOMAIN};${number(i)}@${DOMAIN};${password(i)}`;
  });
  await writeFile(file, `SEQUENTIAL\n${lines.join('\n')}\n`);
  return file;
}

/** `SEQUENTIAL` injection file of call-uac.xml: caller k calls callee k. */
async function callsCsv(name: string, count: number): Promise<string> {
  const file = join(work, name);
  const lines = Array.from({ length: count }, (_, k) => `${number(CALLERS.from + (k % CALLERS.count))};${number(CALLEES.from + (k % CALLEES.count))};${DOMAIN}`);
  await writeFile(file, `SEQUENTIAL\n${lines.join('\n')}\n`);
  return file;
}

/** SIPp inside `node`, sending to `edge`. */
function sippIn(node: string, edge: string, opts: Omit<SippOptions, 'address' | 'prefix' | 'remote'>): Promise<SippResult> {
  return runSipp({
    ...opts,
    address: net.node(node).address,
    prefix: ['ip', 'netns', 'exec', net.node(node).namespace],
    remote: `${net.node(edge).address}:${SIP_PORT}`,
    traceMessages: opts.traceMessages ?? false,
  });
}

/** Registers `range` from `node:port` through `edge`, `rate` per second; every registration must succeed. */
async function register(node: string, edge: string, port: number, range: { from: number; count: number }, rate: number, expires = 3600): Promise<SippResult> {
  const csv = await usersCsv(`users-${range.from}.csv`, range);
  return sippIn(node, edge, {
    scenario: join(BENCH, 'reg-auth.xml'),
    localPort: port,
    calls: range.count,
    rate,
    limit: 200,
    timeoutSec: 120,
    keys: { expires: String(expires) },
    extraArgs: ['-inf', csv],
  });
}

/** The SIPp callee answering every call on ua2:CALLEE_PORT, until stopped. */
async function startCallee(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'tw-cluster-uas-'));
  const result = sippIn('ua2', 'edge2', { scenario: join(BENCH, 'call-uas.xml'), localPort: CALLEE_PORT, calls: Infinity, timeoutSec: 900, outDir: dir });
  for (let i = 0; i < 100 && (await sippPidIn(dir)) === undefined; i++) await new Promise((r) => setTimeout(r, 100));
  // SIPp binds right after it starts; give it the moment it takes.
  await new Promise((r) => setTimeout(r, 300));
  callee = {
    result,
    stop: async () => {
      const pid = await sippPidIn(dir);
      if (pid !== undefined) process.kill(pid, 'SIGTERM');
      return result;
    },
  };
}

/** `count` calls from ua1 (through edge1) to callees on ua2 (through edge2), `rate` per second. */
async function calls(count: number, rate: number, name = 'calls'): Promise<SippResult> {
  const csv = await callsCsv(`${name}.csv`, count);
  return sippIn('ua1', 'edge1', {
    scenario: join(BENCH, 'call-uac.xml'),
    localPort: CALLER_PORT,
    calls: count,
    rate,
    limit: 100,
    timeoutSec: 120,
    extraArgs: ['-inf', csv],
  });
}

/**
 * What SIPp got instead of what it expected, counted by status line. A 200 that reaches a call
 * SIPp has already completed is left out: when SIPp's retransmission of a request crosses the
 * answer, the server transaction answers the retransmission with the same 200 again, as it must
 * (RFC 3261 §17.2.2), and it arrives after the scenario has ended.
 */
function unexpectedAnswers(res: SippResult): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const m of res.errors.matchAll(/(Dead call \S+ \(successful\), )?received 'SIP\/2\.0 (\d{3} [^\r\n]*)/g)) {
    if (m[1] !== undefined && m[2]!.startsWith('200 ')) continue;
    counts[m[2]!] = (counts[m[2]!] ?? 0) + 1;
  }
  return counts;
}

function describeRun(res: SippResult): string {
  const { raw: _raw, ...stats } = res.stats;
  return `exit ${res.exitCode}: ${JSON.stringify(stats)}\nunexpected answers: ${JSON.stringify(unexpectedAnswers(res))}\n${res.errors.slice(-1500)}\n${res.stderr.slice(-500)}`;
}

function serverOutput(): string {
  return [...roles.values()].map((r) => `--- ${r.name} (${r.role}) ---\n${r.output().slice(-2000)}`).join('\n');
}

/**
 * The users of `range` that are not registered: with no live binding in the shared registration
 * store, or not REGISTERED according to the HSS (its signalling API's reg-data, as a core reads it).
 */
async function unregisteredOf(range: { from: number; count: number }): Promise<string[]> {
  const missing: string[] = [];
  const now = Date.now();
  const check = async (k: number): Promise<void> => {
    const aor = `sip:${number(range.from + k)}@${DOMAIN}`;
    const record = await shared.registrations.get(aor);
    if (!record || !record.bindings.some((b) => b.expiresAt > now)) {
      missing.push(`${aor} (no binding)`);
      return;
    }
    const res = await fetch(`${hssUrl()}/impu/${encodeURIComponent(aor)}/reg-data`, { headers: { accept: 'application/json', [API_KEY_HEADER]: API_KEY } });
    const state = res.status === 200 ? ((await res.json()) as { 'registration-state'?: string })['registration-state'] : `HTTP ${res.status}`;
    if (state !== 'REGISTERED') missing.push(`${aor} (HSS: ${state})`);
  };
  // 20 at a time: quick, and light on the HSS the load tests share.
  for (let k = 0; k < range.count; k += 20) await Promise.all(Array.from({ length: Math.min(20, range.count - k) }, (_, j) => check(k + j)));
  return missing.sort();
}

const ALL = { from: 0, count: USERS } as const;

/** Starts the network, the stores (one Redis, or a 3-master Redis Cluster) and every role, and imports the subscribers. */
async function setUp(store: 'redis' | 'redis-cluster'): Promise<void> {
  requireTool('sipp', 'sip-tester');
  work = await mkdtemp(join(tmpdir(), 'tw-cluster-'));
  net = await createTestNetwork({ nodes: ['hss', 'xdms', 'portal', 'mmtel', 'core1', 'core2', 'edge1', 'edge2', 'ua1', 'ua2'] });
  if (store === 'redis-cluster') {
    const [cluster, postgres] = await Promise.all([net.startRedisCluster(3), net.startPostgres()]);
    [redis, redisUrls, redisCluster, pg] = [undefined, cluster.urls, true, postgres];
  } else {
    const [server, postgres] = await Promise.all([net.startRedis(), net.startPostgres()]);
    [redis, redisUrls, redisCluster, pg] = [server, [server.url], false, postgres];
  }
  await tidewaterCli(['migrate', '--postgres-url', pg.url]);
  const csv = join(work, 'subscribers.csv');
  await writeFile(csv, Array.from({ length: USERS }, (_, i) => `${number(i)},${password(i)}`).join('\n') + '\n');
  await tidewaterCli(['subscriber', 'import', csv, '--postgres-url', pg.url, '--data-dir', work]);
  shared = await openRedisStores(redisUrls, { prefix: 'twc:', cluster: redisCluster });
  const start = async (node: string, r: Parameters<typeof startRole>[2], config: Record<string, unknown>) => roles.set(node, await startRole(net, node, r, config));
  await Promise.all([
    start('hss', 'hss', { ...common(), hssPort: HSS_PORT, hssProvisioningPort: HSS_PROV_PORT }),
    start('xdms', 'xdms', { ...common(), xdmsPort: XDMS_PORT }),
  ]);
  const xdmsUrl = `http://${net.node('xdms').address}:${XDMS_PORT}`;
  await Promise.all([
    start('mmtel', 'mmtel', { ...common(), sipPort: SIP_PORT, xdmsUrl }),
    start('portal', 'portal', { ...common(), portalPort: PORTAL_PORT, hssProvisioningUrl: `http://${net.node('hss').address}:${HSS_PROV_PORT}`, xdmsUrl }),
    start('core1', 'core', coreConfig()),
    start('core2', 'core', coreConfig()),
  ]);
  await Promise.all([start('edge1', 'edge', edgeConfig()), start('edge2', 'edge', edgeConfig())]);
}

async function tearDown(): Promise<void> {
  await callee?.stop().catch(() => undefined);
  callee = undefined;
  await Promise.all([...roles.values()].map((r) => r.dispose().catch(() => undefined)));
  await shared?.close();
  await net?.destroy();
  if (work) await rm(work, { recursive: true, force: true });
  roles.clear();
}

/** Registration of every subscriber through both edges, then calls across the edges. */
function registrationAndCallTests(): void {
  it('registers 2,000 imported subscribers through both edges', async () => {
    const results = await Promise.all([
      register('ua1', 'edge1', CALLER_PORT, CALLERS, 20),
      register('ua2', 'edge2', CALLEE_PORT, CALLEES, 20),
      register('ua1', 'edge1', REREG_PORT, REREG_1, 5),
      register('ua2', 'edge2', REREG_PORT, REREG_2, 5),
    ]);
    for (const res of results) expect(res.stats.failed, describeRun(res) + serverOutput()).toBe(0);
    expect(results.reduce((n, r) => n + r.stats.successful, 0)).toBe(USERS);
    expect(await unregisteredOf(ALL)).toEqual([]);
  }, 180_000);

  it('calls between users on different edges go through both cores and the MMTel AS', async () => {
    await startCallee();
    const res = await calls(200, 40);
    expect(res.stats.failed, describeRun(res) + serverOutput()).toBe(0);
    expect(res.stats.successful).toBe(200);
  }, 120_000);

}

describe('cluster: edges, cores, MMTel, HSS, XDMS and portal as separate processes, on one Redis', () => {
  beforeAll(() => setUp('redis'), 240_000);
  afterAll(tearDown, 120_000);

  registrationAndCallTests();

  it('a core killed with -9 during calls and re-registrations: registrations all kept, the load goes on through the other core', async () => {
    const load = calls(600, 30, 'calls-kill');
    const rereg = Promise.all([register('ua1', 'edge1', REREG_PORT, REREG_1, 10), register('ua2', 'edge2', REREG_PORT, REREG_2, 10)]);
    await new Promise((r) => setTimeout(r, 5000));
    role('core1').signal('SIGKILL');
    await role('core1').exited();
    const [res, reregs] = await Promise.all([load, rereg]);
    // Only calls whose set-up was on core1 at that moment may fail (the cores keep no call state afterwards).
    expect(res.stats.failed, describeRun(res) + serverOutput()).toBeLessThanOrEqual(5);
    expect(res.stats.successful).toBeGreaterThanOrEqual(595);
    for (const r of reregs) expect(r.stats.failed, describeRun(r)).toBeLessThanOrEqual(2);
    expect(await unregisteredOf(ALL)).toEqual([]);
    await role('core1').start();
    // A sample of the registered users can still be called, now through either core.
    const sample = await calls(100, 50, 'calls-after-kill');
    expect(sample.stats.failed, describeRun(sample) + serverOutput()).toBe(0);
  }, 180_000);

  it('a core stopped with SIGTERM during calls: not one call fails', async () => {
    const load = calls(600, 30, 'calls-term');
    await new Promise((r) => setTimeout(r, 5000));
    role('core2').signal('SIGTERM');
    const status = await role('core2').exited();
    const res = await load;
    expect(status.code, role('core2').output()).toBe(0);
    expect(role('core2').output()).toMatch(/draining/);
    expect(res.stats.failed, describeRun(res) + serverOutput()).toBe(0);
    expect(res.stats.successful).toBe(600);
    await role('core2').start();
  }, 180_000);

  it('a core cut off the network behaves like a killed one for the rest of the cluster', async () => {
    const load = calls(600, 30, 'calls-cut');
    await new Promise((r) => setTimeout(r, 5000));
    await net.linkDown('core1');
    const res = await load;
    await net.linkUp('core1');
    expect(res.stats.failed, describeRun(res) + serverOutput()).toBeLessThanOrEqual(5);
    expect(res.stats.successful).toBeGreaterThanOrEqual(595);
    expect(await unregisteredOf(ALL)).toEqual([]);
  }, 180_000);

  it('Redis restarting during calls and re-registrations: what fails meanwhile is answered at once, then everything is back by itself, no registration lost', async () => {
    const load = calls(300, 20, 'calls-redis');
    const rereg = Promise.all([register('ua1', 'edge1', REREG_PORT, REREG_1, 10), register('ua2', 'edge2', REREG_PORT, REREG_2, 10)]);
    await new Promise((r) => setTimeout(r, 3000));
    await redis!.restart();
    const [res, regs] = await Promise.all([load, rereg]);
    // What failed while Redis was away was answered at once with a server error (the cores'
    // 503s, which the edge turns into 500, RFC 3261 §16.7), nothing hung; the load went on.
    for (const run of [res, ...regs]) {
      expect(run.stats.timeouts, describeRun(run)).toBe(0);
      expect(Object.keys(unexpectedAnswers(run)).filter((answer) => !answer.startsWith('50')), describeRun(run)).toEqual([]);
    }
    expect(res.stats.successful, describeRun(res) + serverOutput()).toBeGreaterThan(200);
    expect(await unregisteredOf(ALL)).toEqual([]);
    const after = await calls(100, 50, 'calls-after-redis');
    expect(after.stats.failed, describeRun(after) + serverOutput()).toBe(0);
    const again = await register('ua1', 'edge1', REREG_PORT, REREG_1, 20);
    expect(again.stats.failed, describeRun(again)).toBe(0);
  }, 180_000);

  it('PostgreSQL restarting during re-registrations: the HSS answers again by itself, no subscriber or registration lost', async () => {
    const rereg = register('ua2', 'edge2', REREG_PORT, REREG_2, 10);
    await new Promise((r) => setTimeout(r, 3000));
    await pg.restart();
    const during = await rereg;
    expect(during.stats.timeouts, describeRun(during)).toBe(0);
    expect(Object.keys(unexpectedAnswers(during)).filter((answer) => !answer.startsWith('50')), describeRun(during)).toEqual([]);
    expect(await unregisteredOf(ALL)).toEqual([]);
    const again = await register('ua2', 'edge2', REREG_PORT, REREG_2, 20);
    expect(again.stats.failed, describeRun(again) + serverOutput()).toBe(0);
    const after = await calls(100, 50, 'calls-after-postgres');
    expect(after.stats.failed, describeRun(after) + serverOutput()).toBe(0);
  }, 180_000);
});

describe('cluster: the same deployment on a 3-master Redis Cluster', () => {
  beforeAll(() => setUp('redis-cluster'), 240_000);
  afterAll(tearDown, 120_000);

  registrationAndCallTests();

  it('the registration records are spread over all three masters', async () => {
    const masters = (shared.client as Cluster).nodes('master');
    expect(masters).toHaveLength(3);
    const records = await Promise.all(masters.map(async (m) => (await m.keys('twc:{*}:r:*')).length));
    // 2,000 identities, 64 hash-tagged buckets spread over the slots of 3 masters.
    for (const n of records) expect(n, JSON.stringify(records)).toBeGreaterThan(300);
    expect(records.reduce((a, b) => a + b, 0)).toBe(USERS);
  });
});
