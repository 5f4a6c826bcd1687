/**
 * {@link RegistrationStore} on Redis, shared by every core node (issue 7). Key layout in
 * keys.ts; scripts in scripts.ts.
 *
 * An AoR lives in one of B buckets; a bucket's keys share one Cluster slot. A write is one Lua
 * script on that slot: compare the version, replace the record, and update the bucket's expiry
 * index, flow index, AoR index and counters, all atomically. So the indexes never disagree
 * with the records, on a single Redis or on a Cluster, and nothing needs repairing after a
 * node dies mid-write.
 *
 * Reads of one AoR are one command. The global queries (expiry, flow, list, count) run one
 * script or command per bucket, each an atomic snapshot of its bucket; together they are not
 * one snapshot: a write landing during the fan-out may be seen in one bucket and not another.
 * That is all the callers need: every BindingRef carries the version it was read at, and the
 * sweeper and the flow-failure handler write back with compare-and-set.
 *
 * Versions come from a counter per bucket, so they never repeat for an AoR (common.ts), even
 * after a delete; they are not ordered across buckets.
 *
 * `claimExpired` keeps its claims in the expiry index itself: a claim script takes a bucket's
 * due members and re-scores them to the lease end, atomically, so no other node's claim sees
 * them before then, and a node that died holding them leaves them due again at the lease end.
 * Any CAS write of the AoR rewrites its members with the real expiries, ending the claims.
 * So the index score of a claimed binding is its lease end, not its expiresAt: `expiredBefore`
 * does not see it, and `nextExpiryAt` reports the lease end, until the lease is over (the
 * contract allows both; a sweeper can claim nothing earlier). Claims need no extra keys.
 */
import { checkExpectedVersion, pageLimit, resultLimit, type CasResult, type Page, type PageRequest } from '../common.js';
import { invalid } from '../errors.js';
import { checkAor, checkData, checkFlowId, checkNow, copyBinding, leaseEnd } from '../registration-records.js';
import type {
  Binding,
  BindingRef,
  RegistrationCounts,
  RegistrationData,
  RegistrationRecord,
  RegistrationStore,
} from '../registration-store.js';
import { guard } from './client.js';
import type { RedisKeyspace } from './keys.js';
import { claimShares, defineScripts, type RedisClient, type ScriptCommands } from './scripts.js';

const NO_BINDINGS: readonly Binding[] = Object.freeze([]);

function parseBindings(json: string): Binding[] {
  return (JSON.parse(json) as Binding[]).map(copyBinding);
}

/** Decodes a list cursor `<bucket>:<aor>`. */
function parseCursor(after: string | undefined, buckets: number): { bucket: number; aor: string } {
  if (after === undefined) return { bucket: 0, aor: '' };
  const cut = after.indexOf(':');
  const bucket = cut > 0 ? Number(after.slice(0, cut)) : Number.NaN;
  if (!Number.isSafeInteger(bucket) || bucket < 0 || bucket >= buckets) {
    throw invalid(`list cursor ${JSON.stringify(after)} was not returned by this store`);
  }
  return { bucket, aor: after.slice(cut + 1) };
}

export class RedisRegistrationStore implements RegistrationStore {
  private readonly client: RedisClient & ScriptCommands;

  constructor(
    client: RedisClient,
    private readonly keys: RedisKeyspace,
  ) {
    this.client = defineScripts(client);
  }

  async get(aor: string): Promise<RegistrationRecord | undefined> {
    checkAor(aor);
    return guard('get', async () => {
      const [version, json] = await this.client.hmget(this.keys.record(aor), 'v', 'b');
      if (version === null || json === null) return undefined;
      return { aor, version: Number(version), bindings: parseBindings(json) };
    });
  }

  async put(aor: string, data: RegistrationData, expectedVersion: number): Promise<CasResult> {
    checkAor(aor);
    checkExpectedVersion(expectedVersion);
    return this.compareAndSet(aor, checkData(data), expectedVersion);
  }

  async delete(aor: string, expectedVersion: number): Promise<CasResult> {
    checkAor(aor);
    checkExpectedVersion(expectedVersion);
    return this.compareAndSet(aor, NO_BINDINGS, expectedVersion);
  }

  async expiredBefore(now: number, limit: number): Promise<BindingRef[]> {
    checkNow(now);
    resultLimit(limit);
    return guard('expiredBefore', async () => {
      const replies = await Promise.all(
        this.keys.buckets.map((b) => this.client.twRegistrationExpired(b.expiry, String(now), String(limit), b.recordPrefix)),
      );
      return this.earliest(replies, limit);
    });
  }

  async claimExpired(now: number, leaseMs: number, limit: number): Promise<BindingRef[]> {
    const until = String(leaseEnd(checkNow(now), leaseMs));
    resultLimit(limit);
    return guard('claimExpired', async () => {
      const buckets = this.keys.buckets;
      const shares = await claimShares(this.client, buckets.map((b) => b.expiry), now, limit);
      const replies = await Promise.all(
        buckets.map((b, i) =>
          shares[i] ? this.client.twRegistrationClaim(b.expiry, String(now), String(shares[i]), b.recordPrefix, until) : [],
        ),
      );
      const refs: BindingRef[] = [];
      for (const reply of replies) {
        const parsed = new Map<string, Binding[]>();
        for (let i = 0; i < reply.length; i += 4) {
          const [aor, index, version, json] = reply.slice(i, i + 4) as [string, string, string, string];
          let bindings = parsed.get(aor);
          if (!bindings) parsed.set(aor, (bindings = parseBindings(json)));
          const binding = bindings[Number(index)];
          if (binding) refs.push({ aor, binding, version: Number(version) });
        }
      }
      return refs.sort((a, b) => a.binding.expiresAt - b.binding.expiresAt);
    });
  }

  async nextExpiryAt(): Promise<number | undefined> {
    const replies = await guard('nextExpiryAt', () =>
      Promise.all(this.keys.buckets.map((b) => this.client.zrange(b.expiry, 0, 0, 'WITHSCORES'))),
    );
    let earliest: number | undefined;
    for (const reply of replies) {
      if (reply.length < 2) continue;
      const at = Number(reply[1]);
      if (earliest === undefined || at < earliest) earliest = at;
    }
    return earliest;
  }

  async bindingsOfFlow(flowId: string): Promise<BindingRef[]> {
    checkFlowId(flowId);
    return guard('bindingsOfFlow', async () => {
      const replies = await Promise.all(
        this.keys.buckets.map((b) => this.client.twRegistrationFlow(b.flows, flowId, b.recordPrefix)),
      );
      const refs: BindingRef[] = [];
      for (const record of replies.flatMap((reply) => this.records(reply))) {
        for (const binding of record.bindings) {
          if (binding.flowId === flowId) refs.push({ aor: record.aor, binding, version: record.version });
        }
      }
      return refs;
    });
  }

  /**
   * Pages through the buckets in order, and through each bucket's AoRs in byte order (its
   * `aors` sorted set), so the cursor `<bucket>:<last aor>` stays valid whatever is written in
   * between: a record present for the whole listing is returned exactly once.
   */
  async list(page: PageRequest): Promise<Page<RegistrationRecord>> {
    const limit = pageLimit(page);
    const buckets = this.keys.buckets;
    let { bucket, aor: after } = parseCursor(page.after, buckets.length);
    const items: RegistrationRecord[] = [];
    while (bucket < buckets.length) {
      const keys = buckets[bucket]!;
      const want = limit - items.length;
      const page = await guard('list', async () =>
        this.records(await this.client.twRegistrationPage(keys.aors, after, String(want), keys.recordPrefix)),
      );
      items.push(...page);
      if (items.length === limit) return { items, next: `${bucket}:${items[items.length - 1]!.aor}` };
      bucket++;
      after = '';
    }
    return { items };
  }

  async count(): Promise<RegistrationCounts> {
    const replies = await guard('count', () =>
      Promise.all(this.keys.buckets.map((b) => this.client.hmget(b.counts, 'aors', 'bindings'))),
    );
    let aors = 0;
    let bindings = 0;
    for (const [a, b] of replies) {
      aors += Number(a ?? 0);
      bindings += Number(b ?? 0);
    }
    return { aors, bindings };
  }

  private async compareAndSet(aor: string, bindings: readonly Binding[], expected: number): Promise<CasResult> {
    const b = this.keys.bucketOf(aor);
    const flows = [...new Set(bindings.flatMap((x) => (x.flowId === undefined ? [] : [x.flowId])))].join('\n');
    const json = bindings.length === 0 ? '' : JSON.stringify(bindings);
    const scores = bindings.map((x) => String(x.expiresAt));
    const what = bindings.length === 0 ? 'delete' : 'put';
    const [applied, version] = await guard(what, () =>
      this.client.twRegistrationPut(b.recordPrefix + aor, b.expiry, b.flows, b.aors, b.counts,
        String(expected), aor, json, flows, ...scores),
    );
    return applied === 1 ? { ok: true, version } : { ok: false, currentVersion: version };
  }

  /** Merges the buckets' {aor, index, score, version, json} replies, earliest first. */
  private earliest(replies: string[][], limit: number): BindingRef[] {
    const found: { at: number; ref: BindingRef }[] = [];
    for (const reply of replies) {
      const parsed = new Map<string, Binding[]>();
      for (let i = 0; i < reply.length; i += 5) {
        const [aor, index, score, version, json] = reply.slice(i, i + 5) as [string, string, string, string, string];
        let bindings = parsed.get(aor);
        if (!bindings) parsed.set(aor, (bindings = parseBindings(json)));
        const binding = bindings[Number(index)];
        if (binding) found.push({ at: Number(score), ref: { aor, binding, version: Number(version) } });
      }
    }
    found.sort((a, b) => a.at - b.at);
    return found.slice(0, limit).map((f) => f.ref);
  }

  /** Decodes a flat {aor, version, json} script reply. */
  private records(reply: string[]): RegistrationRecord[] {
    const out: RegistrationRecord[] = [];
    for (let i = 0; i < reply.length; i += 3) {
      out.push({ aor: reply[i]!, version: Number(reply[i + 1]), bindings: parseBindings(reply[i + 2]!) });
    }
    return out;
  }
}
