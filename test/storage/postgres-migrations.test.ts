/** PostgreSQL schema migrations: what `tidewater migrate` does and what a node checks at start. */
import pg from 'pg';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  POSTGRES_MIGRATIONS,
  checkPostgresSchema,
  describeMigration,
  migratePostgres,
  migratePostgresUrl,
  openPostgresStores,
  postgresSchemaVersion,
  type PostgresMigration,
} from '../../src/storage/postgres/index.js';
import { createTestDatabase, ensurePostgres, type PostgresServer, type TestDatabase } from '../harness/postgres.js';
import { freePort } from '../harness/tools.js';
import { T0 } from './fixtures.js';

const LATEST = POSTGRES_MIGRATIONS.length;
const clock = { now: () => T0 };

let server: PostgresServer;
beforeAll(async () => {
  server = await ensurePostgres();
});
afterAll(async () => {
  await server?.stop();
});

describe('PostgreSQL migrations', () => {
  let db: TestDatabase;
  const pools: pg.Pool[] = [];
  const newPool = (): pg.Pool => {
    const pool = new pg.Pool({ connectionString: db.url, max: 2 });
    pool.on('error', () => undefined);
    pools.push(pool);
    return pool;
  };
  const versions = async (): Promise<{ version: number; name: string; applied_at: string }[]> =>
    (await newPool().query('SELECT version, name, applied_at FROM schema_version ORDER BY version')).rows;

  beforeEach(async () => {
    db = await createTestDatabase(server);
  });
  afterEach(async () => {
    await Promise.all(pools.splice(0).map((p) => p.end()));
    await db.drop();
  });

  it('creates the whole schema on a fresh database and records each version', async () => {
    const pool = newPool();
    expect(await postgresSchemaVersion(pool)).toBe(0);
    const report = await migratePostgres(pool, { clock });
    expect(report).toEqual({ from: 0, to: LATEST, applied: POSTGRES_MIGRATIONS.map((m) => ({ version: m.version, name: m.name })) });
    expect(await versions()).toEqual(POSTGRES_MIGRATIONS.map((m) => ({ version: m.version, name: m.name, applied_at: String(T0) })));
    const tables = (await pool.query("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename")).rows.map((r) => r.tablename);
    expect(tables).toEqual(
      expect.arrayContaining(['associations', 'documents', 'implicit_sets', 'portal_accounts', 'private_identities', 'schema_version']),
    );
    expect(await checkPostgresSchema(pool)).toBe(LATEST);
  });

  it('changes nothing when run again', async () => {
    await migratePostgres(newPool(), { clock });
    const again = await migratePostgres(newPool(), { clock: { now: () => T0 + 1 } });
    expect(again).toEqual({ from: LATEST, to: LATEST, applied: [] });
    expect(describeMigration(again)).toEqual([`schema is up to date (version ${LATEST})`]);
    expect((await versions()).map((v) => v.applied_at)).toEqual(POSTGRES_MIGRATIONS.map(() => String(T0)));
  });

  it('applies each migration once when two processes migrate at the same moment', async () => {
    // The first step is slow and not re-runnable (CREATE TABLE without IF NOT EXISTS), so a
    // second application would fail; both migrators are inside it at once.
    const slow: PostgresMigration[] = [
      { version: 1, name: 'slow', sql: 'CREATE TABLE once (id int); SELECT pg_sleep(0.3)' },
      { version: 2, name: 'second', sql: 'CREATE TABLE twice (id int)' },
    ];
    const reports = await Promise.all([migratePostgres(newPool(), { migrations: slow }), migratePostgres(newPool(), { migrations: slow })]);
    const applied = reports.flatMap((r) => r.applied.map((m) => m.version)).sort();
    expect(applied).toEqual([1, 2]);
    expect(reports.every((r) => r.to === 2)).toBe(true);
    expect((await versions()).map((v) => v.version)).toEqual([1, 2]);
  });

  it('refuses a database written by a newer schema, to migrate or to open', async () => {
    const pool = newPool();
    await migratePostgres(pool, { clock });
    await pool.query("INSERT INTO schema_version (version, name, applied_at) VALUES ($1, 'from the future', 0)", [LATEST + 1]);
    await expect(migratePostgres(pool)).rejects.toMatchObject({ code: 'TW_ERR_STORAGE_SCHEMA', message: expect.stringMatching(/newer release/) });
    await expect(openPostgresStores(db.url)).rejects.toMatchObject({ code: 'TW_ERR_STORAGE_SCHEMA' });
    expect((await versions()).map((v) => v.version)).toEqual([...POSTGRES_MIGRATIONS.map((m) => m.version), LATEST + 1]);
  });

  it('lets a node open an older database only after tidewater migrate', async () => {
    await migratePostgres(newPool(), { migrations: POSTGRES_MIGRATIONS.slice(0, 1) });
    await expect(openPostgresStores(db.url)).rejects.toMatchObject({ code: 'TW_ERR_STORAGE_SCHEMA', message: expect.stringMatching(/tidewater migrate/) });
    const report = await migratePostgresUrl(db.url);
    expect(report.from).toBe(1);
    expect(report.applied.map((m) => m.version)).toEqual(POSTGRES_MIGRATIONS.slice(1).map((m) => m.version));
    expect(describeMigration(report).at(-1)).toBe(`schema migrated from version 1 to ${LATEST}`);
    const stores = await openPostgresStores(db.url);
    expect(await stores.accounts.countAccounts()).toBe(0);
    await stores.close();
  });

  it('rolls a failing migration back whole and reports it', async () => {
    const broken = [...POSTGRES_MIGRATIONS, { version: LATEST + 1, name: 'broken', sql: 'CREATE TABLE extra (id int); SELECT no_such_function()' }];
    await expect(migratePostgres(newPool(), { migrations: broken })).rejects.toMatchObject({
      code: 'TW_ERR_STORAGE_SCHEMA',
      message: expect.stringMatching(/migration \d+ \(broken\) failed/),
    });
    const pool = newPool();
    expect(await postgresSchemaVersion(pool)).toBe(LATEST);
    expect((await pool.query("SELECT to_regclass('extra') AS t")).rows[0].t).toBeNull();
  });

  it('fails as unavailable when the server cannot be reached', async () => {
    const port = await freePort('tcp');
    const started = Date.now();
    await expect(migratePostgresUrl(`postgres://postgres@127.0.0.1:${port}/postgres`)).rejects.toMatchObject({ code: 'TW_ERR_STORAGE_UNAVAILABLE' });
    expect(Date.now() - started).toBeLessThan(3000);
  });
});
