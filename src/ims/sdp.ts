/**
 * The little of an SDP offer (RFC 4566) the IMS functions look at: its m= sections. The edge
 * checks their transport profiles and fingerprints against what a browser accepts; the MMTel AS
 * matches diversion rules on the media they enable. SDP itself passes through unchanged.
 */

/** One m= section: media type, port (0: disabled, RFC 3264 §8.2), proto, and whether an `a=fingerprint` (RFC 8122) covers it. */
export interface MediaSection {
  readonly media: string;
  readonly port: number;
  readonly proto: string;
  readonly fingerprint: boolean;
}

const LINE_BREAK = /\r?\n/;
const WHITESPACE = /\s+/;

/** The m= sections of an SDP body, media type and proto lower-cased; a session-level fingerprint covers every section. */
export function mediaSections(sdp: string): MediaSection[] {
  const out: Array<{ media: string; port: number; proto: string; fingerprint: boolean }> = [];
  let sessionFingerprint = false;
  for (const line of sdp.split(LINE_BREAK)) {
    if (line.startsWith('m=')) {
      const [media = '', port = '', proto = ''] = line.slice(2).trim().split(WHITESPACE);
      out.push({ media: media.toLowerCase(), port: Number.parseInt(port, 10), proto: proto.toLowerCase(), fingerprint: sessionFingerprint });
    } else if (line.startsWith('a=fingerprint:')) {
      const current = out[out.length - 1];
      if (current) current.fingerprint = true;
      else sessionFingerprint = true;
    }
  }
  return out;
}
