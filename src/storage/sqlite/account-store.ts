/**
 * {@link AccountStore} on SQLite (all-in-one): tables `portal_accounts`, `portal_numbers` and
 * `portal_sessions` (migration 5). Number and session rows go with their account (foreign keys
 * ON DELETE CASCADE); a claim is one INSERT guarded by the keys, so two processes claiming the
 * same number see exactly one succeed.
 */
import type Database from 'better-sqlite3';
import {
  checkAccount,
  checkContains,
  checkEmail,
  checkOwnedImpu,
  checkOwnedNumber,
  checkPasswordHash,
  checkRange,
  checkSession,
  checkSessionId,
  type Account,
  type AccountStore,
  type NumberRange,
  type OwnedNumber,
  type Session,
} from '../account-store.js';
import { pageLimit, type Page, type PageRequest } from '../common.js';
import { StorageError } from '../errors.js';
import { guard, type SqliteDatabase } from './database.js';

interface AccountRow {
  email: string;
  full_name: string;
  password_hash: string;
  created_at: number;
  is_admin: number;
}

interface NumberRow {
  impu: string;
  number: string;
  private_id: string;
  account_email: string;
  pstn: number;
  created_at: number;
}

const NUMBER_COLUMNS = 'impu, number, private_id, account_email, pstn, created_at';

function toAccount(r: AccountRow): Account {
  return { email: r.email, fullName: r.full_name, passwordHash: r.password_hash, createdAt: r.created_at, isAdmin: r.is_admin === 1 };
}

function toNumber(r: NumberRow): OwnedNumber {
  return { number: r.number, impu: r.impu, privateId: r.private_id, accountEmail: r.account_email, pstn: r.pstn === 1, createdAt: r.created_at };
}

/** `%`, `_` and `\` matched literally in a LIKE pattern (ESCAPE '\'). */
function likePattern(text: string): string {
  return `%${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

function isConstraint(error: unknown, kind: 'UNIQUE' | 'PRIMARYKEY' | 'FOREIGNKEY'): boolean {
  return (error as { code?: string }).code?.startsWith(`SQLITE_CONSTRAINT_${kind}`) === true;
}

export class SqliteAccountStore implements AccountStore {
  private readonly db: Database.Database;
  private readonly statements: Record<string, Database.Statement>;

  constructor(database: SqliteDatabase) {
    this.db = database.connection;
    const prepare = (sql: string) => this.db.prepare(sql);
    this.statements = {
      insertAccount: prepare('INSERT INTO portal_accounts (email, full_name, password_hash, created_at, is_admin) VALUES (?, ?, ?, ?, ?)'),
      selectAccount: prepare('SELECT * FROM portal_accounts WHERE email = ?'),
      updateHash: prepare('UPDATE portal_accounts SET password_hash = ? WHERE email = ?'),
      updateAdmin: prepare('UPDATE portal_accounts SET is_admin = ? WHERE email = ?'),
      deleteAccount: prepare('DELETE FROM portal_accounts WHERE email = ?'),
      countAccounts: prepare('SELECT COUNT(*) FROM portal_accounts').pluck(),
      listAccounts: prepare('SELECT * FROM portal_accounts WHERE email > ? ORDER BY email LIMIT ?'),
      firstFree: prepare(
        `SELECT CASE
           WHEN NOT EXISTS (SELECT 1 FROM portal_numbers WHERE value = $start AND length(number) = $len) THEN $start
           ELSE (SELECT MIN(a.value + 1) FROM portal_numbers a
                 WHERE a.value >= $start AND a.value < $end AND length(a.number) = $len
                   AND NOT EXISTS (SELECT 1 FROM portal_numbers b WHERE b.value = a.value + 1 AND length(b.number) = $len))
         END`,
      ).pluck(),
      insertNumber: prepare(`INSERT INTO portal_numbers (${NUMBER_COLUMNS}, value) VALUES (?, ?, ?, ?, ?, ?, ?)`),
      selectNumber: prepare(`SELECT ${NUMBER_COLUMNS} FROM portal_numbers WHERE impu = ?`),
      numbersOf: prepare(`SELECT ${NUMBER_COLUMNS} FROM portal_numbers WHERE account_email = ? ORDER BY number`),
      deleteNumber: prepare('DELETE FROM portal_numbers WHERE impu = ?'),
      listNumbers: prepare(
        `SELECT ${NUMBER_COLUMNS} FROM portal_numbers WHERE impu > ? AND (? IS NULL OR impu LIKE ? ESCAPE '\\') ORDER BY impu LIMIT ?`,
      ),
      insertSession: prepare('INSERT INTO portal_sessions (id, email, expires_at) VALUES (?, ?, ?)'),
      selectSession: prepare('SELECT id, email, expires_at AS expiresAt FROM portal_sessions WHERE id = ? AND expires_at > ?'),
      deleteSession: prepare('DELETE FROM portal_sessions WHERE id = ?'),
      deleteExpired: prepare('DELETE FROM portal_sessions WHERE expires_at <= ?'),
    };
  }

  private run<T>(what: string, fn: (s: Record<string, Database.Statement>) => T): T {
    return guard(what, () => fn(this.statements));
  }

  async createAccount(account: Account): Promise<void> {
    const a = checkAccount(account);
    try {
      this.statements.insertAccount!.run(a.email, a.fullName, a.passwordHash, a.createdAt, a.isAdmin ? 1 : 0);
    } catch (error) {
      if (isConstraint(error, 'PRIMARYKEY')) throw new StorageError('TW_ERR_STORAGE_EXISTS', `account ${a.email} exists`);
      this.run('create account', () => {
        throw error;
      });
    }
  }

  async getAccount(email: string): Promise<Account | undefined> {
    const key = checkEmail(email);
    const row = this.run('get account', (s) => s.selectAccount!.get(key) as AccountRow | undefined);
    return row && toAccount(row);
  }

  async setPasswordHash(email: string, passwordHash: string): Promise<void> {
    const key = checkEmail(email);
    const hash = checkPasswordHash(passwordHash);
    const { changes } = this.run('set password hash', (s) => s.updateHash!.run(hash, key));
    if (changes === 0) throw new StorageError('TW_ERR_STORAGE_NOT_FOUND', `no account ${key}`);
  }

  async setAdmin(email: string, isAdmin: boolean): Promise<void> {
    const key = checkEmail(email);
    const { changes } = this.run('set admin', (s) => s.updateAdmin!.run(isAdmin === true ? 1 : 0, key));
    if (changes === 0) throw new StorageError('TW_ERR_STORAGE_NOT_FOUND', `no account ${key}`);
  }

  async deleteAccount(email: string): Promise<boolean> {
    const key = checkEmail(email);
    return this.run('delete account', (s) => s.deleteAccount!.run(key).changes > 0);
  }

  async countAccounts(): Promise<number> {
    return this.run('count accounts', (s) => s.countAccounts!.get() as number);
  }

  async listAccounts(page: PageRequest): Promise<Page<Account>> {
    const limit = pageLimit(page);
    const rows = this.run('list accounts', (s) => s.listAccounts!.all(page.after ?? '', limit + 1) as AccountRow[]);
    const items = rows.slice(0, limit).map(toAccount);
    return rows.length > limit ? { items, next: items[items.length - 1]!.email } : { items };
  }

  async firstFreeNumber(range: NumberRange): Promise<string | undefined> {
    const { start, end } = checkRange(range);
    const params = { start: Number(start), end: Number(end), len: start.length };
    const value = this.run('find a free number', (s) => s.firstFree!.get(params) as number | null);
    if (value === null || value > params.end) return undefined;
    return String(value).padStart(start.length, '0');
  }

  async claimNumber(number: OwnedNumber): Promise<boolean> {
    const n = checkOwnedNumber(number);
    try {
      this.statements.insertNumber!.run(n.impu, n.number, n.privateId, n.accountEmail, n.pstn ? 1 : 0, n.createdAt, Number(n.number));
      return true;
    } catch (error) {
      if (isConstraint(error, 'PRIMARYKEY') || isConstraint(error, 'UNIQUE')) return false;
      if (isConstraint(error, 'FOREIGNKEY')) throw new StorageError('TW_ERR_STORAGE_NOT_FOUND', `no account ${n.accountEmail}`);
      return this.run('claim number', () => {
        throw error;
      });
    }
  }

  async getNumber(impu: string): Promise<OwnedNumber | undefined> {
    const key = checkOwnedImpu(impu);
    const row = this.run('get number', (s) => s.selectNumber!.get(key) as NumberRow | undefined);
    return row && toNumber(row);
  }

  async numbersOf(email: string): Promise<OwnedNumber[]> {
    const key = checkEmail(email);
    return this.run('list numbers of account', (s) => (s.numbersOf!.all(key) as NumberRow[]).map(toNumber));
  }

  async releaseNumber(impu: string): Promise<boolean> {
    const key = checkOwnedImpu(impu);
    return this.run('release number', (s) => s.deleteNumber!.run(key).changes > 0);
  }

  async listNumbers(page: PageRequest, contains?: string): Promise<Page<OwnedNumber>> {
    const limit = pageLimit(page);
    const text = checkContains(contains);
    const pattern = text === undefined ? null : likePattern(text);
    const rows = this.run('list numbers', (s) => s.listNumbers!.all(page.after ?? '', pattern, pattern, limit + 1) as NumberRow[]);
    const items = rows.slice(0, limit).map(toNumber);
    return rows.length > limit ? { items, next: items[items.length - 1]!.impu } : { items };
  }

  async createSession(session: Session): Promise<void> {
    const s = checkSession(session);
    try {
      this.statements.insertSession!.run(s.id, s.email, s.expiresAt);
    } catch (error) {
      if (isConstraint(error, 'PRIMARYKEY')) throw new StorageError('TW_ERR_STORAGE_EXISTS', 'session id in use');
      if (isConstraint(error, 'FOREIGNKEY')) throw new StorageError('TW_ERR_STORAGE_NOT_FOUND', `no account ${s.email}`);
      this.run('create session', () => {
        throw error;
      });
    }
  }

  async getSession(id: string, now: number): Promise<Session | undefined> {
    const key = checkSessionId(id);
    return this.run('get session', (s) => s.selectSession!.get(key, now) as Session | undefined);
  }

  async deleteSession(id: string): Promise<boolean> {
    const key = checkSessionId(id);
    return this.run('delete session', (s) => s.deleteSession!.run(key).changes > 0);
  }

  async deleteExpiredSessions(now: number): Promise<number> {
    return this.run('delete expired sessions', (s) => s.deleteExpired!.run(now).changes);
  }
}
