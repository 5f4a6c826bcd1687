/**
 * The edge's media rule (src/ims/edge/media.ts): SDP passes through unchanged, except that an
 * INVITE whose offer no WebRTC endpoint can accept is refused with 488 before it reaches a
 * browser on a WebSocket flow. Offers to softphones are never judged at the edge.
 */
import { describe, expect, it } from 'vitest';
import { EdgeService } from '../../src/ims/edge/edge.js';
import { FlowTokens } from '../../src/ims/edge/flow-token.js';
import { webRtcCanAccept } from '../../src/ims/edge/media.js';
import { mediaSections } from '../../src/ims/sdp.js';
import { parseUri, type Flow, type TransportProtocol } from '../../src/sip/index.js';
import { RecordingContext, request, run } from './ims-fakes.js';

const PLAIN_RTP = ['v=0', 'o=zoiper 1 1 IN IP4 192.0.2.5', 's=-', 'c=IN IP4 192.0.2.5', 't=0 0', 'm=audio 40000 RTP/AVP 0 8 101', 'a=rtpmap:0 PCMU/8000', ''].join('\r\n');
const WEBRTC = [
  'v=0',
  'o=- 4611731400430051336 2 IN IP4 127.0.0.1',
  's=-',
  't=0 0',
  'a=group:BUNDLE 0 1',
  'm=audio 9 UDP/TLS/RTP/SAVPF 111',
  'c=IN IP4 0.0.0.0',
  'a=fingerprint:sha-256 49:62:47:21:5B:36:0B:E2:BE:58:AD:AB:81:24:63:1D:73:FE:18:00:50:60:DA:FE:6B:0D:95:BD:B9:B7:60:54',
  'a=setup:actpass',
  'm=video 9 UDP/TLS/RTP/SAVPF 96',
  'c=IN IP4 0.0.0.0',
  'a=fingerprint:sha-256 49:62:47:21:5B:36:0B:E2:BE:58:AD:AB:81:24:63:1D:73:FE:18:00:50:60:DA:FE:6B:0D:95:BD:B9:B7:60:54',
  '',
].join('\r\n');

function flowOf(protocol: TransportProtocol): Flow {
  return { id: `${protocol}/f-1`, protocol, local: { address: '127.0.0.1', port: 5063 }, remote: { address: '127.0.0.1', port: 40000 } };
}

/** The edge's terminating hook for a request the S-CSCF sent along a client's Path. */
async function deliver(protocol: TransportProtocol, method: string, body = '', type = 'application/sdp'): Promise<RecordingContext> {
  const flow = flowOf(protocol);
  const tokens = new FlowTokens(Buffer.alloc(32, 3));
  const edge = new EdgeService({ host: 'pcscf.example.com', registrarRoute: '<sip:icscf.example.com;lr>', tokens, lookupFlow: (id) => (id === flow.id ? flow : undefined) });
  const req = request(
    [
      `${method} sip:browser@df7jal23ls0d.invalid;transport=ws SIP/2.0`,
      'Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKt1',
      'From: <sip:6505550002@example.com>;tag=a',
      'To: <sip:6505550001@example.com>',
      'Call-ID: media-1',
      `CSeq: 1 ${method}`,
      'Max-Forwards: 69',
      ...(body ? [`Content-Type: ${type}`] : []),
    ],
    body,
  );
  const routes = [parseUri(`sip:${tokens.encode(flow.id)}@pcscf.example.com;lr`)];
  return run(new RecordingContext(req, undefined, routes), (c) => edge.onInitialRequest(c));
}

describe('the edge media rule', () => {
  it('refuses with 488 and Warning 302 a plain RTP offer to a browser on a WebSocket flow (WS or WSS)', async () => {
    for (const protocol of ['WS', 'WSS'] as const) {
      const ctx = await deliver(protocol, 'INVITE', PLAIN_RTP);
      expect(ctx.response.status).toBe(488);
      expect(ctx.response.get('warning')).toMatch(/^302 pcscf\.example\.com "Incompatible transport protocol: .*DTLS-SRTP/);
    }
  });

  it('delivers a WebRTC offer to a browser, with its SDP untouched', async () => {
    const ctx = await deliver('WSS', 'INVITE', WEBRTC);
    expect(ctx.outcome?.kind).toBe('forward');
    expect(ctx.outcome?.targets).toEqual([{ flowId: 'WSS/f-1' }]);
    expect(ctx.request.body.toString()).toBe(WEBRTC);
  });

  it('never judges offers to softphones: a WebRTC offer to a UDP, TCP or TLS client goes through', async () => {
    for (const protocol of ['UDP', 'TCP', 'TLS'] as const) {
      expect((await deliver(protocol, 'INVITE', WEBRTC)).outcome?.kind).toBe('forward');
      expect((await deliver(protocol, 'INVITE', PLAIN_RTP)).outcome?.kind).toBe('forward');
    }
  });

  it('lets through an INVITE without an offer, a MESSAGE, and a body that is not SDP', async () => {
    expect((await deliver('WSS', 'INVITE')).outcome?.kind).toBe('forward');
    expect((await deliver('WSS', 'MESSAGE', 'hello', 'text/plain')).outcome?.kind).toBe('forward');
    expect((await deliver('WS', 'INVITE', PLAIN_RTP, 'multipart/mixed;boundary=x')).outcome?.kind).toBe('forward');
  });

  it('reads each m= line with the fingerprint that covers it, at session or media level', () => {
    expect(mediaSections(WEBRTC)).toEqual([
      { media: 'audio', port: 9, proto: 'udp/tls/rtp/savpf', fingerprint: true },
      { media: 'video', port: 9, proto: 'udp/tls/rtp/savpf', fingerprint: true },
    ]);
    const sessionLevel = 'v=0\na=fingerprint:sha-256 AA\nm=audio 9 RTP/SAVPF 0\n';
    expect(webRtcCanAccept(sessionLevel)).toBe(true);
    expect(webRtcCanAccept('v=0\nm=audio 9 UDP/TLS/RTP/SAVPF 0\n')).toBe(false);
    expect(webRtcCanAccept(`${PLAIN_RTP}m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=fingerprint:sha-256 AA\r\n`)).toBe(true);
    expect(webRtcCanAccept('v=0\nm=audio 0 UDP/TLS/RTP/SAVPF 111\na=fingerprint:sha-256 AA\nm=audio 4000 RTP/AVP 0\n')).toBe(false);
  });
});
