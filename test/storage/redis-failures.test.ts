/**
 * What the Redis stores do when Redis fails: a dead, unreachable or stalled Redis gives
 * TW_ERR_STORAGE_UNAVAILABLE (the core answers 503) quickly, nothing queues up while it is
 * gone, and the stores work again by themselves once it is back. Each test runs its own
 * private redis-server, so killing it disturbs nobody.
 */
import { performance } from 'node:perf_hooks';
import { afterEach, describe, expect, it } from 'vitest';
import { StorageError } from '../../src/storage/errors.js';
import { openRedisStores, type RedisStores } from '../../src/storage/redis/index.js';
import { startRedisServer, testPrefix, type RedisServer } from '../harness/redis.js';
import { freePort } from '../harness/tools.js';
import { binding } from './fixtures.js';

const ALICE = 'sip:alice@example.com';

/** Settles `promise`, returning its error (or undefined) and how long it took. */
async function timed(promise: Promise<unknown>): Promise<{ error: unknown; ms: number }> {
  const start = performance.now();
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  return { error, ms: performance.now() - start };
}

function expectUnavailable(error: unknown): void {
  expect(error).toBeInstanceOf(StorageError);
  expect((error as StorageError).code).toBe('TW_ERR_STORAGE_UNAVAILABLE');
}

async function eventually<T>(fn: () => Promise<T>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await fn();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

describe('Redis stores when Redis fails', () => {
  let server: RedisServer | undefined;
  let stores: RedisStores | undefined;

  afterEach(async () => {
    await stores?.close();
    await server?.dispose();
    stores = undefined;
    server = undefined;
  });

  it('fails every request with TW_ERR_STORAGE_UNAVAILABLE at once while Redis is dead, and recovers once it is back', async () => {
    server = await startRedisServer();
    stores = await openRedisStores(server.url, { prefix: testPrefix(), commandTimeoutMs: 5000 });
    expect((await stores.registrations.put(ALICE, { bindings: [binding()] }, 0)).ok).toBe(true);

    await server.kill();
    const attempts = [
      stores.registrations.get(ALICE),
      stores.registrations.put(ALICE, { bindings: [binding({ cseq: 2 })] }, 1),
      stores.registrations.expiredBefore(Date.now(), 10),
      stores.registrations.count(),
      stores.nonceCounts.checkAndAdvance('n1', 1, 60_000),
    ];
    for (const attempt of attempts) {
      const { error, ms } = await timed(attempt);
      expectUnavailable(error);
      // Far below the 5 s command timeout: refused, not queued until Redis comes back.
      expect(ms).toBeLessThan(1000);
    }
    // Still refused a while later (reconnection attempts going on), still fast.
    await new Promise((resolve) => setTimeout(resolve, 300));
    const later = await timed(stores.registrations.get(ALICE));
    expectUnavailable(later.error);
    expect(later.ms).toBeLessThan(1000);

    await server.restart();
    // Without persistence the restarted Redis is empty; the store reconnects by itself.
    expect(await eventually(() => stores!.registrations.get(ALICE))).toBeUndefined();
    expect((await stores.registrations.put(ALICE, { bindings: [binding()] }, 0)).ok).toBe(true);
    expect(await stores.nonceCounts.checkAndAdvance('n1', 1, 60_000)).toBe(true);
  });

  it('fails to open quickly with TW_ERR_STORAGE_UNAVAILABLE when nothing listens', async () => {
    const port = await freePort('tcp');
    const { error, ms } = await timed(openRedisStores(`redis://127.0.0.1:${port}`, { prefix: testPrefix(), connectTimeoutMs: 1000 }));
    expectUnavailable(error);
    expect((error as StorageError).message).toContain(`127.0.0.1:${port}`);
    expect(ms).toBeLessThan(1500);
  });

  it('fails a request after the command timeout when Redis stops answering, and keeps replies in order afterwards', async () => {
    server = await startRedisServer();
    const prefix = testPrefix();
    stores = await openRedisStores(server.url, { prefix, commandTimeoutMs: 300 });
    const admin = await openRedisStores(server.url, { prefix });
    try {
      const v1 = await stores.registrations.put(ALICE, { bindings: [binding()] }, 0);
      expect(v1.ok).toBe(true);
      await admin.client.call('CLIENT', 'PAUSE', '1500', 'ALL');
      const stalled = await timed(stores.registrations.get(ALICE));
      expectUnavailable(stalled.error);
      expect((stalled.error as StorageError).message).toMatch(/timed out/i);
      expect(stalled.ms).toBeGreaterThanOrEqual(250);
      expect(stalled.ms).toBeLessThan(1200);
      // Once Redis answers again, each reply reaches the request it belongs to.
      const record = await eventually(async () => {
        const r = await stores!.registrations.get(ALICE);
        if (!r) throw new Error('record missing');
        return r;
      });
      expect(record.version).toBe(v1.ok && v1.version);
      expect(await stores.registrations.count()).toEqual({ aors: 1, bindings: 1 });
      expect(await stores.nonceCounts.checkAndAdvance('n1', 1, 60_000)).toBe(true);
    } finally {
      await admin.close();
    }
  });

  it('refuses a Redis that may evict keys under memory pressure', async () => {
    server = await startRedisServer(['--maxmemory', '64mb', '--maxmemory-policy', 'allkeys-lru']);
    const error = await openRedisStores(server.url, { prefix: testPrefix() }).then(() => undefined, (e: unknown) => e);
    expect(error).toBeInstanceOf(StorageError);
    expect((error as StorageError).code).toBe('TW_ERR_STORAGE_SCHEMA');
    expect((error as StorageError).message).toContain('allkeys-lru');
  });

  it('tells the onError hook about connection errors while Redis is gone', async () => {
    server = await startRedisServer();
    const errors: Error[] = [];
    stores = await openRedisStores(server.url, { prefix: testPrefix(), onError: (e) => errors.push(e) });
    await server.kill();
    await eventually(async () => {
      if (errors.length === 0) throw new Error('no error reported yet');
    });
    expect(errors[0]?.message).toMatch(/ECONNREFUSED|ECONNRESET|closed/i);
  });

  it('refuses a URL that is not redis:// with TW_ERR_STORAGE_INVALID, without echoing credentials', async () => {
    const error = await openRedisStores('http://user:secret@127.0.0.1:1/', {}).then(() => undefined, (e: unknown) => e);
    expect(error).toBeInstanceOf(StorageError);
    expect((error as StorageError).code).toBe('TW_ERR_STORAGE_INVALID');
    expect((error as StorageError).message).not.toContain('secret');
  });

  it('refuses a key prefix with braces (it would break the hash tags) and a bad bucket count, naming the option', async () => {
    for (const [options, name] of [
      [{ prefix: 'tw{x}:' }, 'prefix'],
      [{ buckets: 0 }, 'buckets'],
      [{ commandTimeoutMs: -1 }, 'commandTimeoutMs'],
    ] as const) {
      const error = await openRedisStores('redis://127.0.0.1:1', options).then(() => undefined, (e: unknown) => e);
      expect((error as StorageError).code).toBe('TW_ERR_STORAGE_INVALID');
      expect((error as StorageError).message).toContain(name);
    }
  });
});
