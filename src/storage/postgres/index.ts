/**
 * The PostgreSQL adapters (cluster mode, issue 7): HSS subscribers, XCAP documents and portal
 * accounts on one shared database. Only the CLI wiring imports this folder (STYLE.md: `ims`
 * never imports a concrete adapter).
 */
import type { StorageClock } from '../nonce-count-store.js';
import { PostgresAccountStore } from './account-store.js';
import { PostgresDatabase, type PostgresPoolOptions } from './database.js';
import { PostgresDocumentStore } from './document-store.js';
import { checkPostgresSchema, migratePostgres } from './migrate.js';
import { PostgresSubscriberStore } from './subscriber-store.js';

export { PostgresAccountStore } from './account-store.js';
export { PostgresDatabase, mapPostgresError, poolConfig, type PostgresPoolOptions } from './database.js';
export { PostgresDocumentStore } from './document-store.js';
export {
  checkPostgresSchema,
  describeMigration,
  migratePostgres,
  migratePostgresUrl,
  postgresSchemaVersion,
  type MigrateOptions,
  type MigrationReport,
} from './migrate.js';
export { POSTGRES_MIGRATIONS, type PostgresMigration } from './migrations.js';
export type { ImportFailure, ImportOptions, ImportReport } from './subscriber-import.js';
export { PostgresSubscriberStore } from './subscriber-store.js';

/** Every PostgreSQL store on one pool; `close()` ends the pool. */
export interface PostgresStores {
  readonly database: PostgresDatabase;
  readonly subscribers: PostgresSubscriberStore;
  readonly documents: PostgresDocumentStore;
  /** The portal's accounts, numbers and sessions. */
  readonly accounts: PostgresAccountStore;
  close(): Promise<void>;
}

/** Options of {@link openPostgresStores}. */
export interface PostgresStoresOptions extends PostgresPoolOptions {
  /**
   * What to do about the schema when opening: `verify` (default) refuses a database that is
   * not exactly at this code's schema version (TW_ERR_STORAGE_SCHEMA, naming `tidewater
   * migrate` when it is older); `migrate` applies missing migrations first (the all-in-one,
   * tests); `skip` checks nothing and makes no connection.
   */
  readonly schema?: 'verify' | 'migrate' | 'skip';
  /** Clock for `schema_version.applied_at` when migrating; default `Date`. */
  readonly clock?: StorageClock;
}

/**
 * Opens a pool on `url` (`postgres://user:password@host:port/database`) and builds every store
 * on it. Rejects with TW_ERR_STORAGE_UNAVAILABLE when the server cannot be reached within the
 * connection timeout and TW_ERR_STORAGE_SCHEMA for a schema mismatch (the pool is closed then).
 */
export async function openPostgresStores(url: string, options: PostgresStoresOptions = {}): Promise<PostgresStores> {
  const database = PostgresDatabase.open(url, options);
  try {
    if (options.schema === 'migrate') await migratePostgres(database.pool, options.clock ? { clock: options.clock } : {});
    else if (options.schema !== 'skip') await checkPostgresSchema(database.pool);
  } catch (error) {
    await database.close();
    throw error;
  }
  return {
    database,
    subscribers: new PostgresSubscriberStore(database),
    documents: new PostgresDocumentStore(database),
    accounts: new PostgresAccountStore(database),
    close: () => database.close(),
  };
}
