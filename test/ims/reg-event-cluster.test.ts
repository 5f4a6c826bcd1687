/**
 * Reg-event in a cluster (issue 7): notifiers of several core nodes over one shared
 * subscription store and registration store act as one notifier. A subscription made through
 * one node is notified, refreshed and ended through any other, CSeq and reginfo version go up by
 * one per NOTIFY whoever sends it, and expiry is ended exactly once even when several nodes
 * sweep and the creating node is gone. Run over the in-process stores and over a real Redis.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { RegEventNotifier } from '../../src/ims/core/reg-event.js';
import type { RegistrationChange } from '../../src/ims/core/registrar.js';
import { HomeDomain } from '../../src/ims/identity.js';
import { makeResponse, type SipRequest } from '../../src/sip/index.js';
import type { Binding } from '../../src/storage/index.js';
import { FakeClock } from '../harness/fake-clock.js';
import { ALICE, NOW, SETS, binding, body, contactsOf, fakeHss, handle, inDialog, settle, subscribe } from './reg-event-fixtures.js';
import { disposeRedis, memoryStores, redisStores, type SharedStores } from './shared-stores.js';


interface Sent {
  readonly node: string;
  readonly request: SipRequest;
  answer(status: number): void;
}

/** `count` notifiers, one per core node, on one fake clock and wall clock. */
function cluster(shared: SharedStores) {
  const clock = new FakeClock();
  let wall = NOW;
  const sent: Sent[] = [];
  const nodes = shared.nodes.map(({ registrations, subscriptions }, i) => {
    const name = `core${i + 1}`;
    const notifier = new RegEventNotifier({
      home: new HomeDomain('example.com'),
      hss: fakeHss(),
      registrations,
      subscriptions,
      send: (request, onResponse) => sent.push({ node: name, request, answer: (status) => onResponse(makeResponse(request, status)) }),
      contact: 'sip:scscf.example.com',
      clock,
      now: () => wall,
      limits: { minExpires: 60, maxExpires: 3600, defaultExpires: 600 },
    });
    return { name, notifier, registrations };
  });
  return {
    nodes,
    sent,
    async advance(ms: number) {
      wall += ms;
      clock.advance(ms);
      await settle();
    },
    /** A REGISTER handled by `node`: its registrar writes the bindings and tells its notifier. */
    async register(node: (typeof nodes)[number], bindings: Binding[], cause: RegistrationChange = 'refreshed') {
      const current = await node.registrations.get(ALICE);
      expect((await node.registrations.put(ALICE, { bindings }, current?.version ?? 0)).ok).toBe(true);
      await node.notifier.onRegistrationChange({ aor: ALICE, implicitSet: SETS[0], bindings, cause });
    },
    last(): Sent {
      return sent[sent.length - 1]!;
    },
  };
}

function version(req: SipRequest): number {
  return Number(body(req).attrs.version);
}

afterAll(disposeRedis);

describe.each([
  ['in-process stores', memoryStores],
  ['Redis', redisStores],
])('reg-event across core nodes sharing %s', (_name, open) => {
  it('notifies, refreshes and ends through any node with one CSeq and version sequence, ending it exactly once', async () => {
    const shared = await open(3);
    try {
      const c = cluster(shared);
      const [core1, core2, core3] = c.nodes as [(typeof c.nodes)[number], (typeof c.nodes)[number], (typeof c.nodes)[number]];
      const first = binding('sip:ue@10.0.0.2');
      await c.register(core1, [first], 'registered');

      const ok = await handle((ctx) => core1.notifier.handleSubscribe(ctx), subscribe({ Expires: '600' }));
      expect(ok.status).toBe(200);
      expect(c.sent.map((s) => [s.node, s.request.cseq.seq, version(s.request)])).toEqual([['core1', 1, 0]]);

      // Core 2 handles the next REGISTER of the set: it notifies core 1's subscription.
      const second = binding('sip:ue2@10.0.0.3', { callId: 'reg-2' });
      await c.register(core2, [first, second], 'registered');
      const change = c.last();
      expect(change.node).toBe('core2');
      expect(change.request.callId).toBe('sub-call-1');
      expect(change.request.from.tag).toBe(ok.to.tag);
      expect(change.request.to.tag).toBe('ue1');
      expect(change.request.cseq.seq).toBe(2);
      expect(version(change.request)).toBe(1);
      expect(change.request.get('subscription-state')).toBe('active;expires=600');
      expect(contactsOf(body(change.request)).map((x) => [x.uri, x.event])).toEqual([
        ['sip:ue@10.0.0.2', 'registered'],
        ['sip:ue2@10.0.0.3', 'registered'],
      ]);

      // The refresh goes to sip:scscf.example.com, which resolved to core 2 this time.
      await c.advance(100_000);
      const refreshed = await handle((ctx) => core2.notifier.handleInDialog(ctx), inDialog(ok, 2, 600, { Contact: '<sip:ue@10.0.0.7:5062>' }));
      expect(refreshed.status).toBe(200);
      expect(refreshed.get('expires')).toBe('600');
      expect([c.last().node, c.last().request.cseq.seq, version(c.last().request)]).toEqual(['core2', 3, 2]);
      expect(c.last().request.uriString).toBe('sip:ue@10.0.0.7:5062');

      // Two REGISTERs land on two nodes at once: two NOTIFYs, each with its own CSeq and version.
      const third = binding('sip:ue3@10.0.0.4', { callId: 'reg-3' });
      await core1.registrations.put(ALICE, { bindings: [first, second, third] }, (await core1.registrations.get(ALICE))!.version);
      const event = { aor: ALICE, implicitSet: SETS[0], bindings: [first, second, third], cause: 'registered' as const };
      await Promise.all([core1.notifier.onRegistrationChange(event), core2.notifier.onRegistrationChange(event)]);
      const raced = c.sent.slice(3);
      expect(raced.map((s) => s.request.cseq.seq).sort()).toEqual([4, 5]);
      expect(raced.map((s) => version(s.request)).sort()).toEqual([3, 4]);
      for (const s of raced) expect(s.request.uriString).toBe('sip:ue@10.0.0.7:5062');
      expect(contactsOf(body(raced.find((s) => version(s.request) === 4)!.request))).toHaveLength(3);

      // Core 1 dies. The subscription expires unrefreshed; cores 2 and 3 sweep at once. (Their
      // timers are stopped so that these two calls are the only sweeps, and known to be done.)
      for (const node of c.nodes) node.notifier.stop();
      await c.advance(600_000);
      const ended = await Promise.all([core2.notifier.sweep(), core3.notifier.sweep()]);
      expect(ended[0] + ended[1]).toBe(1);
      const finals = c.sent.filter((s) => s.request.get('subscription-state')?.startsWith('terminated'));
      expect(finals).toHaveLength(1);
      expect(finals[0]!.request.get('subscription-state')).toBe('terminated;reason=timeout');
      expect([finals[0]!.request.cseq.seq, version(finals[0]!.request)]).toEqual([6, 5]);
      expect(await core3.notifier.subscriptionCount).toBe(0);

      const late = await handle((ctx) => core1.notifier.handleInDialog(ctx), inDialog(ok, 3, 600));
      expect(late.status).toBe(481);
      expect(await core2.notifier.sweep()).toBe(0);
      expect(c.sent).toHaveLength(6);
    } finally {
      await shared.close();
    }
  });

  it('unsubscribes through a node that did not create the subscription', async () => {
    const shared = await open(2);
    try {
      const c = cluster(shared);
      const [core1, core2] = c.nodes as [(typeof c.nodes)[number], (typeof c.nodes)[number]];
      await c.register(core1, [binding('sip:ue@10.0.0.2')], 'registered');
      const ok = await handle((ctx) => core1.notifier.handleSubscribe(ctx), subscribe());
      const bye = await handle((ctx) => core2.notifier.handleInDialog(ctx), inDialog(ok, 2, 0));
      expect(bye.status).toBe(200);
      expect(bye.get('expires')).toBe('0');
      expect([c.last().node, c.last().request.get('subscription-state'), c.last().request.cseq.seq]).toEqual(['core2', 'terminated;reason=timeout', 2]);
      expect(await core1.notifier.subscriptionCount).toBe(0);
      await c.register(core1, [binding('sip:ue@10.0.0.2', { cseq: 2 })]);
      expect(c.sent).toHaveLength(2);
    } finally {
      await shared.close();
    }
  });
});

describe('reg-event across core nodes: failures and the started sweep', () => {
  it('drops a subscription whose NOTIFY from another node was refused', async () => {
    const c = cluster(memoryStores(2));
    const [core1, core2] = c.nodes as [(typeof c.nodes)[number], (typeof c.nodes)[number]];
    await c.register(core1, [binding('sip:ue@10.0.0.2')], 'registered');
    await handle((ctx) => core2.notifier.handleSubscribe(ctx), subscribe());
    await c.register(core1, [binding('sip:ue@10.0.0.2', { cseq: 2 })]);
    expect(c.last().node).toBe('core1');
    c.last().answer(481); // the UE no longer knows the subscription (RFC 6665 §4.2.2)
    await settle();
    expect(await core2.notifier.subscriptionCount).toBe(0);
    await c.register(core2, [binding('sip:ue@10.0.0.2', { cseq: 3 })]);
    expect(c.sent).toHaveLength(2);
  });

  it('ends a subscription whose creating node died, with no traffic and no sweep call', async () => {
    const c = cluster(memoryStores(2));
    const [core1, core2] = c.nodes as [(typeof c.nodes)[number], (typeof c.nodes)[number]];
    await c.register(core1, [binding('sip:ue@10.0.0.2')], 'registered');
    core2.notifier.start();
    await handle((ctx) => core1.notifier.handleSubscribe(ctx), subscribe({ Expires: '60' }));
    core1.notifier.stop();
    await c.advance(59_000);
    expect(c.sent).toHaveLength(1);
    await c.advance(2000);
    expect(c.sent).toHaveLength(2);
    expect([c.last().node, c.last().request.get('subscription-state')]).toEqual(['core2', 'terminated;reason=timeout']);
    expect(await core2.notifier.subscriptionCount).toBe(0);
    core2.notifier.stop();
  });
});
