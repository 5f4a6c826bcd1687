import { describe, expect, it } from 'vitest';
import { RestQueue } from '../../../src/sip/transaction/context.js';
import { FakeClock } from '../../harness/fake-clock.js';

const WAIT = 32_000;

function setup() {
  const clock = new FakeClock();
  const errors: string[] = [];
  const queue = new RestQueue(clock, WAIT, (e, context) => errors.push(`${context}: ${String(e)}`));
  const expired: string[] = [];
  const rest = (id: string) => queue.add({ id, expire: () => expired.push(id) });
  return { clock, queue, expired, errors, rest };
}

describe('RestQueue: the 64*T1 waits of transactions that only absorb retransmissions', () => {
  it('expires each transaction exactly its wait after it began, in the order they began', () => {
    const { clock, expired, rest, queue } = setup();
    rest('a');
    clock.advance(10);
    rest('b');
    rest('c');
    clock.advance(WAIT - 11);
    expect(expired).toEqual([]);
    clock.advance(1);
    expect(expired).toEqual(['a']);
    clock.advance(9);
    expect(expired).toEqual(['a']);
    clock.advance(1);
    expect(expired).toEqual(['a', 'b', 'c']);
    expect(queue.size).toBe(0);
  });

  it('keeps expiring on time across thousands of transactions begun over time', () => {
    const { clock, expired, rest, queue } = setup();
    for (let i = 0; i < 5000; i++) {
      rest(String(i));
      clock.advance(10);
    }
    // 50 s have passed: those begun in the first 18 s are over.
    expect(expired.length).toBe(1801);
    expect(expired.slice(0, 3)).toEqual(['0', '1', '2']);
    expect(queue.size).toBe(5000 - 1801);
    clock.advance(WAIT);
    expect(expired.length).toBe(5000);
    expect(expired.every((id, i) => id === String(i))).toBe(true);
  });

  it('reports a transaction that throws when its wait ends and goes on with the others', () => {
    const { clock, queue, expired, errors } = setup();
    queue.add({ id: 'bad', expire: () => { throw new Error('boom'); } });
    queue.add({ id: 'good', expire: () => expired.push('good') });
    clock.advance(WAIT);
    expect(expired).toEqual(['good']);
    expect(errors).toEqual(['end of the wait of bad: Error: boom']);
  });

  it('forgets everything on clear, and starts afresh after', () => {
    const { clock, queue, expired, rest } = setup();
    rest('a');
    queue.clear();
    clock.advance(2 * WAIT);
    expect(expired).toEqual([]);
    rest('b');
    clock.advance(WAIT);
    expect(expired).toEqual(['b']);
  });
});
