/**
 * Reg-event expiry across core nodes with claims (SubscriptionStore.claimExpired): a
 * subscription a node claimed and then died holding is ended by another node once the lease is
 * over, exactly once; nodes sweeping at once split the expired subscriptions. Run over the
 * in-process stores and over a real Redis (one connection per node).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { RegEventNotifier } from '../../src/ims/core/reg-event.js';
import { HomeDomain } from '../../src/ims/identity.js';
import { makeResponse, type SipRequest } from '../../src/sip/index.js';
import type { SubscriptionStore } from '../../src/storage/index.js';
import { FakeClock } from '../harness/fake-clock.js';
import { ALICE, NOW, binding, fakeHss, handle, subscribe } from './reg-event-fixtures.js';
import { disposeRedis, memoryStores, redisStores, type SharedStores } from './shared-stores.js';

afterAll(disposeRedis);

/** Notifiers of the nodes, on one wall clock, their timers never started (sweeps are called). */
function notifiers(shared: SharedStores, leaseMs?: number) {
  const clock = new FakeClock();
  const state = { wall: NOW };
  const sent: { node: string; request: SipRequest }[] = [];
  /** The lease of every claim the notifiers made. */
  const leases: number[] = [];
  const nodes = shared.nodes.map(({ registrations, subscriptions }, i) => {
    const name = `core${i + 1}`;
    const recording: SubscriptionStore = {
      get: (key) => subscriptions.get(key),
      put: (key, data, expected) => subscriptions.put(key, data, expected),
      delete: (key, expected) => subscriptions.delete(key, expected),
      byAor: (aor) => subscriptions.byAor(aor),
      expiredBefore: (now, limit) => subscriptions.expiredBefore(now, limit),
      claimExpired: (now, leaseMs, limit) => {
        leases.push(leaseMs);
        return subscriptions.claimExpired(now, leaseMs, limit);
      },
      nextExpiryAt: () => subscriptions.nextExpiryAt(),
      count: () => subscriptions.count(),
    };
    return new RegEventNotifier({
      home: new HomeDomain('example.com'),
      hss: fakeHss(),
      registrations,
      subscriptions: recording,
      send: (request, onResponse) => {
        sent.push({ node: name, request });
        onResponse(makeResponse(request, 200));
      },
      contact: 'sip:scscf.example.com',
      clock,
      now: () => state.wall,
      limits: { minExpires: 60, maxExpires: 3600, defaultExpires: 600 },
      ...(leaseMs === undefined ? {} : { leaseMs }),
    });
  });
  return { nodes, state, sent, leases, finals: () => sent.filter((s) => s.request.get('subscription-state')?.startsWith('terminated')) };
}

describe.each([
  ['in-process stores', memoryStores],
  ['Redis', redisStores],
])('reg-event expiry claims across core nodes sharing %s', (_name, open) => {
  it('ends a subscription another node claimed and died holding once the lease is over, exactly once', async () => {
    const shared = await open(2);
    try {
      const n = notifiers(shared);
      const [core1, core2] = n.nodes as [RegEventNotifier, RegEventNotifier];
      expect((await shared.nodes[0]!.registrations.put(ALICE, { bindings: [binding('sip:ue@10.0.0.2')] }, 0)).ok).toBe(true);
      expect((await handle((ctx) => core1.handleSubscribe(ctx), subscribe({ Expires: '60' }))).status).toBe(200);
      core1.stop();

      // Core 1's last sweep claimed the expired subscription (default lease, 10 s), then it died.
      n.state.wall = NOW + 60_000;
      expect(await shared.nodes[0]!.subscriptions.claimExpired(n.state.wall, 10_000, 10)).toHaveLength(1);
      expect(await core2.sweep()).toBe(0);
      n.state.wall = NOW + 69_999;
      expect(await core2.sweep()).toBe(0);
      expect(n.finals()).toEqual([]);

      n.state.wall = NOW + 70_000;
      expect(await core2.sweep()).toBe(1);
      expect(n.finals().map((s) => [s.node, s.request.get('subscription-state')])).toEqual([['core2', 'terminated;reason=timeout']]);
      expect(await core2.subscriptionCount).toBe(0);
      expect(await core2.sweep()).toBe(0);
      expect(new Set(n.leases)).toEqual(new Set([10_000]));
    } finally {
      await shared.close();
    }
  });

  it('ends each of several expired subscriptions once when nodes sweep at once, claiming with the lease given', async () => {
    const shared = await open(2);
    try {
      const n = notifiers(shared, 2000);
      const [core1, core2] = n.nodes as [RegEventNotifier, RegEventNotifier];
      expect((await shared.nodes[0]!.registrations.put(ALICE, { bindings: [binding('sip:ue@10.0.0.2')] }, 0)).ok).toBe(true);
      for (let i = 1; i <= 6; i++) {
        const ok = await handle((ctx) => core1.handleSubscribe(ctx), subscribe({ Expires: '60', 'Call-ID': `sub-call-${i}` }));
        expect(ok.status).toBe(200);
      }
      core1.stop();
      n.state.wall = NOW + 60_000;
      const ended = await Promise.all([core1.sweep(), core2.sweep()]);
      expect(ended[0] + ended[1]).toBe(6);
      const finals = n.finals();
      expect(finals).toHaveLength(6);
      expect(new Set(finals.map((s) => s.request.callId)).size).toBe(6);
      expect(await core2.subscriptionCount).toBe(0);
      expect(new Set(n.leases)).toEqual(new Set([2000]));
    } finally {
      await shared.close();
    }
  });
});
