import { describe, expect, it } from 'vitest';
import { parseMessage } from '../../../src/sip/parser/parse.js';
import { serializeMessage } from '../../../src/sip/message/serialize.js';
import { SipParseError } from '../../../src/sip/message/errors.js';
import { SipRequest, SipResponse } from '../../../src/sip/message/message.js';
import { SipUri, TelUri, parseUri, sipUriEquals } from '../../../src/sip/message/uri.js';
import { Via } from '../../../src/sip/message/via.js';
import { makeResponse } from '../../../src/sip/message/build.js';

const crlf = (lines: string[], body = ''): Buffer => Buffer.from(`${lines.join('\r\n')}\r\n\r\n${body}`, 'latin1');

const INVITE = crlf(
  [
    'INVITE sips:+16505550001@Example.COM:5061;transport=tls;user=phone SIP/2.0',
    'v: SIP/2.0/TLS 10.0.0.1:5061;branch=z9hG4bKabc;rport, SIP/2.0/UDP [2001:db8::1]:5070;branch=z9hG4bKdef;received=2001:db8::2',
    'Via: SIP/2.0/TCP proxy.example.net;branch=z9hG4bKghi',
    'MAX-FORWARDS: 70',
    'f: "Alice \\"A\\" Liddell" <sips:alice@example.com>;tag=a1',
    't: Bob <tel:+1-650-555-0002;phone-context=example.com>',
    'i: 8f3a@10.0.0.1',
    'CSeq: 314159 INVITE',
    'm: <sip:alice@10.0.0.1:5061;transport=tls;ob>;+sip.instance="<urn:uuid:00000000-0000-1000-8000-000A95A0E128>";reg-id=1',
    'Route: <sip:p1.example.com;lr>,<sip:p2.example.com;lr>',
    'Route: <sip:p3.example.com;lr>',
    'Subject: a folded',
    '  subject line',
    'X-Unknown:  keep   me ,exactly ',
    'c: application/sdp',
    'l: 4',
  ],
  'v=0\r\n'.slice(0, 4),
);

describe('SIP message parser', () => {
  it('reads compact forms, list values across lines and case-insensitive names', () => {
    const m = parseMessage(INVITE) as SipRequest;
    expect(m.vias.map((v) => v.host)).toEqual(['10.0.0.1', '[2001:db8::1]', 'proxy.example.net']);
    expect(m.vias[0]!.rport).toBeNull();
    expect(m.vias[1]!.received).toBe('2001:db8::2');
    expect(m.maxForwards).toBe(70);
    expect(m.get('Max-Forwards')).toBe('70');
    expect(m.from.display).toBe('Alice "A" Liddell');
    expect(m.from.tag).toBe('a1');
    expect(m.to.uri).toBeInstanceOf(TelUri);
    expect((m.to.uri as TelUri).digits).toBe('+16505550002');
    expect(m.callId).toBe('8f3a@10.0.0.1');
    expect(m.cseq).toEqual({ seq: 314159, method: 'INVITE' });
    expect(m.contacts[0]!.params.get('+sip.instance')).toBe('"<urn:uuid:00000000-0000-1000-8000-000A95A0E128>"');
    expect(m.routes.map((r) => (r.uri as SipUri).host)).toEqual(['p1.example.com', 'p2.example.com', 'p3.example.com']);
    expect(m.get('subject')).toBe('a folded subject line');
    expect(m.get('x-unknown')).toBe('keep   me ,exactly');
    expect(m.getAll('x-unknown')).toEqual(['keep   me ,exactly']);
    expect(m.body.toString()).toBe('v=0\r');
  });

  it('decodes sips URIs with port, parameters and headers', () => {
    const u = (parseMessage(INVITE) as SipRequest).uri as SipUri;
    expect(u.scheme).toBe('sips');
    expect(u.user).toBe('+16505550001');
    expect(u.host).toBe('Example.COM');
    expect(u.port).toBe(5061);
    expect(u.transport).toBe('tls');
    expect(u.params.get('user')).toBe('phone');
    expect(u.aor).toBe('sips:+16505550001@example.com');
  });

  it('rejects a Request-URI carrying headers but reads them in Contact', () => {
    const bad = Buffer.from(INVITE.toString('latin1').replace(';user=phone SIP', ';user=phone?Subject=hi SIP'), 'latin1');
    expect(() => parseMessage(bad)).toThrow(/Request-URI must not carry headers/);
    const withHeaders = Buffer.from(INVITE.toString('latin1').replace(';transport=tls;ob>', ';transport=tls;ob?Subject=hi>'), 'latin1');
    expect(((parseMessage(withHeaders) as SipRequest).contacts[0]!.uri as SipUri).headers).toBe('Subject=hi');
  });

  it('serializes an unmodified message to the same bytes', () => {
    const m = parseMessage(INVITE);
    expect(serializeMessage(m).equals(INVITE)).toBe(true);
  });

  it('serializes proxy edits: Via push and pop, Route pop, Record-Route push, Max-Forwards, Request-URI', () => {
    const m = parseMessage(INVITE) as SipRequest;
    m.pushVia(new Via('UDP', '192.0.2.9', 5060).clone());
    m.vias[0]!.params.set('branch', 'z9hG4bKnew');
    m.commitTopVia();
    expect(m.popFirstValue('route')).toBe('<sip:p1.example.com;lr>');
    m.prepend('record-route', '<sip:192.0.2.9;lr>');
    m.set('max-forwards', String(m.maxForwards! - 1));
    m.uri = parseUri('sip:bob@192.0.2.20:5080');
    const text = serializeMessage(m).toString('latin1');
    const again = parseMessage(Buffer.from(text, 'latin1')) as SipRequest;
    expect(again.uriString).toBe('sip:bob@192.0.2.20:5080');
    expect(again.vias.map((v) => v.branch)).toEqual(['z9hG4bKnew', 'z9hG4bKabc', 'z9hG4bKdef', 'z9hG4bKghi']);
    expect(again.routes.map((r) => (r.uri as SipUri).host)).toEqual(['p2.example.com', 'p3.example.com']);
    expect(again.recordRoutes.length).toBe(1);
    expect(again.maxForwards).toBe(69);
    // untouched lines keep their bytes
    expect(text).toContain('X-Unknown:  keep   me ,exactly ');
    expect(text).toContain('Subject: a folded\r\n  subject line');
    expect(text).toContain('f: "Alice \\"A\\" Liddell" <sips:alice@example.com>;tag=a1');
    expect(again.body.toString()).toBe('v=0\r');
  });

  it('pops a Via from a response and adds received and rport to a request', () => {
    const m = parseMessage(INVITE) as SipRequest;
    const top = m.vias[0]!;
    top.params.set('received', '203.0.113.7');
    top.params.set('rport', '40000');
    m.commitTopVia();
    const res = makeResponse(m, 180, undefined, 'b2');
    const r = parseMessage(serializeMessage(res)) as SipResponse;
    expect(r.status).toBe(180);
    expect(r.reason).toBe('Ringing');
    expect(r.vias[0]!.received).toBe('203.0.113.7');
    expect(r.vias[0]!.rport).toBe(40000);
    expect(r.to.tag).toBe('b2');
    expect(r.popVia()!.host).toBe('10.0.0.1');
    const r2 = parseMessage(serializeMessage(r)) as SipResponse;
    expect(r2.vias.map((v) => v.host)).toEqual(['[2001:db8::1]', 'proxy.example.net']);
  });

  it('keeps Content-Length right when the body changes and adds one when missing', () => {
    const m = parseMessage(INVITE) as SipRequest;
    m.setBody('hello world', 'text/plain');
    const again = parseMessage(serializeMessage(m), { stream: true });
    expect(again.body.toString()).toBe('hello world');
    expect(again.get('content-type')).toBe('text/plain');
    const noLen = parseMessage(
      crlf(['OPTIONS sip:a@b SIP/2.0', 'Via: SIP/2.0/UDP h;branch=z9hG4bK1', 'From: <sip:x@y>;tag=1', 'To: <sip:a@b>', 'Call-ID: c', 'CSeq: 1 OPTIONS'], 'xy'),
    ) as SipRequest;
    expect(noLen.body.toString()).toBe('xy');
    noLen.set('max-forwards', '10');
    expect(parseMessage(serializeMessage(noLen), { stream: true }).contentLength).toBe(2);
  });

  it('requires Content-Length on streams', () => {
    const msg = crlf(['OPTIONS sip:a@b SIP/2.0', 'Via: SIP/2.0/TCP h;branch=z9hG4bK1', 'From: <sip:x@y>;tag=1', 'To: <sip:a@b>', 'Call-ID: c', 'CSeq: 1 OPTIONS']);
    expect(() => parseMessage(msg, { stream: true })).toThrow(/Content-Length/);
  });

  it.each([
    ['a missing Via', ['OPTIONS sip:a@b SIP/2.0', 'From: <sip:x@y>;tag=1', 'To: <sip:a@b>', 'Call-ID: c', 'CSeq: 1 OPTIONS'], /Via/],
    ['a missing CSeq', ['OPTIONS sip:a@b SIP/2.0', 'Via: SIP/2.0/UDP h', 'From: <sip:x@y>', 'To: <sip:a@b>', 'Call-ID: c'], /CSeq/],
    ['a CSeq without method', ['OPTIONS sip:a@b SIP/2.0', 'Via: SIP/2.0/UDP h', 'From: <sip:x@y>', 'To: <sip:a@b>', 'Call-ID: c', 'CSeq: 1'], /CSeq/],
    ['a Via without sent-by', ['OPTIONS sip:a@b SIP/2.0', 'Via: SIP/2.0/UDP', 'From: <sip:x@y>', 'To: <sip:a@b>', 'Call-ID: c', 'CSeq: 1 OPTIONS'], /Via/],
    ['a bad Max-Forwards', ['OPTIONS sip:a@b SIP/2.0', 'Via: SIP/2.0/UDP h', 'From: <sip:x@y>', 'To: <sip:a@b>', 'Call-ID: c', 'CSeq: 1 OPTIONS', 'Max-Forwards: ten'], /max-forwards/],
    ['a Call-ID with spaces', ['OPTIONS sip:a@b SIP/2.0', 'Via: SIP/2.0/UDP h', 'From: <sip:x@y>', 'To: <sip:a@b>', 'Call-ID: c d', 'CSeq: 1 OPTIONS'], /Call-ID/],
    ['a header name with a space', ['OPTIONS sip:a@b SIP/2.0', 'Via: SIP/2.0/UDP h', 'From: <sip:x@y>', 'To: <sip:a@b>', 'Call-ID: c', 'CSeq: 1 OPTIONS', 'Bad Name: x'], /header name/],
    ['a lowercase version', ['OPTIONS sip:a@b sip/2.0', 'Via: SIP/2.0/UDP h', 'From: <sip:x@y>', 'To: <sip:a@b>', 'Call-ID: c', 'CSeq: 1 OPTIONS'], /version/],
    ['a port over 65535', ['OPTIONS sip:a@b:70000 SIP/2.0', 'Via: SIP/2.0/UDP h', 'From: <sip:x@y>', 'To: <sip:a@b>', 'Call-ID: c', 'CSeq: 1 OPTIONS'], /port/],
  ])('rejects a message with %s, saying what is wrong', (_name, lines, why) => {
    const err = (() => {
      try {
        parseMessage(crlf(lines as string[]));
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(err).toBeInstanceOf(SipParseError);
    expect((err as Error).message).toMatch(why as RegExp);
  });

  it('compares SIP URIs per RFC 3261 §19.1.4', () => {
    const eq = (a: string, b: string): boolean => sipUriEquals(parseUri(a) as SipUri, parseUri(b) as SipUri);
    expect(eq('sip:%61lice@atlanta.com;transport=TCP', 'sip:alice@AtLanTa.CoM;Transport=tcp')).toBe(true);
    expect(eq('sip:carol@chicago.com', 'sip:carol@chicago.com;newparam=5')).toBe(true);
    expect(eq('sip:alice@atlanta.com', 'sip:alice@atlanta.com:5060')).toBe(false);
    expect(eq('sip:bob@biloxi.com;transport=udp', 'sip:bob@biloxi.com')).toBe(false);
    expect(eq('SIP:ALICE@AtLanTa.CoM', 'sip:alice@atlanta.com')).toBe(false);
  });
});

describe('decoded header lists after edits', () => {
  it('reads Contact, Route and Record-Route afresh after they are changed', () => {
    const m = parseMessage(INVITE) as SipRequest;
    expect(m.contacts.length).toBe(1);
    expect(m.routes.length).toBe(3);
    m.remove('contact');
    m.popFirstValue('route');
    m.prepend('record-route', '<sip:p9.example.com;lr>');
    expect(m.contacts).toEqual([]);
    expect(m.routes.map((r) => (r.uri as SipUri).host)).toEqual(['p2.example.com', 'p3.example.com']);
    expect(m.recordRoutes.map((r) => (r.uri as SipUri).host)).toEqual(['p9.example.com']);
  });

  it('reads the top Route alone, and afresh after a change', () => {
    const m = parseMessage(INVITE) as SipRequest;
    expect((m.topRoute!.uri as SipUri).host).toBe('p1.example.com');
    m.popFirstValue('route');
    expect((m.topRoute!.uri as SipUri).host).toBe('p2.example.com');
    expect(m.routes.map((r) => (r.uri as SipUri).host)).toEqual(['p2.example.com', 'p3.example.com']);
    m.prepend('route', ' <sip:p0.example.com;lr> , <sip:px.example.com;lr>');
    expect((m.topRoute!.uri as SipUri).host).toBe('p0.example.com');
    m.remove('route');
    expect(m.topRoute).toBeUndefined();
    const broken = parseMessage(crlf(['OPTIONS sip:b@example.com SIP/2.0', 'Via: SIP/2.0/UDP h;branch=z9hG4bK1', 'From: <sip:a@example.com>;tag=1', 'To: <sip:b@example.com>', 'Call-ID: c', 'CSeq: 1 OPTIONS', 'Route: ,<sip:p1.example.com;lr>'])) as SipRequest;
    expect(() => broken.topRoute).toThrow(SipParseError);
  });

  it('pops a value alone on its line by dropping the line, and one of a list by rewriting it', () => {
    const m = parseMessage(INVITE) as SipRequest;
    expect(m.popFirstValue('route')).toBe('<sip:p1.example.com;lr>');
    expect(m.popFirstValue('route')).toBe('<sip:p2.example.com;lr>');
    expect(m.popFirstValue('route')).toBe('<sip:p3.example.com;lr>');
    expect(m.popFirstValue('route')).toBeUndefined();
    expect(m.popVia()!.branch).toBe('z9hG4bKabc');
    expect(m.popVia()!.branch).toBe('z9hG4bKdef');
    const text = serializeMessage(m).toString('latin1');
    expect(text).not.toContain('Route:');
    expect(text).toContain('\r\nVia: SIP/2.0/TCP proxy.example.net;branch=z9hG4bKghi\r\n');
    expect(text).not.toMatch(/\r\nv:/);
    const again = parseMessage(Buffer.from(text, 'latin1')) as SipRequest;
    expect(again.vias.map((v) => v.branch)).toEqual(['z9hG4bKghi']);
    expect(again.routes).toEqual([]);
  });

  it('pops and rewrites the first value of a list line and keeps the rest of it as it was', () => {
    const m = parseMessage(
      crlf([
        'OPTIONS sip:b@example.com SIP/2.0',
        'Via: SIP/2.0/UDP a.example.com;branch=z9hG4bK1 ,  SIP/2.0/UDP b.example.com;branch=z9hG4bK2;x="p, q",SIP/2.0/TCP c.example.com;branch=z9hG4bK3',
        'From: <sip:a@example.com>;tag=1',
        'To: <sip:b@example.com>',
        'Call-ID: c',
        'CSeq: 1 OPTIONS',
        'Route: "P, one" <sip:p1.example.com;lr>;x="a,b" , <sip:p2.example.com;lr>',
      ]),
    ) as SipRequest;
    expect(m.popFirstValue('route')).toBe('"P, one" <sip:p1.example.com;lr>;x="a,b"');
    expect(m.get('route')).toBe('<sip:p2.example.com;lr>');
    expect(m.popVia()!.host).toBe('a.example.com');
    expect(m.get('via')).toBe('SIP/2.0/UDP b.example.com;branch=z9hG4bK2;x="p, q",SIP/2.0/TCP c.example.com;branch=z9hG4bK3');
    m.vias[0]!.params.set('received', '192.0.2.1');
    m.commitTopVia();
    expect(m.get('via')).toBe('SIP/2.0/UDP b.example.com;branch=z9hG4bK2;x="p, q";received=192.0.2.1, SIP/2.0/TCP c.example.com;branch=z9hG4bK3');
    const again = parseMessage(serializeMessage(m)) as SipRequest;
    expect(again.vias.map((v) => [v.host, v.branch])).toEqual([
      ['b.example.com', 'z9hG4bK2'],
      ['c.example.com', 'z9hG4bK3'],
    ]);
    expect(again.vias[0]!.params.get('x')).toBe('"p, q"');
    expect(again.popVia()!.host).toBe('b.example.com');
    expect(again.popVia()!.host).toBe('c.example.com');
    expect(again.has('via')).toBe(false);
  });
});
