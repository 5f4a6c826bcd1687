/**
 * What a SIP node counts as in flight for a graceful stop, with a real stack and proxy core on
 * the fake network: requests waiting for a final response, and calls routed through the node
 * until their BYE; never the waiting states of finished transactions.
 */
import { describe, expect, it, vi } from 'vitest';
import { SipInFlight, type SipInFlightOptions } from '../../src/observability/sip-in-flight.js';
import { makeRequest, newBranch } from '../../src/sip/message/build.js';
import { parseUri } from '../../src/sip/message/uri.js';
import { SipRequest, type SipResponse } from '../../src/sip/message/message.js';
import { ProxyCore } from '../../src/sip/proxy/core.js';
import { SipStack } from '../../src/sip/transaction/stack.js';
import { FakeClock } from '../harness/fake-clock.js';
import { FakeNetwork, type FakeEndpoint } from '../harness/fake-transport.js';
import { answer, PROXY, request, requests, send, statuses } from '../sip/proxy/harness.js';

const BOB = 'sip:bob@10.0.0.3';
const NOTHING = { call: 0, 'server transaction': 0, 'client transaction': 0 };

/** A record-routing proxy forwarding every new request to Bob, with its in-flight counter. */
function rig(opts: SipInFlightOptions = {}) {
  const clock = new FakeClock();
  const net = new FakeNetwork(clock);
  const ep = net.endpoint('UDP', PROXY.address, PROXY.port);
  const stack = new SipStack({ transport: ep, clock, autoTrying: false });
  ep.onMessage = (m) => stack.receive(m);
  const work = new SipInFlight({ now: () => clock.now(), ...opts });
  const core = new ProxyCore({
    transactions: work.layer(stack),
    clock,
    listeners: [{ protocol: 'UDP', host: PROXY.address, port: PROXY.port }],
    defaultService: { hosts: [], onInitialRequest: (ctx) => ctx.forward({ uri: parseUri(BOB) }) },
  });
  stack.setUser(work.user(core));
  return { clock, net, stack, core, work, alice: net.endpoint('UDP', '10.0.0.2', 5060), bob: net.endpoint('UDP', '10.0.0.3', 5060) };
}

/** A request of Alice's inside the dialog of `invite`, answered with `ok`, along its Record-Route. */
function inDialog(alice: FakeEndpoint, method: string, invite: SipRequest, ok: SipResponse): SipRequest {
  const seq = method === 'ACK' ? invite.cseq.seq : invite.cseq.seq + 1;
  const headers: Array<[string, string]> = [
    ['Via', `SIP/2.0/UDP ${alice.local.address}:${alice.local.port};branch=${newBranch()}`],
    ['Max-Forwards', '70'],
    ['From', invite.get('from')!],
    ['To', `${invite.get('to')!};tag=${ok.to.tag!}`],
    ['Call-ID', invite.callId],
    ['CSeq', `${seq} ${method}`],
  ];
  for (const rr of ok.getAll('record-route')) headers.push(['Route', rr]);
  return makeRequest(method, BOB, headers);
}

describe('SipInFlight', () => {
  it('counts a ringing INVITE on both sides until its final response, and not the states that wait after it', async () => {
    const { net, stack, work, alice, bob } = rig();
    send(alice, request(alice, 'INVITE', 'sip:bob@example.com'));
    await net.flush();
    answer(bob, 'INVITE', 180);
    await net.flush();
    expect(work.counts()).toEqual({ call: 0, 'server transaction': 1, 'client transaction': 1 });
    answer(bob, 'INVITE', 486);
    await net.flush();
    expect(statuses(alice)).toEqual([100, 180, 486]);
    // Both transactions still absorb retransmissions (Completed, timers D and H/I): nothing in flight.
    expect(stack.transactionCount).toEqual({ client: 1, server: 1 });
    expect(work.counts()).toEqual(NOTHING);
  });

  it('counts a call whose ACK passed through here until its BYE, and the BYE until it is answered', async () => {
    const { clock, net, stack, work, alice, bob } = rig();
    const invite = request(alice, 'INVITE', 'sip:bob@example.com');
    send(alice, invite);
    await net.flush();
    answer(bob, 'INVITE', 200);
    await net.flush();
    const ok = alice.received((m) => m !== undefined && !(m instanceof SipRequest) && m.status === 200)[0]!.message as SipResponse;
    expect(work.counts()).toEqual({ ...NOTHING, call: 1 });
    send(alice, inDialog(alice, 'ACK', invite, ok));
    await net.flush();
    expect(requests(bob, 'ACK')).toHaveLength(1);
    clock.advance(60_000);
    expect(stack.transactionCount).toEqual({ client: 0, server: 0 });
    expect(work.counts()).toEqual({ ...NOTHING, call: 1 });
    send(alice, inDialog(alice, 'BYE', invite, ok));
    await net.flush();
    expect(work.counts()).toEqual({ call: 0, 'server transaction': 1, 'client transaction': 1 });
    answer(bob, 'BYE', 200);
    await net.flush();
    expect(work.counts()).toEqual(NOTHING);
  });

  it('lets an answered call go when its ACK does not pass here within the ACK wait (the dialog routes elsewhere)', async () => {
    const { clock, net, work, alice, bob } = rig();
    send(alice, request(alice, 'INVITE', 'sip:bob@example.com'));
    await net.flush();
    answer(bob, 'INVITE', 200);
    await net.flush();
    clock.advance(3_900);
    expect(work.counts()).toEqual({ ...NOTHING, call: 1 });
    clock.advance(200);
    expect(work.counts()).toEqual(NOTHING);
  });

  it('counts a request the node sends itself until its final response', async () => {
    const { net, core, work, bob } = rig();
    const finals: number[] = [];
    const notify = makeRequest('NOTIFY', BOB, [
      ['Max-Forwards', '70'],
      ['From', '<sip:scscf.example.com>;tag=n1'],
      ['To', '<sip:bob@example.com>;tag=b1'],
      ['Call-ID', 'sub-1'],
      ['CSeq', '1 NOTIFY'],
    ]);
    core.originate(notify, (res) => finals.push(res.status));
    await net.flush();
    expect(work.counts()).toEqual({ ...NOTHING, 'client transaction': 1 });
    answer(bob, 'NOTIFY', 200);
    await net.flush();
    expect(finals).toEqual([200]);
    expect(work.counts()).toEqual(NOTHING);
  });

  it('lets go of answered transactions while no request arrives (an idle node holds nothing for them)', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    try {
      const { net, work, alice, bob, clock } = rig();
      // What it holds: not part of its interface, read here to see the memory an idle node keeps.
      const held = () => (work as unknown as { servers: Set<unknown>; clients: Set<unknown> }).servers.size;
      send(alice, request(alice, 'OPTIONS', 'sip:bob@example.com'));
      await net.flush();
      answer(bob, 'OPTIONS', 200);
      await net.flush();
      expect(held()).toBe(1);
      // No request comes after it: the sweep runs by its timer, 10 s on.
      clock.advance(10_000);
      vi.advanceTimersByTime(10_000);
      expect(held()).toBe(0);
    } finally {
      vi.useRealTimers();
    }
  });

  it('remembers at most maxCalls calls, forgetting the oldest', async () => {
    const { net, work, alice, bob } = rig({ maxCalls: 2 });
    for (let i = 0; i < 3; i++) {
      send(alice, request(alice, 'INVITE', 'sip:bob@example.com'));
      await net.flush();
      answer(bob, 'INVITE', 200);
      await net.flush();
    }
    expect(work.counts().call).toBe(2);
  });
});
