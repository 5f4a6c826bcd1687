/** The SQLite file itself: WAL mode, versioned migrations, failures reported as storage errors. */
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { StorageError } from '../../src/storage/errors.js';
import { SqliteDatabase } from '../../src/storage/sqlite/database.js';
import { MIGRATIONS } from '../../src/storage/sqlite/migrations.js';
import { SqliteRegistrationStore } from '../../src/storage/sqlite/registration-store.js';
import { binding, T0, tempDir } from './fixtures.js';

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    return e instanceof StorageError ? e.code : `not a StorageError: ${String(e)}`;
  }
  return undefined;
}

describe('SqliteDatabase', () => {
  let dir: ReturnType<typeof tempDir>;
  let file: string;
  beforeEach(() => {
    dir = tempDir();
    file = path.join(dir.path, 'tidewater.db');
  });
  afterEach(() => dir.cleanup());

  it('opens a new file in WAL mode with every migration recorded once', () => {
    const db = SqliteDatabase.open({ path: file, clock: { now: () => T0 } });
    expect(db.journalMode).toBe('wal');
    expect(db.schemaVersion).toBe(MIGRATIONS.length);
    db.close();
    const again = SqliteDatabase.open({ path: file, clock: { now: () => T0 + 1 } });
    const rows = again.connection.prepare('SELECT version, name, applied_at FROM schema_version ORDER BY version').all();
    expect(rows).toEqual(MIGRATIONS.map((m) => ({ version: m.version, name: m.name, applied_at: T0 })));
    again.close();
  });

  it('keeps its page cache to 2 MiB unless told otherwise', () => {
    // better-sqlite3 alone would give 16 MiB, resident once the subscribers' rows have been read
    const db = SqliteDatabase.open({ path: file });
    expect(db.connection.pragma('cache_size', { simple: true })).toBe(-2048);
    db.close();
    const bigger = SqliteDatabase.open({ path: file, cacheKib: 65536 });
    expect(bigger.connection.pragma('cache_size', { simple: true })).toBe(-65536);
    bigger.close();
    expect(codeOf(() => SqliteDatabase.open({ path: file, cacheKib: 0 }))).toBe('TW_ERR_STORAGE_INVALID');
  });

  it('upgrades a file made by an older schema, keeping its data', async () => {
    const old = SqliteDatabase.open({ path: file, migrations: MIGRATIONS.slice(0, 1) });
    expect(old.schemaVersion).toBe(1);
    await new SqliteRegistrationStore(old).put('sip:alice@example.com', { bindings: [binding()] }, 0);
    old.close();
    const db = SqliteDatabase.open({ path: file });
    expect(db.schemaVersion).toBe(MIGRATIONS.length);
    expect((await new SqliteRegistrationStore(db).get('sip:alice@example.com'))?.bindings).toEqual([binding()]);
    db.close();
  });

  it('refuses a file written by a newer schema', () => {
    const future = [...MIGRATIONS, { version: MIGRATIONS.length + 1, name: 'from the future', sql: 'CREATE TABLE later (x INTEGER)' }];
    SqliteDatabase.open({ path: file, migrations: future }).close();
    expect(codeOf(() => SqliteDatabase.open({ path: file }))).toBe('TW_ERR_STORAGE_SCHEMA');
  });

  it('rolls back a failing migration whole', () => {
    const broken = [...MIGRATIONS, { version: MIGRATIONS.length + 1, name: 'broken', sql: 'CREATE TABLE half (x); INSERT INTO nowhere VALUES (1);' }];
    expect(codeOf(() => SqliteDatabase.open({ path: file, migrations: broken }))).toBe('TW_ERR_STORAGE_SCHEMA');
    const raw = new Database(file);
    expect(raw.prepare("SELECT name FROM sqlite_master WHERE name = 'half'").get()).toBeUndefined();
    expect(raw.prepare('SELECT MAX(version) AS v FROM schema_version').get()).toEqual({ v: MIGRATIONS.length });
    raw.close();
  });

  it('reports a file it cannot open as TW_ERR_STORAGE_UNAVAILABLE', () => {
    expect(codeOf(() => SqliteDatabase.open({ path: path.join(dir.path, 'missing-dir', 'x.db') }))).toBe('TW_ERR_STORAGE_UNAVAILABLE');
  });

  it('rejects store calls on a closed database with TW_ERR_STORAGE_UNAVAILABLE', async () => {
    const db = SqliteDatabase.open({ path: file });
    const store = new SqliteRegistrationStore(db);
    db.close();
    const error = await store.get('sip:alice@example.com').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StorageError);
    expect((error as StorageError).code).toBe('TW_ERR_STORAGE_UNAVAILABLE');
  });

  it('stores keys with quotes and SQL text as plain values', async () => {
    const db = SqliteDatabase.open({ path: file });
    const store = new SqliteRegistrationStore(db);
    const aor = "sip:o'brien@example.com;x=\"1\"--;DROP TABLE bindings";
    await store.put(aor, { bindings: [binding({ userAgent: "'); DELETE FROM registrations; --" })] }, 0);
    expect((await store.get(aor))?.bindings[0]?.userAgent).toBe("'); DELETE FROM registrations; --");
    expect(await store.count()).toEqual({ aors: 1, bindings: 1 });
    db.close();
  });

  it('detects a compare-and-set conflict between two connections to one file', async () => {
    const a = SqliteDatabase.open({ path: file });
    const b = SqliteDatabase.open({ path: file });
    const storeA = new SqliteRegistrationStore(a);
    const storeB = new SqliteRegistrationStore(b);
    const v1 = await storeA.put('sip:alice@example.com', { bindings: [binding()] }, 0);
    const version = v1.ok ? v1.version : 0;
    expect((await storeB.put('sip:alice@example.com', { bindings: [binding({ cseq: 2 })] }, version)).ok).toBe(true);
    expect((await storeA.put('sip:alice@example.com', { bindings: [binding({ cseq: 3 })] }, version)).ok).toBe(false);
    expect((await storeA.get('sip:alice@example.com'))?.bindings[0]?.cseq).toBe(2);
    a.close();
    b.close();
  });
});
