/**
 * {@link NonceCountStore} on SQLite, so a restart within a nonce's lifetime does not forget the
 * counts already used (RFC 7616 §5.5: a replayed nc must be refused). The check and the
 * advance are one conditional UPSERT, atomic per nonce even with several connections.
 */
import type Database from 'better-sqlite3';
import { DEFAULT_NONCE_TTL_MS, isValidNonceCount, type NonceCountStore, type StorageClock } from '../nonce-count-store.js';
import { guard, type SqliteDatabase } from './database.js';

/** Options of {@link SqliteNonceCountStore}. */
export interface SqliteNonceCountStoreOptions {
  /** Wall clock (ms since the Unix epoch): records must age correctly across restarts. */
  readonly clock: StorageClock;
  /** Record lifetime when the caller gives no ttl; default {@link DEFAULT_NONCE_TTL_MS}. */
  readonly defaultTtlMs?: number;
}

/** Every this many checks, up to this many expired records are deleted. */
const PURGE_EVERY = 64;
const PURGE_BATCH = 128;

export class SqliteNonceCountStore implements NonceCountStore {
  private readonly clock: StorageClock;
  private readonly defaultTtlMs: number;
  private readonly advance: Database.Statement<[string, number, number]>;
  private readonly purge: Database.Statement<[number, number]>;
  private readonly countRows: Database.Statement<[], number>;
  private readonly database: SqliteDatabase;
  private checks = 0;

  constructor(database: SqliteDatabase, options: SqliteNonceCountStoreOptions) {
    this.clock = options.clock;
    this.defaultTtlMs = options.defaultTtlMs ?? DEFAULT_NONCE_TTL_MS;
    this.database = database;
    const db = database.connection;
    // The row changes only when the new nc is higher: `changes` says whether nc was accepted.
    this.advance = db.prepare(
      `INSERT INTO nonce_counts (nonce, nc, expires_at) VALUES (?, ?, ?)
       ON CONFLICT (nonce) DO UPDATE SET nc = excluded.nc, expires_at = MAX(expires_at, excluded.expires_at)
       WHERE excluded.nc > nonce_counts.nc`,
    );
    this.purge = db.prepare(
      `DELETE FROM nonce_counts WHERE nonce IN
         (SELECT nonce FROM nonce_counts WHERE expires_at <= ? ORDER BY expires_at LIMIT ?)`,
    );
    this.countRows = db.prepare<[], number>('SELECT COUNT(*) FROM nonce_counts').pluck();
  }

  async checkAndAdvance(nonce: string, nc: number, ttlMs?: number): Promise<boolean> {
    if (!isValidNonceCount(nc) || typeof nonce !== 'string') return false;
    const now = this.clock.now();
    return this.database.writes.submit('checkAndAdvance', () => {
      const accepted = this.advance.run(nonce, nc, now + (ttlMs ?? this.defaultTtlMs)).changes === 1;
      if (++this.checks % PURGE_EVERY === 0) this.purge.run(now, PURGE_BATCH);
      return accepted;
    });
  }

  /** Number of nonces remembered, expired ones not yet purged included (for tests and metrics). */
  async size(): Promise<number> {
    return guard('size', () => this.countRows.get()!);
  }
}
