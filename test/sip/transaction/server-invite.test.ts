import { describe, expect, it } from 'vitest';
import { makeRequest, makeResponse } from '../../../src/sip/message/build.js';
import type { SipRequest, SipResponse } from '../../../src/sip/message/message.js';
import type { ServerTransaction } from '../../../src/sip/transaction/types.js';
import { PEER, PROTOCOLS, T1, requestOf, T4, request, responsesSent, rig, times, type Rig } from './helpers.js';

/** The peer sends an INVITE; `answer` runs inside onRequest. */
async function incomingInvite(r: Rig, answer?: (tx: ServerTransaction) => void) {
  r.user.onRequestHook = answer;
  const invite = request('INVITE', { protocol: r.protocol, from: PEER });
  const flow = await r.peerSend(invite);
  const tx = r.user.requests[0]!;
  return { invite, flow, tx };
}

/** The ACK a UAC sends for a non-2xx (§17.1.1.3): the INVITE's branch, the response's To. */
function ackFor(invite: SipRequest, response: SipResponse): SipRequest {
  return makeRequest('ACK', invite.uriString, [
    ['Via', invite.getAll('via')[0]!],
    ['From', invite.get('from')!],
    ['To', response.get('to')!],
    ['Call-ID', invite.callId],
    ['CSeq', `${invite.cseq.seq} ACK`],
    ['Max-Forwards', '70'],
  ]);
}

function respond(tx: ServerTransaction, status: number, tag = 'uas-tag'): SipResponse {
  const response = makeResponse(requestOf.get(tx)!, status, undefined, tag);
  tx.respond(response);
  return response;
}

describe('INVITE server transaction over UDP', () => {
  it('retransmits a 486 at T1, 2T1, 4T1 capped at T2 (timer G) until timer H tells the TU at 64*T1', async () => {
    const r = rig('UDP');
    const { tx } = await incomingInvite(r, (t) => respond(t, 486));
    await r.advance(64 * T1 - 1);
    expect(times(responsesSent(r, 486))).toEqual([0, 500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500]);
    expect(r.user.failures).toEqual([]);
    await r.advance(1);
    expect(r.user.failures.map((f) => [f.failure.kind, f.at])).toEqual([['no-ack', 64 * T1]]);
    expect(tx.state).toBe('terminated');
    expect(r.stack.transactionCount.server).toBe(0);
  });

  it('caps timer G at the configured T2', async () => {
    const r = rig('UDP', { timers: { T2: 1000 } });
    await incomingInvite(r, (t) => respond(t, 500));
    await r.advance(4000);
    expect(times(responsesSent(r, 500))).toEqual([0, 500, 1500, 2500, 3500]);
  });
});

describe('INVITE server transaction over TCP', () => {
  it('sends a 486 once (no timer G) and still reports timer H at 64*T1 without an ACK', async () => {
    const r = rig('TCP');
    const { tx } = await incomingInvite(r, (t) => respond(t, 486));
    await r.advance(64 * T1 - 1);
    expect(times(responsesSent(r, 486))).toEqual([0]);
    expect(tx.state).toBe('completed');
    await r.advance(1);
    expect(r.user.failures.map((f) => [f.failure.kind, f.at])).toEqual([['no-ack', 64 * T1]]);
  });
});

describe.each(PROTOCOLS)('INVITE server transaction over %s', (protocol) => {
  it('sends 100 Trying 200 ms after an INVITE the TU has not answered', async () => {
    const r = rig(protocol);
    const { invite } = await incomingInvite(r);
    await r.advance(199);
    expect(r.peer.received()).toHaveLength(0);
    await r.advance(1);
    const trying = r.peer.received((m) => 'status' in m && m.status === 100);
    expect(trying).toHaveLength(1);
    const msg = trying[0]!.message as SipResponse;
    expect(msg.to.tag).toBeUndefined();
    expect(msg.cseq).toEqual(invite.cseq);
    expect(msg.topVia!.branch).toBe(invite.topVia!.branch);
    expect(responsesSent(r, 100).map((p) => p.at)).toEqual([200]);
  });

  it('sends no 100 Trying when the TU answers within 200 ms', async () => {
    const r = rig(protocol);
    const { tx } = await incomingInvite(r);
    await r.advance(150);
    respond(tx, 180);
    await r.advance(1000);
    expect(responsesSent(r, 100)).toHaveLength(0);
    expect(responsesSent(r, 180)).toHaveLength(1);
  });

  it('sends the automatic 100 Trying at the configured delay, or never when disabled', async () => {
    const fast = rig(protocol, { autoTrying: 50 });
    await incomingInvite(fast);
    await fast.advance(50);
    expect(times(responsesSent(fast, 100))).toEqual([50]);
    const off = rig(protocol, { autoTrying: false });
    await incomingInvite(off);
    await off.advance(64 * T1);
    expect(responsesSent(off, 100)).toHaveLength(0);
  });

  it('absorbs a retransmitted INVITE and re-sends the last provisional, then the final response', async () => {
    const r = rig(protocol);
    const { invite, tx } = await incomingInvite(r, (t) => respond(t, 180));
    await r.peerSend(invite);
    expect(r.user.requests).toHaveLength(1);
    expect(responsesSent(r, 180)).toHaveLength(2);
    respond(tx, 480);
    await r.net.flush();
    await r.peerSend(invite);
    expect(r.user.requests).toHaveLength(1);
    expect(responsesSent(r, 480).length).toBe(2);
    expect(responsesSent(r, 180)).toHaveLength(2);
  });

  it(`stops timer G at the ACK and absorbs ACK retransmissions until timer I (${protocol === 'UDP' ? 'T4' : '0'})`, async () => {
    const r = rig(protocol);
    let busy: SipResponse | undefined;
    const { invite, tx } = await incomingInvite(r, (t) => (busy = respond(t, 486)));
    await r.advance(1000);
    await r.peerSend(ackFor(invite, busy!));
    // A client retransmits its ACK only over UDP (it answers each retransmitted 486).
    if (protocol === 'UDP') await r.peerSend(ackFor(invite, busy!));
    expect(r.user.acks).toEqual([]);
    if (protocol === 'UDP') {
      expect(tx.state).toBe('confirmed');
      await r.advance(T4 - 1);
      expect(tx.state).toBe('confirmed');
      await r.advance(1);
    }
    expect(tx.state).toBe('terminated');
    await r.advance(64 * T1);
    expect(times(responsesSent(r, 486))).toEqual(protocol === 'UDP' ? [0, 500] : [0]);
    expect(r.user.failures).toEqual([]);
  });

  it('enters Accepted on a 2xx: absorbs INVITE retransmissions, sends the TU\'s 2xx again, passes ACKs up, ends at timer L (RFC 6026)', async () => {
    const r = rig(protocol);
    let ok: SipResponse | undefined;
    const { invite, tx } = await incomingInvite(r, (t) => (ok = respond(t, 200)));
    expect(tx.state).toBe('accepted');
    await r.peerSend(invite);
    expect(r.user.requests).toHaveLength(1);
    expect(responsesSent(r, 200)).toHaveLength(1);
    tx.respond(ok!);
    await r.net.flush();
    expect(responsesSent(r, 200)).toHaveLength(2);
    respond(tx, 486);
    await r.net.flush();
    expect(responsesSent(r, 486)).toHaveLength(0);
    const ack = request('ACK', { protocol, from: PEER, callId: invite.callId, toTag: 'uas-tag', fromTag: invite.from.tag! });
    await r.peerSend(ack);
    // An ACK with the INVITE's own branch matches the transaction, which passes it up in Accepted.
    await r.peerSend(ackFor(invite, ok!));
    expect(r.user.acks.map((a) => a.ack.topVia!.branch)).toEqual([ack.topVia!.branch, invite.topVia!.branch]);
    expect(tx.state).toBe('accepted');
    await r.advance(64 * T1 - 1);
    expect(tx.state).toBe('accepted');
    await r.advance(1);
    expect(tx.state).toBe('terminated');
    expect(r.stack.transactionCount.server).toBe(0);
  });

  it('answers 500 for a TU that throws before answering', async () => {
    const r = rig(protocol);
    await incomingInvite(r, () => {
      throw new Error('TU bug');
    });
    expect(responsesSent(r, 500)).toHaveLength(1);
    expect(r.errors.map((e) => (e.error as Error).message)).toContain('TU bug');
  });

  it('runs onTerminated callbacks once, also when registered after termination', async () => {
    const r = rig(protocol);
    const { tx } = await incomingInvite(r, (t) => respond(t, 200));
    const calls: string[] = [];
    tx.onTerminated(() => calls.push('early'));
    await r.advance(64 * T1);
    tx.onTerminated(() => calls.push('late'));
    expect(calls).toEqual(['early', 'late']);
  });

  it('forgets an onTerminated callback given back with offTerminated, and only that one', async () => {
    const r = rig(protocol);
    const { tx } = await incomingInvite(r, (t) => respond(t, 200));
    const calls: string[] = [];
    const dropped = (): void => {
      calls.push('dropped');
    };
    tx.onTerminated(dropped);
    tx.onTerminated(() => calls.push('kept'));
    tx.offTerminated(dropped);
    tx.offTerminated(() => calls.push('never registered'));
    await r.advance(64 * T1);
    expect(tx.state).toBe('terminated');
    expect(calls).toEqual(['kept']);
  });

  it('still sends a 2xx the TU passes after termination, statelessly', async () => {
    const r = rig(protocol);
    let ok: SipResponse | undefined;
    const { tx } = await incomingInvite(r, (t) => (ok = respond(t, 200)));
    await r.advance(64 * T1);
    tx.respond(ok!);
    respond(tx, 486);
    await r.net.flush();
    expect(responsesSent(r, 200)).toHaveLength(2);
    expect(responsesSent(r, 486)).toHaveLength(0);
  });
});
