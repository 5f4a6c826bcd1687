/**
 * A connection closing under a client transaction (the next hop died: its kernel reset the
 * connection): the transaction fails with a transport error at once, so the proxy above fails
 * over or answers, instead of waiting for timer B, or after a 100 for timer C (minutes).
 */
import { describe, expect, it } from 'vitest';
import { PEER, request, requestsSent, rig } from './helpers.js';

async function inviteSent() {
  const r = rig('TCP');
  const h = r.handler();
  const tx = r.stack.sendRequest(request('INVITE', { protocol: 'TCP' }), { protocol: 'TCP', ...PEER }, h);
  await r.net.flush();
  const received = r.peer.received((m) => 'method' in m && m.method === 'INVITE')[0]!;
  // The stack's own end of the connection the INVITE went out on.
  const connection = requestsSent(r, 'INVITE')[0]!.flowId;
  return { r, h, tx, received, connection };
}

describe('a connection closing under client transactions', () => {
  it('fails an INVITE that had a 100 with a transport error at once', async () => {
    const { r, h, tx, received, connection } = await inviteSent();
    await r.peerReply(received, 100);
    expect(r.stack.flowClosed(connection)).toBe(1);
    expect(h.transportErrors).toHaveLength(1);
    expect(h.transportErrors[0]!.message).toMatch(/closed before the final response/);
    expect(tx.state).toBe('terminated');
    expect(r.stack.transactionCount.client).toBe(0);
  });

  it('leaves a transaction with its final response, and those on other connections, alone', async () => {
    const { r, h, received, connection } = await inviteSent();
    await r.peerReply(received, 486, 'callee');
    expect(r.stack.flowClosed(connection)).toBe(0);
    expect(r.stack.flowClosed('some-other-connection')).toBe(0);
    expect(h.statuses).toEqual([486]);
    expect(h.transportErrors).toEqual([]);
  });
});
