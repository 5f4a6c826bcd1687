/**
 * The PostgreSQL stores as a cluster uses them: several nodes (pools) on one database racing
 * for the same rows, and a database that is gone, hangs, is slow or restarts.
 */
import { createServer, type Server, type Socket } from 'node:net';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { StorageError } from '../../src/storage/errors.js';
import { openPostgresStores, type PostgresStores } from '../../src/storage/postgres/index.js';
import { createPostgresCluster, createTestDatabase, ensurePostgres, type PostgresServer, type TestDatabase } from '../harness/postgres.js';
import { freePort } from '../harness/tools.js';
import { T0 } from './fixtures.js';
import { subscriber } from './subscriber-store.contract.js';

const SIP = 'sip:6505550001@example.com';
const IMPI = '6505550001@example.com';
const HASH = `scrypt$16384$8$1$${'s'.repeat(22)}$${'h'.repeat(43)}`;

let server: PostgresServer;
beforeAll(async () => {
  server = await ensurePostgres();
});
afterAll(async () => {
  await server?.stop();
});

/** Resolves with the StorageError code `promise` rejects with and how long that took. */
async function failure(promise: Promise<unknown>): Promise<{ code: string | undefined; ms: number }> {
  const started = Date.now();
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(StorageError);
  return { code: (error as StorageError).code, ms: Date.now() - started };
}

describe('PostgreSQL stores shared by two nodes', () => {
  let db: TestDatabase;
  let a: PostgresStores;
  let b: PostgresStores;
  beforeAll(async () => {
    db = await createTestDatabase(server);
    a = await openPostgresStores(db.url, { schema: 'migrate' });
    b = await openPostgresStores(db.url);
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await db?.drop();
  });

  it('lets exactly one of two nodes change the registration state from the same version', async () => {
    await a.subscribers.addSubscriber(subscriber(1));
    for (let round = 0; round < 20; round++) {
      const { version } = (await b.subscribers.getRegistrationState(SIP))!;
      const [ra, rb] = await Promise.all([
        a.subscribers.setRegistrationState(SIP, { state: 'REGISTERED', scscf: `sip:scscf-a-${round}.example.com` }, version),
        b.subscribers.setRegistrationState(SIP, { state: 'REGISTERED', scscf: `sip:scscf-b-${round}.example.com` }, version),
      ]);
      const winners = [ra, rb].filter((r) => r.ok);
      expect(winners).toHaveLength(1);
      const won = winners[0]!.ok ? winners[0]!.version : -1;
      expect([ra, rb].find((r) => !r.ok)).toEqual({ ok: false, currentVersion: won });
      const state = await a.subscribers.getRegistrationState('tel:+16505550001');
      expect(state).toMatchObject({ version: won, scscf: `sip:scscf-${ra.ok ? 'a' : 'b'}-${round}.example.com` });
    }
  });

  it('hands out each AKA SQN once across nodes', async () => {
    const aka = { k: Buffer.alloc(16, 1), opc: Buffer.alloc(16, 2), amf: Buffer.alloc(2, 3), sqn: 0 };
    await a.subscribers.createPrivateIdentity({ impi: 'aka@example.com', digest: [], aka });
    const sqns = await Promise.all(Array.from({ length: 40 }, (_, i) => (i % 2 ? a : b).subscribers.nextAkaSqn('aka@example.com')));
    expect([...sqns].sort((x, y) => x - y)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
  });

  it('lets one node win a conditional document write and one portal win a number', async () => {
    const key = { auid: 'org.etsi.ngn.simservs', xui: SIP, name: 'simservs.xml' };
    const first = await a.documents.put(key, '<simservs/>');
    if (!first.ok) throw new Error('put failed');
    const puts = await Promise.all([a, b, a, b].map((s, i) => s.documents.put(key, `<simservs n="${i}"/>`, { ifMatch: first.etag })));
    expect(puts.filter((p) => p.ok)).toHaveLength(1);
    await a.accounts.createAccount({ email: 'alice@example.com', fullName: 'Alice', passwordHash: HASH, createdAt: T0, isAdmin: false });
    const claim = { number: '6505550100', impu: 'sip:6505550100@example.com', privateId: '6505550100@example.com', accountEmail: 'alice@example.com', pstn: false, createdAt: T0 };
    const claims = await Promise.all([a.accounts.claimNumber(claim), b.accounts.claimNumber(claim)]);
    expect(claims.filter(Boolean)).toHaveLength(1);
  });
});

describe('PostgreSQL stores when the database fails', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  it('fails as unavailable at once when nothing listens', async () => {
    const port = await freePort('tcp');
    const stores = await openPostgresStores(`postgres://postgres@127.0.0.1:${port}/postgres`, { schema: 'skip' });
    cleanups.push(() => stores.close());
    expect((await failure(stores.subscribers.getPrivateIdentity(IMPI))).code).toBe('TW_ERR_STORAGE_UNAVAILABLE');
    const { code, ms } = await failure(stores.accounts.countAccounts());
    expect(code).toBe('TW_ERR_STORAGE_UNAVAILABLE');
    expect(ms).toBeLessThan(1000);
    expect((await failure(openPostgresStores(`postgres://postgres@127.0.0.1:${port}/postgres`))).code).toBe('TW_ERR_STORAGE_UNAVAILABLE');
  });

  it('gives up after the connection timeout on a server that accepts but never answers', async () => {
    const sockets = new Set<Socket>();
    const silent: Server = createServer((socket) => {
      sockets.add(socket);
      socket.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    cleanups.push(async () => {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => silent.close(resolve));
    });
    const port = (silent.address() as { port: number }).port;
    const stores = await openPostgresStores(`postgres://postgres@127.0.0.1:${port}/postgres`, { schema: 'skip', connectionTimeoutMs: 400 });
    cleanups.push(() => stores.close());
    const result = await failure(stores.documents.listByUser(SIP));
    expect(result.code).toBe('TW_ERR_STORAGE_UNAVAILABLE');
    expect(result.ms).toBeGreaterThanOrEqual(350);
    expect(result.ms).toBeLessThan(2000);
  });

  it('ends a statement stuck behind a lock at the statement timeout, then works again', async () => {
    const db = await createTestDatabase(server);
    cleanups.push(() => db.drop());
    const stores = await openPostgresStores(db.url, { schema: 'migrate', statementTimeoutMs: 300 });
    cleanups.push(() => stores.close());
    await stores.subscribers.addSubscriber(subscriber(1));
    const { version } = (await stores.subscribers.getRegistrationState(SIP))!;
    const locker = new pg.Client({ connectionString: db.url });
    await locker.connect();
    cleanups.push(() => locker.end());
    await locker.query('BEGIN');
    await locker.query("SELECT * FROM implicit_sets WHERE id = 'irs-6505550001' FOR UPDATE");
    const stuck = await failure(stores.subscribers.setRegistrationState(SIP, { state: 'REGISTERED', scscf: 'sip:s.example.com' }, version));
    expect(stuck.code).toBe('TW_ERR_STORAGE_UNAVAILABLE');
    expect(stuck.ms).toBeLessThan(2000);
    await locker.query('ROLLBACK');
    expect(await stores.subscribers.setRegistrationState(SIP, { state: 'REGISTERED', scscf: 'sip:s.example.com' }, version)).toMatchObject({ ok: true });
  });

  it('fails an operation whose connection dies mid-statement as unavailable, and carries on', async () => {
    const db = await createTestDatabase(server);
    cleanups.push(() => db.drop());
    const stores = await openPostgresStores(db.url, { schema: 'migrate' });
    cleanups.push(() => stores.close());
    await stores.subscribers.addSubscriber(subscriber(1));
    const { version } = (await stores.subscribers.getRegistrationState(SIP))!;
    const locker = new pg.Client({ connectionString: db.url });
    await locker.connect();
    cleanups.push(() => locker.end());
    await locker.query('BEGIN');
    await locker.query("SELECT * FROM implicit_sets WHERE id = 'irs-6505550001' FOR UPDATE");
    const blocked = failure(stores.subscribers.setRegistrationState(SIP, { state: 'REGISTERED', scscf: 'sip:s.example.com' }, version));
    const admin = new pg.Client({ connectionString: server.url });
    await admin.connect();
    cleanups.push(() => admin.end());
    const waiting = "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND wait_event_type = 'Lock'";
    let pids: number[] = [];
    while (pids.length === 0) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      pids = (await admin.query(waiting, [db.name])).rows.map((r) => r.pid);
    }
    await admin.query('SELECT pg_terminate_backend(pid) FROM unnest($1::int[]) AS pid', [pids]);
    expect((await blocked).code).toBe('TW_ERR_STORAGE_UNAVAILABLE');
    await locker.query('ROLLBACK');
    expect(await stores.subscribers.setRegistrationState(SIP, { state: 'REGISTERED', scscf: 'sip:s.example.com' }, version)).toMatchObject({ ok: true });
  });

  it('recovers by itself when the server drops every connection', async () => {
    const db = await createTestDatabase(server);
    cleanups.push(() => db.drop());
    const stores = await openPostgresStores(db.url, { schema: 'migrate', maxConnections: 4 });
    cleanups.push(() => stores.close());
    await stores.subscribers.addSubscriber(subscriber(1));
    await Promise.all(Array.from({ length: 8 }, () => stores.subscribers.getPrivateIdentity(IMPI)));
    const admin = new pg.Client({ connectionString: server.url });
    await admin.connect();
    cleanups.push(() => admin.end());
    const killed = await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [db.name]);
    expect(killed.rowCount).toBeGreaterThan(0);
    const outcomes = await Promise.all(
      Array.from({ length: 8 }, () => stores.subscribers.getPrivateIdentity(IMPI).then(
        (p) => p?.impi,
        (e: StorageError) => e.code,
      )),
    );
    expect(outcomes.every((o) => o === IMPI || o === 'TW_ERR_STORAGE_UNAVAILABLE')).toBe(true);
    expect((await stores.subscribers.getPrivateIdentity(IMPI))?.impi).toBe(IMPI);
  });

  it('answers unavailable while the server is down and recovers, data intact, once it restarts', async () => {
    const cluster = await createPostgresCluster();
    cleanups.push(() => cluster.remove());
    const stores = await openPostgresStores(cluster.url, { schema: 'migrate', connectionTimeoutMs: 500 });
    cleanups.push(() => stores.close());
    await stores.subscribers.addSubscriber(subscriber(1));
    await cluster.stop('kill');
    const down = await failure(stores.subscribers.authVector(IMPI, SIP));
    expect(down.code).toBe('TW_ERR_STORAGE_UNAVAILABLE');
    expect(down.ms).toBeLessThan(2000);
    await cluster.start();
    let answer: string | undefined;
    for (let attempt = 0; attempt < 20 && answer === undefined; attempt++) {
      if (attempt > 0) await new Promise((resolve) => setTimeout(resolve, 100));
      answer = await stores.subscribers.authVector(IMPI, SIP).then(
        (r) => (r.ok ? r.impi : r.reason),
        () => undefined,
      );
    }
    expect(answer).toBe(IMPI);
  });
});
