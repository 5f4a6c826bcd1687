import { describe, it, expect } from 'vitest';
import { orderSrv, type SrvRecord } from '../../../src/sip/resolver/index.js';
import { TtlCache } from '../../../src/sip/resolver/ttl-cache.js';
import { seeded } from '../../harness/random.js';

function srv(name: string, priority: number, weight: number): SrvRecord {
  return { name, priority, weight, port: 5060 };
}

/** Returns the given draws in turn. */
function scripted(...draws: number[]): () => number {
  let i = 0;
  return () => {
    if (i >= draws.length) throw new Error('random drawn more often than scripted');
    return draws[i++]!;
  };
}

const names = (rs: SrvRecord[]) => rs.map((r) => r.name);

describe('orderSrv (RFC 2782)', () => {
  it('puts lower priorities first whatever order DNS listed them in', () => {
    const out = orderSrv([srv('c', 30, 5), srv('a', 10, 5), srv('b', 20, 5)], seeded(1));
    expect(names(out)).toEqual(['a', 'b', 'c']);
  });

  it('picks within a priority by running weight sums against a draw in [0, sum]', () => {
    // Pool [zero, heavy, light] (zero weights first), running sums 0, 90, 100; draw = floor(r * 101).
    const records = [srv('heavy', 1, 90), srv('light', 1, 10), srv('zero', 1, 0)];
    // 0.5 -> 50 -> heavy; then [zero, light] sum 10: 0.5 -> 5 -> light; then zero.
    expect(names(orderSrv(records, scripted(0.5, 0.5, 0.5)))).toEqual(['heavy', 'light', 'zero']);
    // 0.95 -> 95 -> light; then [zero, heavy] sum 90: 0.99 -> 90 -> heavy; then zero.
    expect(names(orderSrv(records, scripted(0.95, 0.99, 0)))).toEqual(['light', 'heavy', 'zero']);
    // 0.9 -> 90 -> heavy (its running sum reaches 90 exactly); then 0.99 -> 10 -> light.
    expect(names(orderSrv(records, scripted(0.9, 0.99, 0)))).toEqual(['heavy', 'light', 'zero']);
  });

  it('selects a zero-weight record only when the draw is exactly 0', () => {
    const records = [srv('heavy', 1, 90), srv('zero', 1, 0)];
    expect(names(orderSrv(records, scripted(0, 0)))).toEqual(['zero', 'heavy']);
    expect(names(orderSrv(records, scripted(1 / 91, 0)))).toEqual(['heavy', 'zero']);
  });

  it('orders equal zero weights in their listed order', () => {
    const records = [srv('x', 1, 0), srv('y', 1, 0), srv('z', 1, 0)];
    expect(names(orderSrv(records, seeded(7)))).toEqual(['x', 'y', 'z']);
  });

  it('spreads first choices in proportion to weight over many draws', () => {
    const random = seeded(42);
    const records = [srv('a', 1, 60), srv('b', 1, 30), srv('c', 1, 10)];
    const firsts: Record<string, number> = { a: 0, b: 0, c: 0 };
    const runs = 20_000;
    for (let i = 0; i < runs; i++) firsts[orderSrv(records, random)[0]!.name]! += 1;
    expect(firsts.a! / runs).toBeCloseTo(0.6, 1);
    expect(firsts.b! / runs).toBeCloseTo(0.3, 1);
    expect(firsts.c! / runs).toBeCloseTo(0.1, 1);
  });

  it('keeps every record exactly once', () => {
    const records = [srv('a', 2, 1), srv('b', 1, 0), srv('c', 2, 0), srv('d', 1, 7), srv('e', 2, 3)];
    const out = orderSrv(records, seeded(3));
    expect(names(out).sort()).toEqual(['a', 'b', 'c', 'd', 'e']);
    expect(out.map((r) => r.priority)).toEqual([1, 1, 2, 2, 2]);
  });
});

describe('TtlCache', () => {
  it('expires an entry when its TTL has fully elapsed', () => {
    const cache = new TtlCache<string>(4);
    cache.set('k', 'v', 1000, 0);
    expect(cache.get('k', 999)).toBe('v');
    expect(cache.get('k', 1000)).toBeUndefined();
  });

  it('does not store an answer with a zero TTL', () => {
    const cache = new TtlCache<string>(4);
    cache.set('k', 'v', 0, 0);
    expect(cache.get('k', 0)).toBeUndefined();
  });

  it('evicts the least recently used entry beyond its bound', () => {
    const cache = new TtlCache<string>(2);
    cache.set('a', '1', 1000, 0);
    cache.set('b', '2', 1000, 0);
    cache.get('a', 1);
    cache.set('c', '3', 1000, 2);
    expect(cache.size).toBe(2);
    expect(cache.get('b', 3)).toBeUndefined();
    expect(cache.get('a', 3)).toBe('1');
    expect(cache.get('c', 3)).toBe('3');
  });
});
