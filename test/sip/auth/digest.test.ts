import { createHash } from 'node:crypto';
import { describe, it, expect } from 'vitest';
import {
  computeHa1,
  computeHa2,
  computeResponse,
  computeSessionHa1,
  computeUserhash,
  digestAlgorithmInfo,
  digestHash,
  type DigestAlgorithm,
  type DigestQop,
} from '../../../src/sip/auth/digest.js';
import { loadFixture } from './fixtures.js';

const md5 = (s: string | Buffer): string => createHash('md5').update(s).digest('hex');
const sha256 = (s: string | Buffer): string => createHash('sha256').update(s).digest('hex');

describe('Digest response computation (RFC 7616 §3.4)', () => {
  const rfc7616 = {
    username: 'Mufasa',
    realm: 'http-auth@example.org',
    password: 'Circle of Life',
    method: 'GET',
    uri: '/dir/index.html',
    nonce: '7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v',
    nc: '00000001',
    cnonce: 'f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ',
    qop: 'auth' as const,
  };

  it('reproduces the RFC 7616 §3.9.1 MD5 example', () => {
    const ha1 = computeHa1('MD5', rfc7616.username, rfc7616.realm, rfc7616.password);
    expect(ha1).toBe('3d78807defe7de2157e2b0b6573a855f');
    expect(computeResponse({ ...rfc7616, algorithm: 'MD5', ha1 })).toBe(
      '8ca523f5e9506fed4657c9700eebdbec',
    );
  });

  it('reproduces the RFC 7616 §3.9.1 SHA-256 example', () => {
    const ha1 = computeHa1('SHA-256', rfc7616.username, rfc7616.realm, rfc7616.password);
    expect(ha1).toBe('7987c64c30e25f1b74be53f966b49b90f2808aa92faf9a00262392d7b4794232');
    expect(computeResponse({ ...rfc7616, algorithm: 'SHA-256', ha1 })).toBe(
      '753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1',
    );
  });

  it('reproduces the RFC 2617 §3.5 example', () => {
    const ha1 = computeHa1('MD5', 'Mufasa', 'testrealm@host.com', 'Circle Of Life');
    const response = computeResponse({
      algorithm: 'MD5',
      ha1,
      method: 'GET',
      uri: '/dir/index.html',
      nonce: 'dcd98b7102dd2f0e8b11d0f600bfb0c093',
      nc: '00000001',
      cnonce: '0a4f113b',
      qop: 'auth',
    });
    expect(response).toBe('6629fae49393a05397450978507c4ef1');
  });

  it('reproduces the MD5-sess SIP INVITE example of draft-smith-sipping-auth-examples §3.4', () => {
    const ha1 = computeHa1('MD5-sess', 'bob', 'biloxi.com', 'zanzibar');
    const response = computeResponse({
      algorithm: 'MD5-sess',
      ha1,
      method: 'INVITE',
      uri: 'sip:bob@biloxi.com',
      nonce: 'dcd98b7102dd2f0e8b11d0f600bfb0c093',
      nc: '00000001',
      cnonce: '0a4f113b',
      qop: 'auth',
    });
    expect(response).toBe('e4e4ea61d186d07a92c9e1f6919902e9');
  });

  describe('a SIP REGISTER checked against plain createHash', () => {
    const user = 'alice@tidewater.example';
    const realm = 'tidewater.example';
    const password = 'pässwörd "quoted"';
    const nonce = 'AXZ0aWRld2F0ZXItbm9uY2UtZm9yLXRlc3RzLW9ubHktMDEyMzQ1Njc4OQ';
    const uri = 'sip:tidewater.example';
    const cnonce = '6b8b4567';
    const nc = '0000000a';
    const body = 'v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\n';

    for (const [algorithm, h] of [
      ['MD5', md5],
      ['SHA-256', sha256],
    ] as const) {
      it(`${algorithm}, qop=auth`, () => {
        const ha1 = h(`${user}:${realm}:${password}`);
        const expected = h(`${ha1}:${nonce}:${nc}:${cnonce}:auth:${h(`REGISTER:${uri}`)}`);
        expect(computeHa1(algorithm, user, realm, password)).toBe(ha1);
        expect(computeResponse({ algorithm, ha1, nonce, method: 'REGISTER', uri, qop: 'auth', nc, cnonce })).toBe(expected);
      });

      it(`${algorithm}, qop=auth-int hashes the body`, () => {
        const ha1 = h(`${user}:${realm}:${password}`);
        const ha2 = h(`REGISTER:${uri}:${h(body)}`);
        const expected = h(`${ha1}:${nonce}:${nc}:${cnonce}:auth-int:${ha2}`);
        const input = { algorithm, ha1, nonce, method: 'REGISTER', uri, qop: 'auth-int' as const, nc, cnonce };
        expect(computeResponse({ ...input, body: Buffer.from(body) })).toBe(expected);
        expect(computeResponse({ ...input, body })).toBe(expected);
        expect(computeResponse({ ...input, body: body + ' ' })).not.toBe(expected);
      });

      it(`${algorithm}-sess derives the session key from nonce and cnonce`, () => {
        const ha1 = h(`${user}:${realm}:${password}`);
        const sessionHa1 = h(`${ha1}:${nonce}:${cnonce}`);
        const expected = h(`${sessionHa1}:${nonce}:${nc}:${cnonce}:auth:${h(`REGISTER:${uri}`)}`);
        const sess = `${algorithm}-sess` as DigestAlgorithm;
        expect(computeResponse({ algorithm: sess, ha1, nonce, method: 'REGISTER', uri, qop: 'auth', nc, cnonce })).toBe(expected);
      });
    }

    it('without qop uses H(HA1:nonce:HA2) (RFC 2069 compatibility)', () => {
      const ha1 = md5(`${user}:${realm}:${password}`);
      const expected = md5(`${ha1}:${nonce}:${md5(`REGISTER:${uri}`)}`);
      expect(computeResponse({ algorithm: 'MD5', ha1, nonce, method: 'REGISTER', uri })).toBe(expected);
    });

    it('accepts a stored HA1 in upper case', () => {
      const ha1 = md5(`${user}:${realm}:${password}`);
      const input = { algorithm: 'MD5' as const, nonce, method: 'REGISTER', uri, qop: 'auth' as const, nc, cnonce };
      expect(computeResponse({ ...input, ha1: ha1.toUpperCase() })).toBe(computeResponse({ ...input, ha1 }));
    });

    it('hashes an empty auth-int body as the empty string (RFC 3261 §22.4)', () => {
      expect(computeHa2('MD5', 'REGISTER', uri, 'auth-int')).toBe(md5(`REGISTER:${uri}:${md5('')}`));
    });
  });

  it('refuses to compute without the directives qop and -sess need', () => {
    const base = { ha1: 'x', nonce: 'n', method: 'REGISTER', uri: 'sip:a' };
    expect(() => computeResponse({ ...base, algorithm: 'MD5', qop: 'auth', cnonce: 'c' })).toThrow(RangeError);
    expect(() => computeResponse({ ...base, algorithm: 'MD5', qop: 'auth', nc: '00000001' })).toThrow(RangeError);
    expect(() => computeResponse({ ...base, algorithm: 'SHA-256-sess' })).toThrow(RangeError);
    expect(() => computeResponse({ ...base, algorithm: 'SHA-1' as DigestAlgorithm })).toThrow(/unsupported/);
  });

  it('reads algorithm tokens case-insensitively and treats an absent one as MD5', () => {
    expect(digestAlgorithmInfo(undefined)).toEqual({ name: 'MD5', hash: 'MD5', session: false });
    expect(digestAlgorithmInfo('sha-256-SESS')).toEqual({ name: 'SHA-256-sess', hash: 'SHA-256', session: true });
    expect(digestAlgorithmInfo('SHA-512-256')?.hash).toBe('SHA-512-256');
    expect(digestAlgorithmInfo('SHA-1')).toBeUndefined();
    expect(digestAlgorithmInfo('AKAv1-MD5')).toBeUndefined();
  });
});

interface DigestVector {
  id: string;
  username: string;
  realm: string;
  password: string;
  method: string;
  uri: string;
  nonce: string;
  nc: string | null;
  cnonce: string | null;
  qop: DigestQop | null;
  algorithm: DigestAlgorithm | null;
  entity_body: string | null;
  entity_body_md5?: string;
  userhash?: boolean;
  expected?: { ha1: string; ha2: string; response: string };
  expected_fips_sha512_256?: { ha1: string; ha2: string; response: string; username_hash: string };
  expected_as_published?: { ha1: string; ha2: string; response: string; username_hash: string };
}

/** HA1, HA2 and response as this module computes them for a fixture vector. */
function compute(v: DigestVector): { ha1: string; ha2: string; response: string } {
  const info = digestAlgorithmInfo(v.algorithm ?? undefined);
  if (!info) throw new Error(`${v.id}: algorithm ${v.algorithm} not supported`);
  const stored = computeHa1(info.name, v.username, v.realm, v.password);
  const ha1 = info.session ? computeSessionHa1(info.name, stored, v.nonce, v.cnonce!) : stored;
  const qop = v.qop ?? undefined;
  const body = v.entity_body ?? undefined;
  return {
    ha1,
    ha2: computeHa2(info.name, v.method, v.uri, qop, body),
    response: computeResponse({
      algorithm: info.name,
      ha1: stored,
      nonce: v.nonce,
      method: v.method,
      uri: v.uri,
      qop,
      nc: v.nc ?? undefined,
      cnonce: v.cnonce ?? undefined,
      body,
    }),
  };
}

const digestFixture = await loadFixture<{ vectors: DigestVector[] }>('digest-vectors.json');
describe('Digest against shared fixture digest-vectors.json', () => {
  if (!digestFixture.ok) {
    it('finds the shared fixture directory', () => {
      expect.fail(digestFixture.message);
    });
    return;
  }
  const vectors = digestFixture.data.vectors;
  it('holds vectors', () => {
    expect(vectors.length).toBeGreaterThanOrEqual(12);
  });
  for (const v of vectors) {
    it(`matches ${v.id}`, () => {
      const ours = compute(v);
      if (v.expected) {
        expect(ours).toEqual(v.expected);
      } else {
        // RFC 7616 §3.9.2: true SHA-512/256 values; the RFC printed truncated SHA-512 ones.
        const fips = v.expected_fips_sha512_256!;
        expect(ours).toEqual({ ha1: fips.ha1, ha2: fips.ha2, response: fips.response });
        expect(computeUserhash('SHA-512-256', v.username, v.realm)).toBe(fips.username_hash);
        const truncated = (s: string): string => createHash('sha512').update(s).digest('hex').slice(0, 64);
        expect(truncated(`${v.username}:${v.realm}`)).toBe(v.expected_as_published!.username_hash);
        expect(ours.response).not.toBe(v.expected_as_published!.response);
      }
      if (v.entity_body_md5) expect(digestHash('MD5', v.entity_body!)).toBe(v.entity_body_md5);
    });
  }
});
