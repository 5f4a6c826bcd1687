/**
 * The self-service portal's own data (Clearwater's Ellis kept the same in MySQL): user
 * accounts with a password hash, the numbers each account owns, and login sessions.
 *
 * Passwords never reach the store: an account holds a scrypt hash in the self-describing form
 * `scrypt$N$r$p$salt$hash` (salt and hash base64url), and anything else is refused, as the
 * subscriber store refuses what is not an HA1. Emails are keys, compared lower-cased.
 *
 * Numbers come from pools: the portal asks {@link AccountStore.firstFreeNumber} for the lowest
 * number of a range no account owns, then {@link AccountStore.claimNumber} takes it atomically;
 * two portals racing for one number see one claim fail and ask again.
 *
 * Sessions are keyed by an opaque id (the portal passes a hash of the cookie's token, so the
 * stored ids cannot be replayed as cookies). The store never reads a clock: callers pass `now`.
 */
import { invalid } from './errors.js';
import type { Page, PageRequest } from './common.js';

/** A portal account. */
export interface Account {
  /** Lower-cased; the key. */
  readonly email: string;
  readonly fullName: string;
  /** `scrypt$N$r$p$salt$hash`, never a password. */
  readonly passwordHash: string;
  /** ms since the Unix epoch. */
  readonly createdAt: number;
  /** May see and act on every account (operator view). */
  readonly isAdmin: boolean;
}

/** A number owned by an account: one IMPU (and its IMPI) provisioned through the portal. */
export interface OwnedNumber {
  /** The digits, e.g. `6505550000`. */
  readonly number: string;
  /** `sip:<number>@<domain>`; the key. */
  readonly impu: string;
  /** The IMPI that registers it, `<number>@<domain>` (or a shared one). */
  readonly privateId: string;
  /** Lower-cased email of the owner. */
  readonly accountEmail: string;
  /** Taken from the PSTN range. */
  readonly pstn: boolean;
  readonly createdAt: number;
}

/** A range of numbers, both ends included: digit strings of the same length, at most 15 digits. */
export interface NumberRange {
  readonly start: string;
  readonly end: string;
}

/** A login session. */
export interface Session {
  /** Opaque key (the portal stores a hash of the cookie value). */
  readonly id: string;
  readonly email: string;
  /** ms since the Unix epoch; the session is gone once `now >= expiresAt`. */
  readonly expiresAt: number;
}

/** The portal's accounts, numbers and sessions. Every method rejects (never throws) with a StorageError. */
export interface AccountStore {
  /** TW_ERR_STORAGE_EXISTS when the email is taken. */
  createAccount(account: Account): Promise<void>;
  getAccount(email: string): Promise<Account | undefined>;
  /** Replaces the password hash; TW_ERR_STORAGE_NOT_FOUND for an unknown account. */
  setPasswordHash(email: string, passwordHash: string): Promise<void>;
  /** Grants or revokes the operator view; TW_ERR_STORAGE_NOT_FOUND for an unknown account. */
  setAdmin(email: string, isAdmin: boolean): Promise<void>;
  /** Deletes the account with its number records and sessions; false when absent. */
  deleteAccount(email: string): Promise<boolean>;
  countAccounts(): Promise<number>;
  /** Accounts in email order. */
  listAccounts(page: PageRequest): Promise<Page<Account>>;

  /** The lowest number of `range`, from `start`, that no account owns; undefined when all are. */
  firstFreeNumber(range: NumberRange): Promise<string | undefined>;
  /**
   * Records the number as owned, atomically: false (nothing written) when the number or IMPU is
   * owned already. TW_ERR_STORAGE_NOT_FOUND when the account does not exist.
   */
  claimNumber(number: OwnedNumber): Promise<boolean>;
  getNumber(impu: string): Promise<OwnedNumber | undefined>;
  /** The account's numbers in number order. */
  numbersOf(email: string): Promise<OwnedNumber[]>;
  /** Forgets the number (it becomes free); false when it was not owned. */
  releaseNumber(impu: string): Promise<boolean>;
  /** Owned numbers in IMPU order; `contains` keeps those whose digits or IMPU contain the text. */
  listNumbers(page: PageRequest, contains?: string): Promise<Page<OwnedNumber>>;

  /** TW_ERR_STORAGE_EXISTS for a used id; TW_ERR_STORAGE_NOT_FOUND for an unknown account. */
  createSession(session: Session): Promise<void>;
  /** The session unless it expired by `now`. */
  getSession(id: string, now: number): Promise<Session | undefined>;
  deleteSession(id: string): Promise<boolean>;
  /** Removes sessions expired by `now`; resolves how many. */
  deleteExpiredSessions(now: number): Promise<number>;
}

/** `scrypt$N$r$p$salt$hash`: cost parameters in decimal, salt and hash base64url. */
export const PASSWORD_HASH_FORMAT = /^scrypt\$\d{1,10}\$\d{1,4}\$\d{1,4}\$[A-Za-z0-9_-]{16,}\$[A-Za-z0-9_-]{32,}$/;
const EMAIL = /^[^\s@<>"]{1,64}@[^\s@<>"]{1,255}$/;
const DIGITS = /^[0-9]{1,15}$/;
const CONTROL = /[\x00-\x1f\x7f]/;

/** Validates an email and returns it lower-cased. */
export function checkEmail(email: unknown): string {
  if (typeof email !== 'string' || !EMAIL.test(email)) throw invalid('email must be an address such as alice@example.com');
  return email.toLowerCase();
}

function checkText(value: unknown, what: string, max: number): string {
  if (typeof value !== 'string' || value.length > max || CONTROL.test(value)) {
    throw invalid(`${what} must be a string of at most ${max} characters without control characters`);
  }
  return value;
}

function checkTime(value: unknown, what: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) throw invalid(`${what} must be a non-negative integer (ms)`);
  return value;
}

/** Validates a password hash: the scrypt form only, so a password can never be stored. */
export function checkPasswordHash(hash: unknown): string {
  if (typeof hash !== 'string' || !PASSWORD_HASH_FORMAT.test(hash)) {
    throw invalid('passwordHash must be scrypt$N$r$p$salt$hash; refusing anything else (never a password)');
  }
  return hash;
}

/** Validates and copies an account (email lower-cased). */
export function checkAccount(a: Account): Account {
  if (typeof a !== 'object' || a === null) throw invalid('an account must be an object');
  return {
    email: checkEmail(a.email),
    fullName: checkText(a.fullName, 'fullName', 200),
    passwordHash: checkPasswordHash(a.passwordHash),
    createdAt: checkTime(a.createdAt, 'createdAt'),
    isAdmin: a.isAdmin === true,
  };
}

/** Validates a number's digits. */
export function checkNumber(number: unknown): string {
  if (typeof number !== 'string' || !DIGITS.test(number)) throw invalid('a number is 1 to 15 digits');
  return number;
}

/** Validates a range: two digit strings of one length, start <= end. */
export function checkRange(range: NumberRange): NumberRange {
  if (typeof range !== 'object' || range === null) throw invalid('a number range is {start, end}');
  const start = checkNumber(range.start);
  const end = checkNumber(range.end);
  if (start.length !== end.length) throw invalid(`range ends must have the same number of digits: ${start}-${end}`);
  if (BigInt(start) > BigInt(end)) throw invalid(`range start ${start} is after its end ${end}`);
  return { start, end };
}

/** Validates an IMPU key (a sip:, sips: or tel: URI). */
export function checkOwnedImpu(impu: unknown): string {
  if (typeof impu !== 'string' || !/^(?:sips?|tel):[^\s]+$/i.test(impu) || impu.length > 1024) {
    throw invalid('impu must be a sip:, sips: or tel: URI');
  }
  return impu;
}

/** Validates and copies an owned number. */
export function checkOwnedNumber(n: OwnedNumber): OwnedNumber {
  if (typeof n !== 'object' || n === null) throw invalid('a number record must be an object');
  const privateId = checkText(n.privateId, 'privateId', 1024);
  if (privateId.length === 0 || /\s/.test(privateId)) throw invalid('privateId must be a non-empty token');
  return {
    number: checkNumber(n.number),
    impu: checkOwnedImpu(n.impu),
    privateId,
    accountEmail: checkEmail(n.accountEmail),
    pstn: n.pstn === true,
    createdAt: checkTime(n.createdAt, 'createdAt'),
  };
}

/** Validates a session id. */
export function checkSessionId(id: unknown): string {
  if (typeof id !== 'string' || id.length < 16 || id.length > 256 || /[\s\x00-\x1f]/.test(id)) {
    throw invalid('a session id is 16 to 256 characters without spaces');
  }
  return id;
}

/** Validates and copies a session. */
export function checkSession(s: Session): Session {
  if (typeof s !== 'object' || s === null) throw invalid('a session must be an object');
  return { id: checkSessionId(s.id), email: checkEmail(s.email), expiresAt: checkTime(s.expiresAt, 'expiresAt') };
}

/** Validates the `contains` filter of a number search. */
export function checkContains(text: unknown): string | undefined {
  if (text === undefined || text === '') return undefined;
  return checkText(text, 'search text', 64);
}
