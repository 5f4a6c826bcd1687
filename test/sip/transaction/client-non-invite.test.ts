import { describe, expect, it } from 'vitest';
import type { SipRequest } from '../../../src/sip/message/message.js';
import { serializeMessage } from '../../../src/sip/message/serialize.js';
import { PEER, PROTOCOLS, T1, T4, request, requestsSent, rig, times, type Rig } from './helpers.js';

async function startOptions(r: Rig, method = 'OPTIONS') {
  const h = r.handler();
  const req = request(method, { protocol: r.protocol });
  const tx = r.stack.sendRequest(req, { protocol: r.protocol, ...PEER }, h);
  await r.net.flush();
  const received = r.peer.received((m) => 'method' in m && m.method === method)[0]!;
  return { h, tx, req, received };
}

describe('non-INVITE client transaction over UDP', () => {
  it('retransmits at T1, 2T1, 4T1 and then every T2 (timer E) until timer F reports a timeout at 64*T1', async () => {
    const r = rig('UDP');
    const { h, tx } = await startOptions(r);
    await r.advance(64 * T1 - 1);
    expect(times(requestsSent(r, 'OPTIONS'))).toEqual([0, 500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500]);
    expect(h.timeouts).toEqual([]);
    await r.advance(1);
    expect(h.timeouts).toEqual([64 * T1]);
    expect(tx.state).toBe('terminated');
    expect(r.stack.transactionCount.client).toBe(0);
  });

  it('caps timer E at the configured T2', async () => {
    const r = rig('UDP', { timers: { T2: 2000 } });
    await startOptions(r);
    await r.advance(12_000);
    expect(times(requestsSent(r, 'OPTIONS'))).toEqual([0, 500, 1500, 3500, 5500, 7500, 9500, 11500]);
  });

  it('retransmits every T2 once a provisional response has moved it to Proceeding', async () => {
    const r = rig('UDP');
    const { h, tx, received } = await startOptions(r, 'REGISTER');
    await r.peerReply(received, 100);
    expect(tx.state).toBe('proceeding');
    await r.advance(64 * T1);
    expect(times(requestsSent(r, 'REGISTER'))).toEqual([0, 500, 4500, 8500, 12500, 16500, 20500, 24500, 28500]);
    expect(h.statuses).toEqual([100]);
    expect(h.timeouts).toEqual([64 * T1]);
  });
});

describe('non-INVITE client transaction over TCP', () => {
  it('sends the request once (no timer E) and reports timer F at 64*T1', async () => {
    const r = rig('TCP');
    const { h } = await startOptions(r);
    await r.advance(64 * T1 - 1);
    expect(times(requestsSent(r, 'OPTIONS'))).toEqual([0]);
    expect(h.timeouts).toEqual([]);
    await r.advance(1);
    expect(h.timeouts).toEqual([64 * T1]);
  });
});

describe.each(PROTOCOLS)('non-INVITE client transaction over %s', (protocol) => {
  it(`absorbs retransmitted final responses until timer K (${protocol === 'UDP' ? 'T4' : '0'}) ends it`, async () => {
    const r = rig(protocol);
    const { h, tx, received } = await startOptions(r);
    const ok = await r.peerReply(received, 200, 'uas');
    await r.peer.send(serializeMessage(ok), { flowId: received.flow.id });
    await r.net.flush();
    expect(h.statuses).toEqual([200]);
    if (protocol === 'UDP') {
      expect(r.user.strays).toEqual([]);
      expect(tx.state).toBe('completed');
      await r.advance(T4 - 1);
      expect(tx.state).toBe('completed');
      await r.advance(1);
    } else expect(r.user.strays.map((s) => s.status)).toEqual([200]);
    expect(tx.state).toBe('terminated');
    expect(requestsSent(r, 'OPTIONS')).toHaveLength(1);
    expect(r.clock.pendingCount).toBe(0);
  });

  it('keeps its request until the final response and lets go of it then', async () => {
    const r = rig(protocol);
    const { tx, req, received } = await startOptions(r, 'MESSAGE');
    await r.peerReply(received, 180);
    expect(tx.request).toBe(req);
    await r.peerReply(received, 200, 'uas');
    expect(() => tx.request).toThrow(/has let go of its request \(final response received\)/);
  });

  it('passes provisional responses up and stays alive until the final one', async () => {
    const r = rig(protocol);
    const { h, tx, received } = await startOptions(r, 'MESSAGE');
    await r.peerReply(received, 100);
    await r.peerReply(received, 183);
    await r.peerReply(received, 404, 'nf');
    expect(h.statuses).toEqual([100, 183, 404]);
    expect(tx.state).toBe(protocol === 'UDP' ? 'completed' : 'terminated');
    expect(requestsSent(r, 'ACK')).toHaveLength(0);
  });

  it("matches a CANCEL's responses to the CANCEL, and the 487 to the INVITE sharing its branch (§17.1.3)", async () => {
    const r = rig(protocol);
    const inviteHandler = r.handler();
    const invite = request('INVITE', { protocol, cseq: 7 });
    const inviteTx = r.stack.sendRequest(invite, { protocol, ...PEER }, inviteHandler);
    await r.net.flush();
    const gotInvite = r.peer.received((m) => 'method' in m && m.method === 'INVITE')[0]!;
    await r.peerReply(gotInvite, 180, 'callee');

    const cancel = request('CANCEL', { protocol, branch: invite.topVia!.branch, callId: invite.callId, cseq: 7 });
    cancel.set('from', invite.get('from')!);
    const cancelHandler = r.handler();
    r.stack.sendRequest(cancel, { flowId: inviteTx.flow!.id }, cancelHandler);
    await r.net.flush();
    const gotCancel = r.peer.received((m) => 'method' in m && m.method === 'CANCEL')[0]!;
    await r.peerReply(gotCancel, 200, 'callee');
    await r.peerReply(gotInvite, 487, 'callee');

    expect(cancelHandler.statuses).toEqual([200]);
    expect(inviteHandler.statuses).toEqual([180, 487]);
    const ack = requestsSent(r, 'ACK')[0]!.message as SipRequest;
    expect(ack.cseq).toEqual({ seq: 7, method: 'ACK' });
    expect(ack.topVia!.branch).toBe(invite.topVia!.branch);
  });

  it('hands a response for no transaction to the TU as stray', async () => {
    const r = rig(protocol);
    const { received } = await startOptions(r);
    const other = request('OPTIONS', { protocol });
    const got = { ...received, message: other };
    await r.peerReply(got, 200);
    expect(r.user.strays.map((s) => s.cseq.method)).toEqual(['OPTIONS']);
  });
});
