/**
 * Bulk provisioning into PostgreSQL (`tidewater subscriber import`, issue 7 point 5): batches of
 * multi-row inserts, each row all or nothing, re-runs that change nothing. The rate is printed,
 * not asserted (the machine is shared); the counts and the idempotence are asserted.
 */
import pg from 'pg';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { computeHa1 } from '../../src/sip/auth/digest.js';
import { openPostgresStores, type PostgresStores } from '../../src/storage/postgres/index.js';
import type { NewSubscriber } from '../../src/storage/subscriber-store.js';
import { createTestDatabase, ensurePostgres, type PostgresServer, type TestDatabase } from '../harness/postgres.js';

const REALM = 'example.com';
const AKA = { k: Buffer.alloc(16, 0x11), opc: Buffer.alloc(16, 0x22), amf: Buffer.from('8000', 'hex'), sqn: 0 };

/** Subscriber `i` as the CSV importer builds it: an IMPI, a sip: and a tel: IMPU, two HA1s. */
function row(i: number, password = `pw-${i}`, extra: Partial<NewSubscriber> = {}): NewSubscriber {
  const number = String(6500000000 + i);
  const impi = `${number}@${REALM}`;
  const impus = [`sip:${number}@${REALM}`, `tel:+1${number}`];
  return {
    privateIdentity: {
      impi,
      digest: [
        { realm: REALM, algorithm: 'MD5', ha1: computeHa1('MD5', impi, REALM, password) },
        { realm: REALM, algorithm: 'SHA-256', ha1: computeHa1('SHA-256', impi, REALM, password) },
      ],
    },
    implicitSet: {
      id: `irs-${number}`,
      serviceProfile: `<ServiceProfile>${impus.map((u) => `<PublicIdentity><Identity>${u}</Identity></PublicIdentity>`).join('')}</ServiceProfile>`,
    },
    publicIdentities: impus.map((impu) => ({ impu })),
    ...extra,
  };
}

let server: PostgresServer;
beforeAll(async () => {
  server = await ensurePostgres();
});
afterAll(async () => {
  await server?.stop();
});

describe('PostgreSQL subscriber import', () => {
  let db: TestDatabase;
  let stores: PostgresStores;
  let counter: pg.Pool;
  const counts = async (): Promise<Record<string, number>> => {
    const { rows } = await counter.query(`SELECT
      (SELECT COUNT(*) FROM private_identities)::int AS impis, (SELECT COALESCE(SUM(jsonb_array_length(digest)), 0) FROM private_identities)::int AS ha1s,
      (SELECT COUNT(*) FROM implicit_sets)::int AS sets, (SELECT COUNT(*) FROM public_identities)::int AS impus,
      (SELECT COUNT(*) FROM associations)::int AS links`);
    return rows[0];
  };
  beforeEach(async () => {
    db = await createTestDatabase(server);
    stores = await openPostgresStores(db.url, { schema: 'migrate' });
    counter = new pg.Pool({ connectionString: db.url, max: 1 });
  });
  afterEach(async () => {
    await counter.end();
    await stores.close();
    await db.drop();
  });

  it('imports 10,000 subscribers in batches, and a re-run creates nothing', async () => {
    const rows = Array.from({ length: 10_000 }, (_, i) => row(i));
    const progress: number[] = [];
    let started = performance.now();
    const first = await stores.subscribers.importSubscribers(rows, { onProgress: (done) => progress.push(done) });
    const firstMs = performance.now() - started;
    console.log(`PostgreSQL import: 10000 new subscribers in ${firstMs.toFixed(0)} ms = ${Math.round(10_000 / (firstMs / 1000))} subscribers/s`);
    expect(first).toEqual({ created: 10_000, skipped: 0, updated: 0, failed: [] });
    expect(progress).toEqual(Array.from({ length: 10 }, (_, i) => (i + 1) * 1000));
    expect(await counts()).toEqual({ impis: 10_000, ha1s: 20_000, sets: 10_000, impus: 20_000, links: 20_000 });

    started = performance.now();
    const again = await stores.subscribers.importSubscribers(rows);
    const againMs = performance.now() - started;
    console.log(`PostgreSQL import re-run: 10000 existing subscribers in ${againMs.toFixed(0)} ms = ${Math.round(10_000 / (againMs / 1000))} rows/s`);
    expect(again).toEqual({ created: 0, skipped: 10_000, updated: 0, failed: [] });
    expect(await counts()).toEqual({ impis: 10_000, ha1s: 20_000, sets: 10_000, impus: 20_000, links: 20_000 });

    const sample = row(4321);
    const impi = sample.privateIdentity.impi;
    expect(await stores.subscribers.authVector(impi, 'tel:+16500004321')).toEqual({ ok: true, impi, digest: sample.privateIdentity.digest });
    expect((await stores.subscribers.implicitSetOf('tel:+16500004321'))?.members.map((m) => m.impu)).toEqual([
      'sip:6500004321@example.com',
      'tel:+16500004321',
    ]);
    expect(await stores.subscribers.getRegistrationState('sip:6500004321@example.com')).toMatchObject({ state: 'NOT_REGISTERED' });
  });

  it('imports each row all or nothing and says why a row failed', async () => {
    await stores.subscribers.addSubscriber(row(5));
    const rows = [
      row(1),
      row(2, 'pw', { publicIdentities: [{ impu: 'sip:6500000002@example.com' }, { impu: 'tel:+16500000005' }] }),
      row(3, 'pw', { implicitSet: { id: 'irs-6500000005', serviceProfile: '<ServiceProfile/>' } }),
      row(4, 'pw', { privateIdentity: { impi: '6500000004@example.com', digest: [{ realm: REALM, algorithm: 'MD5', ha1: 'hunter2' }] } }),
      row(1, 'other'),
      row(6, 'pw', { publicIdentities: [{ impu: 'sip:6500000001@example.com' }] }),
      row(5),
      row(7),
    ];
    const report = await stores.subscribers.importSubscribers(rows, { batchSize: 3 });
    expect(report.created).toBe(2);
    expect(report.skipped).toBe(2);
    expect(report.failed.map((f) => [f.index, f.impi])).toEqual([
      [1, '6500000002@example.com'],
      [2, '6500000003@example.com'],
      [3, '6500000004@example.com'],
      [5, '6500000006@example.com'],
    ]);
    expect(report.failed[0]!.reason).toMatch(/public identity tel:\+16500000005 already exists/);
    expect(report.failed[1]!.reason).toMatch(/implicit set irs-6500000005 already exists/);
    expect(report.failed[2]!.reason).toMatch(/never a password/);
    expect(report.failed[3]!.reason).toMatch(/public identity sip:6500000001@example.com already exists/);
    for (const n of [2, 3, 4, 6]) {
      expect(await stores.subscribers.getPrivateIdentity(`650000000${n}@example.com`)).toBeUndefined();
      expect(await stores.subscribers.getImplicitSet(`irs-650000000${n}`)).toBeUndefined();
    }
    expect(await stores.subscribers.getPublicIdentity('sip:6500000002@example.com')).toBeUndefined();
    expect(await stores.subscribers.privateIdentitiesOf('tel:+16500000005')).toEqual(['6500000005@example.com']);
    expect((await stores.subscribers.getPrivateIdentity('6500000001@example.com'))?.digest).toEqual(row(1).privateIdentity.digest);
    expect(await stores.subscribers.publicIdentitiesOf('6500000007@example.com')).toEqual(['sip:6500000007@example.com', 'tel:+16500000007']);
    expect(await counts()).toEqual({ impis: 3, ha1s: 6, sets: 3, impus: 6, links: 6 });
  });

  it('replaces the credentials of existing rows on request, keeping their AKA SQN', async () => {
    const withAka = (i: number, password: string) => {
      const r = row(i, password);
      return { ...r, privateIdentity: { ...r.privateIdentity, aka: AKA } };
    };
    await stores.subscribers.importSubscribers([withAka(1, 'old'), withAka(2, 'old')]);
    const sqn = await stores.subscribers.nextAkaSqn('6500000001@example.com', 32);
    const k2 = Buffer.alloc(16, 0x33);
    const changed = { ...row(1, 'new'), privateIdentity: { ...row(1, 'new').privateIdentity, aka: { ...AKA, k: k2 } } };
    const report = await stores.subscribers.importSubscribers([changed, row(2, 'new'), row(3, 'new')], { onExisting: 'update' });
    expect(report).toEqual({ created: 1, skipped: 0, updated: 2, failed: [] });
    expect(await stores.subscribers.getPrivateIdentity('6500000001@example.com')).toEqual({
      impi: '6500000001@example.com',
      digest: row(1, 'new').privateIdentity.digest,
      aka: { ...AKA, k: k2, sqn },
    });
    expect((await stores.subscribers.getPrivateIdentity('6500000002@example.com'))?.aka).toEqual(AKA);
    expect((await stores.subscribers.getPrivateIdentity('6500000002@example.com'))?.digest).toEqual(row(2, 'new').privateIdentity.digest);
    expect(await counts()).toEqual({ impis: 3, ha1s: 6, sets: 3, impus: 6, links: 6 });
  });

  it('creates each subscriber once when two hosts import the same file at once', async () => {
    const other = await openPostgresStores(db.url);
    try {
      const rows = Array.from({ length: 2000 }, (_, i) => row(i));
      const reports = await Promise.all([
        stores.subscribers.importSubscribers(rows, { batchSize: 250 }),
        other.subscribers.importSubscribers(rows, { batchSize: 250 }),
      ]);
      expect(reports.every((r) => r.failed.length === 0)).toBe(true);
      expect(reports[0]!.created + reports[1]!.created).toBe(2000);
      expect(reports[0]!.skipped + reports[1]!.skipped).toBe(2000);
      expect(await counts()).toEqual({ impis: 2000, ha1s: 4000, sets: 2000, impus: 4000, links: 4000 });
    } finally {
      await other.close();
    }
  });
});
