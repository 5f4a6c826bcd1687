/** Runs the SubscriberStore contract against every adapter, plus what only SQLite can show. */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { MemorySubscriberStore } from '../../src/storage/memory/subscriber-store.js';
import { SqliteDatabase } from '../../src/storage/sqlite/database.js';
import { SqliteSubscriberStore } from '../../src/storage/sqlite/subscriber-store.js';
import { allBytes, tempDir } from './fixtures.js';
import { subscriber, subscriberStoreContract } from './subscriber-store.contract.js';

subscriberStoreContract('memory', async () => ({ store: new MemorySubscriberStore(), close: async () => {} }), { persistent: false });

subscriberStoreContract(
  'sqlite',
  async () => {
    const dir = tempDir();
    const file = path.join(dir.path, 'tidewater.db');
    let db = SqliteDatabase.open({ path: file });
    return {
      store: new SqliteSubscriberStore(db),
      reopen: async () => {
        db.close();
        db = SqliteDatabase.open({ path: file });
        return new SqliteSubscriberStore(db);
      },
      close: async () => {
        db.close();
        dir.cleanup();
      },
    };
  },
  { persistent: true },
);

describe('SqliteSubscriberStore on disk', () => {
  it('never writes the password to the database file or its WAL', async () => {
    const dir = tempDir();
    try {
      const db = SqliteDatabase.open({ path: path.join(dir.path, 'tidewater.db') });
      const store = new SqliteSubscriberStore(db);
      await store.addSubscriber(subscriber(1));
      const ha1 = (await store.getPrivateIdentity('6505550001@example.com'))!.digest[0]!.ha1;
      const live = allBytes(dir.path);
      db.close();
      const closed = allBytes(dir.path);
      for (const bytes of [live, closed]) {
        expect(bytes.includes(ha1)).toBe(true);
        expect(bytes.includes('plaintext-Secret-93')).toBe(false);
      }
    } finally {
      dir.cleanup();
    }
  });

  it('lets a second connection (the CLI while the server runs) see and change the same subscribers', async () => {
    const dir = tempDir();
    const file = path.join(dir.path, 'tidewater.db');
    const server = SqliteDatabase.open({ path: file });
    const cli = SqliteDatabase.open({ path: file });
    try {
      const serverStore = new SqliteSubscriberStore(server);
      await new SqliteSubscriberStore(cli).addSubscriber(subscriber(1));
      expect(await serverStore.publicIdentitiesOf('6505550001@example.com')).toEqual([
        'sip:6505550001@example.com',
        'tel:+16505550001',
      ]);
      const v = (await serverStore.getRegistrationState('tel:+16505550001'))!.version;
      const cliStore = new SqliteSubscriberStore(cli);
      expect((await cliStore.setRegistrationState('tel:+16505550001', { state: 'NOT_REGISTERED' }, v)).ok).toBe(true);
      expect((await serverStore.setRegistrationState('tel:+16505550001', { state: 'REGISTERED', scscf: 'sip:s' }, v)).ok).toBe(false);
    } finally {
      server.close();
      cli.close();
      dir.cleanup();
    }
  });
});
