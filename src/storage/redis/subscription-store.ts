/**
 * {@link SubscriptionStore} on Redis, shared by every core node (issue 7). Key layout in
 * keys.ts; scripts in scripts.ts.
 *
 * A subscription lives in the bucket of the AoR it watches (the same bucket as that AoR's
 * bindings), so a write is one Lua script on one Cluster slot that compares the version and
 * updates the record, the bucket's expiry index, AoR index and counters atomically; and the
 * subscriptions of a set, read on every registration change, are one script on one slot.
 *
 * A refresh arrives with only the dialog's identifiers, not the AoR, so `<prefix>sk:<key>` holds
 * the AoR of each subscription: `get` and `delete` read it first (two round trips; refreshes
 * and terminations are rare next to NOTIFYs, whose writes carry the AoR and take one). It is
 * written before the record is created and removed after the record is deleted, so a record
 * always has it; a node dying in between leaves it dangling, which is harmless: it names a
 * bucket without the record, and a key is never used again (subscription-store.ts).
 *
 * The global queries (expiry, count) run one script or command per bucket, each an atomic
 * snapshot of its bucket; every record they return carries its version for the follow-up CAS.
 *
 * `claimExpired` keeps its claims in the expiry index, as the registration store does: the
 * claim script re-scores what it takes to the lease end, and a write of the subscription
 * re-scores it to its expiresAt (or removes it), ending the claim.
 */
import { checkExpectedVersion, resultLimit, type CasResult } from '../common.js';
import { checkAor, checkNow, leaseEnd } from '../registration-records.js';
import { checkKey, checkSubscriptionData, copySubscriptionData, decodeKey, encodeKey } from '../subscription-records.js';
import type { SubscriptionData, SubscriptionKey, SubscriptionRecord, SubscriptionStore } from '../subscription-store.js';
import { guard } from './client.js';
import { MAX_BUCKETS, type BucketKeys, type RedisKeyspace } from './keys.js';
import { claimShares, defineScripts, type RedisClient, type ScriptCommands } from './scripts.js';

function toRecord(id: string, version: string, json: string): SubscriptionRecord {
  return { key: decodeKey(id), version: Number(version), ...copySubscriptionData(JSON.parse(json) as SubscriptionData) };
}

export class RedisSubscriptionStore implements SubscriptionStore {
  private readonly client: RedisClient & ScriptCommands;

  constructor(
    client: RedisClient,
    private readonly keys: RedisKeyspace,
  ) {
    this.client = defineScripts(client);
  }

  async get(key: SubscriptionKey): Promise<SubscriptionRecord | undefined> {
    const id = encodeKey(checkKey(key));
    return guard('get', async () => {
      const aor = await this.client.get(this.keys.subscriptionAor(id));
      if (aor === null) return undefined;
      const [version, json] = await this.client.hmget(this.keys.bucketOf(aor).subscriptionPrefix + id, 'v', 'd');
      return version === null || json === null ? undefined : toRecord(id, version, json);
    });
  }

  async put(key: SubscriptionKey, data: SubscriptionData, expectedVersion: number): Promise<CasResult> {
    const id = encodeKey(checkKey(key));
    checkExpectedVersion(expectedVersion);
    const checked = checkSubscriptionData(data);
    return guard('put', async () => {
      if (expectedVersion === 0) {
        const other = await this.claim(id, checked.aor);
        if (other !== undefined) return other;
      }
      const b = this.keys.bucketOf(checked.aor);
      const [applied, version] = await this.client.twSubscriptionPut(
        ...this.scriptKeys(b, id), String(expectedVersion), id, checked.aor, String(checked.expiresAt),
        JSON.stringify(checked), String(MAX_BUCKETS), String(b.index),
      );
      return applied === 1 ? { ok: true, version } : { ok: false, currentVersion: version };
    });
  }

  async delete(key: SubscriptionKey, expectedVersion: number): Promise<CasResult> {
    const id = encodeKey(checkKey(key));
    checkExpectedVersion(expectedVersion);
    return guard('delete', async (): Promise<CasResult> => {
      const pointer = this.keys.subscriptionAor(id);
      const aor = await this.client.get(pointer);
      if (aor === null) return expectedVersion === 0 ? { ok: true, version: 0 } : { ok: false, currentVersion: 0 };
      const [applied, version, removed] = await this.client.twSubscriptionDelete(
        ...this.scriptKeys(this.keys.bucketOf(aor), id), String(expectedVersion), id,
      );
      if (applied !== 1) return { ok: false, currentVersion: version };
      if (removed === 1) await this.client.del(pointer);
      return { ok: true, version: 0 };
    });
  }

  async byAor(aor: string): Promise<SubscriptionRecord[]> {
    checkAor(aor);
    return guard('byAor', async () => {
      const b = this.keys.bucketOf(aor);
      const reply = await this.client.twSubscriptionByAor(b.subscriptionAors, aor, b.subscriptionPrefix);
      const out: SubscriptionRecord[] = [];
      for (let i = 0; i < reply.length; i += 3) out.push(toRecord(reply[i]!, reply[i + 1]!, reply[i + 2]!));
      return out;
    });
  }

  async expiredBefore(now: number, limit: number): Promise<SubscriptionRecord[]> {
    checkNow(now);
    resultLimit(limit);
    return guard('expiredBefore', async () => {
      const replies = await Promise.all(
        this.keys.buckets.map((b) => this.client.twSubscriptionExpired(b.subscriptionExpiry, String(now), String(limit), b.subscriptionPrefix)),
      );
      const found: { at: number; id: string; version: string; json: string }[] = [];
      for (const reply of replies) {
        for (let i = 0; i < reply.length; i += 4) {
          found.push({ id: reply[i]!, at: Number(reply[i + 1]), version: reply[i + 2]!, json: reply[i + 3]! });
        }
      }
      found.sort((a, b) => a.at - b.at);
      return found.slice(0, limit).map((f) => toRecord(f.id, f.version, f.json));
    });
  }

  async claimExpired(now: number, leaseMs: number, limit: number): Promise<SubscriptionRecord[]> {
    const until = String(leaseEnd(checkNow(now), leaseMs));
    resultLimit(limit);
    return guard('claimExpired', async () => {
      const buckets = this.keys.buckets;
      const shares = await claimShares(this.client, buckets.map((b) => b.subscriptionExpiry), now, limit);
      const replies = await Promise.all(
        buckets.map((b, i) =>
          shares[i] ? this.client.twSubscriptionClaim(b.subscriptionExpiry, String(now), String(shares[i]), b.subscriptionPrefix, until) : [],
        ),
      );
      const out: SubscriptionRecord[] = [];
      for (const reply of replies) {
        for (let i = 0; i < reply.length; i += 3) out.push(toRecord(reply[i]!, reply[i + 1]!, reply[i + 2]!));
      }
      return out.sort((a, b) => a.expiresAt - b.expiresAt);
    });
  }

  async nextExpiryAt(): Promise<number | undefined> {
    const replies = await guard('nextExpiryAt', () =>
      Promise.all(this.keys.buckets.map((b) => this.client.zrange(b.subscriptionExpiry, 0, 0, 'WITHSCORES'))),
    );
    let earliest: number | undefined;
    for (const reply of replies) {
      if (reply.length < 2) continue;
      const at = Number(reply[1]);
      if (earliest === undefined || at < earliest) earliest = at;
    }
    return earliest;
  }

  async count(): Promise<number> {
    const replies = await guard('count', () => Promise.all(this.keys.buckets.map((b) => this.client.hget(b.subscriptionCounts, 'n'))));
    return replies.reduce((sum, n) => sum + Number(n ?? 0), 0);
  }

  /**
   * Records `aor` as the AoR of subscription `id` before it is created. Resolves undefined when
   * the creation may go on, or with the conflict when `id` exists watching another AoR. A
   * pointer left dangling by a node that died mid-delete is taken over.
   */
  private async claim(id: string, aor: string): Promise<CasResult | undefined> {
    const pointer = this.keys.subscriptionAor(id);
    if ((await this.client.set(pointer, aor, 'NX')) === 'OK') return undefined;
    const other = await this.client.get(pointer);
    if (other !== null && other !== aor) {
      const version = await this.client.hget(this.keys.bucketOf(other).subscriptionPrefix + id, 'v');
      if (version !== null) return { ok: false, currentVersion: Number(version) };
    }
    if (other !== aor) await this.client.set(pointer, aor);
    return undefined;
  }

  private scriptKeys(b: BucketKeys, id: string): [string, string, string, string] {
    return [b.subscriptionPrefix + id, b.subscriptionExpiry, b.subscriptionAors, b.subscriptionCounts];
  }
}
