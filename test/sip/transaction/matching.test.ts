import { describe, expect, it } from 'vitest';
import { makeRequest, makeResponse } from '../../../src/sip/message/build.js';
import type { SipRequest, SipResponse } from '../../../src/sip/message/message.js';
import { serializeMessage } from '../../../src/sip/message/serialize.js';
import { parseMessage } from '../../../src/sip/parser/parse.js';
import { readFixture } from '../../harness/fixtures.js';
import type { FakeProtocol } from '../../harness/fake-transport.js';
import { ownString } from '../../../src/sip/transaction/matching.js';
import { PEER, PROTOCOLS, request, responsesSent, rig } from './helpers.js';

/** RFC 4475 §3.1.1.x inv2543.dat: an RFC 2543 INVITE (no branch, no From tag); Content-Length added for TCP. */
function inv2543(protocol: FakeProtocol): Buffer {
  const data = readFixture('rfc4475', 'inv2543.dat');
  if (protocol === 'UDP') return data;
  const msg = parseMessage(data, { stream: false });
  msg.setBody(msg.body);
  return serializeMessage(msg);
}

/** An RFC 2543 request for the same transaction: same Request-URI, From, Call-ID, CSeq number and Via. */
function legacy(invite: SipRequest, method: string, to: string, uri = invite.uriString): SipRequest {
  return makeRequest(method, uri, [
    ['Via', invite.getAll('via')[0]!.replace(/;received=[^;]*/, '')],
    ['From', invite.get('from')!],
    ['To', to],
    ['Call-ID', invite.callId],
    ['CSeq', `${invite.cseq.seq} ${method}`],
  ]);
}

describe.each(PROTOCOLS)('RFC 2543 fallback matching (§17.2.3) over %s', (protocol) => {
  async function start() {
    const r = rig(protocol, { autoTrying: false });
    let busy: SipResponse | undefined;
    r.user.onRequestHook = (tx) => {
      if (tx.request.method !== 'INVITE') return;
      busy = makeResponse(tx.request, 486, undefined, 'uas-2543');
      tx.respond(busy);
    };
    const data = inv2543(protocol);
    await r.peerSend(data);
    const tx = r.user.requests[0]!;
    return { r, tx, data, busy: busy! };
  }

  it('absorbs a retransmission of a branchless INVITE and re-sends its response', async () => {
    const { r, tx, data } = await start();
    expect(tx.request.callId).toBe('inv2543.1717@ift.client.example.com');
    await r.peerSend(data);
    expect(r.user.requests).toHaveLength(1);
    expect(responsesSent(r, 486)).toHaveLength(2);
  });

  it('matches the ACK carrying the To tag of the response to the INVITE transaction', async () => {
    const { r, tx, busy } = await start();
    await r.peerSend(legacy(tx.request, 'ACK', busy.get('to')!));
    expect(r.user.acks).toEqual([]);
    expect(tx.state).toBe(protocol === 'UDP' ? 'confirmed' : 'terminated');
  });

  it('hands an ACK with another To tag to the TU (the ACK for a 2xx, §17.2.3)', async () => {
    const { r, tx } = await start();
    await r.peerSend(legacy(tx.request, 'ACK', `${tx.request.get('to')};tag=other`));
    expect(r.user.acks).toHaveLength(1);
    expect(tx.state).toBe('completed');
  });

  it('finds the INVITE for a branchless CANCEL (§9.2)', async () => {
    const r = rig(protocol, { autoTrying: false });
    await r.peerSend(inv2543(protocol));
    const inviteTx = r.user.requests[0]!;
    await r.peerSend(legacy(inviteTx.request, 'CANCEL', inviteTx.request.get('to')!));
    const cancelTx = r.user.requests[1]!;
    expect(cancelTx.request.method).toBe('CANCEL');
    expect(r.stack.findInviteForCancel(cancelTx.request)).toBe(inviteTx);
    const elsewhere = legacy(inviteTx.request, 'CANCEL', inviteTx.request.get('to')!, 'sip:UserC@example.com');
    await r.peerSend(elsewhere);
    expect(r.stack.findInviteForCancel(r.user.requests[2]!.request)).toBeUndefined();
  });

  it('treats a request differing only in the Request-URI as a new transaction', async () => {
    const { r, tx } = await start();
    const other = legacy(tx.request, 'INVITE', tx.request.get('to')!, 'sip:UserC@example.com');
    await r.peerSend(other);
    expect(r.user.requests).toHaveLength(2);
  });
});

describe.each(PROTOCOLS)('RFC 3261 matching (§17.2.3, §9.2) over %s', (protocol) => {
  it('keeps a request with the same branch from another sent-by as a separate transaction', async () => {
    const r = rig(protocol, { autoTrying: false });
    const a = request('OPTIONS', { protocol, from: PEER, branch: 'z9hG4bK-shared' });
    const b = request('OPTIONS', { protocol, from: PEER, branch: 'z9hG4bK-shared', viaHost: 'other.example.com' });
    await r.peerSend(a);
    await r.peerSend(b);
    expect(r.user.requests).toHaveLength(2);
  });

  it('compares the sent-by host case-insensitively', async () => {
    const r = rig(protocol, { autoTrying: false });
    const a = request('OPTIONS', { protocol, from: PEER, branch: 'z9hG4bK-case', viaHost: 'Peer.Example.com:5060' });
    const b = request('OPTIONS', { protocol, from: PEER, branch: 'z9hG4bK-case', viaHost: 'peer.example.COM:5060', callId: a.callId });
    await r.peerSend(a);
    await r.peerSend(b);
    expect(r.user.requests).toHaveLength(1);
  });

  it('matches a CANCEL to the INVITE with its branch and sent-by only', async () => {
    const r = rig(protocol, { autoTrying: false });
    const invite = request('INVITE', { protocol, from: PEER });
    await r.peerSend(invite);
    const inviteTx = r.user.requests[0]!;
    const same = request('CANCEL', { protocol, from: PEER, branch: invite.topVia!.branch });
    const otherBranch = request('CANCEL', { protocol, from: PEER });
    const otherSentBy = request('CANCEL', { protocol, from: PEER, branch: invite.topVia!.branch, viaHost: 'elsewhere.example.com' });
    expect(r.stack.findInviteForCancel(same)).toBe(inviteTx);
    expect(r.stack.findInviteForCancel(otherBranch)).toBeUndefined();
    expect(r.stack.findInviteForCancel(otherSentBy)).toBeUndefined();
  });

  it('does not offer a non-INVITE transaction to a CANCEL', async () => {
    const r = rig(protocol, { autoTrying: false });
    const options = request('OPTIONS', { protocol, from: PEER });
    await r.peerSend(options);
    expect(r.stack.findInviteForCancel(request('CANCEL', { protocol, from: PEER, branch: options.topVia!.branch }))).toBeUndefined();
  });

  it('matches the ACK for a 3xx-6xx to the INVITE transaction, never to the TU', async () => {
    const r = rig(protocol, { autoTrying: false });
    r.user.onRequestHook = (tx) => tx.respond(makeResponse(tx.request, 404, undefined, 'nf'));
    const invite = request('INVITE', { protocol, from: PEER });
    await r.peerSend(invite);
    const ack = request('ACK', { protocol, from: PEER, branch: invite.topVia!.branch, callId: invite.callId, toTag: 'nf' });
    await r.peerSend(ack);
    expect(r.user.acks).toEqual([]);
    expect(r.user.requests[0]!.state).toBe(protocol === 'UDP' ? 'confirmed' : 'terminated');
  });
});

describe('ownString (transaction keys kept for 32 s)', () => {
  it('copies a key cut from a message to an equal string, whatever its characters', () => {
    const text = 'INVITE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK-7a3f9c\r\n';
    const branch = text.slice(text.indexOf('z9hG4bK'), text.lastIndexOf('\r\n'));
    expect(ownString(branch + ' INVITE')).toBe('z9hG4bK-7a3f9c INVITE');
    for (const s of ['z9hG4bK-\u00e9t\u00e9 INVITE', 'z9hG4bK-\u260e-call INVITE', '\ud800 lone surrogate key', 'short', '']) expect(ownString(s)).toBe(s);
  });
});
