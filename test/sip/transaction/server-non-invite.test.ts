import { describe, expect, it } from 'vitest';
import { makeResponse } from '../../../src/sip/message/build.js';
import type { ServerTransaction } from '../../../src/sip/transaction/types.js';
import { PEER, PROTOCOLS, T1, requestOf, request, responsesSent, rig, times, type Rig } from './helpers.js';

async function incoming(r: Rig, method: string, answer?: (tx: ServerTransaction) => void) {
  r.user.onRequestHook = answer;
  const req = request(method, { protocol: r.protocol, from: PEER });
  await r.peerSend(req);
  return { req, tx: r.user.requests[0]! };
}

function respond(tx: ServerTransaction, status: number): void {
  tx.respond(makeResponse(requestOf.get(tx)!, status, undefined, 'uas'));
}

describe('non-INVITE server transaction over UDP', () => {
  it('re-sends its final response to each retransmission until timer J ends it at 64*T1', async () => {
    const r = rig('UDP');
    const { req, tx } = await incoming(r, 'OPTIONS', (t) => respond(t, 200));
    await r.advance(10_000);
    await r.peerSend(req);
    expect(times(responsesSent(r, 200))).toEqual([0, 10_000]);
    expect(r.user.requests).toHaveLength(1);
    await r.advance(64 * T1 - 10_000 - 1);
    expect(tx.state).toBe('completed');
    await r.advance(1);
    expect(tx.state).toBe('terminated');
    expect(r.stack.transactionCount.server).toBe(0);
    // The transaction is gone: the same request is now new to the TU.
    await r.peerSend(req);
    expect(r.user.requests).toHaveLength(2);
  });

  it('never retransmits a response on its own (no timer G for non-INVITE)', async () => {
    const r = rig('UDP');
    await incoming(r, 'REGISTER', (t) => respond(t, 200));
    await r.advance(64 * T1);
    expect(responsesSent(r, 200)).toHaveLength(1);
  });
});

describe('a waiting non-INVITE server transaction (UDP)', () => {
  it('lets go of its request once answered, and still answers a retransmission with its final response', async () => {
    const r = rig('UDP');
    const { req, tx } = await incoming(r, 'REGISTER', (t) => respond(t, 200));
    expect(tx.state).toBe('completed');
    expect(() => tx.request).toThrow(/has let go of its request \(final response sent\)/);
    await r.advance(1000);
    await r.peerSend(req);
    expect(times(responsesSent(r, 200))).toEqual([0, 1000]);
    expect(r.user.requests).toHaveLength(1);
  });
});

describe('non-INVITE server transaction over TCP', () => {
  it('terminates as soon as the final response is sent (timer J is 0)', async () => {
    const r = rig('TCP');
    const { tx } = await incoming(r, 'OPTIONS', (t) => respond(t, 200));
    expect(tx.state).toBe('terminated');
    expect(r.stack.transactionCount.server).toBe(0);
    expect(r.clock.pendingCount).toBe(0);
    await r.net.flush();
    expect(responsesSent(r, 200)).toHaveLength(1);
  });
});

describe.each(PROTOCOLS)('non-INVITE server transaction over %s', (protocol) => {
  it('discards retransmissions in Trying and re-sends the last provisional in Proceeding', async () => {
    const r = rig(protocol);
    const { req, tx } = await incoming(r, 'MESSAGE');
    await r.peerSend(req);
    expect(r.peer.received()).toHaveLength(0);
    expect(r.user.requests).toHaveLength(1);
    respond(tx, 100);
    await r.net.flush();
    await r.peerSend(req);
    expect(responsesSent(r, 100)).toHaveLength(2);
    expect(tx.state).toBe('proceeding');
  });

  it('never sends an automatic 100 Trying', async () => {
    const r = rig(protocol);
    await incoming(r, 'OPTIONS');
    await r.advance(64 * T1);
    expect(r.peer.received()).toHaveLength(0);
  });

  it('discards a second final response from the TU and reports it', async () => {
    const r = rig(protocol, { timers: { T1: 1000 } });
    const { tx } = await incoming(r, 'BYE', (t) => respond(t, 200));
    respond(tx, 500);
    await r.net.flush();
    expect(responsesSent(r, 200)).toHaveLength(1);
    expect(responsesSent(r, 500)).toHaveLength(0);
    expect(r.errors.map((e) => e.context)).toEqual(['respond']);
  });

  it('gives a CANCEL its own transaction, separate from the INVITE with the same branch', async () => {
    const r = rig(protocol, { autoTrying: false });
    const invite = request('INVITE', { protocol, from: PEER, cseq: 3 });
    await r.peerSend(invite);
    const cancel = request('CANCEL', { protocol, from: PEER, branch: invite.topVia!.branch, callId: invite.callId, cseq: 3 });
    await r.peerSend(cancel);
    expect(r.user.requests.map((t) => t.request.method)).toEqual(['INVITE', 'CANCEL']);
    const [inviteTx, cancelTx] = r.user.requests;
    expect(r.stack.findInviteForCancel(cancelTx!.request)).toBe(inviteTx);
    respond(cancelTx!, 200);
    respond(inviteTx!, 487);
    await r.net.flush();
    expect(r.peer.received().map((x) => `${x.message!.cseq.method} ${'status' in x.message! ? x.message.status : ''}`)).toEqual([
      'CANCEL 200',
      'INVITE 487',
    ]);
  });
});
