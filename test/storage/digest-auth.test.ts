/**
 * The SIP stack's Digest verifier on the SQLite stores, as the all-in-one's S-CSCF will use
 * them: HA1 from the subscriber store (the password never stored), nonce-counts in SQLite so a
 * replay is refused even after a restart (RFC 7616 §3.4, §5.5; RFC 3261 §22.4).
 */
import { createHash, randomBytes } from 'node:crypto';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { computeHa1 } from '../../src/sip/auth/digest.js';
import { formatCredentials, parseDigestChallenge, parseDigestCredentials } from '../../src/sip/auth/digest-header.js';
import { DigestVerifier } from '../../src/sip/auth/digest-verifier.js';
import { NonceManager } from '../../src/sip/auth/nonce.js';
import type { NonceCountStore as SipNonceCountStore } from '../../src/sip/auth/nonce-count.js';
import { openSqliteStores, type SqliteStores } from '../../src/storage/sqlite/index.js';
import { T0, tempDir } from './fixtures.js';

const REALM = 'example.com';
const IMPI = '6505550001@example.com';
const IMPU = 'sip:6505550001@example.com';
const PASSWORD = 'secret1';
const URI = 'sip:example.com';

/** A client's answer to `challenge`, computed with createHash as a softphone would. */
function answer(challenge: string, nc: string, password = PASSWORD): string {
  const ch = parseDigestChallenge(challenge)!;
  const h = (s: string) => createHash('sha256').update(s).digest('hex');
  const cnonce = randomBytes(8).toString('hex');
  const ha1 = h(`${IMPI}:${REALM}:${password}`);
  const response = h(`${ha1}:${ch.nonce}:${nc}:${cnonce}:auth:${h(`REGISTER:${URI}`)}`);
  return formatCredentials({ username: IMPI, realm: REALM, nonce: ch.nonce!, uri: URI, response, algorithm: 'SHA-256', qop: 'auth', nc, cnonce });
}

describe('Digest authentication on the SQLite stores', () => {
  let dir: ReturnType<typeof tempDir>;
  let stores: SqliteStores;
  const clock = { now: () => T0 };
  const nonces = new NonceManager({ key: Buffer.alloc(32, 9), clock });

  const open = (): SqliteStores => openSqliteStores({ path: path.join(dir.path, 'tidewater.db'), clock });
  const verifier = (): DigestVerifier => {
    const nonceCounts: SipNonceCountStore = stores.nonceCounts;
    return new DigestVerifier({ nonces, nonceCounts });
  };
  async function verify(credentials: string) {
    const lookup = await stores.subscribers.authVector(IMPI, IMPU);
    if (!lookup.ok) throw new Error(lookup.reason);
    const ha1 = lookup.digest.find((d) => d.realm === REALM && d.algorithm === 'SHA-256')!.ha1;
    return verifier().verify({ credentials: parseDigestCredentials(credentials)!, method: 'REGISTER', ha1, algorithm: 'SHA-256', realm: REALM });
  }

  beforeEach(async () => {
    dir = tempDir();
    stores = open();
    await stores.subscribers.addSubscriber({
      privateIdentity: { impi: IMPI, digest: [{ realm: REALM, algorithm: 'SHA-256', ha1: computeHa1('SHA-256', IMPI, REALM, PASSWORD) }] },
      implicitSet: { id: 'irs-1', serviceProfile: '<ServiceProfile/>' },
      publicIdentities: [{ impu: IMPU }],
    });
  });
  afterEach(() => {
    stores.close();
    dir.cleanup();
  });

  it('accepts the right password, refuses a wrong one and a replayed nonce-count', async () => {
    const challenge = verifier().challenge({ realm: REALM, algorithm: 'SHA-256' });
    const first = answer(challenge, '00000001');
    expect(await verify(first)).toEqual({ ok: true });
    expect(await verify(first)).toMatchObject({ ok: false, reason: 'replay' });
    expect(await verify(answer(challenge, '00000002', 'wrong'))).toMatchObject({ ok: false, reason: 'bad-response' });
    expect(await verify(answer(challenge, '00000002'))).toEqual({ ok: true });
  });

  it('still refuses the replay after the process restarts', async () => {
    const challenge = verifier().challenge({ realm: REALM, algorithm: 'SHA-256' });
    const first = answer(challenge, '00000001');
    expect(await verify(first)).toEqual({ ok: true });
    stores.close();
    stores = open();
    expect(await verify(first)).toMatchObject({ ok: false, reason: 'replay' });
    expect(await verify(answer(challenge, '00000002'))).toEqual({ ok: true });
  });
});
