/** Runs the AccountStore contract (portal accounts, owned numbers, sessions) against every adapter. */
import path from 'node:path';
import { MemoryAccountStore } from '../../src/storage/memory/account-store.js';
import { SqliteAccountStore } from '../../src/storage/sqlite/account-store.js';
import { SqliteDatabase } from '../../src/storage/sqlite/database.js';
import { accountStoreContract } from './account-store.contract.js';
import { tempDir } from './fixtures.js';

accountStoreContract('memory', async () => ({ store: new MemoryAccountStore(), close: async () => {} }), { persistent: false });

accountStoreContract(
  'sqlite',
  async () => {
    const dir = tempDir();
    const file = path.join(dir.path, 'tidewater.sqlite');
    let db = SqliteDatabase.open({ path: file });
    return {
      store: new SqliteAccountStore(db),
      reopen: async () => {
        db.close();
        db = SqliteDatabase.open({ path: file });
        return new SqliteAccountStore(db);
      },
      close: async () => {
        db.close();
        dir.cleanup();
      },
    };
  },
  { persistent: true },
);
