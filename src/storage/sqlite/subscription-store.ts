/**
 * {@link SubscriptionStore} on SQLite (the all-in-one): one row per subscription, indexed by
 * watched AoR and by expiry, so subscriptions survive a restart of the process. A write reads
 * the version, compares, bumps the version counter and writes the row, inside the database's
 * group commit (group-commit.ts): atomic, and settled only once committed.
 *
 * The claims of `claimExpired` are kept in memory by the store (LocalLeases), not in the file:
 * the database is one process's data folder, swept by that process only.
 */
import type Database from 'better-sqlite3';
import { checkExpectedVersion, resultLimit, type CasResult } from '../common.js';
import { checkAor, checkNow, leaseEnd } from '../registration-records.js';
import { checkKey, checkSubscriptionData, copySubscriptionData, decodeKey, encodeKey } from '../subscription-records.js';
import type { SubscriptionData, SubscriptionKey, SubscriptionRecord, SubscriptionStore } from '../subscription-store.js';
import { LocalLeases } from '../memory/leases.js';
import { guard, type SqliteDatabase } from './database.js';
import type { GroupCommit } from './group-commit.js';

interface Row {
  key: string;
  version: number;
  dialog: string;
}

function toRecord(row: Row): SubscriptionRecord {
  const data = copySubscriptionData(JSON.parse(row.dialog) as SubscriptionData);
  return { key: decodeKey(row.key), version: row.version, ...data };
}

export class SqliteSubscriptionStore implements SubscriptionStore {
  private readonly selectOne: Database.Statement<[string], Row>;
  private readonly selectCurrent: Database.Statement<[string], { version: number; aor: string }>;
  private readonly nextVersion: Database.Statement<[], number>;
  private readonly upsert: Database.Statement<[string, string, number, number, string]>;
  private readonly deleteRow: Database.Statement<[string]>;
  private readonly selectByAor: Database.Statement<[string], Row>;
  private readonly selectExpired: Database.Statement<[number, number], Row>;
  private readonly selectNextExpiry: Database.Statement<[], number | null>;
  private readonly selectCount: Database.Statement<[], number>;
  private readonly writes: GroupCommit;
  /** The claims of `claimExpired`, by encoded key. */
  private readonly leases = new LocalLeases();

  constructor(database: SqliteDatabase) {
    const db = database.connection;
    this.selectOne = db.prepare('SELECT key, version, dialog FROM reg_event_subscriptions WHERE key = ?');
    this.selectCurrent = db.prepare('SELECT version, aor FROM reg_event_subscriptions WHERE key = ?');
    this.nextVersion = db
      .prepare<[], number>("UPDATE counters SET value = value + 1 WHERE name = 'subscription_version' RETURNING value")
      .pluck();
    this.upsert = db.prepare(
      `INSERT INTO reg_event_subscriptions (key, aor, version, expires_at, dialog) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (key) DO UPDATE SET version = excluded.version, expires_at = excluded.expires_at, dialog = excluded.dialog`,
    );
    this.deleteRow = db.prepare('DELETE FROM reg_event_subscriptions WHERE key = ?');
    this.selectByAor = db.prepare('SELECT key, version, dialog FROM reg_event_subscriptions WHERE aor = ?');
    this.selectExpired = db.prepare(
      'SELECT key, version, dialog FROM reg_event_subscriptions WHERE expires_at <= ? ORDER BY expires_at LIMIT ?',
    );
    this.selectNextExpiry = db.prepare<[], number | null>('SELECT MIN(expires_at) FROM reg_event_subscriptions').pluck();
    this.selectCount = db.prepare<[], number>('SELECT COUNT(*) FROM reg_event_subscriptions').pluck();
    this.writes = database.writes;
  }

  async get(key: SubscriptionKey): Promise<SubscriptionRecord | undefined> {
    const id = encodeKey(checkKey(key));
    return guard('get', () => {
      const row = this.selectOne.get(id);
      return row && toRecord(row);
    });
  }

  async put(key: SubscriptionKey, data: SubscriptionData, expectedVersion: number): Promise<CasResult> {
    const id = encodeKey(checkKey(key));
    checkExpectedVersion(expectedVersion);
    const checked = checkSubscriptionData(data);
    const dialog = JSON.stringify(checked);
    return this.writes.submit('put', (): CasResult => {
      const current = this.selectCurrent.get(id);
      const currentVersion = current?.version ?? 0;
      if (currentVersion !== expectedVersion || (current && current.aor !== checked.aor)) return { ok: false, currentVersion };
      const version = this.nextVersion.get()!;
      this.upsert.run(id, checked.aor, version, checked.expiresAt, dialog);
      return { ok: true, version };
    });
  }

  async delete(key: SubscriptionKey, expectedVersion: number): Promise<CasResult> {
    const id = encodeKey(checkKey(key));
    checkExpectedVersion(expectedVersion);
    return this.writes.submit('delete', (): CasResult => {
      const currentVersion = this.selectCurrent.get(id)?.version ?? 0;
      if (currentVersion !== expectedVersion) return { ok: false, currentVersion };
      if (currentVersion !== 0) this.deleteRow.run(id);
      return { ok: true, version: 0 };
    });
  }

  async byAor(aor: string): Promise<SubscriptionRecord[]> {
    checkAor(aor);
    return guard('byAor', () => this.selectByAor.all(aor).map(toRecord));
  }

  async expiredBefore(now: number, limit: number): Promise<SubscriptionRecord[]> {
    checkNow(now);
    resultLimit(limit);
    return guard('expiredBefore', () => this.selectExpired.all(now, limit).map(toRecord));
  }

  async claimExpired(now: number, leaseMs: number, limit: number): Promise<SubscriptionRecord[]> {
    const until = leaseEnd(checkNow(now), leaseMs);
    resultLimit(limit);
    return guard('claimExpired', () =>
      this.leases.claimDue((count) => this.selectExpired.all(now, count), limit, now, until, (row) => row.key, (row) => row.version).map(toRecord),
    );
  }

  async nextExpiryAt(): Promise<number | undefined> {
    return guard('nextExpiryAt', () => this.selectNextExpiry.get() ?? undefined);
  }

  async count(): Promise<number> {
    return guard('count', () => this.selectCount.get()!);
  }
}
