import { describe, it, expect } from 'vitest';
import { NonceManager } from '../../../src/sip/auth/nonce.js';
import { MemoryNonceCountStore } from '../../../src/sip/auth/nonce-count.js';
import { FakeClock } from '../../harness/fake-clock.js';

const KEY = Buffer.from('00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff', 'hex');
const OTHER_KEY = Buffer.alloc(32, 7);
const BASE64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

function setup(options: { lifetimeSeconds?: number } = {}): { clock: FakeClock; nonces: NonceManager } {
  const clock = new FakeClock();
  clock.advance(1_700_000_000_000);
  return { clock, nonces: new NonceManager({ key: KEY, clock, ...options }) };
}

describe('NonceManager', () => {
  it('issues distinct 48-character base64url nonces that verify as valid', () => {
    const { nonces } = setup();
    const a = nonces.issue();
    const b = nonces.issue();
    expect(a).toMatch(/^[A-Za-z0-9_-]{48}$/);
    expect(a).not.toBe(b);
    expect(nonces.verify(a)).toBe('valid');
    expect(nonces.verify(b)).toBe('valid');
  });

  it('turns stale once the default 300 s lifetime has passed', () => {
    const { clock, nonces } = setup();
    const nonce = nonces.issue();
    clock.advance(299_999);
    expect(nonces.verify(nonce)).toBe('valid');
    expect(nonces.inspect(nonce).remainingMs).toBe(1);
    clock.advance(1);
    expect(nonces.verify(nonce)).toBe('stale');
    clock.advance(86_400_000);
    expect(nonces.verify(nonce)).toBe('stale');
  });

  it('honours a configured lifetime', () => {
    const { clock, nonces } = setup({ lifetimeSeconds: 30 });
    const nonce = nonces.issue();
    clock.advance(29_000);
    expect(nonces.verify(nonce)).toBe('valid');
    clock.advance(1_000);
    expect(nonces.verify(nonce)).toBe('stale');
  });

  it('verifies a nonce issued by another node holding the same key', () => {
    const clock = new FakeClock();
    const nodeA = new NonceManager({ key: KEY, clock });
    const nodeB = new NonceManager({ key: Buffer.from(KEY), clock });
    expect(nodeB.verify(nodeA.issue())).toBe('valid');
  });

  it('calls any single-character change invalid, wherever it is', () => {
    const { nonces } = setup();
    const nonce = nonces.issue();
    for (let i = 0; i < nonce.length; i++) {
      const replacement = BASE64URL[(BASE64URL.indexOf(nonce[i]!) + 1) % 64];
      const tampered = nonce.slice(0, i) + replacement + nonce.slice(i + 1);
      expect(nonces.verify(tampered), `position ${i}`).toBe('invalid');
    }
  });

  it('calls a nonce from a manager with another key invalid', () => {
    const { clock, nonces } = setup();
    const foreign = new NonceManager({ key: OTHER_KEY, clock });
    expect(nonces.verify(foreign.issue())).toBe('invalid');
  });

  it('accepts nonces of a retired key listed in previousKeys', () => {
    const clock = new FakeClock();
    const old = new NonceManager({ key: OTHER_KEY, clock });
    const rotated = new NonceManager({ key: KEY, clock, previousKeys: [OTHER_KEY] });
    expect(rotated.verify(old.issue())).toBe('valid');
    expect(old.verify(rotated.issue())).toBe('invalid');
  });

  it.each([
    ['empty', ''],
    ['short', 'abc'],
    ['one character too long', 'A'.repeat(49)],
    ['standard base64 characters', '+/'.repeat(24)],
    ['padding', `${'A'.repeat(46)}==`],
    ['right length, random content', 'A'.repeat(48)],
  ])('calls a garbled nonce invalid (%s)', (_, value) => {
    expect(setup().nonces.verify(value)).toBe('invalid');
  });

  it('accepts small clock skew between nodes and calls a nonce far in the future stale', () => {
    const ahead = new FakeClock();
    const behind = new FakeClock();
    ahead.advance(1_000_000);
    behind.advance(1_000_000 - 5_000);
    const issuer = new NonceManager({ key: KEY, clock: ahead });
    const verifier = new NonceManager({ key: KEY, clock: behind, maxClockSkewMs: 10_000 });
    expect(verifier.verify(issuer.issue())).toBe('valid');
    ahead.advance(60_000);
    expect(verifier.verify(issuer.issue())).toBe('stale');
  });

  it('calls a nonce issued before issuedNotBefore stale (its counts were forgotten), and later ones valid', () => {
    const { clock, nonces: before } = setup();
    const old = before.issue();
    clock.advance(1000);
    const restarted = new NonceManager({ key: KEY, clock, issuedNotBefore: clock.now() });
    expect(before.verify(old)).toBe('valid');
    expect(restarted.verify(old)).toBe('stale');
    const fresh = restarted.issue();
    expect(restarted.verify(fresh)).toBe('valid');
    clock.advance(1);
    expect(restarted.verify(fresh)).toBe('valid');
  });

  it('refuses keys shorter than 16 bytes and non-positive lifetimes', () => {
    const clock = new FakeClock();
    expect(() => new NonceManager({ key: Buffer.alloc(15), clock })).toThrow(RangeError);
    expect(() => new NonceManager({ key: KEY, clock, lifetimeSeconds: 0 })).toThrow(RangeError);
    expect(() => new NonceManager({ key: KEY, clock, previousKeys: [Buffer.alloc(4)] })).toThrow(RangeError);
  });
});

describe('MemoryNonceCountStore', () => {
  it('accepts increasing counts and refuses a replayed or lower one', () => {
    const store = new MemoryNonceCountStore({ clock: new FakeClock() });
    expect(store.checkAndAdvance('n1', 1)).toBe(true);
    expect(store.checkAndAdvance('n1', 1)).toBe(false);
    expect(store.checkAndAdvance('n1', 2)).toBe(true);
    expect(store.checkAndAdvance('n1', 5)).toBe(true);
    expect(store.checkAndAdvance('n1', 4)).toBe(false);
    expect(store.checkAndAdvance('n1', 5)).toBe(false);
    expect(store.checkAndAdvance('n1', 6)).toBe(true);
  });

  it('keeps counts per nonce and refuses nc 0', () => {
    const store = new MemoryNonceCountStore({ clock: new FakeClock() });
    expect(store.checkAndAdvance('n1', 0)).toBe(false);
    expect(store.checkAndAdvance('n1', 3)).toBe(true);
    expect(store.checkAndAdvance('n2', 1)).toBe(true);
    expect(store.checkAndAdvance('n2', 2)).toBe(true);
    expect(store.checkAndAdvance('n1', 3)).toBe(false);
  });

  it('stays within maxEntries under many nonces', () => {
    const clock = new FakeClock();
    const store = new MemoryNonceCountStore({ clock, maxEntries: 100 });
    let largest = 0;
    let accepted = 0;
    for (let i = 0; i < 10_000; i++) {
      clock.advance(1);
      if (store.checkAndAdvance(`nonce-${i}`, 1, 300_000)) accepted++;
      largest = Math.max(largest, store.size);
    }
    expect(accepted).toBe(10_000);
    expect(largest).toBe(100);
    expect(store.checkAndAdvance('nonce-9999', 1, 300_000)).toBe(false);
  });

  it('forgets nonces once they have expired', () => {
    const clock = new FakeClock();
    const store = new MemoryNonceCountStore({ clock });
    for (let i = 0; i < 50; i++) store.checkAndAdvance(`n${i}`, 1, 1_000);
    expect(store.size).toBe(50);
    clock.advance(1_000);
    store.checkAndAdvance('late', 1, 1_000);
    expect(store.size).toBe(1);
  });

  it('keeps refusing replays of live nonces while old ones expire in large numbers', () => {
    const clock = new FakeClock();
    const store = new MemoryNonceCountStore({ clock });
    for (let i = 0; i < 5_000; i++) {
      expect(store.checkAndAdvance(`n${i}`, 1, 1_000)).toBe(true);
      clock.advance(1);
    }
    // nonces older than a second (plus the at most one second the store waits between looks) are gone
    expect(store.size).toBeLessThanOrEqual(2_000);
    expect(store.checkAndAdvance('n4999', 1, 1_000)).toBe(false);
    expect(store.checkAndAdvance('n4999', 2, 1_000)).toBe(true);
    expect(store.checkAndAdvance('n4500', 1, 1_000)).toBe(false);
  });

  it('refuses a nonce evicted for room rather than accepting its replay', () => {
    const clock = new FakeClock();
    const store = new MemoryNonceCountStore({ clock, maxEntries: 2 });
    expect(store.checkAndAdvance('a', 1, 300_000)).toBe(true);
    clock.advance(1);
    expect(store.checkAndAdvance('b', 1, 300_000)).toBe(true);
    clock.advance(1);
    expect(store.checkAndAdvance('c', 1, 300_000)).toBe(true);
    clock.advance(1);
    expect(store.checkAndAdvance('a', 1, 300_000 - 3)).toBe(false);
    clock.advance(10);
    expect(store.checkAndAdvance('d', 1, 300_000)).toBe(true);
  });
});
