import { describe, expect, it } from 'vitest';
import { parseMessage } from '../../../src/sip/parser/parse.js';
import { SipParseError } from '../../../src/sip/message/errors.js';
import type { SipRequest } from '../../../src/sip/message/message.js';
import { parseUri, type SipUri } from '../../../src/sip/message/uri.js';
import { parseNameAddr } from '../../../src/sip/message/name-addr.js';
import { parseVia } from '../../../src/sip/message/via.js';
import { makeRequest } from '../../../src/sip/message/build.js';
import { lowerAscii } from '../../../src/sip/message/chars.js';
import fc from 'fast-check';

const crlf = (lines: string[], body = ''): Buffer => Buffer.from(`${lines.join('\r\n')}\r\n\r\n${body}`, 'latin1');

const CORE = [
  'Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK74bf9;rport',
  'From: "Alice" <sip:alice@example.com>;tag=9fxced76sl',
  'To: <sip:bob@example.com>',
  'Call-ID: 3848276298220188511@192.0.2.10',
  'CSeq: 1 INVITE',
];

function rejects(buf: Buffer): SipParseError {
  try {
    parseMessage(buf);
  } catch (e) {
    expect(e).toBeInstanceOf(SipParseError);
    return e as SipParseError;
  }
  throw new Error('the message was accepted');
}

describe('parser fast paths keep the strict behaviour', () => {
  it('recognises header names in any case, compact or long, and keeps unknown names lower-cased', () => {
    const m = parseMessage(
      crlf([
        'INVITE sip:bob@example.com SIP/2.0',
        'vIA: SIP/2.0/UDP h1;branch=z9hG4bK1',
        'v \t: SIP/2.0/TCP h2;branch=z9hG4bK2',
        ...CORE.slice(1),
        'CONTENT-length: 0',
        'X-Custom-Thing: 1',
        'Contacts: not contact',
        'Vias: not via',
      ]),
    ) as SipRequest;
    expect(m.headers.map((h) => h.name)).toEqual([
      'via', 'via', 'from', 'to', 'call-id', 'cseq', 'content-length', 'x-custom-thing', 'contacts', 'vias',
    ]);
    expect(m.vias.map((v) => v.host)).toEqual(['h1', 'h2']);
    expect(m.contentLength).toBe(0);
  });

  it('rejects a repeated single header whatever its spelling (compact and long)', () => {
    const e = rejects(crlf(['INVITE sip:bob@example.com SIP/2.0', ...CORE, 'i: other@host']));
    expect(e.message).toContain('more than one call-id header');
    expect(e.partial).toBeDefined();
  });

  it('reports a missing empty line before a malformed header line', () => {
    const noEnd = Buffer.from(`INVITE sip:bob@example.com SIP/2.0\r\n${CORE.join('\r\n')}\r\nbroken line\r\n`, 'latin1');
    expect(rejects(noEnd).message).toBe('no empty line after the header section');
    const withEnd = crlf(['INVITE sip:bob@example.com SIP/2.0', ...CORE, 'broken line']);
    expect(rejects(withEnd).message).toMatch(/^header line without a colon/);
  });

  it('does not look past 64 KiB for the end of the header section', () => {
    const head = `INVITE sip:bob@example.com SIP/2.0\r\n${CORE.join('\r\n')}\r\nX-Pad: `;
    const cut = 65536;
    // The empty line starts 2 bytes before the cut and ends 2 bytes after it.
    const pad = 'y'.repeat(cut - 2 - head.length);
    const buf = Buffer.from(`${head}${pad}\r\n\r\n`, 'latin1');
    expect(buf.indexOf('\r\n\r\n')).toBe(cut - 2);
    expect(rejects(buf).message).toBe('no empty line after the header section');
    const shorter = Buffer.from(`${head}${pad.slice(2)}\r\n\r\n`, 'latin1');
    expect((parseMessage(shorter) as SipRequest).get('x-pad')).toBe(pad.slice(2));
  });

  it('keeps decoded headers when the datagram buffer is reused after parsing', () => {
    const buf = crlf([
      'INVITE sip:bob@example.com SIP/2.0',
      ...CORE,
      'Contact: <sip:alice@192.0.2.10:5060;transport=udp>',
      'Route: <sip:192.0.2.1:5060;lr>',
      'Content-Length: 0',
    ]);
    const m = parseMessage(buf) as SipRequest;
    buf.fill(0x78);
    expect(m.contacts[0]!.uri.toString()).toBe('sip:alice@192.0.2.10:5060;transport=udp');
    expect(m.routes[0]!.uri.toString()).toBe('sip:192.0.2.1:5060;lr');
    expect(m.topVia!.branch).toBe('z9hG4bK74bf9');
    expect(m.callId).toBe('3848276298220188511@192.0.2.10');
  });

  it('treats chars above 255 in strings given to the decoders as any other non-token char', () => {
    expect(() => parseUri('sip:a\u013b@example.com')).toThrow(SipParseError);
    expect(() => parseVia('SIP/2.0/UDP h\u013b')).toThrow(SipParseError);
    const na = parseNameAddr('"J\u20ac" <sip:a@b>;x=a\u013b;y', 'to');
    expect(na.params.get('x')).toBe('a\u013b');
    expect(na.params.get('y')).toBeNull();
    expect(na.display).toBe('J\u20ac');
    const m = makeRequest('OPTIONS', 'sip:b@example.com', [['To', '<sip:b@example.com>;x=\u013b\u013b']]);
    expect(m.to.params.get('x')).toBe('\u013b\u013b');
  });

  it('gives a URI without parameters an empty, editable parameter list', () => {
    const u = parseUri('sip:bob@example.com');
    if (u.kind !== 'sip') throw new Error('not a SIP URI');
    expect(u.params.size).toBe(0);
    expect(u.params.list).toEqual([]);
    u.params.set('lr');
    expect(u.toString()).toBe('sip:bob@example.com;lr');
    expect(u.clone().params.has('lr')).toBe(true);
  });
});

describe('lowerAscii', () => {
  it('is toLowerCase, and gives back the same string when there is nothing to change', () => {
    const host = (parseUri('sip:alice@scscf.example.com:5060') as SipUri).host;
    expect(lowerAscii(host)).toBe('scscf.example.com');
    expect(lowerAscii('SCSCF.Example.COM')).toBe('scscf.example.com');
    expect(lowerAscii('ÀB')).toBe('àb');
    fc.assert(fc.property(fc.string({ unit: 'binary' }), (s) => lowerAscii(s) === s.toLowerCase()));
  });
});
