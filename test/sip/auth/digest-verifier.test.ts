import { createHash, randomBytes } from 'node:crypto';
import { describe, it, expect } from 'vitest';
import { DigestVerifier, verifyDigest, type DigestVerifierDeps } from '../../../src/sip/auth/digest-verifier.js';
import {
  formatCredentials,
  parseDigestChallenge,
  parseDigestCredentials,
  type DigestCredentials,
} from '../../../src/sip/auth/digest-header.js';
import { NonceManager } from '../../../src/sip/auth/nonce.js';
import { MemoryNonceCountStore, type NonceCountStore } from '../../../src/sip/auth/nonce-count.js';
import { FakeClock } from '../../harness/fake-clock.js';

const REALM = 'tidewater.example';
const USER = 'alice@tidewater.example';
const PASSWORD = 'correct horse';
/** SIPp puts the proxy address in uri, not the Request-URI. */
const URI = 'sip:127.0.0.1:5060';

type Hash = 'MD5' | 'SHA-256';
const NODE: Record<Hash, string> = { MD5: 'md5', 'SHA-256': 'sha256' };
const h = (hash: Hash, s: string): string => createHash(NODE[hash]).update(s).digest('hex');

interface ClientOptions {
  hash: Hash;
  password?: string;
  nc?: string;
  qop?: 'auth' | 'auth-int' | null;
  body?: string;
  algorithm?: string;
  sess?: boolean;
  uri?: string;
}

/** What a SIP client does with a challenge: computes the response directly with createHash. */
function respond(challenge: string, o: ClientOptions): string {
  const ch = parseDigestChallenge(challenge)!;
  const nonce = ch.nonce!;
  const cnonce = randomBytes(8).toString('hex');
  const nc = o.nc ?? '00000001';
  const uri = o.uri ?? URI;
  let ha1 = h(o.hash, `${USER}:${ch.realm}:${o.password ?? PASSWORD}`);
  if (o.sess) ha1 = h(o.hash, `${ha1}:${nonce}:${cnonce}`);
  const qop = o.qop === undefined ? 'auth' : o.qop;
  const ha2 =
    qop === 'auth-int'
      ? h(o.hash, `REGISTER:${uri}:${h(o.hash, o.body ?? '')}`)
      : h(o.hash, `REGISTER:${uri}`);
  const response =
    qop === null
      ? h(o.hash, `${ha1}:${nonce}:${ha2}`)
      : h(o.hash, `${ha1}:${nonce}:${nc}:${cnonce}:${qop}:${ha2}`);
  const algorithm = (o.algorithm ?? (o.sess ? `${o.hash}-sess` : o.hash)) as 'MD5';
  return formatCredentials({
    username: USER,
    realm: ch.realm!,
    nonce,
    uri,
    response,
    algorithm,
    opaque: ch.opaque,
    ...(qop === null ? {} : { qop, nc, cnonce }),
  });
}

function setup(store?: NonceCountStore): { clock: FakeClock; deps: DigestVerifierDeps; verifier: DigestVerifier } {
  const clock = new FakeClock();
  const deps = {
    nonces: new NonceManager({ key: Buffer.alloc(32, 1), clock }),
    nonceCounts: store ?? new MemoryNonceCountStore({ clock }),
  };
  return { clock, deps, verifier: new DigestVerifier(deps) };
}

const stored = (hash: Hash): string => h(hash, `${USER}:${REALM}:${PASSWORD}`);
const creds = (value: string): DigestCredentials => parseDigestCredentials(value)!;

describe.each(['MD5', 'SHA-256'] as const)('DigestVerifier with %s', (hash) => {
  const request = (value: string, extra: { body?: string } = {}) => ({
    credentials: creds(value),
    method: 'REGISTER',
    ha1: stored(hash),
    algorithm: hash,
    realm: REALM,
    ...extra,
  });

  it('accepts a REGISTER answered like a client would (challenge, credentials, verify)', async () => {
    const { verifier } = setup();
    const challenge = verifier.challenge({ realm: REALM, algorithm: hash, opaque: 'op' });
    expect(challenge).toContain(`algorithm=${hash}, qop="auth"`);
    expect(await verifier.verify(request(respond(challenge, { hash })))).toEqual({ ok: true });
  });

  it('refuses a wrong password with bad-response', async () => {
    const { verifier } = setup();
    const value = respond(verifier.challenge({ realm: REALM, algorithm: hash }), { hash, password: 'wrong' });
    expect(await verifier.verify(request(value))).toMatchObject({ ok: false, reason: 'bad-response' });
  });

  it('refuses a replayed nonce-count and accepts the next one', async () => {
    const { verifier } = setup();
    const challenge = verifier.challenge({ realm: REALM, algorithm: hash });
    const first = respond(challenge, { hash, nc: '00000001' });
    expect((await verifier.verify(request(first))).ok).toBe(true);
    expect(await verifier.verify(request(first))).toMatchObject({ ok: false, reason: 'replay' });
    expect((await verifier.verify(request(respond(challenge, { hash, nc: '00000002' })))).ok).toBe(true);
    expect(await verifier.verify(request(respond(challenge, { hash, nc: '00000002' })))).toMatchObject({ reason: 'replay' });
  });

  it('does not let a bad response burn a nonce-count', async () => {
    const { verifier } = setup();
    const challenge = verifier.challenge({ realm: REALM, algorithm: hash });
    const bad = respond(challenge, { hash, password: 'guess' });
    expect((await verifier.verify(request(bad))).ok).toBe(false);
    expect((await verifier.verify(request(respond(challenge, { hash })))).ok).toBe(true);
  });

  it('answers stale for a correct response on an expired nonce, bad-response for a wrong one', async () => {
    const { clock, verifier } = setup();
    const challenge = verifier.challenge({ realm: REALM, algorithm: hash });
    clock.advance(300_000);
    expect(await verifier.verify(request(respond(challenge, { hash })))).toMatchObject({ reason: 'stale' });
    const wrong = respond(challenge, { hash, password: 'nope' });
    expect(await verifier.verify(request(wrong))).toMatchObject({ reason: 'bad-response' });
    const retry = verifier.challenge({ realm: REALM, algorithm: hash, stale: true });
    expect(parseDigestChallenge(retry)?.stale).toBe(true);
    expect((await verifier.verify(request(respond(retry, { hash })))).ok).toBe(true);
  });

  it('refuses a nonce it did not issue with bad-nonce', async () => {
    const { verifier } = setup();
    const forged = `Digest realm="${REALM}", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", algorithm=${hash}, qop="auth"`;
    expect(await verifier.verify(request(respond(forged, { hash })))).toMatchObject({ reason: 'bad-nonce' });
    const foreign = new DigestVerifier({
      ...setup().deps,
      nonces: new NonceManager({ key: Buffer.alloc(32, 2), clock: new FakeClock() }),
    });
    const value = respond(foreign.challenge({ realm: REALM, algorithm: hash }), { hash });
    expect(await verifier.verify(request(value))).toMatchObject({ reason: 'bad-nonce' });
  });

  it('checks qop=auth-int against the body', async () => {
    const { verifier } = setup();
    const challenge = verifier.challenge({ realm: REALM, algorithm: hash, qop: ['auth', 'auth-int'] });
    const body = 'v=0\r\no=- 0 0 IN IP4 192.0.2.1\r\n';
    const value = respond(challenge, { hash, qop: 'auth-int', body });
    expect((await verifier.verify(request(value, { body }))).ok).toBe(true);
    const tampered = respond(challenge, { hash, qop: 'auth-int', body, nc: '00000002' });
    expect(await verifier.verify(request(tampered, { body: `${body}a=x\r\n` }))).toMatchObject({ reason: 'bad-response' });
  });

  it(`accepts ${hash}-sess against the same stored HA1`, async () => {
    const { verifier } = setup();
    const value = respond(verifier.challenge({ realm: REALM, algorithm: `${hash}-sess` }), { hash, sess: true });
    expect((await verifier.verify(request(value))).ok).toBe(true);
  });

  it('accepts the response hex in upper case', async () => {
    const { verifier } = setup();
    const value = respond(verifier.challenge({ realm: REALM, algorithm: hash }), { hash });
    const upper = value.replace(/response="([0-9a-f]+)"/, (_, r: string) => `response="${r.toUpperCase()}"`);
    expect(upper).not.toBe(value);
    expect((await verifier.verify(request(upper))).ok).toBe(true);
  });
});

describe('verifyDigest refusals', () => {
  const base = (value: string) => ({
    credentials: creds(value),
    method: 'REGISTER',
    ha1: stored('MD5'),
    algorithm: 'MD5' as const,
    realm: REALM,
  });

  it('refuses another realm with realm-mismatch', async () => {
    const { deps, verifier } = setup();
    const challenge = verifier.challenge({ realm: 'elsewhere.example' });
    const result = await verifyDigest(base(respond(challenge, { hash: 'MD5' })), deps);
    expect(result).toMatchObject({ reason: 'realm-mismatch' });
  });

  it('refuses an algorithm the stored HA1 cannot serve with algorithm-mismatch', async () => {
    const { deps, verifier } = setup();
    const sha = respond(verifier.challenge({ realm: REALM, algorithm: 'SHA-256' }), { hash: 'SHA-256' });
    expect(await verifyDigest(base(sha), deps)).toMatchObject({ reason: 'algorithm-mismatch' });
    const unknown = respond(verifier.challenge({ realm: REALM }), { hash: 'MD5', algorithm: 'SHA-1' });
    expect(await verifyDigest(base(unknown), deps)).toMatchObject({ reason: 'algorithm-mismatch' });
  });

  it('treats an absent algorithm as MD5', async () => {
    const { deps, verifier } = setup();
    const value = respond(verifier.challenge({ realm: REALM }), { hash: 'MD5' }).replace(', algorithm=MD5', '');
    expect(value).not.toContain('algorithm');
    expect((await verifyDigest(base(value), deps)).ok).toBe(true);
  });

  it.each(['username', 'realm', 'nonce', 'uri', 'response', 'cnonce', 'nc', 'qop'])(
    'refuses credentials without %s with missing-param',
    async (name) => {
      const { deps, verifier } = setup();
      const value = respond(verifier.challenge({ realm: REALM }), { hash: 'MD5' });
      const without = value.replace(new RegExp(`, ${name}=("[^"]*"|[^,]*)|${name}=("[^"]*"|[^,]*), `), '');
      expect(without).not.toMatch(new RegExp(`\\b${name}=`));
      expect(await verifyDigest(base(without), deps)).toMatchObject({ ok: false, reason: 'missing-param' });
    },
  );

  it('refuses a malformed nc or an unknown qop with missing-param', async () => {
    const { deps, verifier } = setup();
    const value = respond(verifier.challenge({ realm: REALM }), { hash: 'MD5' });
    expect(await verifyDigest(base(value.replace('nc=00000001', 'nc=1')), deps)).toMatchObject({ reason: 'missing-param' });
    expect(await verifyDigest(base(value.replace('qop=auth', 'qop=auth-conf')), deps)).toMatchObject({ reason: 'missing-param' });
  });

  it('accepts RFC 2069 credentials without qop only when allowed', async () => {
    const { deps, verifier } = setup();
    const value = respond(verifier.challenge({ realm: REALM }), { hash: 'MD5', qop: null });
    expect(await verifyDigest(base(value), deps)).toMatchObject({ reason: 'missing-param' });
    expect((await verifyDigest(base(value), { ...deps, allowMissingQop: true })).ok).toBe(true);
  });

  it('works with an asynchronous nonce-count store', async () => {
    const clock = new FakeClock();
    const memory = new MemoryNonceCountStore({ clock });
    const calls: number[] = [];
    const store: NonceCountStore = {
      checkAndAdvance: async (nonce, nc, ttlMs) => {
        calls.push(ttlMs ?? -1);
        return memory.checkAndAdvance(nonce, nc, ttlMs);
      },
    };
    const { verifier } = setup(store);
    const value = respond(verifier.challenge({ realm: REALM }), { hash: 'MD5' });
    expect((await verifier.verify(base(value))).ok).toBe(true);
    expect(await verifier.verify(base(value))).toMatchObject({ reason: 'replay' });
    expect(calls).toEqual([300_000, 300_000]);
  });
});
