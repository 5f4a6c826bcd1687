import { describe, expect, it } from 'vitest';
import type { Hss, LocationInfo, ServerAssignmentType } from '../../src/ims/hss.js';
import { CachedHss } from '../../src/ims/hss-cache.js';

/** An HSS that counts the questions it is asked. */
function countingHss() {
  const asked: string[] = [];
  let state: LocationInfo['state'] = 'NOT_REGISTERED';
  let failNext = false;
  const hss: Hss = {
    async userAuthorization(impi, impu) {
      asked.push(`uar ${impi} ${impu}`);
      return { ok: true };
    },
    async authVector(impi) {
      asked.push(`mar ${impi}`);
      if (failNext) {
        failNext = false;
        throw new Error('database busy');
      }
      return { ok: true, impi, digest: [] };
    },
    async serverAssignment(impu, type: ServerAssignmentType) {
      asked.push(`sar ${type}`);
      state = type === 'REGISTRATION' || type === 'RE_REGISTRATION' ? 'REGISTERED' : 'NOT_REGISTERED';
      return { implicitSet: { id: 's', serviceProfile: '', members: [{ impu, implicitSetId: 's', barred: false }] } };
    },
    async locationInfo(impu) {
      asked.push(`lir ${impu}`);
      return { state, defaultImpu: impu, barred: false };
    },
    async implicitSetOf() {
      return undefined;
    },
  };
  return { hss, asked, failOnce: () => (failNext = true) };
}

describe('the HSS cache', () => {
  it('answers a repeated question from memory until the answer is older than the TTL', async () => {
    let now = 0;
    const { hss, asked } = countingHss();
    const cache = new CachedHss(hss, { ttlMs: 1000, now: () => now });
    await cache.authVector('a@x', 'sip:a@x');
    await cache.authVector('a@x', 'sip:a@x');
    expect(asked).toEqual(['mar a@x']);
    now = 1001;
    await cache.authVector('a@x', 'sip:a@x');
    expect(asked).toEqual(['mar a@x', 'mar a@x']);
  });

  it('drops the expired answers while new questions come in, without waiting for the sweep', async () => {
    let now = 0;
    const { hss } = countingHss();
    const cache = new CachedHss(hss, { ttlMs: 1000, now: () => now });
    for (let i = 0; i < 100; i++) await cache.authVector(`u${i}@x`, `sip:u${i}@x`);
    now = 500;
    await cache.authVector('v@x', 'sip:v@x');
    expect(cache.entries).toBe(101);
    now = 1001;
    await cache.authVector('w@x', 'sip:w@x');
    expect(cache.entries).toBe(2);
  });

  it('lets expired answers go by itself once lookups stop, so an idle node keeps none', async () => {
    const { hss } = countingHss();
    const cache = new CachedHss(hss, { ttlMs: 50 });
    for (let i = 0; i < 100; i++) await cache.authVector(`u${i}@x`, `sip:u${i}@x`);
    expect(cache.entries).toBe(100);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(cache.entries).toBe(0);
  });

  it('sees the registration state it changed itself at once', async () => {
    const { hss } = countingHss();
    const cache = new CachedHss(hss, { ttlMs: 60_000 });
    expect((await cache.locationInfo('sip:a@x'))?.state).toBe('NOT_REGISTERED');
    await cache.serverAssignment('sip:a@x', 'REGISTRATION', 'sip:scscf.x');
    expect((await cache.locationInfo('sip:a@x'))?.state).toBe('REGISTERED');
    await cache.serverAssignment('sip:a@x', 'USER_DEREGISTRATION', 'sip:scscf.x');
    expect((await cache.locationInfo('sip:a@x'))?.state).toBe('NOT_REGISTERED');
  });

  it('answers a re-registration from the last assignment without writing to the HSS', async () => {
    const { hss, asked } = countingHss();
    const cache = new CachedHss(hss, { ttlMs: 60_000 });
    await cache.serverAssignment('sip:a@x', 'REGISTRATION', 'sip:scscf.x');
    await cache.serverAssignment('sip:a@x', 'RE_REGISTRATION', 'sip:scscf.x');
    await cache.serverAssignment('sip:a@x', 'RE_REGISTRATION', 'sip:scscf.x');
    expect(asked.filter((q) => q.startsWith('sar'))).toEqual(['sar REGISTRATION']);
  });

  it('does not remember a failed lookup', async () => {
    const { hss, asked, failOnce } = countingHss();
    const cache = new CachedHss(hss);
    failOnce();
    await expect(cache.authVector('a@x', 'sip:a@x')).rejects.toThrow('busy');
    expect((await cache.authVector('a@x', 'sip:a@x')).ok).toBe(true);
    expect(asked).toEqual(['mar a@x', 'mar a@x']);
  });

  it('keeps at most maxEntries answers', async () => {
    const { hss, asked } = countingHss();
    const cache = new CachedHss(hss, { maxEntries: 2 });
    for (const u of ['a', 'b', 'c']) await cache.authVector(`${u}@x`, `sip:${u}@x`);
    await cache.authVector('a@x', 'sip:a@x');
    expect(asked).toEqual(['mar a@x', 'mar b@x', 'mar c@x', 'mar a@x']);
  });
});
