/** Runs the DocumentStore contract against every adapter. */
import path from 'node:path';
import { MemoryDocumentStore } from '../../src/storage/memory/document-store.js';
import { SqliteDatabase } from '../../src/storage/sqlite/database.js';
import { SqliteDocumentStore } from '../../src/storage/sqlite/document-store.js';
import { documentStoreContract } from './document-store.contract.js';
import { tempDir } from './fixtures.js';

documentStoreContract('memory', async () => ({ store: new MemoryDocumentStore(), close: async () => {} }), { persistent: false });

documentStoreContract(
  'sqlite',
  async () => {
    const dir = tempDir();
    const file = path.join(dir.path, 'tidewater.db');
    let db = SqliteDatabase.open({ path: file });
    return {
      store: new SqliteDocumentStore(db),
      reopen: async () => {
        db.close();
        db = SqliteDatabase.open({ path: file });
        return new SqliteDocumentStore(db);
      },
      close: async () => {
        db.close();
        dir.cleanup();
      },
    };
  },
  { persistent: true },
);
