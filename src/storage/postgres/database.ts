/**
 * The cluster's shared database: a `pg` connection pool with bounded waits, and the mapping of
 * PostgreSQL failures to {@link StorageError} codes every PostgreSQL store shares.
 *
 * Fail fast: taking a connection waits at most `connectionTimeoutMs` (a full pool or a server
 * that does not answer), a statement runs at most `statementTimeoutMs` on the server, and the
 * client gives up on an answer shortly after that (a server that died mid-query). Each of these
 * rejects with TW_ERR_STORAGE_UNAVAILABLE, which the services answer with 503; nothing hangs.
 * A connection that failed is dropped from the pool, and the next operation opens a fresh one,
 * so the stores recover by themselves once the server is back.
 */
import pg from 'pg';
import { StorageError, asStorageError } from '../errors.js';

/** Pool settings (docs/storage.md, "PostgreSQL"). */
export interface PostgresPoolOptions {
  /** Connections the pool may open; default 10. */
  readonly maxConnections?: number;
  /** Longest wait for a connection (free slot or TCP + startup); default 2000 ms. */
  readonly connectionTimeoutMs?: number;
  /** Server-side limit of one statement (`statement_timeout`); default 5000 ms. */
  readonly statementTimeoutMs?: number;
  /** An idle connection is closed after this long; default 30000 ms. */
  readonly idleTimeoutMs?: number;
  /** `application_name` shown in `pg_stat_activity`; default `tidewater`. */
  readonly applicationName?: string;
  /** Told about failures of idle connections (server restart, network cut); default: ignored. */
  readonly onIdleError?: (error: Error) => void;
}

/** Something statements can be sent to: the pool's checked-out client or a transaction's. */
export interface Queryable {
  query<R extends pg.QueryResultRow = pg.QueryResultRow>(statement: Statement, values?: readonly unknown[]): Promise<pg.QueryResult<R>>;
}

/** A statement prepared once per connection under its name (every value is a bound parameter). */
export interface Statement {
  readonly name: string;
  readonly text: string;
}

const statementNames = new Map<string, string>();

/** Declares a named statement; a name stands for exactly one text. */
export function sql(name: string, text: string): Statement {
  const known = statementNames.get(name);
  if (known !== undefined && known !== text) throw new Error(`statement name ${name} is used for two texts`);
  statementNames.set(name, text);
  return { name: `tw_${name}`, text };
}

/** SQLSTATE of a PostgreSQL error, if `error` is one. */
export function sqlState(error: unknown): string | undefined {
  return error instanceof pg.DatabaseError ? error.code : undefined;
}

/** Name of the constraint a PostgreSQL error is about, if any. */
export function constraintOf(error: unknown): string | undefined {
  return error instanceof pg.DatabaseError ? error.constraint : undefined;
}

/** Errors after which the connection is still good (a statement failed, not the link). */
export function isStatementError(error: unknown): boolean {
  const code = sqlState(error);
  if (code === undefined) return false;
  // 08: connection exception; 57P0x: the server is shutting down or restarting; 57014:
  // cancelled (statement timeout; the connection survives, but keep the rule simple).
  return !code.startsWith('08') && !code.startsWith('57') && !code.startsWith('53') && code !== 'XX000';
}

/** Deadlock or serialisation failure: the transaction may simply be run again. */
function isRetryable(error: unknown): boolean {
  const code = sqlState(error);
  return code === '40P01' || code === '40001';
}

/**
 * Maps a failure of `what` to a {@link StorageError}: constraint violations left unmapped by
 * the store, malformed values, a missing schema, and everything else (connection refused or
 * lost, timeouts, a full pool, a server shutting down) as TW_ERR_STORAGE_UNAVAILABLE.
 */
export function mapPostgresError(what: string, error: unknown): StorageError {
  if (error instanceof StorageError) return error;
  const code = sqlState(error);
  const detail = error instanceof Error ? error.message : String(error);
  if (code === '23505') return new StorageError('TW_ERR_STORAGE_EXISTS', `${what}: already exists (${detail})`, error);
  if (code === '23503') return new StorageError('TW_ERR_STORAGE_NOT_FOUND', `${what}: refers to something missing (${detail})`, error);
  // 22xxx: data exception (a NUL character, an invalid encoding, a value out of range).
  if (code?.startsWith('22') === true || code === '23514') {
    return new StorageError('TW_ERR_STORAGE_INVALID', `${what}: value refused by PostgreSQL (${detail})`, error);
  }
  if (code === '42P01' || code === '42703' || code === '42883') {
    return new StorageError('TW_ERR_STORAGE_SCHEMA', `${what}: the schema is missing or old; run \`tidewater migrate\` (${detail})`, error);
  }
  return asStorageError(`PostgreSQL ${what}`, error);
}

const NOT_STORABLE = /\0|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * Refuses text PostgreSQL cannot store exactly (TW_ERR_STORAGE_INVALID): a NUL character, or
 * a lone UTF-16 surrogate (it would be stored as U+FFFD). The other adapters keep such text.
 */
export function checkStorableText(value: string, what: string): string {
  if (NOT_STORABLE.test(value)) throw new StorageError('TW_ERR_STORAGE_INVALID', `${what} contains a NUL character or a lone surrogate`);
  return value;
}

const TYPES = new pg.TypeOverrides();
// bigint columns hold versions, SQNs (< 2^48), counts and ms timestamps: all safe integers.
TYPES.setTypeParser(pg.types.builtins.INT8, (text: string) => Number(text));

/** Builds the `pg` pool configuration from a connection URL and {@link PostgresPoolOptions}. */
export function poolConfig(url: string, options: PostgresPoolOptions = {}): pg.PoolConfig {
  const statementTimeoutMs = positive(options.statementTimeoutMs ?? 5000, 'statementTimeoutMs');
  return {
    connectionString: url,
    max: positive(options.maxConnections ?? 10, 'maxConnections'),
    connectionTimeoutMillis: positive(options.connectionTimeoutMs ?? 2000, 'connectionTimeoutMs'),
    idleTimeoutMillis: positive(options.idleTimeoutMs ?? 30_000, 'idleTimeoutMs'),
    statement_timeout: statementTimeoutMs,
    // The client-side bound catches a server that stopped answering without closing the socket.
    query_timeout: statementTimeoutMs + 1000,
    idle_in_transaction_session_timeout: Math.max(10_000, statementTimeoutMs * 2),
    application_name: options.applicationName ?? 'tidewater',
    keepAlive: true,
    types: TYPES,
  };
}

function positive(value: number, key: string): number {
  if (!Number.isSafeInteger(value) || value < 1) throw new StorageError('TW_ERR_STORAGE_INVALID', `${key} must be a positive integer, got ${value}`);
  return value;
}

/** A pool shared by the PostgreSQL stores. Its owner closes it. */
export class PostgresDatabase {
  private closed = false;

  constructor(
    /** The driver's pool (for migrations and tests). */
    readonly pool: pg.Pool,
  ) {}

  /** Opens a pool on `url` (no connection is made until the first statement). */
  static open(url: string, options: PostgresPoolOptions = {}): PostgresDatabase {
    const pool = new pg.Pool(poolConfig(url, options));
    // An idle connection that fails (server restart) is removed by the pool; without a
    // listener the 'error' event would end the process.
    pool.on('error', (error) => options.onIdleError?.(error));
    return new PostgresDatabase(pool);
  }

  get isOpen(): boolean {
    return !this.closed;
  }

  /** Runs `fn` on one pooled connection outside a transaction (each statement commits). */
  async run<T>(what: string, fn: (q: Queryable) => Promise<T>): Promise<T> {
    if (this.closed) throw new StorageError('TW_ERR_STORAGE_UNAVAILABLE', `PostgreSQL ${what} failed: the pool is closed`);
    return withClient(this.pool, what, (client) => fn(queryable(client)));
  }

  /** Runs one statement on a pooled connection. */
  async query<R extends pg.QueryResultRow>(what: string, statement: Statement, values: readonly unknown[] = []): Promise<pg.QueryResult<R>> {
    return this.run(what, (q) => q.query<R>(statement, values));
  }

  /**
   * Runs `fn` in one READ COMMITTED transaction, committed when `fn` resolves and rolled back
   * when it rejects. A deadlock or serialisation failure runs it again (up to 3 times), so
   * `fn` must not have effects outside the database.
   */
  async transaction<T>(what: string, fn: (q: Queryable) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.run(what, async (q) => {
          await q.query(BEGIN);
          try {
            const result = await fn(q);
            await q.query(COMMIT);
            return result;
          } catch (error) {
            await q.query(ROLLBACK).catch(() => undefined);
            throw error;
          }
        });
      } catch (error) {
        if (attempt >= 3 || !(error instanceof StorageError) || !isRetryable(error.cause)) throw error;
      }
    }
  }

  /** Closes every connection; idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.pool.end();
  }
}

/**
 * Runs `fn` on a connection checked out of `pool` and gives it back: kept after a statement
 * failed, dropped after the connection failed. Failures are mapped by {@link mapPostgresError}.
 */
export async function withClient<T>(pool: pg.Pool, what: string, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  let client: pg.PoolClient;
  try {
    client = await pool.connect();
  } catch (error) {
    throw mapPostgresError(what, error);
  }
  // The pool listens for errors of idle clients only; a connection lost while checked out
  // (between two statements of a transaction) would otherwise be an uncaught 'error'.
  let lost: Error | undefined;
  const onError = (error: Error): void => {
    lost ??= error;
  };
  client.on('error', onError);
  const release = (error?: Error): void => {
    client.removeListener('error', onError);
    client.release(lost ?? error);
  };
  try {
    const result = await fn(client);
    release();
    return result;
  } catch (error) {
    release(isStatementError(error) || error instanceof StorageError ? undefined : toError(error));
    throw mapPostgresError(what, error);
  }
}

const BEGIN: Statement = { name: '', text: 'BEGIN' };
const COMMIT: Statement = { name: '', text: 'COMMIT' };
const ROLLBACK: Statement = { name: '', text: 'ROLLBACK' };

function queryable(client: pg.PoolClient): Queryable {
  return {
    query: <R extends pg.QueryResultRow>(statement: Statement, values: readonly unknown[] = []) =>
      statement.name === ''
        ? client.query<R>(statement.text, values as unknown[])
        : client.query<R>({ name: statement.name, text: statement.text, values: values as unknown[] }),
  };
}

function toError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}
