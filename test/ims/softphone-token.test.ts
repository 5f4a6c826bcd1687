/**
 * The S-CSCF registrar with the portal's softphone tokens (issue 5): a token minted for an IMPI
 * and IMPU works as the Digest password of that pair while it is valid; an expired token, one of
 * another number, or garbage gets 403; replays still get a fresh challenge; the SIP password
 * keeps working and a wrong one still gets 403.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { Registrar } from '../../src/ims/core/registrar.js';
import { LocalHss } from '../../src/ims/hss-local.js';
import { SoftphoneTokens } from '../../src/portal/index.js';
import { computeHa1, computeResponse, formatCredentials, parseDigestChallenge, type SipRequest } from '../../src/sip/index.js';
import { MemoryRegistrationStore, MemorySubscriberStore } from '../../src/storage/memory/index.js';
import { RecordingContext, registrarOptions, request, run } from './ims-fakes.js';

const REALM = 'example.com';
const PASSWORD = 'sip-password-1';
const SECRET = Buffer.alloc(32, 9);
const ALICE = { impi: '6505550001@example.com', impu: 'sip:6505550001@example.com' };
const BOB = { impi: '6505550002@example.com', impu: 'sip:6505550002@example.com' };

type Who = typeof ALICE;
type Algorithm = 'MD5' | 'SHA-256';

let now: number;
let tokens: SoftphoneTokens;
let subscribers: MemorySubscriberStore;
let registrations: MemoryRegistrationStore;
let registrar: Registrar;
let cseq: number;

async function addSubscriber(who: Who, id: string): Promise<void> {
  await subscribers.addSubscriber({
    privateIdentity: {
      impi: who.impi,
      digest: (['MD5', 'SHA-256'] as const).map((algorithm) => ({ realm: REALM, algorithm, ha1: computeHa1(algorithm, who.impi, REALM, PASSWORD) })),
    },
    implicitSet: { id, serviceProfile: '<ServiceProfile/>' },
    publicIdentities: [{ impu: who.impu }],
  });
}

function makeRegistrar(withTokens: boolean): Registrar {
  const hss = new LocalHss(subscribers);
  const withPasswords = withTokens ? { tokenPasswords: (impi: string, impu: string, at: number) => tokens.passwordsFor(impi, impu, at) } : {};
  return new Registrar(registrarOptions({ hss, registrations, now: () => now }, withPasswords));
}

beforeEach(async () => {
  now = 1_800_000_000_000;
  cseq = 1;
  tokens = new SoftphoneTokens(SECRET);
  subscribers = new MemorySubscriberStore();
  registrations = new MemoryRegistrationStore();
  registrar = makeRegistrar(true);
  await addSubscriber(ALICE, 'set-a');
  await addSubscriber(BOB, 'set-b');
});

function register(who: Who, headers: string[] = []): SipRequest {
  return request([
    'REGISTER sip:example.com SIP/2.0',
    'Via: SIP/2.0/WSS abc.invalid;branch=z9hG4bKsp1',
    `From: <${who.impu}>;tag=f1`,
    `To: <${who.impu}>`,
    'Call-ID: softphone-reg-1',
    `CSeq: ${cseq++} REGISTER`,
    'Contact: <sip:x@abc.invalid;transport=ws>',
    ...headers,
  ]);
}

/** Authorization answering the challenge `nonce` as `who` with `password`. */
function authorization(who: Who, nonce: string, password: string, algorithm: Algorithm = 'MD5', nc = '00000001'): string {
  const ha1 = computeHa1(algorithm, who.impi, REALM, password);
  const response = computeResponse({ algorithm, ha1, nonce, method: 'REGISTER', uri: 'sip:example.com', qop: 'auth', nc, cnonce: 'c0ffee' });
  return `Authorization: ${formatCredentials({ username: who.impi, realm: REALM, nonce, uri: 'sip:example.com', response, algorithm, qop: 'auth', nc, cnonce: 'c0ffee' })}`;
}

async function nonceFor(who: Who, algorithm: Algorithm = 'MD5'): Promise<string> {
  const ctx = await run(new RecordingContext(register(who)), (c) => registrar.register(c));
  expect(ctx.response.status).toBe(401);
  const challenge = ctx.response
    .getAll('www-authenticate')
    .map((v) => parseDigestChallenge(v)!)
    .find((c) => (c.algorithm ?? 'MD5') === algorithm)!;
  return challenge.nonce!;
}

/** Challenge, then answer as `who` with `password`: the final status. */
async function registerWith(who: Who, password: string, algorithm: Algorithm = 'MD5'): Promise<number> {
  const nonce = await nonceFor(who, algorithm);
  const ctx = await run(new RecordingContext(register(who, [authorization(who, nonce, password, algorithm)])), (c) => registrar.register(c));
  return ctx.response.status;
}

describe('softphone tokens at the registrar', () => {
  it('registers with a token the portal minted for the number, with MD5 and SHA-256', async () => {
    const token = tokens.issue(ALICE.impi, ALICE.impu, now).password;
    expect(await registerWith(ALICE, token)).toBe(200);
    expect((await registrations.get(ALICE.impu))?.bindings).toHaveLength(1);
    expect(await registerWith(ALICE, token, 'SHA-256')).toBe(200);
  });

  it('keeps accepting a token through the next window, and refuses it with 403 once expired', async () => {
    const issued = tokens.issue(ALICE.impi, ALICE.impu, now);
    now = issued.renewAt + 1000;
    expect(await registerWith(ALICE, issued.password)).toBe(200);
    now = issued.expiresAt - 1;
    expect(await registerWith(ALICE, issued.password)).toBe(200);
    now = issued.expiresAt;
    expect(await registerWith(ALICE, issued.password)).toBe(403);
    expect(await registerWith(ALICE, tokens.issue(ALICE.impi, ALICE.impu, now).password)).toBe(200);
  });

  it('refuses with 403 a token of another number, one made with another secret, and garbage', async () => {
    const bobs = tokens.issue(BOB.impi, BOB.impu, now).password;
    expect(await registerWith(ALICE, bobs)).toBe(403);
    const foreign = new SoftphoneTokens(Buffer.alloc(32, 1)).issue(ALICE.impi, ALICE.impu, now).password;
    expect(await registerWith(ALICE, foreign)).toBe(403);
    expect(await registerWith(ALICE, 'not-a-token')).toBe(403);
    expect(await registerWith(ALICE, '')).toBe(403);
    expect(await registrations.get(ALICE.impu)).toBeUndefined();
  });

  it('refuses a token bound to another public identity of the same private identity', async () => {
    const other = tokens.issue(ALICE.impi, 'sip:6505559999@example.com', now).password;
    expect(await registerWith(ALICE, other)).toBe(403);
  });

  it('answers a replayed token-authenticated REGISTER with a fresh challenge, not a registration', async () => {
    const token = tokens.issue(ALICE.impi, ALICE.impu, now).password;
    const nonce = await nonceFor(ALICE);
    const auth = authorization(ALICE, nonce, token);
    const first = await run(new RecordingContext(register(ALICE, [auth])), (c) => registrar.register(c));
    expect(first.response.status).toBe(200);
    const replay = await run(new RecordingContext(register(ALICE, [auth])), (c) => registrar.register(c));
    expect(replay.response.status).toBe(401);
    const next = await run(new RecordingContext(register(ALICE, [authorization(ALICE, nonce, token, 'MD5', '00000002')])), (c) => registrar.register(c));
    expect(next.response.status).toBe(200);
  });

  it('leaves normal Digest as it was: the SIP password registers, a wrong one gets 403', async () => {
    expect(await registerWith(ALICE, PASSWORD)).toBe(200);
    expect(await registerWith(ALICE, 'wrong password')).toBe(403);
  });

  it('answers a stale nonce with a token with stale=true', async () => {
    const token = tokens.issue(ALICE.impi, ALICE.impu, now).password;
    const nonce = await nonceFor(ALICE);
    now += 301_000;
    const ctx = await run(new RecordingContext(register(ALICE, [authorization(ALICE, nonce, token)])), (c) => registrar.register(c));
    expect(ctx.response.status).toBe(401);
    expect(ctx.response.get('www-authenticate')).toContain('stale=true');
  });

  it('accepts no token when the registrar is given none', async () => {
    registrar = makeRegistrar(false);
    expect(await registerWith(ALICE, tokens.issue(ALICE.impi, ALICE.impu, now).password)).toBe(403);
    expect(await registerWith(ALICE, PASSWORD)).toBe(200);
  });
});
