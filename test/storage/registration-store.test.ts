/** Runs the RegistrationStore contract against every adapter. */
import path from 'node:path';
import { CachedRegistrationStore } from '../../src/storage/memory/cached-registration-store.js';
import { MemoryRegistrationStore } from '../../src/storage/memory/registration-store.js';
import { SqliteDatabase } from '../../src/storage/sqlite/database.js';
import { SqliteRegistrationStore } from '../../src/storage/sqlite/registration-store.js';
import type { RegistrationStore } from '../../src/storage/registration-store.js';
import { tempDir } from './fixtures.js';
import { registrationStoreContract, type RegistrationHarness } from './registration-store.contract.js';

/** A SQLite file in a fresh temp dir, with `wrap` building the store under test on it. */
async function sqliteHarness(wrap: (db: SqliteDatabase) => Promise<RegistrationStore>): Promise<RegistrationHarness> {
  const dir = tempDir();
  const file = path.join(dir.path, 'tidewater.db');
  let db = SqliteDatabase.open({ path: file });
  return {
    store: await wrap(db),
    reopen: async () => {
      db.close();
      db = SqliteDatabase.open({ path: file });
      return wrap(db);
    },
    close: async () => {
      db.close();
      dir.cleanup();
    },
  };
}

registrationStoreContract(
  'memory',
  async () => ({ store: new MemoryRegistrationStore(), close: async () => {} }),
  { persistent: false },
);

registrationStoreContract(
  'sqlite',
  () => sqliteHarness(async (db) => new SqliteRegistrationStore(db)),
  { persistent: true },
);

registrationStoreContract(
  'cached over sqlite (the all-in-one)',
  () => sqliteHarness((db) => CachedRegistrationStore.open(new SqliteRegistrationStore(db), { loadPageSize: 3 })),
  { persistent: true },
);

registrationStoreContract(
  'cached over memory',
  async () => ({ store: await CachedRegistrationStore.open(new MemoryRegistrationStore()), close: async () => {} }),
  { persistent: false },
);
