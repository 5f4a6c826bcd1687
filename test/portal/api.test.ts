/** The portal's REST API (INTERFACES.md, "Portal REST API") through inject(), and a few over real HTTP. */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { computeHa1 } from '../../src/sip/auth/index.js';
import { defaultSimservs, SIMSERVS_AUID, SIMSERVS_DOCUMENT } from '../../src/xdms/index.js';
import { account, API_KEY, DOMAIN, numbersUrl, signup, startPortal, type TestPortal } from './fixtures.js';

const ALICE = 'alice@example.com';
const BOB = 'bob@example.com';
const IMPU0 = `sip:6505550000@${DOMAIN}`;
const simservsKey = (xui: string) => ({ auid: SIMSERVS_AUID, xui, name: SIMSERVS_DOCUMENT });
const OPERATOR = { 'ngv-api-key': API_KEY };

let p: TestPortal;
beforeEach(async () => {
  p = await startPortal();
});
afterEach(async () => {
  await p.app.close();
});

async function allocate(cookie: string, email = ALICE, payload?: Record<string, unknown>) {
  return p.app.inject({ method: 'POST', url: numbersUrl(email), headers: { cookie }, ...(payload && { payload }) });
}

describe('accounts and sessions', () => {
  it('answers /ping with OK', async () => {
    const res = await p.app.inject('/ping');
    expect([res.statusCode, res.body]).toEqual([200, 'OK']);
  });

  it('signs up with the code in the body or the NGV-Signup-Code header, once per email', async () => {
    expect((await signup(p.app, ALICE)).statusCode).toBe(201);
    const viaHeader = await p.app.inject({
      method: 'POST',
      url: '/accounts/',
      headers: { 'ngv-signup-code': 'secret' },
      payload: { email: BOB, password: 'correct horse', full_name: 'Bob' },
    });
    expect(viaHeader.statusCode).toBe(201);
    const again = await signup(p.app, 'ALICE@example.com');
    expect(again.statusCode).toBe(409);
    expect(again.json()).toMatchObject({ code: 'TW_ERR_PORTAL_EXISTS', field: 'email' });
    expect((await p.accounts.getAccount(ALICE))?.passwordHash).toMatch(/^scrypt\$16384\$8\$1\$/);
    expect((await p.accounts.getAccount(ALICE))?.isAdmin).toBe(true);
    expect((await p.accounts.getAccount(BOB))?.isAdmin).toBe(false);
  });

  it('refuses a wrong or missing signup code with 403', async () => {
    expect((await signup(p.app, ALICE, { signup_code: 'Secret' })).statusCode).toBe(403);
    expect((await signup(p.app, ALICE, { signup_code: undefined })).statusCode).toBe(403);
    expect(await p.accounts.countAccounts()).toBe(0);
  });

  it.each([
    ['email', { email: 'not-an-email' }],
    ['password', { password: 'short' }],
    ['full_name', { full_name: '' }],
    ['email', { email: undefined }],
  ])('answers 400 naming %s when it is bad', async (field, extra) => {
    const res = await signup(p.app, ALICE, extra);
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ code: 'TW_ERR_PORTAL_BAD_REQUEST', field, error: true });
    expect(res.json().message).toContain(field);
  });

  it('logs in with a session cookie that is HttpOnly, SameSite=Strict, Path=/ and not Secure over plain HTTP', async () => {
    await signup(p.app, ALICE);
    const res = await p.app.inject({ method: 'POST', url: '/session/', payload: { email: 'Alice@Example.com', password: 'correct horse' } });
    expect(res.statusCode).toBe(201);
    const cookie = String(res.headers['set-cookie']);
    expect(cookie).toMatch(/^tw_session=[A-Za-z0-9_-]{43};/);
    expect(cookie).toContain('HttpOnly');
    expect(cookie).toContain('SameSite=Strict');
    expect(cookie).toContain('Path=/');
    expect(cookie).not.toContain('Secure');
  });

  it('sets Secure on the cookie when configured for TLS', async () => {
    const tls = await startPortal({ secureCookies: true });
    await signup(tls.app, ALICE);
    const res = await tls.app.inject({ method: 'POST', url: '/session/', payload: { email: ALICE, password: 'correct horse' } });
    expect(String(res.headers['set-cookie'])).toContain('Secure');
    await tls.app.close();
  });

  it('refuses a wrong password, an unknown email and a missing field', async () => {
    await signup(p.app, ALICE);
    const login = (payload: Record<string, unknown>) => p.app.inject({ method: 'POST', url: '/session/', payload });
    expect((await login({ email: ALICE, password: 'wrong horse' })).statusCode).toBe(403);
    expect((await login({ email: 'nobody@example.com', password: 'correct horse' })).statusCode).toBe(403);
    const missing = await login({ email: ALICE });
    expect([missing.statusCode, missing.json().field]).toEqual([400, 'password']);
  });

  it('rate-limits logins per address: the 11th in a minute gets 429 with Retry-After', async () => {
    await signup(p.app, ALICE);
    const login = () => p.app.inject({ method: 'POST', url: '/session/', payload: { email: ALICE, password: 'wrong horse' } });
    for (let i = 0; i < 10; i++) expect((await login()).statusCode).toBe(403);
    const limited = await login();
    expect(limited.statusCode).toBe(429);
    expect(limited.headers['retry-after']).toBe('60');
    p.clock.now += 60_000;
    expect((await login()).statusCode).toBe(403);
  });

  it('rate-limits signups per address', async () => {
    for (let i = 0; i < 10; i++) await signup(p.app, `u${i}@example.com`, { signup_code: 'wrong' });
    const limited = await signup(p.app, ALICE);
    expect(limited.statusCode).toBe(429);
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
  });

  it('deletes an account with its numbers, and answers 404 afterwards', async () => {
    const cookie = await account(p.app, ALICE);
    await allocate(cookie);
    const res = await p.app.inject({ method: 'DELETE', url: `/accounts/${ALICE}/`, headers: { cookie } });
    expect(res.statusCode).toBe(204);
    expect(await p.subscribers.getPublicIdentity(IMPU0)).toBeUndefined();
    expect(await p.documents.get(simservsKey(IMPU0))).toBeUndefined();
    expect((await p.app.inject({ method: 'DELETE', url: `/accounts/${ALICE}/`, headers: OPERATOR })).statusCode).toBe(404);
    expect((await p.app.inject({ method: 'GET', url: numbersUrl(ALICE), headers: { cookie } })).statusCode).toBe(401);
  });

  it('ends the session on DELETE /session/', async () => {
    const cookie = await account(p.app, ALICE);
    expect((await p.app.inject({ method: 'DELETE', url: '/session/', headers: { cookie } })).statusCode).toBe(204);
    expect((await p.app.inject({ method: 'GET', url: numbersUrl(ALICE), headers: { cookie } })).statusCode).toBe(401);
  });
});

describe('who may act on an account', () => {
  it('answers 401 without credentials and with a wrong API key', async () => {
    await signup(p.app, ALICE);
    expect((await p.app.inject({ method: 'GET', url: numbersUrl(ALICE) })).statusCode).toBe(401);
    expect((await p.app.inject({ method: 'GET', url: numbersUrl(ALICE), headers: { 'ngv-api-key': 'guess' } })).statusCode).toBe(401);
  });

  it("answers 403 for another user's account, which the API key may act on", async () => {
    await account(p.app, 'admin@example.com');
    const alice = await account(p.app, ALICE);
    await signup(p.app, BOB);
    expect((await allocate(alice, BOB)).statusCode).toBe(403);
    const byOperator = await p.app.inject({ method: 'POST', url: numbersUrl(BOB), headers: OPERATOR });
    expect(byOperator.statusCode).toBe(201);
    expect((await p.accounts.numbersOf(BOB)).map((n) => n.impu)).toEqual([IMPU0]);
    expect((await p.app.inject({ method: 'GET', url: numbersUrl('nobody@example.com'), headers: OPERATOR })).statusCode).toBe(404);
  });

  it('refuses form posts authenticated by the cookie (cross-site forms)', async () => {
    const cookie = await account(p.app, ALICE);
    const res = await p.app.inject({
      method: 'POST',
      url: numbersUrl(ALICE),
      headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' },
      payload: 'pstn=false',
    });
    expect(res.statusCode).toBe(403);
    expect(await p.accounts.numbersOf(ALICE)).toEqual([]);
  });
});

describe('numbers', () => {
  let cookie: string;
  beforeEach(async () => {
    cookie = await account(p.app, ALICE);
  });

  it('allocates the next free number with a password shown once and only its HA1s stored', async () => {
    const res = await allocate(cookie);
    expect(res.statusCode).toBe(201);
    const body = res.json();
    expect(body).toEqual({
      sip_uri: IMPU0,
      sip_username: `6505550000@${DOMAIN}`,
      sip_password: expect.stringMatching(/^[A-Za-z0-9]{16}$/),
      number: '6505550000',
      formatted_number: '(650) 555-0000',
      pstn: false,
      private_id: `6505550000@${DOMAIN}`,
    });
    const impi = await p.subscribers.getPrivateIdentity(body.private_id);
    expect(impi?.digest).toEqual([
      { realm: DOMAIN, algorithm: 'MD5', ha1: computeHa1('MD5', body.private_id, DOMAIN, body.sip_password) },
      { realm: DOMAIN, algorithm: 'SHA-256', ha1: computeHa1('SHA-256', body.private_id, DOMAIN, body.sip_password) },
    ]);
    expect(await p.subscribers.publicIdentitiesOf(body.private_id)).toEqual([IMPU0]);
    expect((await p.documents.get(simservsKey(IMPU0)))?.content).toBe(defaultSimservs());
    expect((await allocate(cookie)).json().number).toBe('6505550001');
  });

  it('gives concurrent allocations distinct numbers', async () => {
    const answers = await Promise.all(Array.from({ length: 5 }, () => allocate(cookie)));
    expect(answers.map((a) => a.statusCode)).toEqual([201, 201, 201, 201, 201]);
    expect(answers.map((a) => a.json().number).sort()).toEqual(['6505550000', '6505550001', '6505550002', '6505550003', '6505550004']);
    expect(await p.accounts.numbersOf(ALICE)).toHaveLength(5);
  });

  it('skips numbers the HSS already has and answers 503 when the pool is used up', async () => {
    const small = await startPortal({ pool: { start: '100', end: '102' } });
    const c = await account(small.app, ALICE);
    await small.subscribers.addSubscriber({
      privateIdentity: { impi: `100@${DOMAIN}`, digest: [] },
      implicitSet: { id: 'cli', serviceProfile: '<ServiceProfile/>' },
      publicIdentities: [{ impu: `sip:100@${DOMAIN}` }],
    });
    const post = () => small.app.inject({ method: 'POST', url: numbersUrl(ALICE), headers: { cookie: c } });
    expect((await post()).json().number).toBe('101');
    expect((await post()).json().number).toBe('102');
    const none = await post();
    expect([none.statusCode, none.json().code]).toEqual([503, 'TW_ERR_PORTAL_POOL_EXHAUSTED']);
    await small.app.close();
  });

  it('takes pstn numbers from the second range, and answers 400 without one', async () => {
    expect((await allocate(cookie, ALICE, { pstn: true })).json()).toMatchObject({ field: 'pstn' });
    const withPstn = await startPortal({ pstnPool: { start: '2125550100', end: '2125550199' } });
    const c = await account(withPstn.app, ALICE);
    const res = await withPstn.app.inject({ method: 'POST', url: numbersUrl(ALICE), headers: { cookie: c }, payload: { pstn: true } });
    expect(res.json()).toMatchObject({ number: '2125550100', pstn: true, formatted_number: '(212) 555-0100' });
    await withPstn.app.close();
  });

  it('adds a number to an existing private identity of the account, without a new password', async () => {
    const first = (await allocate(cookie)).json();
    const res = await allocate(cookie, ALICE, { private_id: first.private_id });
    expect(res.statusCode).toBe(201);
    expect(res.json()).not.toHaveProperty('sip_password');
    expect(res.json().private_id).toBe(first.private_id);
    expect(await p.subscribers.publicIdentitiesOf(first.private_id)).toEqual([IMPU0, `sip:6505550001@${DOMAIN}`]);
    expect((await allocate(cookie, ALICE, { private_id: 'someone@example.com' })).json()).toMatchObject({ field: 'private_id' });
  });

  it('lists numbers without passwords, with the registered contacts', async () => {
    await allocate(cookie);
    await p.registrations.put(
      IMPU0,
      {
        bindings: [
          { contact: 'sip:alice@192.0.2.7:5060', path: [], expiresAt: p.clock.now + 300_000, callId: 'c', cseq: 1, registeredAt: p.clock.now, userAgent: 'Linphone/5' },
          { contact: 'sip:old@192.0.2.8:5060', path: [], expiresAt: p.clock.now - 1, callId: 'd', cseq: 1, registeredAt: p.clock.now - 9000 },
        ],
      },
      0,
    );
    const res = await p.app.inject({ method: 'GET', url: numbersUrl(ALICE), headers: { cookie } });
    expect(res.statusCode).toBe(200);
    expect(res.body).not.toContain('sip_password');
    expect(res.json().numbers).toEqual([
      expect.objectContaining({ sip_uri: IMPU0, registered: true, contacts: [{ contact: 'sip:alice@192.0.2.7:5060', user_agent: 'Linphone/5', expires: 300 }] }),
    ]);
  });

  it('deletes a number: subscriber data, simservs and bindings go, and the number is free again', async () => {
    await allocate(cookie);
    await p.registrations.put(IMPU0, { bindings: [{ contact: 'sip:a@192.0.2.7', path: [], expiresAt: p.clock.now + 1000, callId: 'c', cseq: 1, registeredAt: p.clock.now }] }, 0);
    const res = await p.app.inject({ method: 'DELETE', url: numbersUrl(ALICE, IMPU0), headers: { cookie } });
    expect(res.statusCode).toBe(204);
    expect(await p.subscribers.getPublicIdentity(IMPU0)).toBeUndefined();
    expect(await p.subscribers.getPrivateIdentity(`6505550000@${DOMAIN}`)).toBeUndefined();
    expect(await p.documents.get(simservsKey(IMPU0))).toBeUndefined();
    expect(await p.registrations.get(IMPU0)).toBeUndefined();
    expect(p.changed).toContain(`6505550000@${DOMAIN}`);
    expect((await p.app.inject({ method: 'DELETE', url: numbersUrl(ALICE, IMPU0), headers: { cookie } })).statusCode).toBe(404);
    expect((await allocate(cookie)).json().number).toBe('6505550000');
  });

  it("answers 404 for a number of another account", async () => {
    const bob = await account(p.app, BOB);
    await allocate(bob, BOB);
    expect((await p.app.inject({ method: 'POST', url: numbersUrl(ALICE, IMPU0, 'password'), headers: { cookie } })).statusCode).toBe(404);
    expect((await p.app.inject({ method: 'GET', url: numbersUrl(ALICE, IMPU0, 'simservs'), headers: { cookie } })).statusCode).toBe(404);
  });

  it('generates a new SIP password whose HA1s replace the old ones', async () => {
    const first = (await allocate(cookie)).json();
    const res = await p.app.inject({ method: 'POST', url: numbersUrl(ALICE, IMPU0, 'password').replace(/\/$/, ''), headers: { cookie } });
    expect(res.statusCode).toBe(200);
    const { sip_password } = res.json();
    expect(sip_password).toMatch(/^[A-Za-z0-9]{16}$/);
    expect(sip_password).not.toBe(first.sip_password);
    const md5 = (await p.subscribers.getPrivateIdentity(first.private_id))?.digest.find((d) => d.algorithm === 'MD5')?.ha1;
    expect(md5).toBe(computeHa1('MD5', first.private_id, DOMAIN, sip_password));
  });
});

describe('simservs and iFCs', () => {
  let cookie: string;
  const url = (what: string) => numbersUrl(ALICE, IMPU0, what).replace(/\/$/, '');
  beforeEach(async () => {
    cookie = await account(p.app, ALICE);
    await allocate(cookie);
  });

  it('reads and replaces the simservs document, refusing an invalid one with 400', async () => {
    const got = await p.app.inject({ method: 'GET', url: url('simservs'), headers: { cookie } });
    expect([got.statusCode, got.body]).toEqual([200, defaultSimservs()]);
    const changed = defaultSimservs().replace('<originating-identity-presentation active="true"/>', '<originating-identity-presentation active="false"/>');
    const put = await p.app.inject({ method: 'PUT', url: url('simservs'), headers: { cookie, 'content-type': 'application/xml' }, payload: changed });
    expect(put.statusCode).toBe(200);
    expect((await p.documents.get(simservsKey(IMPU0)))?.content).toBe(changed);
    for (const bad of ['<simservs', '<simservs xmlns="http://uri.etsi.org/ngn/params/xml/simservs/xcap"><bogus/></simservs>']) {
      const res = await p.app.inject({ method: 'PUT', url: url('simservs'), headers: { cookie, 'content-type': 'application/xml' }, payload: bad });
      expect(res.statusCode).toBe(400);
      expect(res.json()).toMatchObject({ code: 'TW_ERR_PORTAL_BAD_REQUEST', field: 'body' });
    }
    expect((await p.documents.get(simservsKey(IMPU0)))?.content).toBe(changed);
  });

  it('reads and replaces the iFCs of the service profile, refusing anything but a ServiceProfile', async () => {
    const got = await p.app.inject({ method: 'GET', url: url('ifcs'), headers: { cookie } });
    expect(got.statusCode).toBe(200);
    expect(got.body).toContain(`<Identity>${IMPU0}</Identity>`);
    const ifc =
      '<ServiceProfile><InitialFilterCriteria><Priority>0</Priority><TriggerPoint><ConditionTypeCNF>0</ConditionTypeCNF><SPT><ConditionNegated>0</ConditionNegated><Group>0</Group><Method>INVITE</Method></SPT></TriggerPoint>' +
      `<ApplicationServer><ServerName>sip:mmtel.${DOMAIN}</ServerName><DefaultHandling>0</DefaultHandling></ApplicationServer></InitialFilterCriteria></ServiceProfile>`;
    const put = await p.app.inject({ method: 'PUT', url: url('ifcs'), headers: { cookie, 'content-type': 'application/xml' }, payload: ifc });
    expect(put.statusCode).toBe(200);
    const set = await p.subscribers.implicitSetOf(IMPU0);
    expect(set?.serviceProfile).toContain(`sip:mmtel.${DOMAIN}`);
    expect(set?.serviceProfile).toContain(IMPU0);
    for (const bad of ['<ServiceProfile>', '<IFC/>']) {
      const res = await p.app.inject({ method: 'PUT', url: url('ifcs'), headers: { cookie, 'content-type': 'text/xml' }, payload: bad });
      expect([res.statusCode, res.json().field]).toEqual([400, 'body']);
    }
  });
});

describe('over real HTTP', () => {
  it('signs up, logs in and allocates a number through a socket', async () => {
    const address = await p.app.listen({ host: '127.0.0.1', port: 0 });
    const json = { 'content-type': 'application/json' };
    const made = await fetch(`${address}/accounts/`, { method: 'POST', headers: { ...json, 'ngv-signup-code': 'secret' }, body: JSON.stringify({ email: ALICE, password: 'correct horse', full_name: 'A' }) });
    expect(made.status).toBe(201);
    const login = await fetch(`${address}/session/`, { method: 'POST', headers: json, body: JSON.stringify({ email: ALICE, password: 'correct horse' }) });
    expect(login.status).toBe(201);
    const cookie = login.headers.getSetCookie()[0]!.split(';')[0]!;
    const number = await fetch(`${address}${numbersUrl(ALICE)}`, { method: 'POST', headers: { cookie } });
    expect(number.status).toBe(201);
    const list = await fetch(`${address}${numbersUrl(ALICE)}`, { headers: { cookie } });
    expect(((await list.json()) as { numbers: unknown[] }).numbers).toHaveLength(1);
    const operator = await fetch(`${address}/subscribers/?search=0000`, { headers: OPERATOR });
    const found = (await operator.json()) as { subscribers: { sip_uri: string }[] };
    expect(found.subscribers.map((s) => s.sip_uri)).toEqual([IMPU0]);
  });
});
