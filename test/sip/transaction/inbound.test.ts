import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { makeResponse } from '../../../src/sip/message/build.js';
import { SipParseError } from '../../../src/sip/message/errors.js';
import type { SipResponse } from '../../../src/sip/message/message.js';
import { serializeMessage } from '../../../src/sip/message/serialize.js';
import { readFixture } from '../../harness/fixtures.js';
import type { FakeProtocol } from '../../harness/fake-transport.js';
import { LOCAL, PEER, PROTOCOLS, request, rig } from './helpers.js';

/** A raw request as the peer would put it on the wire, with a Content-Length. */
function raw(protocol: FakeProtocol, startLine: string, headers: string[]): Buffer {
  const lines = [
    startLine,
    `Via: SIP/2.0/${protocol} ${PEER.address}:${PEER.port};branch=z9hG4bK-raw;rport`,
    ...headers,
    'Content-Length: 0',
  ];
  return Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1');
}

const COMMON = ['From: <sip:alice@example.com>;tag=a1', 'To: <sip:bob@example.com>', 'Call-ID: raw-1@example.com', 'Max-Forwards: 70'];

describe.each(PROTOCOLS)('the inbound pipeline over %s', (protocol) => {
  it('answers a request whose CSeq lacks its number with 400 and the parser\'s reason, statelessly', async () => {
    const r = rig(protocol);
    const flow = await r.peerSend(raw(protocol, 'INVITE sip:bob@example.com SIP/2.0', [...COMMON, 'CSeq: INVITE']));
    expect(r.user.requests).toEqual([]);
    // The answer copies the broken CSeq (§8.2.6.2), so it does not parse either: read its text.
    const answers = r.peer.inbox.map((m) => m.data.toString('latin1'));
    expect(answers).toHaveLength(1);
    const lines = answers[0]!.split('\r\n');
    expect(lines[0]).toBe('SIP/2.0 400 malformed CSeq');
    expect(lines).toContain('CSeq: INVITE');
    expect(lines).toContain(`Via: SIP/2.0/${protocol} ${PEER.address}:${PEER.port};branch=z9hG4bK-raw;rport=${flow.local.port};received=${PEER.address}`);
    expect(lines.find((l) => l.startsWith('To:'))).toMatch(/^To: <sip:bob@example.com>;tag=\S+$/);
    expect(lines).toContain('Call-ID: raw-1@example.com');
    expect(r.errors.map((e) => e.context)).toEqual(['malformed request answered with 400']);
    expect(r.stack.transactionCount).toEqual({ client: 0, server: 0 });
  });

  it('answers with the status the parser chose: 501 for an unknown method whose CSeq disagrees (RFC 4475 mismatch02)', async () => {
    const r = rig(protocol);
    const fixture = readFixture('rfc4475', 'mismatch02.dat').toString('latin1');
    const data = Buffer.from(fixture.replace(/SIP\/2\.0\/UDP host\.example\.net/, `SIP/2.0/${protocol} ${PEER.address}:${PEER.port}`), 'latin1');
    await r.peerSend(data);
    const answer = r.peer.received()[0]!.message as SipResponse;
    expect(answer.status).toBe(501);
    expect(answer.reason).toBe('CSeq method does not match the Request-Line');
  });

  it('never answers a malformed ACK', async () => {
    const r = rig(protocol);
    await r.peerSend(raw(protocol, 'ACK sip:bob@example.com SIP/2.0', [...COMMON, 'CSeq: ACK']));
    expect(r.peer.received()).toEqual([]);
    expect(r.user.acks).toEqual([]);
    expect(r.errors).toHaveLength(1);
  });

  it('drops a malformed request whose Via cannot be used to answer it', async () => {
    const r = rig(protocol);
    await r.peerSend(readFixture('rfc4475', 'badinv01.dat'));
    expect(r.peer.received()).toEqual([]);
    expect(r.user.requests).toEqual([]);
  });

  it('drops a malformed response without telling the TU', async () => {
    const r = rig(protocol);
    const bad = 'SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 192.0.2.10;branch=z9hG4bK-x\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d>\r\nCall-ID: x\r\nCSeq: 99999999999 OPTIONS\r\nContent-Length: 0\r\n\r\n';
    await r.peerSend(Buffer.from(bad));
    expect(r.user.strays).toEqual([]);
    expect(r.peer.received()).toEqual([]);
    expect(r.errors.map((e) => e.context)).toEqual(['malformed message dropped']);
  });

  it('ignores CRLF keepalives silently', async () => {
    const r = rig(protocol);
    await r.peerSend(Buffer.from('\r\n\r\n'));
    expect(r.errors).toEqual([]);
    expect(r.peer.received()).toEqual([]);
  });

  it('stamps received on the top Via when its host is not the source address (§18.2.1)', async () => {
    const r = rig(protocol);
    await r.peerSend(request('OPTIONS', { protocol, from: PEER, viaHost: 'pc33.example.com' }));
    const via = r.user.requests[0]!.request.topVia!;
    expect(via.received).toBe(PEER.address);
    expect(via.rport).toBeUndefined();
    expect(r.user.requests[0]!.request.getAll('via')[0]).toContain(';received=192.0.2.20');
  });

  it('leaves the top Via alone when its host is the source address and no rport was asked for', async () => {
    const r = rig(protocol);
    const sent = request('OPTIONS', { protocol, from: PEER, viaHost: `${PEER.address}:5060` });
    await r.peerSend(sent);
    expect(r.user.requests[0]!.request.getAll('via')[0]).toBe(sent.getAll('via')[0]);
  });

  it('fills rport with the source port and sets received when the client asked for rport (RFC 3581)', async () => {
    const r = rig(protocol);
    const flow = await r.peerSend(request('OPTIONS', { protocol, from: PEER, viaParams: ';rport' }));
    const via = r.user.requests[0]!.request.topVia!;
    expect(via.rport).toBe(flow.local.port);
    expect(via.received).toBe(PEER.address);
    r.user.requests[0]!.respond(makeResponse(r.user.requests[0]!.request, 200, undefined, 'x'));
    await r.net.flush();
    const answer = r.peer.received()[0]!;
    expect(answer.flow.id === flow.id || protocol === 'UDP').toBe(true);
    expect((answer.message as SipResponse).topVia!.rport).toBe(flow.local.port);
  });

  it('survives any bytes thrown at it, reporting only parse errors', () => {
    const r = rig(protocol);
    const valid = serializeMessage(request('INVITE', { protocol, from: PEER }));
    const flow = { id: 'fuzz', protocol, local: LOCAL, remote: PEER };
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.nat(valid.length), (junk, cut) => {
        r.stack.receive({ data: Buffer.from(junk), flow });
        r.stack.receive({ data: valid.subarray(0, cut), flow });
      }),
      { numRuns: 300 },
    );
    // Everything reported is the parser rejecting input, never an internal failure.
    expect(r.errors.filter((e) => !(e.error instanceof SipParseError))).toEqual([]);
  });
});

describe('response routing over UDP (§18.2.2, RFC 3581 §4)', () => {
  it('sends the response to the Via sent-by port, not the source port, when rport was not asked for', async () => {
    const r = rig('UDP');
    const client = r.net.endpoint('UDP', PEER.address, 40000);
    const listener = r.net.endpoint('UDP', PEER.address, 5070);
    const req = request('OPTIONS', { protocol: 'UDP', from: PEER, viaHost: `${PEER.address}:5070` });
    await client.send(serializeMessage(req), { protocol: 'UDP', ...LOCAL });
    await r.net.flush();
    r.user.requests[0]!.respond(makeResponse(r.user.requests[0]!.request, 200, undefined, 'x'));
    await r.net.flush();
    expect(client.received()).toEqual([]);
    expect(listener.received().map((m) => (m.message as SipResponse).status)).toEqual([200]);
  });

  it('sends the response to the source port when rport was asked for', async () => {
    const r = rig('UDP');
    const client = r.net.endpoint('UDP', PEER.address, 40000);
    const req = request('OPTIONS', { protocol: 'UDP', from: PEER, viaHost: `${PEER.address}:5070`, viaParams: ';rport' });
    await client.send(serializeMessage(req), { protocol: 'UDP', ...LOCAL });
    await r.net.flush();
    r.user.requests[0]!.respond(makeResponse(r.user.requests[0]!.request, 200, undefined, 'x'));
    await r.net.flush();
    expect(client.received().map((m) => (m.message as SipResponse).status)).toEqual([200]);
  });

  it('sends the automatic 100 Trying and the 400 for a malformed request by the same rules', async () => {
    const r = rig('UDP');
    const client = r.net.endpoint('UDP', PEER.address, 40000);
    const listener = r.net.endpoint('UDP', PEER.address, 5070);
    const invite = request('INVITE', { protocol: 'UDP', from: PEER, viaHost: `${PEER.address}:5070` });
    await client.send(serializeMessage(invite), { protocol: 'UDP', ...LOCAL });
    const bad = Buffer.from(serializeMessage(request('OPTIONS', { protocol: 'UDP', viaHost: `${PEER.address}:5070` })).toString().replace(/CSeq: 1 /, 'CSeq: x '));
    await client.send(bad, { protocol: 'UDP', ...LOCAL });
    await r.advance(200);
    const statusLines = listener.inbox.map((m) => m.data.toString('latin1').split('\r\n')[0]);
    expect(statusLines.sort()).toEqual(['SIP/2.0 100 Trying', 'SIP/2.0 400 malformed CSeq']);
    expect(client.inbox).toEqual([]);
  });
});

describe('response routing over TCP (§18.2.2)', () => {
  it('answers over the connection the request came on', async () => {
    const r = rig('TCP');
    const flow = await r.peerSend(request('OPTIONS', { protocol: 'TCP', from: PEER }));
    r.user.requests[0]!.respond(makeResponse(r.user.requests[0]!.request, 200, undefined, 'x'));
    await r.net.flush();
    expect(r.peer.received().map((m) => m.flow.id)).toEqual([flow.id]);
  });

  it('opens a new connection to received and the sent-by port when that connection is gone', async () => {
    const r = rig('TCP', { autoTrying: false });
    const flow = await r.peerSend(request('INVITE', { protocol: 'TCP', from: PEER, viaHost: 'pc.example.com:5060' }));
    r.peer.closeFlow(flow.id);
    const tx = r.user.requests[0]!;
    tx.respond(makeResponse(tx.request, 486, undefined, 'x'));
    await r.net.flush();
    const got = r.peer.received();
    expect(got.map((m) => (m.message as SipResponse).status)).toEqual([486]);
    expect(got[0]!.flow.id).not.toBe(flow.id);
    expect(got[0]!.flow.local).toEqual(PEER);
    expect(r.user.failures).toEqual([]);
  });

  it('tells the TU of a transport failure when neither the connection nor a new one works (§17.2.4)', async () => {
    const r = rig('TCP', { autoTrying: false });
    const flow = await r.peerSend(request('INVITE', { protocol: 'TCP', from: PEER, viaHost: `${PEER.address}:5999` }));
    r.peer.closeFlow(flow.id);
    const tx = r.user.requests[0]!;
    tx.respond(makeResponse(tx.request, 486, undefined, 'x'));
    await r.net.flush();
    expect(r.user.failures.map((f) => [f.failure.kind, f.tx])).toEqual([['transport', tx]]);
    expect(tx.state).toBe('terminated');
    expect(r.stack.transactionCount.server).toBe(0);
  });
});
