import { describe, expect, it } from 'vitest';
import { RegEventNotifier } from '../../src/ims/core/reg-event.js';
import { HomeDomain } from '../../src/ims/identity.js';
import type { RegistrationChange } from '../../src/ims/core/registrar.js';
import { makeResponse, type SipRequest } from '../../src/sip/index.js';
import type { Binding } from '../../src/storage/index.js';
import { MemoryRegistrationStore, MemorySubscriptionStore } from '../../src/storage/memory/index.js';
import { FakeClock } from '../harness/fake-clock.js';
import { childrenNamed } from './mini-xml.js';
import { ALICE, ALICE_TEL, BOB, NOW, SETS, binding, body, contactsOf, fakeHss, handle, inDialog, settle, subscribe } from './reg-event-fixtures.js';

interface Sent {
  readonly request: SipRequest;
  answer(status: number): void;
}

function rig(opts: { withSets?: boolean } = {}) {
  const clock = new FakeClock();
  let wall = NOW;
  const registrations = new MemoryRegistrationStore();
  const sent: Sent[] = [];
  const notifier = new RegEventNotifier({
    home: new HomeDomain('example.com'),
    hss: fakeHss(opts.withSets ?? true),
    registrations,
    subscriptions: new MemorySubscriptionStore(),
    send: (request, onResponse) => sent.push({ request, answer: (status) => onResponse(makeResponse(request, status)) }),
    contact: 'sip:scscf.example.com',
    clock,
    now: () => wall,
    limits: { minExpires: 60, maxExpires: 3600, defaultExpires: 600 },
  });
  return {
    clock,
    registrations,
    sent,
    notifier,
    /** Moves both clocks on, firing due timers, and waits for what they started. */
    async advance(ms: number) {
      wall += ms;
      clock.advance(ms);
      await settle();
    },
    async register(aor: string, bindings: Binding[], cause: RegistrationChange = 'registered') {
      const current = await registrations.get(aor);
      await registrations.put(aor, { bindings }, current?.version ?? 0);
      const implicitSet = SETS.find((s) => s.members[0]!.impu === aor);
      await notifier.onRegistrationChange({ aor, implicitSet, bindings, cause });
    },
    last(): SipRequest {
      return sent[sent.length - 1]!.request;
    },
  };
}

describe('reg-event notifier (RFC 3680, TS 24.229 §5.4.2.1)', () => {
  it('accepts a SUBSCRIBE with 200 and sends a full-state NOTIFY in its dialog', async () => {
    const r = rig();
    await r.register(ALICE, [binding('sip:ue@10.0.0.2:5060;transport=tcp')]);
    const ok = await handle((c) => r.notifier.handleSubscribe(c), subscribe());
    expect(ok.status).toBe(200);
    expect(ok.get('expires')).toBe('3600'); // 600000 asked, capped
    expect(ok.get('contact')).toBe('<sip:scscf.example.com>');
    const ourTag = ok.to.tag;
    expect(ourTag).toBeTruthy();
    expect(await r.notifier.subscriptionCount).toBe(1);

    expect(r.sent.length).toBe(1);
    const notify = r.last();
    expect(notify.method).toBe('NOTIFY');
    expect(notify.uriString).toBe('sip:ue@10.0.0.2:5060;transport=tcp');
    expect(notify.getAll('route')).toEqual(['<sip:tok1@pcscf.example.com;lr>', '<sip:b2@other.example.net;lr>']);
    expect(notify.from.uri.toString()).toBe(ALICE);
    expect(notify.from.tag).toBe(ourTag);
    expect(notify.to.tag).toBe('ue1');
    expect(notify.callId).toBe('sub-call-1');
    expect(notify.cseq.method).toBe('NOTIFY');
    expect(notify.get('event')).toBe('reg');
    expect(notify.get('subscription-state')).toBe('active;expires=3600');
    expect(notify.get('content-type')).toBe('application/reginfo+xml');
    expect(notify.get('contact')).toBe('<sip:scscf.example.com>');
    expect(notify.get('max-forwards')).toBe('70');
    expect(notify.has('via')).toBe(false);

    const doc = body(notify);
    expect(doc.attrs).toMatchObject({ version: '0', state: 'full' });
    expect(childrenNamed(doc, 'registration').map((x) => [x.attrs.aor, x.attrs.state])).toEqual([
      [ALICE, 'active'],
      [ALICE_TEL, 'active'],
    ]);
    expect(contactsOf(doc)).toEqual([{ uri: 'sip:ue@10.0.0.2:5060;transport=tcp', state: 'active', event: 'registered', expires: '600' }]);
    expect(contactsOf(doc, ALICE_TEL).length).toBe(1);
  });

  it('notifies every change of the set with the next version and CSeq', async () => {
    const r = rig();
    const first = binding('sip:ue@10.0.0.2');
    await r.register(ALICE, [first]);
    await handle((c) => r.notifier.handleSubscribe(c), subscribe());
    const initial = r.last();

    const second = binding('sip:ue2@10.0.0.3', { callId: 'reg-2' });
    await r.register(ALICE, [first, second], 'refreshed');
    expect(r.sent.length).toBe(2);
    const change = r.last();
    expect(change.cseq.seq).toBe(initial.cseq.seq + 1);
    expect(change.get('subscription-state')).toBe('active;expires=3600');
    expect(body(change).attrs.version).toBe('1');
    expect(contactsOf(body(change)).map((c) => [c.uri, c.event])).toEqual([
      ['sip:ue@10.0.0.2', 'registered'],
      ['sip:ue2@10.0.0.3', 'registered'],
    ]);

    await r.register(ALICE, [{ ...first, cseq: 2, expiresAt: NOW + 900_000 }, second], 'refreshed');
    expect(body(r.last()).attrs.version).toBe('2');
    expect(contactsOf(body(r.last()))[0]).toMatchObject({ event: 'refreshed', expires: '900' });

    await r.register(ALICE, [second], 'refreshed');
    expect(contactsOf(body(r.last()))).toEqual([
      { uri: 'sip:ue2@10.0.0.3', state: 'active', event: 'registered', expires: '600' },
      { uri: 'sip:ue@10.0.0.2', state: 'terminated', event: 'unregistered', expires: '0' },
    ]);

    await r.register(BOB, [binding('sip:bob@10.0.0.9')]);
    expect(r.sent.length).toBe(4); // bob's set has no watcher
  });

  it('ends the subscription with noresource when the set is de-registered', async () => {
    const r = rig();
    await r.register(ALICE, [binding('sip:ue@10.0.0.2')]);
    await handle((c) => r.notifier.handleSubscribe(c), subscribe());
    await r.register(ALICE, [], 'deregistered');
    const last = r.last();
    expect(last.get('subscription-state')).toBe('terminated;reason=noresource');
    const regs = childrenNamed(body(last), 'registration');
    expect(regs.map((x) => x.attrs.state)).toEqual(['terminated', 'terminated']);
    expect(contactsOf(body(last))).toEqual([{ uri: 'sip:ue@10.0.0.2', state: 'terminated', event: 'unregistered', expires: '0' }]);
    expect(await r.notifier.subscriptionCount).toBe(0);
    await r.advance(3_600_000); // past the subscription's expiry: nothing more to send
    expect(r.sent.length).toBe(2);
  });

  it('reports a failed flow as deactivated and a timed-out binding as expired', async () => {
    const r = rig();
    const a = binding('sip:a@10.0.0.2', { flowId: 'f1' });
    const b = binding('sip:b@10.0.0.3', { callId: 'reg-2', expiresAt: NOW + 100_000 });
    const c = binding('sip:c@10.0.0.4', { callId: 'reg-3' });
    await r.register(ALICE, [a, b, c]);
    await handle((x) => r.notifier.handleSubscribe(x), subscribe());
    await r.register(ALICE, [b, c], 'flow-failed');
    expect(contactsOf(body(r.last())).find((x) => x.uri === 'sip:a@10.0.0.2')).toMatchObject({ state: 'terminated', event: 'deactivated' });
    await r.advance(100_000);
    await r.register(ALICE, [c], 'expired');
    expect(contactsOf(body(r.last())).find((x) => x.uri === 'sip:b@10.0.0.3')).toMatchObject({ state: 'terminated', event: 'expired' });
    expect(r.last().get('subscription-state')).toMatch(/^active;expires=/);
  });

  it('unsubscribes on an in-dialog SUBSCRIBE with Expires 0 and then answers 481', async () => {
    const r = rig();
    await r.register(ALICE, [binding('sip:ue@10.0.0.2')]);
    const ok = await handle((c) => r.notifier.handleSubscribe(c), subscribe());
    const bye = await handle((c) => r.notifier.handleInDialog(c), inDialog(ok, 2, 0));
    expect(bye.status).toBe(200);
    expect(bye.get('expires')).toBe('0');
    const final = r.last();
    expect(final.get('subscription-state')).toBe('terminated;reason=timeout');
    expect(body(final).attrs.version).toBe('1');
    expect(contactsOf(body(final))[0]).toMatchObject({ state: 'active' });
    expect(await r.notifier.subscriptionCount).toBe(0);

    await r.register(ALICE, [binding('sip:ue@10.0.0.2', { cseq: 2 })], 'refreshed');
    expect(r.sent.length).toBe(2);
    const again = await handle((c) => r.notifier.handleInDialog(c), inDialog(ok, 3, 600));
    expect(again.status).toBe(481);
    await r.advance(3_600_000);
    expect(r.sent.length).toBe(2);
  });

  it('refreshes in the dialog: 200, a NOTIFY of the current state, and a new expiry', async () => {
    const r = rig();
    await r.register(ALICE, [binding('sip:ue@10.0.0.2')]);
    const ok = await handle((c) => r.notifier.handleSubscribe(c), subscribe({ Expires: '120' }));
    expect(ok.get('expires')).toBe('120');
    await r.advance(100_000);
    const brief = await handle((c) => r.notifier.handleInDialog(c), inDialog(ok, 2, 10));
    expect(brief.status).toBe(423);
    expect(brief.get('min-expires')).toBe('60');
    const refreshed = await handle((c) => r.notifier.handleInDialog(c), inDialog(ok, 3, 120, { Contact: '<sip:ue@10.0.0.7:5062>' }));
    expect(refreshed.status).toBe(200);
    expect(refreshed.get('expires')).toBe('120');
    const notify = r.last();
    expect(notify.uriString).toBe('sip:ue@10.0.0.7:5062');
    expect(notify.get('subscription-state')).toBe('active;expires=120');
    expect(body(notify).attrs.version).toBe('1');
    const stale = await handle((c) => r.notifier.handleInDialog(c), inDialog(ok, 3, 120));
    expect(stale.status).toBe(500);
    await r.advance(100_000); // past the first expiry, inside the refreshed one
    expect(await r.notifier.subscriptionCount).toBe(1);
  });

  it('expires an unrefreshed subscription with a terminated NOTIFY', async () => {
    const r = rig();
    await r.register(ALICE, [binding('sip:ue@10.0.0.2')]);
    await handle((c) => r.notifier.handleSubscribe(c), subscribe({ Expires: '300' }));
    await r.advance(299_000);
    expect(r.sent.length).toBe(1);
    await r.advance(1000);
    expect(r.sent.length).toBe(2);
    expect(r.last().get('subscription-state')).toBe('terminated;reason=timeout');
    expect(await r.notifier.subscriptionCount).toBe(0);
  });

  it('fetches the state once for Expires 0', async () => {
    const r = rig();
    await r.register(ALICE, [binding('sip:ue@10.0.0.2')]);
    const ok = await handle((c) => r.notifier.handleSubscribe(c), subscribe({ Expires: '0' }));
    expect(ok.status).toBe(200);
    expect(ok.get('expires')).toBe('0');
    expect(r.last().get('subscription-state')).toBe('terminated;reason=timeout');
    expect(contactsOf(body(r.last())).length).toBe(1);
    expect(await r.notifier.subscriptionCount).toBe(0);
    expect(r.clock.pendingCount).toBe(0);
  });

  it('answers 404 for an unknown identity, 489 for another package, 423 for a brief one, 406 without reginfo', async () => {
    const r = rig();
    const unknown = await handle((c) => r.notifier.handleSubscribe(c), subscribe({}, 'sip:nobody@example.com'));
    expect(unknown.status).toBe(404);
    const presence = await handle((c) => r.notifier.handleSubscribe(c), subscribe({ Event: 'presence' }));
    expect(presence.status).toBe(489);
    expect(presence.get('allow-events')).toBe('reg');
    const brief = await handle((c) => r.notifier.handleSubscribe(c), subscribe({ Expires: '30' }));
    expect(brief.status).toBe(423);
    expect(brief.get('min-expires')).toBe('60');
    const accept = await handle((c) => r.notifier.handleSubscribe(c), subscribe({ Accept: 'application/pidf+xml' }));
    expect(accept.status).toBe(406);
    const noContact = await handle((c) => r.notifier.handleSubscribe(c), subscribe({ Contact: null }));
    expect(noContact.status).toBe(400);
    expect(r.sent.length).toBe(0);
    expect(await r.notifier.subscriptionCount).toBe(0);
  });

  it('lets only the set itself or a P-CSCF on its Path watch it (TS 24.229 §5.4.2.1.1)', async () => {
    const r = rig();
    await r.register(ALICE, [binding('sip:ue@10.0.0.2')]);
    const bob = await handle((c) => r.notifier.handleSubscribe(c), subscribe({ 'P-Asserted-Identity': `<${BOB}>`, From: `<${BOB}>;tag=b1` }));
    expect(bob.status).toBe(403);
    const anonymous = await handle((c) => r.notifier.handleSubscribe(c), subscribe({ 'P-Asserted-Identity': null }));
    expect(anonymous.status).toBe(403);
    const strangerEdge = await handle((c) => r.notifier.handleSubscribe(c), subscribe({ 'P-Asserted-Identity': '<sip:pcscf.evil.example>' }));
    expect(strangerEdge.status).toBe(403);
    expect(await r.notifier.subscriptionCount).toBe(0);
    const edge = await handle(
      (c) => r.notifier.handleSubscribe(c),
      subscribe({ 'P-Asserted-Identity': '<sip:pcscf.example.com>', From: '<sip:pcscf.example.com>;tag=p1', 'Call-ID': 'edge-sub' }),
    );
    expect(edge.status).toBe(200);
    const viaTel = await handle((c) => r.notifier.handleSubscribe(c), subscribe({ 'P-Asserted-Identity': `<${ALICE_TEL}>`, 'Call-ID': 'tel-sub' }));
    expect(viaTel.status).toBe(200);
    expect(await r.notifier.subscriptionCount).toBe(2);
  });

  it('resolves a tel URI or a number to the subscriber it names', async () => {
    const r = rig();
    await r.register(ALICE, [binding('sip:ue@10.0.0.2')]);
    const ok = await handle((c) => r.notifier.handleSubscribe(c), subscribe({}, 'tel:+1-650-555-0001'));
    expect(ok.status).toBe(200);
    expect(childrenNamed(body(r.last()), 'registration').map((x) => x.attrs.aor)).toEqual([ALICE, ALICE_TEL]);
  });

  it('drops a subscription whose NOTIFY is answered 481, or times out', async () => {
    const r = rig();
    await r.register(ALICE, [binding('sip:ue@10.0.0.2')]);
    await handle((c) => r.notifier.handleSubscribe(c), subscribe());
    await handle((c) => r.notifier.handleSubscribe(c), subscribe({ 'Call-ID': 'sub-call-2' }));
    expect(await r.notifier.subscriptionCount).toBe(2);
    r.sent[0]!.answer(481);
    r.sent[1]!.answer(200);
    await settle();
    expect(await r.notifier.subscriptionCount).toBe(1);
    await r.register(ALICE, [binding('sip:ue@10.0.0.2', { cseq: 2 })], 'refreshed');
    expect(r.sent.length).toBe(3);
    expect(r.last().callId).toBe('sub-call-2');
    r.sent[2]!.answer(408);
    await settle();
    expect(await r.notifier.subscriptionCount).toBe(0);
    await r.register(ALICE, [binding('sip:ue@10.0.0.2', { cseq: 3 })], 'refreshed');
    await r.advance(3_600_000);
    expect(r.sent.length).toBe(3);
  });

  it('escapes what clients put in their contacts and Call-IDs in the NOTIFY body', async () => {
    const r = rig();
    const odd = 'sip:ue@10.0.0.2;x=a&b';
    await r.register(ALICE, [binding(odd, { callId: '<"odd">&\'id' })]);
    await handle((c) => r.notifier.handleSubscribe(c), subscribe());
    const text = r.last().body.toString('utf8');
    expect(text).toContain('a&amp;b');
    const doc = body(r.last()); // throws unless well-formed
    const contact = childrenNamed(childrenNamed(doc, 'registration')[0]!, 'contact')[0]!;
    expect(contact.attrs.callid).toBe('<"odd">&\'id');
    expect(childrenNamed(contact, 'uri')[0]!.text).toBe(odd);
  });

  it('without the set from the HSS, lists the default identity, then what the registrar reports', async () => {
    const r = rig({ withSets: false });
    await r.registrations.put(ALICE, { bindings: [binding('sip:ue@10.0.0.2')] }, 0);
    await handle((c) => r.notifier.handleSubscribe(c), subscribe());
    expect(childrenNamed(body(r.last()), 'registration').map((x) => x.attrs.aor)).toEqual([ALICE]);
    await r.register(ALICE, [binding('sip:ue@10.0.0.2', { cseq: 2 })], 'refreshed');
    expect(childrenNamed(body(r.last()), 'registration').map((x) => x.attrs.aor)).toEqual([ALICE, ALICE_TEL]);
  });

  it('stop() cancels the expiry timer and leaves the subscriptions in the store for another node', async () => {
    const r = rig();
    await handle((c) => r.notifier.handleSubscribe(c), subscribe({ Expires: '300' }));
    expect(r.clock.pendingCount).toBe(1);
    r.notifier.stop();
    expect(r.clock.pendingCount).toBe(0);
    await r.advance(300_000);
    expect(r.sent.length).toBe(1);
    expect(await r.notifier.subscriptionCount).toBe(1);
  });
});
