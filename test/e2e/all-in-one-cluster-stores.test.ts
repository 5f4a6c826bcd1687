/**
 * The all-in-one on the cluster's stores (issue 7): subscribers, documents and accounts in a
 * fresh PostgreSQL database, registrations and nonce counts in Redis under a key prefix of its
 * own, nothing but the nonce key and the TLS files in the data folder. SIPp clients register and
 * call through it; the bindings are read back from Redis directly and survive a restart of the
 * all-in-one. A store that is down at start-up stops it with a message naming the key.
 *
 * Runs bin/tidewater.js (dist/): run `npx tsc -p tsconfig.build.json` first.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openRedisStores, type RedisStores } from '../../src/storage/redis/index.js';
import {
  impuOf,
  runImsSipp,
  startAllInOne,
  startImsCallee,
  tidewaterCli,
  userFactory,
  type AllInOne,
  type ImsSippResult,
  type TestUser,
} from '../harness/ims.js';
import { createTestDatabase, ensurePostgres, type PostgresServer, type TestDatabase } from '../harness/postgres.js';
import { deleteKeys, ensureRedis, testPrefix, type RedisEndpoint } from '../harness/redis.js';
import { freePort, requireTool } from '../harness/tools.js';

const REGISTERED = /registration state: +REGISTERED/;
const newUser = userFactory(6505557000);

function expectSuccess(res: ImsSippResult, core: AllInOne, what: string): void {
  const why = `${what} failed (exit ${res.exitCode}):\n${res.log}\n${res.errors.slice(-3000)}\n--- server ---\n${core.output().slice(-3000)}`;
  expect(res.exitCode, why).toBe(0);
}

describe('all-in-one on PostgreSQL and Redis', () => {
  let server: PostgresServer;
  let database: TestDatabase;
  let redis: RedisEndpoint;
  let bindings: RedisStores;
  let core: AllInOne;
  const prefix = testPrefix();

  /** The contacts Redis holds for `user`, read with a client of this test (not through Tidewater). */
  async function contactsInRedis(user: TestUser): Promise<string[]> {
    return ((await bindings.registrations.get(impuOf(user)))?.bindings ?? []).filter((b) => b.expiresAt > Date.now()).map((b) => b.contact);
  }

  beforeAll(async () => {
    requireTool('sipp', 'sip-tester');
    server = await ensurePostgres();
    database = await createTestDatabase(server);
    redis = await ensureRedis();
    bindings = await openRedisStores(redis.url, { prefix });
    core = await startAllInOne({
      config: { postgresUrl: database.url, redisUrl: redis.url, redisPrefix: prefix, registration: { minExpires: 2, defaultExpires: 600 } },
    });
  }, 90_000);
  afterAll(async () => {
    await core?.dispose();
    if (bindings) {
      await deleteKeys(bindings.client, prefix);
      await bindings.close();
    }
    await redis?.dispose();
    await database?.drop();
    await server?.stop();
  });

  it('migrates its fresh database itself and keeps nothing in the data folder: no SQLite database, and the nonce key in Redis', async () => {
    const migrate = await tidewaterCli(['migrate', '--config', path.join(core.dataDir, 'config.yaml')]);
    expect(migrate).toMatch(/^schema is up to date \(version \d+\)$/m);
    expect(existsSync(path.join(core.dataDir, 'tidewater.sqlite'))).toBe(false);
    // Every node of a deployment shares the key its nonces are made with: the first one made it in Redis.
    expect(existsSync(path.join(core.dataDir, 'nonce.key'))).toBe(false);
    expect(Buffer.from((await bindings.client.get(`${prefix}secret`)) ?? '', 'base64')).toHaveLength(32);
  });

  it('registers two numbers added with tidewater subscriber add, connects a call from A to B, and keeps the bindings in Redis', async () => {
    const [a, b] = [await newUser(core), await newUser(core)];
    const callee = await startImsCallee(core, b, 'answer');
    expect(await contactsInRedis(b)).toEqual([expect.stringMatching(new RegExp(`^sip:${b.number}@127\\.0\\.0\\.1:${callee.port}\\b`))]);
    const caller = await runImsSipp(core, a, 'ims-caller-call', { keys: { callee: b.number } });
    expectSuccess(caller, core, 'caller A');
    expectSuccess(await callee.result, core, 'callee B');
    expect(await contactsInRedis(a)).toHaveLength(1);
    expect(await core.showSubscriber(impuOf(a))).toMatch(REGISTERED);
  });

  it('keeps a registration across a restart: the binding stays in Redis and the callee registered before is reached after', async () => {
    const [a, b] = [await newUser(core), await newUser(core)];
    const callee = await startImsCallee(core, b, 'answer', { timeoutSec: 45 });
    const before = await contactsInRedis(b);
    expect(before).toHaveLength(1);
    await core.restart();
    expect(await contactsInRedis(b)).toEqual(before);
    const shown = await core.showSubscriber(impuOf(b));
    expect(shown).toMatch(REGISTERED);
    expect(shown).toContain(`-> ${before[0]}`);
    const caller = await runImsSipp(core, a, 'ims-caller-call', { keys: { callee: b.number } });
    expectSuccess(caller, core, 'caller after restart');
    expectSuccess(await callee.result, core, 'callee registered before the restart');
  }, 90_000);
});

describe('all-in-one with a store down at start-up', () => {
  /** The error of an all-in-one that should not start with `config`; its data folder is removed after. */
  async function failedStart(config: Record<string, unknown>): Promise<string> {
    const dataDir = await mkdtemp(path.join(tmpdir(), 'tw-aio-down-'));
    try {
      const core = await startAllInOne({ dataDir, config }).catch((e: unknown) => e as Error);
      if (!(core instanceof Error)) {
        await core.dispose();
        return 'started';
      }
      return core.message;
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  }

  it('stops with a message naming redisUrl and the reason, without the password', async () => {
    const port = await freePort('tcp');
    const message = await failedStart({ redisUrl: `redis://:hunter2@127.0.0.1:${port}` });
    expect(message).toMatch(/exited before ready \(code 1/);
    expect(message).toContain(`tidewater: redisUrl: cannot use Redis at 127.0.0.1:${port}: `);
    expect(message).toContain('ECONNREFUSED');
    expect(message).not.toContain('hunter2');
  });

  it('stops with a message naming postgresUrl and the reason, without the password', async () => {
    const port = await freePort('tcp');
    const message = await failedStart({ postgresUrl: `postgres://tw:hunter2@127.0.0.1:${port}/tidewater` });
    expect(message).toMatch(/exited before ready \(code 1/);
    expect(message).toContain(`tidewater: postgresUrl: cannot use the PostgreSQL database at 127.0.0.1:${port}/tidewater: `);
    expect(message).toContain('ECONNREFUSED');
    expect(message).not.toContain('hunter2');
  });
});
