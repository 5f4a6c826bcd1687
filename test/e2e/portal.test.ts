/**
 * The portal in Debian's Chromium (driven by playwright-core) against the running all-in-one:
 * sign up, log in, get a number and read its SIP password from the page; SIPp registers with
 * it and the page shows the number registered; call forwarding set in the form is in the
 * simservs document served over XCAP; after a password reset the old password gets 403.
 * Screenshots of every page go to test-results/.
 *
 * The portal is the all-in-one's own when it prints a `listening portal http` line; otherwise
 * it is started here, in-process, on the all-in-one's SQLite file (WAL lets both use it).
 */
import { mkdirSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildPortalServer } from '../../src/portal/index.js';
import { openSqliteStores, type SqliteStores } from '../../src/storage/sqlite/index.js';
import { parseSimservs } from '../../src/xdms/index.js';
import { REPO_ROOT, runImsSipp, startAllInOne, type AllInOne, type ImsSippResult } from '../harness/ims.js';
import { requireTool } from '../harness/tools.js';

const CHROMIUM = '/usr/bin/chromium';
const SHOTS = path.join(REPO_ROOT, 'test-results');
/** The all-in-one's HSS answers are cached this long (src/ims/hss-cache.ts), so a new password is seen after it. */
const HSS_CACHE_MS = 10_000;
const EMAIL = 'carol@example.com';
const PASSWORD = 'portal password 1';

let core: AllInOne;
let stores: SqliteStores | undefined;
let closePortal: (() => Promise<void>) | undefined;
let portal: string;
let xcap: string;
let browser: Browser;
let page: Page;

function listener(service: string): string | undefined {
  const m = new RegExp(`listening ${service} http (\\S+):(\\d+)`).exec(core.output());
  return m ? `http://${m[1]}:${m[2]}` : undefined;
}

async function startOwnPortal(): Promise<string> {
  stores = openSqliteStores({ path: path.join(core.dataDir, 'tidewater.sqlite') });
  const app = await buildPortalServer({
    accounts: stores.accounts,
    subscribers: stores.subscribers,
    registrations: stores.registrations,
    documents: stores.documents,
    domain: core.domain,
    signupCode: 'secret',
    outboundProxy: `127.0.0.1:${core.sipPort} (UDP or TCP)`,
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  closePortal = () => app.close();
  return `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
}

async function shot(name: string): Promise<void> {
  await page.screenshot({ path: path.join(SHOTS, `portal-${name}.png`), fullPage: true });
}

function expectSipp(res: ImsSippResult, what: string): void {
  const why = `${what} failed (exit ${res.exitCode}):\n${res.log}\n${res.errors.slice(-3000)}\n--- server ---\n${core.output().slice(-3000)}`;
  expect(res.exitCode, why).toBe(0);
}

/** Reloads the numbers page until the number's row says registered (the write reaches SQLite in a moment). */
async function waitForRegistered(number: string): Promise<string> {
  for (let attempt = 0; attempt < 50; attempt++) {
    await page.goto(`${portal}/numbers`);
    const row = await page.locator(`tr[data-number="${number}"]`).innerText();
    if (/\bregistered\b/.test(row) && !/not registered/.test(row)) return row;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`the numbers page never showed ${number} as registered`);
}

beforeAll(async () => {
  requireTool('sipp', 'sip-tester');
  requireTool('chromium', 'chromium');
  mkdirSync(SHOTS, { recursive: true });
  core = await startAllInOne();
  const x = listener('xdms');
  if (!x) throw new Error(`no xdms listener line in:\n${core.output()}`);
  xcap = x;
  portal = listener('portal') ?? (await startOwnPortal());
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-dev-shm-usage'] });
  page = await browser.newPage();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await closePortal?.();
  stores?.close();
  await core?.dispose();
});

describe('the portal in a browser', () => {
  let number = '';
  let sipPassword = '';
  let lastRegister = 0;

  it('signs up, logs out and logs in again', async () => {
    await page.goto(`${portal}/`);
    await page.waitForURL(`${portal}/signup`);
    await shot('1-signup');
    await page.fill('#full_name', 'Carol Example');
    await page.fill('#email', EMAIL);
    await page.fill('#password', PASSWORD);
    await page.fill('#signup_code', 'secret');
    await page.click('#signup');
    await page.waitForURL(`${portal}/numbers`);
    expect(await page.textContent('main')).toContain('You have no numbers yet.');
    await shot('2-numbers-empty');
    await page.click('#logout');
    await page.waitForURL(`${portal}/login`);
    await page.fill('#email', EMAIL);
    await page.fill('#password', 'not my password');
    await page.click('#login');
    expect(await page.textContent('[role=alert]')).toContain('wrong email or password');
    await shot('3-login-refused');
    await page.fill('#password', PASSWORD);
    await page.click('#login');
    await page.waitForURL(`${portal}/numbers`);
  });

  it('allocates a number and shows the SIP password once, with what a softphone needs', async () => {
    await page.click('#allocate');
    await shot('4-new-number');
    sipPassword = (await page.textContent('#sip-password'))!.trim();
    const uri = (await page.textContent('#sip-uri'))!.trim();
    number = /^sip:(\d+)@/.exec(uri)![1]!;
    expect(sipPassword).toMatch(/^[A-Za-z0-9]{16}$/);
    expect((await page.textContent('#sip-username'))!.trim()).toBe(`${number}@${core.domain}`);
    expect(await page.textContent('#outbound-proxy')).toContain(String(core.sipPort));
    await page.goto(`${portal}/numbers`);
    expect(await page.content()).not.toContain(sipPassword);
  });

  it('shows the number registered once SIPp registers with those credentials', async () => {
    expectSipp(await runImsSipp(core, { number, password: sipPassword }, 'ims-register'), 'REGISTER with the portal password');
    lastRegister = Date.now();
    const row = await waitForRegistered(number);
    expect(row).toContain(`sip:${number}@`);
    expect(row).toMatch(/expires in \d+ s/);
    await shot('5-numbers-registered');
    await page.goto(`${portal}/operator?q=${number}`);
    const operatorRow = await page.locator('#subscribers tbody tr').innerText();
    expect(operatorRow).toContain(EMAIL);
    expect(operatorRow).toContain(`sip:${number}@`);
    expect(operatorRow).toMatch(/\bregistered\b/);
    await shot('5b-operator-view');
  });

  it('sets call forwarding unconditional in the form, and XCAP serves the rule', async () => {
    await page.goto(`${portal}/numbers`);
    await page.click(`tr[data-number="${number}"] >> text=Services`);
    await shot('6-services');
    await page.fill('#cfu', '6505559999');
    await page.check('#ocb_international');
    await page.click('#save-services');
    expect(await page.textContent('[role=status]')).toContain('Saved.');
    await shot('7-services-saved');
    const res = await fetch(`${xcap}/org.etsi.ngn.simservs/users/${encodeURIComponent(`sip:${number}@${core.domain}`)}/simservs.xml`);
    expect(res.status).toBe(200);
    const settings = parseSimservs(await res.text());
    expect(settings.cdiv?.rules).toEqual([expect.objectContaining({ conditions: [], target: `sip:6505559999@${core.domain}` })]);
    expect(settings.ocb?.rules).toEqual([expect.objectContaining({ conditions: ['international'], allow: false })]);
  });

  it('resets the SIP password: the old one gets 403, the new one registers', async () => {
    await page.goto(`${portal}/numbers`);
    await page.click(`tr[data-number="${number}"] button.reset`);
    await shot('8-password-reset-confirm');
    await page.click('#confirm');
    await shot('9-password-reset');
    const newPassword = (await page.textContent('#sip-password'))!.trim();
    expect(newPassword).not.toBe(sipPassword);
    const wait = lastRegister + HSS_CACHE_MS + 1000 - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    expectSipp(await runImsSipp(core, { number, password: sipPassword }, 'ims-register-wrong-password'), 'REGISTER with the old password (expecting 403)');
    expectSipp(await runImsSipp(core, { number, password: newPassword }, 'ims-register'), 'REGISTER with the new password');
  }, 60_000);
});
