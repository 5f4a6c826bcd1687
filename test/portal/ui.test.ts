/** The portal's web UI through inject(): forms, CSRF, escaping, the services form and the operator view. */
import type { LightMyRequestResponse } from 'fastify';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { computeHa1 } from '../../src/sip/auth/index.js';
import { parseSimservs, SIMSERVS_AUID, SIMSERVS_DOCUMENT } from '../../src/xdms/index.js';
import { account, CODE, cookieOf, DOMAIN, startPortal, type TestPortal } from './fixtures.js';

const ALICE = 'alice@example.com';
const IMPU0 = `sip:6505550000@${DOMAIN}`;
const FORM = { 'content-type': 'application/x-www-form-urlencoded' };

let p: TestPortal;
beforeEach(async () => {
  p = await startPortal();
});
afterEach(async () => {
  await p.app.close();
});

function csrfOf(res: LightMyRequestResponse): string {
  const m = /name="_csrf" value="([^"]+)"/.exec(res.body);
  if (!m) throw new Error(`no CSRF field in ${res.body}`);
  return m[1]!;
}

function form(values: Record<string, string>): string {
  return new URLSearchParams(values).toString();
}

/** Signs up through the form; resolves the session cookie. */
async function signUpInBrowser(email: string): Promise<string> {
  const page = await p.app.inject('/signup');
  const formCookie = cookieOf(page, 'tw_form_csrf');
  const res = await p.app.inject({
    method: 'POST',
    url: '/signup',
    headers: { ...FORM, cookie: formCookie },
    payload: form({ _csrf: csrfOf(page), full_name: 'Alice', email, password: 'correct horse', signup_code: CODE }),
  });
  expect(res.statusCode).toBe(303);
  expect(res.headers.location).toBe('/numbers');
  return cookieOf(res);
}

async function post(url: string, cookie: string, values: Record<string, string>): Promise<LightMyRequestResponse> {
  return p.app.inject({ method: 'POST', url, headers: { ...FORM, cookie }, payload: form(values) });
}

describe('sign up, log in, log out', () => {
  it('sends / to the sign-up page and serves pages with a strict Content-Security-Policy', async () => {
    const root = await p.app.inject('/');
    expect([root.statusCode, root.headers.location]).toEqual([303, '/signup']);
    const page = await p.app.inject('/signup');
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain('name="signup_code"');
    expect(page.headers['content-security-policy']).toContain("default-src 'none'");
    expect(page.headers['x-frame-options']).toBe('DENY');
    expect(page.body).not.toMatch(/<script|https?:\/\//);
  });

  it('signs up through the form and lands on the numbers page', async () => {
    const cookie = await signUpInBrowser(ALICE);
    const numbers = await p.app.inject({ url: '/numbers', headers: { cookie } });
    expect(numbers.statusCode).toBe(200);
    expect(numbers.body).toContain('You have no numbers yet.');
  });

  it('refuses a sign-up form without the CSRF token of its cookie', async () => {
    const page = await p.app.inject('/signup');
    const values = { full_name: 'A', email: ALICE, password: 'correct horse', signup_code: CODE };
    const noCookie = await p.app.inject({ method: 'POST', url: '/signup', headers: FORM, payload: form({ ...values, _csrf: csrfOf(page) }) });
    expect(noCookie.statusCode).toBe(403);
    const wrong = await post('/signup', cookieOf(page, 'tw_form_csrf'), { ...values, _csrf: 'x'.repeat(43) });
    expect(wrong.statusCode).toBe(403);
    expect(await p.accounts.countAccounts()).toBe(0);
  });

  it('shows a wrong signup code on the form, keeping what was typed but never the password', async () => {
    const page = await p.app.inject('/signup');
    const res = await post('/signup', cookieOf(page, 'tw_form_csrf'), { _csrf: csrfOf(page), full_name: '<b>Al</b>', email: ALICE, password: 'correct horse', signup_code: 'nope' });
    expect(res.statusCode).toBe(403);
    expect(res.body).toContain('wrong signup code');
    expect(res.body).toContain('&lt;b&gt;Al&lt;/b&gt;');
    expect(res.body).not.toContain('correct horse');
  });

  it('logs in and out; after logging out the numbers page sends to the log-in page', async () => {
    await account(p.app, ALICE);
    const page = await p.app.inject('/login');
    const res = await post('/login', cookieOf(page, 'tw_form_csrf'), { _csrf: csrfOf(page), email: ALICE, password: 'correct horse' });
    expect(res.statusCode).toBe(303);
    const cookie = cookieOf(res);
    const numbers = await p.app.inject({ url: '/numbers', headers: { cookie } });
    const out = await post('/logout', cookie, { _csrf: csrfOf(numbers) });
    expect([out.statusCode, out.headers.location]).toEqual([303, '/login']);
    const after = await p.app.inject({ url: '/numbers', headers: { cookie } });
    expect([after.statusCode, after.headers.location]).toEqual([303, '/login']);
  });

  it('rate-limits the log-in form with 429 and Retry-After', async () => {
    const page = await p.app.inject('/login');
    const formCookie = cookieOf(page, 'tw_form_csrf');
    let res: LightMyRequestResponse | undefined;
    for (let i = 0; i < 11; i++) res = await post('/login', formCookie, { _csrf: csrfOf(page), email: ALICE, password: 'wrong horse' });
    expect(res!.statusCode).toBe(429);
    expect(res!.headers['retry-after']).toBeDefined();
  });
});

describe('numbers pages', () => {
  let cookie: string;
  let csrf: string;
  beforeEach(async () => {
    cookie = await signUpInBrowser(ALICE);
    csrf = csrfOf(await p.app.inject({ url: '/numbers', headers: { cookie } }));
  });

  it('allocates a number and shows its SIP password once, with username, domain and outbound proxy', async () => {
    const res = await post('/numbers/new', cookie, { _csrf: csrf });
    expect(res.statusCode).toBe(201);
    expect(res.headers['cache-control']).toBe('no-store');
    const password = /id="sip-password">([A-Za-z0-9]+)</.exec(res.body)![1]!;
    expect(res.body).toContain(`id="sip-username">6505550000@${DOMAIN}<`);
    expect(res.body).toContain(`id="sip-domain">${DOMAIN}<`);
    expect(res.body).toContain('192.0.2.1:5060');
    const md5 = (await p.subscribers.getPrivateIdentity(`6505550000@${DOMAIN}`))?.digest[0]?.ha1;
    expect(md5).toBe(computeHa1('MD5', `6505550000@${DOMAIN}`, DOMAIN, password));
    const list = await p.app.inject({ url: '/numbers', headers: { cookie } });
    expect(list.body).toContain('(650) 555-0000');
    expect(list.body).not.toContain(password);
  });

  it('refuses a form post without the session CSRF token', async () => {
    expect((await post('/numbers/new', cookie, { _csrf: 'forged' })).statusCode).toBe(403);
    expect((await post('/numbers/new', cookie, {})).statusCode).toBe(403);
    expect(await p.accounts.numbersOf(ALICE)).toEqual([]);
  });

  it('shows registered contacts with their user agent, escaped', async () => {
    await post('/numbers/new', cookie, { _csrf: csrf });
    const binding = { contact: 'sip:a@192.0.2.7:5060', path: [], expiresAt: p.clock.now + 120_000, callId: 'c', cseq: 1, registeredAt: p.clock.now, userAgent: '<script>alert(1)</script>' };
    await p.registrations.put(IMPU0, { bindings: [binding] }, 0);
    const list = await p.app.inject({ url: '/numbers', headers: { cookie } });
    expect(list.body).toContain('registered</span>');
    expect(list.body).toContain('sip:a@192.0.2.7:5060');
    expect(list.body).toContain('expires in 120 s');
    expect(list.body).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(list.body).not.toContain('<script>');
  });

  it('asks before resetting a SIP password or deleting a number', async () => {
    await post('/numbers/new', cookie, { _csrf: csrf });
    const before = await p.subscribers.getPrivateIdentity(`6505550000@${DOMAIN}`);
    const ask = await post('/numbers/6505550000/password', cookie, { _csrf: csrf });
    expect(ask.statusCode).toBe(200);
    expect(ask.body).toContain('name="confirm" value="yes"');
    expect(ask.body).not.toContain('sip-password');
    expect((await post('/numbers/6505550000/delete', cookie, { _csrf: csrf })).body).toContain('id="confirm"');
    expect(await p.subscribers.getPrivateIdentity(`6505550000@${DOMAIN}`)).toEqual(before);
  });

  it('resets the SIP password and deletes a number once confirmed', async () => {
    await post('/numbers/new', cookie, { _csrf: csrf });
    const reset = await post('/numbers/6505550000/password', cookie, { _csrf: csrf, confirm: 'yes' });
    const password = /id="sip-password">([A-Za-z0-9]+)</.exec(reset.body)![1]!;
    const md5 = (await p.subscribers.getPrivateIdentity(`6505550000@${DOMAIN}`))?.digest[0]?.ha1;
    expect(md5).toBe(computeHa1('MD5', `6505550000@${DOMAIN}`, DOMAIN, password));
    const deleted = await post('/numbers/6505550000/delete', cookie, { _csrf: csrf, confirm: 'yes' });
    expect(deleted.statusCode).toBe(303);
    expect(await p.subscribers.getPublicIdentity(IMPU0)).toBeUndefined();
    expect((await post('/numbers/6505550000/delete', cookie, { _csrf: csrf, confirm: 'yes' })).statusCode).toBe(404);
  });
});

describe('services page', () => {
  let cookie: string;
  let csrf: string;
  const stored = async () => parseSimservs((await p.documents.get({ auid: SIMSERVS_AUID, xui: IMPU0, name: SIMSERVS_DOCUMENT }))!.content);
  beforeEach(async () => {
    cookie = await signUpInBrowser(ALICE);
    csrf = csrfOf(await p.app.inject({ url: '/numbers', headers: { cookie } }));
    await post('/numbers/new', cookie, { _csrf: csrf });
  });

  it('writes forwarding rules, barring and caller ID restriction into the simservs document', async () => {
    const res = await post('/numbers/6505550000/services', cookie, {
      _csrf: csrf,
      cfu: '6505550001',
      cfb: 'sip:voicemail@example.com',
      cfnr: 'tel:+16505550002',
      no_reply_timer: '20',
      cfnrg: '',
      cfnrc: '6505550003',
      icb_international: 'on',
      ocb_all: 'on',
      oir: 'restricted',
    });
    expect(res.statusCode).toBe(200);
    expect(res.body).toContain('Saved.');
    const s = await stored();
    expect(s.cdiv?.noReplyTimer).toBe(20);
    expect(s.cdiv?.rules.map((r) => [r.conditions, r.target])).toEqual([
      [[], `sip:6505550001@${DOMAIN}`],
      [['busy'], 'sip:voicemail@example.com'],
      [['no-answer'], 'tel:+16505550002'],
      [['not-reachable'], `sip:6505550003@${DOMAIN}`],
    ]);
    expect(s.icb?.rules.map((r) => [r.conditions, r.allow])).toEqual([[['international'], false]]);
    expect(s.ocb?.rules.map((r) => [r.conditions, r.allow])).toEqual([[[], false]]);
    expect(s.oir).toEqual({ active: true, defaultBehaviour: 'presentation-restricted' });
    const again = await p.app.inject({ url: '/numbers/6505550000/services', headers: { cookie } });
    expect(again.body).toContain(`value="sip:6505550001@${DOMAIN}"`);
    expect(again.body).toMatch(/id="ocb_all" checked/);
    expect(again.body).toMatch(/id="oir-restricted" checked/);
  });

  it('refuses to save a form over a change made elsewhere since the page was loaded (409)', async () => {
    const page = await p.app.inject({ url: '/numbers/6505550000/services', headers: { cookie } });
    const etag = /name="etag" value="([^"]*)"/.exec(page.body)![1]!;
    const key = { auid: SIMSERVS_AUID, xui: IMPU0, name: SIMSERVS_DOCUMENT };
    const elsewhere = (await p.documents.get(key))!.content.replace('<originating-identity-presentation active="true"/>', '<originating-identity-presentation active="false"/>');
    await p.documents.put(key, elsewhere);
    const res = await post('/numbers/6505550000/services', cookie, { _csrf: csrf, etag, cfu: '6505550001', no_reply_timer: '30', oir: 'shown' });
    expect(res.statusCode).toBe(409);
    expect(res.body).toContain('changed elsewhere');
    expect((await p.documents.get(key))!.content).toBe(elsewhere);
    const fresh = /name="etag" value="([^"]*)"/.exec(res.body)![1]!;
    const again = await post('/numbers/6505550000/services', cookie, { _csrf: csrf, etag: fresh, cfu: '6505550001', no_reply_timer: '30', oir: 'shown' });
    expect(again.statusCode).toBe(200);
    expect((await stored()).oip).toEqual({ active: false });
    expect((await stored()).cdiv?.rules[0]?.target).toBe(`sip:6505550001@${DOMAIN}`);
  });

  it('answers 400 naming a bad target or timer, and keeps the document', async () => {
    const before = await stored();
    const bad = await post('/numbers/6505550000/services', cookie, { _csrf: csrf, cfu: 'not a number', no_reply_timer: '30', oir: 'shown' });
    expect(bad.statusCode).toBe(400);
    expect(bad.body).toContain('cfu: &quot;not a number&quot; is not a number');
    const timer = await post('/numbers/6505550000/services', cookie, { _csrf: csrf, no_reply_timer: '500', oir: 'shown' });
    expect(timer.statusCode).toBe(400);
    expect(timer.body).toContain('no_reply_timer');
    expect(await stored()).toEqual(before);
  });
});

describe('operator view', () => {
  it('lists every subscriber to the admin (the first account), searchable by number, and to no one else', async () => {
    const admin = await signUpInBrowser('admin@example.com');
    const bob = await account(p.app, 'bob@example.com');
    await p.app.inject({ method: 'POST', url: '/accounts/bob%40example.com/numbers/', headers: { cookie: bob } });
    await p.app.inject({ method: 'POST', url: '/accounts/bob%40example.com/numbers/', headers: { cookie: bob } });
    const all = await p.app.inject({ url: '/operator', headers: { cookie: admin } });
    expect(all.statusCode).toBe(200);
    expect(all.body).toContain(IMPU0);
    expect(all.body).toContain('bob@example.com');
    const found = await p.app.inject({ url: '/operator?q=0001', headers: { cookie: admin } });
    expect(found.body).toContain('sip:6505550001@');
    expect(found.body).not.toContain(IMPU0);
    expect((await p.app.inject({ url: '/operator', headers: { cookie: bob } })).statusCode).toBe(403);
  });
});
