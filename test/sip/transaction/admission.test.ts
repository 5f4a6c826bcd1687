/**
 * The stack's `admit` (overload control): a refused request is answered 503 with Retry-After
 * statelessly (RFC 3261 §8.2.7), keeps no transaction, and the ACK of a refused INVITE goes
 * nowhere; requests inside a dialog, CANCELs and the retransmissions of admitted requests are
 * never asked about.
 */
import { describe, expect, it } from 'vitest';
import { ackForNon2xx } from '../../../src/sip/transaction/ack.js';
import type { SipResponse } from '../../../src/sip/message/message.js';
import type { Admission } from '../../../src/sip/transaction/types.js';
import { PEER, request, responsesSent, rig } from './helpers.js';

const REFUSED: Admission = { ok: false, retryAfterSeconds: 3, reason: 'Service Unavailable - overloaded' };

/** A stack whose admission answers what `open` says, counting the questions. */
function gated() {
  const gate = { open: false, asked: 0 };
  const r = rig('UDP', {
    admit: () => {
      gate.asked += 1;
      return gate.open ? { ok: true } : REFUSED;
    },
  });
  return { r, gate };
}

describe('admission of new requests by the stack', () => {
  it('answers a refused request 503 with Retry-After and keeps no transaction for it', async () => {
    const { r, gate } = gated();
    const req = request('REGISTER', { protocol: 'UDP', from: PEER });
    await r.peerSend(req);
    const [refusal] = responsesSent(r, 503);
    const res = refusal!.message as SipResponse;
    expect(res.get('retry-after')).toBe('3');
    expect(res.reason).toBe('Service Unavailable - overloaded');
    expect(res.to.tag).toBeDefined();
    expect(r.user.requests).toHaveLength(0);
    expect(r.stack.transactionCount.server).toBe(0);
    // A retransmission is a new question, and may be admitted this time.
    gate.open = true;
    await r.peerSend(req);
    expect(gate.asked).toBe(2);
    expect(r.user.requests).toHaveLength(1);
  });

  it('absorbs the ACK of a refused INVITE', async () => {
    const { r } = gated();
    const invite = request('INVITE', { protocol: 'UDP', from: PEER });
    await r.peerSend(invite);
    const refusal = responsesSent(r, 503)[0]!.message as SipResponse;
    await r.peerSend(ackForNon2xx(invite, refusal));
    expect(r.user.acks).toHaveLength(0);
    expect(r.errors).toEqual([]);
  });

  it('never asks about requests inside a dialog, CANCELs, ACKs or retransmissions of admitted requests', async () => {
    const { r, gate } = gated();
    await r.peerSend(request('BYE', { protocol: 'UDP', from: PEER, toTag: 'b1' }));
    await r.peerSend(request('CANCEL', { protocol: 'UDP', from: PEER }));
    await r.peerSend(request('ACK', { protocol: 'UDP', from: PEER, toTag: 'b1' }));
    expect(gate.asked).toBe(0);
    expect(r.user.requests.map((tx) => tx.request.method)).toEqual(['BYE', 'CANCEL']);
    expect(r.user.acks).toHaveLength(1);
    gate.open = true;
    const options = request('OPTIONS', { protocol: 'UDP', from: PEER });
    await r.peerSend(options);
    gate.open = false;
    await r.peerSend(options);
    expect(gate.asked).toBe(1);
    expect(responsesSent(r, 503)).toHaveLength(0);
  });
});
