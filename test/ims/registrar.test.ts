import { beforeEach, describe, expect, it } from 'vitest';
import { Registrar } from '../../src/ims/core/registrar.js';
import { LocalHss } from '../../src/ims/hss-local.js';
import {
  computeHa1,
  computeResponse,
  formatCredentials,
  parseDigestChallenge,
  type SipRequest,
} from '../../src/sip/index.js';
import { MemoryRegistrationStore, MemorySubscriberStore } from '../../src/storage/memory/index.js';
import { RecordingContext, registrarOptions, request, run } from './ims-fakes.js';

const REALM = 'example.com';
const IMPI = '6505550001@example.com';
const IMPU = 'sip:6505550001@example.com';
const PASSWORD = 'secret1';

let now: number;
let subscribers: MemorySubscriberStore;
let registrations: MemoryRegistrationStore;
let registrar: Registrar;
let changes: string[];
let cseq: number;

async function addSubscriber(extra: string[] = []): Promise<void> {
  await subscribers.addSubscriber({
    privateIdentity: {
      impi: IMPI,
      digest: [
        { realm: REALM, algorithm: 'MD5', ha1: computeHa1('MD5', IMPI, REALM, PASSWORD) },
        { realm: REALM, algorithm: 'SHA-256', ha1: computeHa1('SHA-256', IMPI, REALM, PASSWORD) },
      ],
    },
    implicitSet: { id: 'set1', serviceProfile: '<ServiceProfile/>' },
    publicIdentities: [{ impu: IMPU }, ...extra.map((impu) => ({ impu }))],
  });
}

beforeEach(async () => {
  now = 1_800_000_000_000;
  cseq = 1;
  changes = [];
  subscribers = new MemorySubscriberStore();
  registrations = new MemoryRegistrationStore();
  registrar = new Registrar(
    registrarOptions({ hss: new LocalHss(subscribers), registrations, now: () => now }, { onChange: (e) => changes.push(`${e.cause}:${e.bindings.length}`) }),
  );
  await addSubscriber(['sip:alias@example.com']);
});

function register(headers: string[] = [], contact: string | null = '<sip:a@192.0.2.1:5060>'): SipRequest {
  return request([
    'REGISTER sip:example.com SIP/2.0',
    'Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKr1',
    'From: <sip:6505550001@example.com>;tag=f1',
    'To: <sip:6505550001@example.com>',
    'Call-ID: reg-call-1',
    `CSeq: ${cseq++} REGISTER`,
    'Max-Forwards: 70',
    'Path: <sip:tok@pcscf.example.com;lr>',
    ...(contact === null ? [] : [`Contact: ${contact}`]),
    ...headers,
  ]);
}

interface Answer {
  nonce: string;
  algorithm: string;
}

function challenges(ctx: RecordingContext): Answer[] {
  return ctx.response.getAll('www-authenticate').map((v) => {
    const c = parseDigestChallenge(v)!;
    return { nonce: c.nonce!, algorithm: c.algorithm ?? 'MD5' };
  });
}

function authorization(ch: Answer, opts: { password?: string; nc?: string; algorithm?: 'MD5' | 'SHA-256' } = {}): string {
  const algorithm = opts.algorithm ?? (ch.algorithm as 'MD5' | 'SHA-256');
  const ha1 = computeHa1(algorithm, IMPI, REALM, opts.password ?? PASSWORD);
  const nc = opts.nc ?? '00000001';
  const base = { algorithm, ha1, nonce: ch.nonce, method: 'REGISTER', uri: 'sip:example.com', qop: 'auth' as const, nc, cnonce: 'c0ffee' };
  return formatCredentials({ username: IMPI, realm: REALM, nonce: ch.nonce, uri: 'sip:example.com', response: computeResponse(base), algorithm, qop: 'auth', nc, cnonce: 'c0ffee' });
}

async function challenge(): Promise<Answer[]> {
  return challenges(await run(new RecordingContext(register()), (c) => registrar.register(c)));
}

async function authed(headers: string[] = [], contact: string | null = '<sip:a@192.0.2.1:5060>', opts = {}): Promise<RecordingContext> {
  const [md5] = await challenge();
  return run(new RecordingContext(register([`Authorization: ${authorization(md5!, opts)}`, ...headers], contact)), (c) => registrar.register(c));
}

describe('the S-CSCF registrar', () => {
  it('challenges a first REGISTER with MD5 first, then SHA-256, both with qop=auth', async () => {
    const ctx = await run(new RecordingContext(register()), (c) => registrar.register(c));
    expect(ctx.response.status).toBe(401);
    expect(challenges(ctx).map((c) => c.algorithm)).toEqual(['MD5', 'SHA-256']);
    expect(ctx.response.get('www-authenticate')).toContain('qop="auth"');
  });

  it('registers with the right password and answers Contact, Path, Service-Route and the implicit set', async () => {
    const ctx = await authed();
    const res = ctx.response;
    expect(res.status).toBe(200);
    expect(res.getAll('contact')).toEqual(['<sip:a@192.0.2.1:5060>;expires=600']);
    expect(res.get('path')).toBe('<sip:tok@pcscf.example.com;lr>');
    expect(res.get('service-route')).toBe('<sip:orig@scscf.example.com;lr>');
    expect(res.getAll('p-associated-uri')).toEqual(['<sip:6505550001@example.com>', '<sip:alias@example.com>']);
    expect((await subscribers.getRegistrationState(IMPU))?.state).toBe('REGISTERED');
    expect((await subscribers.getRegistrationState('sip:alias@example.com'))?.scscf).toBe('sip:scscf.example.com');
    expect(changes).toEqual(['registered:1']);
  });

  it('accepts SHA-256 credentials as well', async () => {
    const [, sha] = await challenge();
    const ctx = await run(new RecordingContext(register([`Authorization: ${authorization(sha!)}`])), (c) => registrar.register(c));
    expect(ctx.response.status).toBe(200);
  });

  it('refuses a wrong password with 403 and stores nothing', async () => {
    const ctx = await authed([], '<sip:a@192.0.2.1:5060>', { password: 'wrong' });
    expect(ctx.response.status).toBe(403);
    expect(await registrations.get(IMPU)).toBeUndefined();
  });

  it('refuses a replayed nonce-count with a fresh challenge', async () => {
    const [md5] = await challenge();
    const auth = `Authorization: ${authorization(md5!)}`;
    const first = await run(new RecordingContext(register([auth])), (c) => registrar.register(c));
    expect(first.response.status).toBe(200);
    const replay = await run(new RecordingContext(register([auth])), (c) => registrar.register(c));
    expect(replay.response.status).toBe(401);
    expect(challenges(replay)[0]!.nonce).not.toBe(md5!.nonce);
    const next = await run(new RecordingContext(register([`Authorization: ${authorization(md5!, { nc: '00000002' })}`])), (c) => registrar.register(c));
    expect(next.response.status).toBe(200);
  });

  it('answers a stale nonce with stale=true so the client retries without asking its user', async () => {
    const [md5] = await challenge();
    now += 301_000;
    const ctx = await run(new RecordingContext(register([`Authorization: ${authorization(md5!)}`])), (c) => registrar.register(c));
    expect(ctx.response.status).toBe(401);
    expect(ctx.response.get('www-authenticate')).toContain('stale=true');
  });

  it('answers 403 to an identity the HSS does not know', async () => {
    const req = request([
      'REGISTER sip:example.com SIP/2.0',
      'Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKr9',
      'From: <sip:nobody@example.com>;tag=f1',
      'To: <sip:nobody@example.com>',
      'Call-ID: x',
      'CSeq: 1 REGISTER',
      'Contact: <sip:n@192.0.2.9>',
    ]);
    const ctx = await run(new RecordingContext(req), (c) => registrar.register(c));
    expect(ctx.response.status).toBe(403);
  });

  it('answers 423 with Min-Expires to an interval below the minimum', async () => {
    const ctx = await authed(['Expires: 10']);
    expect(ctx.response.status).toBe(423);
    expect(ctx.response.get('min-expires')).toBe('60');
  });

  it('caps an interval above the maximum', async () => {
    const ctx = await authed([], '<sip:a@192.0.2.1:5060>;expires=99999');
    expect(ctx.response.getAll('contact')).toEqual(['<sip:a@192.0.2.1:5060>;expires=3600']);
  });

  it('keeps several contacts, refreshes one, and removes one with expires=0', async () => {
    await authed([], '<sip:a@192.0.2.1:5060>');
    await authed([], '<sip:b@192.0.2.2:5060>;expires=120');
    let res = (await authed([], '<sip:a@192.0.2.1:5060>;expires=0')).response;
    expect(res.getAll('contact')).toEqual(['<sip:b@192.0.2.2:5060>;expires=120']);
    res = (await authed([], '<sip:b@192.0.2.2:5060>;expires=0')).response;
    expect(res.has('contact')).toBe(false);
    expect(res.has('service-route')).toBe(false);
    expect(await registrations.get(IMPU)).toBeUndefined();
    expect((await subscribers.getRegistrationState(IMPU))?.state).toBe('NOT_REGISTERED');
  });

  it('removes every binding with Contact: * and Expires: 0, and refuses * with a non-zero Expires', async () => {
    await authed([], '<sip:a@192.0.2.1:5060>');
    await authed([], '<sip:b@192.0.2.2:5060>');
    expect((await authed(['Expires: 5'], '*')).response.status).toBe(400);
    expect((await authed(['Expires: 0'], '*')).response.status).toBe(200);
    expect(await registrations.get(IMPU)).toBeUndefined();
  });

  it('lists the bindings for a REGISTER without Contact, changing nothing', async () => {
    await authed([], '<sip:a@192.0.2.1:5060>');
    now += 100_000;
    const res = (await authed([], null)).response;
    expect(res.getAll('contact')).toEqual(['<sip:a@192.0.2.1:5060>;expires=500']);
  });

  it('replaces the binding of the same instance and reg-id even when the Contact URI changed (RFC 5626)', async () => {
    const inst = ';+sip.instance="<urn:uuid:00000000-0000-0000-0000-000000000001>";reg-id=1';
    await authed([], `<sip:a@192.0.2.1:5060>${inst}`);
    const res = (await authed([], `<sip:a@198.51.100.7:6000>${inst}`)).response;
    expect(res.getAll('contact')).toHaveLength(1);
    expect(res.get('contact')).toContain('198.51.100.7:6000');
  });

  it('refuses a REGISTER whose CSeq is not higher than the binding it would change (same Call-ID)', async () => {
    await authed([], '<sip:a@192.0.2.1:5060>');
    cseq = 1;
    const ctx = await authed([], '<sip:a@192.0.2.1:5060>');
    expect(ctx.response.status).toBe(500);
  });

  it('answers 400 naming the problem for a malformed expires parameter', async () => {
    const ctx = await authed([], '<sip:a@192.0.2.1:5060>;expires=soon');
    expect(ctx.response.status).toBe(400);
    expect(ctx.response.reason).toContain('expires');
  });
});
