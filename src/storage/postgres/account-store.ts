/**
 * {@link AccountStore} on PostgreSQL: the portal's accounts, numbers and sessions shared by every
 * portal node. Number and session rows go with their account (ON DELETE CASCADE); a claim is one
 * INSERT guarded by the keys (`ON CONFLICT DO NOTHING`), so two portals claiming the same number
 * see exactly one succeed.
 */
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
import { checkStorableText, sql, sqlState, type PostgresDatabase } from './database.js';

interface AccountRow {
  email: string;
  full_name: string;
  password_hash: string;
  created_at: number;
  is_admin: boolean;
}

interface NumberRow {
  impu: string;
  number: string;
  private_id: string;
  account_email: string;
  pstn: boolean;
  created_at: number;
}

const ACCOUNT_COLUMNS = 'email, full_name, password_hash, created_at, is_admin';
const NUMBER_COLUMNS = 'impu, number, private_id, account_email, pstn, created_at';

const S = {
  insertAccount: sql(
    'acc_insert_account',
    'INSERT INTO portal_accounts (email, full_name, password_hash, created_at, is_admin) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING',
  ),
  selectAccount: sql('acc_select_account', `SELECT ${ACCOUNT_COLUMNS} FROM portal_accounts WHERE email = $1`),
  updateHash: sql('acc_update_hash', 'UPDATE portal_accounts SET password_hash = $2 WHERE email = $1'),
  updateAdmin: sql('acc_update_admin', 'UPDATE portal_accounts SET is_admin = $2 WHERE email = $1'),
  deleteAccount: sql('acc_delete_account', 'DELETE FROM portal_accounts WHERE email = $1'),
  countAccounts: sql('acc_count_accounts', 'SELECT COUNT(*) AS n FROM portal_accounts'),
  listAccounts: sql('acc_list_accounts', `SELECT ${ACCOUNT_COLUMNS} FROM portal_accounts WHERE email > $1 ORDER BY email LIMIT $2`),
  /** $1 start, $2 end, $3 digits: the lowest number from start no account owns, or past the end. */
  firstFree: sql(
    'acc_first_free',
    `SELECT CASE
       WHEN NOT EXISTS (SELECT 1 FROM portal_numbers WHERE value = $1::bigint AND length(number) = $3::int) THEN $1::bigint
       ELSE (SELECT MIN(a.value + 1) FROM portal_numbers a
             WHERE a.value >= $1::bigint AND a.value < $2::bigint AND length(a.number) = $3::int
               AND NOT EXISTS (SELECT 1 FROM portal_numbers b WHERE b.value = a.value + 1 AND length(b.number) = $3::int))
     END AS free`,
  ),
  insertNumber: sql(
    'acc_insert_number',
    `INSERT INTO portal_numbers (${NUMBER_COLUMNS}, value) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING`,
  ),
  selectNumber: sql('acc_select_number', `SELECT ${NUMBER_COLUMNS} FROM portal_numbers WHERE impu = $1`),
  numbersOf: sql('acc_numbers_of', `SELECT ${NUMBER_COLUMNS} FROM portal_numbers WHERE account_email = $1 ORDER BY number`),
  deleteNumber: sql('acc_delete_number', 'DELETE FROM portal_numbers WHERE impu = $1'),
  /** $3: text the digits or the IMPU must contain, taken literally; NULL for all. */
  listNumbers: sql(
    'acc_list_numbers',
    `SELECT ${NUMBER_COLUMNS} FROM portal_numbers
     WHERE impu > $1 AND ($3::text IS NULL OR strpos(number, $3::text) > 0 OR strpos(impu, $3::text) > 0)
     ORDER BY impu LIMIT $2`,
  ),
  insertSession: sql('acc_insert_session', 'INSERT INTO portal_sessions (id, email, expires_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING'),
  selectSession: sql('acc_select_session', 'SELECT id, email, expires_at FROM portal_sessions WHERE id = $1 AND expires_at > $2'),
  deleteSession: sql('acc_delete_session', 'DELETE FROM portal_sessions WHERE id = $1'),
  deleteExpired: sql('acc_delete_expired', 'DELETE FROM portal_sessions WHERE expires_at <= $1'),
};

function toAccount(r: AccountRow): Account {
  return { email: r.email, fullName: r.full_name, passwordHash: r.password_hash, createdAt: r.created_at, isAdmin: r.is_admin };
}

function toNumber(r: NumberRow): OwnedNumber {
  return { number: r.number, impu: r.impu, privateId: r.private_id, accountEmail: r.account_email, pstn: r.pstn, createdAt: r.created_at };
}

function missingAccount(email: string): StorageError {
  return new StorageError('TW_ERR_STORAGE_NOT_FOUND', `no account ${email}`);
}

/** Rejects with TW_ERR_STORAGE_NOT_FOUND for `email` when `run` violates the account foreign key. */
async function needsAccount<T>(run: Promise<T>, email: string): Promise<T> {
  try {
    return await run;
  } catch (error) {
    if (sqlState(error) === '23503') throw missingAccount(email);
    throw error;
  }
}

function checkTime(value: unknown): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) throw new StorageError('TW_ERR_STORAGE_INVALID', 'now must be an integer (ms)');
  return value;
}

export class PostgresAccountStore implements AccountStore {
  constructor(private readonly db: PostgresDatabase) {}

  async createAccount(account: Account): Promise<void> {
    const a = checkAccount(account);
    checkStorableText(a.fullName, 'fullName');
    const values = [a.email, a.fullName, a.passwordHash, a.createdAt, a.isAdmin];
    if ((await this.db.query('create account', S.insertAccount, values)).rowCount === 0) {
      throw new StorageError('TW_ERR_STORAGE_EXISTS', `account ${a.email} exists`);
    }
  }

  async getAccount(email: string): Promise<Account | undefined> {
    const { rows } = await this.db.query<AccountRow>('get account', S.selectAccount, [checkEmail(email)]);
    return rows[0] && toAccount(rows[0]);
  }

  async setPasswordHash(email: string, passwordHash: string): Promise<void> {
    const key = checkEmail(email);
    const hash = checkPasswordHash(passwordHash);
    if ((await this.db.query('set password hash', S.updateHash, [key, hash])).rowCount === 0) throw missingAccount(key);
  }

  async setAdmin(email: string, isAdmin: boolean): Promise<void> {
    const key = checkEmail(email);
    if ((await this.db.query('set admin', S.updateAdmin, [key, isAdmin === true])).rowCount === 0) throw missingAccount(key);
  }

  async deleteAccount(email: string): Promise<boolean> {
    return ((await this.db.query('delete account', S.deleteAccount, [checkEmail(email)])).rowCount ?? 0) > 0;
  }

  async countAccounts(): Promise<number> {
    return (await this.db.query<{ n: number }>('count accounts', S.countAccounts)).rows[0]?.n ?? 0;
  }

  async listAccounts(page: PageRequest): Promise<Page<Account>> {
    const limit = pageLimit(page);
    const { rows } = await this.db.query<AccountRow>('list accounts', S.listAccounts, [page.after ?? '', limit + 1]);
    const items = rows.slice(0, limit).map(toAccount);
    return rows.length > limit ? { items, next: items[items.length - 1]!.email } : { items };
  }

  async firstFreeNumber(range: NumberRange): Promise<string | undefined> {
    const { start, end } = checkRange(range);
    const { rows } = await this.db.query<{ free: number | null }>('find a free number', S.firstFree, [start, end, start.length]);
    const free = rows[0]?.free ?? null;
    if (free === null || free > Number(end)) return undefined;
    return String(free).padStart(start.length, '0');
  }

  async claimNumber(number: OwnedNumber): Promise<boolean> {
    const n = checkOwnedNumber(number);
    checkStorableText(n.privateId, 'privateId');
    const values = [n.impu, n.number, n.privateId, n.accountEmail, n.pstn, n.createdAt, n.number];
    const result = await this.db.run('claim number', (q) => needsAccount(q.query(S.insertNumber, values), n.accountEmail));
    return result.rowCount === 1;
  }

  async getNumber(impu: string): Promise<OwnedNumber | undefined> {
    const { rows } = await this.db.query<NumberRow>('get number', S.selectNumber, [checkOwnedImpu(impu)]);
    return rows[0] && toNumber(rows[0]);
  }

  async numbersOf(email: string): Promise<OwnedNumber[]> {
    const { rows } = await this.db.query<NumberRow>('list numbers of account', S.numbersOf, [checkEmail(email)]);
    return rows.map(toNumber);
  }

  async releaseNumber(impu: string): Promise<boolean> {
    return ((await this.db.query('release number', S.deleteNumber, [checkOwnedImpu(impu)])).rowCount ?? 0) > 0;
  }

  async listNumbers(page: PageRequest, contains?: string): Promise<Page<OwnedNumber>> {
    const limit = pageLimit(page);
    const text = checkContains(contains);
    const { rows } = await this.db.query<NumberRow>('list numbers', S.listNumbers, [page.after ?? '', limit + 1, text ?? null]);
    const items = rows.slice(0, limit).map(toNumber);
    return rows.length > limit ? { items, next: items[items.length - 1]!.impu } : { items };
  }

  async createSession(session: Session): Promise<void> {
    const s = checkSession(session);
    const result = await this.db.run('create session', (q) => needsAccount(q.query(S.insertSession, [s.id, s.email, s.expiresAt]), s.email));
    if (result.rowCount === 0) throw new StorageError('TW_ERR_STORAGE_EXISTS', 'session id in use');
  }

  async getSession(id: string, now: number): Promise<Session | undefined> {
    const key = checkSessionId(id);
    const { rows } = await this.db.query<{ id: string; email: string; expires_at: number }>('get session', S.selectSession, [key, checkTime(now)]);
    const row = rows[0];
    return row && { id: row.id, email: row.email, expiresAt: row.expires_at };
  }

  async deleteSession(id: string): Promise<boolean> {
    return ((await this.db.query('delete session', S.deleteSession, [checkSessionId(id)])).rowCount ?? 0) > 0;
  }

  async deleteExpiredSessions(now: number): Promise<number> {
    return (await this.db.query('delete expired sessions', S.deleteExpired, [checkTime(now)])).rowCount ?? 0;
  }
}
