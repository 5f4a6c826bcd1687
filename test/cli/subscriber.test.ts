import Database from 'better-sqlite3';
import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { computeHa1 } from '../../src/sip/auth/index.js';
import { tempDataDir, tidewater } from './run-cli.js';

/** Every text or blob value stored in any table of the SQLite file. */
function storedValues(dataDir: string): string[] {
  const db = new Database(path.join(dataDir, 'tidewater.sqlite'), { readonly: true });
  try {
    const tables = db.prepare<[], { name: string }>("SELECT name FROM sqlite_master WHERE type = 'table'").all();
    return tables.flatMap(({ name }) =>
      db
        .prepare<[], Record<string, unknown>>(`SELECT * FROM "${name}"`)
        .all()
        .flatMap((row) => Object.values(row).map((v) => (Buffer.isBuffer(v) ? v.toString('latin1') : String(v)))),
    );
  } finally {
    db.close();
  }
}

function ha1Rows(dataDir: string): { impi: string; realm: string; algorithm: string; ha1: string }[] {
  const db = new Database(path.join(dataDir, 'tidewater.sqlite'), { readonly: true });
  try {
    return db.prepare<[], { impi: string; realm: string; algorithm: string; ha1: string }>('SELECT * FROM digest_credentials ORDER BY algorithm').all();
  } finally {
    db.close();
  }
}

describe('tidewater subscriber', () => {
  it('adds a number with a generated password shown once, storing only its HA1', async () => {
    const dataDir = tempDataDir();
    const added = await tidewater(['subscriber', 'add', '6505550001', '--data-dir', dataDir]);
    expect(added.stderr).toBe('');
    expect(added.code).toBe(0);
    expect(added.stdout).toContain('sip:6505550001@example.com');
    expect(added.stdout).toMatch(/username \(IMPI\): +6505550001@example\.com/);
    expect(added.stdout).toMatch(/domain and realm: +example\.com/);
    expect(added.stdout).toMatch(/outbound proxy: +\S+:5060/);
    const password = /password: +([A-Za-z0-9]{12,}) +\(generated/.exec(added.stdout)?.[1];
    expect(password).toBeDefined();

    const values = storedValues(dataDir);
    expect(values.some((v) => v.includes(password!))).toBe(false);
    expect(ha1Rows(dataDir)).toEqual([
      { impi: '6505550001@example.com', realm: 'example.com', algorithm: 'MD5', ha1: computeHa1('MD5', '6505550001@example.com', 'example.com', password!) },
      { impi: '6505550001@example.com', realm: 'example.com', algorithm: 'SHA-256', ha1: computeHa1('SHA-256', '6505550001@example.com', 'example.com', password!) },
    ]);
  });

  it('does not print a password it was given, and generates a different one each time', async () => {
    const dataDir = tempDataDir();
    const given = await tidewater(['subscriber', 'add', '6505550001', '--password', 'secret1', '--data-dir', dataDir]);
    expect(given.code).toBe(0);
    expect(given.stdout).not.toContain('secret1');
    expect(storedValues(dataDir).some((v) => v.includes('secret1'))).toBe(false);
    expect(ha1Rows(dataDir)[0]!.ha1).toBe(computeHa1('MD5', '6505550001@example.com', 'example.com', 'secret1'));

    const passwords = await Promise.all(
      ['6505550002', '6505550003'].map(async (n) => /password: +(\S+) +\(generated/.exec((await tidewater(['subscriber', 'add', n, '--data-dir', dataDir])).stdout)?.[1]),
    );
    expect(passwords[0]).toBeDefined();
    expect(passwords[0]).not.toBe(passwords[1]);
  });

  it('lists, shows and removes a subscriber with an implicit set of several identities', async () => {
    const dataDir = tempDataDir();
    const dir = ['--data-dir', dataDir];
    expect((await tidewater(['subscriber', 'add', 'sip:alice@example.com', '--password', 'pw-a', '--also', 'tel:+16505550002', '6505550003', ...dir])).code).toBe(0);
    expect((await tidewater(['subscriber', 'add', '6505550001', '--password', 'pw-b', ...dir])).code).toBe(0);

    const list = await tidewater(['subscriber', 'list', ...dir]);
    expect(list.code).toBe(0);
    const rows = list.stdout.trim().split('\n').map((line) => line.split(/\s+/));
    expect(rows).toEqual([
      ['IMPU', 'IMPI', 'STATE'],
      ['sip:6505550001@example.com', '6505550001@example.com', 'NOT_REGISTERED'],
      ['sip:6505550003@example.com', 'alice@example.com', 'NOT_REGISTERED'],
      ['sip:alice@example.com', 'alice@example.com', 'NOT_REGISTERED'],
      ['tel:+16505550002', 'alice@example.com', 'NOT_REGISTERED'],
    ]);

    const show = await tidewater(['subscriber', 'show', 'tel:+16505550002', ...dir]);
    expect(show.code).toBe(0);
    expect(show.stdout).toMatch(/username \(IMPI\): +alice@example\.com/);
    expect(show.stdout).toMatch(/^ {2}sip:alice@example\.com$/m);
    expect(show.stdout).toMatch(/^ {2}tel:\+16505550002$/m);
    expect(show.stdout).toMatch(/^ {2}sip:6505550003@example\.com$/m);
    expect(show.stdout).toMatch(/registration state: +NOT_REGISTERED/);
    expect(show.stdout).toMatch(/assigned S-CSCF: +-/);
    for (const { ha1 } of ha1Rows(dataDir)) expect(show.stdout).not.toContain(ha1);

    const removed = await tidewater(['subscriber', 'remove', 'alice', ...dir]);
    expect(removed.code).toBe(0);
    expect(removed.stdout).toContain('private identity alice@example.com');
    const after = await tidewater(['subscriber', 'list', ...dir]);
    expect(after.stdout.trim().split('\n').slice(1)).toEqual([expect.stringMatching(/^sip:6505550001@example\.com\s/)]);
    expect(ha1Rows(dataDir).map((r) => r.impi)).toEqual(['6505550001@example.com', '6505550001@example.com']);

    const gone = await tidewater(['subscriber', 'show', 'sip:alice@example.com', ...dir]);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toBe('tidewater: no subscriber sip:alice@example.com; see tidewater subscriber list\n');
  });

  it('refuses to add an existing subscriber or identity, changing nothing', async () => {
    const dataDir = tempDataDir();
    await tidewater(['subscriber', 'add', '6505550001', '--password', 'first', '--data-dir', dataDir]);
    const again = await tidewater(['subscriber', 'add', '6505550001', '--password', 'second', '--data-dir', dataDir]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/^tidewater: subscriber 6505550001@example\.com already exists/);
    const clash = await tidewater(['subscriber', 'add', '6505550009', '--also', '6505550001', '--data-dir', dataDir]);
    expect(clash.code).toBe(1);
    expect(clash.stderr).toMatch(/^tidewater: public identity sip:6505550001@example\.com already exists/);
    expect(ha1Rows(dataDir).map((r) => r.ha1)).toEqual([
      computeHa1('MD5', '6505550001@example.com', 'example.com', 'first'),
      computeHa1('SHA-256', '6505550001@example.com', 'example.com', 'first'),
    ]);
  });

  it('takes the domain and data folder from a config file, the environment or flags', async () => {
    const dataDir = tempDataDir();
    const file = path.join(path.dirname(dataDir), 'tw.yaml');
    writeFileSync(file, `domain: ims.test\ndataDir: ${JSON.stringify(dataDir)}\n`);
    const added = await tidewater(['subscriber', 'add', '6505550001', '--password', 'x', '--config', file]);
    expect(added.code).toBe(0);
    expect(ha1Rows(dataDir)[0]).toMatchObject({ impi: '6505550001@ims.test', realm: 'ims.test' });

    const viaEnv = await tidewater(['subscriber', 'list'], { TIDEWATER_DATA_DIR: dataDir, TIDEWATER_DOMAIN: 'ims.test' });
    expect(viaEnv.stdout).toContain('sip:6505550001@ims.test');
    const viaFlags = await tidewater(['subscriber', 'show', '6505550001', '--data-dir', dataDir, '--domain', 'ims.test']);
    expect(viaFlags.code).toBe(0);
    expect(viaFlags.stdout).toMatch(/username \(IMPI\): +6505550001@ims\.test/);
  });

  it('reads an empty data folder without creating anything in it', async () => {
    const dataDir = tempDataDir();
    const list = await tidewater(['subscriber', 'list', '--data-dir', dataDir]);
    expect(list.code).toBe(0);
    expect(list.stdout).toContain(`no subscribers in ${dataDir}`);
    const show = await tidewater(['subscriber', 'show', '6505550001', '--data-dir', dataDir]);
    expect(show.code).toBe(1);
    expect(existsSync(dataDir)).toBe(false);
  });

  it('says what a subscriber argument may be when it is none of them', async () => {
    const result = await tidewater(['subscriber', 'add', 'not valid', '--data-dir', tempDataDir()]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^tidewater: "not valid" is not a subscriber: give a number/);
  });
});
