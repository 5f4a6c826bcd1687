/**
 * Admission of new work: the core's `admit` hook (503 with Retry-After before any service sees
 * the request; in-dialog requests, ACK and CANCEL pass) and the LoadMonitor's gate on queueing delay.
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
  function monitor(targetLatencyMs = 50) {
    const clock = { t: 0, now: () => clock.t };
    return { m: new LoadMonitor({ targetLatencyMs, retryAfterSeconds: 2, clock }), clock };
  }

  it('refuses with Retry-After once the delay has stood over the target for twice the target, until it is back within', () => {
    const { m, clock } = monitor(50);
    m.record(80);
    clock.t = 99;
    m.record(120);
    expect(m.admit().ok).toBe(true);
    clock.t = 100;
    m.record(90);
    expect(m.admit()).toEqual({ ok: false, retryAfterSeconds: 2, reason: 'Service Unavailable - overloaded' });
    clock.t = 110;
    m.record(50);
    expect(m.admit().ok).toBe(true);
    expect(m.stats).toEqual({ admitted: 2, refused: 1, latencyMs: 50 });
  });

  it('refuses nothing for a pause that drains sooner than twice the target', () => {
    const { m, clock } = monitor(50);
    for (const [t, delay] of [[0, 2], [10, 300], [20, 200], [30, 10], [40, 300], [80, 120], [130, 20]] as const) {
      clock.t = t;
      m.record(delay);
      expect(m.admit().ok).toBe(true);
    }
  });

  it('ignores a measurement that is not a delay', () => {
    const { m, clock } = monitor(50);
    m.record(80);
    clock.t = 100;
    m.record(Number.NaN);
    m.record(-1);
    m.record(80);
    expect(m.admit().ok).toBe(false);
    expect(m.stats.latencyMs).toBe(80);
  });

  it('refuses bad settings naming them', () => {
    const clock = { now: () => 0 };
    expect(() => new LoadMonitor({ targetLatencyMs: 0, clock })).toThrow(/targetLatencyMs/);
    expect(() => new LoadMonitor({ retryAfterSeconds: Number.POSITIVE_INFINITY, clock })).toThrow(/retryAfterSeconds/);
  });
});
