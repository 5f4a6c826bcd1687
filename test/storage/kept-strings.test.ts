import { describe, expect, it } from 'vitest';
import { ownString, StringPool } from '../../src/storage/kept-strings.js';
import { MemoryRegistrationStore } from '../../src/storage/memory/index.js';
import type { Binding } from '../../src/storage/index.js';

const MESSAGE = 'REGISTER sip:example.com SIP/2.0\r\nContact: <sip:6505550001@192.0.2.10:5062;transport=udp>\r\n\r\n';

describe('ownString', () => {
  it('copies a substring of a message to an equal string', () => {
    const start = MESSAGE.indexOf('<') + 1;
    const contact = MESSAGE.slice(start, MESSAGE.indexOf('>'));
    expect(ownString(contact)).toBe('sip:6505550001@192.0.2.10:5062;transport=udp');
    expect(ownString('sip:' + contact.slice(4, 14) + '@example.com')).toBe('sip:6505550001@example.com');
  });

  it('keeps characters beyond latin1 and lone surrogates as they are', () => {
    for (const s of ['Jürgen’s phone, ☎ 6505550001', '\ud800 lone surrogate, long enough', 'short', '']) {
      expect(ownString(s)).toBe(s);
    }
  });
});

describe('StringPool', () => {
  it('hands out one copy of equal values', () => {
    const pool = new StringPool();
    const a = pool.string(MESSAGE.slice(10, 30));
    const b = pool.string(MESSAGE.slice(10, 30));
    expect(a).toBe(MESSAGE.slice(10, 30));
    expect(Object.is(a, b)).toBe(true);
  });

  it('hands out one frozen copy of equal lists, and the empty list', () => {
    const pool = new StringPool();
    const first = pool.list(['<sip:scscf.example.com;lr>', '<sip:as.example.com;lr>']);
    const second = pool.list(['<sip:scscf.example.com;lr>', '<sip:as.example.com;lr>']);
    expect(second).toBe(first);
    expect(first).toEqual(['<sip:scscf.example.com;lr>', '<sip:as.example.com;lr>']);
    expect(Object.isFrozen(first)).toBe(true);
    // Same values in another order: another list.
    expect(pool.list(['<sip:as.example.com;lr>', '<sip:scscf.example.com;lr>'])).not.toBe(first);
    expect(pool.list([])).toEqual([]);
  });

  it('starts over once it holds its most values, and still answers right', () => {
    const pool = new StringPool(100);
    const lists = Array.from({ length: 250 }, (_, i) => [`<sip:edge-${i}.example.com;lr>`]);
    const firstCopies = lists.map((l) => pool.list(l));
    // The last ones are still pooled; the first were dropped when it started over.
    expect(pool.list(lists[249]!)).toBe(firstCopies[249]);
    expect(pool.list(lists[0]!)).not.toBe(firstCopies[0]);
    lists.forEach((l) => expect(pool.list(l)).toEqual(l));
    for (let i = 0; i < 250; i++) expect(pool.string(`value number ${i}, long enough to be a view`)).toBe(`value number ${i}, long enough to be a view`);
  });
});

describe('bindings as stored', () => {
  it('keep their own values where some are pooled and some are not', async () => {
    const store = new MemoryRegistrationStore();
    const binding = (n: number): Binding => ({
      contact: `sip:65055500${n}@192.0.2.10:5062`,
      path: [`<sip:${'flowtoken'.repeat(3)}@pcscf.example.com;lr>`],
      expiresAt: 2_000_000_000_000,
      callId: `call-${n}-${'x'.repeat(20)}`,
      cseq: 1,
      registeredAt: 1_000_000_000_000,
      flowId: `flow-${'y'.repeat(20)}`,
      userAgent: n === 10 ? 'Tidewater test phone 1.0' : 'Tidewater test phone 2.0',
      receivedFrom: { address: '2001:db8::1234:5678:9abc', port: 5062, transport: 'UDP' },
    });
    expect((await store.put('sip:6505550010@example.com', { bindings: [binding(10)] }, 0)).ok).toBe(true);
    expect((await store.put('sip:6505550011@example.com', { bindings: [binding(11)] }, 0)).ok).toBe(true);
    const [a, b] = await Promise.all([store.get('sip:6505550010@example.com'), store.get('sip:6505550011@example.com')]);
    const [x, y] = [a!.bindings[0]!, b!.bindings[0]!];
    expect(x.contact).toBe('sip:6505550010@192.0.2.10:5062');
    expect(y.callId).toBe(`call-11-${'x'.repeat(20)}`);
    expect(x.path).toEqual(y.path);
    expect([x.userAgent, y.userAgent]).toEqual(['Tidewater test phone 1.0', 'Tidewater test phone 2.0']);
    expect(x.receivedFrom).toEqual({ address: '2001:db8::1234:5678:9abc', port: 5062, transport: 'UDP' });
  });
});
