/**
 * Real Redis for tests: the one at REDIS_URL (or 127.0.0.1:6379) when it answers PING,
 * otherwise a private `redis-server` on a free loopback port, without persistence, in a
 * temporary directory, stopped by `dispose()`. Also a private server a test may kill and
 * restart, and a private Redis Cluster of several masters. Private servers bind to loopback
 * unless given the address of a test network (see test/harness/netns.ts).
 *
 * Runs never collide on a shared Redis: each test takes its own random key prefix
 * ({@link testPrefix}) and deletes its keys afterwards ({@link deleteKeys}).
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Cluster, Redis } from 'ioredis';
import type { RedisKeyspace } from '../../src/storage/redis/index.js';
import type { Binding } from '../../src/storage/registration-store.js';
import { freePort, requireTool, startProcess, type RunningProcess } from './tools.js';

const LOOPBACK = '127.0.0.1';
const DEFAULT_URL = `redis://${LOOPBACK}:6379`;

/** A Redis the tests may use; `dispose()` stops it if the harness started it. */
export interface RedisEndpoint {
  readonly url: string;
  dispose(): Promise<void>;
}

/** A `redis-server` this harness started. */
export interface RedisServer extends RedisEndpoint {
  readonly port: number;
  /** Kills the server (SIGKILL: no shutdown, like a crash). */
  kill(): Promise<void>;
  /** Shuts the server down cleanly (SIGTERM: a persistent one syncs its append-only file). */
  stop(): Promise<void>;
  /** Starts it again on the same address, port and directory (no-op while it runs). */
  start(): Promise<void>;
  /** {@link RedisServer.stop} if it runs, then {@link RedisServer.start}. */
  restart(): Promise<void>;
}

/** Where and how a private server runs. */
export interface RedisServerOptions {
  /** Address to bind and announce (default 127.0.0.1), e.g. a test network's root address. */
  readonly host?: string;
  /**
   * Append-only file on (default off), so data survives {@link RedisServer.restart} and even
   * {@link RedisServer.kill}: Redis writes each command to the file before it replies.
   */
  readonly persistent?: boolean;
}

/** True when a Redis answers PING at `url` within a second. */
export async function redisAnswers(url: string): Promise<boolean> {
  const client = new Redis(url, {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    connectTimeout: 1000,
    retryStrategy: () => null,
  });
  client.on('error', () => {});
  try {
    await client.connect();
    return (await client.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    client.disconnect();
  }
}

function redisServerPath(): string {
  return requireTool('redis-server', 'redis-server');
}

function makeTempDir(): string {
  return mkdtempSync(path.join(tmpdir(), 'tidewater-redis-'));
}

function serverArgs(port: number, dir: string, extra: readonly string[], options: RedisServerOptions): string[] {
  const appendOnly = options.persistent === true ? 'yes' : 'no';
  const host = options.host ?? LOOPBACK;
  // Protected mode turns away every client but loopback's while there is no password.
  const protectedMode = host === LOOPBACK ? 'yes' : 'no';
  return ['--port', String(port), '--bind', host, '--protected-mode', protectedMode, '--dir', dir, '--save', '', '--appendonly', appendOnly, ...extra];
}

async function spawnServer(port: number, dir: string, extra: readonly string[] = [], options: RedisServerOptions = {}): Promise<RunningProcess> {
  return startProcess(redisServerPath(), serverArgs(port, dir, extra, options), { readyLine: /Ready to accept connections/ });
}

/**
 * Starts a private `redis-server` on a free port of loopback, or of `options.host`: a port
 * free on 127.0.0.1 is free on a test network's address too, as nothing else binds there.
 */
export async function startRedisServer(extra: readonly string[] = [], options: RedisServerOptions = {}): Promise<RedisServer> {
  redisServerPath();
  const dir = makeTempDir();
  const port = await freePort('tcp');
  let proc: RunningProcess | undefined = await spawnServer(port, dir, extra, options);
  const server: RedisServer = {
    url: `redis://${options.host ?? LOOPBACK}:${port}`,
    port,
    kill: async () => {
      await proc?.stop(0);
      proc = undefined;
    },
    stop: async () => {
      await proc?.stop();
      proc = undefined;
    },
    start: async () => {
      proc ??= await spawnServer(port, dir, extra, options);
    },
    restart: async () => {
      await server.stop();
      await server.start();
    },
    dispose: async () => {
      await proc?.stop();
      proc = undefined;
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return server;
}

/**
 * The Redis at REDIS_URL (or 127.0.0.1:6379) if it answers PING, else a private server.
 * Throws, naming the Debian package `redis-server`, when neither is possible.
 */
export async function ensureRedis(): Promise<RedisEndpoint> {
  const url = process.env.REDIS_URL ?? DEFAULT_URL;
  if (await redisAnswers(url)) return { url, dispose: async () => {} };
  return startRedisServer();
}

/** A fresh key prefix for one test: `tw-test:<random>:`. */
export function testPrefix(): string {
  return `tw-test:${randomBytes(6).toString('hex')}:`;
}

/** Every key under `prefix` on one node (SCAN, not KEYS). */
async function nodeKeys(node: Redis, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await node.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    keys.push(...batch);
    cursor = next;
  } while (cursor !== '0');
  return keys;
}

/** Every key under `prefix`, on a single Redis or on every master of a Cluster. */
export async function listKeys(client: Redis | Cluster, prefix: string): Promise<string[]> {
  if (!(client instanceof Cluster)) return nodeKeys(client, prefix);
  const perNode = await Promise.all(client.nodes('master').map((node) => nodeKeys(node, prefix)));
  return perNode.flat();
}

/** Deletes every key under `prefix` (one key per command, so it works on a Cluster too). */
export async function deleteKeys(client: Redis | Cluster, prefix: string): Promise<void> {
  await Promise.all((await listKeys(client, prefix)).map((key) => client.del(key)));
}

/** What one registration bucket's indexes hold, or should hold. */
interface BucketIndexes {
  readonly expiry: string[];
  readonly flows: string[];
  readonly aors: string[];
  readonly counts: string;
}

async function expectedIndexes(client: Redis | Cluster, recordKeys: string[], recordPrefix: string): Promise<BucketIndexes> {
  const expiry: string[] = [];
  const flows: string[] = [];
  const aors: string[] = [];
  let bindings = 0;
  for (const key of recordKeys) {
    const aor = key.slice(recordPrefix.length);
    const record = await client.hgetall(key);
    const stored = JSON.parse(record.b ?? '[]') as Binding[];
    const flowIds = [...new Set(stored.flatMap((b) => (b.flowId === undefined ? [] : [b.flowId])))];
    if (Number(record.n) !== stored.length || record.f !== flowIds.join('\n')) expiry.push(`(record ${key} has n/f out of step)`);
    stored.forEach((b, i) => expiry.push(`${aor}\n${i}@${b.expiresAt}`));
    flows.push(...flowIds.map((f) => `${f}\n${aor}`));
    aors.push(aor);
    bindings += stored.length;
  }
  return { expiry: expiry.sort(), flows: flows.sort(), aors: aors.sort(), counts: `${aors.length}/${bindings}` };
}

async function actualIndexes(client: Redis | Cluster, bucket: RedisKeyspace['buckets'][number]): Promise<BucketIndexes> {
  const scored = await client.zrange(bucket.expiry, 0, -1, 'WITHSCORES');
  const expiry: string[] = [];
  for (let i = 0; i < scored.length; i += 2) expiry.push(`${scored[i]}@${scored[i + 1]}`);
  const [aors, bindings] = await client.hmget(bucket.counts, 'aors', 'bindings');
  return {
    expiry: expiry.sort(),
    flows: (await client.zrange(bucket.flows, 0, -1)).sort(),
    aors: (await client.zrange(bucket.aors, 0, -1)).sort(),
    counts: `${Number(aors ?? 0)}/${Number(bindings ?? 0)}`,
  };
}

/**
 * Recomputes every registration bucket's expiry, flow and AoR indexes and counters from the
 * records stored under `keyspace`, and lists where Redis holds something else (empty: exact).
 */
export async function indexProblems(client: Redis | Cluster, keyspace: RedisKeyspace): Promise<string[]> {
  const keys = await listKeys(client, keyspace.prefix);
  const problems: string[] = [];
  for (const bucket of keyspace.buckets) {
    const recordKeys = keys.filter((k) => k.startsWith(bucket.recordPrefix));
    for (const key of recordKeys) {
      const aor = key.slice(bucket.recordPrefix.length);
      if (keyspace.bucketOf(aor) !== bucket) problems.push(`${key}: stored in bucket ${bucket.index}, belongs elsewhere`);
    }
    const expected = await expectedIndexes(client, recordKeys, bucket.recordPrefix);
    const actual = await actualIndexes(client, bucket);
    for (const field of ['expiry', 'flows', 'aors', 'counts'] as const) {
      const [want, got] = [JSON.stringify(expected[field]), JSON.stringify(actual[field])];
      if (want !== got) problems.push(`bucket ${bucket.index} ${field}: expected ${want}, found ${got}`);
    }
  }
  return problems;
}

/** A Redis Cluster this harness started; `urls` are its masters. */
export interface RedisClusterEndpoint {
  readonly urls: readonly string[];
  /** Kills master `index` (SIGKILL); with no replicas its slots are then uncovered. */
  killNode(index: number): Promise<void>;
  dispose(): Promise<void>;
}

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`Redis Cluster: ${what} not reached within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/**
 * Starts `masters` cluster-enabled servers (no replicas), gives each a contiguous range of the
 * 16384 slots, as `redis-cli --cluster create` would, joins them and waits for `cluster_state:ok`.
 * They bind to `options.host` (default loopback) and announce it, so that clients in a test
 * network's namespaces follow MOVED redirects and CLUSTER SLOTS to addresses they can reach.
 */
export async function startRedisCluster(masters = 3, options: Pick<RedisServerOptions, 'host'> = {}): Promise<RedisClusterEndpoint> {
  const host = options.host ?? LOOPBACK;
  redisServerPath();
  const dir = makeTempDir();
  const procs: RunningProcess[] = [];
  const admins: Redis[] = [];
  const dispose = async (): Promise<void> => {
    for (const admin of admins) admin.disconnect();
    await Promise.all(procs.map((p) => p.stop()));
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const ports: number[] = [];
    const busPorts: number[] = [];
    const taken = new Set<number>();
    const distinctPort = async (): Promise<number> => {
      for (;;) {
        const port = await freePort('tcp');
        if (taken.has(port)) continue;
        taken.add(port);
        return port;
      }
    };
    for (let i = 0; i < masters; i++) {
      const port = await distinctPort();
      const busPort = await distinctPort();
      ports.push(port);
      busPorts.push(busPort);
      procs.push(
        await spawnServer(port, dir, [
          '--cluster-enabled', 'yes',
          '--cluster-config-file', `nodes-${port}.conf`,
          '--cluster-port', String(busPort),
          '--cluster-node-timeout', '2000',
          '--cluster-announce-ip', host,
        ], { host }),
      );
      const admin = new Redis({ host, port, lazyConnect: true, maxRetriesPerRequest: 0 });
      admin.on('error', () => {});
      await admin.connect();
      admins.push(admin);
    }
    for (let i = 0; i < masters; i++) {
      const low = Math.floor((i * 16384) / masters);
      const high = Math.floor(((i + 1) * 16384) / masters) - 1;
      await admins[i]!.call('CLUSTER', 'ADDSLOTSRANGE', String(low), String(high));
      if (i > 0) await admins[0]!.call('CLUSTER', 'MEET', host, String(ports[i]), String(busPorts[i]));
    }
    await waitFor('cluster_state:ok on every node', async () => {
      const infos = await Promise.all(admins.map((a) => a.call('CLUSTER', 'INFO') as Promise<string>));
      return infos.every((info) => info.includes('cluster_state:ok') && info.includes(`cluster_known_nodes:${masters}`));
    });
    return {
      urls: ports.map((port) => `redis://${host}:${port}`),
      killNode: async (index) => {
        admins[index]?.disconnect();
        await procs[index]?.stop(0);
      },
      dispose,
    };
  } catch (error) {
    await dispose();
    throw error;
  }
}
