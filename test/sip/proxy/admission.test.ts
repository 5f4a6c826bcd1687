/**
 * Admission of new work: the core's `admit` hook (503 with Retry-After before any service sees
 * the request; in-dialog requests, ACK and CANCEL pass) and the latency-driven LoadMonitor.
 */
import { describe, expect, it } from 'vitest';
import { LoadMonitor } from '../../../src/sip/proxy/load-monitor.js';
import type { Admission } from '../../../src/sip/proxy/core.js';
import type { ProxyService } from '../../../src/sip/proxy/service.js';
import { parseUri } from '../../../src/sip/message/uri.js';
import { proxyRig, request, requests, send, statuses } from './harness.js';

describe('the admit hook of the proxy core', () => {
  it('answers a refused initial request 503 with Retry-After, and the service never sees it', async () => {
    let seen = 0;
    let open = false;
    const svc: ProxyService = {
      hosts: [],
      onInitialRequest: (ctx) => {
        seen += 1;
        ctx.respond(200);
      },
    };
    const refusal: Admission = { ok: false, retryAfterSeconds: 3, reason: 'Service Unavailable - draining' };
    const r = proxyRig({ defaultService: svc, admit: () => (open ? { ok: true } : refusal) });
    const alice = r.ua('10.0.0.2');
    send(alice, request(alice, 'OPTIONS', 'sip:bob@example.com'));
    await r.net.flush();
    expect(statuses(alice)).toEqual([503]);
    const refused = alice.received()[0]!.message!;
    expect(refused.get('retry-after')).toBe('3');
    expect((refused as unknown as { reason: string }).reason).toBe('Service Unavailable - draining');
    expect(seen).toBe(0);
    open = true;
    send(alice, request(alice, 'OPTIONS', 'sip:bob@example.com'));
    await r.net.flush();
    expect(statuses(alice)).toEqual([503, 200]);
    expect(seen).toBe(1);
  });

  it('lets requests inside a dialog through while refusing new ones', async () => {
    const r = proxyRig({
      defaultService: { hosts: [], onInitialRequest: (ctx) => ctx.forward({ uri: parseUri('sip:bob@10.0.0.3') }) },
      admit: () => ({ ok: false, retryAfterSeconds: 1 }),
    });
    const [alice, bob] = [r.ua('10.0.0.2'), r.ua('10.0.0.3')];
    const bye = request(alice, 'BYE', 'sip:bob@10.0.0.3');
    bye.set('to', `${bye.get('to')!};tag=b1`);
    send(alice, bye);
    await r.net.flush();
    expect(requests(bob, 'BYE')).toHaveLength(1);
    send(alice, request(alice, 'INVITE', 'sip:bob@example.com'));
    await r.net.flush();
    expect(requests(bob, 'INVITE')).toHaveLength(0);
    expect(statuses(alice)).toEqual([503]);
  });
});

describe('LoadMonitor', () => {
  function monitor(opts: { initialRate?: number; targetLatencyMs?: number } = {}) {
    const clock = { t: 0, now: () => clock.t };
    const m = new LoadMonitor({ clock, initialRate: opts.initialRate ?? 100, targetLatencyMs: opts.targetLatencyMs ?? 50, burstSeconds: 0.1, adjustEveryMs: 100 });
    return { m, clock };
  }

  /** Offers `perSecond` requests for `seconds`, recording `latency` each 10 ms; returns the admitted count. */
  function offer(t: ReturnType<typeof monitor>, perSecond: number, seconds: number, latency: () => number): number {
    let admitted = 0;
    const step = 1000 / perSecond;
    const end = t.clock.t + seconds * 1000;
    let nextSample = t.clock.t;
    for (; t.clock.t < end; t.clock.t += step) {
      if (t.m.admit().ok) admitted += 1;
      if (t.clock.t >= nextSample) {
        t.m.record(latency());
        nextSample += 10;
      }
    }
    return admitted;
  }

  it('admits about its rate of a larger offered load and refuses the rest with Retry-After', () => {
    const t = monitor({ initialRate: 100 });
    const admitted = offer(t, 1000, 0.09, () => 200); // within one adjustment period: the rate is still 100/s
    expect(admitted).toBeGreaterThanOrEqual(9);
    expect(admitted).toBeLessThanOrEqual(20);
    const refusal = t.m.admit();
    expect(refusal.ok).toBe(false);
    expect(refusal.ok ? 0 : refusal.retryAfterSeconds).toBe(1);
  });

  it('cuts its rate while latency is over the target, and raises it again once under', () => {
    const t = monitor({ initialRate: 1000, targetLatencyMs: 50 });
    offer(t, 2000, 2, () => 200);
    const cut = t.m.stats.rate;
    expect(cut).toBeLessThan(200);
    offer(t, 2000, 5, () => 5);
    expect(t.m.stats.rate).toBeGreaterThan(cut * 1.5);
    expect(t.m.stats.refused).toBeGreaterThan(0);
  });

  it('does not raise its rate on an idle node', () => {
    const t = monitor({ initialRate: 100 });
    offer(t, 10, 10, () => 1);
    expect(t.m.stats.rate).toBe(100);
  });

  it('refuses bad settings naming them', () => {
    expect(() => new LoadMonitor({ clock: { now: () => 0 }, targetLatencyMs: 0 })).toThrow(/targetLatencyMs/);
    expect(() => new LoadMonitor({ clock: { now: () => 0 }, minRate: 10, maxRate: 5 })).toThrow(/minRate/);
  });
});
