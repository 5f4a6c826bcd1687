import { existsSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/**
 * The shared test data (RFC 4475/5118 torture messages, Milenage and Digest vectors), read in
 * place: TIDEWATER_FIXTURES, or ../shared/fixtures beside the repository.
 */
export function fixturesDir(): string {
  return process.env.TIDEWATER_FIXTURES ?? path.resolve(repoRoot, '../shared/fixtures');
}

/** Throws a plain explanation when the shared fixtures are not where the tests look for them. */
export function requireFixtures(sub = ''): string {
  const dir = path.join(fixturesDir(), sub);
  if (!existsSync(dir)) {
    throw new Error(
      `shared fixtures not found at ${dir}: set TIDEWATER_FIXTURES to the fixtures folder ` +
        '(CI provides ../shared/fixtures beside the repository)',
    );
  }
  return dir;
}

export function fixturesPresent(sub = ''): boolean {
  return existsSync(path.join(fixturesDir(), sub));
}

export function readFixture(sub: string, name: string): Buffer {
  return readFileSync(path.join(requireFixtures(sub), name));
}

export function listFixtures(sub: string, ext = '.dat'): string[] {
  return readdirSync(requireFixtures(sub))
    .filter((f) => f.endsWith(ext))
    .sort();
}
