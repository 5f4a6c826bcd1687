/**
 * The benchmark's subscribers: number 6505550000 + index @ example.com, IMPI `<number>@example.com`
 * (the Digest username), IMPU `sip:<number>@example.com`, a distinct password per user; and the
 * SIPp injection files built from them.
 */
import { createHash } from 'node:crypto';
import { writeFile } from 'node:fs/promises';

export const DOMAIN = 'example.com';
const FIRST_NUMBER = 6_505_550_000;

export interface BenchUser {
  readonly number: string;
  readonly impi: string;
  readonly impu: string;
  readonly password: string;
}

const sha1 = (s: string): string => createHash('sha1').update(s).digest('hex');
export const md5 = (s: string): string => createHash('md5').update(s).digest('hex');

/** User `index` (0-based). */
export function benchUser(index: number): BenchUser {
  const number = String(FIRST_NUMBER + index);
  return { number, impi: `${number}@${DOMAIN}`, impu: `sip:${number}@${DOMAIN}`, password: `pw${sha1(number).slice(0, 10)}` };
}

/** Users `from` .. `from + count - 1`. */
export function benchUsers(from: number, count: number): BenchUser[] {
  return Array.from({ length: count }, (_, i) => benchUser(from + i));
}

/** SIPp injection file for reg-auth.xml: `number;domain;impi;password`, read in order. */
export async function writeUsersCsv(file: string, users: readonly BenchUser[]): Promise<void> {
  const lines = users.map((u) => `${u.number};${DOMAIN};${u.impi};${u.password}`);
  await writeFile(file, `SEQUENTIAL\n${lines.join('\n')}\n`);
}

/** SIPp injection file for call-uac.xml: `caller;callee;domain`, caller[i] calls callee[i]. */
export async function writeCallsCsv(file: string, callers: readonly BenchUser[], callees: readonly BenchUser[]): Promise<void> {
  const lines = callers.map((a, i) => `${a.number};${callees[i % callees.length]?.number ?? ''};${DOMAIN}`);
  await writeFile(file, `SEQUENTIAL\n${lines.join('\n')}\n`);
}
