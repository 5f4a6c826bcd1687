/**
 * The Redis RegistrationStore against a real Redis: the shared contract (reopened by a new
 * client on the same prefix), two clients racing, and the indexes kept exact by the write
 * script under random operation sequences compared with the memory adapter.
 */
import fc from 'fast-check';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { MemoryRegistrationStore } from '../../src/storage/memory/registration-store.js';
import { openRedisStores, type RedisStores, type RedisStoresOptions } from '../../src/storage/redis/index.js';
import { updateRegistration } from '../../src/storage/registration-update.js';
import type { Binding, RegistrationRecord, RegistrationStore } from '../../src/storage/registration-store.js';
import { StorageError } from '../../src/storage/errors.js';
import { deleteKeys, ensureRedis, indexProblems, testPrefix, type RedisEndpoint } from '../harness/redis.js';
import { T0, binding } from './fixtures.js';
import { registrationStoreContract, type RegistrationHarness } from './registration-store.contract.js';

let redis: RedisEndpoint | undefined;
const endpoint = async (): Promise<RedisEndpoint> => (redis ??= await ensureRedis());
afterAll(async () => {
  await redis?.dispose();
});

/** Stores on a fresh prefix; `reopen` and `peer` connect a new client to the same prefix. */
async function redisHarness(options: RedisStoresOptions = {}): Promise<RegistrationHarness> {
  const { url } = await endpoint();
  const prefix = testPrefix();
  let stores = await openRedisStores(url, { ...options, prefix });
  const peers: RedisStores[] = [];
  return {
    store: stores.registrations,
    reopen: async () => {
      await stores.close();
      stores = await openRedisStores(url, { ...options, prefix });
      return stores.registrations;
    },
    peer: async () => {
      const peer = await openRedisStores(url, { ...options, prefix });
      peers.push(peer);
      return peer.registrations;
    },
    close: async () => {
      await deleteKeys(stores.client, prefix);
      await Promise.all([stores, ...peers].map((s) => s.close()));
    },
  };
}

registrationStoreContract('redis (64 buckets)', () => redisHarness(), { persistent: true, shared: true });
registrationStoreContract('redis (1 bucket)', () => redisHarness({ buckets: 1 }), { persistent: true, shared: true });

const AORS = ['sip:alice@example.com', 'sip:bob@example.com', 'sip:carol@example.com', 'sip:+15550100@example.com'];
const FLOWS = ['ws:flow-1', 'ws:flow-2', 'tcp:flow-3'];

/** Records of `store` for comparison: versions differ between adapters, contents must not. */
async function contents(store: RegistrationStore): Promise<Record<string, Binding[]>> {
  const out: Record<string, Binding[]> = {};
  let after: string | undefined;
  do {
    const page = await store.list(after === undefined ? { limit: 2 } : { after, limit: 2 });
    for (const record of page.items) out[record.aor] = [...record.bindings];
    after = page.next;
  } while (after !== undefined);
  return out;
}

function withoutVersion(refs: { aor: string; binding: Binding }[]): { aor: string; binding: Binding }[] {
  return refs.map(({ aor, binding: b }) => ({ aor, binding: b }));
}

describe('Redis registration store', () => {
  let stores: RedisStores[] = [];
  let prefix = '';

  async function open(options: RedisStoresOptions = {}): Promise<RedisStores> {
    const s = await openRedisStores((await endpoint()).url, { prefix, ...options });
    stores.push(s);
    return s;
  }

  beforeAll(async () => {
    await endpoint();
  });

  afterEach(async () => {
    if (stores[0]) await deleteKeys(stores[0].client, prefix);
    await Promise.all(stores.map((s) => s.close()));
    stores = [];
  });

  it('lets exactly one of two clients racing from the same version win, every round', async () => {
    prefix = testPrefix();
    const [a, b] = [await open(), await open()];
    const aor = AORS[0]!;
    let version = 0;
    for (let round = 0; round < 50; round++) {
      const results = await Promise.all([
        a.registrations.put(aor, { bindings: [binding({ contact: 'sip:a@192.0.2.1', cseq: round })] }, version),
        b.registrations.put(aor, { bindings: [binding({ contact: 'sip:b@192.0.2.2', cseq: round })] }, version),
      ]);
      const winners = results.filter((r) => r.ok);
      expect(winners).toHaveLength(1);
      const loser = results.find((r) => !r.ok)!;
      const winner = winners[0]!;
      expect(!loser.ok && winner.ok && loser.currentVersion).toBe(winner.ok && winner.version);
      const stored = await a.registrations.get(aor);
      expect(stored?.bindings[0]?.contact).toBe(results[0]!.ok ? 'sip:a@192.0.2.1' : 'sip:b@192.0.2.2');
      version = stored!.version;
    }
  });

  it('loses no update when two clients add bindings to one AoR concurrently', async () => {
    prefix = testPrefix();
    const [a, b] = [await open(), await open()];
    const aor = AORS[1]!;
    const add = (s: RedisStores, contact: string) =>
      updateRegistration(s.registrations, aor, (current) => ({
        bindings: [...(current?.bindings ?? []), binding({ contact })],
      }), 1000);
    const writes = Array.from({ length: 20 }, (_, i) => add(i % 2 ? a : b, `sip:${i}@192.0.2.1`));
    const outcomes = await Promise.all(writes);
    expect(outcomes.every((o) => o.status === 'written')).toBe(true);
    const record = await b.registrations.get(aor);
    expect(record?.bindings.map((x) => x.contact).sort()).toEqual(Array.from({ length: 20 }, (_, i) => `sip:${i}@192.0.2.1`).sort());
    expect(await a.registrations.count()).toEqual({ aors: 1, bindings: 20 });
    expect(await indexProblems(a.client, a.keyspace)).toEqual([]);
  });

  it('keeps the expiry, flow and AoR indexes exact under random writes, agreeing with the memory adapter (fast-check)', async () => {
    const bindingArb = fc.record({
      contact: fc.constantFrom('sip:1@192.0.2.1', 'sip:2@192.0.2.2', 'sip:3@192.0.2.3'),
      expires: fc.integer({ min: 0, max: 100 }),
      flow: fc.option(fc.constantFrom(...FLOWS), { nil: undefined }),
    });
    const opArb = fc.oneof(
      fc.record({ kind: fc.constant('put' as const), aor: fc.constantFrom(...AORS), bindings: fc.array(bindingArb, { maxLength: 4 }) }),
      fc.record({ kind: fc.constant('delete' as const), aor: fc.constantFrom(...AORS) }),
      fc.record({ kind: fc.constant('stale' as const), aor: fc.constantFrom(...AORS), bindings: fc.array(bindingArb, { maxLength: 2 }) }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { maxLength: 20 }), fc.integer({ min: 0, max: 100 }), fc.constantFrom(1, 3, 64), async (ops, at, buckets) => {
        prefix = testPrefix();
        const redisStores = await open({ buckets });
        const store = redisStores.registrations;
        const model = new MemoryRegistrationStore();
        try {
          for (const op of ops) {
            const [current, modelCurrent] = [await store.get(op.aor), await model.get(op.aor)];
            expect(current?.bindings).toEqual(modelCurrent?.bindings);
            const version = current?.version ?? 0;
            if (op.kind === 'delete') {
              expect(await store.delete(op.aor, version)).toEqual(await model.delete(op.aor, modelCurrent?.version ?? 0));
              continue;
            }
            const bindings = op.bindings.map((b, i) =>
              binding({ contact: `${b.contact};i=${i}`, expiresAt: T0 + b.expires, ...(b.flow ? { flowId: b.flow } : {}) }),
            );
            if (op.kind === 'stale') {
              // A writer holding an old version (or none, for a record that exists) changes nothing.
              const result = await store.put(op.aor, { bindings }, version === 0 ? 1_000_000 : 0);
              expect(result).toEqual({ ok: false, currentVersion: version });
              continue;
            }
            const [r, m] = [await store.put(op.aor, { bindings }, version), await model.put(op.aor, { bindings }, modelCurrent?.version ?? 0)];
            expect(r.ok).toBe(true);
            expect(m.ok).toBe(true);
          }
          expect(await indexProblems(redisStores.client, redisStores.keyspace)).toEqual([]);
          expect(await contents(store)).toEqual(await contents(model));
          expect(await store.count()).toEqual(await model.count());
          expect(await store.nextExpiryAt()).toBe(await model.nextExpiryAt());
          const sortRefs = <T extends { aor: string; binding: Binding }>(refs: T[]): T[] =>
            refs.sort((x, y) => x.binding.expiresAt - y.binding.expiresAt || (x.aor + x.binding.contact).localeCompare(y.aor + y.binding.contact));
          expect(withoutVersion(sortRefs(await store.expiredBefore(T0 + at, 1000)))).toEqual(
            withoutVersion(sortRefs(await model.expiredBefore(T0 + at, 1000))),
          );
          for (const flow of FLOWS) {
            expect(withoutVersion(sortRefs(await store.bindingsOfFlow(flow)))).toEqual(withoutVersion(sortRefs(await model.bindingsOfFlow(flow))));
          }
          for (const ref of await store.expiredBefore(T0 + at, 1000)) {
            expect(ref.version).toBe((await store.get(ref.aor))!.version);
          }
        } finally {
          await deleteKeys(redisStores.client, prefix);
        }
      }),
      { numRuns: 60 },
    );
  });

  it('pages through thousands of AoRs exactly once, even while records are written in between', async () => {
    prefix = testPrefix();
    const { registrations: store } = await open({ buckets: 16 });
    const aors = Array.from({ length: 1500 }, (_, i) => `sip:+1555${String(i).padStart(7, '0')}@example.com`);
    await Promise.all(aors.map((aor) => store.put(aor, { bindings: [binding()] }, 0)));
    const seen: RegistrationRecord[] = [];
    let after: string | undefined;
    let page = 0;
    do {
      const result = await store.list(after === undefined ? { limit: 100 } : { after, limit: 100 });
      seen.push(...result.items);
      after = result.next;
      // Writes between pages: a new AoR and a removed one, neither present for the whole listing.
      if (page++ === 3) {
        await store.put('sip:newcomer@example.com', { bindings: [binding()] }, 0);
        await store.delete(aors[0]!, (await store.get(aors[0]!))!.version);
      }
    } while (after !== undefined);
    const listed = seen.map((r) => r.aor).filter((aor) => aor !== 'sip:newcomer@example.com' && aor !== aors[0]);
    expect(listed.sort()).toEqual(aors.slice(1).sort());
    expect(new Set(seen.map((r) => r.aor)).size).toBe(seen.length);
  });

  it('keeps a claim in the expiry index as the lease end, until a write of the AoR puts the real expiries back', async () => {
    prefix = testPrefix();
    const s = await open({ buckets: 4 });
    const store = s.registrations;
    for (const aor of AORS) expect((await store.put(aor, { bindings: [binding({ expiresAt: T0 + 10 })] }, 0)).ok).toBe(true);
    expect(await store.claimExpired(T0 + 100, 1000, 100)).toHaveLength(AORS.length);
    // Until the lease is over, the claimed bindings are indexed at its end, not at their expiry.
    expect(await store.nextExpiryAt()).toBe(T0 + 1100);
    expect(await store.expiredBefore(T0 + 100, 100)).toEqual([]);
    expect(await indexProblems(s.client, s.keyspace)).not.toEqual([]);
    for (const aor of AORS) {
      const outcome = await updateRegistration(store, aor, (current) => current && { bindings: current.bindings.map((b) => ({ ...b, expiresAt: T0 + 5000 })) });
      expect(outcome.status).toBe('written');
    }
    expect(await indexProblems(s.client, s.keyspace)).toEqual([]);
    expect(await store.nextExpiryAt()).toBe(T0 + 5000);
    expect(await store.claimExpired(T0 + 4999, 1000, 100)).toEqual([]);
    expect(await store.claimExpired(T0 + 5000, 1000, 100)).toHaveLength(AORS.length);
  });

  it('refuses to open a prefix written with another bucket count', async () => {
    prefix = testPrefix();
    await open({ buckets: 8 });
    const error = await open({ buckets: 16 }).then(() => undefined, (e: unknown) => e);
    expect(error).toBeInstanceOf(StorageError);
    expect((error as StorageError).code).toBe('TW_ERR_STORAGE_SCHEMA');
    expect((error as StorageError).message).toContain(`${prefix}layout`);
  });

  it('stores AoRs with braces and other odd characters under the right bucket', async () => {
    prefix = testPrefix();
    const s = await open({ buckets: 4 });
    const odd = ['sip:{x}@example.com', 'sip:}{@example.com', 'tel:+1-555-0100', 'sip:ünïcode@example.com'];
    for (const aor of odd) expect((await s.registrations.put(aor, { bindings: [binding({ flowId: `f}{${aor}` })] }, 0)).ok).toBe(true);
    for (const aor of odd) expect((await s.registrations.get(aor))?.aor).toBe(aor);
    for (const aor of odd) expect((await s.registrations.bindingsOfFlow(`f}{${aor}`)).map((r) => r.aor)).toEqual([aor]);
    expect((await contents(s.registrations))).toHaveProperty([odd[3]!]);
    expect(await indexProblems(s.client, s.keyspace)).toEqual([]);
  });
});
