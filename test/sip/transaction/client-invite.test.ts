import { describe, expect, it } from 'vitest';
import type { SipRequest } from '../../../src/sip/message/message.js';
import { serializeMessage } from '../../../src/sip/message/serialize.js';
import { PEER, PROTOCOLS, T1, request, requestsSent, rig, times, type Rig } from './helpers.js';

async function startInvite(r: Rig, spec: Partial<Parameters<typeof request>[1]> = {}) {
  const h = r.handler();
  const invite = request('INVITE', { protocol: r.protocol, ...spec });
  const tx = r.stack.sendRequest(invite, { protocol: r.protocol, ...PEER }, h);
  await r.net.flush();
  const received = r.peer.received((m) => 'method' in m && m.method === 'INVITE')[0]!;
  return { h, tx, invite, received };
}

describe('INVITE client transaction over UDP', () => {
  it('retransmits an INVITE at T1, 2T1, 4T1... (no T2 cap) until timer B reports a timeout at 64*T1', async () => {
    const r = rig('UDP');
    const { h, tx } = await startInvite(r);
    await r.advance(64 * T1 - 1);
    expect(times(requestsSent(r, 'INVITE'))).toEqual([0, 500, 1500, 3500, 7500, 15500, 31500]);
    expect(h.timeouts).toEqual([]);
    expect(tx.state).toBe('calling');
    await r.advance(1);
    expect(h.timeouts).toEqual([64 * T1]);
    expect(tx.state).toBe('terminated');
    expect(r.stack.transactionCount).toEqual({ client: 0, server: 0 });
    await r.advance(100_000);
    expect(requestsSent(r, 'INVITE')).toHaveLength(7);
  });

  it('recovers from a lost INVITE by retransmitting it over the same flow', async () => {
    const r = rig('UDP');
    r.net.drop((p) => p.message !== undefined && 'method' in p.message, 1);
    const h = r.handler();
    const tx = r.stack.sendRequest(request('INVITE', { protocol: 'UDP' }), { protocol: 'UDP', ...PEER }, h);
    await r.net.flush();
    expect(r.peer.inbox).toHaveLength(0);
    await r.advance(T1);
    expect(r.peer.received()).toHaveLength(1);
    expect(requestsSent(r, 'INVITE').map((p) => p.dropped)).toEqual([true, false]);
    expect(requestsSent(r, 'INVITE').map((p) => p.flowId)).toEqual([tx.flow!.id, tx.flow!.id]);
  });

  it('uses the T1 it was configured with', async () => {
    const r = rig('UDP', { timers: { T1: 100 } });
    const { h } = await startInvite(r);
    await r.advance(6400);
    expect(times(requestsSent(r, 'INVITE'))).toEqual([0, 100, 300, 700, 1500, 3100, 6300]);
    expect(h.timeouts).toEqual([6400]);
  });
});

describe('INVITE client transaction over TCP', () => {
  it('sends the INVITE once (no timer A) and still reports timer B at 64*T1', async () => {
    const r = rig('TCP');
    const { h, tx } = await startInvite(r);
    await r.advance(64 * T1 - 1);
    expect(times(requestsSent(r, 'INVITE'))).toEqual([0]);
    expect(h.timeouts).toEqual([]);
    await r.advance(1);
    expect(h.timeouts).toEqual([64 * T1]);
    expect(tx.state).toBe('terminated');
  });

  it('reports a transport error when no connection can be opened', async () => {
    const r = rig('TCP');
    const h = r.handler();
    const tx = r.stack.sendRequest(request('INVITE', { protocol: 'TCP' }), { protocol: 'TCP', address: '192.0.2.99', port: 5060 }, h);
    await r.net.flush();
    expect(h.transportErrors.map((e) => e.message)).toEqual(['connect ECONNREFUSED 192.0.2.99:5060']);
    expect(tx.state).toBe('terminated');
    expect(r.stack.transactionCount.client).toBe(0);
  });
});

describe.each(PROTOCOLS)('INVITE client transaction over %s', (protocol) => {
  it('stops retransmitting on a provisional response and waits in Proceeding past timer B', async () => {
    const r = rig(protocol);
    const { h, tx, received } = await startInvite(r);
    await r.peerReply(received, 180, 'callee');
    await r.advance(10 * 64 * T1);
    expect(requestsSent(r, 'INVITE')).toHaveLength(1);
    expect(h.statuses).toEqual([180]);
    expect(h.timeouts).toEqual([]);
    expect(tx.state).toBe('proceeding');
  });

  it('ACKs a 486 with the Request-URI, top Via, From, Call-ID, CSeq number and Route of the INVITE and the To of the response', async () => {
    const r = rig(protocol);
    const { h, tx, invite, received } = await startInvite(r, {
      uri: 'sip:bob@biloxi.example.com;transport=x',
      lowerVias: ['SIP/2.0/UDP upstream.example.com;branch=z9hG4bK-upstream'],
      routes: ['<sip:p1.example.com;lr>', '<sip:p2.example.com;lr>'],
      cseq: 4711,
    });
    await r.peerReply(received, 486, 'busy-tag');
    expect(h.statuses).toEqual([486]);
    const acks = requestsSent(r, 'ACK');
    expect(acks).toHaveLength(1);
    const ack = acks[0]!.message as SipRequest;
    expect(ack.uriString).toBe('sip:bob@biloxi.example.com;transport=x');
    expect(ack.getAll('via')).toEqual([invite.getAll('via')[0]]);
    expect(ack.topVia!.branch).toBe(invite.topVia!.branch);
    expect(ack.getAll('route')).toEqual(['<sip:p1.example.com;lr>', '<sip:p2.example.com;lr>']);
    expect(ack.get('from')).toBe(invite.get('from'));
    expect(ack.to.tag).toBe('busy-tag');
    expect(ack.callId).toBe(invite.callId);
    expect(ack.cseq).toEqual({ seq: 4711, method: 'ACK' });
    expect(ack.get('max-forwards')).toBe('70');
    expect(acks[0]!.flowId).toBe(tx.flow!.id);
  });

  it('absorbs a retransmitted 486 by sending the same ACK again, without telling the TU', async () => {
    const r = rig(protocol);
    const { h, received } = await startInvite(r);
    const busy = await r.peerReply(received, 486, 'busy');
    await r.peer.send(serializeMessage(busy), { flowId: received.flow.id });
    await r.net.flush();
    expect(h.statuses).toEqual([486]);
    const acks = requestsSent(r, 'ACK');
    if (protocol === 'UDP') {
      expect(acks).toHaveLength(2);
      expect(acks[1]!.data.equals(acks[0]!.data)).toBe(true);
    } else {
      // Timer D is 0 over TCP: the transaction is gone and the retransmission is stray.
      expect(acks).toHaveLength(1);
      expect(r.user.strays.map((s) => s.status)).toEqual([486]);
    }
  });

  it(`keeps a completed transaction for timer D (${protocol === 'UDP' ? '32 s' : '0 s'})`, async () => {
    const r = rig(protocol);
    const { tx, received } = await startInvite(r);
    await r.peerReply(received, 603, 'decline');
    if (protocol === 'UDP') {
      expect(tx.state).toBe('completed');
      await r.advance(32_000 - 1);
      expect(tx.state).toBe('completed');
      await r.advance(1);
    }
    expect(tx.state).toBe('terminated');
    expect(r.stack.transactionCount.client).toBe(0);
  });

  it('passes every 2xx up in Accepted, sends no ACK itself, and ends at timer M (RFC 6026)', async () => {
    const r = rig(protocol);
    const { h, tx, received } = await startInvite(r);
    const ok = await r.peerReply(received, 200, 'fork-a');
    expect(tx.state).toBe('accepted');
    await r.peer.send(serializeMessage(ok), { flowId: received.flow.id });
    await r.peerReply(received, 200, 'fork-b');
    await r.peerReply(received, 180, 'late');
    await r.peerReply(received, 486, 'late');
    expect(h.responses.map((x) => `${x.status} ${x.to.tag}`)).toEqual(['200 fork-a', '200 fork-a', '200 fork-b']);
    expect(requestsSent(r, 'ACK')).toHaveLength(0);
    await r.advance(64 * T1 - 1);
    expect(tx.state).toBe('accepted');
    await r.advance(1);
    expect(tx.state).toBe('terminated');
    await r.peer.send(serializeMessage(ok), { flowId: received.flow.id });
    await r.net.flush();
    expect(r.user.strays.map((s) => s.status)).toEqual([200]);
  });

  it('sends what comes after a hand-over to the new handler only (2xx retransmissions in Accepted)', async () => {
    const r = rig(protocol);
    const { h, tx, received } = await startInvite(r);
    const ok = await r.peerReply(received, 200, 'fork-a');
    const next = r.handler();
    tx.handOver(next);
    await r.peer.send(serializeMessage(ok), { flowId: received.flow.id });
    await r.peerReply(received, 200, 'fork-b');
    await r.net.flush();
    expect(h.responses.map((x) => `${x.status} ${x.to.tag}`)).toEqual(['200 fork-a']);
    expect(next.responses.map((x) => `${x.status} ${x.to.tag}`)).toEqual(['200 fork-a', '200 fork-b']);
    expect(r.user.strays).toEqual([]);
  });

  it('reports a transport error when the first send fails', async () => {
    const r = rig(protocol);
    r.local.failNextSends(1, new Error('network unreachable'));
    const h = r.handler();
    const tx = r.stack.sendRequest(request('INVITE', { protocol }), { protocol, ...PEER }, h);
    expect(h.transportErrors).toEqual([]);
    await r.net.flush();
    expect(h.transportErrors.map((e) => e.message)).toEqual(['network unreachable']);
    expect(tx.state).toBe('terminated');
    await r.advance(64 * T1);
    expect(h.timeouts).toEqual([]);
  });

  it('stops at once when the TU terminates it', async () => {
    const r = rig(protocol);
    const { h, tx } = await startInvite(r);
    tx.terminate();
    await r.advance(64 * T1);
    expect(requestsSent(r, 'INVITE')).toHaveLength(1);
    expect(h.timeouts).toEqual([]);
    expect(r.clock.pendingCount).toBe(0);
  });

  it('refuses to start a second transaction with the same branch and method', async () => {
    const r = rig(protocol);
    const { invite } = await startInvite(r);
    expect(() => r.stack.sendRequest(invite, { protocol, ...PEER }, r.handler())).toThrow(/already exists/);
    expect(() => r.stack.sendRequest(request('ACK', { protocol }), { protocol, ...PEER }, r.handler())).toThrow(/sendStateless/);
  });
});
