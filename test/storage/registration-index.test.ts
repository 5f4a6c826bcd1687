/** The in-process expiry index behind the memory and cached registration stores. */
import { describe, expect, it } from 'vitest';
import { RegistrationIndex } from '../../src/storage/memory/registration-index.js';
import { freezeBindings } from '../../src/storage/registration-records.js';
import { T0, binding } from './fixtures.js';

describe('RegistrationIndex', () => {
  it('stays bounded when bindings are refreshed many times, and still answers correctly', () => {
    const index = new RegistrationIndex();
    let version = 0;
    index.set('sip:bob@example.com', freezeBindings([binding({ expiresAt: T0 + 50 })]), ++version);
    for (let i = 0; i < 10_000; i++) {
      index.set('sip:alice@example.com', freezeBindings([binding({ expiresAt: T0 + 100 + (i % 7), cseq: i })]), ++version);
    }
    expect(index.expiryEntries).toBeLessThanOrEqual(2 * 2 + 1024 + 1);
    expect(index.expired(T0 + 200, 10).map((r) => [r.aor, r.binding.cseq])).toEqual([
      ['sip:bob@example.com', 1],
      ['sip:alice@example.com', 9999],
    ]);
    expect(index.nextExpiryAt()).toBe(T0 + 50);
    index.remove('sip:bob@example.com');
    expect(index.nextExpiryAt()).toBe(T0 + 100 + (9999 % 7));
  });

  it('ignores a record handed back at the version it already has', () => {
    const index = new RegistrationIndex();
    const bindings = freezeBindings([binding({ expiresAt: T0 + 1 })]);
    index.set('sip:alice@example.com', bindings, 5);
    index.set('sip:alice@example.com', bindings, 5);
    expect(index.expired(T0 + 1, 10)).toHaveLength(1);
    expect(index.counts()).toEqual({ aors: 1, bindings: 1 });
  });
});
