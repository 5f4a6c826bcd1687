/** Runs the SubscriptionStore contract against the in-process and SQLite adapters. */
import path from 'node:path';
import { MemorySubscriptionStore } from '../../src/storage/memory/subscription-store.js';
import { SqliteDatabase } from '../../src/storage/sqlite/database.js';
import { SqliteSubscriptionStore } from '../../src/storage/sqlite/subscription-store.js';
import { tempDir } from './fixtures.js';
import { subscriptionStoreContract } from './subscription-store.contract.js';

subscriptionStoreContract('memory', async () => ({ store: new MemorySubscriptionStore(), close: async () => {} }), { persistent: false });

subscriptionStoreContract(
  'sqlite',
  async () => {
    const dir = tempDir();
    const file = path.join(dir.path, 'tidewater.db');
    let db = SqliteDatabase.open({ path: file });
    return {
      store: new SqliteSubscriptionStore(db),
      reopen: async () => {
        db.close();
        db = SqliteDatabase.open({ path: file });
        return new SqliteSubscriptionStore(db);
      },
      close: async () => {
        db.close();
        dir.cleanup();
      },
    };
  },
  { persistent: true },
);
