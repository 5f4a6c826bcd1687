/**
 * Next-hop failover (RFC 3263 §4.3) and peer sets over real sockets on 127.0.0.1: a host name
 * whose peers are a port with nothing listening, a server answering 503, a UDP socket that never
 * answers, and healthy servers. The proxy's clock is fake: the failover timeout, the quarantine
 * and the transaction timers pass only when a test advances it.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { makeRequest, newTag } from '../../../src/sip/message/build.js';
import type { SipResponse } from '../../../src/sip/message/message.js';
import { freePort } from '../../harness/tools.js';
import { Caller, closeSockets, Peer, proxyNode, ring, Swallower, unavailable, until, type Call } from './sockets.js';

afterEach(closeSockets);

const answered = (call: Call) => () => call.final !== undefined;

describe('failover across the targets of a next hop (RFC 3263 §4.3)', () => {
  it('moves on from a refused TCP connection to the next peer, and sends the next requests straight to the healthy one', async () => {
    const dead = await freePort('tcp');
    const live = await Peer.start();
    const proxy = await proxyNode([`sip:127.0.0.1:${dead};transport=tcp`, live.uri('TCP')]);
    const caller = await Caller.start();

    const first = caller.send(proxy, 'INVITE');
    await until(answered(first), 'the answer to the first INVITE');
    expect(first.statuses).toEqual([100, 200]);
    expect(first.final!.to.tag).toBe(live.tag);
    expect(proxy.sentTo(dead)).toBe(1);

    // The round robin would start the second request at the dead peer: quarantine skips it.
    for (let i = 0; i < 3; i++) {
      const next = caller.send(proxy, 'MESSAGE');
      await until(answered(next), 'the answer to a MESSAGE');
      expect(next.final!.status).toBe(200);
    }
    expect(proxy.sentTo(dead)).toBe(1);
    expect(live.received('MESSAGE')).toHaveLength(3);

    // Once the quarantine (30 s by default) is over, the dead peer gets its turn again.
    proxy.clock.advance(30_000);
    for (let i = 0; i < 2; i++) {
      const later = caller.send(proxy, 'MESSAGE');
      await until(answered(later), 'the answer to a MESSAGE after the quarantine');
      expect(later.final!.status).toBe(200);
    }
    expect(proxy.sentTo(dead)).toBe(2);
    expect(proxy.errors).toEqual([]);
  });

  it('tries the next peer after a 503, and keeps the 503 peer aside for as long as its Retry-After says', async () => {
    const busy = await Peer.start(unavailable(60));
    const live = await Peer.start();
    const proxy = await proxyNode([busy.uri('UDP'), live.uri('UDP')]);
    const caller = await Caller.start();

    const first = caller.send(proxy, 'MESSAGE');
    await until(answered(first), 'the answer to the first MESSAGE');
    expect(first.statuses).toEqual([200]);
    expect(first.final!.to.tag).toBe(live.tag);
    expect(busy.received('MESSAGE')).toHaveLength(1);

    // Past the default quarantine, within the 60 s asked for: still aside.
    proxy.clock.advance(45_000);
    for (let i = 0; i < 2; i++) {
      const next = caller.send(proxy, 'MESSAGE');
      await until(answered(next), 'the answer to a MESSAGE');
      expect(next.statuses).toEqual([200]);
    }
    expect(busy.received('MESSAGE')).toHaveLength(1);

    proxy.clock.advance(16_000);
    for (let i = 0; i < 2; i++) {
      const next = caller.send(proxy, 'MESSAGE');
      await until(answered(next), 'the answer to a MESSAGE after the Retry-After');
      expect(next.statuses).toEqual([200]);
    }
    expect(busy.received('MESSAGE')).toHaveLength(2);
  });

  it('moves on from a peer that swallows requests after the failover timeout, without CANCELling it', async () => {
    const hole = await Swallower.start();
    const live = await Peer.start();
    const proxy = await proxyNode([hole.uri, live.uri('UDP')], { failoverTimeoutMs: 1000 });
    const caller = await Caller.start();

    const call = caller.send(proxy, 'INVITE');
    await until(() => hole.received('INVITE').length > 0, 'the INVITE at the silent peer');
    proxy.clock.advance(999);
    await until(() => hole.received('INVITE').length > 1, 'the retransmission at the silent peer');
    expect(live.received('INVITE')).toHaveLength(0);

    proxy.clock.advance(1);
    await until(answered(call), 'the answer from the second peer');
    expect(call.statuses).toEqual([100, 200]);
    expect(call.final!.to.tag).toBe(live.tag);
    expect(hole.received('CANCEL')).toHaveLength(0);
  });

  it('ACKs and BYEs a late 2xx from the abandoned peer, and the caller sees only the answer that counts', async () => {
    const hole = await Swallower.start();
    const live = await Peer.start();
    const proxy = await proxyNode([hole.uri, live.uri('UDP')]);
    const caller = await Caller.start();

    const call = caller.send(proxy, 'INVITE');
    await until(() => hole.received('INVITE').length > 0, 'the INVITE at the silent peer');
    proxy.clock.advance(1000);
    await until(answered(call), 'the answer from the second peer');

    hole.reply('INVITE', 200);
    await until(() => hole.received('BYE').length > 0, 'the BYE of the late dialog');
    const [ack, bye] = [hole.received('ACK')[0]!, hole.received('BYE')[0]!];
    expect(ack.to.tag).toBe('late');
    expect(bye.to.tag).toBe('late');
    expect(bye.callId).toBe(call.request.callId);
    expect(bye.cseq.seq).toBe(call.request.cseq.seq + 1);
    expect(call.statuses).toEqual([100, 200]);
    expect(call.final!.to.tag).toBe(live.tag);
  });

  it('CANCELs an abandoned INVITE that rings late (it could not be CANCELled before, §9.1)', async () => {
    const hole = await Swallower.start();
    const live = await Peer.start();
    const proxy = await proxyNode([hole.uri, live.uri('UDP')]);
    const caller = await Caller.start();

    const call = caller.send(proxy, 'INVITE');
    await until(() => hole.received('INVITE').length > 0, 'the INVITE at the silent peer');
    proxy.clock.advance(1000);
    await until(answered(call), 'the answer from the second peer');

    hole.reply('INVITE', 180);
    await until(() => hole.received('CANCEL').length > 0, 'the CANCEL of the late INVITE');
    expect(hole.received('CANCEL')[0]!.topVia!.branch).toBe(hole.received('INVITE')[0]!.topVia!.branch);
    expect(call.statuses).toEqual([100, 200]);
  });

  it('fails over a request this process makes itself (a NOTIFY) the same way', async () => {
    const dead = await freePort('tcp');
    const live = await Peer.start();
    const proxy = await proxyNode([`sip:127.0.0.1:${dead};transport=tcp`, live.uri('TCP')]);
    const notify = makeRequest('NOTIFY', 'sip:bob@core.test', [
      ['Max-Forwards', '70'],
      ['From', `<sip:reg@example.com>;tag=${newTag()}`],
      ['To', '<sip:bob@example.com>;tag=b1'],
      ['Call-ID', `${newTag()}@test`],
      ['CSeq', '2 NOTIFY'],
      ['Event', 'reg'],
    ]);
    const answers: SipResponse[] = [];
    proxy.core.originate(notify, (res) => answers.push(res));
    await until(() => answers.length > 0, 'the answer to the NOTIFY');
    expect(answers.map((r) => r.status)).toEqual([200]);
    expect(live.received('NOTIFY')).toHaveLength(1);
    expect(proxy.sentTo(dead)).toBe(1);
  });

  it('shares the load of equal peers: 20 requests are split between two healthy ones', async () => {
    const [a, b] = [await Peer.start(), await Peer.start()];
    const proxy = await proxyNode([a.uri('TCP'), b.uri('TCP')]);
    const caller = await Caller.start();

    const calls = Array.from({ length: 20 }, () => caller.send(proxy, 'MESSAGE'));
    await until(() => calls.every((c) => c.final !== undefined), 'the answers to 20 MESSAGEs');
    expect(calls.map((c) => c.final!.status)).toEqual(Array(20).fill(200));
    expect(a.received('MESSAGE')).toHaveLength(10);
    expect(b.received('MESSAGE')).toHaveLength(10);
  });
});

describe('CANCEL while a request is failing over', () => {
  it('answers 487 when the CANCEL comes after the failover, CANCELs the ringing peer only, and leaves no transaction behind', async () => {
    const hole = await Swallower.start();
    const live = await Peer.start(ring);
    const proxy = await proxyNode([hole.uri, live.uri('UDP')]);
    const caller = await Caller.start();

    const call = caller.send(proxy, 'INVITE');
    await until(() => hole.received('INVITE').length > 0, 'the INVITE at the silent peer');
    proxy.clock.advance(1000);
    await until(() => call.statuses.includes(180), 'the ringing from the second peer');

    const cancel = caller.cancel(proxy, call);
    await until(answered(call), 'the final answer to the INVITE');
    expect(cancel.final!.status).toBe(200);
    expect(call.statuses).toEqual([100, 180, 487]);
    const invite = live.transactions[0]!;
    await until(() => invite.state === 'confirmed', "the proxy's ACK of the peer's 487");
    expect(live.received('CANCEL')).toHaveLength(1);
    expect(hole.received('CANCEL')).toHaveLength(0);

    proxy.clock.advance(64 * 500 + 5000);
    expect(proxy.stack.transactionCount).toEqual({ client: 0, server: 0 });
    expect(live.received('INVITE')).toHaveLength(1);
  });

  it('answers 487 when the CANCEL comes while the first peer is still silent, and sends the INVITE nowhere else', async () => {
    const hole = await Swallower.start();
    const live = await Peer.start();
    const proxy = await proxyNode([hole.uri, live.uri('UDP')]);
    const caller = await Caller.start();

    const call = caller.send(proxy, 'INVITE');
    await until(() => hole.received('INVITE').length > 0, 'the INVITE at the silent peer');
    caller.cancel(proxy, call);
    await until(answered(call), 'the final answer to the INVITE');
    expect(call.statuses).toEqual([100, 487]);

    proxy.clock.advance(1000);
    // A request sent after the failover timeout reaches the second peer behind anything sent then.
    const after = caller.send(proxy, 'MESSAGE');
    await until(answered(after), 'the answer to a later MESSAGE');
    expect(live.received('INVITE')).toHaveLength(0);
    proxy.clock.advance(64 * 500 + 5000);
    expect(hole.received('CANCEL')).toHaveLength(0);
    expect(proxy.stack.transactionCount).toEqual({ client: 0, server: 0 });
  });
});

describe('when every target fails', () => {
  it('answers 503 when no peer accepts a connection, as with one dead next hop', async () => {
    const [dead1, dead2] = [await freePort('tcp'), await freePort('tcp')];
    const proxy = await proxyNode([`sip:127.0.0.1:${dead1};transport=tcp`, `sip:127.0.0.1:${dead2};transport=tcp`]);
    const caller = await Caller.start();

    const call = caller.send(proxy, 'INVITE');
    await until(answered(call), 'the final answer');
    expect(call.statuses).toEqual([100, 503]);
    expect(proxy.sentTo(dead1) + proxy.sentTo(dead2)).toBe(2);
  });

  it('answers 408 when no peer answers at all', async () => {
    const [hole1, hole2] = [await Swallower.start(), await Swallower.start()];
    const proxy = await proxyNode([hole1.uri, hole2.uri]);
    const caller = await Caller.start();

    const call = caller.send(proxy, 'MESSAGE');
    await until(() => hole1.requests.length > 0, 'the MESSAGE at the first peer');
    proxy.clock.advance(1000);
    await until(() => hole2.requests.length > 0, 'the MESSAGE at the second peer');
    expect(call.final).toBeUndefined();
    proxy.clock.advance(64 * 500);
    await until(answered(call), 'the final answer');
    expect(call.statuses).toEqual([408]);
  });

  it('passes on a 503 from the last peer as 500, as for a single next hop (§16.7)', async () => {
    const [busy1, busy2] = [await Peer.start(unavailable()), await Peer.start(unavailable())];
    const proxy = await proxyNode([busy1.uri('UDP'), busy2.uri('UDP')]);
    const caller = await Caller.start();

    const call = caller.send(proxy, 'MESSAGE');
    await until(answered(call), 'the final answer');
    expect(call.statuses).toEqual([500]);
    expect(busy1.received('MESSAGE').length + busy2.received('MESSAGE').length).toBe(2);
  });
});
