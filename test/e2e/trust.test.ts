/**
 * The IMS core trusts the identities the edge asserts, so nothing from the network may skip the
 * edge: a request sent straight to the S-CSCF's originating Route or to the I-CSCF, claiming
 * to be a subscriber in P-Asserted-Identity (or P-Served-User), is refused with 403 by the
 * running all-in-one, over a real UDP socket. (Within the core, test/ims/ifc-isc.test.ts.)
 */
import { createSocket, type Socket } from 'node:dgram';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseMessage, SipResponse } from '../../src/sip/index.js';
import { startAllInOne, type AllInOne } from '../harness/ims.js';

let core: AllInOne;
let socket: Socket;
let port: number;
const answers = new Map<string, SipResponse[]>();

beforeAll(async () => {
  core = await startAllInOne();
  await core.addSubscriber('6505550001', 'secret1');
  await core.addSubscriber('6505550002', 'secret2');
  socket = createSocket('udp4');
  socket.on('message', (data) => {
    const m = parseMessage(data);
    if (m instanceof SipResponse) answers.set(m.callId, [...(answers.get(m.callId) ?? []), m]);
  });
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  port = socket.address().port;
}, 30_000);

afterAll(async () => {
  socket?.close();
  await core?.dispose();
});

/** Sends an INVITE from an unregistered stranger and waits for its final response. */
async function final(callId: string, route: string, extra: string[]): Promise<SipResponse> {
  const sdp = 'v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n';
  const msg = [
    'INVITE sip:6505550002@example.com SIP/2.0',
    `Via: SIP/2.0/UDP 127.0.0.1:${port};branch=z9hG4bK-${callId}`,
    `Route: ${route}`,
    'Max-Forwards: 70',
    'From: <sip:6505550001@example.com>;tag=mallory',
    'To: <sip:6505550002@example.com>',
    `Call-ID: ${callId}`,
    'CSeq: 1 INVITE',
    `Contact: <sip:mallory@127.0.0.1:${port}>`,
    ...extra,
    'Content-Type: application/sdp',
    `Content-Length: ${sdp.length}`,
    '',
    sdp,
  ].join('\r\n');
  socket.send(Buffer.from(msg), core.sipPort, '127.0.0.1');
  const deadline = Date.now() + 5_000;
  for (;;) {
    const got = answers.get(callId)?.find((r) => r.status >= 200);
    if (got) return got;
    if (Date.now() > deadline) throw new Error(`no final response to ${callId}: ${JSON.stringify(answers.get(callId)?.map((r) => r.status))}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('requests that try to skip the edge', () => {
  it('an INVITE sent to the S-CSCF’s originating Route with a forged P-Asserted-Identity gets 403', async () => {
    const res = await final('forged-orig', '<sip:orig@scscf.example.com;lr>', ['P-Asserted-Identity: <sip:6505550001@example.com>']);
    expect(res.status).toBe(403);
    expect(res.reason).toMatch(/not a trusted peer/);
  });

  it('an INVITE sent to the S-CSCF with a P-Served-User of its choosing gets 403', async () => {
    const res = await final('forged-psu', '<sip:scscf.example.com;lr>', ['P-Served-User: <sip:6505550001@example.com>;sescase=orig;regstate=reg']);
    expect(res.status).toBe(403);
  });

  it('an INVITE sent straight to the I-CSCF gets 403', async () => {
    const res = await final('forged-icscf', '<sip:icscf.example.com;lr>', ['P-Asserted-Identity: <sip:6505550001@example.com>']);
    expect(res.status).toBe(403);
    expect(res.reason).toMatch(/not a trusted peer/);
  });

  it('the same INVITE sent to the edge by a client that has not registered gets 403 too', async () => {
    const res = await final('unregistered', '<sip:edge.example.com;lr>', ['P-Asserted-Identity: <sip:6505550001@example.com>']);
    expect(res.status).toBe(403);
  });
});
