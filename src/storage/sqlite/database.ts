/**
 * The all-in-one's embedded database: one SQLite file through better-sqlite3, in WAL mode,
 * its schema brought up to date by versioned migrations when opened.
 *
 * better-sqlite3 is synchronous: every statement runs on the event loop. The all-in-one
 * accepts that because each store operation is a single short statement or one short
 * transaction on indexed rows (tens of microseconds), which costs less than the promise and
 * thread hand-off of an asynchronous driver; the writes on the signalling path (bindings,
 * nonce counts) share commits through {@link GroupCommit}. Nothing scans a table on a
 * signalling path. The stores' methods still return promises, as the contracts say, so the
 * callers are ready for the Redis and PostgreSQL adapters of a cluster (issue 7).
 *
 * WAL checkpoints are SQLite's own (every 1000 pages written, after the commit that crosses the
 * mark, syncing both files and stalling the event loop meanwhile). A server opens its database
 * with `checkpoint: 'background'`, and a worker thread does most of that work beforehand
 * ({@link WalCheckpointer}).
 */
import Database from 'better-sqlite3';
import { StorageError, asStorageError, invalid } from '../errors.js';
import type { StorageClock } from '../nonce-count-store.js';
import { WalCheckpointer } from './checkpointer.js';
import { GroupCommit } from './group-commit.js';
import { MIGRATIONS, type Migration } from './migrations.js';

/** Options of {@link SqliteDatabase.open}. */
export interface SqliteDatabaseOptions {
  /** The database file; created with its directory's permissions if missing. */
  readonly path: string;
  /**
   * `NORMAL` (default): in WAL mode a commit survives a crash or kill of the process, and the
   * last commits may be lost only on an operating-system crash or power loss. `FULL` syncs
   * every commit to disk, surviving those too, at the cost of an fsync per write.
   */
  readonly synchronous?: 'NORMAL' | 'FULL';
  /**
   * How long a statement waits for another process's write lock (the CLI editing subscribers
   * while the server runs) before failing; default 2000 ms. The wait blocks the event loop.
   */
  readonly busyTimeoutMs?: number;
  /**
   * Most memory SQLite's page cache of this connection may hold, KiB; default
   * {@link DEFAULT_CACHE_KIB}. A read that misses it takes the page from the operating system's
   * file cache (one system call), so a larger cache saves little CPU and costs resident memory.
   */
  readonly cacheKib?: number;
  /** Clock for `schema_version.applied_at` only; default the wall clock (`Date.now`). */
  readonly clock?: StorageClock;
  /** The schema; default {@link MIGRATIONS}. Tests pass prefixes of it. */
  readonly migrations?: readonly Migration[];
  /**
   * Who copies the write-ahead log back into the database file: `inline` (default), SQLite
   * itself after the commit that fills it past 1000 pages, on the event loop; `background`,
   * besides that a worker thread every {@link checkpointIntervalMs} ({@link WalCheckpointer}),
   * so the inline checkpoint finds little left to do: for servers, whose event loop should
   * not wait for disk writes.
   */
  readonly checkpoint?: 'inline' | 'background';
  /** Time between two background checkpoints, ms; default 20. */
  readonly checkpointIntervalMs?: number;
  /** Told if background checkpoints stop (the inline ones go on). */
  readonly onCheckpointFailure?: (error: Error) => void;
}

/**
 * SQLite's own default page cache, 2 MiB (better-sqlite3 builds it with 16 MiB). The signalling
 * path reads a few rows of each of thousands of subscribers, so a bigger cache mostly fills with
 * pages read once per registration interval: with 16 MiB an all-in-one that had registered
 * 10,000 subscribers held 18 MiB more resident memory, and a REGISTER cost the same CPU
 * (docs/performance.md, 2026-11-27).
 */
export const DEFAULT_CACHE_KIB = 2048;

const SCHEMA_VERSION_TABLE = `
CREATE TABLE IF NOT EXISTS schema_version (
  version    INTEGER PRIMARY KEY,
  name       TEXT NOT NULL,
  applied_at INTEGER NOT NULL
)`;

/** An open database file shared by the SQLite stores. Its owner closes it. */
export class SqliteDatabase {
  /** Group commit of the signalling-path writes (bindings, nonce counts) on this connection. */
  readonly writes: GroupCommit;

  private checkpointer: WalCheckpointer | undefined;

  private constructor(
    /** The driver's connection; the stores prepare their statements on it. */
    readonly connection: Database.Database,
  ) {
    this.writes = new GroupCommit(connection);
  }

  /**
   * Opens (creating if needed) the file, switches it to WAL mode and applies missing
   * migrations. Throws TW_ERR_STORAGE_SCHEMA when the file was written by a newer schema than
   * this code knows or a migration fails, and TW_ERR_STORAGE_UNAVAILABLE when it cannot be opened.
   */
  static open(options: SqliteDatabaseOptions): SqliteDatabase {
    let connection: Database.Database | undefined;
    try {
      connection = new Database(options.path, { timeout: options.busyTimeoutMs ?? 2000 });
      connection.pragma('journal_mode = WAL');
      connection.pragma(`synchronous = ${options.synchronous === 'FULL' ? 'FULL' : 'NORMAL'}`);
      connection.pragma('foreign_keys = ON');
      // negative: a size in KiB rather than in pages
      connection.pragma(`cache_size = ${-cacheKibOf(options.cacheKib)}`);
      migrate(connection, options.migrations ?? MIGRATIONS, options.clock ?? Date);
      const database = new SqliteDatabase(connection);
      if (options.checkpoint === 'background') {
        database.checkpointer = WalCheckpointer.start({
          path: options.path,
          ...(options.checkpointIntervalMs === undefined ? {} : { intervalMs: options.checkpointIntervalMs }),
          ...(options.onCheckpointFailure === undefined ? {} : { onFailure: options.onCheckpointFailure }),
        });
      }
      return database;
    } catch (error) {
      connection?.close();
      throw asStorageError(`opening the SQLite database ${options.path}`, error);
    }
  }

  /** The journal mode in effect: `wal` for a file database. */
  get journalMode(): string {
    return String(this.connection.pragma('journal_mode', { simple: true }));
  }

  /** The highest migration applied. */
  get schemaVersion(): number {
    return schemaVersionOf(this.connection);
  }

  get isOpen(): boolean {
    return this.connection.open;
  }

  /** The background checkpointer, when the database was opened with one. */
  get backgroundCheckpoints(): WalCheckpointer | undefined {
    return this.checkpointer;
  }

  /**
   * Commits queued writes and closes; idempotent. The last connection to the file to close
   * checkpoints the WAL into it: this one, unless a background checkpointer's worker is still
   * closing its own (it is told to stop here). {@link shutdown} waits for the worker first.
   */
  close(): void {
    void this.checkpointer?.stop();
    if (!this.connection.open) return;
    this.writes.flush();
    this.connection.close();
  }

  /** {@link close} after the background checkpointer, if any, has stopped. */
  async shutdown(): Promise<void> {
    await this.checkpointer?.stop();
    this.close();
  }
}

function schemaVersionOf(connection: Database.Database): number {
  const row = connection.prepare<[], { version: number | null }>('SELECT MAX(version) AS version FROM schema_version').get();
  return row?.version ?? 0;
}

/**
 * Applies the migrations of `migrations` the file lacks, in order, each in one IMMEDIATE
 * transaction together with its `schema_version` row, so two processes opening the same file
 * at once never apply one twice. Returns the resulting schema version.
 */
export function migrate(connection: Database.Database, migrations: readonly Migration[], clock: StorageClock): number {
  migrations.forEach((m, i) => {
    if (m.version !== i + 1) throw new Error(`migration ${m.name} must have version ${i + 1}, has ${m.version}`);
  });
  connection.exec(SCHEMA_VERSION_TABLE);
  const latest = migrations.length;
  const record = connection.prepare<[number, string, number]>(
    'INSERT INTO schema_version (version, name, applied_at) VALUES (?, ?, ?)',
  );
  const step = connection.transaction((migration: Migration): void => {
    const current = schemaVersionOf(connection);
    if (current >= migration.version) return;
    connection.exec(migration.sql);
    record.run(migration.version, migration.name, clock.now());
  });
  const found = schemaVersionOf(connection);
  if (found > latest) {
    throw new StorageError(
      'TW_ERR_STORAGE_SCHEMA',
      `the database has schema version ${found} but this Tidewater knows only up to ${latest}; use a newer release`,
    );
  }
  for (const migration of migrations.slice(found)) {
    try {
      step.immediate(migration);
    } catch (error) {
      throw new StorageError('TW_ERR_STORAGE_SCHEMA', `migration ${migration.version} (${migration.name}) failed`, error);
    }
  }
  return schemaVersionOf(connection);
}

function cacheKibOf(kib: number | undefined): number {
  if (kib === undefined) return DEFAULT_CACHE_KIB;
  if (!Number.isInteger(kib) || kib < 1) throw invalid(`cacheKib must be a positive integer (KiB), not ${kib}`);
  return kib;
}

/** Runs a synchronous driver call, turning its failures into TW_ERR_STORAGE_UNAVAILABLE. */
export function guard<T>(what: string, fn: () => T): T {
  try {
    return fn();
  } catch (error) {
    throw asStorageError(`SQLite ${what}`, error);
  }
}
