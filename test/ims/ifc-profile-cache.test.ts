/**
 * The S-CSCF reads a served user's service profile (its iFCs) on every initial request: the HSS
 * cache keeps implicit sets as it keeps the other answers, refreshed by the node's own SAR.
 */
import { describe, expect, it } from 'vitest';
import type { Hss } from '../../src/ims/hss.js';
import { CachedHss } from '../../src/ims/hss-cache.js';
import type { ImplicitSet } from '../../src/storage/index.js';

function countingHss() {
  const asked: string[] = [];
  let profile = '<ServiceProfile>v1</ServiceProfile>';
  const set = (impu: string): ImplicitSet => ({ id: 's', serviceProfile: profile, members: [{ impu, implicitSetId: 's', barred: false }] });
  const hss: Hss = {
    userAuthorization: async () => ({ ok: true }),
    authVector: async (impi) => ({ ok: true, impi, digest: [] }),
    serverAssignment: async (impu) => {
      asked.push(`sar ${impu}`);
      return { implicitSet: set(impu) };
    },
    locationInfo: async (impu) => ({ state: 'REGISTERED', defaultImpu: impu, barred: false }),
    implicitSetOf: async (impu) => {
      asked.push(`set ${impu}`);
      return set(impu);
    },
  };
  return { hss, asked, change: (p: string) => (profile = p) };
}

describe('the HSS cache and service profiles', () => {
  it('answers repeated profile lookups from memory for the TTL, then asks again', async () => {
    let now = 0;
    const { hss, asked, change } = countingHss();
    const cache = new CachedHss(hss, { ttlMs: 1000, now: () => now });
    expect((await cache.implicitSetOf('sip:a@x'))?.serviceProfile).toContain('v1');
    change('<ServiceProfile>v2</ServiceProfile>');
    expect((await cache.implicitSetOf('sip:a@x'))?.serviceProfile).toContain('v1');
    expect(asked).toEqual(['set sip:a@x']);
    now = 1001;
    expect((await cache.implicitSetOf('sip:a@x'))?.serviceProfile).toContain('v2');
  });

  it('takes the set a registration downloaded (SAR) and forgets it on request', async () => {
    const { hss, asked, change } = countingHss();
    const cache = new CachedHss(hss, { ttlMs: 60_000 });
    await cache.serverAssignment('sip:a@x', 'REGISTRATION', 'sip:scscf.x');
    await cache.implicitSetOf('sip:a@x');
    expect(asked).toEqual(['sar sip:a@x']);
    change('<ServiceProfile>v2</ServiceProfile>');
    cache.forget('a@x', 'sip:a@x');
    expect((await cache.implicitSetOf('sip:a@x'))?.serviceProfile).toContain('v2');
  });
});
