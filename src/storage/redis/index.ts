/**
 * The Redis adapters (issue 7): registration bindings, reg-event subscriptions and nonce counts
 * shared by every node, on one Redis server or a Redis Cluster. Only the CLI wiring and tests
 * import this folder, so code that never uses Redis never loads ioredis. See docs/storage.md.
 */
import { randomBytes } from 'node:crypto';
import { Cluster } from 'ioredis';
import { StorageError } from '../errors.js';
import { connectClient, createClient, describeUrl, guard, type RedisConnectionOptions } from './client.js';
import { DEFAULT_BUCKETS, DEFAULT_PREFIX, RedisKeyspace } from './keys.js';
import { RedisNonceCountStore } from './nonce-count-store.js';
import { RedisRegistrationStore } from './registration-store.js';
import { RedisSubscriptionStore } from './subscription-store.js';
import type { RedisClient } from './scripts.js';

export { RedisKeyspace, keySlot, crc16, bucketTag, CLUSTER_SLOTS, DEFAULT_BUCKETS, DEFAULT_PREFIX } from './keys.js';
export type { BucketKeys } from './keys.js';
export { RedisNonceCountStore, type RedisNonceCountStoreOptions } from './nonce-count-store.js';
export { RedisRegistrationStore } from './registration-store.js';
export { RedisSubscriptionStore } from './subscription-store.js';
export { SCRIPTS, type RedisClient } from './scripts.js';
export type { RedisConnectionOptions } from './client.js';

/** Options of {@link openRedisStores}. */
export interface RedisStoresOptions extends RedisConnectionOptions {
  /** Prefix of every key, so several deployments can share a Redis; default `tw:`. */
  readonly prefix?: string;
  /**
   * Registration buckets (keys.ts); default 64. Fixed for the life of the data: a store opened
   * with another count on the same prefix is refused with TW_ERR_STORAGE_SCHEMA.
   */
  readonly buckets?: number;
  /** Nonce-count record lifetime when the verifier gives none; default 300 000 ms. */
  readonly defaultNonceTtlMs?: number;
}

/** The Redis stores on one connection; `close()` ends it. */
export interface RedisStores {
  readonly client: RedisClient;
  readonly keyspace: RedisKeyspace;
  readonly registrations: RedisRegistrationStore;
  /** The reg-event notifier's subscriptions, in the buckets of the AoRs they watch. */
  readonly subscriptions: RedisSubscriptionStore;
  readonly nonceCounts: RedisNonceCountStore;
  /**
   * The deployment's secret key ({@link SHARED_KEY_BYTES} bytes): what nonces, flow tokens and
   * softphone tokens are keyed with, so that any node verifies what another made. The first node
   * to start makes it (SET NX); a Redis that lost it (no persistence) gets a new one, which only
   * costs clients a fresh challenge.
   */
  readonly sharedKey: Buffer;
  close(): Promise<void>;
}

/**
 * Records the key layout under the prefix on first use, and refuses a prefix written with a
 * different layout (another bucket count would look every AoR up in the wrong bucket).
 */
async function checkLayout(client: RedisClient, keyspace: RedisKeyspace): Promise<void> {
  const { layoutKey, layoutValue } = keyspace;
  const stored = await guard('layout check', async () => {
    await client.set(layoutKey, layoutValue, 'NX');
    return client.get(layoutKey);
  });
  if (stored !== layoutValue) {
    throw new StorageError(
      'TW_ERR_STORAGE_SCHEMA',
      `Redis key ${layoutKey} holds layout "${stored ?? ''}" but this node expects "${layoutValue}": ` +
        'use the same redis buckets on every node, or another prefix',
    );
  }
}

/** Bytes of {@link RedisStores.sharedKey}. */
export const SHARED_KEY_BYTES = 32;

async function loadSharedKey(client: RedisClient, keyspace: RedisKeyspace): Promise<Buffer> {
  const stored = await guard('shared key', async () => {
    await client.set(keyspace.secretKey, randomBytes(SHARED_KEY_BYTES).toString('base64'), 'NX');
    return client.get(keyspace.secretKey);
  });
  const key = Buffer.from(stored ?? '', 'base64');
  if (key.length !== SHARED_KEY_BYTES) {
    throw new StorageError('TW_ERR_STORAGE_SCHEMA', `Redis key ${keyspace.secretKey} does not hold a ${SHARED_KEY_BYTES}-byte key: delete it and the next node makes one`);
  }
  return key;
}

/**
 * Refuses a Redis that may evict keys under memory pressure: an evicted record or index entry
 * would silently lose a registration, an evicted nonce count would reopen a replay window.
 * Skipped when INFO is not allowed (a managed Redis): then docs/storage.md is the only guard.
 */
async function checkEvictionPolicy(client: RedisClient): Promise<void> {
  const nodes = client instanceof Cluster ? client.nodes('master') : [client];
  for (const node of nodes) {
    const info = await node.info('memory').catch(() => '');
    const policy = /^maxmemory_policy:(\S+)/m.exec(info)?.[1];
    if (policy !== undefined && policy !== 'noeviction') {
      throw new StorageError(
        'TW_ERR_STORAGE_SCHEMA',
        `Redis maxmemory-policy is ${policy}: the Tidewater stores need noeviction (an evicted key loses a registration)`,
      );
    }
  }
}

/**
 * Connects to Redis at `url` (with `cluster`: the seed nodes of a Redis Cluster), checks the
 * key layout and builds the stores. Rejects with TW_ERR_STORAGE_UNAVAILABLE when Redis cannot
 * be reached within the connect timeout, TW_ERR_STORAGE_INVALID for a bad URL or option.
 */
export async function openRedisStores(url: string | readonly string[], options: RedisStoresOptions = {}): Promise<RedisStores> {
  const urls = typeof url === 'string' ? [url] : url;
  const keyspace = new RedisKeyspace(options.prefix ?? DEFAULT_PREFIX, options.buckets ?? DEFAULT_BUCKETS);
  const client = createClient(urls, options);
  await connectClient(client, urls.map(describeUrl).join(', '), options);
  let sharedKey: Buffer;
  try {
    await checkEvictionPolicy(client);
    await checkLayout(client, keyspace);
    sharedKey = await loadSharedKey(client, keyspace);
  } catch (error) {
    client.disconnect();
    throw error;
  }
  const nonceOptions = options.defaultNonceTtlMs === undefined ? {} : { defaultTtlMs: options.defaultNonceTtlMs };
  return {
    client,
    keyspace,
    registrations: new RedisRegistrationStore(client, keyspace),
    subscriptions: new RedisSubscriptionStore(client, keyspace),
    nonceCounts: new RedisNonceCountStore(client, keyspace, nonceOptions),
    sharedKey,
    close: async () => {
      await client.quit().catch(() => client.disconnect());
    },
  };
}
