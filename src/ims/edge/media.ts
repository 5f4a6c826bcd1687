/**
 * The edge's one media rule (issue 5): SDP passes through unchanged, but an INVITE whose offer a
 * WebRTC endpoint is certain to refuse is not delivered to a browser. WebRTC requires DTLS-SRTP
 * (RFC 8827 §6.5, RFC 8829 §5.1.2: every RTP m= line `UDP/TLS/RTP/SAVPF` or a related profile with
 * an `a=fingerprint`), so an offer with no such line, e.g. a softphone's plain `RTP/AVP`,
 * cannot meet a browser's capabilities: the edge answers 488 with Warning 302 for that branch
 * (TS 24.229 §5.2.7.2 lets the P-CSCF refuse media it knows cannot be used) instead of letting
 * the browser ring and then fail.
 */
import type { SipRequest, TransportProtocol } from '../../sip/index.js';
import { mediaSections } from '../sdp.js';

/** SDP `proto` values (RFC 4566 §5.14) a WebRTC endpoint can accept: DTLS-SRTP and DTLS/SCTP. */
const WEBRTC_PROTOS: ReadonlySet<string> = new Set([
  'udp/tls/rtp/savpf',
  'udp/tls/rtp/savp',
  'tcp/dtls/rtp/savpf',
  'tcp/dtls/rtp/savp',
  'tcp/tls/rtp/savpf',
  'tcp/tls/rtp/savp',
  'rtp/savpf',
  'udp/dtls/sctp',
  'tcp/dtls/sctp',
  'dtls/sctp',
]);

/** True when a WebRTC endpoint could accept at least one active m= line of the offer. */
export function webRtcCanAccept(sdp: string): boolean {
  const active = mediaSections(sdp).filter((m) => m.port !== 0);
  if (active.length === 0) return true;
  return active.some((m) => m.fingerprint && WEBRTC_PROTOS.has(m.proto));
}

/** Browsers reach the edge over WebSocket (RFC 7118): a flow of these protocols is a WebRTC endpoint's. */
export function isWebRtcFlow(protocol: TransportProtocol): boolean {
  return protocol === 'WS' || protocol === 'WSS';
}

/**
 * Why an initial request may not go to a client on a flow of `protocol`, as a Warning text, or
 * undefined when it may: an INVITE whose SDP offer no WebRTC endpoint can accept, for a
 * WebSocket client. INVITEs without an offer (the callee offers in its 2xx) pass.
 */
export function mediaMismatch(req: SipRequest, protocol: TransportProtocol): string | undefined {
  if (req.method !== 'INVITE' || !isWebRtcFlow(protocol)) return undefined;
  const type = req.get('content-type')?.split(';')[0]?.trim().toLowerCase();
  if (type !== 'application/sdp' || req.body.length === 0) return undefined;
  if (webRtcCanAccept(req.body.toString('utf8'))) return undefined;
  return 'Incompatible transport protocol: the callee is a WebRTC client, which needs DTLS-SRTP (UDP/TLS/RTP/SAVPF with a=fingerprint)';
}
