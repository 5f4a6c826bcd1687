/**
 * The behaviour every SubscriberStore adapter must show (HSS data, 3GPP TS 29.228 / TS 23.228).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { computeHa1 } from '../../src/sip/auth/digest.js';
import { StorageError } from '../../src/storage/errors.js';
import type { NewSubscriber, SubscriberStore } from '../../src/storage/subscriber-store.js';
import type { ContractOptions } from './registration-store.contract.js';

export interface SubscriberHarness {
  readonly store: SubscriberStore;
  readonly reopen?: () => Promise<SubscriberStore>;
  close(): Promise<void>;
}

const REALM = 'example.com';
const IMPI = '6505550001@example.com';
const SIP = 'sip:6505550001@example.com';
const TEL = 'tel:+16505550001';
const PASSWORD = 'plaintext-Secret-93';

/** HA1s as the CLI computes them from a password (the password goes no further). */
export function ha1s(impi: string, password: string) {
  return [
    { realm: REALM, algorithm: 'SHA-256' as const, ha1: computeHa1('SHA-256', impi, REALM, password) },
    { realm: REALM, algorithm: 'MD5' as const, ha1: computeHa1('MD5', impi, REALM, password) },
  ];
}

export function subscriber(n = 1, extra: Partial<NewSubscriber> = {}): NewSubscriber {
  const number = `650555000${n}`;
  return {
    privateIdentity: { impi: `${number}@example.com`, digest: ha1s(`${number}@example.com`, PASSWORD) },
    implicitSet: { id: `irs-${number}`, serviceProfile: `<ServiceProfile><n>${n}</n></ServiceProfile>` },
    publicIdentities: [{ impu: `sip:${number}@example.com` }, { impu: `tel:+1${number}` }],
    ...extra,
  };
}

const AKA = {
  k: Buffer.from('465b5ce8b199b49faa5f0a2ee238a6bc', 'hex'),
  opc: Buffer.from('cd63cb71954a9f4e48a5994e37a02baf', 'hex'),
  amf: Buffer.from('b9b9', 'hex'),
  sqn: 0xff9bb4d0b607,
};

async function expectCode(promise: Promise<unknown>, code: string): Promise<void> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(StorageError);
  expect((error as StorageError).code).toBe(code);
}

export function subscriberStoreContract(name: string, open: () => Promise<SubscriberHarness>, options: ContractOptions): void {
  describe(`SubscriberStore contract: ${name}`, () => {
    let h: SubscriberHarness;
    let store: SubscriberStore;
    beforeEach(async () => {
      h = await open();
      store = h.store;
    });
    afterEach(async () => {
      await h.close();
    });

    it('provisions a subscriber: identities, implicit set, associations, NOT_REGISTERED', async () => {
      await store.addSubscriber(subscriber());
      expect(await store.getPrivateIdentity(IMPI)).toEqual({ impi: IMPI, digest: [...ha1s(IMPI, PASSWORD)].reverse() });
      expect(await store.publicIdentitiesOf(IMPI)).toEqual([SIP, TEL]);
      expect(await store.privateIdentitiesOf(TEL)).toEqual([IMPI]);
      const set = await store.implicitSetOf(TEL);
      expect(set).toEqual({
        id: 'irs-6505550001',
        serviceProfile: '<ServiceProfile><n>1</n></ServiceProfile>',
        members: [
          { impu: SIP, implicitSetId: 'irs-6505550001', barred: false },
          { impu: TEL, implicitSetId: 'irs-6505550001', barred: false },
        ],
      });
      expect(await store.getRegistrationState(SIP)).toMatchObject({ state: 'NOT_REGISTERED', implicitSetId: 'irs-6505550001' });
    });

    it('provisions all or nothing: a clash on one public identity creates nothing', async () => {
      await store.addSubscriber(subscriber(1));
      const clash = subscriber(2, { publicIdentities: [{ impu: 'sip:6505550002@example.com' }, { impu: TEL }] });
      await expectCode(store.addSubscriber(clash), 'TW_ERR_STORAGE_EXISTS');
      expect(await store.getPrivateIdentity('6505550002@example.com')).toBeUndefined();
      expect(await store.getImplicitSet('irs-6505550002')).toBeUndefined();
      expect(await store.getPublicIdentity('sip:6505550002@example.com')).toBeUndefined();
      expect(await store.privateIdentitiesOf(TEL)).toEqual([IMPI]);
    });

    it('stores HA1s only and refuses a password where an HA1 belongs', async () => {
      const wrong = { impi: IMPI, digest: [{ realm: REALM, algorithm: 'MD5' as const, ha1: PASSWORD }] };
      await expectCode(store.createPrivateIdentity(wrong), 'TW_ERR_STORAGE_INVALID');
      const sha256 = ha1s(IMPI, PASSWORD)[0]!;
      const asMd5 = { impi: IMPI, digest: [{ ...sha256, algorithm: 'MD5' as const }] };
      await expectCode(store.createPrivateIdentity(asMd5), 'TW_ERR_STORAGE_INVALID');
      const twice = { impi: IMPI, digest: [sha256, { ...sha256, ha1: sha256.ha1.toUpperCase() }] };
      await expectCode(store.createPrivateIdentity(twice), 'TW_ERR_STORAGE_INVALID');
      await store.createPrivateIdentity({ impi: IMPI, digest: [{ ...sha256, ha1: sha256.ha1.toUpperCase() }] });
      const stored = await store.getPrivateIdentity(IMPI);
      expect(stored?.digest).toEqual([sha256]);
      expect(JSON.stringify(stored)).not.toContain(PASSWORD);
    });

    it('answers an auth vector lookup, or says why not (MAR: user unknown, identities do not match)', async () => {
      await store.addSubscriber({ ...subscriber(1), privateIdentity: { ...subscriber(1).privateIdentity, aka: AKA } });
      await store.addSubscriber(subscriber(2));
      expect(await store.authVector(IMPI, TEL)).toEqual({ ok: true, impi: IMPI, digest: [...ha1s(IMPI, PASSWORD)].reverse(), aka: AKA });
      expect(await store.authVector('nobody@example.com', TEL)).toEqual({ ok: false, reason: 'unknown-private-identity' });
      expect(await store.authVector(IMPI, 'sip:nobody@example.com')).toEqual({ ok: false, reason: 'unknown-public-identity' });
      expect(await store.authVector(IMPI, 'sip:6505550002@example.com')).toEqual({ ok: false, reason: 'identities-dont-match' });
    });

    it('shares a public identity between private identities (many-to-many)', async () => {
      await store.addSubscriber(subscriber(1));
      await store.createPrivateIdentity({ impi: 'softphone@example.com', digest: ha1s('softphone@example.com', 'pw2') });
      await store.associate('softphone@example.com', SIP);
      await store.associate('softphone@example.com', SIP);
      expect(await store.privateIdentitiesOf(SIP)).toEqual([IMPI, 'softphone@example.com']);
      expect((await store.authVector('softphone@example.com', SIP)).ok).toBe(true);
      expect((await store.authVector('softphone@example.com', TEL)).ok).toBe(false);
      expect(await store.dissociate('softphone@example.com', SIP)).toBe(true);
      expect(await store.dissociate('softphone@example.com', SIP)).toBe(false);
      await expectCode(store.associate('ghost@example.com', SIP), 'TW_ERR_STORAGE_NOT_FOUND');
      await expectCode(store.associate(IMPI, 'sip:ghost@example.com'), 'TW_ERR_STORAGE_NOT_FOUND');
    });

    it('registers an implicit set as one: every member shows the state set through any of them', async () => {
      await store.addSubscriber(subscriber(1));
      await store.addSubscriber(subscriber(2));
      const before = (await store.getRegistrationState(TEL))!;
      const result = await store.setRegistrationState(TEL, { state: 'REGISTERED', scscf: 'sip:scscf.example.com:5054' }, before.version);
      expect(result.ok).toBe(true);
      const after = await store.getRegistrationState(SIP);
      expect(after).toEqual({ state: 'REGISTERED', scscf: 'sip:scscf.example.com:5054', implicitSetId: 'irs-6505550001', version: result.ok && result.version });
      expect(await store.getRegistrationState('sip:6505550002@example.com')).toMatchObject({ state: 'NOT_REGISTERED' });
    });

    it('answers a UAR and a SAR in one read each, as the separate lookups would', async () => {
      await store.addSubscriber(subscriber(1));
      await store.addSubscriber(subscriber(2));
      await store.createPrivateIdentity({ impi: 'other@example.com', digest: [] });
      expect(await store.registrationCheck(IMPI, 'sip:ghost@example.com')).toBeUndefined();
      expect(await store.implicitSetStateOf('sip:ghost@example.com')).toBeUndefined();

      const fresh = (await store.registrationCheck(IMPI, TEL))!;
      expect(fresh).toEqual({
        registration: await store.getRegistrationState(TEL),
        barred: false,
        setHasUnbarred: true,
        linked: true,
        privateIdentityKnown: true,
      });
      expect(await store.registrationCheck('other@example.com', SIP)).toMatchObject({ linked: false, privateIdentityKnown: true });
      expect(await store.registrationCheck('ghost@example.com', SIP)).toMatchObject({ linked: false, privateIdentityKnown: false });

      const set = await store.implicitSetStateOf(SIP);
      expect(set).toEqual({ implicitSet: await store.implicitSetOf(SIP), registration: fresh.registration });
      const done = await store.setRegistrationState(SIP, { state: 'REGISTERED', scscf: 'sip:scscf.example.com' }, fresh.registration.version);
      expect(done.ok).toBe(true);
      const registered = { state: 'REGISTERED', scscf: 'sip:scscf.example.com', implicitSetId: 'irs-6505550001', version: done.ok && done.version };
      expect((await store.implicitSetStateOf(TEL))?.registration).toEqual(registered);
      expect((await store.registrationCheck(IMPI, SIP))?.registration).toEqual(registered);

      // A barred identity: registrable while another of its set is not barred.
      await store.updatePublicIdentity({ impu: TEL, implicitSetId: 'irs-6505550001', barred: true });
      expect(await store.registrationCheck(IMPI, TEL)).toMatchObject({ barred: true, setHasUnbarred: true });
      await store.updatePublicIdentity({ impu: SIP, implicitSetId: 'irs-6505550001', barred: true });
      expect(await store.registrationCheck(IMPI, TEL)).toMatchObject({ barred: true, setHasUnbarred: false });
      expect((await store.implicitSetStateOf(TEL))?.implicitSet.members.map((m) => [m.impu, m.barred])).toEqual([
        [SIP, true],
        [TEL, true],
      ]);
    });

    it('changes registration state by compare-and-set only', async () => {
      await store.addSubscriber(subscriber(1));
      const v0 = (await store.getRegistrationState(SIP))!.version;
      const first = await store.setRegistrationState(SIP, { state: 'REGISTERED', scscf: 'sip:scscf1.example.com' }, v0);
      const second = await store.setRegistrationState(SIP, { state: 'REGISTERED', scscf: 'sip:scscf2.example.com' }, v0);
      expect(second).toEqual({ ok: false, currentVersion: first.ok && first.version });
      expect((await store.getRegistrationState(SIP))?.scscf).toBe('sip:scscf1.example.com');
      await expectCode(store.setRegistrationState(SIP, { state: 'REGISTERED' }, v0), 'TW_ERR_STORAGE_INVALID');
      await expectCode(store.setRegistrationState('sip:ghost@example.com', { state: 'NOT_REGISTERED' }, 1), 'TW_ERR_STORAGE_NOT_FOUND');
      const back = await store.setRegistrationState(SIP, { state: 'NOT_REGISTERED' }, first.ok ? first.version : -1);
      expect(back.ok).toBe(true);
      expect(await store.getRegistrationState(TEL)).toMatchObject({ state: 'NOT_REGISTERED' });
      expect((await store.getRegistrationState(TEL))?.scscf).toBeUndefined();
    });

    it('refuses duplicates and references to missing identities or sets', async () => {
      await store.addSubscriber(subscriber(1));
      await expectCode(store.createPrivateIdentity({ impi: IMPI, digest: [] }), 'TW_ERR_STORAGE_EXISTS');
      await expectCode(store.createImplicitSet({ id: 'irs-6505550001', serviceProfile: '' }), 'TW_ERR_STORAGE_EXISTS');
      await expectCode(store.createPublicIdentity({ impu: SIP, implicitSetId: 'irs-6505550001', barred: false }), 'TW_ERR_STORAGE_EXISTS');
      await expectCode(store.createPublicIdentity({ impu: 'sip:x@example.com', implicitSetId: 'nope', barred: false }), 'TW_ERR_STORAGE_NOT_FOUND');
      await expectCode(store.createPublicIdentity({ impu: 'mailto:x@example.com', implicitSetId: 'irs-6505550001', barred: false }), 'TW_ERR_STORAGE_INVALID');
      await expectCode(store.updatePrivateIdentity('ghost@example.com', { digest: [] }), 'TW_ERR_STORAGE_NOT_FOUND');
      await expectCode(store.updateServiceProfile('nope', '<x/>'), 'TW_ERR_STORAGE_NOT_FOUND');
    });

    it('deletes identities with their associations, and a set only once it is empty', async () => {
      await store.addSubscriber(subscriber(1));
      await expectCode(store.deleteImplicitSet('irs-6505550001'), 'TW_ERR_STORAGE_IN_USE');
      expect(await store.deletePublicIdentity(TEL)).toBe(true);
      expect(await store.deletePublicIdentity(TEL)).toBe(false);
      expect(await store.publicIdentitiesOf(IMPI)).toEqual([SIP]);
      expect((await store.implicitSetOf(SIP))?.members.map((m) => m.impu)).toEqual([SIP]);
      expect(await store.deletePrivateIdentity(IMPI)).toBe(true);
      expect(await store.privateIdentitiesOf(SIP)).toEqual([]);
      expect(await store.authVector(IMPI, SIP)).toEqual({ ok: false, reason: 'unknown-private-identity' });
      expect(await store.deletePublicIdentity(SIP)).toBe(true);
      expect(await store.deleteImplicitSet('irs-6505550001')).toBe(true);
      expect(await store.getImplicitSet('irs-6505550001')).toBeUndefined();
    });

    it('moves a public identity to another set, last in it, and bars it', async () => {
      await store.addSubscriber(subscriber(1));
      await store.addSubscriber(subscriber(2));
      await store.updatePublicIdentity({ impu: SIP, implicitSetId: 'irs-6505550002', barred: true });
      expect((await store.implicitSetOf(SIP))?.members).toEqual([
        { impu: 'sip:6505550002@example.com', implicitSetId: 'irs-6505550002', barred: false },
        { impu: 'tel:+16505550002', implicitSetId: 'irs-6505550002', barred: false },
        { impu: SIP, implicitSetId: 'irs-6505550002', barred: true },
      ]);
      expect((await store.getImplicitSet('irs-6505550001'))?.members.map((m) => m.impu)).toEqual([TEL]);
      await store.updateServiceProfile('irs-6505550002', '<ServiceProfile/>');
      expect((await store.implicitSetOf(SIP))?.serviceProfile).toBe('<ServiceProfile/>');
    });

    it('updates credentials: new HA1s, new AKA keys keeping SQN, AKA removed', async () => {
      await store.createPrivateIdentity({ impi: IMPI, digest: ha1s(IMPI, 'old'), aka: AKA });
      const k2 = Buffer.alloc(16, 7);
      await store.updatePrivateIdentity(IMPI, { digest: ha1s(IMPI, 'new').slice(0, 1), aka: { k: k2, opc: AKA.opc, amf: AKA.amf } });
      expect(await store.getPrivateIdentity(IMPI)).toEqual({ impi: IMPI, digest: ha1s(IMPI, 'new').slice(0, 1), aka: { ...AKA, k: k2 } });
      await store.updatePrivateIdentity(IMPI, { aka: null });
      expect((await store.getPrivateIdentity(IMPI))?.aka).toBeUndefined();
      await store.updatePrivateIdentity(IMPI, { aka: { k: k2, opc: AKA.opc, amf: AKA.amf } });
      expect((await store.getPrivateIdentity(IMPI))?.aka?.sqn).toBe(0);
      await expectCode(store.updatePrivateIdentity(IMPI, { aka: { k: Buffer.alloc(15), opc: AKA.opc, amf: AKA.amf } }), 'TW_ERR_STORAGE_INVALID');
    });

    it('hands out each AKA SQN once, even to concurrent callers, and resynchronises', async () => {
      await store.createPrivateIdentity({ impi: IMPI, digest: [], aka: { ...AKA, sqn: 0 } });
      const sqns = await Promise.all(Array.from({ length: 20 }, () => store.nextAkaSqn(IMPI)));
      expect([...sqns].sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
      expect(await store.nextAkaSqn(IMPI, 32)).toBe(52);
      await store.setAkaSqn(IMPI, 2 ** 48 - 2);
      expect(await store.nextAkaSqn(IMPI)).toBe(2 ** 48 - 1);
      await expectCode(store.nextAkaSqn(IMPI), 'TW_ERR_STORAGE_INVALID');
      await store.createPrivateIdentity({ impi: 'digest-only@example.com', digest: [] });
      await expectCode(store.nextAkaSqn('digest-only@example.com'), 'TW_ERR_STORAGE_NOT_FOUND');
      await expectCode(store.setAkaSqn('ghost@example.com', 1), 'TW_ERR_STORAGE_NOT_FOUND');
    });

    it('returns copies: changing a returned key or list does not change the store', async () => {
      await store.addSubscriber({ ...subscriber(1), privateIdentity: { ...subscriber(1).privateIdentity, aka: AKA } });
      const read = await store.getPrivateIdentity(IMPI);
      read!.aka!.k.fill(0);
      (read!.digest as unknown[]).length = 0;
      (await store.implicitSetOf(SIP))!.members.pop();
      expect((await store.getPrivateIdentity(IMPI))?.aka?.k).toEqual(AKA.k);
      expect((await store.getPrivateIdentity(IMPI))?.digest).toHaveLength(2);
      expect((await store.implicitSetOf(SIP))?.members).toHaveLength(2);
    });

    it('lists identities in key order, a page at a time, each exactly once', async () => {
      for (let n = 0; n < 9; n++) await store.addSubscriber(subscriber(n));
      const impus: string[] = [];
      let after: string | undefined;
      do {
        const page = await store.listPublicIdentities(after === undefined ? { limit: 4 } : { after, limit: 4 });
        impus.push(...page.items.map((p) => p.impu));
        after = page.next;
      } while (after !== undefined);
      expect(impus).toHaveLength(18);
      expect(impus).toEqual([...impus].sort());
      const first = await store.listPrivateIdentities({ limit: 5 });
      const rest = await store.listPrivateIdentities({ after: first.next!, limit: 5 });
      expect(rest.next).toBeUndefined();
      expect([...first.items, ...rest.items].map((p) => p.impi)).toEqual(Array.from({ length: 9 }, (_, n) => `650555000${n}@example.com`));
      expect(first.items[0]?.digest).toHaveLength(2);
    });

    if (!options.persistent) return;
    it('keeps subscribers, associations and registration state across a restart', async () => {
      await store.addSubscriber({ ...subscriber(1), privateIdentity: { ...subscriber(1).privateIdentity, aka: AKA } });
      const v0 = (await store.getRegistrationState(SIP))!.version;
      const set = await store.setRegistrationState(SIP, { state: 'UNREGISTERED', scscf: 'sip:scscf.example.com' }, v0);
      const sqn = await store.nextAkaSqn(IMPI);
      store = await h.reopen!();
      expect(await store.authVector(IMPI, TEL)).toEqual({ ok: true, impi: IMPI, digest: [...ha1s(IMPI, PASSWORD)].reverse(), aka: { ...AKA, sqn } });
      expect(await store.getRegistrationState(TEL)).toMatchObject({ state: 'UNREGISTERED', version: set.ok && set.version });
      expect(await store.nextAkaSqn(IMPI)).toBe(sqn + 1);
      expect((await store.setRegistrationState(SIP, { state: 'NOT_REGISTERED' }, v0)).ok).toBe(false);
    });
  });
}
