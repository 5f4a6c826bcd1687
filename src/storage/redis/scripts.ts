/**
 * The Lua scripts of the Redis stores, defined on a client with ioredis `defineCommand` (sent
 * as EVALSHA, falling back to EVAL once after a server restart emptied the script cache).
 *
 * Each script touches the keys of one bucket (registrations and subscriptions) or one nonce only, which share one
 * Cluster slot (keys.ts). The read and claim scripts name the bucket index in KEYS and derive
 * record keys inside the script from `recordPrefix`; those keys carry the same hash tag, so
 * they are in the same slot on the same node. A script runs atomically: no other command sees
 * a record without its index entries, or the reverse, and no two claims take the same entry.
 */
import type { Cluster, Redis } from 'ioredis';

/**
 * Compare-and-set of one AoR. KEYS: record, expiry, flows, aors, counts.
 * ARGV: expected version, aor, bindings JSON ('' with no scores: delete), flow ids joined by
 * LF, then one expiry score per binding. Returns {1, version} or {0, current version}.
 */
const REGISTRATION_PUT = `
local record, expiry, flows, aors, counts = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local aor = ARGV[2]
local old = redis.call('HMGET', record, 'v', 'n', 'f')
local current = tonumber(old[1] or '0')
if current ~= tonumber(ARGV[1]) then return {0, current} end
local oldCount = 0
if current ~= 0 then
  oldCount = tonumber(old[2])
  for i = 0, oldCount - 1 do redis.call('ZREM', expiry, aor .. '\\n' .. i) end
  for flow in string.gmatch(old[3], '[^\\n]+') do redis.call('ZREM', flows, flow .. '\\n' .. aor) end
end
local count = #ARGV - 4
if count == 0 then
  if current ~= 0 then
    redis.call('DEL', record)
    redis.call('ZREM', aors, aor)
    redis.call('HINCRBY', counts, 'aors', -1)
    redis.call('HINCRBY', counts, 'bindings', -oldCount)
  end
  return {1, 0}
end
local version = redis.call('HINCRBY', counts, 'version', 1)
for i = 0, count - 1 do redis.call('ZADD', expiry, ARGV[5 + i], aor .. '\\n' .. i) end
for flow in string.gmatch(ARGV[4], '[^\\n]+') do redis.call('ZADD', flows, 0, flow .. '\\n' .. aor) end
redis.call('HSET', record, 'v', version, 'n', count, 'f', ARGV[4], 'b', ARGV[3])
if current == 0 then
  redis.call('ZADD', aors, 0, aor)
  redis.call('HINCRBY', counts, 'aors', 1)
end
redis.call('HINCRBY', counts, 'bindings', count - oldCount)
return {1, version}
`;

/**
 * A bucket's bindings with `expiresAt <= now`, earliest first. KEYS: expiry.
 * ARGV: now, limit, record key prefix. Returns flat {aor, index, score, version, json}.
 */
const REGISTRATION_EXPIRED = `
local members = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'WITHSCORES', 'LIMIT', 0, tonumber(ARGV[2]))
local out, records = {}, {}
for i = 1, #members, 2 do
  local member = members[i]
  local cut = string.find(member, '\\n', 1, true)
  local aor = string.sub(member, 1, cut - 1)
  local record = records[aor]
  if record == nil then
    record = redis.call('HMGET', ARGV[3] .. aor, 'v', 'b')
    records[aor] = record
  end
  if record[1] then
    out[#out + 1] = aor
    out[#out + 1] = string.sub(member, cut + 1)
    out[#out + 1] = members[i + 1]
    out[#out + 1] = record[1]
    out[#out + 1] = record[2]
  end
end
return out
`;

/**
 * Claims up to `limit` of a bucket's bindings with an index score `<= now`, earliest score
 * first, for `claimExpired`: each is re-scored to the lease end in the expiry index, in the same
 * script, so no other claim takes it before then; a CAS write of its AoR re-scores or removes
 * it (REGISTRATION_PUT replaces every member of the AoR), ending the claim. The score is only
 * the index's; the binding, and its real expiresAt, come from the record. KEYS: expiry.
 * ARGV: now, limit, record key prefix, lease end. Returns flat {aor, index, version, json}.
 */
const REGISTRATION_CLAIM = `
local members = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
local out, records = {}, {}
for i = 1, #members do
  local member = members[i]
  local cut = string.find(member, '\\n', 1, true)
  local aor = string.sub(member, 1, cut - 1)
  local record = records[aor]
  if record == nil then
    record = redis.call('HMGET', ARGV[3] .. aor, 'v', 'b')
    records[aor] = record
  end
  redis.call('ZADD', KEYS[1], ARGV[4], member)
  if record[1] then
    out[#out + 1] = aor
    out[#out + 1] = string.sub(member, cut + 1)
    out[#out + 1] = record[1]
    out[#out + 1] = record[2]
  end
end
return out
`;

/**
 * A bucket's records with a binding on a flow. KEYS: flows. ARGV: flow id, record key prefix.
 * Returns flat {aor, version, json}.
 */
const REGISTRATION_FLOW = `
local members = redis.call('ZRANGEBYLEX', KEYS[1], '[' .. ARGV[1] .. '\\n', '(' .. ARGV[1] .. '\\011')
local out = {}
local skip = string.len(ARGV[1]) + 2
for i = 1, #members do
  local aor = string.sub(members[i], skip)
  local record = redis.call('HMGET', ARGV[2] .. aor, 'v', 'b')
  if record[1] then
    out[#out + 1] = aor
    out[#out + 1] = record[1]
    out[#out + 1] = record[2]
  end
end
return out
`;

/**
 * A page of a bucket's records in AoR byte order. KEYS: aors. ARGV: the AoR to start after
 * ('' from the start), limit, record key prefix. Returns flat {aor, version, json}.
 */
const REGISTRATION_PAGE = `
local min = '-'
if ARGV[1] ~= '' then min = '(' .. ARGV[1] end
local members = redis.call('ZRANGEBYLEX', KEYS[1], min, '+', 'LIMIT', 0, tonumber(ARGV[2]))
local out = {}
for i = 1, #members do
  local record = redis.call('HMGET', ARGV[3] .. members[i], 'v', 'b')
  if record[1] then
    out[#out + 1] = members[i]
    out[#out + 1] = record[1]
    out[#out + 1] = record[2]
  end
end
return out
`;

/**
 * Compare-and-set of one reg-event subscription. KEYS: record, expiry, aors, counts (of the
 * watched AoR's bucket). ARGV: expected version, encoded key, aor, expiresAt, data JSON, bucket
 * count bound (MAX_BUCKETS), bucket index. A record watching another AoR is a conflict.
 * Versions are the bucket's counter times the bound plus the bucket index, so no two buckets
 * ever hand out the same version. Returns {1, version} or {0, current version}.
 */
const SUBSCRIPTION_PUT = `
local record, expiry, aors, counts = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local key, aor = ARGV[2], ARGV[3]
local old = redis.call('HMGET', record, 'v', 'a')
local current = tonumber(old[1] or '0')
if current ~= tonumber(ARGV[1]) or (current ~= 0 and old[2] ~= aor) then return {0, current} end
local version = redis.call('HINCRBY', counts, 'version', 1) * tonumber(ARGV[6]) + tonumber(ARGV[7])
redis.call('HSET', record, 'v', version, 'a', aor, 'e', ARGV[4], 'd', ARGV[5])
redis.call('ZADD', expiry, ARGV[4], key)
if current == 0 then
  redis.call('ZADD', aors, 0, aor .. '\\n' .. key)
  redis.call('HINCRBY', counts, 'n', 1)
end
return {1, version}
`;

/**
 * Compare-and-set delete of one subscription. KEYS: record, expiry, aors, counts.
 * ARGV: expected version, encoded key. Returns {1, 0, 1 if a record went} or {0, current version}.
 */
const SUBSCRIPTION_DELETE = `
local record, expiry, aors, counts = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local old = redis.call('HMGET', record, 'v', 'a')
local current = tonumber(old[1] or '0')
if current ~= tonumber(ARGV[1]) then return {0, current} end
if current == 0 then return {1, 0, 0} end
redis.call('DEL', record)
redis.call('ZREM', expiry, ARGV[2])
redis.call('ZREM', aors, old[2] .. '\\n' .. ARGV[2])
redis.call('HINCRBY', counts, 'n', -1)
return {1, 0, 1}
`;

/**
 * A bucket's subscriptions watching one AoR. KEYS: aors. ARGV: aor, record key prefix.
 * Returns flat {key, version, json}.
 */
const SUBSCRIPTION_BY_AOR = `
local members = redis.call('ZRANGEBYLEX', KEYS[1], '[' .. ARGV[1] .. '\\n', '(' .. ARGV[1] .. '\\011')
local out = {}
local skip = string.len(ARGV[1]) + 2
for i = 1, #members do
  local key = string.sub(members[i], skip)
  local record = redis.call('HMGET', ARGV[2] .. key, 'v', 'd')
  if record[1] then
    out[#out + 1] = key
    out[#out + 1] = record[1]
    out[#out + 1] = record[2]
  end
end
return out
`;

/**
 * A bucket's subscriptions with `expiresAt <= now`, earliest first. KEYS: expiry.
 * ARGV: now, limit, record key prefix. Returns flat {key, score, version, json}.
 */
const SUBSCRIPTION_EXPIRED = `
local members = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'WITHSCORES', 'LIMIT', 0, tonumber(ARGV[2]))
local out = {}
for i = 1, #members, 2 do
  local record = redis.call('HMGET', ARGV[3] .. members[i], 'v', 'd')
  if record[1] then
    out[#out + 1] = members[i]
    out[#out + 1] = members[i + 1]
    out[#out + 1] = record[1]
    out[#out + 1] = record[2]
  end
end
return out
`;

/**
 * Claims up to `limit` of a bucket's subscriptions with an index score `<= now`, earliest score
 * first, re-scoring each to the lease end as REGISTRATION_CLAIM does; SUBSCRIPTION_PUT re-scores
 * it to its expiresAt and SUBSCRIPTION_DELETE removes it, ending the claim. KEYS: expiry.
 * ARGV: now, limit, record key prefix, lease end. Returns flat {key, version, json}.
 */
const SUBSCRIPTION_CLAIM = `
local members = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
local out = {}
for i = 1, #members do
  local record = redis.call('HMGET', ARGV[3] .. members[i], 'v', 'd')
  redis.call('ZADD', KEYS[1], ARGV[4], members[i])
  if record[1] then
    out[#out + 1] = members[i]
    out[#out + 1] = record[1]
    out[#out + 1] = record[2]
  end
end
return out
`;

/**
 * RFC 7616 §3.4 nonce-count check-and-advance. KEYS: the nonce's key. ARGV: nc, ttl (ms).
 * Records nc and returns 1 when it is above the stored count; returns 0 otherwise. The TTL
 * only ever grows, so a record outlives every lifetime a caller gave its nonce.
 */
const NONCE_ADVANCE = `
local current = redis.call('GET', KEYS[1])
if current and tonumber(ARGV[1]) <= tonumber(current) then return 0 end
local ttl = tonumber(ARGV[2])
if current then
  local left = redis.call('PTTL', KEYS[1])
  if left > ttl then ttl = left end
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ttl)
return 1
`;

/** Either kind of ioredis client. */
export type RedisClient = Redis | Cluster;

/**
 * How many due entries (index score `<= now`) `claimExpired` claims from each of the expiry
 * sets `keys` (one per bucket), `limit` in all: the earliest `limit` scores over every bucket.
 * A claim takes what it claims out of reach of every other claim until the lease ends, so
 * claiming `limit` in each bucket and returning the earliest `limit` would strand the rest
 * for a lease with nobody working on it; reading the scores first (a plain read, no script)
 * claims only what is returned. Another node claiming in between only makes a claim return
 * fewer. One bucket needs no reading.
 */
export async function claimShares(client: RedisClient, keys: readonly string[], now: number, limit: number): Promise<number[]> {
  if (keys.length === 1) return [limit];
  const replies = await Promise.all(keys.map((key) => client.zrangebyscore(key, '-inf', String(now), 'WITHSCORES', 'LIMIT', 0, limit)));
  const shares = replies.map((reply) => reply.length / 2);
  if (shares.reduce((sum, n) => sum + n, 0) <= limit) return shares;
  const due: { at: number; bucket: number }[] = [];
  replies.forEach((reply, bucket) => {
    for (let i = 1; i < reply.length; i += 2) due.push({ at: Number(reply[i]), bucket });
  });
  due.sort((a, b) => a.at - b.at);
  shares.fill(0);
  for (let i = 0; i < limit; i++) shares[due[i]!.bucket]!++;
  return shares;
}

/** The commands {@link defineScripts} adds. */
export interface ScriptCommands {
  twRegistrationPut(...keysAndArgs: string[]): Promise<[number, number]>;
  twRegistrationExpired(expiryKey: string, now: string, limit: string, recordPrefix: string): Promise<string[]>;
  twRegistrationClaim(expiryKey: string, now: string, limit: string, recordPrefix: string, leaseEnd: string): Promise<string[]>;
  twRegistrationFlow(flowsKey: string, flowId: string, recordPrefix: string): Promise<string[]>;
  twRegistrationPage(aorsKey: string, after: string, limit: string, recordPrefix: string): Promise<string[]>;
  twNonceAdvance(nonceKey: string, nc: string, ttlMs: string): Promise<number>;
  twSubscriptionPut(...keysAndArgs: string[]): Promise<[number, number]>;
  twSubscriptionDelete(...keysAndArgs: string[]): Promise<[number, number, number?]>;
  twSubscriptionByAor(aorsKey: string, aor: string, recordPrefix: string): Promise<string[]>;
  twSubscriptionExpired(expiryKey: string, now: string, limit: string, recordPrefix: string): Promise<string[]>;
  twSubscriptionClaim(expiryKey: string, now: string, limit: string, recordPrefix: string, leaseEnd: string): Promise<string[]>;
}

/** The Lua sources by command name, for tests and docs. */
export const SCRIPTS = Object.freeze({
  twRegistrationPut: { lua: REGISTRATION_PUT, numberOfKeys: 5 },
  twRegistrationExpired: { lua: REGISTRATION_EXPIRED, numberOfKeys: 1, readOnly: true },
  twRegistrationClaim: { lua: REGISTRATION_CLAIM, numberOfKeys: 1 },
  twRegistrationFlow: { lua: REGISTRATION_FLOW, numberOfKeys: 1, readOnly: true },
  twRegistrationPage: { lua: REGISTRATION_PAGE, numberOfKeys: 1, readOnly: true },
  twNonceAdvance: { lua: NONCE_ADVANCE, numberOfKeys: 1 },
  twSubscriptionPut: { lua: SUBSCRIPTION_PUT, numberOfKeys: 4 },
  twSubscriptionDelete: { lua: SUBSCRIPTION_DELETE, numberOfKeys: 4 },
  twSubscriptionByAor: { lua: SUBSCRIPTION_BY_AOR, numberOfKeys: 1, readOnly: true },
  twSubscriptionExpired: { lua: SUBSCRIPTION_EXPIRED, numberOfKeys: 1, readOnly: true },
  twSubscriptionClaim: { lua: SUBSCRIPTION_CLAIM, numberOfKeys: 1 },
});

const defined = new WeakSet<RedisClient>();

/** Defines the scripts on `client` (once per client) and returns it typed with them. */
export function defineScripts(client: RedisClient): RedisClient & ScriptCommands {
  if (!defined.has(client)) {
    for (const [name, definition] of Object.entries(SCRIPTS)) client.defineCommand(name, definition);
    defined.add(client);
  }
  return client as RedisClient & ScriptCommands;
}
