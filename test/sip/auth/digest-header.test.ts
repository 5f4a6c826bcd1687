import { describe, it, expect } from 'vitest';
import {
  buildChallenge,
  formatCredentials,
  parseDigestChallenge,
  parseDigestCredentials,
  quoteString,
} from '../../../src/sip/auth/digest-header.js';

describe('parseDigestCredentials (RFC 3261 §25.1)', () => {
  it('reads SIPp-style credentials without spaces after commas', () => {
    const c = parseDigestCredentials(
      'Digest username="user1",realm="tidewater.example",uri="sip:127.0.0.1:5060",' +
        'nonce="abc",response="0123456789abcdef0123456789abcdef",algorithm=MD5',
    );
    expect(c).toMatchObject({
      username: 'user1',
      realm: 'tidewater.example',
      uri: 'sip:127.0.0.1:5060',
      nonce: 'abc',
      response: '0123456789abcdef0123456789abcdef',
      algorithm: 'MD5',
    });
    expect(c?.qop).toBeUndefined();
  });

  it('reads the RFC 3261 §22.4 style with qop, nc and cnonce in any order and case', () => {
    const c = parseDigestCredentials(
      'DIGEST  NC=00000001 ,QOP=auth,  CNonce="0a4f113b", Username="bob", ' +
        'Realm="biloxi.com", Nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", ' +
        'URI="sip:bob@biloxi.com", Response="89eb0059246c02b2f6ee02c7961d5ea3", ' +
        'Opaque="5ccc069c403ebaf9f0171e9517f40e41"',
    );
    expect(c).toMatchObject({
      username: 'bob',
      realm: 'biloxi.com',
      nonce: 'dcd98b7102dd2f0e8b11d0f600bfb0c093',
      uri: 'sip:bob@biloxi.com',
      response: '89eb0059246c02b2f6ee02c7961d5ea3',
      opaque: '5ccc069c403ebaf9f0171e9517f40e41',
      qop: 'auth',
      nc: '00000001',
      cnonce: '0a4f113b',
    });
  });

  it('unescapes quoted-pairs and keeps commas and equals signs inside quotes', () => {
    const c = parseDigestCredentials(
      'Digest username="a\\"b\\\\c", uri="sip:x@y;a=1,b=2", realm="r, \\r", nonce="", response="z"',
    );
    expect(c?.username).toBe('a"b\\c');
    expect(c?.uri).toBe('sip:x@y;a=1,b=2');
    expect(c?.realm).toBe('r, r');
    expect(c?.nonce).toBe('');
  });

  it('keeps unknown directives, names lowercased, and non-ASCII text', () => {
    const c = parseDigestCredentials('Digest username="Jäsøn", X-Ext="v", token-ext=t.1, realm="r"');
    expect(c?.username).toBe('Jäsøn');
    expect(c?.params.get('x-ext')).toBe('v');
    expect(c?.params.get('token-ext')).toBe('t.1');
    expect([...(c?.params.keys() ?? [])]).toEqual(['username', 'x-ext', 'token-ext', 'realm']);
  });

  it('accepts tabs, line folding whitespace and empty list elements', () => {
    const c = parseDigestCredentials('Digest\tusername="u",\r\n realm="r" ,, nonce="n"');
    expect(c).toMatchObject({ username: 'u', realm: 'r', nonce: 'n' });
  });

  it.each([
    ['another scheme', 'Basic dXNlcjpwYXNz'],
    ['no directives', 'Digest'],
    ['no space after the scheme', 'Digestusername="u"'],
    ['an unterminated quoted string', 'Digest username="u, realm="r'],
    ['a backslash at the end', 'Digest username="u\\'],
    ['a repeated directive', 'Digest username="u", USERNAME="v"'],
    ['a directive without a value', 'Digest username=, realm="r"'],
    ['a directive without "="', 'Digest username "u"'],
    ['text after a value', 'Digest username="u" realm="r"'],
    ['a quote inside a bare value', 'Digest nc=00"01'],
    ['a CR inside a quoted string', 'Digest username="a\rb"'],
    ['an empty string', ''],
  ])('rejects %s', (_, value) => {
    expect(parseDigestCredentials(value)).toBeUndefined();
  });
});

describe('buildChallenge (RFC 7616 §3.3, RFC 3261 §22.4)', () => {
  it('renders realm, nonce, opaque, algorithm and qop="auth"', () => {
    expect(
      buildChallenge({ realm: 'tidewater.example', nonce: 'n0', opaque: 'o1', algorithm: 'SHA-256' }),
    ).toBe('Digest realm="tidewater.example", nonce="n0", opaque="o1", algorithm=SHA-256, qop="auth"');
  });

  it('defaults to MD5 and adds stale=true when asked', () => {
    expect(buildChallenge({ realm: 'r', nonce: 'n', stale: true })).toBe(
      'Digest realm="r", nonce="n", stale=true, algorithm=MD5, qop="auth"',
    );
  });

  it('lists several qop options and escapes quoted values', () => {
    const value = buildChallenge({
      realm: 'say "hi" \\o/',
      nonce: 'n',
      qop: ['auth', 'auth-int'],
      algorithm: 'AKAv1-MD5',
    });
    expect(value).toBe(
      'Digest realm="say \\"hi\\" \\\\o/", nonce="n", algorithm=AKAv1-MD5, qop="auth,auth-int"',
    );
    const parsed = parseDigestChallenge(value);
    expect(parsed?.realm).toBe('say "hi" \\o/');
    expect(parsed?.qop).toEqual(['auth', 'auth-int']);
    expect(parsed?.algorithm).toBe('AKAv1-MD5');
    expect(parsed?.stale).toBe(false);
  });

  it('round-trips through parseDigestChallenge', () => {
    const parsed = parseDigestChallenge(
      buildChallenge({ realm: 'r', nonce: 'abc-_', opaque: '', stale: true, domain: 'sip:r' }),
    );
    expect(parsed).toMatchObject({ realm: 'r', nonce: 'abc-_', opaque: '', stale: true, domain: 'sip:r', qop: ['auth'] });
  });

  it('refuses values that would inject header lines', () => {
    expect(() => buildChallenge({ realm: 'r\r\nX-Evil: 1', nonce: 'n' })).toThrow(RangeError);
    expect(() => quoteString('a\nb')).toThrow(RangeError);
  });

  it('reads RFC 3261 stale=FALSE and stale=TRUE case-insensitively', () => {
    expect(parseDigestChallenge('Digest realm="a", nonce="b", stale=FALSE')?.stale).toBe(false);
    expect(parseDigestChallenge('Digest realm="a", nonce="b", stale=TRUE')?.stale).toBe(true);
  });
});

describe('formatCredentials', () => {
  it('round-trips every field through parseDigestCredentials', () => {
    const fields = {
      username: 'al"ice',
      realm: 'tidewater.example',
      nonce: 'n',
      uri: 'sip:tidewater.example',
      response: 'abc',
      algorithm: 'SHA-256-sess' as const,
      cnonce: 'c',
      opaque: 'o',
      qop: 'auth-int' as const,
      nc: '0000000f',
      auts: 'AAEC+/==',
    };
    const value = formatCredentials(fields);
    expect(value).toContain('qop=auth-int, nc=0000000f');
    const { params, ...parsed } = parseDigestCredentials(value)!;
    expect(params.size).toBe(11);
    expect(parsed).toEqual({ ...fields, userhash: undefined });
  });
});
