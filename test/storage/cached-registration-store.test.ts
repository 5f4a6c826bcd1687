/** What the memory-in-front, SQLite-behind registration store adds to the contract. */
import { describe, expect, it } from 'vitest';
import { StorageError } from '../../src/storage/errors.js';
import { CachedRegistrationStore } from '../../src/storage/memory/cached-registration-store.js';
import { MemoryRegistrationStore } from '../../src/storage/memory/registration-store.js';
import type { RegistrationData, RegistrationStore } from '../../src/storage/registration-store.js';
import { binding } from './fixtures.js';

const ALICE = 'sip:alice@example.com';

/** A backing store that counts calls and can be told to fail its writes. */
class Backing extends MemoryRegistrationStore {
  gets = 0;
  lists = 0;
  failWrites = false;

  override async get(aor: string) {
    this.gets++;
    return super.get(aor);
  }

  override async list(page: Parameters<RegistrationStore['list']>[0]) {
    this.lists++;
    return super.list(page);
  }

  override async put(aor: string, data: RegistrationData, expectedVersion: number) {
    if (this.failWrites) throw new StorageError('TW_ERR_STORAGE_UNAVAILABLE', 'disk full');
    return super.put(aor, data, expectedVersion);
  }
}

describe('CachedRegistrationStore', () => {
  it('loads every record of the backing store when opened, over several pages', async () => {
    const backing = new Backing();
    for (let i = 0; i < 7; i++) await backing.put(`sip:u${i}@example.com`, { bindings: [binding({ cseq: i })] }, 0);
    const cached = await CachedRegistrationStore.open(backing, { loadPageSize: 2 });
    expect(backing.lists).toBe(4);
    expect(await cached.count()).toEqual({ aors: 7, bindings: 7 });
    expect(await cached.get('sip:u6@example.com')).toEqual(await backing.get('sip:u6@example.com'));
  });

  it('serves reads and expiry queries from memory, writing through to the backing store', async () => {
    const backing = new Backing();
    const cached = await CachedRegistrationStore.open(backing);
    const put = await cached.put(ALICE, { bindings: [binding()] }, 0);
    expect((await backing.get(ALICE))?.version).toBe(put.ok && put.version);
    backing.gets = 0;
    for (let i = 0; i < 10; i++) await cached.get(ALICE);
    await cached.expiredBefore(binding().expiresAt, 10);
    expect(backing.gets).toBe(0);
  });

  it('leaves memory unchanged and rejects when the backing write fails', async () => {
    const backing = new Backing();
    const cached = await CachedRegistrationStore.open(backing);
    const v1 = await cached.put(ALICE, { bindings: [binding()] }, 0);
    backing.failWrites = true;
    const error = await cached.put(ALICE, { bindings: [binding({ cseq: 2 })] }, v1.ok ? v1.version : 0).catch((e: unknown) => e);
    expect((error as StorageError).code).toBe('TW_ERR_STORAGE_UNAVAILABLE');
    expect((await cached.get(ALICE))?.bindings[0]?.cseq).toBe(1);
  });

  it('reloads a record another writer changed behind it and reports the conflict', async () => {
    const backing = new Backing();
    const cached = await CachedRegistrationStore.open(backing);
    const v1 = await cached.put(ALICE, { bindings: [binding()] }, 0);
    const behind = await backing.put(ALICE, { bindings: [binding({ cseq: 9 })] }, v1.ok ? v1.version : 0);
    const result = await cached.put(ALICE, { bindings: [binding({ cseq: 2 })] }, v1.ok ? v1.version : 0);
    expect(result).toEqual({ ok: false, currentVersion: behind.ok && behind.version });
    expect(await cached.get(ALICE)).toEqual(await backing.get(ALICE));
  });

  it('applies concurrent writes to one AoR one after the other, so memory ends as the backing store', async () => {
    const backing = new Backing();
    const cached = await CachedRegistrationStore.open(backing);
    const v1 = await cached.put(ALICE, { bindings: [binding()] }, 0);
    const version = v1.ok ? v1.version : 0;
    const results = await Promise.all([
      cached.put(ALICE, { bindings: [binding({ cseq: 2 })] }, version),
      cached.delete(ALICE, version),
      cached.put(ALICE, { bindings: [binding({ cseq: 3 })] }, version),
    ]);
    expect(results.map((r) => r.ok)).toEqual([true, false, false]);
    expect(await cached.get(ALICE)).toEqual(await backing.get(ALICE));
    expect((await cached.get(ALICE))?.bindings[0]?.cseq).toBe(2);
  });
});
