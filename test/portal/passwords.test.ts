/** Portal password hashing (scrypt), secret comparison and the login/signup rate limiter. */
import { describe, expect, it } from 'vitest';
import { generateSipPassword, hashPassword, secretEquals, verifyPassword } from '../../src/portal/passwords.js';
import { RateLimiter } from '../../src/portal/rate-limit.js';
import { PASSWORD_HASH_FORMAT } from '../../src/storage/index.js';

describe('portal passwords', () => {
  it('hashes with scrypt N=2^14 under a fresh salt each time, in the stored format', async () => {
    const a = await hashPassword('correct horse');
    const b = await hashPassword('correct horse');
    expect(a).toMatch(/^scrypt\$16384\$8\$1\$[A-Za-z0-9_-]{22}\$[A-Za-z0-9_-]{43}$/);
    expect(a).toMatch(PASSWORD_HASH_FORMAT);
    expect(a).not.toBe(b);
    expect(a).not.toContain('correct horse');
  });

  it('verifies the right password only, and refuses malformed or tampered hashes', async () => {
    const hash = await hashPassword('correct horse');
    expect(await verifyPassword('correct horse', hash)).toBe(true);
    expect(await verifyPassword('correct horsE', hash)).toBe(false);
    expect(await verifyPassword('correct horse', hash.replace('$16384$', '$1073741824$'))).toBe(false);
    expect(await verifyPassword('correct horse', 'md5$abc')).toBe(false);
    expect(await verifyPassword('correct horse', hash.slice(0, -4))).toBe(false);
  });

  it('compares secrets exactly, whatever their types and lengths', () => {
    expect(secretEquals('secret', 'secret')).toBe(true);
    expect(secretEquals('secreT', 'secret')).toBe(false);
    expect(secretEquals('secret-and-more', 'secret')).toBe(false);
    expect(secretEquals(undefined, 'secret')).toBe(false);
    expect(secretEquals(['secret'], 'secret')).toBe(false);
  });

  it('generates distinct 16-character base62 SIP passwords', () => {
    const seen = new Set(Array.from({ length: 200 }, generateSipPassword));
    expect(seen.size).toBe(200);
    for (const p of seen) expect(p).toMatch(/^[A-Za-z0-9]{16}$/);
  });
});

describe('rate limiter', () => {
  it('allows max attempts per window and key, then says how long to wait', () => {
    const clock = { now: 1000 };
    const limiter = new RateLimiter({ max: 2, windowMs: 10_000, now: () => clock.now });
    expect(limiter.take('a').ok).toBe(true);
    expect(limiter.take('a').ok).toBe(true);
    expect(limiter.take('b').ok).toBe(true);
    clock.now += 2500;
    expect(limiter.take('a')).toEqual({ ok: false, retryAfterSeconds: 8 });
    clock.now += 7500;
    expect(limiter.take('a').ok).toBe(true);
  });
});
