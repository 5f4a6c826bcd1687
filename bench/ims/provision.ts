/**
 * Bulk provisioning of the benchmark subscribers straight into an all-in-one's SQLite file
 * (`<dataDir>/tidewater.sqlite`), through the same store the `tidewater subscriber` commands
 * use: one `addSubscriber` per user (IMPI with MD5 and SHA-256 HA1 for realm example.com, an
 * implicit set with one IMPU and the default iFC of a new number), a few thousand per transaction. Run it while no server has the
 * file open.
 *
 *   tsx bench/ims/provision.ts --data-dir DIR --count 100000 [--from 0]
 */
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { newServiceProfile } from '../../src/portal/subscribers.js';
import { computeHa1 } from '../../src/sip/auth/index.js';
import { openSqliteStores } from '../../src/storage/sqlite/index.js';
import type { NewSubscriber } from '../../src/storage/subscriber-store.js';
import { benchUser, DOMAIN, type BenchUser } from './users.js';

/** The all-in-one's database file in its data folder. */
export const DATABASE_FILE = 'tidewater.sqlite';
const BATCH = 5000;

function subscriberOf(u: BenchUser): NewSubscriber {
  return {
    privateIdentity: {
      impi: u.impi,
      digest: [
        { realm: DOMAIN, algorithm: 'MD5', ha1: computeHa1('MD5', u.impi, DOMAIN, u.password) },
        { realm: DOMAIN, algorithm: 'SHA-256', ha1: computeHa1('SHA-256', u.impi, DOMAIN, u.password) },
      ],
    },
    // the profile `tidewater subscriber add` and the portal write: with the default iFC, calls pass the MMTel AS
    implicitSet: { id: u.impu, serviceProfile: newServiceProfile([u.impu], `mmtel.${DOMAIN}`) },
    publicIdentities: [{ impu: u.impu }],
  };
}

/** Adds users `from` .. `from + count - 1` to the all-in-one database in `dataDir` (created if missing). */
export async function provisionTidewater(dataDir: string, from: number, count: number): Promise<void> {
  mkdirSync(dataDir, { recursive: true });
  const stores = openSqliteStores({ path: join(dataDir, DATABASE_FILE) });
  try {
    const batch = stores.database.connection.transaction((start: number, end: number) => {
      // addSubscriber does its writes before its first await: they all land in this transaction
      const pending: Promise<void>[] = [];
      for (let i = start; i < end; i++) pending.push(stores.subscribers.addSubscriber(subscriberOf(benchUser(i))));
      return pending;
    });
    for (let start = from; start < from + count; start += BATCH) {
      await Promise.all(batch(start, Math.min(start + BATCH, from + count)));
    }
  } finally {
    stores.close();
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { 'data-dir': { type: 'string' }, count: { type: 'string' }, from: { type: 'string', default: '0' } },
  });
  const count = Number(values.count);
  const from = Number(values.from);
  if (values['data-dir'] === undefined || !Number.isInteger(count) || count < 1 || !Number.isInteger(from) || from < 0) {
    console.error('usage: tsx bench/ims/provision.ts --data-dir DIR --count N [--from I]');
    process.exit(2);
  }
  const t0 = Date.now();
  await provisionTidewater(values['data-dir'], from, count);
  console.log(`provisioned ${count} subscribers (${benchUser(from).impi} ..) in ${values['data-dir']} in ${Date.now() - t0} ms`);
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await main();
