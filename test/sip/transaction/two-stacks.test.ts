import { describe, expect, it } from 'vitest';
import { makeRequest, makeResponse } from '../../../src/sip/message/build.js';
import { SipStack } from '../../../src/sip/transaction/stack.js';
import { FakeClock } from '../../harness/fake-clock.js';
import { FakeNetwork, type FakeProtocol } from '../../harness/fake-transport.js';
import { LOCAL, PEER, PROTOCOLS, RecordingHandler, RecordingUser, T1, request } from './helpers.js';

/** Two stacks, a UAC at LOCAL and a UAS at PEER, over one in-memory network. */
function pair(protocol: FakeProtocol) {
  const clock = new FakeClock();
  const net = new FakeNetwork(clock);
  const errors: unknown[] = [];
  const onError = (e: unknown) => errors.push(e);
  const a = net.endpoint(protocol, LOCAL.address, LOCAL.port);
  const b = net.endpoint(protocol, PEER.address, PEER.port);
  const uacUser = new RecordingUser(clock);
  const uasUser = new RecordingUser(clock);
  const uac = new SipStack({ transport: a, user: uacUser, clock, onError });
  const uas = new SipStack({ transport: b, user: uasUser, clock, onError });
  a.onMessage = (m) => uac.receive(m);
  b.onMessage = (m) => uas.receive(m);
  const advance = async (ms: number) => {
    clock.advance(ms);
    await net.flush();
  };
  return { clock, net, errors, uac, uas, uacUser, uasUser, advance };
}

const isMethod = (method: string) => (p: { message: unknown }) =>
  p.message !== undefined && (p.message as { method?: string }).method === method;
const isStatus = (status: number) => (p: { message: unknown }) =>
  p.message !== undefined && (p.message as { status?: number }).status === status;

describe('two stacks over UDP with loss', () => {
  it('completes INVITE / 486 / ACK when the first INVITE and the first 486 are lost', async () => {
    const s = pair('UDP');
    s.net.drop(isMethod('INVITE'), 1);
    s.net.drop(isStatus(486), 1);
    s.uasUser.onRequestHook = (tx) => tx.respond(makeResponse(tx.request, 486, undefined, 'busy'));
    const h = new RecordingHandler(s.clock);
    s.uac.sendRequest(request('INVITE', { protocol: 'UDP' }), { protocol: 'UDP', ...PEER }, h);
    await s.net.flush();
    await s.advance(T1); // INVITE retransmission arrives, 486 lost
    await s.advance(T1); // timer G resends the 486, the UAC ACKs it
    expect(h.statuses).toEqual([486]);
    expect(s.uasUser.requests).toHaveLength(1);
    expect(s.uasUser.requests[0]!.state).toBe('confirmed');
    expect(s.net.packets.filter(isMethod('ACK'))).toHaveLength(1);
    await s.advance(64 * T1);
    expect(s.uac.transactionCount).toEqual({ client: 0, server: 0 });
    expect(s.uas.transactionCount).toEqual({ client: 0, server: 0 });
    expect(s.uasUser.failures).toEqual([]);
    expect(s.errors).toEqual([]);
  });
});

describe.each(PROTOCOLS)('two stacks over %s', (protocol) => {
  it('delivers a 2xx to the UAC and the UAC\'s stateless ACK to the UAS core (§13.2.2.4, RFC 6026)', async () => {
    const s = pair(protocol);
    s.uasUser.onRequestHook = (tx) => {
      const ringing = makeResponse(tx.request, 180, undefined, 'callee');
      tx.respond(ringing);
      tx.respond(makeResponse(tx.request, 200, undefined, 'callee'));
    };
    const h = new RecordingHandler(s.clock);
    const invite = request('INVITE', { protocol });
    const tx = s.uac.sendRequest(invite, { protocol, ...PEER }, h);
    await s.net.flush();
    expect(h.statuses).toEqual([180, 200]);
    expect(tx.state).toBe('accepted');
    const ack = makeRequest('ACK', 'sip:bob@192.0.2.20', [
      ['Via', `SIP/2.0/${protocol} ${LOCAL.address}:${LOCAL.port};branch=z9hG4bK-ack2xx`],
      ['Max-Forwards', '70'],
      ['From', invite.get('from')!],
      ['To', h.responses[1]!.get('to')!],
      ['Call-ID', invite.callId],
      ['CSeq', `${invite.cseq.seq} ACK`],
    ]);
    await s.uac.sendStateless(ack, { flowId: tx.flow!.id });
    await s.net.flush();
    expect(s.uasUser.acks.map((a) => a.ack.to.tag)).toEqual(['callee']);
    await s.advance(64 * T1);
    expect(s.uac.transactionCount).toEqual({ client: 0, server: 0 });
    expect(s.uas.transactionCount).toEqual({ client: 0, server: 0 });
    expect(s.errors).toEqual([]);
  });

  it('runs a non-INVITE transaction to completion and cleans up both sides', async () => {
    const s = pair(protocol);
    s.uasUser.onRequestHook = (tx) => tx.respond(makeResponse(tx.request, 200, undefined, 'x'));
    const h = new RecordingHandler(s.clock);
    s.uac.sendRequest(request('OPTIONS', { protocol }), { protocol, ...PEER }, h);
    await s.net.flush();
    expect(h.statuses).toEqual([200]);
    await s.advance(64 * T1);
    expect(s.uac.transactionCount).toEqual({ client: 0, server: 0 });
    expect(s.uas.transactionCount).toEqual({ client: 0, server: 0 });
    expect(s.clock.pendingCount).toBe(0);
  });
});

describe('shutting a stack down', () => {
  it('terminates every transaction and leaves no timer behind', async () => {
    const s = pair('UDP');
    s.uasUser.onRequestHook = (tx) => tx.respond(makeResponse(tx.request, 486, undefined, 'x'));
    s.net.drop(isMethod('ACK'));
    s.uac.sendRequest(request('OPTIONS', { protocol: 'UDP' }), { protocol: 'UDP', address: '192.0.2.99', port: 5060 }, new RecordingHandler(s.clock));
    s.uac.sendRequest(request('INVITE', { protocol: 'UDP' }), { protocol: 'UDP', ...PEER }, new RecordingHandler(s.clock));
    await s.net.flush();
    expect(s.uac.transactionCount.client).toBe(2);
    expect(s.uas.transactionCount.server).toBe(1);
    s.uac.close();
    s.uas.close();
    expect(s.uac.transactionCount).toEqual({ client: 0, server: 0 });
    expect(s.uas.transactionCount).toEqual({ client: 0, server: 0 });
    expect(s.clock.pendingCount).toBe(0);
  });
});
