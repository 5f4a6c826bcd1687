/** Subscribers and stores the HSS tests share. */
import path from 'node:path';
import { computeHa1 } from '../../src/sip/auth/index.js';
import type { SubscriberStore } from '../../src/storage/index.js';
import { MemorySubscriberStore } from '../../src/storage/memory/index.js';
import { openSqliteStores } from '../../src/storage/sqlite/index.js';
import { tempDir } from '../storage/fixtures.js';

export const REALM = 'example.com';
export const ALICE = { impi: 'alice@example.com', impu: 'sip:alice@example.com', tel: 'tel:+16505550001', password: 'alice-secret' };
export const BOB = { impi: 'bob@example.com', impu: 'sip:bob@example.com' };
export const CAROL = { impi: 'carol@example.com', impu: 'sip:carol@example.com' };
export const AKA = { impi: 'dave@example.com', impu: 'sip:dave@example.com' };
export const SCSCF = 'sip:scscf.example.com:5054;transport=tcp';

export const md5 = (impi: string, password: string, realm = REALM) => computeHa1('MD5', impi, realm, password);
export const sha256 = (impi: string, password: string, realm = REALM) => computeHa1('SHA-256', impi, realm, password);

/** An opened store and how to dispose of it. */
export interface StoreHandle {
  readonly store: SubscriberStore;
  close(): Promise<void>;
}
export type OpenStore = () => Promise<StoreHandle>;

export const openMemory: OpenStore = async () => ({ store: new MemorySubscriberStore(), close: async () => {} });

export const openSqlite: OpenStore = async () => {
  const dir = tempDir('tidewater-hss-');
  const stores = openSqliteStores({ path: path.join(dir.path, 'tidewater.db') });
  return {
    store: stores.subscribers,
    close: async () => {
      stores.close();
      dir.cleanup();
    },
  };
};

const profile = (...impus: string[]) => `<ServiceProfile>${impus.map((i) => `<PublicIdentity><Identity>${i}</Identity></PublicIdentity>`).join('')}</ServiceProfile>`;

/**
 * Alice (two IMPUs, MD5 and SHA-256 HA1s), Bob (an IMPI with no association to Alice), Carol
 * (her only IMPU barred), Dave (AKA keys only).
 */
export async function seed(store: SubscriberStore): Promise<void> {
  await store.addSubscriber({
    privateIdentity: {
      impi: ALICE.impi,
      digest: [
        { realm: REALM, algorithm: 'MD5', ha1: md5(ALICE.impi, ALICE.password) },
        { realm: REALM, algorithm: 'SHA-256', ha1: sha256(ALICE.impi, ALICE.password) },
      ],
    },
    implicitSet: { id: 'irs-alice', serviceProfile: profile(ALICE.impu, ALICE.tel) },
    publicIdentities: [{ impu: ALICE.impu }, { impu: ALICE.tel }],
  });
  await store.addSubscriber({
    privateIdentity: { impi: BOB.impi, digest: [{ realm: REALM, algorithm: 'MD5', ha1: md5(BOB.impi, 'bob') }] },
    implicitSet: { id: 'irs-bob', serviceProfile: profile(BOB.impu) },
    publicIdentities: [{ impu: BOB.impu }],
  });
  await store.addSubscriber({
    privateIdentity: { impi: CAROL.impi, digest: [{ realm: REALM, algorithm: 'MD5', ha1: md5(CAROL.impi, 'carol') }] },
    implicitSet: { id: 'irs-carol', serviceProfile: profile(CAROL.impu) },
    publicIdentities: [{ impu: CAROL.impu, barred: true }],
  });
  await store.addSubscriber({
    privateIdentity: {
      impi: AKA.impi,
      digest: [],
      aka: { k: Buffer.alloc(16, 0x46), opc: Buffer.alloc(16, 0xcd), amf: Buffer.from([0x80, 0x00]), sqn: 0 },
    },
    implicitSet: { id: 'irs-dave', serviceProfile: profile(AKA.impu) },
    publicIdentities: [{ impu: AKA.impu }],
  });
}

/** A valid ServiceProfile body with one iFC sending INVITEs to the MMTel AS. */
export const IFC_PROFILE = `<?xml version="1.0" encoding="UTF-8"?>
<ServiceProfile>
  <InitialFilterCriteria>
    <Priority>0</Priority>
    <TriggerPoint>
      <ConditionTypeCNF>0</ConditionTypeCNF>
      <SPT><ConditionNegated>0</ConditionNegated><Group>0</Group><Method>INVITE</Method></SPT>
    </TriggerPoint>
    <ApplicationServer>
      <ServerName>sip:mmtel.example.com</ServerName>
      <DefaultHandling>0</DefaultHandling>
    </ApplicationServer>
  </InitialFilterCriteria>
</ServiceProfile>`;
