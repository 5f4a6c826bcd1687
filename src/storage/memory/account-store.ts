/** In-process {@link AccountStore}: maps keyed by email, IMPU and session id. */
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

function missingAccount(email: string): StorageError {
  return new StorageError('TW_ERR_STORAGE_NOT_FOUND', `no account ${email}`);
}

function pageOf<T>(sorted: T[], keyOf: (item: T) => string, page: PageRequest): Page<T> {
  const limit = pageLimit(page);
  const from = page.after === undefined ? sorted : sorted.filter((item) => keyOf(item) > page.after!);
  const items = from.slice(0, limit);
  return from.length > limit ? { items, next: keyOf(items[items.length - 1]!) } : { items };
}

export class MemoryAccountStore implements AccountStore {
  private readonly accounts = new Map<string, Account>();
  private readonly numbers = new Map<string, OwnedNumber>();
  private readonly byDigits = new Map<string, string>();
  private readonly sessions = new Map<string, Session>();

  async createAccount(account: Account): Promise<void> {
    const a = checkAccount(account);
    if (this.accounts.has(a.email)) throw new StorageError('TW_ERR_STORAGE_EXISTS', `account ${a.email} exists`);
    this.accounts.set(a.email, a);
  }

  async getAccount(email: string): Promise<Account | undefined> {
    const a = this.accounts.get(checkEmail(email));
    return a && { ...a };
  }

  async setPasswordHash(email: string, passwordHash: string): Promise<void> {
    const key = checkEmail(email);
    const hash = checkPasswordHash(passwordHash);
    const a = this.accounts.get(key);
    if (!a) throw missingAccount(key);
    this.accounts.set(key, { ...a, passwordHash: hash });
  }

  async setAdmin(email: string, isAdmin: boolean): Promise<void> {
    const key = checkEmail(email);
    const a = this.accounts.get(key);
    if (!a) throw missingAccount(key);
    this.accounts.set(key, { ...a, isAdmin: isAdmin === true });
  }

  async deleteAccount(email: string): Promise<boolean> {
    const key = checkEmail(email);
    if (!this.accounts.delete(key)) return false;
    for (const n of [...this.numbers.values()]) if (n.accountEmail === key) this.forget(n);
    for (const s of [...this.sessions.values()]) if (s.email === key) this.sessions.delete(s.id);
    return true;
  }

  async countAccounts(): Promise<number> {
    return this.accounts.size;
  }

  async listAccounts(page: PageRequest): Promise<Page<Account>> {
    const sorted = [...this.accounts.values()].sort((a, b) => (a.email < b.email ? -1 : 1));
    return pageOf(
      sorted.map((a) => ({ ...a })),
      (a) => a.email,
      page,
    );
  }

  async firstFreeNumber(range: NumberRange): Promise<string | undefined> {
    const { start, end } = checkRange(range);
    for (let n = BigInt(start); n <= BigInt(end); n++) {
      const digits = n.toString().padStart(start.length, '0');
      if (!this.byDigits.has(digits)) return digits;
    }
    return undefined;
  }

  async claimNumber(number: OwnedNumber): Promise<boolean> {
    const n = checkOwnedNumber(number);
    if (!this.accounts.has(n.accountEmail)) throw missingAccount(n.accountEmail);
    if (this.numbers.has(n.impu) || this.byDigits.has(n.number)) return false;
    this.numbers.set(n.impu, n);
    this.byDigits.set(n.number, n.impu);
    return true;
  }

  async getNumber(impu: string): Promise<OwnedNumber | undefined> {
    const n = this.numbers.get(checkOwnedImpu(impu));
    return n && { ...n };
  }

  async numbersOf(email: string): Promise<OwnedNumber[]> {
    const key = checkEmail(email);
    return [...this.numbers.values()]
      .filter((n) => n.accountEmail === key)
      .sort((a, b) => (a.number < b.number ? -1 : a.number > b.number ? 1 : 0))
      .map((n) => ({ ...n }));
  }

  async releaseNumber(impu: string): Promise<boolean> {
    const n = this.numbers.get(checkOwnedImpu(impu));
    if (!n) return false;
    this.forget(n);
    return true;
  }

  async listNumbers(page: PageRequest, contains?: string): Promise<Page<OwnedNumber>> {
    const text = checkContains(contains);
    const sorted = [...this.numbers.values()]
      .filter((n) => text === undefined || n.number.includes(text) || n.impu.includes(text))
      .sort((a, b) => (a.impu < b.impu ? -1 : 1))
      .map((n) => ({ ...n }));
    return pageOf(sorted, (n) => n.impu, page);
  }

  async createSession(session: Session): Promise<void> {
    const s = checkSession(session);
    if (!this.accounts.has(s.email)) throw missingAccount(s.email);
    if (this.sessions.has(s.id)) throw new StorageError('TW_ERR_STORAGE_EXISTS', 'session id in use');
    this.sessions.set(s.id, s);
  }

  async getSession(id: string, now: number): Promise<Session | undefined> {
    const s = this.sessions.get(checkSessionId(id));
    return s && now < s.expiresAt ? { ...s } : undefined;
  }

  async deleteSession(id: string): Promise<boolean> {
    return this.sessions.delete(checkSessionId(id));
  }

  async deleteExpiredSessions(now: number): Promise<number> {
    let removed = 0;
    for (const s of [...this.sessions.values()]) {
      if (now >= s.expiresAt && this.sessions.delete(s.id)) removed++;
    }
    return removed;
  }

  private forget(n: OwnedNumber): void {
    this.numbers.delete(n.impu);
    this.byDigits.delete(n.number);
  }
}
