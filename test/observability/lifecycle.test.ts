/**
 * The lifecycle of a server process: readiness by phase and by dependency checks, admission
 * refused once draining, and the drain that waits for the work in flight or the grace period.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { admitAll, describeWork, Lifecycle } from '../../src/observability/lifecycle.js';
import { makeRequest } from '../../src/sip/message/build.js';

const INVITE = makeRequest('INVITE', 'sip:bob@example.com', [
  ['Via', 'SIP/2.0/UDP 10.0.0.2;branch=z9hG4bK1'],
  ['From', '<sip:alice@example.com>;tag=a'],
  ['To', '<sip:bob@example.com>'],
  ['Call-ID', 'c1'],
  ['CSeq', '1 INVITE'],
]);

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe('readiness', () => {
  it('is "starting" until marked ready, then ready, then "draining" once a drain began', async () => {
    const life = new Lifecycle({ graceMs: 1000 });
    expect(await life.readiness()).toEqual({ ready: false, reason: 'starting' });
    life.markReady();
    expect(await life.readiness()).toEqual({ ready: true });
    void life.drain();
    expect(await life.readiness()).toEqual({ ready: false, reason: 'draining' });
    life.markReady();
    expect((await life.readiness()).ready).toBe(false);
  });

  it('fails while a dependency check fails, naming it, and when a check takes too long', async () => {
    const life = new Lifecycle({ graceMs: 1000, checkTimeoutMs: 200 });
    life.markReady();
    let redis = { ready: false, reason: 'connection refused' };
    life.addCheck('redis', () => redis);
    expect(await life.readiness()).toEqual({ ready: false, reason: 'redis: connection refused' });
    redis = { ready: true, reason: '' };
    expect(await life.readiness()).toEqual({ ready: true });
    life.addCheck('postgres', () => new Promise(() => undefined));
    const answer = life.readiness();
    await vi.advanceTimersByTimeAsync(200);
    expect(await answer).toEqual({ ready: false, reason: 'postgres: no answer within 200 ms' });
  });
});

describe('admission', () => {
  it('admits every request until draining, then refuses with a Retry-After from 1 to 5 s', () => {
    const life = new Lifecycle({ graceMs: 1000 });
    expect(life.admit()).toEqual({ ok: true });
    life.markReady();
    expect(life.admit()).toEqual({ ok: true });
    void life.drain();
    const seen = new Set<number>();
    for (let i = 0; i < 200; i++) {
      const answer = life.admit();
      if (answer.ok) throw new Error('admitted while draining');
      expect(answer.reason).toBe('Service Unavailable - draining');
      seen.add(answer.retryAfterSeconds);
    }
    expect([...seen].every((s) => Number.isInteger(s) && s >= 1 && s <= 5)).toBe(true);
    expect(seen.size).toBeGreaterThan(1);
  });

  it('combines with another admission: the first refusal wins', () => {
    const life = new Lifecycle({ graceMs: 1000, retryAfterSeconds: () => 2 });
    const overloaded = { ok: false as const, retryAfterSeconds: 1, reason: 'Service Unavailable - overloaded' };
    let busy = false;
    const admit = admitAll(life.admit, () => (busy ? overloaded : { ok: true }));
    expect(admit(INVITE)).toEqual({ ok: true });
    busy = true;
    expect(admit(INVITE)).toEqual(overloaded);
    void life.drain();
    expect(admit(INVITE)).toEqual({ ok: false, retryAfterSeconds: 2, reason: 'Service Unavailable - draining' });
  });
});

describe('drain', () => {
  it('resolves once nothing is in flight, reporting what was at the start', async () => {
    const life = new Lifecycle({ graceMs: 10_000, pollMs: 50 });
    let work = { call: 1, 'server transaction': 2 };
    const done = life.drain(() => work);
    await vi.advanceTimersByTimeAsync(500);
    work = { call: 0, 'server transaction': 1 };
    await vi.advanceTimersByTimeAsync(500);
    work = { call: 0, 'server transaction': 0 };
    await vi.advanceTimersByTimeAsync(50);
    const result = await done;
    expect(result.drained).toBe(true);
    expect(result.atStart).toEqual({ call: 1, 'server transaction': 2 });
    expect(result.elapsedMs).toBeGreaterThanOrEqual(1000);
    expect(result.elapsedMs).toBeLessThanOrEqual(1100);
  });

  it('gives up at the end of the grace period, reporting what is still in flight', async () => {
    const life = new Lifecycle({ graceMs: 1000, pollMs: 50 });
    let settled = false;
    const done = life.drain(() => ({ 'client transaction': 1 })).finally(() => (settled = true));
    await vi.advanceTimersByTimeAsync(990);
    expect(settled).toBe(false);
    await vi.advanceTimersByTimeAsync(20);
    expect(await done).toEqual({ drained: false, elapsedMs: 1000, atStart: { 'client transaction': 1 }, left: { 'client transaction': 1 } });
  });

  it('ends at once when nothing is in flight', async () => {
    const life = new Lifecycle({ graceMs: 10_000 });
    expect(await life.drain()).toEqual({ drained: true, elapsedMs: 0, atStart: {}, left: {} });
  });

  it('refuses a negative or fractional grace period, naming the key', () => {
    expect(() => new Lifecycle({ graceMs: -1 })).toThrow(/shutdownGraceMs/);
    expect(() => new Lifecycle({ graceMs: 1.5 })).toThrow(/shutdownGraceMs/);
  });
});

describe('describeWork', () => {
  it('counts each kind in words and leaves out what is zero', () => {
    expect(describeWork({ call: 1, 'server transaction': 2, 'client transaction': 0 })).toBe('1 call, 2 server transactions');
    expect(describeWork({ call: 0 })).toBe('nothing');
  });
});
