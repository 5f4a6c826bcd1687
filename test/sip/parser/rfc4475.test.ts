import { describe, expect, it } from 'vitest';
import { parseMessage } from '../../../src/sip/parser/parse.js';
import { serializeMessage } from '../../../src/sip/message/serialize.js';
import { SipParseError } from '../../../src/sip/message/errors.js';
import { SipRequest, SipResponse, type SipMessage } from '../../../src/sip/message/message.js';
import { SipUri, TelUri, AbsoluteUri } from '../../../src/sip/message/uri.js';
import { listFixtures, readFixture } from '../../harness/fixtures.js';

type Check = (m: SipMessage) => void;
interface Expect {
  /** parsed (with a check of the values that matter) or rejected with SipParseError */
  ok: boolean;
  status?: number;
  check?: Check;
  note: string;
}

const req = (m: SipMessage): SipRequest => {
  expect(m).toBeInstanceOf(SipRequest);
  return m as SipRequest;
};
const sip = (u: unknown): SipUri => {
  expect(u).toBeInstanceOf(SipUri);
  return u as SipUri;
};

/** What each RFC 4475 message must give, per ../shared/fixtures/rfc4475/MANIFEST.md. */
const EXPECT: Record<string, Expect> = {
  'wsinv.dat': {
    ok: true,
    note: '3.1.1.1 tortuous but valid',
    check: (m) => {
      const r = req(m);
      expect(r.method).toBe('INVITE');
      expect(sip(r.uri).params.has('unknownparam')).toBe(true);
      expect(r.to.tag).toBe('1918181833n');
      expect(r.from.display).toBe('J Rosenberg \\"');
      expect(r.from.tag).toBe('98asjd8');
      expect(r.maxForwards).toBe(68);
      expect(r.callId).toBe('wsinv.ndaksdj@192.0.2.1');
      expect(r.cseq).toEqual({ seq: 9, method: 'INVITE' });
      expect(r.vias.map((v) => [v.transport, v.host, v.branch])).toEqual([
        ['UDP', '192.0.2.2', '390skdjuw'],
        ['TCP', 'spindle.example.com', 'z9hG4bK9ikj8'],
        ['UDP', '192.168.255.111', 'z9hG4bK30239'],
      ]);
      expect(r.get('NewFangledHeader')).toBe('newfangled value continued newfangled value');
      expect(r.get('UnknownHeaderWithUnusualValue')).toBe(';;,,;;,;');
      expect(r.get('subject')).toBe('');
      const route = r.routes[0]!;
      expect(sip(route.uri).params.get('unknownwith')).toBe('value');
      expect(sip(route.uri).params.get('unknown-no-value')).toBeNull();
      const c = r.contacts[0]!;
      expect(c.display).toBe('Quoted string ""');
      expect(c.params.get('newparam')).toBe('newvalue');
      expect(c.params.get('q')).toBe('0.33');
      expect(c.params.has('secondparam')).toBe(true);
      expect(r.body.length).toBe(150);
    },
  },
  'intmeth.dat': {
    ok: true,
    note: '3.1.1.2 wide range of valid characters',
    check: (m) => {
      const r = req(m);
      expect(r.method).toBe("!interesting-Method0123456789_*+`.%indeed'~");
      const u = sip(r.uri);
      expect(u.user).toBe("1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*");
      expect(u.password).toBe("&it+has=1,weird!*pas$wo~d_too.(doesn't-it)");
      expect(u.host).toBe('example.com');
      expect(r.topVia!.branch).toBe("z9hG4bK-.!%66*_+`'~");
      expect(r.from.display).toBe("token1~` token2'+_ token3*%!.-");
      expect(r.from.tag).toBe("_token~1'+`*%!-.");
      expect(r.callId).toBe('intmeth.word%ZK-!.*_+\'@word`~)(><:\\/"][?}{');
      expect(r.to.display).toContain('BEL:');
      expect(r.get("extensionHeader-!.%*+_`'~")).toBeDefined();
    },
  },
  'esc01.dat': {
    ok: true,
    note: '3.1.1.3 % escaping',
    check: (m) => {
      const r = req(m);
      expect(sip(r.uri).user).toBe('sips%3Auser%40example.com');
      expect(r.callId).toBe('esc01.239409asdfakjkn23onasd0-3234');
    },
  },
  'escnull.dat': {
    ok: true,
    note: '3.1.1.4 escaped nulls, two distinct contacts',
    check: (m) => {
      const r = req(m);
      expect(sip(r.to.uri).user).toBe('null-%00-null');
      const users = r.contacts.map((c) => sip(c.uri).user);
      expect(users).toEqual(['%00', '%00%00']);
    },
  },
  'esc02.dat': {
    ok: true,
    note: '3.1.1.5 % not an escape: unknown method, unknown header',
    check: (m) => {
      const r = req(m);
      expect(r.method).toBe('RE%47IST%45R');
      expect(r.contacts.length).toBe(2);
      expect(r.get('C%6Fntact')).toBe('<sip:alias2@host2.example.com>');
    },
  },
  'lwsdisp.dat': {
    ok: true,
    note: '3.1.1.6 no LWS between display name and <',
    check: (m) => expect(req(m).from.display).toBe('caller'),
  },
  'longreq.dat': {
    ok: true,
    note: '3.1.1.7 long values',
    check: (m) => {
      const r = req(m);
      expect(r.vias.length).toBe(34);
      expect(r.from.tag!.length).toBeGreaterThan(100);
      expect(r.to.display!.length).toBeGreaterThan(100);
    },
  },
  'dblreq.dat': {
    ok: true,
    note: '3.1.1.8 trailing octets after a datagram are ignored',
    check: (m) => {
      const r = req(m);
      expect(r.method).toBe('REGISTER');
      expect(r.body.length).toBe(0);
      expect(serializeMessage(r).toString('latin1')).not.toContain('INVITE');
    },
  },
  'semiuri.dat': {
    ok: true,
    note: '3.1.1.9 semicolons in user part',
    check: (m) => {
      const u = sip(req(m).uri);
      expect(u.user).toBe('user;par=u%40example.net');
      expect(u.host).toBe('example.com');
      expect(req(m).getAll('accept').length).toBe(6);
    },
  },
  'transports.dat': {
    ok: true,
    note: '3.1.1.10 varied transports',
    check: (m) => expect(req(m).vias.map((v) => v.transport)).toEqual(['UDP', 'SCTP', 'TLS', 'UNKNOWN', 'TCP']),
  },
  'mpart01.dat': {
    ok: true,
    note: '3.1.1.11 multipart body framed by Content-Length only',
    check: (m) => expect(m.body.length).toBe(553),
  },
  'unreason.dat': {
    ok: true,
    note: '3.1.1.12 unusual reason phrase',
    check: (m) => {
      expect(m).toBeInstanceOf(SipResponse);
      expect((m as SipResponse).status).toBe(200);
      expect(Buffer.from((m as SipResponse).reason, 'latin1').toString('utf8')).toContain('2**3');
    },
  },
  'noreason.dat': {
    ok: true,
    note: '3.1.1.13 empty reason phrase',
    check: (m) => {
      expect((m as SipResponse).status).toBe(100);
      expect((m as SipResponse).reason).toBe('');
    },
  },
  'badinv01.dat': { ok: false, note: '3.1.2.1 empty items in Via' },
  'clerr.dat': { ok: false, note: '3.1.2.2 Content-Length larger than the datagram' },
  'ncl.dat': { ok: false, note: '3.1.2.3 negative Content-Length' },
  'scalar02.dat': { ok: false, note: '3.1.2.4 CSeq over 2^32-1' },
  'scalarlg.dat': { ok: false, note: '3.1.2.5 response with overlarge scalars' },
  'quotbal.dat': { ok: false, note: '3.1.2.6 unterminated quote' },
  'ltgtruri.dat': { ok: false, note: '3.1.2.7 <> around the Request-URI' },
  'lwsruri.dat': { ok: false, note: '3.1.2.8 LWS in the Request-URI' },
  'lwsstart.dat': { ok: false, note: '3.1.2.9 several SP in the Request-Line' },
  'trws.dat': { ok: false, note: '3.1.2.10 trailing SP in the Request-Line' },
  'escruri.dat': { ok: false, note: '3.1.2.11 escaped headers in the Request-URI' },
  'baddate.dat': {
    ok: true,
    note: '3.1.2.12 Date in EST: Date does not matter to this element, so it is ignored',
    check: (m) => expect(req(m).method).toBe('INVITE'),
  },
  'regbadct.dat': {
    ok: true,
    note: '3.1.2.13 Contact with a header not in <>: the message parses, reading Contact fails',
    check: (m) => expect(() => req(m).contacts).toThrow(SipParseError),
  },
  'badaspec.dat': { ok: false, note: '3.1.2.14 spaces inside <> in To' },
  'baddn.dat': { ok: false, note: '3.1.2.15 unquoted display name with a comma' },
  'badvers.dat': { ok: false, status: 505, note: '3.1.2.16 SIP/7.0 gets 505' },
  'mismatch01.dat': { ok: false, status: 400, note: '3.1.2.17 CSeq method mismatch' },
  'mismatch02.dat': { ok: false, status: 501, note: '3.1.2.18 unknown method, CSeq mismatch: 501' },
  'bigcode.dat': { ok: false, note: '3.1.2.19 status code over 699 is dropped' },
  'badbranch.dat': {
    ok: true,
    note: '3.2.1 bare magic cookie: parsed, falls back to RFC 2543 matching',
    check: (m) => expect(req(m).topVia!.isRfc3261Branch).toBe(false),
  },
  'insuf.dat': { ok: false, note: '3.3.1 missing Call-ID, From and To' },
  'unkscm.dat': {
    ok: true,
    note: '3.3.2 unknown scheme in the Request-URI parses (the element answers 416)',
    check: (m) => {
      expect(req(m).uri).toBeInstanceOf(AbsoluteUri);
      expect(req(m).uri.scheme).toBe('nobodyKnowsThisScheme');
    },
  },
  'novelsc.dat': {
    ok: true,
    note: '3.3.3 known but atypical scheme parses',
    check: (m) => expect(req(m).uri.scheme).toBe('soap.beep'),
  },
  'unksm2.dat': {
    ok: true,
    note: '3.3.4 unknown schemes in headers',
    check: (m) => {
      expect(req(m).to.uri).toBeInstanceOf(AbsoluteUri);
      expect(req(m).to.uri.toString()).toBe('isbn:2983792873');
    },
  },
  'bext01.dat': {
    ok: true,
    note: '3.3.5 Require and Proxy-Require readable for a 420',
    check: (m) => {
      expect(req(m).getAll('require')).toEqual(['nothingSupportsThis', 'nothingSupportsThisEither']);
      expect(req(m).getAll('proxy-require')).toEqual(['noProxiesSupportThis', 'norDoAnyProxiesSupportThis']);
    },
  },
  'invut.dat': {
    ok: true,
    note: '3.3.6 unknown Content-Type',
    check: (m) => expect(m.get('content-type')).toBe('application/unknownformat'),
  },
  'regaut01.dat': {
    ok: true,
    note: '3.3.7 unknown Authorization scheme kept intact',
    check: (m) => expect(m.get('authorization')).toMatch(/^NoOneKnowsThisScheme /),
  },
  'multi01.dat': { ok: false, note: '3.3.8 several values in single-value fields' },
  'mcl01.dat': { ok: false, note: '3.3.9 conflicting Content-Length values' },
  'bcast.dat': {
    ok: true,
    note: '3.3.10 broadcast Via parses (the proxy drops it)',
    check: (m) => expect((m as SipResponse).vias[1]!.host).toBe('255.255.255.255'),
  },
  'zeromf.dat': {
    ok: true,
    note: '3.3.11 Max-Forwards 0 parses (a proxy answers 483)',
    check: (m) => expect(req(m).maxForwards).toBe(0),
  },
  'cparam01.dat': {
    ok: true,
    note: '3.3.12 header parameter, not a URI parameter',
    check: (m) => {
      const c = req(m).contacts[0]!;
      expect(c.params.has('unknownparam')).toBe(true);
      expect(sip(c.uri).params.has('unknownparam')).toBe(false);
    },
  },
  'cparam02.dat': {
    ok: true,
    note: '3.3.13 URI parameter inside <>',
    check: (m) => {
      const c = req(m).contacts[0]!;
      expect(sip(c.uri).params.has('unknownparam')).toBe(true);
      expect(c.params.has('unknownparam')).toBe(false);
    },
  },
  'regescrt.dat': {
    ok: true,
    note: '3.3.14 escaped Route header kept in the Contact URI',
    check: (m) => expect(sip(req(m).contacts[0]!.uri).headers).toBe('Route=%3Csip:sip.example.com%3E'),
  },
  'sdp01.dat': {
    ok: true,
    note: '3.3.15 Accept without application/sdp',
    check: (m) => expect(req(m).getAll('accept')).toEqual(['text/nobodyKnowsThis']),
  },
  'inv2543.dat': {
    ok: true,
    note: '3.4.1 RFC 2543 syntax: no branch, no From tag, no Content-Length, no Max-Forwards',
    check: (m) => {
      const r = req(m);
      expect(r.topVia!.branch).toBeUndefined();
      expect(r.from.tag).toBeUndefined();
      expect(r.maxForwards).toBeUndefined();
      expect(r.contentLength).toBeUndefined();
      expect(r.body.length).toBeGreaterThan(0);
    },
  },
  'test.dat': { ok: false, note: 'undocumented archive member: must not crash; it has a header line without a colon' },
};

function attempt(buf: Buffer): SipMessage | SipParseError {
  try {
    return parseMessage(buf);
  } catch (e) {
    if (e instanceof SipParseError) return e;
    throw e;
  }
}

describe('RFC 4475 torture messages', () => {
  const files = listFixtures('rfc4475');

  it('has an expectation for every message of the fixture set', () => {
    expect(files.length).toBe(50);
    expect(files.filter((f) => !(f in EXPECT))).toEqual([]);
  });

  for (const [file, exp] of Object.entries(EXPECT)) {
    it(`${exp.ok ? 'accepts' : 'rejects'} ${file} (${exp.note})`, () => {
      const buf = readFixture('rfc4475', file);
      const got = attempt(buf);
      if (!exp.ok) {
        expect(got).toBeInstanceOf(SipParseError);
        if (exp.status) expect((got as SipParseError).status).toBe(exp.status);
        expect((got as SipParseError).message.length).toBeGreaterThan(5);
        return;
      }
      expect(got).not.toBeInstanceOf(SipParseError);
      const msg = got as SipMessage;
      exp.check?.(msg);
      // An unmodified message serializes back to the bytes of the message (datagram noise excluded).
      const out = serializeMessage(msg);
      expect(buf.subarray(0, out.length).equals(out)).toBe(true);
    });
  }

  it('rejects baddn.dat for its display name even when the missing empty line is added', () => {
    const buf = Buffer.concat([readFixture('rfc4475', 'baddn.dat'), Buffer.from('\r\n')]);
    const got = attempt(buf);
    expect(got).toBeInstanceOf(SipParseError);
    expect((got as SipParseError).message).toMatch(/display name/);
  });

  it('keeps a partial request on errors that still allow a 400 answer', () => {
    const got = attempt(readFixture('rfc4475', 'mismatch01.dat')) as SipParseError & { partial?: SipRequest };
    expect(got.partial).toBeInstanceOf(SipRequest);
    expect(got.partial!.topVia!.host).toBeDefined();
  });

  it('reads a tel: URI in a header', () => {
    const m = parseMessage(
      Buffer.from(
        'INVITE tel:+1-201-555-0123;phone-context=example.com SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n' +
          'From: <sip:a@b>;tag=1\r\nTo: <tel:+12015550123>\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n',
      ),
    ) as SipRequest;
    expect(m.uri).toBeInstanceOf(TelUri);
    expect((m.uri as TelUri).digits).toBe('+12015550123');
    expect((m.uri as TelUri).params.get('phone-context')).toBe('example.com');
  });
});
