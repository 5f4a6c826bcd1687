/**
 * The behaviour every DocumentStore adapter must show: XCAP documents (RFC 4825 §6.2) with
 * entity tags and conditional writes (RFC 9110 §13.1.1, §13.1.2) done as compare-and-set.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { DocumentKey, DocumentStore } from '../../src/storage/document-store.js';
import { MAX_DOCUMENT_LENGTH } from '../../src/storage/document-store.js';
import { StorageError } from '../../src/storage/errors.js';
import type { ContractOptions } from './registration-store.contract.js';

export interface DocumentHarness {
  readonly store: DocumentStore;
  readonly reopen?: () => Promise<DocumentStore>;
  close(): Promise<void>;
}

const AUID = 'org.etsi.ngn.simservs';
const ALICE = 'sip:6505550001@example.com';
const BOB = 'sip:6505550002@example.com';
const KEY: DocumentKey = { auid: AUID, xui: ALICE, name: 'simservs.xml' };
const V1 = '<simservs xmlns="http://uri.etsi.org/ngn/params/xml/simservs/xcap"/>';
const V2 = '<simservs xmlns="http://uri.etsi.org/ngn/params/xml/simservs/xcap"><originating-identity-presentation active="true"/></simservs>';

async function expectCode(promise: Promise<unknown>, code: string): Promise<void> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(StorageError);
  expect((error as StorageError).code).toBe(code);
}

export function documentStoreContract(name: string, open: () => Promise<DocumentHarness>, options: ContractOptions): void {
  describe(`DocumentStore contract: ${name}`, () => {
    let h: DocumentHarness;
    let store: DocumentStore;
    beforeEach(async () => {
      h = await open();
      store = h.store;
    });
    afterEach(async () => {
      await h.close();
    });

    it('stores a document and gives it back with the entity tag of the write', async () => {
      expect(await store.get(KEY)).toBeUndefined();
      const put = await store.put(KEY, V1);
      expect(put).toMatchObject({ ok: true, created: true });
      expect(await store.get(KEY)).toEqual({ ...KEY, content: V1, etag: put.ok && put.etag });
    });

    it('changes the entity tag on every write, even of the same content', async () => {
      const tags = new Set<string>();
      for (const content of [V1, V1, V2, V1]) {
        const put = await store.put(KEY, content);
        expect(put.ok).toBe(true);
        if (put.ok) tags.add(put.etag);
      }
      expect(tags.size).toBe(4);
      const again = await store.put(KEY, V2);
      expect(again).toMatchObject({ ok: true, created: false });
    });

    it('replaces only with the current entity tag and reports the current one otherwise', async () => {
      const first = await store.put(KEY, V1);
      if (!first.ok) throw new Error('put failed');
      const second = await store.put(KEY, V2, { ifMatch: first.etag });
      expect(second).toMatchObject({ ok: true, created: false });
      if (!second.ok) throw new Error('put failed');
      expect(await store.put(KEY, V1, { ifMatch: first.etag })).toEqual({ ok: false, currentEtag: second.etag });
      expect((await store.get(KEY))?.content).toBe(V2);
      expect(await store.put(KEY, V1, { ifMatch: '*' })).toMatchObject({ ok: true });
    });

    it('creates with ifNoneMatch only when no document exists', async () => {
      expect(await store.put(KEY, V1, { ifNoneMatch: '*' })).toMatchObject({ ok: true, created: true });
      const current = await store.get(KEY);
      expect(await store.put(KEY, V2, { ifNoneMatch: '*' })).toEqual({ ok: false, currentEtag: current?.etag });
      expect((await store.get(KEY))?.content).toBe(V1);
    });

    it('refuses an ifMatch write or delete of a missing document', async () => {
      expect(await store.put(KEY, V1, { ifMatch: 'whatever' })).toEqual({ ok: false });
      expect(await store.put(KEY, V1, { ifMatch: '*' })).toEqual({ ok: false });
      expect(await store.delete(KEY, { ifMatch: '*' })).toEqual({ ok: false });
      expect(await store.get(KEY)).toBeUndefined();
    });

    it('lets exactly one of several concurrent writers holding the same tag win', async () => {
      const first = await store.put(KEY, V1);
      if (!first.ok) throw new Error('put failed');
      const results = await Promise.all(Array.from({ length: 6 }, (_, i) => store.put(KEY, `<simservs n="${i}"/>`, { ifMatch: first.etag })));
      expect(results.filter((r) => r.ok)).toHaveLength(1);
      const creates = await Promise.all(Array.from({ length: 6 }, () => store.put({ ...KEY, xui: BOB }, V1, { ifNoneMatch: '*' })));
      expect(creates.filter((r) => r.ok)).toHaveLength(1);
    });

    it('deletes, with or without a matching entity tag', async () => {
      const put = await store.put(KEY, V1);
      if (!put.ok) throw new Error('put failed');
      expect(await store.delete(KEY, { ifMatch: 'stale' })).toEqual({ ok: false, currentEtag: put.etag });
      expect(await store.delete(KEY, { ifMatch: put.etag })).toEqual({ ok: true, deleted: true });
      expect(await store.get(KEY)).toBeUndefined();
      expect(await store.delete(KEY)).toEqual({ ok: true, deleted: false });
      await store.put(KEY, V1);
      expect(await store.delete(KEY)).toEqual({ ok: true, deleted: true });
    });

    it('never reuses an entity tag after a delete and re-create', async () => {
      const first = await store.put(KEY, V1);
      await store.delete(KEY);
      const second = await store.put(KEY, V1);
      expect(first.ok && second.ok && first.etag !== second.etag).toBe(true);
      expect(await store.put(KEY, V2, { ifMatch: first.ok ? first.etag : '' })).toMatchObject({ ok: false });
    });

    it('keeps users, application usages and names apart and lists a user\'s documents in order', async () => {
      await store.put({ auid: 'resource-lists', xui: ALICE, name: 'index' }, '<resource-lists/>');
      await store.put(KEY, V1);
      await store.put({ ...KEY, name: 'other.xml' }, V2);
      await store.put({ ...KEY, xui: BOB }, V2);
      const list = await store.listByUser(ALICE);
      expect(list.map((d) => `${d.auid}/${d.name}`)).toEqual([`${AUID}/other.xml`, `${AUID}/simservs.xml`, 'resource-lists/index']);
      expect(list.every((d) => d.xui === ALICE && typeof d.etag === 'string' && d.etag.length > 0)).toBe(true);
      expect((await store.get({ ...KEY, xui: BOB }))?.content).toBe(V2);
      expect(await store.listByUser('sip:nobody@example.com')).toEqual([]);
    });

    it('rejects bad keys, content and conditions without writing', async () => {
      await expectCode(store.put({ ...KEY, auid: '' }, V1), 'TW_ERR_STORAGE_INVALID');
      await expectCode(store.put({ ...KEY, auid: 'a/b' }, V1), 'TW_ERR_STORAGE_INVALID');
      await expectCode(store.put({ ...KEY, xui: 'sip:a\nb' }, V1), 'TW_ERR_STORAGE_INVALID');
      await expectCode(store.get({ ...KEY, name: '' }), 'TW_ERR_STORAGE_INVALID');
      await expectCode(store.put(KEY, 42 as unknown as string), 'TW_ERR_STORAGE_INVALID');
      await expectCode(store.put(KEY, 'x'.repeat(MAX_DOCUMENT_LENGTH + 1)), 'TW_ERR_STORAGE_INVALID');
      await expectCode(store.put(KEY, V1, { ifMatch: 'a', ifNoneMatch: '*' }), 'TW_ERR_STORAGE_INVALID');
      await expectCode(store.put(KEY, V1, { ifNoneMatch: 'abc' as '*' }), 'TW_ERR_STORAGE_INVALID');
      await expectCode(store.listByUser(''), 'TW_ERR_STORAGE_INVALID');
      expect(await store.get(KEY)).toBeUndefined();
    });

    it('stores any Unicode text exactly', async () => {
      const content = '<simservs>\u00e9\u4e2d\ud83d\ude00 &amp; \r\n\t</simservs>';
      await store.put(KEY, content);
      expect((await store.get(KEY))?.content).toBe(content);
    });

    if (!options.persistent) return;
    it('keeps documents and their entity tags across a restart', async () => {
      const put = await store.put(KEY, V2);
      store = await h.reopen!();
      expect(await store.get(KEY)).toEqual({ ...KEY, content: V2, etag: put.ok && put.etag });
    });
  });
}
