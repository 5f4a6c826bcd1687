import { createHash } from 'node:crypto';
import { describe, it, expect } from 'vitest';
import {
  AKA_V1_MD5,
  akaHa1,
  decodeAkaNonce,
  encodeAkaNonce,
  generateAkaVector,
  resynchronise,
  verifyAkaResponse,
  type AkaVector,
} from '../../../src/sip/auth/aka.js';
import { buildChallenge, formatCredentials, parseDigestCredentials } from '../../../src/sip/auth/digest-header.js';
import { Milenage } from '../../../src/sip/auth/milenage.js';
import { hex, loadFixture, TS35208_SET1, type MilenageSet } from './fixtures.js';

const IMPI = '001010000000001@ims.mnc001.mcc001.3gppnetwork.org';
const REALM = 'ims.mnc001.mcc001.3gppnetwork.org';
const URI = 'sip:ims.mnc001.mcc001.3gppnetwork.org';
const md5 = (...parts: (string | Buffer)[]): string => {
  const hash = createHash('md5');
  for (const p of parts) hash.update(p);
  return hash.digest('hex');
};

function vectorFor(v: MilenageSet): AkaVector {
  return generateAkaVector({
    keys: { k: hex(v.k), op: hex(v.op) },
    sqn: hex(v.sqn),
    amf: hex(v.amf),
    rand: hex(v.rand),
  });
}

/** The vector fields a set implies: AUTN = (SQN xor AK) || AMF || MAC-A (TS 33.102 §6.3.2). */
function expectVectorMatches(vector: AkaVector, v: MilenageSet): void {
  const concealed = Buffer.from(hex(v.sqn).map((b, i) => b ^ hex(v.f5)[i]!));
  expect(vector.rand.toString('hex')).toBe(v.rand);
  expect(vector.autn.toString('hex')).toBe(concealed.toString('hex') + v.amf + v.f1);
  expect(vector.xres.toString('hex')).toBe(v.f2);
  expect(vector.ck.toString('hex')).toBe(v.f3);
  expect(vector.ik.toString('hex')).toBe(v.f4);
  expect(Buffer.from(vector.nonce, 'base64').toString('hex')).toBe(v.rand + vector.autn.toString('hex'));
}

/** A UE's answer to an AKA challenge, computed directly with createHash (RFC 3310 §3.3). */
function ueCredentials(nonce: string, password: Buffer, extra: { auts?: string; nc?: string } = {}): string {
  const cnonce = 'ue-cnonce';
  const nc = extra.nc ?? '00000001';
  const ha1 = md5(`${IMPI}:${REALM}:`, password);
  const response = md5(`${ha1}:${nonce}:${nc}:${cnonce}:auth:${md5(`REGISTER:${URI}`)}`);
  return formatCredentials({
    username: IMPI,
    realm: REALM,
    nonce,
    uri: URI,
    response,
    algorithm: 'AKAv1-MD5',
    qop: 'auth',
    nc,
    cnonce,
    ...(extra.auts === undefined ? {} : { auts: extra.auts }),
  });
}

const verify = (vector: AkaVector, value: string) =>
  verifyAkaResponse({ credentials: parseDigestCredentials(value)!, method: 'REGISTER', realm: REALM, vector });

/** What a USIM sends on SQN failure: AUTS = (SQN_MS xor AK*) || MAC-S, AMF* = 0 (TS 33.102 §6.3.3). */
function buildAuts(m: Milenage, rand: Buffer, sqnMs: Buffer): Buffer {
  const akStar = m.f5star(rand);
  const concealed = Buffer.from(sqnMs.map((b, i) => b ^ akStar[i]!));
  return Buffer.concat([concealed, m.f1star(rand, sqnMs, Buffer.alloc(2))]);
}

describe('Digest AKAv1 vectors (RFC 3310, TS 33.102)', () => {
  it('builds the vector of TS 35.208 test set 1', () => {
    const vector = vectorFor(TS35208_SET1);
    expect(vector.autn.toString('hex')).toBe('55f328b43577b9b94a9ffac354dfafb3');
    expectVectorMatches(vector, TS35208_SET1);
  });

  it('gives the same vector from K and OPc, or from a Milenage instance', () => {
    const v = TS35208_SET1;
    const fromOpc = generateAkaVector({ keys: { k: hex(v.k), opc: hex(v.opc) }, sqn: hex(v.sqn), amf: hex(v.amf), rand: hex(v.rand) });
    const milenage = new Milenage(hex(v.k), { opc: hex(v.opc) });
    const fromInstance = generateAkaVector({ keys: { milenage }, sqn: hex(v.sqn), amf: hex(v.amf), rand: hex(v.rand) });
    expect(fromOpc).toEqual(vectorFor(v));
    expect(fromInstance).toEqual(fromOpc);
  });

  it('draws a fresh random RAND when none is given', () => {
    const v = TS35208_SET1;
    const request = { keys: { k: hex(v.k), op: hex(v.op) }, sqn: hex(v.sqn), amf: hex(v.amf) };
    const a = generateAkaVector(request);
    const b = generateAkaVector(request);
    expect(a.rand).toHaveLength(16);
    expect(a.rand.equals(b.rand)).toBe(false);
    expect(decodeAkaNonce(a.nonce)?.rand.equals(a.rand)).toBe(true);
  });

  it('carries RAND, AUTN and server data in the nonce (RFC 3310 §3.2)', () => {
    const rand = Buffer.alloc(16, 1);
    const autn = Buffer.alloc(16, 2);
    const serverData = Buffer.from('node-7');
    const nonce = encodeAkaNonce(rand, autn, serverData);
    expect(nonce).toBe(Buffer.concat([rand, autn, serverData]).toString('base64'));
    const parts = decodeAkaNonce(nonce)!;
    expect([parts.rand, parts.autn, parts.serverData]).toEqual([rand, autn, serverData]);
    expect(decodeAkaNonce(Buffer.alloc(31).toString('base64'))).toBeUndefined();
    expect(decodeAkaNonce(`${nonce.slice(0, -4)}!!!!`)).toBeUndefined();
  });
});

describe('verifyAkaResponse (RFC 3310 §3.3)', () => {
  const vector = vectorFor(TS35208_SET1);
  const challenge = buildChallenge({ realm: REALM, nonce: vector.nonce, algorithm: AKA_V1_MD5 });

  it('puts the vector nonce and AKAv1-MD5 in the challenge', () => {
    expect(challenge).toBe(`Digest realm="${REALM}", nonce="${vector.nonce}", algorithm=AKAv1-MD5, qop="auth"`);
  });

  it('uses the raw RES bytes as the Digest password', () => {
    expect(akaHa1(IMPI, REALM, vector.xres)).toBe(md5(`${IMPI}:${REALM}:`, hex(TS35208_SET1.f2)));
  });

  it('accepts a UE response computed with RES', () => {
    expect(verify(vector, ueCredentials(vector.nonce, hex(TS35208_SET1.f2)))).toEqual({ ok: true });
  });

  it('refuses a wrong RES with bad-response', () => {
    const wrongRes = Buffer.from(hex(TS35208_SET1.f2).map((b) => b ^ 1));
    expect(verify(vector, ueCredentials(vector.nonce, wrongRes))).toMatchObject({ reason: 'bad-response' });
    expect(verify(vector, ueCredentials(vector.nonce, Buffer.from(TS35208_SET1.f2)))).toMatchObject({ reason: 'bad-response' });
  });

  it('refuses a response to another nonce with bad-nonce', () => {
    const other = vectorFor({ ...TS35208_SET1, rand: '00'.repeat(16) });
    expect(verify(vector, ueCredentials(other.nonce, other.xres))).toMatchObject({ reason: 'bad-nonce' });
  });

  it('refuses plain MD5 credentials with algorithm-mismatch', () => {
    const value = ueCredentials(vector.nonce, vector.xres).replace('algorithm=AKAv1-MD5', 'algorithm=MD5');
    expect(verify(vector, value)).toMatchObject({ reason: 'algorithm-mismatch' });
  });
});

describe('AKA resynchronisation (RFC 3310 §3.4, TS 33.102 §6.3.5)', () => {
  const v = TS35208_SET1;
  const milenage = new Milenage(hex(v.k), { op: hex(v.op) });
  const vector = vectorFor(v);
  const sqnMs = hex('0000000012e0');
  const auts = buildAuts(milenage, vector.rand, sqnMs);

  it('recovers SQN_MS from an AUTS and checks MAC-S', () => {
    expect(resynchronise({ milenage }, vector.rand, auts)).toEqual({ ok: true, sqnMs });
    expect(resynchronise({ k: hex(v.k), opc: hex(v.opc) }, vector.rand, auts)).toEqual({ ok: true, sqnMs });
  });

  it('refuses an AUTS with a damaged MAC-S or concealed SQN, another RAND, or the wrong key', () => {
    for (const index of [0, 5, 6, 13]) {
      const damaged = Buffer.from(auts);
      damaged[index]! ^= 0x01;
      expect(resynchronise({ milenage }, vector.rand, damaged).ok, `byte ${index}`).toBe(false);
    }
    expect(resynchronise({ milenage }, Buffer.alloc(16), auts).ok).toBe(false);
    const otherKey = new Milenage(Buffer.alloc(16, 9), { op: hex(v.op) });
    expect(resynchronise({ milenage: otherKey }, vector.rand, auts).ok).toBe(false);
    expect(resynchronise({ milenage }, vector.rand, auts.subarray(0, 13)).ok).toBe(false);
  });

  it('hands RAND and AUTS over when the UE answers with auts and the empty password', () => {
    const value = ueCredentials(vector.nonce, Buffer.alloc(0), { auts: auts.toString('base64') });
    const result = verify(vector, value);
    expect(result).toMatchObject({ ok: false, reason: 'resync' });
    if (result.ok || result.reason !== 'resync') throw new Error('expected a resync request');
    expect(result.rand).toEqual(vector.rand);
    expect(result.auts).toEqual(auts);
    expect(resynchronise({ milenage }, result.rand, result.auts)).toEqual({ ok: true, sqnMs });
  });

  it('refuses an auts answer whose response used RES instead of the empty password', () => {
    const value = ueCredentials(vector.nonce, vector.xres, { auts: auts.toString('base64') });
    expect(verify(vector, value)).toMatchObject({ reason: 'bad-response' });
  });

  it('refuses a malformed auts with missing-param', () => {
    const value = ueCredentials(vector.nonce, Buffer.alloc(0), { auts: 'AAAA' });
    expect(verify(vector, value)).toMatchObject({ reason: 'missing-param' });
  });
});

const fixture = await loadFixture<MilenageSet[]>('milenage-ts35208.json');
describe('AKA vectors against shared fixture milenage-ts35208.json', () => {
  if (!fixture.ok) {
    it('finds the shared fixture directory', () => {
      expect.fail(fixture.message);
    });
    return;
  }
  for (const v of fixture.data) {
    it(`builds the vector of test set ${v.set} and resynchronises on it`, () => {
      const vector = vectorFor(v);
      expectVectorMatches(vector, v);
      const milenage = new Milenage(hex(v.k), { opc: hex(v.opc) });
      const sqnMs = hex(v.sqn);
      expect(resynchronise({ milenage }, vector.rand, buildAuts(milenage, vector.rand, sqnMs))).toEqual({ ok: true, sqnMs });
    });
  }
});
