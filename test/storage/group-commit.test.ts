/** Group commit of SQLite writes: batched, yet each write behaves as if run alone. */
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { StorageError } from '../../src/storage/errors.js';
import { SqliteDatabase } from '../../src/storage/sqlite/database.js';
import { SqliteRegistrationStore } from '../../src/storage/sqlite/registration-store.js';
import { binding, tempDir } from './fixtures.js';

describe('GroupCommit', () => {
  let dir: ReturnType<typeof tempDir>;
  let file: string;
  let db: SqliteDatabase;
  beforeEach(() => {
    dir = tempDir();
    file = path.join(dir.path, 'tidewater.db');
    db = SqliteDatabase.open({ path: file });
    db.connection.exec('CREATE TABLE scratch (k TEXT PRIMARY KEY)');
  });
  afterEach(() => {
    db.close();
    dir.cleanup();
  });

  it('commits writes of one event-loop turn together, rolling back only the one that fails', async () => {
    const insert = db.connection.prepare('INSERT INTO scratch (k) VALUES (?)');
    const results = await Promise.allSettled([
      db.writes.submit('a', () => insert.run('a').changes),
      db.writes.submit('b', () => {
        insert.run('b');
        throw new StorageError('TW_ERR_STORAGE_INVALID', 'refused after writing');
      }),
      db.writes.submit('c', () => insert.run('a').changes),
      db.writes.submit('d', () => insert.run('d').changes),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'rejected', 'fulfilled']);
    expect((results[1] as PromiseRejectedResult).reason.code).toBe('TW_ERR_STORAGE_INVALID');
    expect((results[2] as PromiseRejectedResult).reason.code).toBe('TW_ERR_STORAGE_UNAVAILABLE');
    expect(db.connection.prepare('SELECT k FROM scratch ORDER BY k').pluck().all()).toEqual(['a', 'd']);
  });

  it('resolves a write only once another connection can read it', async () => {
    const other = SqliteDatabase.open({ path: file });
    try {
      const writes = Array.from({ length: 50 }, (_, i) =>
        new SqliteRegistrationStore(db).put(`sip:u${i}@example.com`, { bindings: [binding()] }, 0).then(async (r) => {
          expect(r.ok).toBe(true);
          expect((await new SqliteRegistrationStore(other).get(`sip:u${i}@example.com`))?.version).toBe(r.ok && r.version);
        }),
      );
      await Promise.all(writes);
    } finally {
      other.close();
    }
  });

  it('commits queued writes when the database closes', async () => {
    const pending = new SqliteRegistrationStore(db).put('sip:alice@example.com', { bindings: [binding()] }, 0);
    expect(db.writes.pending).toBe(1);
    db.close();
    expect((await pending).ok).toBe(true);
    db = SqliteDatabase.open({ path: file });
    expect(await new SqliteRegistrationStore(db).get('sip:alice@example.com')).toBeDefined();
  });
});
