/**
 * Where the stores live, chosen in one place for the all-in-one, the roles run alone and the
 * `subscriber` commands: subscribers (HSS), simservs documents (XDMS) and portal accounts in
 * PostgreSQL when `postgresUrl` is set, registration bindings, reg-event subscriptions and nonce counts in Redis when
 * `redisUrl` is set, and whatever is left in the data folder's SQLite file (WAL mode, so the
 * `subscriber` commands can write while a server runs). The data folder also keeps the key
 * digest nonces are made with, so nonces survive a restart. See docs/storage.md.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, linkSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { AccountStore, DocumentStore, NonceCountStore, RegistrationStore, SubscriberStore, SubscriptionStore } from '../storage/index.js';
import { CachedRegistrationStore, MemoryNonceCountStore } from '../storage/memory/index.js';
import type { PostgresPoolOptions, PostgresStores } from '../storage/postgres/index.js';
import type { RedisStores } from '../storage/redis/index.js';
import { openSqliteStores, type SqliteStores } from '../storage/sqlite/index.js';
import { CliError } from './output.js';

/** The database file's name in the data folder. */
export const DATABASE_FILE = 'tidewater.sqlite';
/** The nonce key's file name in the data folder. */
export const NONCE_KEY_FILE = 'nonce.key';
/** Bytes of the nonce key. */
export const NONCE_KEY_BYTES = 32;

/** The configuration keys that choose the stores (see src/config/fields.ts, section Storage). */
export interface StorageSettings {
  readonly dataDir: string;
  readonly postgresUrl?: string | undefined;
  readonly redisUrl?: readonly string[] | undefined;
  readonly redisCluster?: boolean;
  readonly redisPrefix?: string;
}

/** Every store a Tidewater process may need. */
export interface Stores {
  readonly subscribers: SubscriberStore;
  /** XDMS documents (simservs). */
  readonly documents: DocumentStore;
  /** Portal accounts, their numbers and sessions. */
  readonly accounts: AccountStore;
  readonly registrations: RegistrationStore;
  readonly nonceCounts: NonceCountStore;
  /** Reg-event subscriptions (RFC 3680), which any core may NOTIFY. */
  readonly subscriptions: SubscriptionStore;
}

export type StoreName = keyof Stores;

/** The stores PostgreSQL holds when `postgresUrl` is set; Redis holds the others when `redisUrl` is. */
const POSTGRES_STORES: readonly StoreName[] = ['subscribers', 'documents', 'accounts'];
const ALL_STORES: readonly StoreName[] = ['subscribers', 'documents', 'accounts', 'registrations', 'nonceCounts', 'subscriptions'];

/** The stores asked for, the backends opened for them, and what closes them all. */
export type OpenedStores<K extends StoreName> = Pick<Stores, K> & {
  /** Set when PostgreSQL holds some of the stores asked for. */
  readonly postgres?: PostgresStores;
  /** Set when Redis holds some of the stores asked for. */
  readonly redis?: RedisStores;
  /** Set when the data folder's SQLite file holds some of the stores asked for. */
  readonly sqlite?: SqliteStores;
  /** Where each store asked for lives, e.g. `PostgreSQL 10.0.0.7:5432/tidewater`, for the start-up log. */
  readonly where: Readonly<Record<K, string>>;
  /** Closes every backend opened (the SQLite file at once, then the pools); never rejects. */
  close(): Promise<void>;
};

/** Options of {@link openStores}. */
export interface OpenStoresOptions {
  /**
   * What to do about the PostgreSQL schema: `verify` (default) refuses a database not at this
   * release's version, naming `tidewater migrate`; `migrate` applies missing migrations (the
   * all-in-one, which is the whole deployment and may set its database up by itself).
   */
  readonly postgresSchema?: 'verify' | 'migrate';
  /** Pool settings of PostgreSQL (docs/storage.md); default that adapter's (10 connections). */
  readonly postgresPool?: PostgresPoolOptions;
  /**
   * Told of connection failures after start-up (a server gone or restarting; the stores
   * reconnect by themselves and the requests meanwhile fail with 503), at most one per
   * backend every {@link ERROR_REPORT_INTERVAL_MS}.
   */
  readonly onError?: (backend: 'PostgreSQL' | 'Redis', error: Error) => void;
  /**
   * For a server: the SQLite file's WAL is checkpointed by a worker thread, so the event loop's
   * own checkpoints find little left to do (`SqliteDatabaseOptions.checkpoint`).
   */
  readonly sqliteBackgroundCheckpoints?: boolean;
  /** Told if background checkpoints stop (the event loop's go on). */
  readonly onSqliteCheckpointFailure?: (error: Error) => void;
}

/** Shortest time between two connection errors reported for one backend. */
export const ERROR_REPORT_INTERVAL_MS = 10_000;

/**
 * The connection-error listener of one backend: while opening it keeps the last error (the
 * reason given if opening fails); once `opened()` it reports to `report`, throttled.
 */
function errorListener(backend: 'PostgreSQL' | 'Redis', report: OpenStoresOptions['onError']) {
  let last = -Infinity;
  let open = false;
  const listener = {
    lastError: undefined as Error | undefined,
    opened: () => void (open = true),
    onError: (error: Error): void => {
      if (!open) {
        listener.lastError = error;
        return;
      }
      const now = Date.now();
      if (report === undefined || now - last < ERROR_REPORT_INTERVAL_MS) return;
      last = now;
      report(backend, error);
    },
  };
  return listener;
}

/** The reason opening failed, with the connection error behind it when the message does not say it. */
function reasonOf(error: unknown, cause: Error | undefined): string {
  const message = messageOf(error);
  return cause === undefined || message.includes(cause.message) ? message : `${message} (${cause.message})`;
}

/** `10.0.0.7:5432/tidewater`: a PostgreSQL URL without its credentials, for messages. */
export function describePostgresUrl(url: string): string {
  try {
    const parsed = new URL(url);
    const host = parsed.hostname || parsed.searchParams.get('host') || 'localhost';
    return `${host}:${parsed.port || '5432'}${parsed.pathname.length > 1 ? parsed.pathname : ''}`;
  } catch {
    return '(unparsable URL)';
  }
}

/** `10.0.0.5:6379` or `10.0.0.5:7000, 10.0.0.6:7000`: Redis URLs without their credentials. */
export function describeRedisUrls(urls: readonly string[]): string {
  return urls
    .map((url) => {
      try {
        const parsed = new URL(url);
        return `${parsed.hostname}:${parsed.port || '6379'}${parsed.pathname.length > 1 ? parsed.pathname : ''}`;
      } catch {
        return '(unparsable URL)';
      }
    })
    .join(', ');
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

async function openPostgres(url: string, options: OpenStoresOptions): Promise<PostgresStores> {
  const { openPostgresStores } = await import('../storage/postgres/index.js');
  const errors = errorListener('PostgreSQL', options.onError);
  try {
    const stores = await openPostgresStores(url, { ...options.postgresPool, schema: options.postgresSchema ?? 'verify', onIdleError: errors.onError });
    errors.opened();
    return stores;
  } catch (error) {
    throw new CliError(`postgresUrl: cannot use the PostgreSQL database at ${describePostgresUrl(url)}: ${reasonOf(error, errors.lastError)}`);
  }
}

async function openRedis(settings: StorageSettings, urls: readonly string[], options: OpenStoresOptions): Promise<RedisStores> {
  const { openRedisStores } = await import('../storage/redis/index.js');
  const errors = errorListener('Redis', options.onError);
  try {
    const stores = await openRedisStores(urls, {
      cluster: settings.redisCluster ?? false,
      ...(settings.redisPrefix === undefined ? {} : { prefix: settings.redisPrefix }),
      onError: errors.onError,
    });
    errors.opened();
    return stores;
  } catch (error) {
    const what = settings.redisCluster ? 'the Redis Cluster' : 'Redis';
    throw new CliError(`redisUrl: cannot use ${what} at ${describeRedisUrls(urls)}: ${reasonOf(error, errors.lastError)}`);
  }
}

/**
 * Opens the backends that hold the stores in `want`, and only those: PostgreSQL (with
 * `postgresUrl`) for subscribers, documents and accounts, Redis (with `redisUrl`) for
 * registrations and nonce counts, the data folder's SQLite file (created when missing) for the
 * rest. A backend that cannot be reached, or a PostgreSQL schema that does not match, rejects
 * with a {@link CliError} naming the configuration key and the reason; nothing stays open then.
 */
export async function openStores<K extends StoreName>(settings: StorageSettings, want: readonly K[], options: OpenStoresOptions = {}): Promise<OpenedStores<K>> {
  const inPostgres = (name: StoreName) => settings.postgresUrl !== undefined && POSTGRES_STORES.includes(name);
  const inRedis = (name: StoreName) => settings.redisUrl !== undefined && !POSTGRES_STORES.includes(name);
  let sqlite: SqliteStores | undefined;
  if (want.some((name) => !inPostgres(name) && !inRedis(name))) sqlite = openDatabase(settings.dataDir, options);
  const [pg, redis] = await Promise.allSettled([
    want.some(inPostgres) ? openPostgres(settings.postgresUrl!, options) : undefined,
    want.some(inRedis) ? openRedis(settings, settings.redisUrl!, options) : undefined,
  ]);
  const postgres = pg.status === 'fulfilled' ? pg.value : undefined;
  const shared = redis.status === 'fulfilled' ? redis.value : undefined;
  const close = async (): Promise<void> => {
    await sqlite?.database.shutdown();
    await Promise.all([postgres?.close().catch(() => undefined), shared?.close().catch(() => undefined)]);
  };
  const failures = [pg, redis].flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
  if (failures.length > 0) {
    await close();
    // Both down: one message per key, each line as the CLI prints an error.
    throw failures.length === 1 ? failures[0] : new CliError(failures.map(messageOf).join('\ntidewater: '));
  }
  const stores: Record<string, unknown> = {};
  const where: Record<string, string> = {};
  for (const name of want) {
    if (inPostgres(name)) {
      stores[name] = postgres![name as 'subscribers' | 'documents' | 'accounts'];
      where[name] = `PostgreSQL ${describePostgresUrl(settings.postgresUrl!)}`;
    } else if (inRedis(name)) {
      stores[name] = shared![name as 'registrations' | 'nonceCounts' | 'subscriptions'];
      where[name] = `Redis ${describeRedisUrls(settings.redisUrl!)} (prefix ${settings.redisPrefix ?? 'tw:'})`;
    } else {
      stores[name] = sqlite![name];
      where[name] = `SQLite ${path.join(settings.dataDir, DATABASE_FILE)}`;
    }
  }
  return {
    ...(stores as Pick<Stores, K>),
    ...(postgres ? { postgres } : {}),
    ...(shared ? { redis: shared } : {}),
    ...(sqlite ? { sqlite } : {}),
    where: where as Record<K, string>,
    close,
  };
}

/** The stores the all-in-one runs on. */
export interface AllInOneStorage extends Stores {
  /**
   * Bindings: in memory and written through to SQLite (loaded from it when opened), or, with
   * `redisUrl`, in Redis, read there each time (other processes share them).
   */
  readonly registrations: RegistrationStore;
  /**
   * Secret key of the digest nonces (and flow and softphone tokens), the same across restarts:
   * the deployment's key in Redis when `redisUrl` is set (every node shares it), else the data
   * folder's `nonce.key`.
   */
  readonly nonceKey: Buffer;
  /**
   * Without Redis the nonce counts are kept in memory (the all-in-one is the one process that
   * checks its nonces), and this is when that memory began: nonces issued before it are stale.
   * Undefined when the counts are shared (Redis) and outlive the process.
   */
  readonly nonceCountsSince?: number;
  /** Where each store lives, for the start-up log. */
  readonly where: Readonly<Record<StoreName, string>>;
  /** Commits queued writes and closes every backend. */
  close(): Promise<void>;
}

/**
 * Opens (creating the folder and the nonce key when missing) the all-in-one's storage; a bare
 * `dataDir` means everything in the data folder. The all-in-one passes `postgresSchema:
 * 'migrate'`: it is a whole deployment in one process, so it sets up its own database.
 */
export async function openAllInOneStorage(settings: StorageSettings | string, options: OpenStoresOptions = {}): Promise<AllInOneStorage> {
  const chosen = typeof settings === 'string' ? { dataDir: settings } : settings;
  const stores = await openStores(chosen, ALL_STORES, options);
  try {
    const nonceKey = stores.redis?.sharedKey ?? loadNonceKey(chosen.dataDir);
    const registrations = stores.redis ? stores.registrations : await CachedRegistrationStore.open(stores.registrations);
    // Nonce counts live as long as a nonce (5 minutes by default) and are checked on every
    // authenticated REGISTER: kept in the SQLite file they cost a durable write, and a commit of
    // its own ahead of the binding's, per registration. In memory, a restart forgets them, so
    // the registrar treats every nonce issued before this start as stale (nonceCountsSince):
    // a replay across a restart is still refused, and a client is only challenged afresh.
    const nonceCountsSince = stores.redis ? undefined : Date.now();
    return {
      subscribers: stores.subscribers,
      registrations,
      nonceCounts: stores.redis ? stores.nonceCounts : new MemoryNonceCountStore({ clock: Date }),
      ...(nonceCountsSince === undefined ? {} : { nonceCountsSince }),
      subscriptions: stores.subscriptions,
      documents: stores.documents,
      accounts: stores.accounts,
      nonceKey,
      where: stores.redis ? stores.where : { ...stores.where, nonceCounts: 'memory (nonces issued before this start are stale)' },
      close: () => stores.close(),
    };
  } catch (error) {
    await stores.close();
    throw error;
  }
}

/** The SQLite stores of the data folder (created when missing), without the registration cache. */
export function openDatabase(
  dataDir: string,
  options: Pick<OpenStoresOptions, 'sqliteBackgroundCheckpoints' | 'onSqliteCheckpointFailure'> = {},
): SqliteStores {
  mkdirSync(dataDir, { recursive: true });
  return openSqliteStores({
    path: path.join(dataDir, DATABASE_FILE),
    ...(options.sqliteBackgroundCheckpoints ? { checkpoint: 'background' as const } : {}),
    ...(options.onSqliteCheckpointFailure ? { onCheckpointFailure: options.onSqliteCheckpointFailure } : {}),
  });
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
