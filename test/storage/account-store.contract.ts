/** The behaviour every AccountStore adapter must show: portal accounts, owned numbers, sessions. */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Account, AccountStore, OwnedNumber } from '../../src/storage/account-store.js';
import { StorageError } from '../../src/storage/errors.js';
import { T0 } from './fixtures.js';
import type { ContractOptions } from './registration-store.contract.js';

export interface AccountHarness {
  readonly store: AccountStore;
  readonly reopen?: () => Promise<AccountStore>;
  close(): Promise<void>;
}

const HASH = `scrypt$16384$8$1$${'s'.repeat(22)}$${'h'.repeat(43)}`;
const ALICE: Account = { email: 'Alice@Example.com', fullName: 'Alice A', passwordHash: HASH, createdAt: T0, isAdmin: true };
const BOB: Account = { email: 'bob@example.com', fullName: 'Bob', passwordHash: HASH, createdAt: T0, isAdmin: false };
const POOL = { start: '6505550000', end: '6505550009' };

function owned(number: string, email = 'alice@example.com'): OwnedNumber {
  return { number, impu: `sip:${number}@example.com`, privateId: `${number}@example.com`, accountEmail: email, pstn: false, createdAt: T0 };
}

async function codeOf(promise: Promise<unknown>): Promise<string | undefined> {
  const error = await promise.then(() => undefined, (e: unknown) => e);
  expect(error).toBeInstanceOf(StorageError);
  return (error as StorageError).code;
}

export function accountStoreContract(name: string, open: () => Promise<AccountHarness>, options: ContractOptions): void {
  describe(`AccountStore contract: ${name}`, () => {
    let h: AccountHarness;
    let store: AccountStore;
    beforeEach(async () => {
      h = await open();
      store = h.store;
      await store.createAccount(ALICE);
      await store.createAccount(BOB);
    });
    afterEach(async () => {
      await h.close();
    });

    it('keeps accounts under the lower-cased email and refuses a second one', async () => {
      expect(await store.getAccount('ALICE@example.COM')).toEqual({ ...ALICE, email: 'alice@example.com' });
      expect(await codeOf(store.createAccount({ ...ALICE, email: 'alice@EXAMPLE.com' }))).toBe('TW_ERR_STORAGE_EXISTS');
      expect(await store.countAccounts()).toBe(2);
      const page = await store.listAccounts({ limit: 1 });
      expect(page.items.map((a) => a.email)).toEqual(['alice@example.com']);
      expect((await store.listAccounts({ limit: 5, after: page.next! })).items.map((a) => a.email)).toEqual(['bob@example.com']);
    });

    it('grants and revokes the operator view', async () => {
      await store.setAdmin('BOB@example.com', true);
      expect((await store.getAccount('bob@example.com'))?.isAdmin).toBe(true);
      await store.setAdmin('bob@example.com', false);
      expect((await store.getAccount('bob@example.com'))?.isAdmin).toBe(false);
      expect(await codeOf(store.setAdmin('nobody@example.com', true))).toBe('TW_ERR_STORAGE_NOT_FOUND');
    });

    it('refuses anything but a scrypt hash where the password hash goes', async () => {
      expect(await codeOf(store.createAccount({ ...BOB, email: 'carol@example.com', passwordHash: 'hunter22' }))).toBe('TW_ERR_STORAGE_INVALID');
      expect(await codeOf(store.setPasswordHash('bob@example.com', 'plaintext'))).toBe('TW_ERR_STORAGE_INVALID');
      expect(await codeOf(store.createAccount({ ...BOB, email: 'not an email' }))).toBe('TW_ERR_STORAGE_INVALID');
      const other = HASH.replace('$1$', '$2$');
      await store.setPasswordHash('bob@example.com', other);
      expect((await store.getAccount('bob@example.com'))?.passwordHash).toBe(other);
      expect(await codeOf(store.setPasswordHash('nobody@example.com', HASH))).toBe('TW_ERR_STORAGE_NOT_FOUND');
    });

    it('hands out the lowest free number of a range, skipping claimed ones', async () => {
      expect(await store.firstFreeNumber(POOL)).toBe('6505550000');
      expect(await store.claimNumber(owned('6505550000'))).toBe(true);
      expect(await store.claimNumber(owned('6505550001', 'bob@example.com'))).toBe(true);
      expect(await store.claimNumber(owned('6505550003'))).toBe(true);
      expect(await store.firstFreeNumber(POOL)).toBe('6505550002');
      expect(await store.firstFreeNumber({ start: '6505550003', end: '6505550009' })).toBe('6505550004');
      expect(await store.claimNumber(owned('6505550000', 'bob@example.com'))).toBe(false);
      expect(await store.firstFreeNumber({ start: '6505550000', end: '6505550001' })).toBeUndefined();
      expect(await store.numbersOf('ALICE@example.com')).toEqual([owned('6505550000'), owned('6505550003')]);
      expect(await store.getNumber('sip:6505550001@example.com')).toEqual(owned('6505550001', 'bob@example.com'));
    });

    it('frees a released number and refuses claims for unknown accounts', async () => {
      await store.claimNumber(owned('6505550000'));
      expect(await store.releaseNumber('sip:6505550000@example.com')).toBe(true);
      expect(await store.releaseNumber('sip:6505550000@example.com')).toBe(false);
      expect(await store.firstFreeNumber(POOL)).toBe('6505550000');
      expect(await codeOf(store.claimNumber(owned('6505550000', 'nobody@example.com')))).toBe('TW_ERR_STORAGE_NOT_FOUND');
      expect(await codeOf(store.firstFreeNumber({ start: '9', end: '10' }))).toBe('TW_ERR_STORAGE_INVALID');
      expect(await codeOf(store.firstFreeNumber({ start: '20', end: '10' }))).toBe('TW_ERR_STORAGE_INVALID');
    });

    it('searches numbers by digits, taking % and _ literally', async () => {
      await store.claimNumber(owned('6505550000'));
      await store.claimNumber(owned('6505550012', 'bob@example.com'));
      expect((await store.listNumbers({ limit: 10 }, '0012')).items.map((n) => n.number)).toEqual(['6505550012']);
      expect((await store.listNumbers({ limit: 10 }, '%')).items).toEqual([]);
      expect((await store.listNumbers({ limit: 10 }, '_')).items).toEqual([]);
      const first = await store.listNumbers({ limit: 1 });
      expect(first.items).toHaveLength(1);
      expect((await store.listNumbers({ limit: 10, after: first.next! })).items).toHaveLength(1);
    });

    it('expires sessions at their expiry and deletes them with the account', async () => {
      const id = 'a'.repeat(43);
      await store.createSession({ id, email: 'Alice@example.com', expiresAt: T0 + 1000 });
      expect(await store.getSession(id, T0)).toEqual({ id, email: 'alice@example.com', expiresAt: T0 + 1000 });
      expect(await store.getSession(id, T0 + 1000)).toBeUndefined();
      expect(await codeOf(store.createSession({ id, email: 'alice@example.com', expiresAt: T0 }))).toBe('TW_ERR_STORAGE_EXISTS');
      expect(await codeOf(store.createSession({ id: 'b'.repeat(43), email: 'x@example.com', expiresAt: T0 }))).toBe('TW_ERR_STORAGE_NOT_FOUND');
      expect(await store.deleteExpiredSessions(T0 + 1000)).toBe(1);
      await store.createSession({ id, email: 'alice@example.com', expiresAt: T0 + 1000 });
      await store.claimNumber(owned('6505550000'));
      expect(await store.deleteAccount('alice@example.com')).toBe(true);
      expect(await store.getSession(id, T0)).toBeUndefined();
      expect(await store.getNumber('sip:6505550000@example.com')).toBeUndefined();
      expect(await store.deleteAccount('alice@example.com')).toBe(false);
    });

    if (!options.persistent) return;
    it('keeps everything across a reopen when persistent', async () => {
      await store.claimNumber(owned('6505550000'));
      const again = await h.reopen!();
      expect(await again.getAccount('alice@example.com')).toMatchObject({ isAdmin: true });
      expect(await again.numbersOf('alice@example.com')).toEqual([owned('6505550000')]);
    });
  });
}

