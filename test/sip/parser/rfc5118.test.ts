import { describe, expect, it } from 'vitest';
import { parseMessage } from '../../../src/sip/parser/parse.js';
import { SipParseError } from '../../../src/sip/message/errors.js';
import { SipRequest } from '../../../src/sip/message/message.js';
import { SipUri } from '../../../src/sip/message/uri.js';
import { listFixtures, readFixture } from '../../harness/fixtures.js';

/**
 * The RFC 5118 archive uses bare LF and two files lack the closing empty line (see its MANIFEST):
 * make them wire-ready (CRLF, closing empty line, Content-Length set to the body actually present).
 */
function wireReady(file: string): Buffer {
  let text = readFixture('rfc5118', file).toString('latin1').replace(/\n/g, '\r\n');
  if (!text.includes('\r\n\r\n')) text += '\r\n';
  const split = text.indexOf('\r\n\r\n');
  const bodyLength = text.length - split - 4;
  text = text.replace(/^Content-Length: *\d+/im, `Content-Length: ${bodyLength}`);
  return Buffer.from(text, 'latin1');
}

const ok = (file: string): SipRequest => {
  const m = parseMessage(wireReady(file));
  expect(m).toBeInstanceOf(SipRequest);
  return m as SipRequest;
};

describe('RFC 5118 IPv6 torture messages', () => {
  it('covers every message of the fixture set', () => {
    expect(listFixtures('rfc5118').length).toBe(12);
  });

  it('parses bracketed IPv6 references in the Request-URI, Via and Contact (4.1)', () => {
    const m = ok('ipv6-good.dat');
    expect((m.uri as SipUri).host).toBe('[2001:db8::10]');
    expect((m.uri as SipUri).address).toBe('2001:db8::10');
    expect(m.topVia!.host).toBe('[2001:db8::9:1]');
    expect((m.contacts[0]!.uri as SipUri).host).toBe('[2001:db8::1]');
  });

  it('rejects an IPv6 Request-URI without brackets (4.2)', () => {
    expect(() => parseMessage(wireReady('ipv6-bad.dat'))).toThrow(SipParseError);
  });

  it('reads [2001:db8::10:5070] as an address without a port (4.3)', () => {
    const u = ok('port-ambiguous.dat').uri as SipUri;
    expect(u.host).toBe('[2001:db8::10:5070]');
    expect(u.port).toBeNull();
  });

  it('reads [2001:db8::10]:5070 as address and port (4.4)', () => {
    const u = ok('port-unambiguous.dat').uri as SipUri;
    expect(u.host).toBe('[2001:db8::10]');
    expect(u.port).toBe(5070);
  });

  it('tolerates a bracketed received parameter and reads the unbracketed one (4.5)', () => {
    expect(ok('via-received-param-with-delim.dat').topVia!.received).toBe('[2001:db8::9:255]');
    expect(ok('via-received-param-no-delim.dat').topVia!.received).toBe('2001:db8::9:255');
  });

  it('passes IPv6 SDP bodies through untouched (4.6, 4.8)', () => {
    expect(ok('ipv6-in-sdp.dat').body.toString('latin1')).toContain('IN IP6 2001:db8::20');
    const both = ok('mult-ip-in-sdp.dat').body.toString('latin1');
    expect(both).toContain('IN IP4');
    expect(both).toContain('IN IP6');
  });

  it('parses a Via list mixing IPv6 and IPv4 (4.7)', () => {
    const vias = ok('mult-ip-in-header.dat').vias;
    expect(vias.map((v) => [v.host, v.port])).toEqual([
      ['[2001:db8::9:1]', 6050],
      ['192.0.2.1', null],
      ['[2001:db8::9:255]', null],
    ]);
    expect(vias[2]!.received).toBe('192.0.2.200');
  });

  it('parses IPv4-mapped IPv6 addresses (4.9)', () => {
    const m = ok('ipv4-mapped-ipv6.dat');
    expect(m.topVia!.host).toBe('[::ffff:192.0.2.10]');
    expect(m.topVia!.port).toBe(19823);
  });

  it('tolerates the three-colon form the RFC 3261 ABNF admits, and the correct form (4.10)', () => {
    expect((ok('ipv6-bug-abnf-3-colons.dat').uri as SipUri).host).toBe('[2001:db8:::192.0.2.1]');
    expect((ok('ipv6-correct-abnf-2-colons.dat').uri as SipUri).host).toBe('[2001:db8::192.0.2.1]');
  });
});
