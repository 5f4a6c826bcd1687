/**
 * Runs the SubscriberStore, DocumentStore and AccountStore contracts against the PostgreSQL
 * adapters (a fresh database per test), plus what only PostgreSQL shows.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PostgresStores } from '../../src/storage/postgres/index.js';
import { ensurePostgres, openTestStores, type PostgresServer, type TestStores } from '../harness/postgres.js';
import { accountStoreContract } from './account-store.contract.js';
import { documentStoreContract } from './document-store.contract.js';
import { subscriber, subscriberStoreContract } from './subscriber-store.contract.js';

let server: PostgresServer;
beforeAll(async () => {
  server = await ensurePostgres();
});
afterAll(async () => {
  await server?.stop();
});

/** A contract harness on a fresh database, the store picked from the PostgreSQL stores. */
function harness<S>(pick: (stores: PostgresStores) => S) {
  return async () => {
    const t = await openTestStores(server);
    return { store: pick(t.stores), reopen: async () => pick(await t.reopen()), close: () => t.close() };
  };
}

subscriberStoreContract('postgres', harness((s) => s.subscribers), { persistent: true });
documentStoreContract('postgres', harness((s) => s.documents), { persistent: true });
accountStoreContract('postgres', harness((s) => s.accounts), { persistent: true });

describe('PostgreSQL stores: what the database cannot hold', () => {
  let t: TestStores;
  beforeAll(async () => {
    t = await openTestStores(server);
  });
  afterAll(async () => {
    await t?.close();
  });

  it('refuses text with a NUL character as invalid instead of failing as unavailable', async () => {
    const key = { auid: 'org.etsi.ngn.simservs', xui: 'sip:6505550001@example.com', name: 'simservs.xml' };
    await expect(t.stores.documents.put(key, '<simservs>\0</simservs>')).rejects.toMatchObject({ code: 'TW_ERR_STORAGE_INVALID' });
    await expect(t.stores.documents.put(key, '<simservs>\ud800</simservs>')).rejects.toMatchObject({ code: 'TW_ERR_STORAGE_INVALID' });
    expect(await t.stores.documents.get(key)).toBeUndefined();
    const nul = subscriber(1, { implicitSet: { id: 'irs-nul', serviceProfile: '<ServiceProfile>\0</ServiceProfile>' } });
    await expect(t.stores.subscribers.addSubscriber(nul)).rejects.toMatchObject({ code: 'TW_ERR_STORAGE_INVALID' });
    expect(await t.stores.subscribers.getPrivateIdentity('6505550001@example.com')).toBeUndefined();
  });

  it('lists keys in code-point order whatever the locale would say', async () => {
    const set = { id: 'irs-order', serviceProfile: '<ServiceProfile/>' };
    await t.stores.subscribers.createImplicitSet(set);
    const impus = ['sip:a-b@example.com', 'sip:A@example.com', 'sip:ab@example.com', 'sip:a_b@example.com', 'sip:a@example.com'];
    for (const impu of impus) await t.stores.subscribers.createPublicIdentity({ impu, implicitSetId: set.id, barred: false });
    const listed = (await t.stores.subscribers.listPublicIdentities({ limit: 10 })).items.map((p) => p.impu);
    expect(listed).toEqual([...impus].sort());
  });
});
