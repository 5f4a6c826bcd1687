/**
 * The Redis SubscriptionStore against a real Redis and a real 3-master Redis Cluster: the shared
 * contract (reopened by a new client on the same prefix), the indexes kept exact by the write
 * scripts under random operations compared with the memory adapter, and the AoR pointer.
 */
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { MemorySubscriptionStore } from '../../src/storage/memory/subscription-store.js';
import { keySlot, openRedisStores, type RedisStores, type RedisStoresOptions } from '../../src/storage/redis/index.js';
import { encodeKey } from '../../src/storage/subscription-records.js';
import type { SubscriptionRecord, SubscriptionStore } from '../../src/storage/subscription-store.js';
import { deleteKeys, ensureRedis, listKeys, startRedisCluster, testPrefix, type RedisClusterEndpoint, type RedisEndpoint } from '../harness/redis.js';
import { T0 } from './fixtures.js';
import { subscriptionData, subscriptionKey, subscriptionStoreContract, type SubscriptionHarness } from './subscription-store.contract.js';

let redis: RedisEndpoint | undefined;
const endpoint = async (): Promise<RedisEndpoint> => (redis ??= await ensureRedis());
let cluster: Promise<RedisClusterEndpoint> | undefined;
const startCluster = (): Promise<RedisClusterEndpoint> => (cluster ??= startRedisCluster(3));
afterAll(async () => {
  await redis?.dispose();
  await (await cluster)?.dispose();
});

/** Stores on a fresh prefix; `reopen` and `peer` connect a new client to the same prefix. */
async function harness(urls: () => Promise<string | readonly string[]>, options: RedisStoresOptions = {}): Promise<SubscriptionHarness & { stores: () => RedisStores }> {
  const prefix = testPrefix();
  const open = async () => openRedisStores(await urls(), { ...options, prefix });
  let stores = await open();
  const peers: RedisStores[] = [];
  return {
    store: stores.subscriptions,
    stores: () => stores,
    reopen: async () => {
      await stores.close();
      stores = await open();
      return stores.subscriptions;
    },
    peer: async () => {
      const peer = await open();
      peers.push(peer);
      return peer.subscriptions;
    },
    close: async () => {
      await deleteKeys(stores.client, prefix);
      await Promise.all([stores, ...peers].map((s) => s.close()));
    },
  };
}

const single = async () => (await endpoint()).url;
const clustered = async () => (await startCluster()).urls;

subscriptionStoreContract('redis (64 buckets)', () => harness(single), { persistent: true, shared: true });
subscriptionStoreContract('redis (1 bucket)', () => harness(single, { buckets: 1 }), { persistent: true, shared: true });
subscriptionStoreContract('redis cluster (3 masters)', () => harness(clustered, { cluster: true }), { persistent: true, shared: true });

/**
 * Recomputes each bucket's subscription indexes and count from the records under the prefix and
 * lists where Redis holds something else, and records without an AoR pointer (empty: exact).
 */
async function indexProblems(stores: RedisStores): Promise<string[]> {
  const { client, keyspace } = stores;
  const keys = await listKeys(client, keyspace.prefix);
  const problems: string[] = [];
  for (const bucket of keyspace.buckets) {
    const expiry: string[] = [];
    const aors: string[] = [];
    for (const key of keys.filter((k) => k.startsWith(bucket.subscriptionPrefix))) {
      const id = key.slice(bucket.subscriptionPrefix.length);
      const [aor, expiresAt] = await client.hmget(key, 'a', 'e');
      if (keyspace.bucketOf(aor!) !== bucket) problems.push(`${JSON.stringify(id)} in bucket ${bucket.index}, belongs elsewhere`);
      if ((await client.get(keyspace.subscriptionAor(id))) !== aor) problems.push(`${JSON.stringify(id)} has no AoR pointer`);
      expiry.push(`${id}@${expiresAt}`);
      aors.push(`${aor}\n${id}`);
    }
    const scored = await client.zrange(bucket.subscriptionExpiry, 0, -1, 'WITHSCORES');
    const actualExpiry: string[] = [];
    for (let i = 0; i < scored.length; i += 2) actualExpiry.push(`${scored[i]}@${scored[i + 1]}`);
    const actualAors = await client.zrange(bucket.subscriptionAors, 0, -1);
    const count = Number((await client.hget(bucket.subscriptionCounts, 'n')) ?? 0);
    if (JSON.stringify(expiry.sort()) !== JSON.stringify(actualExpiry.sort())) problems.push(`bucket ${bucket.index} expiry index`);
    if (JSON.stringify(aors.sort()) !== JSON.stringify(actualAors.sort())) problems.push(`bucket ${bucket.index} AoR index`);
    if (count !== aors.length) problems.push(`bucket ${bucket.index} count ${count}, records ${aors.length}`);
  }
  return problems;
}

function withoutVersion(records: SubscriptionRecord[]): Omit<SubscriptionRecord, 'version'>[] {
  return records
    .map(({ version: _version, ...rest }) => rest)
    .sort((a, b) => a.expiresAt - b.expiresAt || encodeKey(a.key).localeCompare(encodeKey(b.key)));
}

const AORS = ['sip:alice@example.com', 'sip:bob@example.com', 'sip:{carol}@example.com'];

describe('Redis subscription store', () => {
  it('keeps the expiry and AoR indexes exact under random writes, agreeing with the memory adapter (fast-check)', async () => {
    const opArb = fc.record({
      kind: fc.constantFrom('put', 'delete', 'stale'),
      n: fc.integer({ min: 1, max: 5 }),
      expires: fc.integer({ min: 0, max: 100 }),
    });
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { maxLength: 25 }), fc.integer({ min: 0, max: 100 }), fc.constantFrom(1, 3, 64), async (ops, at, buckets) => {
        const prefix = testPrefix();
        const stores = await openRedisStores((await endpoint()).url, { prefix, buckets });
        const store: SubscriptionStore = stores.subscriptions;
        const model = new MemorySubscriptionStore();
        try {
          for (const op of ops) {
            // Each key watches one AoR for life; `n` picks the dialog.
            const key = subscriptionKey(op.n, op.n % 2 ? 'x' : undefined);
            const aor = AORS[op.n % AORS.length]!;
            const [current, modelCurrent] = [await store.get(key), await model.get(key)];
            expect(current && { ...current, version: 0 }).toEqual(modelCurrent && { ...modelCurrent, version: 0 });
            const version = current?.version ?? 0;
            if (op.kind === 'delete') {
              expect((await store.delete(key, version)).ok).toBe((await model.delete(key, modelCurrent?.version ?? 0)).ok);
              continue;
            }
            const data = subscriptionData({ aor, expiresAt: T0 + op.expires, localCseq: op.expires });
            if (op.kind === 'stale') {
              expect(await store.put(key, data, version === 0 ? 1_000_000 : 0)).toEqual({ ok: false, currentVersion: version });
              continue;
            }
            expect((await store.put(key, data, version)).ok).toBe(true);
            expect((await model.put(key, data, modelCurrent?.version ?? 0)).ok).toBe(true);
          }
          expect(await indexProblems(stores)).toEqual([]);
          expect(await store.count()).toBe(await model.count());
          expect(await store.nextExpiryAt()).toBe(await model.nextExpiryAt());
          expect(withoutVersion(await store.expiredBefore(T0 + at, 1000))).toEqual(withoutVersion(await model.expiredBefore(T0 + at, 1000)));
          for (const aor of AORS) expect(withoutVersion(await store.byAor(aor))).toEqual(withoutVersion(await model.byAor(aor)));
        } finally {
          await deleteKeys(stores.client, prefix);
          await stores.close();
        }
      }),
      { numRuns: 40 },
    );
  });

  it('finds a subscription whose AoR pointer was left behind by a node that died mid-delete, and reuses it', async () => {
    const h = await harness(single);
    try {
      const { client, keyspace } = h.stores();
      const key = subscriptionKey(1);
      // A pointer without a record: what a node killed between the delete script and the DEL leaves.
      await client.set(keyspace.subscriptionAor(encodeKey(key)), 'sip:bob@example.com');
      expect(await h.store.get(key)).toBeUndefined();
      expect(await h.store.delete(key, 0)).toEqual({ ok: true, version: 0 });
      const created = await h.store.put(key, subscriptionData(), 0);
      expect(created.ok).toBe(true);
      expect((await h.store.get(key))?.aor).toBe('sip:alice@example.com');
      expect(await indexProblems(h.stores())).toEqual([]);
      expect(await h.store.delete(key, created.ok ? created.version : 0)).toEqual({ ok: true, version: 0 });
      expect(await listKeys(client, keyspace.prefix)).not.toContain(keyspace.subscriptionAor(encodeKey(key)));
    } finally {
      await h.close();
    }
  });

  it('keeps every key a subscription script touches in the slot of the watched AoR, on a real Cluster', async () => {
    const h = await harness(clustered, { cluster: true });
    try {
      const { keyspace } = h.stores();
      for (let n = 1; n <= 60; n++) {
        const aor = `sip:user${n % 20}@example.com`;
        expect((await h.store.put(subscriptionKey(n), subscriptionData({ aor, expiresAt: T0 + n }), 0)).ok).toBe(true);
        const b = keyspace.bucketOf(aor);
        const touched = [b.subscriptionPrefix + encodeKey(subscriptionKey(n)), b.subscriptionExpiry, b.subscriptionAors, b.subscriptionCounts, keyspace.record(aor)];
        expect(new Set(touched.map((k) => keySlot(k))).size).toBe(1);
      }
      expect(await h.store.count()).toBe(60);
      expect((await h.store.byAor('sip:user3@example.com')).map((r) => r.key.localTag).sort()).toEqual(['tag23', 'tag3', 'tag43']);
      expect((await h.store.expiredBefore(T0 + 5, 100)).map((r) => r.key.localTag)).toEqual(['tag1', 'tag2', 'tag3', 'tag4', 'tag5']);
      expect(await indexProblems(h.stores())).toEqual([]);
    } finally {
      await h.close();
    }
  });
});
