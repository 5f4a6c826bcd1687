/**
 * The all-in-one's storage: one SQLite file in the data folder (WAL mode, so the `subscriber`
 * commands can write while the server runs), registrations served from memory in front of it,
 * and the key digest nonces are made with, kept in the folder so nonces survive a restart.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, linkSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { AccountStore, DocumentStore, NonceCountStore, RegistrationStore, SubscriberStore } from '../storage/index.js';
import { CachedRegistrationStore } from '../storage/memory/index.js';
import { openSqliteStores, type SqliteStores } from '../storage/sqlite/index.js';

/** The database file's name in the data folder. */
export const DATABASE_FILE = 'tidewater.sqlite';
/** The nonce key's file name in the data folder. */
export const NONCE_KEY_FILE = 'nonce.key';
/** Bytes of the nonce key. */
export const NONCE_KEY_BYTES = 32;

/** The stores the all-in-one runs on. */
export interface AllInOneStorage {
  readonly subscribers: SubscriberStore;
  /** Bindings in memory, written through to SQLite; loaded from SQLite when opened. */
  readonly registrations: RegistrationStore;
  readonly nonceCounts: NonceCountStore;
  /** XDMS documents (simservs). */
  readonly documents: DocumentStore;
  /** Portal accounts, their numbers and sessions. */
  readonly accounts: AccountStore;
  /** Secret key of the digest nonces, the same across restarts. */
  readonly nonceKey: Buffer;
  /** Commits queued writes and closes the database. */
  close(): void;
}

/** Opens (creating the folder, the database and the nonce key when missing) the all-in-one's storage. */
export async function openAllInOneStorage(dataDir: string): Promise<AllInOneStorage> {
  const nonceKey = loadNonceKey(dataDir);
  const stores = openDatabase(dataDir);
  try {
    const registrations = await CachedRegistrationStore.open(stores.registrations);
    return {
      subscribers: stores.subscribers,
      registrations,
      nonceCounts: stores.nonceCounts,
      documents: stores.documents,
      accounts: stores.accounts,
      nonceKey,
      close: () => stores.close(),
    };
  } catch (error) {
    stores.close();
    throw error;
  }
}

/** The SQLite stores of the data folder, without the registration cache: what the CLI commands use. */
export function openDatabase(dataDir: string): SqliteStores {
  mkdirSync(dataDir, { recursive: true });
  return openSqliteStores({ path: path.join(dataDir, DATABASE_FILE) });
}

/**
 * Reads `<dataDir>/nonce.key`, creating it with a fresh random key (mode 0600) when absent. Two
 * processes creating it at once agree: the key is written to a temporary file which is then
 * linked into place only if no key is there yet, so no one ever reads a half-written key.
 */
export function loadNonceKey(dataDir: string): Buffer {
  mkdirSync(dataDir, { recursive: true });
  const file = path.join(dataDir, NONCE_KEY_FILE);
  if (!existsSync(file)) createNonceKey(file);
  const key = readFileSync(file);
  if (key.length !== NONCE_KEY_BYTES) {
    throw new Error(`${file} holds ${key.length} bytes instead of ${NONCE_KEY_BYTES}; delete it and a new key is made`);
  }
  return key;
}

function createNonceKey(file: string): void {
  const temporary = `${file}.${process.pid}.${randomBytes(4).toString('hex')}`;
  try {
    writeFileSync(temporary, randomBytes(NONCE_KEY_BYTES), { flag: 'wx', mode: 0o600 });
    linkSync(temporary, file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  } finally {
    rmSync(temporary, { force: true });
  }
}
