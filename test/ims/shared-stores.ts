/**
 * Stores shared by several core "nodes" in one test: the same in-process stores for every node,
 * or one Redis connection per node on a fresh key prefix, as separate core processes have.
 */
import type { RegistrationStore, SubscriptionStore } from '../../src/storage/index.js';
import { MemoryRegistrationStore, MemorySubscriptionStore } from '../../src/storage/memory/index.js';
import { openRedisStores } from '../../src/storage/redis/index.js';
import { deleteKeys, ensureRedis, testPrefix, type RedisEndpoint } from '../harness/redis.js';

/** The stores one core node has: in a cluster, views of the same shared data. */
export interface NodeStores {
  readonly registrations: RegistrationStore;
  readonly subscriptions: SubscriptionStore;
}

/** Shared stores for `count` nodes; `close` releases them. */
export interface SharedStores {
  readonly nodes: NodeStores[];
  close(): Promise<void>;
}

export function memoryStores(count: number): SharedStores {
  const shared = { registrations: new MemoryRegistrationStore(), subscriptions: new MemorySubscriptionStore() };
  return { nodes: Array.from({ length: count }, () => shared), close: async () => {} };
}

let redis: RedisEndpoint | undefined;

/** One Redis connection per node, all on one fresh prefix. Call {@link disposeRedis} after the file's tests. */
export async function redisStores(count: number): Promise<SharedStores> {
  const { url } = (redis ??= await ensureRedis());
  const prefix = testPrefix();
  const opened = await Promise.all(Array.from({ length: count }, () => openRedisStores(url, { prefix })));
  return {
    nodes: opened,
    close: async () => {
      await deleteKeys(opened[0]!.client, prefix);
      await Promise.all(opened.map((s) => s.close()));
    },
  };
}

/** Stops the Redis {@link redisStores} started, if it started one. */
export async function disposeRedis(): Promise<void> {
  await redis?.dispose();
  redis = undefined;
}
