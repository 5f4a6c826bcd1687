/**
 * The SQLite adapters (all-in-one): one database file shared by every store. Only the CLI
 * wiring imports this folder (STYLE.md: `ims` never imports a concrete adapter).
 */
import type { StorageClock } from '../nonce-count-store.js';
import { SqliteAccountStore } from './account-store.js';
import { SqliteDatabase, type SqliteDatabaseOptions } from './database.js';
import { SqliteDocumentStore } from './document-store.js';
import { SqliteNonceCountStore } from './nonce-count-store.js';
import { SqliteRegistrationStore } from './registration-store.js';
import { SqliteSubscriberStore } from './subscriber-store.js';
import { SqliteSubscriptionStore } from './subscription-store.js';

export { SqliteAccountStore } from './account-store.js';
export { SqliteDatabase, migrate, type SqliteDatabaseOptions } from './database.js';
export { SqliteDocumentStore } from './document-store.js';
export { MIGRATIONS, type Migration } from './migrations.js';
export { SqliteNonceCountStore, type SqliteNonceCountStoreOptions } from './nonce-count-store.js';
export { SqliteRegistrationStore } from './registration-store.js';
export { SqliteSubscriberStore } from './subscriber-store.js';
export { SqliteSubscriptionStore } from './subscription-store.js';

/** Every SQLite store on one database; `close()` closes the file. */
export interface SqliteStores {
  readonly database: SqliteDatabase;
  readonly registrations: SqliteRegistrationStore;
  readonly subscribers: SqliteSubscriberStore;
  readonly nonceCounts: SqliteNonceCountStore;
  /** The reg-event notifier's subscriptions. */
  readonly subscriptions: SqliteSubscriptionStore;
  readonly documents: SqliteDocumentStore;
  /** The portal's accounts, numbers and sessions. */
  readonly accounts: SqliteAccountStore;
  close(): void;
}

/** Options of {@link openSqliteStores}. */
export interface SqliteStoresOptions extends SqliteDatabaseOptions {
  /** Wall clock for the nonce-count records (and `schema_version`); default `Date`. */
  readonly clock?: StorageClock;
}

/** Opens (creating and migrating) the database file and builds every store on it. */
export function openSqliteStores(options: SqliteStoresOptions): SqliteStores {
  const database = SqliteDatabase.open(options);
  return {
    database,
    registrations: new SqliteRegistrationStore(database),
    subscribers: new SqliteSubscriberStore(database),
    nonceCounts: new SqliteNonceCountStore(database, { clock: options.clock ?? Date }),
    subscriptions: new SqliteSubscriptionStore(database),
    documents: new SqliteDocumentStore(database),
    accounts: new SqliteAccountStore(database),
    close: () => database.close(),
  };
}
