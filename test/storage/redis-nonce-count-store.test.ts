/**
 * The Redis NonceCountStore against a real Redis: the shared contract (reopened by a new
 * client on the same prefix), replays refused across clients, and records that expire with
 * their nonce.
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { openRedisStores, type RedisStores } from '../../src/storage/redis/index.js';
import { deleteKeys, ensureRedis, testPrefix, type RedisEndpoint } from '../harness/redis.js';
import { nonceCountStoreContract } from './nonce-count-store.contract.js';

let redis: RedisEndpoint | undefined;
const endpoint = async (): Promise<RedisEndpoint> => (redis ??= await ensureRedis());
afterAll(async () => {
  await redis?.dispose();
});

nonceCountStoreContract(
  'redis',
  async () => {
    const { url } = await endpoint();
    const prefix = testPrefix();
    let stores = await openRedisStores(url, { prefix });
    return {
      store: stores.nonceCounts,
      // Records age by Redis's own clock (a TTL), not by an injected one.
      advance: () => {},
      reopen: async () => {
        await stores.close();
        stores = await openRedisStores(url, { prefix });
        return stores.nonceCounts;
      },
      close: async () => {
        await deleteKeys(stores.client, prefix);
        await stores.close();
      },
    };
  },
  { persistent: true },
);

describe('Redis nonce-count store', () => {
  let stores: RedisStores[] = [];
  let prefix = '';

  async function open(defaultNonceTtlMs?: number): Promise<RedisStores> {
    const options = defaultNonceTtlMs === undefined ? { prefix } : { prefix, defaultNonceTtlMs };
    const s = await openRedisStores((await endpoint()).url, options);
    stores.push(s);
    return s;
  }

  afterEach(async () => {
    if (stores[0]) await deleteKeys(stores[0].client, prefix);
    await Promise.all(stores.map((s) => s.close()));
    stores = [];
  });

  it('refuses on one node a count another node already accepted, and lets one of many racing uses through', async () => {
    prefix = testPrefix();
    const [a, b] = [await open(), await open()];
    expect(await a.nonceCounts.checkAndAdvance('n1', 1, 60_000)).toBe(true);
    expect(await b.nonceCounts.checkAndAdvance('n1', 1, 60_000)).toBe(false);
    expect(await b.nonceCounts.checkAndAdvance('n1', 2, 60_000)).toBe(true);
    expect(await a.nonceCounts.checkAndAdvance('n1', 2, 60_000)).toBe(false);
    const racing = await Promise.all(
      Array.from({ length: 16 }, (_, i) => (i % 2 ? a : b).nonceCounts.checkAndAdvance('n1', 3, 60_000)),
    );
    expect(racing.filter(Boolean)).toHaveLength(1);
  });

  it('keeps a record for the nonce lifetime, never shortening it, and forgets it afterwards', async () => {
    prefix = testPrefix();
    const s = await open();
    const key = s.keyspace.nonce('n-ttl');
    expect(await s.nonceCounts.checkAndAdvance('n-ttl', 1, 60_000)).toBe(true);
    const first = await s.client.pttl(key);
    expect(first).toBeGreaterThan(55_000);
    expect(first).toBeLessThanOrEqual(60_000);
    expect(await s.nonceCounts.checkAndAdvance('n-ttl', 2, 1_000)).toBe(true);
    expect(await s.client.pttl(key)).toBeGreaterThan(55_000);
    expect(await s.nonceCounts.checkAndAdvance('short', 1, 150)).toBe(true);
    expect(await s.nonceCounts.checkAndAdvance('short', 1, 150)).toBe(false);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(await s.client.exists(s.keyspace.nonce('short'))).toBe(0);
  });

  it('uses the configured lifetime when the verifier gives none', async () => {
    prefix = testPrefix();
    const s = await open(10_000);
    expect(await s.nonceCounts.checkAndAdvance('n-default', 1)).toBe(true);
    const ttl = await s.client.pttl(s.keyspace.nonce('n-default'));
    expect(ttl).toBeGreaterThan(5_000);
    expect(ttl).toBeLessThanOrEqual(10_000);
  });

  it('accepts the largest nonce-count exactly and keeps refusing it', async () => {
    prefix = testPrefix();
    const s = await open();
    const big = Number.MAX_SAFE_INTEGER;
    expect(await s.nonceCounts.checkAndAdvance('n-big', big - 1, 60_000)).toBe(true);
    expect(await s.nonceCounts.checkAndAdvance('n-big', big, 60_000)).toBe(true);
    expect(await s.nonceCounts.checkAndAdvance('n-big', big, 60_000)).toBe(false);
    expect(await s.client.get(s.keyspace.nonce('n-big'))).toBe(String(big));
  });
});
