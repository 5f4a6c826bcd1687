/**
 * `tidewater migrate` against a real PostgreSQL: it brings a fresh database to this release's
 * schema, says so when there is nothing to do, and names postgresUrl when it cannot; the other
 * commands on PostgreSQL refuse a database it has not migrated.
 */
import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { POSTGRES_MIGRATIONS } from '../../src/storage/postgres/index.js';
import { createTestDatabase, ensurePostgres, type PostgresServer, type TestDatabase } from '../harness/postgres.js';
import { freePort } from '../harness/tools.js';
import { tempDataDir, tidewater } from './run-cli.js';

describe('tidewater migrate', () => {
  let server: PostgresServer;
  let database: TestDatabase;

  beforeAll(async () => {
    server = await ensurePostgres();
    database = await createTestDatabase(server);
  }, 60_000);
  afterAll(async () => {
    await database?.drop();
    await server?.stop();
  });

  it('has nothing to do without postgresUrl, and says so', async () => {
    const result = await tidewater(['migrate']);
    expect(result).toEqual({
      code: 0,
      stdout: 'nothing to migrate: postgresUrl is not set (the data folder\u2019s SQLite database migrates itself when opened)\n',
      stderr: '',
    });
  });

  it('brings a fresh database to this release\u2019s schema, after which the subscriber commands use it; a second run changes nothing', async () => {
    const dataDir = tempDataDir();
    const env = { TIDEWATER_POSTGRES_URL: database.url, TIDEWATER_DATA_DIR: dataDir };
    const refused = await tidewater(['subscriber', 'add', '6505550001', '--password', 'secret-1'], env);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^tidewater: postgresUrl: cannot use the PostgreSQL database at 127\.0\.0\.1:\d+\/tw_test_\w+: .*run `tidewater migrate` first\n$/);

    const first = await tidewater(['migrate'], env);
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    const where = /^migrating the PostgreSQL database at (127\.0\.0\.1:\d+\/tw_test_\w+)$/m.exec(first.stdout)?.[1];
    expect(where).toBe(`${new URL(database.url).host}/${database.name}`);
    const latest = POSTGRES_MIGRATIONS.length;
    expect(first.stdout.split('\n').slice(1, -2)).toEqual(POSTGRES_MIGRATIONS.map((m) => `applied migration ${m.version}: ${m.name}`));
    expect(first.stdout).toContain(`schema migrated from version 0 to ${latest}\n`);

    expect((await tidewater(['subscriber', 'add', '6505550001', '--password', 'secret-1'], env)).code).toBe(0);
    const listed = await tidewater(['subscriber', 'list'], env);
    expect(listed.stdout).toMatch(/^sip:6505550001@example\.com +6505550001@example\.com +NOT_REGISTERED$/m);
    expect(existsSync(path.join(dataDir, 'tidewater.sqlite'))).toBe(false);

    const file = path.join(path.dirname(dataDir), 'tw.yaml');
    writeFileSync(file, `postgresUrl: ${database.url}\n`);
    const second = await tidewater(['migrate', '--config', file]);
    expect(second.code).toBe(0);
    expect(second.stdout).toBe(`migrating the PostgreSQL database at ${where}\nschema is up to date (version ${latest})\n`);
  });

  it('exits 1 naming postgresUrl and the reason when the server cannot be reached, without the password', async () => {
    const port = await freePort('tcp');
    const result = await tidewater(['migrate', '--postgres-url', `postgres://tw:hunter2@127.0.0.1:${port}/tidewater`]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(new RegExp(`^tidewater: postgresUrl: cannot migrate the PostgreSQL database at 127\\.0\\.0\\.1:${port}/tidewater: .*ECONNREFUSED`));
    expect(result.stdout + result.stderr).not.toContain('hunter2');
  });

  it('stops before connecting when postgresUrl is not a PostgreSQL URL', async () => {
    const result = await tidewater(['migrate'], { TIDEWATER_POSTGRES_URL: 'mysql://db.example.net/tw' });
    expect(result).toEqual({
      code: 1,
      stdout: '',
      stderr: 'tidewater: config: postgresUrl (from TIDEWATER_POSTGRES_URL) must be a postgres:// or postgresql:// URL with a host, got "mysql://db.example.net/tw"\n',
    });
  });
});
