/**
 * The softphone page and its credentials through inject(): the page of one's own number with a
 * CSP that allows only the portal's scripts and the edge's WebSocket, and the short-lived SIP
 * credentials it fetches (session and CSRF header required, bound to the number, never the SIP
 * password). Also the token minting itself (softphone-token.ts).
 */
import type { LightMyRequestResponse } from 'fastify';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SOFTPHONE_TOKEN_WINDOW_MS, SoftphoneTokens } from '../../src/portal/index.js';
import { account, DOMAIN, numbersUrl, startPortal, T0, type TestPortal } from './fixtures.js';

const ALICE = 'alice@example.com';
const MALLORY = 'mallory@example.com';
const SECRET = Buffer.alloc(32, 5);
const WSS_PORT = 5063;

let p: TestPortal;
let tokens: SoftphoneTokens;
let cookie: string;
let number: string;

async function allocate(cookieHeader: string, email: string): Promise<string> {
  const res = await p.app.inject({ method: 'POST', url: numbersUrl(email), headers: { cookie: cookieHeader }, payload: {} });
  expect(res.statusCode).toBe(201);
  return (res.json() as { number: string }).number;
}

function phonePage(n: string, headers: Record<string, string> = {}): Promise<LightMyRequestResponse> {
  return p.app.inject({ url: `/numbers/${n}/phone`, headers: { cookie, host: 'portal.example.net:8080', ...headers } });
}

function dataOf(page: LightMyRequestResponse, name: string): string {
  const m = new RegExp(`data-${name}="([^"]*)"`).exec(page.body);
  if (!m) throw new Error(`no data-${name} in ${page.body}`);
  return m[1]!.replace(/&amp;/g, '&');
}

async function credentials(n: string, headers: Record<string, string>): Promise<LightMyRequestResponse> {
  return p.app.inject({ method: 'POST', url: `/numbers/${n}/phone/credentials`, headers });
}

beforeEach(async () => {
  tokens = new SoftphoneTokens(SECRET);
  p = await startPortal({ softphone: { tokens, wssPort: WSS_PORT } });
  cookie = await account(p.app, ALICE);
  number = await allocate(cookie, ALICE);
});
afterEach(async () => {
  await p.app.close();
});

describe('the softphone page', () => {
  it('is linked from the numbers list', async () => {
    const list = await p.app.inject({ url: '/numbers', headers: { cookie } });
    expect(list.body).toContain(`href="/numbers/${number}/phone"`);
  });

  it('connects to the edge on the host the browser used, allowed by a CSP with no inline script', async () => {
    const page = await phonePage(number);
    expect(page.statusCode).toBe(200);
    expect(dataOf(page, 'ws-url')).toBe(`wss://portal.example.net:${WSS_PORT}`);
    expect(dataOf(page, 'uri')).toBe(`sip:${number}@${DOMAIN}`);
    const csp = String(page.headers['content-security-policy']);
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain(`connect-src 'self' wss://portal.example.net:${WSS_PORT}`);
    expect(csp).toContain("default-src 'none'");
    expect(page.headers['cache-control']).toBe('no-store');
    const scripts = [...page.body.matchAll(/<script([^>]*)>/g)].map((m) => m[1]);
    expect(scripts).toEqual([' src="/static/jssip.min.js" defer', ' src="/static/softphone.js" defer']);
  });

  it('takes a host from the Host header only when it is a host name or address', async () => {
    const v6 = await phonePage(number, { host: '[::1]:8080' });
    expect(dataOf(v6, 'ws-url')).toBe(`wss://[::1]:${WSS_PORT}`);
    const odd = await phonePage(number, { host: "evil.example'; script-src *" });
    expect(dataOf(odd, 'ws-url')).toBe(`wss://${DOMAIN}:${WSS_PORT}`);
    expect(String(odd.headers['content-security-policy'])).not.toContain('script-src *');
  });

  it('uses a configured WebSocket URL instead', async () => {
    await p.app.close();
    p = await startPortal({ softphone: { tokens, wsUrl: 'wss://edge.example.net/sip' } });
    cookie = await account(p.app, ALICE);
    number = await allocate(cookie, ALICE);
    const page = await phonePage(number);
    expect(dataOf(page, 'ws-url')).toBe('wss://edge.example.net/sip');
    expect(String(page.headers['content-security-policy'])).toContain("connect-src 'self' wss://edge.example.net/sip");
  });

  it('is only for the number owner, and sends others to the log-in page', async () => {
    const other = await account(p.app, MALLORY);
    expect((await phonePage(number, { cookie: other })).statusCode).toBe(404);
    const anonymous = await p.app.inject({ url: `/numbers/${number}/phone` });
    expect([anonymous.statusCode, anonymous.headers.location]).toEqual([303, '/login']);
  });

  it('serves its script', async () => {
    const res = await p.app.inject('/static/softphone.js');
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toContain('text/javascript');
    expect(res.body).toContain('new JsSIP.UA(');
  });

  it('does not exist when the portal has no softphone options', async () => {
    await p.app.close();
    p = await startPortal();
    cookie = await account(p.app, ALICE);
    number = await allocate(cookie, ALICE);
    const list = await p.app.inject({ url: '/numbers', headers: { cookie } });
    expect(list.body).not.toContain('/phone');
    expect((await phonePage(number)).statusCode).toBe(404);
    expect((await p.app.inject('/static/softphone.js')).statusCode).toBe(404);
  });
});

describe('the softphone credentials', () => {
  it('gives the page a token for its number, valid 5 to 10 minutes, never the SIP password', async () => {
    const csrf = dataOf(await phonePage(number), 'csrf');
    const res = await credentials(number, { cookie, 'x-csrf-token': csrf });
    expect(res.statusCode).toBe(200);
    expect(res.headers['cache-control']).toBe('no-store');
    const body = res.json() as { uri: string; username: string; password: string; realm: string; expires_at: string; renew_in: number };
    const impi = `${number}@${DOMAIN}`;
    expect(body).toMatchObject({ uri: `sip:${number}@${DOMAIN}`, username: impi, realm: DOMAIN });
    expect(tokens.passwordsFor(impi, body.uri, T0)).toContain(body.password);
    const lifetime = Date.parse(body.expires_at) - T0;
    expect(lifetime).toBeGreaterThan(SOFTPHONE_TOKEN_WINDOW_MS);
    expect(lifetime).toBeLessThanOrEqual(2 * SOFTPHONE_TOKEN_WINDOW_MS);
    expect(body.renew_in * 1000).toBeGreaterThan(lifetime - SOFTPHONE_TOKEN_WINDOW_MS);
    expect(body.renew_in * 1000).toBeLessThan(lifetime);
  });

  it('needs the session and its CSRF token in a header', async () => {
    const csrf = dataOf(await phonePage(number), 'csrf');
    expect((await credentials(number, { 'x-csrf-token': csrf })).statusCode).toBe(401);
    expect((await credentials(number, { cookie })).statusCode).toBe(403);
    expect((await credentials(number, { cookie, 'x-csrf-token': 'forged' })).statusCode).toBe(403);
  });

  it('refuses another account a token for the number', async () => {
    const other = await account(p.app, MALLORY);
    const otherNumber = await allocate(other, MALLORY);
    const csrf = dataOf(await phonePage(otherNumber, { cookie: other }), 'csrf');
    const res = await credentials(number, { cookie: other, 'x-csrf-token': csrf });
    expect(res.statusCode).toBe(404);
    expect(res.body).not.toContain('password');
  });
});

describe('softphone tokens', () => {
  const impi = '6505550001@example.com';
  const impu = 'sip:6505550001@example.com';

  it('are accepted in their window and the next only', () => {
    const t = T0 - (T0 % SOFTPHONE_TOKEN_WINDOW_MS);
    const token = tokens.issue(impi, impu, t).password;
    expect(tokens.passwordsFor(impi, impu, t + SOFTPHONE_TOKEN_WINDOW_MS - 1)).toContain(token);
    expect(tokens.passwordsFor(impi, impu, t + 2 * SOFTPHONE_TOKEN_WINDOW_MS - 1)).toContain(token);
    expect(tokens.passwordsFor(impi, impu, t + 2 * SOFTPHONE_TOKEN_WINDOW_MS)).not.toContain(token);
    expect(tokens.passwordsFor(impi, impu, t - 1)).not.toContain(token);
  });

  it('are bound to the private and public identity and to the secret', () => {
    const token = tokens.issue(impi, impu, T0).password;
    expect(token).toMatch(/^[A-Za-z0-9_-]{32}$/);
    expect(tokens.passwordsFor('6505550002@example.com', impu, T0)).not.toContain(token);
    expect(tokens.passwordsFor(impi, 'sip:6505550002@example.com', T0)).not.toContain(token);
    expect(new SoftphoneTokens(Buffer.alloc(32, 6)).passwordsFor(impi, impu, T0)).not.toContain(token);
  });

  it('refuses a short secret', () => {
    expect(() => new SoftphoneTokens(Buffer.alloc(8))).toThrow(/at least 16 bytes/);
  });
});
