/**
 * The behaviour every RegistrationStore adapter must show. Each adapter's test file calls
 * {@link registrationStoreContract} with a factory; persistent adapters also give `reopen`.
 */
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { StorageError } from '../../src/storage/errors.js';
import { updateRegistration } from '../../src/storage/registration-update.js';
import type { Binding, RegistrationStore } from '../../src/storage/registration-store.js';
import { T0, binding, fullBinding } from './fixtures.js';

export interface RegistrationHarness {
  readonly store: RegistrationStore;
  /** Persistent adapters: closes the store and opens a new one on the same data. */
  readonly reopen?: () => Promise<RegistrationStore>;
  /** Shared adapters: opens another store instance (another node) on the same data; `close` closes it too. */
  readonly peer?: () => Promise<RegistrationStore>;
  close(): Promise<void>;
}

const ALICE = 'sip:alice@example.com';
const BOB = 'sip:bob@example.com';

async function expectCode(promise: Promise<unknown>, code: string): Promise<void> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(StorageError);
  expect((error as StorageError).code).toBe(code);
}

/** What the adapter under test can do beyond the contract's minimum. */
export interface ContractOptions {
  /** Data survives closing and reopening (the harness gives `reopen`). */
  readonly persistent: boolean;
  /** Several store instances share the data, as core nodes share Redis (the harness gives `peer`). */
  readonly shared?: boolean;
}

export function registrationStoreContract(
  name: string,
  open: () => Promise<RegistrationHarness>,
  options: ContractOptions,
): void {
  describe(`RegistrationStore contract: ${name}`, () => {
    let h: RegistrationHarness;
    let store: RegistrationStore;
    beforeEach(async () => {
      h = await open();
      store = h.store;
    });
    afterEach(async () => {
      await h.close();
    });

    /** Creates `aor` with `bindings` and returns its version. */
    async function create(aor: string, ...bindings: Binding[]): Promise<number> {
      const result = await store.put(aor, { bindings }, 0);
      if (!result.ok) throw new Error(`create ${aor} conflicted`);
      return result.version;
    }

    it('returns undefined for an AoR that was never registered', async () => {
      expect(await store.get(ALICE)).toBeUndefined();
    });

    it('stores every field of every binding, in order, and returns them as given', async () => {
      const bindings = [fullBinding(), binding(), fullBinding({ contact: 'sip:alice@192.0.2.99', regId: 2, q: 0 })];
      const version = await create(ALICE, ...bindings);
      expect(version).toBeGreaterThan(0);
      expect(await store.get(ALICE)).toEqual({ aor: ALICE, version, bindings });
    });

    it('refuses a write with a stale version and leaves the record unchanged', async () => {
      const v1 = await create(ALICE, binding());
      const v2 = await store.put(ALICE, { bindings: [binding({ cseq: 2 })] }, v1);
      expect(v2.ok).toBe(true);
      const stale = await store.put(ALICE, { bindings: [binding({ cseq: 3 })] }, v1);
      expect(stale).toEqual({ ok: false, currentVersion: v2.ok && v2.version });
      expect((await store.get(ALICE))?.bindings[0]?.cseq).toBe(2);
    });

    it('refuses to create (version 0) a record that exists', async () => {
      const v1 = await create(ALICE, binding());
      expect(await store.put(ALICE, { bindings: [binding({ cseq: 9 })] }, 0)).toEqual({ ok: false, currentVersion: v1 });
    });

    it('lets exactly one of two writers racing from the same version win', async () => {
      const v1 = await create(ALICE, binding());
      const results = await Promise.all([
        store.put(ALICE, { bindings: [binding({ contact: 'sip:a@192.0.2.1' })] }, v1),
        store.put(ALICE, { bindings: [binding({ contact: 'sip:b@192.0.2.2' })] }, v1),
      ]);
      expect(results.filter((r) => r.ok)).toHaveLength(1);
      const winner = results.findIndex((r) => r.ok);
      expect((await store.get(ALICE))?.bindings[0]?.contact).toBe(winner === 0 ? 'sip:a@192.0.2.1' : 'sip:b@192.0.2.2');
    });

    it('never reuses a version, so a writer holding one from before a delete cannot overwrite', async () => {
      const v1 = await create(ALICE, binding());
      expect(await store.delete(ALICE, v1)).toEqual({ ok: true, version: 0 });
      const v2 = await create(ALICE, binding({ cseq: 5 }));
      expect(v2).toBeGreaterThan(v1);
      expect((await store.put(ALICE, { bindings: [binding()] }, v1)).ok).toBe(false);
      expect((await store.get(ALICE))?.bindings[0]?.cseq).toBe(5);
    });

    it('deletes with the current version only', async () => {
      const v1 = await create(ALICE, binding());
      expect(await store.delete(ALICE, v1 + 1000)).toEqual({ ok: false, currentVersion: v1 });
      expect(await store.get(ALICE)).toBeDefined();
      expect(await store.delete(ALICE, v1)).toEqual({ ok: true, version: 0 });
      expect(await store.get(ALICE)).toBeUndefined();
      expect(await store.count()).toEqual({ aors: 0, bindings: 0 });
    });

    it('removes the record when its last binding is removed by a put', async () => {
      const v1 = await create(ALICE, binding());
      expect(await store.put(ALICE, { bindings: [] }, v1)).toEqual({ ok: true, version: 0 });
      expect(await store.get(ALICE)).toBeUndefined();
    });

    it('is not changed by mutating what was passed in or what was returned', async () => {
      const given = { ...fullBinding(), path: ['sip:edge1.example.com;lr'] };
      await create(ALICE, given);
      given.path.push('sip:evil.example.com;lr');
      (given as { contact: string }).contact = 'sip:evil@example.com';
      const read = await store.get(ALICE);
      expect(read?.bindings[0]?.path).toEqual(['sip:edge1.example.com;lr']);
      (read!.bindings[0]!.path as string[]).push('sip:x;lr');
      (read!.bindings as Binding[]).pop();
      const again = await store.get(ALICE);
      expect(again?.bindings).toHaveLength(1);
      expect(again?.bindings[0]?.contact).toBe(fullBinding().contact);
      expect(again?.bindings[0]?.path).toEqual(['sip:edge1.example.com;lr']);
    });

    it('rejects malformed bindings with TW_ERR_STORAGE_INVALID and stores nothing', async () => {
      const bad: Partial<Binding>[] = [
        { expiresAt: Number.NaN },
        { path: ['sip:a;lr\r\nX-Injected: 1'] },
        { q: 1.5 },
        { regId: 0 },
        { contact: '' },
        { cseq: 2 ** 31 },
      ];
      for (const fields of bad) await expectCode(store.put(ALICE, { bindings: [binding(fields)] }, 0), 'TW_ERR_STORAGE_INVALID');
      expect(await store.get(ALICE)).toBeUndefined();
    });

    it('lists expired bindings earliest first, up to the limit, including one expiring exactly now', async () => {
      await create(ALICE, binding({ contact: 'sip:a1@192.0.2.1', expiresAt: T0 + 30 }), binding({ contact: 'sip:a2@192.0.2.1', expiresAt: T0 + 10 }));
      await create(BOB, binding({ contact: 'sip:b1@192.0.2.2', expiresAt: T0 + 20 }), binding({ contact: 'sip:b2@192.0.2.2', expiresAt: T0 + 99 }));
      await create('sip:carol@example.com', binding({ contact: 'sip:c1@192.0.2.3', expiresAt: T0 + 40 }));
      const all = await store.expiredBefore(T0 + 40, 100);
      expect(all.map((r) => r.binding.contact)).toEqual(['sip:a2@192.0.2.1', 'sip:b1@192.0.2.2', 'sip:a1@192.0.2.1', 'sip:c1@192.0.2.3']);
      const aliceVersion = (await store.get(ALICE))!.version;
      expect(all.find((r) => r.aor === ALICE)?.version).toBe(aliceVersion);
      expect((await store.expiredBefore(T0 + 40, 2)).map((r) => r.binding.expiresAt)).toEqual([T0 + 10, T0 + 20]);
      expect(await store.expiredBefore(T0 + 9, 10)).toEqual([]);
    });

    it('keeps the expiry index in step with refreshes and removals', async () => {
      const v1 = await create(ALICE, binding({ expiresAt: T0 + 10 }));
      await create(BOB, binding({ expiresAt: T0 + 20 }));
      await store.put(ALICE, { bindings: [binding({ expiresAt: T0 + 5000, cseq: 2 })] }, v1);
      expect((await store.expiredBefore(T0 + 100, 10)).map((r) => r.aor)).toEqual([BOB]);
      await store.delete(BOB, (await store.get(BOB))!.version);
      expect(await store.expiredBefore(T0 + 100, 10)).toEqual([]);
      expect(await store.nextExpiryAt()).toBe(T0 + 5000);
    });

    it('reports the next expiry, and none when empty', async () => {
      expect(await store.nextExpiryAt()).toBeUndefined();
      await create(ALICE, binding({ expiresAt: T0 + 300 }), binding({ contact: 'sip:x@192.0.2.4', expiresAt: T0 + 200 }));
      await create(BOB, binding({ expiresAt: T0 + 250 }));
      expect(await store.nextExpiryAt()).toBe(T0 + 200);
    });

    it('lets a sweeper expire bindings with no client traffic, keeping the live ones', async () => {
      await create(ALICE, binding({ contact: 'sip:old@192.0.2.1', expiresAt: T0 + 10 }), binding({ contact: 'sip:new@192.0.2.1', expiresAt: T0 + 9000 }));
      await create(BOB, binding({ expiresAt: T0 + 20 }));
      const now = T0 + 1000;
      for (const { aor } of await store.expiredBefore(now, 100)) {
        await updateRegistration(store, aor, (current) => current && { bindings: current.bindings.filter((b) => b.expiresAt > now) });
      }
      expect(await store.expiredBefore(now, 100)).toEqual([]);
      expect((await store.get(ALICE))?.bindings.map((b) => b.contact)).toEqual(['sip:new@192.0.2.1']);
      expect(await store.get(BOB)).toBeUndefined();
      expect(await store.count()).toEqual({ aors: 1, bindings: 1 });
    });

    /** What a claim returned, comparable across calls: AoR, contact and expiry. */
    const claimed = (refs: { aor: string; binding: Binding }[]): string[] => refs.map((r) => `${r.aor} ${r.binding.contact} ${r.binding.expiresAt - T0}`);

    it('claims a due binding once, offers it again once the lease is over, and never one not yet due', async () => {
      const v1 = await create(ALICE, binding({ contact: 'sip:a@192.0.2.1', expiresAt: T0 + 10 }));
      await create(BOB, binding({ contact: 'sip:b@192.0.2.2', expiresAt: T0 + 5000 }));
      const first = await store.claimExpired(T0 + 100, 1000, 10);
      expect(first).toEqual([{ aor: ALICE, binding: binding({ contact: 'sip:a@192.0.2.1', expiresAt: T0 + 10 }), version: v1 }]);
      expect(await store.claimExpired(T0 + 100, 1000, 10)).toEqual([]);
      expect(await store.claimExpired(T0 + 1099, 50, 10)).toEqual([]);
      // The claimer did not remove it (it died): offered again, to whoever claims first.
      const again = await store.claimExpired(T0 + 1100, 1000, 10);
      expect(claimed(again)).toEqual([`${ALICE} sip:a@192.0.2.1 10`]);
      expect(again[0]!.version).toBe(v1);
      expect(await store.claimExpired(T0 + 1500, 1000, 10)).toEqual([]);
      expect((await store.put(ALICE, { bindings: [] }, again[0]!.version)).ok).toBe(true);
      expect(await store.claimExpired(T0 + 4999, 1000, 10)).toEqual([]);
      expect(await store.get(BOB)).toMatchObject({ bindings: [{ expiresAt: T0 + 5000 }] });
    });

    it('ends the claims on an AoR when it is written: a refreshed binding is due at its new expiry, a removed one is gone', async () => {
      const v1 = await create(ALICE, binding({ contact: 'sip:a@192.0.2.1', expiresAt: T0 + 10 }));
      const vBob = await create(BOB, binding({ contact: 'sip:b@192.0.2.2', expiresAt: T0 + 20 }));
      expect(claimed(await store.claimExpired(T0 + 100, 10_000, 10))).toEqual([`${ALICE} sip:a@192.0.2.1 10`, `${BOB} sip:b@192.0.2.2 20`]);
      const refreshed = await store.put(ALICE, { bindings: [binding({ contact: 'sip:a@192.0.2.1', expiresAt: T0 + 500, cseq: 2 })] }, v1);
      expect(await store.delete(BOB, vBob)).toEqual({ ok: true, version: 0 });
      expect(await store.claimExpired(T0 + 200, 10_000, 10)).toEqual([]);
      // Due at the new expiry, well before the old claim's lease would have ended.
      const due = await store.claimExpired(T0 + 500, 10_000, 10);
      expect(claimed(due)).toEqual([`${ALICE} sip:a@192.0.2.1 500`]);
      expect(due[0]!.version).toBe(refreshed.ok && refreshed.version);
      expect(await store.claimExpired(T0 + 20_000, 10_000, 10)).toEqual(due);
      expect(await store.claimExpired(T0 + 20_000, 10_000, 10)).toEqual([]);
    });

    it('claims up to the limit, earliest first, each due binding of an AoR on its own', async () => {
      await create(ALICE, binding({ contact: 'sip:a1@192.0.2.1', expiresAt: T0 + 30 }), binding({ contact: 'sip:a2@192.0.2.1', expiresAt: T0 + 10 }));
      await create(BOB, binding({ contact: 'sip:b1@192.0.2.2', expiresAt: T0 + 20 }), binding({ contact: 'sip:b2@192.0.2.2', expiresAt: T0 + 99 }));
      await create('sip:carol@example.com', binding({ contact: 'sip:c1@192.0.2.3', expiresAt: T0 + 40 }));
      // Two equal bindings of one AoR are two entries.
      await create('sip:dave@example.com', binding({ contact: 'sip:d@192.0.2.4', expiresAt: T0 + 50 }), binding({ contact: 'sip:d@192.0.2.4', expiresAt: T0 + 50 }));
      const now = T0 + 50;
      expect(claimed(await store.claimExpired(now, 1000, 2))).toEqual([`${ALICE} sip:a2@192.0.2.1 10`, `${BOB} sip:b1@192.0.2.2 20`]);
      expect(claimed(await store.claimExpired(now, 1000, 2))).toEqual([`${ALICE} sip:a1@192.0.2.1 30`, 'sip:carol@example.com sip:c1@192.0.2.3 40']);
      expect(claimed(await store.claimExpired(now, 1000, 1))).toEqual(['sip:dave@example.com sip:d@192.0.2.4 50']);
      expect(claimed(await store.claimExpired(now, 1000, 100))).toEqual(['sip:dave@example.com sip:d@192.0.2.4 50']);
      expect(await store.claimExpired(now, 1000, 100)).toEqual([]);
      expect(await store.claimExpired(T0 + 98, 1000, 100)).toEqual([]);
      expect(claimed(await store.claimExpired(T0 + 99, 1000, 100))).toEqual([`${BOB} sip:b2@192.0.2.2 99`]);
      expect(await store.count()).toEqual({ aors: 4, bindings: 7 });
    });

    it('rejects a claim with a malformed lease or limit', async () => {
      await expectCode(store.claimExpired(T0, 0, 10), 'TW_ERR_STORAGE_INVALID');
      await expectCode(store.claimExpired(T0, 1.5, 10), 'TW_ERR_STORAGE_INVALID');
      await expectCode(store.claimExpired(T0, 1000, 0), 'TW_ERR_STORAGE_INVALID');
      await expectCode(store.claimExpired(Number.NaN, 1000, 10), 'TW_ERR_STORAGE_INVALID');
    });

    it(`hands each due binding to exactly one of many concurrent claims${options.shared ? ', from two store instances' : ''}`, async () => {
      const other = options.shared ? await h.peer!() : store;
      const due: string[] = [];
      for (let i = 0; i < 40; i++) {
        const aor = `sip:user${String(i).padStart(2, '0')}@example.com`;
        const bindings = [binding({ contact: `sip:${i}a@192.0.2.1`, expiresAt: T0 + i })];
        if (i % 3 === 0) bindings.push(binding({ contact: `sip:${i}b@192.0.2.1`, expiresAt: T0 + 100 + i }));
        if (i % 4 === 0) bindings.push(binding({ contact: `sip:${i}c@192.0.2.1`, expiresAt: T0 + 60_000 }));
        await create(aor, ...bindings);
        for (const b of bindings) if (b.expiresAt <= T0 + 1000) due.push(`${aor} ${b.contact} ${b.expiresAt - T0}`);
      }
      const seen: string[] = [];
      for (let round = 0; round < 20; round++) {
        const claims = await Promise.all(Array.from({ length: 12 }, (_, i) => (i % 2 ? other : store).claimExpired(T0 + 1000, 30_000, 5)));
        for (const refs of claims) expect(refs.length).toBeLessThanOrEqual(5);
        const got = claims.flatMap(claimed);
        if (got.length === 0) break;
        seen.push(...got);
      }
      expect(new Set(seen).size).toBe(seen.length);
      expect(seen.sort()).toEqual(due.sort());
    });

    it('finds every binding of a flow across AoRs, and forgets them once removed', async () => {
      const flow = 'ws:flow-1';
      await create(ALICE, fullBinding({ flowId: flow }), binding({ contact: 'sip:udp@192.0.2.1' }));
      await create(BOB, fullBinding({ flowId: flow, contact: 'sip:bob@df7jal23.invalid;transport=ws' }));
      await create('sip:carol@example.com', fullBinding({ flowId: 'ws:flow-2' }));
      const found = await store.bindingsOfFlow(flow);
      expect(found.map((r) => r.aor).sort()).toEqual([ALICE, BOB]);
      expect(found.every((r) => r.binding.flowId === flow)).toBe(true);
      for (const { aor } of found) {
        await updateRegistration(store, aor, (current) => current && { bindings: current.bindings.filter((b) => b.flowId !== flow) });
      }
      expect(await store.bindingsOfFlow(flow)).toEqual([]);
      expect((await store.get(ALICE))?.bindings.map((b) => b.contact)).toEqual(['sip:udp@192.0.2.1']);
      expect(await store.bindingsOfFlow('ws:flow-2')).toHaveLength(1);
    });

    it('lists every record exactly once, a page at a time', async () => {
      const aors = Array.from({ length: 23 }, (_, i) => `sip:user${String(i).padStart(2, '0')}@example.com`);
      for (const aor of aors) await create(aor, binding({ contact: `sip:${aor.slice(4)}` }));
      const seen: string[] = [];
      let after: string | undefined;
      do {
        const page = await store.list(after === undefined ? { limit: 7 } : { after, limit: 7 });
        expect(page.items.length).toBeLessThanOrEqual(7);
        for (const record of page.items) {
          expect(record.bindings[0]?.contact).toBe(`sip:${record.aor.slice(4)}`);
          seen.push(record.aor);
        }
        after = page.next;
      } while (after !== undefined);
      expect(seen.sort()).toEqual(aors);
      await expectCode(store.list({ limit: 0 }), 'TW_ERR_STORAGE_INVALID');
    });

    it('counts AoRs and bindings', async () => {
      await create(ALICE, binding(), binding({ contact: 'sip:2@192.0.2.1' }));
      await create(BOB, binding());
      expect(await store.count()).toEqual({ aors: 2, bindings: 3 });
    });

    it('agrees with a simple model under random writes (fast-check)', async () => {
      const aorArb = fc.constantFrom(ALICE, BOB, 'sip:carol@example.com');
      const op = fc.record({ aor: aorArb, expiries: fc.array(fc.integer({ min: 0, max: 50 }), { maxLength: 3 }) });
      await fc.assert(
        fc.asyncProperty(fc.array(op, { maxLength: 12 }), fc.integer({ min: 0, max: 50 }), fc.integer({ min: 1, max: 5 }), async (ops, at, limit) => {
          const model = new Map<string, number[]>();
          for (const aor of [ALICE, BOB, 'sip:carol@example.com']) {
            const current = await store.get(aor);
            if (current) await store.delete(aor, current.version);
          }
          for (const { aor, expiries } of ops) {
            const current = await store.get(aor);
            const bindings = expiries.map((e, i) => binding({ contact: `sip:${i}@192.0.2.1`, expiresAt: T0 + e }));
            expect((await store.put(aor, { bindings }, current?.version ?? 0)).ok).toBe(true);
            if (bindings.length) model.set(aor, expiries);
            else model.delete(aor);
          }
          const expected = [...model.values()].flat().filter((e) => e <= at).sort((a, b) => a - b).slice(0, limit);
          const got = await store.expiredBefore(T0 + at, limit);
          expect(got.map((r) => r.binding.expiresAt - T0)).toEqual(expected);
          const total = [...model.values()].reduce((n, e) => n + e.length, 0);
          expect(await store.count()).toEqual({ aors: model.size, bindings: total });
          const earliest = Math.min(...[...model.values()].flat());
          expect(await store.nextExpiryAt()).toBe(Number.isFinite(earliest) ? T0 + earliest : undefined);
        }),
        { numRuns: 40 },
      );
    });

    if (!options.persistent) return;
    it('keeps records, versions and the expiry index across a restart', async () => {
      const v1 = await create(ALICE, fullBinding(), binding({ expiresAt: T0 + 5 }));
      const vBob = await create(BOB, binding({ expiresAt: T0 + 7 }));
      store = await h.reopen!();
      expect(await store.get(ALICE)).toEqual({ aor: ALICE, version: v1, bindings: [fullBinding(), binding({ expiresAt: T0 + 5 })] });
      expect((await store.expiredBefore(T0 + 10, 10)).map((r) => r.aor)).toEqual([ALICE, BOB]);
      expect(await store.bindingsOfFlow(fullBinding().flowId!)).toHaveLength(1);
      expect((await store.put(ALICE, { bindings: [binding()] }, v1 - 1)).ok).toBe(false);
      const v2 = await store.put(ALICE, { bindings: [binding()] }, v1);
      expect(v2.ok && v2.version).toBeGreaterThan(Math.max(v1, vBob));
    });
  });
}
