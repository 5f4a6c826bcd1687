/**
 * Applies the PostgreSQL schema ({@link POSTGRES_MIGRATIONS}): what `tidewater migrate` runs
 * before the nodes of a cluster start, and what a node checks when it opens its stores.
 *
 * Each missing migration runs in its own transaction together with its `schema_version` row,
 * holding a transaction-scoped advisory lock: two processes migrating at once queue on the
 * lock, and the second sees the version the first recorded and skips the step. A database
 * written by a newer schema than this code knows is refused with TW_ERR_STORAGE_SCHEMA.
 */
import pg from 'pg';
import { StorageError } from '../errors.js';
import type { StorageClock } from '../nonce-count-store.js';
import { isStatementError, poolConfig, withClient, type PostgresPoolOptions } from './database.js';
import { POSTGRES_MIGRATIONS, type PostgresMigration } from './migrations.js';

/** Options of {@link migratePostgres}. */
export interface MigrateOptions {
  /** The schema; default {@link POSTGRES_MIGRATIONS}. Tests pass prefixes of it. */
  readonly migrations?: readonly PostgresMigration[];
  /** Clock for `schema_version.applied_at`; default `Date`. */
  readonly clock?: StorageClock;
}

/** What a migration run did. */
export interface MigrationReport {
  /** Schema version found before the run. */
  readonly from: number;
  /** Schema version after the run: the highest migration known. */
  readonly to: number;
  /** Migrations this run applied (empty when another process applied them, or none were missing). */
  readonly applied: readonly { readonly version: number; readonly name: string }[];
}

/** Advisory lock key (two int4): "tw", "schema". Held only inside a migration's transaction. */
const LOCK_KEY = 'pg_advisory_xact_lock(29815, 1)';
/**
 * A statement that may run long: no client-side read timeout (setTimeout's largest delay).
 * `pg` reads `query_timeout` from a query's config, which its type declarations omit.
 */
function unbounded(text: string): pg.QueryConfig {
  return { text, query_timeout: 2 ** 31 - 1 } as pg.QueryConfig;
}
const SCHEMA_VERSION_TABLE = `
CREATE TABLE IF NOT EXISTS schema_version (
  version    integer PRIMARY KEY,
  name       text NOT NULL,
  applied_at bigint NOT NULL
)`;

function checkOrder(migrations: readonly PostgresMigration[]): void {
  migrations.forEach((m, i) => {
    if (m.version !== i + 1) throw new Error(`migration ${m.name} must have version ${i + 1}, has ${m.version}`);
  });
}

async function versionOf(client: pg.ClientBase): Promise<number> {
  const present = await client.query<{ present: boolean }>("SELECT to_regclass('schema_version') IS NOT NULL AS present");
  if (!present.rows[0]?.present) return 0;
  const row = await client.query<{ version: number }>('SELECT COALESCE(MAX(version), 0) AS version FROM schema_version');
  return row.rows[0]?.version ?? 0;
}

function tooNew(found: number, latest: number): StorageError {
  return new StorageError(
    'TW_ERR_STORAGE_SCHEMA',
    `the database has schema version ${found} but this Tidewater knows only up to ${latest}; use a newer release`,
  );
}

/** Applies `migration` unless another process already did; true when this call applied it. */
async function step(client: pg.ClientBase, migration: PostgresMigration, latest: number, clock: StorageClock): Promise<boolean> {
  await client.query('BEGIN');
  try {
    await client.query('SET LOCAL statement_timeout = 0');
    await client.query(unbounded(`SELECT ${LOCK_KEY}`));
    await client.query(SCHEMA_VERSION_TABLE);
    const current = await versionOf(client);
    if (current > latest) throw tooNew(current, latest);
    if (current >= migration.version) {
      await client.query('COMMIT');
      return false;
    }
    await client.query(unbounded(migration.sql));
    await client.query('INSERT INTO schema_version (version, name, applied_at) VALUES ($1, $2, $3)', [
      migration.version,
      migration.name,
      clock.now(),
    ]);
    await client.query('COMMIT');
    return true;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
}

/**
 * Brings the database of `pool` up to the latest schema version, applying missing migrations
 * in order. Rejects with TW_ERR_STORAGE_SCHEMA when the database is newer than this code or a
 * migration fails (that migration is rolled back whole), TW_ERR_STORAGE_UNAVAILABLE when the
 * server cannot be reached.
 */
export async function migratePostgres(pool: pg.Pool, options: MigrateOptions = {}): Promise<MigrationReport> {
  const migrations = options.migrations ?? POSTGRES_MIGRATIONS;
  checkOrder(migrations);
  const clock = options.clock ?? Date;
  const latest = migrations.length;
  return withClient(pool, 'migrating the schema', async (client) => {
    const from = await versionOf(client);
    if (from > latest) throw tooNew(from, latest);
    const applied: { version: number; name: string }[] = [];
    for (const migration of migrations.slice(from)) {
      try {
        if (await step(client, migration, latest, clock)) applied.push({ version: migration.version, name: migration.name });
      } catch (error) {
        if (error instanceof StorageError || !isStatementError(error)) throw error;
        throw new StorageError('TW_ERR_STORAGE_SCHEMA', `migration ${migration.version} (${migration.name}) failed: ${(error as Error).message}`, error);
      }
    }
    return { from, to: latest, applied };
  });
}

/** The schema version of the database of `pool`: 0 when nothing was ever migrated. */
export function postgresSchemaVersion(pool: pg.Pool): Promise<number> {
  return withClient(pool, 'reading the schema version', versionOf);
}

/**
 * Checks that the database of `pool` has exactly the schema this code knows: rejects with
 * TW_ERR_STORAGE_SCHEMA naming `tidewater migrate` when it is older, or a newer release when it
 * is newer. A node runs this when it opens its stores instead of migrating by itself.
 */
export async function checkPostgresSchema(pool: pg.Pool, migrations: readonly PostgresMigration[] = POSTGRES_MIGRATIONS): Promise<number> {
  const found = await postgresSchemaVersion(pool);
  const latest = migrations.length;
  if (found > latest) throw tooNew(found, latest);
  if (found < latest) {
    throw new StorageError(
      'TW_ERR_STORAGE_SCHEMA',
      `the database has schema version ${found}, this Tidewater needs ${latest}: run \`tidewater migrate\` first`,
    );
  }
  return found;
}

/**
 * `tidewater migrate` in one call: opens a one-connection pool on `url`, migrates, closes.
 * The pool options apply to reaching the server (connection timeout); statements of a
 * migration run without a time limit.
 */
export async function migratePostgresUrl(url: string, options: MigrateOptions & PostgresPoolOptions = {}): Promise<MigrationReport> {
  const pool = new pg.Pool({ ...poolConfig(url, { ...options, maxConnections: 1 }), application_name: 'tidewater migrate' });
  pool.on('error', () => undefined);
  try {
    return await migratePostgres(pool, options);
  } finally {
    await pool.end();
  }
}

/** One line per applied migration, then the resulting version: the output of `tidewater migrate`. */
export function describeMigration(report: MigrationReport): string[] {
  const lines = report.applied.map((m) => `applied migration ${m.version}: ${m.name}`);
  lines.push(
    report.applied.length === 0
      ? `schema is up to date (version ${report.to})`
      : `schema migrated from version ${report.from} to ${report.to}`,
  );
  return lines;
}
