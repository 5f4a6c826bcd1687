/** Background WAL checkpoints: a worker copies the log into the database file; the server's loop does not. */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { WalCheckpointer } from '../../src/storage/sqlite/checkpointer.js';
import { SqliteDatabase } from '../../src/storage/sqlite/database.js';
import { tempDir } from './fixtures.js';

/** About 300 pages of rows in one commit: fewer than the 1,000 that start SQLite's own checkpoint. */
function writeRows(db: SqliteDatabase): void {
  const c = db.connection;
  c.exec('CREATE TABLE bulk (k INTEGER PRIMARY KEY, v TEXT)');
  const insert = c.prepare('INSERT INTO bulk VALUES (?, ?)');
  c.transaction(() => {
    for (let i = 0; i < 1000; i++) insert.run(i, `${i}`.padEnd(1000, '.'));
  })();
}

const sizeOf = (file: string): number => statSync(file).size;

describe('background WAL checkpoints', () => {
  let dir: ReturnType<typeof tempDir>;
  let file: string;
  beforeEach(() => {
    dir = tempDir();
    file = path.join(dir.path, 'tidewater.sqlite');
  });
  afterEach(() => dir.cleanup());

  it('left to SQLite, committed pages stay in the log until it holds 1,000', async () => {
    const db = SqliteDatabase.open({ path: file, migrations: [] });
    expect(db.backgroundCheckpoints).toBeUndefined();
    const before = sizeOf(file);
    writeRows(db);
    await new Promise((r) => setTimeout(r, 200));
    expect(sizeOf(file)).toBe(before);
    expect(sizeOf(`${file}-wal`)).toBeGreaterThan(1_000_000);
    db.close();
  });

  it('with a checkpointer, a worker copies them into the database file soon after the commit', async () => {
    const failures: Error[] = [];
    const db = SqliteDatabase.open({ path: file, migrations: [], checkpoint: 'background', checkpointIntervalMs: 20, onCheckpointFailure: (e) => failures.push(e) });
    await db.backgroundCheckpoints!.ready();
    const before = sizeOf(file);
    writeRows(db);
    await vi.waitFor(() => expect(sizeOf(file)).toBeGreaterThan(before + 1_000_000), { timeout: 5000, interval: 20 });
    // The server's connection still reads and writes as before.
    db.connection.prepare('UPDATE bulk SET v = ? WHERE k = 7').run('seven');
    expect(db.connection.prepare('SELECT v FROM bulk WHERE k = 7').pluck().get()).toBe('seven');
    await db.shutdown();
    expect(failures).toEqual([]);
  });

  it('shutdown stops the worker, and the last connection to close leaves no log behind', async () => {
    const db = SqliteDatabase.open({ path: file, migrations: [], checkpoint: 'background', checkpointIntervalMs: 20 });
    await db.backgroundCheckpoints!.ready();
    writeRows(db);
    await db.shutdown();
    expect(db.isOpen).toBe(false);
    expect(existsSync(`${file}-wal`)).toBe(false);
    const again = SqliteDatabase.open({ path: file, migrations: [] });
    expect(again.connection.prepare('SELECT COUNT(*) FROM bulk').pluck().get()).toBe(1000);
    again.close();
  });

  it('runs its worker at the lowest priority, so a busy event loop keeps the core', async () => {
    // Field 19 of /proc/<pid>/task/<tid>/stat is the thread's nice value (after the command in parentheses).
    const niceOf = (tid: string): number => Number(readFileSync(`/proc/self/task/${tid}/stat`, 'latin1').split(') ')[1]!.split(' ')[16]);
    const lowest = (): number => readdirSync('/proc/self/task').filter((tid) => niceOf(tid) === 19).length;
    const before = lowest();
    const db = SqliteDatabase.open({ path: file, migrations: [], checkpoint: 'background' });
    await db.backgroundCheckpoints!.ready();
    await vi.waitFor(() => expect(lowest()).toBe(before + 1));
    await db.shutdown();
    await vi.waitFor(() => expect(lowest()).toBe(before));
  });

  it('says so when its worker cannot open the file', async () => {
    const failures: Error[] = [];
    const missing = path.join(dir.path, 'no-such.sqlite');
    const checkpointer = WalCheckpointer.start({ path: missing, intervalMs: 20, onFailure: (e) => failures.push(e) });
    await expect(checkpointer.ready()).rejects.toThrow(/unable to open|no such file|does not exist/i);
    await vi.waitFor(() => expect(failures).toHaveLength(1));
    await checkpointer.stop();
  });

  it('refuses an interval that is not a positive whole number of milliseconds', () => {
    expect(() => WalCheckpointer.start({ path: file, intervalMs: 0 })).toThrow(/intervalMs must be a positive integer, not 0/);
  });
});
