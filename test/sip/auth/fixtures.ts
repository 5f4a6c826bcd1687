// Reads the shared test data in place (see /work/shared/fixtures/README.md).
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { fixturesDir as sharedFixturesDir } from '../../harness/fixtures.js';

/** Environment variable naming the shared fixture directory. */
export const FIXTURES_ENV = 'TIDEWATER_FIXTURES';

/** $TIDEWATER_FIXTURES, else <repo root>/../shared/fixtures. */
export const fixturesDir = sharedFixturesDir();

export type Fixture<T> = { ok: true; data: T } | { ok: false; message: string };

/**
 * Loads a JSON fixture. A missing directory yields `{ ok: false }` with a message naming
 * the variable, so the calling test file can fail one test plainly; a missing or broken
 * file in an existing directory throws.
 */
export async function loadFixture<T>(name: string): Promise<Fixture<T>> {
  const present = await stat(fixturesDir).then((s) => s.isDirectory(), () => false);
  if (!present) {
    return {
      ok: false,
      message:
        `shared fixtures not found at ${fixturesDir}: set ${FIXTURES_ENV} to the directory ` +
        `holding ${name} (CI always provides it)`,
    };
  }
  return { ok: true, data: JSON.parse(await readFile(path.join(fixturesDir, name), 'utf8')) as T };
}

/** Hex string to Buffer. */
export const hex = (value: string): Buffer => Buffer.from(value, 'hex');

/** One MILENAGE test set as stored in milenage-ts3520{7,8}.json. */
export interface MilenageSet {
  set: number;
  k: string;
  rand: string;
  sqn: string;
  amf: string;
  op: string;
  opc: string;
  f1: string;
  f1star: string;
  f2: string;
  f3: string;
  f4: string;
  f5: string;
  f5star: string;
}

/** 3GPP TS 35.208 §4.3 test set 1, written out so a clone without shared/ still tests. */
export const TS35208_SET1: MilenageSet = {
  set: 1,
  k: '465b5ce8b199b49faa5f0a2ee238a6bc',
  rand: '23553cbe9637a89d218ae64dae47bf35',
  sqn: 'ff9bb4d0b607',
  amf: 'b9b9',
  op: 'cdc202d5123e20f62b6d676ac72cb318',
  opc: 'cd63cb71954a9f4e48a5994e37a02baf',
  f1: '4a9ffac354dfafb3',
  f1star: '01cfaf9ec4e871e9',
  f2: 'a54211d5e3ba50bf',
  f3: 'b40ba9a3c58b2a05bbf0d987b21bf8cb',
  f4: 'f769bcd751044604127672711c6d3441',
  f5: 'aa689c648370',
  f5star: '451e8beca43b',
};
