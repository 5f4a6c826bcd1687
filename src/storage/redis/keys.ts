/**
 * The Redis key layout of the Tidewater stores, and Redis Cluster's key-slot function.
 *
 * Redis Cluster runs a Lua script on one node only, so every key a script touches must hash to
 * one slot. A slot is CRC16(key) mod 16384, where only the part between the first `{` and the
 * next `}` counts when that part is non-empty (the hash tag; Redis Cluster specification, "Keys
 * hash tags"). The registration keys therefore carry the tag of a **bucket**, not of an AoR:
 * an AoR's record and the bucket's expiry, flow, AoR and counter indexes share one slot, so one
 * script updates the record and every index atomically, in a single Redis and in a Cluster.
 *
 *     <prefix>layout                    string  "v1 buckets=<B>" (checked when a store opens)
 *     <prefix>{<tag>}:r:<aor>           hash    v (version), n (binding count), f (flow ids,
 *                                               LF-separated), b (bindings as JSON)
 *     <prefix>{<tag>}:exp               zset    "<aor> LF <binding index>" scored by expiresAt
 *     <prefix>{<tag>}:flows             zset    "<flow id> LF <aor>", score 0 (lexicographic)
 *     <prefix>{<tag>}:aors              zset    "<aor>", score 0 (lexicographic; `list` pages)
 *     <prefix>{<tag>}:counts            hash    aors, bindings, version (the bucket's counter)
 *     <prefix>{<tag>}:s:<key>           hash    reg-event subscription: v (version), a (aor),
 *                                               e (expiresAt), d (SubscriptionData as JSON)
 *     <prefix>{<tag>}:sexp              zset    "<key>" scored by expiresAt
 *     <prefix>{<tag>}:saors             zset    "<aor> LF <key>", score 0 (lexicographic)
 *     <prefix>{<tag>}:scounts           hash    n (subscriptions), version (the bucket's counter)
 *     <prefix>sk:<key>                  string  the aor of subscription <key> (finds its bucket)
 *     <prefix>nc:<nonce>                string  highest nonce-count, TTL = the nonce's lifetime
 *
 * The AoR's bucket is CRC16(aor) mod B. Bucket i's tag is the first of `b<i>`, `b<i>-1`,
 * `b<i>-2`, ... whose slot lies in the i-th of B equal slot ranges, so the buckets spread
 * evenly over the masters of a Cluster that owns contiguous slot ranges (the default layout).
 * A subscription (`<key>`: Call-ID, tag and event id joined by LF, subscription-records.ts) lives
 * in the bucket of the AoR it watches, like that AoR's bindings, so one script updates it with
 * its indexes and `byAor` reads one slot.
 * Separators: AoRs and flow ids never contain CR, LF or NUL (registration-records.ts).
 */
import { invalid } from '../errors.js';

/** Number of Redis Cluster hash slots. */
export const CLUSTER_SLOTS = 16384;

/** Default number of registration buckets. */
export const DEFAULT_BUCKETS = 64;

/** Most registration buckets allowed (global queries fan out over every bucket). */
export const MAX_BUCKETS = 1024;

/** Default key prefix. */
export const DEFAULT_PREFIX = 'tw:';

/** Version of the key layout, stored in `<prefix>layout`. */
export const LAYOUT_VERSION = 1;

const CRC16_TABLE = (() => {
  const table = new Uint16Array(256);
  for (let i = 0; i < 256; i++) {
    let crc = i << 8;
    for (let bit = 0; bit < 8; bit++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
    table[i] = crc;
  }
  return table;
})();

/** CRC16-CCITT (XModem), the checksum Redis Cluster hashes keys with. */
export function crc16(data: Uint8Array): number {
  let crc = 0;
  for (const byte of data) crc = ((crc << 8) ^ CRC16_TABLE[((crc >> 8) ^ byte) & 0xff]!) & 0xffff;
  return crc;
}

/** The Redis Cluster slot of `key` (UTF-8), honouring a non-empty `{hash tag}`. */
export function keySlot(key: string | Uint8Array): number {
  const bytes = typeof key === 'string' ? Buffer.from(key, 'utf8') : key;
  const open = bytes.indexOf(0x7b);
  if (open >= 0) {
    const close = bytes.indexOf(0x7d, open + 1);
    if (close > open + 1) return crc16(bytes.subarray(open + 1, close)) % CLUSTER_SLOTS;
  }
  return crc16(bytes) % CLUSTER_SLOTS;
}

/** The hash tag of bucket `index` of `buckets`; see the module comment. */
export function bucketTag(index: number, buckets: number): string {
  const low = Math.floor((index * CLUSTER_SLOTS) / buckets);
  const high = Math.floor(((index + 1) * CLUSTER_SLOTS) / buckets);
  for (let attempt = 0; ; attempt++) {
    const tag = attempt === 0 ? `b${index}` : `b${index}-${attempt}`;
    const slot = keySlot(tag);
    if (slot >= low && slot < high) return tag;
  }
}

/** The keys of one registration bucket. */
export interface BucketKeys {
  readonly index: number;
  /** Prefix of the bucket's record keys; the AoR follows. */
  readonly recordPrefix: string;
  readonly expiry: string;
  readonly flows: string;
  readonly aors: string;
  readonly counts: string;
  /** Prefix of the bucket's reg-event subscription keys; the encoded subscription key follows. */
  readonly subscriptionPrefix: string;
  readonly subscriptionExpiry: string;
  readonly subscriptionAors: string;
  readonly subscriptionCounts: string;
}

const PREFIX_PATTERN = /^[\x21-\x7a\x7c\x7e]{0,64}$/;

/** Validates a key prefix: up to 64 printable ASCII characters, no braces, no spaces. */
export function checkPrefix(prefix: string): string {
  if (typeof prefix !== 'string' || !PREFIX_PATTERN.test(prefix)) {
    throw invalid(`redis prefix must be up to 64 printable ASCII characters without braces or spaces, got ${JSON.stringify(prefix)}`);
  }
  return prefix;
}

/** Validates a bucket count. */
export function checkBuckets(buckets: number): number {
  if (!Number.isSafeInteger(buckets) || buckets < 1 || buckets > MAX_BUCKETS) {
    throw invalid(`redis buckets must be an integer from 1 to ${MAX_BUCKETS}, got ${buckets}`);
  }
  return buckets;
}

/** Every key name the Redis stores use under one prefix. */
export class RedisKeyspace {
  readonly prefix: string;
  readonly buckets: readonly BucketKeys[];
  /** The layout marker key and the value it must hold for this keyspace. */
  readonly layoutKey: string;
  /** The deployment's shared secret (nonces, flow tokens, softphone tokens), made by the first node. */
  readonly secretKey: string;
  readonly layoutValue: string;

  constructor(prefix: string = DEFAULT_PREFIX, buckets: number = DEFAULT_BUCKETS) {
    this.prefix = checkPrefix(prefix);
    checkBuckets(buckets);
    this.layoutKey = `${prefix}layout`;
    this.secretKey = `${prefix}secret`;
    this.layoutValue = `v${LAYOUT_VERSION} buckets=${buckets}`;
    this.buckets = Object.freeze(
      Array.from({ length: buckets }, (_, index) => {
        const base = `${prefix}{${bucketTag(index, buckets)}}:`;
        return Object.freeze({
          index,
          recordPrefix: `${base}r:`,
          expiry: `${base}exp`,
          flows: `${base}flows`,
          aors: `${base}aors`,
          counts: `${base}counts`,
          subscriptionPrefix: `${base}s:`,
          subscriptionExpiry: `${base}sexp`,
          subscriptionAors: `${base}saors`,
          subscriptionCounts: `${base}scounts`,
        });
      }),
    );
  }

  /** The bucket holding `aor`. */
  bucketOf(aor: string): BucketKeys {
    return this.buckets[crc16(Buffer.from(aor, 'utf8')) % this.buckets.length]!;
  }

  /** The record key of `aor`. */
  record(aor: string): string {
    return this.bucketOf(aor).recordPrefix + aor;
  }

  /** The key holding the AoR of the subscription whose encoded key is `encodedKey`. */
  subscriptionAor(encodedKey: string): string {
    return `${this.prefix}sk:${encodedKey}`;
  }

  /** The nonce-count key of `nonce`. */
  nonce(nonce: string): string {
    return `${this.prefix}nc:${nonce}`;
  }
}
