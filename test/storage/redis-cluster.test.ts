/**
 * Redis Cluster: the key-slot function and the key layout (every script's keys in one slot,
 * buckets spread over the masters), then the shared contracts against a real 3-master Redis
 * Cluster started by the test, through ioredis Cluster.
 */
import clusterKeySlot from 'cluster-key-slot';
import fc from 'fast-check';
import { performance } from 'node:perf_hooks';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { StorageError } from '../../src/storage/errors.js';
import {
  CLUSTER_SLOTS,
  RedisKeyspace,
  crc16,
  keySlot,
  openRedisStores,
  type RedisStores,
} from '../../src/storage/redis/index.js';
import { deleteKeys, indexProblems, listKeys, startRedisCluster, testPrefix, type RedisClusterEndpoint } from '../harness/redis.js';
import { binding } from './fixtures.js';
import { nonceCountStoreContract } from './nonce-count-store.contract.js';
import { registrationStoreContract, type RegistrationHarness } from './registration-store.contract.js';

describe('Redis Cluster key slots', () => {
  it('computes the slots Redis Cluster computes, hash tags included', () => {
    expect(crc16(Buffer.from('123456789'))).toBe(0x31c3);
    expect(keySlot('foo')).toBe(12182);
    expect(keySlot('{user1000}.following')).toBe(keySlot('{user1000}.followers'));
    expect(keySlot('foo{}{bar}')).toBe(crc16(Buffer.from('foo{}{bar}')) % CLUSTER_SLOTS);
    expect(keySlot('foo{{bar}}zap')).toBe(keySlot('{bar'));
    expect(keySlot('foo{bar}{zap}')).toBe(keySlot('bar'));
    fc.assert(fc.property(fc.string({ unit: 'grapheme', maxLength: 40 }), (key) => keySlot(key) === clusterKeySlot(key)));
  });

  it('keeps every key a write or read script touches for an AoR in one slot', () => {
    const keyspace = new RedisKeyspace('tw:', 64);
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', minLength: 1, maxLength: 60 }), (aor) => {
        const bucket = keyspace.bucketOf(aor);
        // twRegistrationPut's KEYS, and the record keys the read scripts derive from recordPrefix.
        const touched = [keyspace.record(aor), bucket.expiry, bucket.flows, bucket.aors, bucket.counts, bucket.recordPrefix + aor];
        expect(new Set(touched.map((k) => keySlot(k))).size).toBe(1);
      }),
    );
  });

  it('spreads the buckets evenly over the slot ranges of the masters, and AoRs evenly over the buckets', () => {
    for (const buckets of [1, 3, 64, 1024]) {
      const keyspace = new RedisKeyspace('tw:', buckets);
      keyspace.buckets.forEach((b, i) => {
        const slot = keySlot(b.counts);
        expect(slot).toBeGreaterThanOrEqual(Math.floor((i * CLUSTER_SLOTS) / buckets));
        expect(slot).toBeLessThan(Math.floor(((i + 1) * CLUSTER_SLOTS) / buckets));
      });
    }
    const keyspace = new RedisKeyspace('tw:', 64);
    const perMaster = [0, 0, 0];
    for (const b of keyspace.buckets) perMaster[Math.floor((keySlot(b.counts) * 3) / CLUSTER_SLOTS)]!++;
    expect(perMaster.every((n) => n === 21 || n === 22)).toBe(true);
    const perBucket = new Array<number>(64).fill(0);
    for (let i = 0; i < 6400; i++) perBucket[keyspace.bucketOf(`sip:+1555${String(i).padStart(7, '0')}@ims.example.com`).index]!++;
    expect(Math.max(...perBucket)).toBeLessThan(200);
    expect(Math.min(...perBucket)).toBeGreaterThan(50);
  });
});

let cluster: Promise<RedisClusterEndpoint> | undefined;
const startCluster = (): Promise<RedisClusterEndpoint> => (cluster ??= startRedisCluster(3));
afterAll(async () => {
  await (await cluster)?.dispose();
});

async function clusterStores(prefix: string): Promise<RedisStores> {
  const { urls } = await startCluster();
  return openRedisStores(urls, { prefix, cluster: true });
}

async function clusterHarness(): Promise<RegistrationHarness & { stores: () => RedisStores }> {
  const prefix = testPrefix();
  let stores = await clusterStores(prefix);
  const peers: RedisStores[] = [];
  return {
    store: stores.registrations,
    stores: () => stores,
    reopen: async () => {
      await stores.close();
      stores = await clusterStores(prefix);
      return stores.registrations;
    },
    peer: async () => {
      const peer = await clusterStores(prefix);
      peers.push(peer);
      return peer.registrations;
    },
    close: async () => {
      await deleteKeys(stores.client, prefix);
      await Promise.all([stores, ...peers].map((s) => s.close()));
    },
  };
}

registrationStoreContract('redis cluster (3 masters)', clusterHarness, { persistent: true, shared: true });

nonceCountStoreContract(
  'redis cluster (3 masters)',
  async () => {
    const prefix = testPrefix();
    let stores = await clusterStores(prefix);
    return {
      store: stores.nonceCounts,
      advance: () => {},
      reopen: async () => {
        await stores.close();
        stores = await clusterStores(prefix);
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

describe('Redis stores on a real Redis Cluster', () => {
  it('places each key in the slot Redis computes for it, spread over all three masters', async () => {
    const h = await clusterHarness();
    const { client, keyspace } = h.stores();
    try {
      const aors = Array.from({ length: 300 }, (_, i) => `sip:user${i}@example.com`);
      await Promise.all(aors.map((aor, i) => h.store.put(aor, { bindings: [binding({ flowId: `ws:flow-${i % 7}` })] }, 0)));
      expect(await h.store.count()).toEqual({ aors: 300, bindings: 300 });
      expect((await h.store.bindingsOfFlow('ws:flow-3')).length).toBe(43);
      // Re-register the first 100 on another flow: delete, then create again.
      await Promise.all(aors.slice(0, 100).map(async (aor) => h.store.delete(aor, (await h.store.get(aor))!.version)));
      await Promise.all(aors.slice(0, 100).map((aor) => h.store.put(aor, { bindings: [binding({ flowId: 'ws:flow-3' })] }, 0)));
      expect(await indexProblems(client, keyspace)).toEqual([]);
      expect(await h.store.count()).toEqual({ aors: 300, bindings: 300 });
      expect((await h.store.bindingsOfFlow('ws:flow-3')).length).toBe(100 + 29);
      const { urls } = await startCluster();
      const perMaster: number[] = [];
      for (const url of urls) {
        const node = new Redis(url, { maxRetriesPerRequest: 0 });
        try {
          const keys = await listKeys(node, keyspace.prefix);
          perMaster.push(keys.filter((k) => k.includes('}:r:')).length);
          for (const key of keys.slice(0, 50)) expect(await node.call('CLUSTER', 'KEYSLOT', key)).toBe(keySlot(key));
        } finally {
          node.disconnect();
        }
      }
      expect(perMaster.reduce((a, b) => a + b, 0)).toBe(300);
      expect(perMaster.every((n) => n > 50)).toBe(true);
      // Records, the layout marker, the shared key, and counts, expiry, flow and AoR indexes of each bucket in use.
      const bucketsInUse = new Set(aors.map((aor) => keyspace.bucketOf(aor).index)).size;
      expect(await listKeys(client, keyspace.prefix)).toHaveLength(300 + 2 + 4 * bucketsInUse);
    } finally {
      await h.close();
    }
  });

  it('fails requests with TW_ERR_STORAGE_UNAVAILABLE within seconds when a master dies, instead of hanging', async () => {
    const own = await startRedisCluster(3);
    try {
      const stores = await openRedisStores(own.urls, { prefix: testPrefix(), cluster: true });
      try {
        // Master 0 serves the first third of the slots; pick keys that live there.
        const onMaster0 = (key: string): boolean => keySlot(key) < CLUSTER_SLOTS / 3;
        const aor = Array.from({ length: 100 }, (_, i) => `sip:user${i}@example.com`).find((a) => onMaster0(stores.keyspace.record(a)))!;
        const nonce = Array.from({ length: 100 }, (_, i) => `nonce${i}`).find((n) => onMaster0(stores.keyspace.nonce(n)))!;
        expect((await stores.registrations.put(aor, { bindings: [binding()] }, 0)).ok).toBe(true);
        expect(await stores.nonceCounts.checkAndAdvance(nonce, 1)).toBe(true);
        await own.killNode(0);
        const attempts = [
          () => stores.registrations.get(aor),
          () => stores.registrations.put(aor, { bindings: [binding({ cseq: 2 })] }, 1),
          () => stores.registrations.count(),
          () => stores.nonceCounts.checkAndAdvance(nonce, 2),
        ];
        for (const attempt of attempts) {
          const start = performance.now();
          const error = await attempt().then(() => undefined, (e: unknown) => e);
          expect(error).toBeInstanceOf(StorageError);
          expect((error as StorageError).code).toBe('TW_ERR_STORAGE_UNAVAILABLE');
          expect(performance.now() - start).toBeLessThan(5000);
        }
      } finally {
        await stores.close();
      }
    } finally {
      await own.dispose();
    }
  });
});
