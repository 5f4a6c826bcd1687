/**
 * `tidewater subscriber import FILE.csv` (issue 7, bulk provisioning) into the data folder's
 * SQLite file and into a real PostgreSQL database: what each imported number gets (HA1s, the
 * default iFC, the default simservs document), bad lines reported by number and skipped,
 * re-runs that create nothing twice, and an imported subscriber registering with SIPp against
 * an all-in-one on PostgreSQL and Redis.
 *
 * The all-in-one runs bin/tidewater.js (dist/): run `npx tsc -p tsconfig.build.json` first.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { computeHa1 } from '../../src/sip/auth/index.js';
import type { DocumentStore, SubscriberStore } from '../../src/storage/index.js';
import { openPostgresStores } from '../../src/storage/postgres/index.js';
import { openSqliteStores } from '../../src/storage/sqlite/index.js';
import { SIMSERVS_AUID, SIMSERVS_DOCUMENT } from '../../src/xdms/index.js';
import { runImsSipp, startAllInOne } from '../harness/ims.js';
import { createTestDatabase, ensurePostgres, type PostgresServer, type TestDatabase } from '../harness/postgres.js';
import { deleteKeys, ensureRedis, testPrefix, type RedisEndpoint } from '../harness/redis.js';
import { requireTool } from '../harness/tools.js';
import { tempDataDir, tidewater, type CliResult } from './run-cli.js';

const DOMAIN = 'example.com';
const GOOD_ROWS = 2500;
/** A password with a comma and a quote, written quoted as RFC 4180 says. */
const QUOTED_PASSWORD = 'pa,ss"word';

/**
 * `number,password` lines for GOOD_ROWS numbers from `first`, with a header, an extra identity
 * on the first, a quoted password on the second, a blank line, and four bad lines.
 */
function csvFile(first: number): { file: string; badLines: number[]; numbers: string[] } {
  const numbers = Array.from({ length: GOOD_ROWS }, (_, i) => String(first + i));
  const lines = ['number,password,more identities'];
  numbers.forEach((n, i) => {
    if (i === 0) lines.push(`${n},pw-${n},tel:+1${n}`);
    else if (i === 1) lines.push(`${n},"${QUOTED_PASSWORD.replace(/"/g, '""')}"`);
    else lines.push(`${n},pw-${n}`);
    if (i === 9) lines.push('');
  });
  const bad = ['not a number!,secret-bad-1', `${first + GOOD_ROWS + 1}`, `${first + GOOD_ROWS + 2},"secret-bad-3`, ',secret-bad-4'];
  const badLines: number[] = [];
  for (const line of bad) {
    lines.splice(1000 + badLines.length * 500, 0, line);
    badLines.push(1000 + (badLines.length * 500) + 1);
  }
  const file = path.join(path.dirname(tempDataDir()), 'subscribers.csv');
  writeFileSync(file, `${lines.join('\r\n')}\r\n`);
  return { file, badLines, numbers };
}

function summaryOf(result: CliResult): { created: number; skipped: number; failed: number } {
  const m = /^imported \d+ rows from subscribers\.csv: created (\d+), skipped (\d+), failed (\d+) in [\d.]+ s \((\d+) rows\/s\)$/m.exec(result.stdout);
  expect(m, `no summary line in:\n${result.stdout}\n${result.stderr}`).not.toBeNull();
  return { created: Number(m![1]), skipped: Number(m![2]), failed: Number(m![3]) };
}

/** The bad lines are listed by number on stderr, the import still exits 1, and no password is printed. */
function expectBadLinesReported(result: CliResult, badLines: readonly number[]): void {
  expect(result.code).toBe(1);
  const reported = [...result.stderr.matchAll(/^line (\d+): /gm)].map((m) => Number(m[1]));
  expect(reported).toEqual(badLines);
  expect(result.stderr).toMatch(/"not a number!" is not a subscriber/);
  expect(result.stderr).toMatch(/no password/);
  expect(result.stderr).toMatch(/quoted field does not end on its line/);
  expect(result.stderr).toContain('tidewater: 4 lines were not imported');
  for (const text of [result.stdout, result.stderr]) {
    expect(text).not.toMatch(/pw-\d|secret-bad|pa,ss/);
  }
}

/** What every imported number must have: HA1s of its password, the default iFC, its documents. */
async function expectProvisioned(subscribers: SubscriberStore, documents: DocumentStore, numbers: readonly string[]): Promise<void> {
  const [first, second, last] = [numbers[0]!, numbers[1]!, numbers[numbers.length - 1]!];
  const impi = `${second}@${DOMAIN}`;
  expect((await subscribers.getPrivateIdentity(impi))?.digest).toEqual([
    { realm: DOMAIN, algorithm: 'MD5', ha1: computeHa1('MD5', impi, DOMAIN, QUOTED_PASSWORD) },
    { realm: DOMAIN, algorithm: 'SHA-256', ha1: computeHa1('SHA-256', impi, DOMAIN, QUOTED_PASSWORD) },
  ]);
  const lastImpi = `${last}@${DOMAIN}`;
  expect((await subscribers.getPrivateIdentity(lastImpi))?.digest[0]?.ha1).toBe(computeHa1('MD5', lastImpi, DOMAIN, `pw-${last}`));
  const set = await subscribers.implicitSetOf(`sip:${first}@${DOMAIN}`);
  expect(set?.members.map((m) => m.impu)).toEqual([`sip:${first}@${DOMAIN}`, `tel:+1${first}`]);
  expect(set?.serviceProfile).toContain(`sip:mmtel.${DOMAIN}`);
  for (const impu of [`sip:${first}@${DOMAIN}`, `tel:+1${first}`, `sip:${last}@${DOMAIN}`]) {
    const doc = await documents.get({ auid: SIMSERVS_AUID, xui: impu, name: SIMSERVS_DOCUMENT });
    expect(doc?.content, impu).toContain('communication-diversion');
  }
}

async function countPrivateIdentities(subscribers: SubscriberStore): Promise<number> {
  let count = 0;
  let after: string | undefined;
  do {
    const page = await subscribers.listPrivateIdentities(after === undefined ? { limit: 1000 } : { after, limit: 1000 });
    count += page.items.length;
    after = page.next;
  } while (after !== undefined);
  return count;
}

describe('tidewater subscriber import into the data folder', () => {
  it('imports every good line with its HA1s, iFC and simservs, reports bad lines by number, and prints progress and the rate', async () => {
    const dataDir = tempDataDir();
    const { file, badLines, numbers } = csvFile(6501000000);
    const result = await tidewater(['subscriber', 'import', file, '--data-dir', dataDir, '--progress-every', '1000']);
    expectBadLinesReported(result, badLines);
    expect(result.stdout).toMatch(/^1000 rows: created \d+, skipped 0, failed \d+ \(\d+ rows\/s\)$/m);
    expect(result.stdout).toMatch(/^2000 rows: /m);
    expect(summaryOf(result)).toEqual({ created: GOOD_ROWS, skipped: 0, failed: 4 });

    const stores = openSqliteStores({ path: path.join(dataDir, 'tidewater.sqlite') });
    try {
      await expectProvisioned(stores.subscribers, stores.documents, numbers);
      expect(await countPrivateIdentities(stores.subscribers)).toBe(GOOD_ROWS);
    } finally {
      stores.close();
    }

    const again = await tidewater(['subscriber', 'import', file, '--data-dir', dataDir]);
    expectBadLinesReported(again, badLines);
    expect(summaryOf(again)).toEqual({ created: 0, skipped: GOOD_ROWS, failed: 4 });
  });

  it('fails a line whose identity belongs to another subscriber, importing the rest', async () => {
    const dataDir = tempDataDir();
    expect((await tidewater(['subscriber', 'add', '6502000001', '--password', 'x', '--also', 'tel:+16502000009', '--data-dir', dataDir])).code).toBe(0);
    const file = path.join(path.dirname(dataDir), 'subscribers.csv');
    writeFileSync(file, '6502000002,pw-a\n6502000003,pw-b,tel:+16502000009\n6502000004,pw-c\n');
    const result = await tidewater(['subscriber', 'import', file, '--data-dir', dataDir]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^line 2: sip:6502000003@example\.com: .*tel:\+16502000009/m);
    expect(summaryOf(result)).toEqual({ created: 2, skipped: 0, failed: 1 });
    const shown = await tidewater(['subscriber', 'show', '6502000004', '--data-dir', dataDir]);
    expect(shown.stdout).toMatch(/credentials: +6502000004@example\.com: Digest HA1/);
    expect((await tidewater(['subscriber', 'show', '6502000003', '--data-dir', dataDir])).stderr).toContain('no subscriber sip:6502000003@example.com');
  });

  it('says so when the file cannot be read', async () => {
    const result = await tidewater(['subscriber', 'import', '/nonexistent/subscribers.csv', '--data-dir', tempDataDir()]);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe('tidewater: cannot read /nonexistent/subscribers.csv: no such file\n');
  });
});

describe('tidewater subscriber import into PostgreSQL', () => {
  let server: PostgresServer;
  let database: TestDatabase;
  let redis: RedisEndpoint;
  const prefix = testPrefix();

  beforeAll(async () => {
    server = await ensurePostgres();
    database = await createTestDatabase(server);
    redis = await ensureRedis();
  }, 60_000);
  afterAll(async () => {
    await database?.drop();
    await server?.stop();
    if (redis) {
      const client = new Redis(redis.url);
      await deleteKeys(client, prefix);
      client.disconnect();
      await redis.dispose();
    }
  });

  it('refuses a database that was not migrated, naming postgresUrl and tidewater migrate', async () => {
    const { file } = csvFile(6503000000);
    const result = await tidewater(['subscriber', 'import', file, '--postgres-url', database.url, '--data-dir', tempDataDir()]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^tidewater: postgresUrl: cannot use the PostgreSQL database at 127\.0\.0\.1:\d+\/tw_test_\w+: .*tidewater migrate/);
  });

  it('imports after tidewater migrate, idempotently, and an imported subscriber registers with SIPp against an all-in-one on PostgreSQL and Redis', async () => {
    requireTool('sipp', 'sip-tester');
    const migrated = await tidewater(['migrate', '--postgres-url', database.url]);
    expect(migrated.code, migrated.stderr).toBe(0);
    const { file, badLines, numbers } = csvFile(6504000000);
    const dataDir = tempDataDir();
    const args = ['subscriber', 'import', file, '--postgres-url', database.url, '--data-dir', dataDir];
    const result = await tidewater([...args, '--progress-every', '1000']);
    expectBadLinesReported(result, badLines);
    expect(result.stdout).toMatch(/^importing subscribers\.csv into the PostgreSQL database at 127\.0\.0\.1:\d+\/tw_test_\w+$/m);
    expect(result.stdout).toMatch(/^2000 rows: created \d+, skipped 0, failed \d+ \(\d+ rows\/s\)$/m);
    expect(summaryOf(result)).toEqual({ created: GOOD_ROWS, skipped: 0, failed: 4 });

    const stores = await openPostgresStores(database.url);
    try {
      await expectProvisioned(stores.subscribers, stores.documents, numbers);
      expect(await countPrivateIdentities(stores.subscribers)).toBe(GOOD_ROWS);
    } finally {
      await stores.close();
    }
    const again = await tidewater(args);
    expect(summaryOf(again)).toEqual({ created: 0, skipped: GOOD_ROWS, failed: 4 });

    const core = await startAllInOne({ config: { postgresUrl: database.url, redisUrl: redis.url, redisPrefix: prefix } });
    try {
      const user = { number: numbers[2]!, password: `pw-${numbers[2]}` };
      const registered = await runImsSipp(core, user, 'ims-register');
      expect(registered.exitCode, `${registered.log}\n${registered.errors.slice(-2000)}\n${core.output().slice(-2000)}`).toBe(0);
      const shown = await core.showSubscriber(`sip:${user.number}@${DOMAIN}`);
      expect(shown).toMatch(/registration state: +REGISTERED/);
      expect(shown).toMatch(new RegExp(`contact: +sip:${user.number}@${DOMAIN} -> sip:`));
    } finally {
      await core.dispose();
    }
  }, 120_000);
});
