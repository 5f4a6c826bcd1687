/**
 * The behaviour every SubscriptionStore adapter must show. Each adapter's test file calls
 * {@link subscriptionStoreContract} with a factory; persistent adapters also give `reopen`.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { StorageError } from '../../src/storage/errors.js';
import type { SubscriptionData, SubscriptionKey, SubscriptionStore } from '../../src/storage/subscription-store.js';
import { T0, binding, fullBinding } from './fixtures.js';

export interface SubscriptionHarness {
  readonly store: SubscriptionStore;
  /** Persistent adapters: closes the store and opens a new one on the same data. */
  readonly reopen?: () => Promise<SubscriptionStore>;
  /** Shared adapters: opens another store instance (another node) on the same data; `close` closes it too. */
  readonly peer?: () => Promise<SubscriptionStore>;
  close(): Promise<void>;
}

const ALICE = 'sip:alice@example.com';
const BOB = 'sip:bob@example.com';

/** A key; `n` makes a distinct dialog. */
export function subscriptionKey(n = 1, eventId?: string): SubscriptionKey {
  return eventId === undefined ? { callId: `sub-${n}@192.0.2.10`, localTag: `tag${n}` } : { callId: `sub-${n}@192.0.2.10`, localTag: `tag${n}`, eventId };
}

/** A subscription to Alice's set as a UE makes it after the first NOTIFY; override any field. */
export function subscriptionData(overrides: Partial<SubscriptionData> = {}): SubscriptionData {
  return {
    aor: ALICE,
    identities: [
      { impu: ALICE, barred: false },
      { impu: 'tel:+15550100', barred: false },
      { impu: 'sip:alice-hidden@example.com', barred: true },
    ],
    localUri: `<${ALICE}>;tag=tag1`,
    remoteUri: `<${ALICE}>;tag=ue1`,
    remoteTag: 'ue1',
    routeSet: ['<sip:tok1@pcscf.example.com;lr>', '<sip:b2@other.example.net;lr>'],
    remoteTarget: 'sip:ue@192.0.2.10:5060;transport=tcp',
    remoteCseq: 1,
    localCseq: 1,
    reginfoVersion: 1,
    reported: [{ binding: fullBinding(), event: 'registered' }, { binding: binding(), event: 'refreshed' }],
    expiresAt: T0 + 3_600_000,
    ...overrides,
  };
}

async function expectCode(promise: Promise<unknown>, code: string): Promise<void> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(StorageError);
  expect((error as StorageError).code).toBe(code);
}

/** What the adapter under test can do beyond the contract's minimum. */
export interface SubscriptionContractOptions {
  /** Data survives closing and reopening (the harness gives `reopen`). */
  readonly persistent: boolean;
  /** Several store instances share the data, as core nodes share Redis (the harness gives `peer`). */
  readonly shared?: boolean;
}

export function subscriptionStoreContract(name: string, open: () => Promise<SubscriptionHarness>, options: SubscriptionContractOptions): void {
  describe(`SubscriptionStore contract: ${name}`, () => {
    let h: SubscriptionHarness;
    let store: SubscriptionStore;
    beforeEach(async () => {
      h = await open();
      store = h.store;
    });
    afterEach(async () => {
      await h.close();
    });

    async function create(key: SubscriptionKey, data: SubscriptionData = subscriptionData()): Promise<number> {
      const result = await store.put(key, data, 0);
      if (!result.ok) throw new Error('create conflicted');
      return result.version;
    }

    it('returns undefined for a subscription that was never stored', async () => {
      expect(await store.get(subscriptionKey())).toBeUndefined();
    });

    it('stores every field of the dialog state and returns it as given', async () => {
      const data = subscriptionData();
      const version = await create(subscriptionKey(1, 'a1'), data);
      expect(version).toBeGreaterThan(0);
      expect(await store.get(subscriptionKey(1, 'a1'))).toEqual({ key: subscriptionKey(1, 'a1'), version, ...data });
      const bare = subscriptionData({ routeSet: [], reported: [], identities: [{ impu: ALICE, barred: false }], localCseq: 0, reginfoVersion: 0 });
      const v2 = await create(subscriptionKey(2), bare);
      expect(await store.get(subscriptionKey(2))).toEqual({ key: subscriptionKey(2), version: v2, ...bare });
    });

    it('tells apart keys that differ only in the Event id, an empty id included', async () => {
      await create(subscriptionKey(1), subscriptionData({ remoteCseq: 1 }));
      await create(subscriptionKey(1, ''), subscriptionData({ remoteCseq: 2 }));
      await create(subscriptionKey(1, 'x'), subscriptionData({ remoteCseq: 3 }));
      expect((await store.get(subscriptionKey(1)))?.remoteCseq).toBe(1);
      expect((await store.get(subscriptionKey(1, '')))?.remoteCseq).toBe(2);
      expect((await store.get(subscriptionKey(1, 'x')))?.key).toEqual(subscriptionKey(1, 'x'));
      expect(await store.count()).toBe(3);
    });

    it('refuses a write with a stale version and leaves the record unchanged', async () => {
      const key = subscriptionKey();
      const v1 = await create(key);
      const v2 = await store.put(key, subscriptionData({ localCseq: 2, reginfoVersion: 2 }), v1);
      expect(v2.ok).toBe(true);
      const stale = await store.put(key, subscriptionData({ localCseq: 2, reginfoVersion: 2, remoteTarget: 'sip:other@192.0.2.99' }), v1);
      expect(stale).toEqual({ ok: false, currentVersion: v2.ok && v2.version });
      expect(await store.get(key)).toMatchObject({ localCseq: 2, remoteTarget: 'sip:ue@192.0.2.10:5060;transport=tcp' });
    });

    it('refuses to create (version 0) a subscription that exists', async () => {
      const key = subscriptionKey();
      const v1 = await create(key);
      expect(await store.put(key, subscriptionData({ localCseq: 9 }), 0)).toEqual({ ok: false, currentVersion: v1 });
      expect((await store.get(key))?.localCseq).toBe(1);
    });

    it('lets exactly one of two nodes sending the next NOTIFY win, so no CSeq is sent twice', async () => {
      const key = subscriptionKey();
      const v1 = await create(key);
      const next = subscriptionData({ localCseq: 2, reginfoVersion: 2 });
      const results = await Promise.all([store.put(key, next, v1), store.put(key, next, v1)]);
      expect(results.filter((r) => r.ok)).toHaveLength(1);
      const winner = results.find((r) => r.ok)!;
      expect(results.find((r) => !r.ok)).toEqual({ ok: false, currentVersion: winner.ok && winner.version });
    });

    it('refuses a put that names another watched AoR, changing nothing', async () => {
      const key = subscriptionKey();
      const v1 = await create(key);
      expect((await store.put(key, subscriptionData({ aor: BOB }), v1)).ok).toBe(false);
      expect((await store.put(key, subscriptionData({ aor: BOB }), 0)).ok).toBe(false);
      expect(await store.get(key)).toMatchObject({ aor: ALICE, version: v1 });
      expect(await store.byAor(BOB)).toEqual([]);
      expect(await store.count()).toBe(1);
    });

    it('never reuses a version, so a writer holding one from before a delete cannot overwrite', async () => {
      const key = subscriptionKey();
      const v1 = await create(key);
      expect(await store.delete(key, v1)).toEqual({ ok: true, version: 0 });
      const v2 = await create(key);
      expect(v2).not.toBe(v1);
      expect((await store.put(key, subscriptionData({ localCseq: 5 }), v1)).ok).toBe(false);
      expect((await store.get(key))?.localCseq).toBe(1);
    });

    it('deletes with the current version only, and a delete of nothing with version 0 succeeds', async () => {
      const key = subscriptionKey();
      expect(await store.delete(key, 0)).toEqual({ ok: true, version: 0 });
      expect(await store.delete(key, 7)).toEqual({ ok: false, currentVersion: 0 });
      const v1 = await create(key);
      expect(await store.delete(key, v1 + 1)).toEqual({ ok: false, currentVersion: v1 });
      expect(await store.get(key)).toBeDefined();
      expect(await store.delete(key, v1)).toEqual({ ok: true, version: 0 });
      expect(await store.get(key)).toBeUndefined();
      expect(await store.count()).toBe(0);
    });

    it('lets exactly one of two sweepers delete an expired subscription', async () => {
      const key = subscriptionKey();
      await create(key, subscriptionData({ expiresAt: T0 }));
      const [a, b] = [await store.expiredBefore(T0, 10), await store.expiredBefore(T0, 10)];
      const results = await Promise.all([store.delete(key, a[0]!.version), store.delete(key, b[0]!.version)]);
      expect(results.filter((r) => r.ok)).toHaveLength(1);
      expect(await store.expiredBefore(T0, 10)).toEqual([]);
    });

    /** The local tags of what a claim returned. */
    const tags = (records: { key: SubscriptionKey }[]): string[] => records.map((r) => r.key.localTag);

    it('claims a due subscription once, offers it again once the lease is over, and never one not yet due', async () => {
      const v1 = await create(subscriptionKey(1), subscriptionData({ expiresAt: T0 + 10 }));
      await create(subscriptionKey(2), subscriptionData({ expiresAt: T0 + 5000, aor: BOB }));
      const first = await store.claimExpired(T0 + 100, 1000, 10);
      expect(first).toEqual([{ key: subscriptionKey(1), version: v1, ...subscriptionData({ expiresAt: T0 + 10 }) }]);
      expect(await store.claimExpired(T0 + 100, 1000, 10)).toEqual([]);
      expect(await store.claimExpired(T0 + 1099, 50, 10)).toEqual([]);
      // The claimer did not end it (it died): offered again, to whoever claims first.
      expect(await store.claimExpired(T0 + 1100, 1000, 10)).toEqual(first);
      expect(await store.claimExpired(T0 + 1500, 1000, 10)).toEqual([]);
      expect(await store.delete(subscriptionKey(1), v1)).toEqual({ ok: true, version: 0 });
      expect(await store.claimExpired(T0 + 4999, 1000, 10)).toEqual([]);
      expect(await store.count()).toBe(1);
    });

    it('ends the claim on a subscription when it is written: a refreshed one is due at its new expiry, a deleted one is gone', async () => {
      const v1 = await create(subscriptionKey(1), subscriptionData({ expiresAt: T0 + 10 }));
      const v2 = await create(subscriptionKey(2), subscriptionData({ expiresAt: T0 + 20 }));
      expect(tags(await store.claimExpired(T0 + 100, 10_000, 10))).toEqual(['tag1', 'tag2']);
      const refreshed = await store.put(subscriptionKey(1), subscriptionData({ expiresAt: T0 + 500, remoteCseq: 2 }), v1);
      expect(await store.delete(subscriptionKey(2), v2)).toEqual({ ok: true, version: 0 });
      expect(await store.claimExpired(T0 + 200, 10_000, 10)).toEqual([]);
      // Due at the new expiry, well before the old claim's lease would have ended.
      const due = await store.claimExpired(T0 + 500, 10_000, 10);
      expect(due).toEqual([{ key: subscriptionKey(1), version: refreshed.ok && refreshed.version, ...subscriptionData({ expiresAt: T0 + 500, remoteCseq: 2 }) }]);
      expect(await store.claimExpired(T0 + 20_000, 10_000, 10)).toEqual(due);
      expect(await store.claimExpired(T0 + 20_000, 10_000, 10)).toEqual([]);
    });

    it('offers a claimed subscription again at once after a write that keeps it due (a NOTIFY)', async () => {
      const v1 = await create(subscriptionKey(1), subscriptionData({ expiresAt: T0 + 10 }));
      expect(tags(await store.claimExpired(T0 + 100, 10_000, 10))).toEqual(['tag1']);
      const notified = await store.put(subscriptionKey(1), subscriptionData({ expiresAt: T0 + 10, localCseq: 2, reginfoVersion: 2 }), v1);
      const again = await store.claimExpired(T0 + 101, 10_000, 10);
      expect(again.map((r) => [r.key.localTag, r.version, r.localCseq])).toEqual([['tag1', notified.ok && notified.version, 2]]);
      expect(await store.claimExpired(T0 + 102, 10_000, 10)).toEqual([]);
    });

    it('claims up to the limit, earliest first', async () => {
      await create(subscriptionKey(1), subscriptionData({ expiresAt: T0 + 30 }));
      await create(subscriptionKey(2), subscriptionData({ expiresAt: T0 + 10, aor: BOB }));
      await create(subscriptionKey(3), subscriptionData({ expiresAt: T0 + 20 }));
      await create(subscriptionKey(4), subscriptionData({ expiresAt: T0 + 40 }));
      await create(subscriptionKey(5), subscriptionData({ expiresAt: T0 + 99, aor: BOB }));
      const now = T0 + 40;
      expect(tags(await store.claimExpired(now, 1000, 2))).toEqual(['tag2', 'tag3']);
      expect(tags(await store.claimExpired(now, 1000, 1))).toEqual(['tag1']);
      expect(tags(await store.claimExpired(now, 1000, 100))).toEqual(['tag4']);
      expect(await store.claimExpired(now, 1000, 100)).toEqual([]);
      expect(await store.claimExpired(T0 + 98, 1000, 100)).toEqual([]);
      expect(tags(await store.claimExpired(T0 + 99, 1000, 100))).toEqual(['tag5']);
      await expectCode(store.claimExpired(T0, 0, 10), 'TW_ERR_STORAGE_INVALID');
      await expectCode(store.claimExpired(T0, 1000, 0), 'TW_ERR_STORAGE_INVALID');
    });

    it(`hands each due subscription to exactly one of many concurrent claims${options.shared ? ', from two store instances' : ''}`, async () => {
      const other = options.shared ? await h.peer!() : store;
      const due: string[] = [];
      for (let n = 1; n <= 50; n++) {
        const expiresAt = n % 5 === 0 ? T0 + 60_000 : T0 + n;
        await create(subscriptionKey(n), subscriptionData({ expiresAt, aor: `sip:user${n % 7}@example.com` }));
        if (expiresAt <= T0 + 1000) due.push(`tag${n}`);
      }
      const seen: string[] = [];
      for (let round = 0; round < 20; round++) {
        const claims = await Promise.all(Array.from({ length: 12 }, (_, i) => (i % 2 ? other : store).claimExpired(T0 + 1000, 30_000, 3)));
        for (const records of claims) expect(records.length).toBeLessThanOrEqual(3);
        const got = claims.flatMap(tags);
        if (got.length === 0) break;
        seen.push(...got);
      }
      expect(new Set(seen).size).toBe(seen.length);
      expect(seen.sort()).toEqual(due.sort());
    });

    it('finds the subscriptions watching a set, and only those', async () => {
      const [k1, k2, k3] = [subscriptionKey(1), subscriptionKey(2, 'p'), subscriptionKey(3)];
      await create(k1);
      const v2 = await create(k2, subscriptionData({ remoteUri: '<sip:pcscf.example.com>;tag=p1' }));
      await create(k3, subscriptionData({ aor: BOB }));
      await create(subscriptionKey(4), subscriptionData({ aor: `${ALICE}x` }));
      const alice = await store.byAor(ALICE);
      expect(alice.map((r) => r.key).sort((a, b) => a.callId.localeCompare(b.callId))).toEqual([k1, k2]);
      expect(alice.find((r) => r.key.eventId === 'p')).toMatchObject({ version: v2, remoteUri: '<sip:pcscf.example.com>;tag=p1' });
      expect((await store.byAor(BOB)).map((r) => r.key)).toEqual([k3]);
      expect(await store.byAor('sip:nobody@example.com')).toEqual([]);
      await store.delete(k1, (await store.get(k1))!.version);
      expect((await store.byAor(ALICE)).map((r) => r.key)).toEqual([k2]);
    });

    it('lists expired subscriptions earliest first, up to the limit, including one expiring exactly now', async () => {
      await create(subscriptionKey(1), subscriptionData({ expiresAt: T0 + 30 }));
      await create(subscriptionKey(2), subscriptionData({ expiresAt: T0 + 10, aor: BOB }));
      await create(subscriptionKey(3), subscriptionData({ expiresAt: T0 + 20 }));
      await create(subscriptionKey(4), subscriptionData({ expiresAt: T0 + 40 }));
      expect((await store.expiredBefore(T0 + 30, 10)).map((r) => r.key.localTag)).toEqual(['tag2', 'tag3', 'tag1']);
      expect((await store.expiredBefore(T0 + 30, 2)).map((r) => r.key.localTag)).toEqual(['tag2', 'tag3']);
      expect(await store.expiredBefore(T0 + 9, 10)).toEqual([]);
      const first = (await store.expiredBefore(T0 + 10, 1))[0]!;
      expect(first).toEqual(await store.get(subscriptionKey(2)));
    });

    it('keeps the expiry index in step with refreshes and removals', async () => {
      const key = subscriptionKey(1);
      const v1 = await create(key, subscriptionData({ expiresAt: T0 + 10 }));
      await create(subscriptionKey(2), subscriptionData({ expiresAt: T0 + 20 }));
      const refreshed = await store.put(key, subscriptionData({ expiresAt: T0 + 100 }), v1);
      expect((await store.expiredBefore(T0 + 50, 10)).map((r) => r.key.localTag)).toEqual(['tag2']);
      expect(await store.nextExpiryAt()).toBe(T0 + 20);
      await store.delete(subscriptionKey(2), (await store.get(subscriptionKey(2)))!.version);
      expect(await store.nextExpiryAt()).toBe(T0 + 100);
      expect((await store.expiredBefore(T0 + 100, 10)).map((r) => [r.key.localTag, r.version])).toEqual([['tag1', refreshed.ok && refreshed.version]]);
    });

    it('reports the next expiry, and none when empty', async () => {
      expect(await store.nextExpiryAt()).toBeUndefined();
      await create(subscriptionKey(1), subscriptionData({ expiresAt: T0 + 50 }));
      await create(subscriptionKey(2), subscriptionData({ expiresAt: T0 + 5, aor: BOB }));
      expect(await store.nextExpiryAt()).toBe(T0 + 5);
    });

    it('counts the subscriptions stored', async () => {
      expect(await store.count()).toBe(0);
      for (let n = 1; n <= 5; n++) await create(subscriptionKey(n), subscriptionData({ aor: n % 2 ? ALICE : BOB }));
      expect(await store.count()).toBe(5);
      await store.delete(subscriptionKey(3), (await store.get(subscriptionKey(3)))!.version);
      expect(await store.count()).toBe(4);
    });

    it('is not changed by mutating what was passed in or what was returned', async () => {
      const key = { callId: 'sub-1@192.0.2.10', localTag: 'tag1' };
      const data = subscriptionData();
      const routeSet = [...data.routeSet];
      const passed = { ...data, routeSet };
      await create(key, passed);
      routeSet.push('<sip:injected@example.com;lr>');
      key.localTag = 'other';
      const got = await store.get(subscriptionKey(1));
      (got!.routeSet as string[]).length = 0;
      (got!.identities[0] as { impu: string }).impu = 'sip:mallory@example.com';
      (got!.reported[0]!.binding.path as string[]).push('sip:x');
      expect(await store.get(subscriptionKey(1))).toMatchObject({ routeSet: data.routeSet, identities: data.identities, reported: data.reported });
    });

    it('rejects malformed keys and data with TW_ERR_STORAGE_INVALID and stores nothing', async () => {
      const key = subscriptionKey();
      await expectCode(store.put({ callId: '', localTag: 't' }, subscriptionData(), 0), 'TW_ERR_STORAGE_INVALID');
      await expectCode(store.put({ callId: 'c', localTag: 'a\nb' }, subscriptionData(), 0), 'TW_ERR_STORAGE_INVALID');
      await expectCode(store.put(key, subscriptionData({ remoteTarget: 'sip:a@b\r\nX: y' }), 0), 'TW_ERR_STORAGE_INVALID');
      await expectCode(store.put(key, subscriptionData({ localCseq: -1 }), 0), 'TW_ERR_STORAGE_INVALID');
      await expectCode(store.put(key, subscriptionData({ remoteCseq: 2 ** 31 }), 0), 'TW_ERR_STORAGE_INVALID');
      await expectCode(store.put(key, subscriptionData({ expiresAt: 1.5 }), 0), 'TW_ERR_STORAGE_INVALID');
      await expectCode(store.put(key, subscriptionData({ reported: [{ binding: binding(), event: 'x" onload="' }] }), 0), 'TW_ERR_STORAGE_INVALID');
      await expectCode(store.put(key, subscriptionData({ reported: [{ binding: binding({ cseq: -3 }), event: 'registered' }] }), 0), 'TW_ERR_STORAGE_INVALID');
      await expectCode(store.put(key, subscriptionData({ identities: [{ impu: ALICE, barred: 'no' as unknown as boolean }] }), 0), 'TW_ERR_STORAGE_INVALID');
      await expectCode(store.put(key, subscriptionData(), -1), 'TW_ERR_STORAGE_INVALID');
      await expectCode(store.expiredBefore(T0, 0), 'TW_ERR_STORAGE_INVALID');
      await expectCode(store.byAor(''), 'TW_ERR_STORAGE_INVALID');
      expect(await store.count()).toBe(0);
      expect(await store.get(key)).toBeUndefined();
    });

    if (options.persistent) {
      it('keeps subscriptions, versions and the indexes across a restart', async () => {
        const key = subscriptionKey(1, 'e');
        const version = await create(key, subscriptionData({ expiresAt: T0 + 10 }));
        await create(subscriptionKey(2), subscriptionData({ expiresAt: T0 + 20, aor: BOB }));
        const reopened = await h.reopen!();
        expect(await reopened.get(key)).toEqual({ key, version, ...subscriptionData({ expiresAt: T0 + 10 }) });
        expect((await reopened.byAor(BOB)).map((r) => r.key)).toEqual([subscriptionKey(2)]);
        expect((await reopened.expiredBefore(T0 + 20, 10)).map((r) => r.key.localTag)).toEqual(['tag1', 'tag2']);
        expect(await reopened.count()).toBe(2);
        const next = await reopened.put(key, subscriptionData({ localCseq: 2 }), version);
        expect(next.ok && next.version).not.toBe(version);
      });
    }
  });
}
