/**
 * The portal's softphone page (issue 5) in Debian's Chromium (playwright-core) with fake media
 * devices, against `node bin/tidewater.js all-in-one` on free loopback ports: two accounts each
 * get a number and open its phone page, which registers over secure WebSocket with the portal's
 * short-lived credentials (no SIP password typed). A calls B with audio and video and the media
 * flows peer to peer (each RTCPeerConnection's inbound-rtp bytes grow); hang up; chat both ways;
 * a call to a SIPp UAS over UDP; a MESSAGE from a SIPp UAC over TCP; and, once B's page is
 * closed, 480 for a call to B. Screenshots go to test-results/softphone-*.png.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT, runImsSipp, startAllInOne, startImsCallee, userFactory, type AllInOne } from '../harness/ims.js';
import { requireTool } from '../harness/tools.js';

const CHROMIUM = '/usr/bin/chromium';
const SHOTS = path.join(REPO_ROOT, 'test-results');
const newUser = userFactory(6505558100);

interface Phone {
  readonly context: BrowserContext;
  readonly page: Page;
  readonly email: string;
  readonly number: string;
  /** SIP messages the page received over its WebSockets. */
  readonly received: string[];
}

let core: AllInOne;
let portal: string;
let browser: Browser;
let a: Phone;
let b: Phone;

function fromOutput(pattern: RegExp, what: string): RegExpExecArray {
  const m = pattern.exec(core.output());
  if (!m) throw new Error(`no ${what} in the all-in-one's output:\n${core.output()}`);
  return m;
}

async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: path.join(SHOTS, `softphone-${name}.png`), fullPage: true });
}

/** Signs up in a fresh browser context, gets a number and opens its phone page from the numbers list. */
async function openPhone(email: string): Promise<Phone> {
  const context = await browser.newContext({ baseURL: portal });
  const page = await context.newPage();
  const received: string[] = [];
  page.on('websocket', (ws) => ws.on('framereceived', (frame) => received.push(String(frame.payload))));
  await page.goto('/signup');
  await page.fill('#full_name', email.split('@')[0]!);
  await page.fill('#email', email);
  await page.fill('#password', 'portal password 1');
  await page.fill('#signup_code', 'secret');
  await page.click('#signup');
  await page.waitForURL('**/numbers');
  await page.click('#allocate');
  const number = /^sip:(\d+)@/.exec((await page.textContent('#sip-uri')) ?? '')?.[1];
  if (!number) throw new Error(`no number on the allocation page: ${await page.textContent('main')}`);
  await page.goto('/numbers');
  await page.click(`tr[data-number="${number}"] a.phone-link`);
  await page.waitForURL(`**/numbers/${number}/phone`);
  await waitState(page, '#reg-state', 'registered');
  return { context, page, email, number, received };
}

/** Waits for a state element to reach `state`; fails with what it shows otherwise. */
async function waitState(page: Page, selector: string, state: string, timeout = 15_000): Promise<string> {
  try {
    await page.waitForSelector(`${selector}[data-state="${state}"]`, { timeout });
  } catch {
    throw new Error(`${selector} never became ${state}; it shows "${await page.textContent(selector)}"\n--- server ---\n${core.output().slice(-3000)}`);
  }
  return (await page.textContent(selector)) ?? '';
}

type Bytes = { audio: number; video: number };
/** The parts of the page's `window.twPhone` read here (no DOM types in this project's tsconfig). */
type Stat = { type: string; kind?: 'audio' | 'video'; bytesReceived?: number };
type PhoneGlobal = { twPhone: { session: { connection: { getStats(): Promise<{ forEach(f: (r: Stat) => void): void }> } } } };

/** inbound-rtp bytesReceived per kind, from the current call's RTCPeerConnection. */
function inboundBytes(page: Page): Promise<Bytes> {
  return page.evaluate(async () => {
    const pc = (globalThis as unknown as PhoneGlobal).twPhone.session.connection;
    const out = { audio: 0, video: 0 };
    (await pc.getStats()).forEach((r) => {
      if (r.type === 'inbound-rtp' && r.kind) out[r.kind] += r.bytesReceived ?? 0;
    });
    return out;
  });
}

/** Resolves once audio and video bytes received grew past `from` on the page's call. */
async function mediaGrows(page: Page, from: Bytes): Promise<Bytes> {
  let now = from;
  await expect
    .poll(
      async () => {
        now = await inboundBytes(page);
        return now.audio > from.audio && now.video > from.video;
      },
      { timeout: 15_000, interval: 250 },
    )
    .toBe(true);
  return now;
}

/** Sends a chat message from `from` to the number in its peer field. */
async function chat(from: Phone, to: Phone, text: string): Promise<void> {
  await from.page.fill('#peer', to.number);
  await from.page.fill('#chat-text', text);
  await from.page.click('#send');
  await from.page.waitForSelector(`#messages li.out.delivered:has-text("${text}")`);
}

async function registeredInPortal(phone: Phone): Promise<boolean> {
  const res = await phone.context.request.get(`/accounts/${encodeURIComponent(phone.email)}/numbers/`);
  const body = (await res.json()) as { numbers: { number: string; registered: boolean }[] };
  return body.numbers.find((n) => n.number === phone.number)?.registered ?? false;
}

beforeAll(async () => {
  requireTool('chromium', 'chromium');
  requireTool('sipp', 'sip-tester');
  mkdirSync(SHOTS, { recursive: true });
  core = await startAllInOne();
  const [, host, port] = fromOutput(/listening portal http (\S+):(\d+)/, 'portal listener');
  portal = `http://${host}:${port}`;
  const [, spki] = fromOutput(/tls certificate spki sha256 (\S+)/, 'certificate fingerprint');
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-dev-shm-usage',
      '--use-fake-device-for-media-stream',
      '--use-fake-ui-for-media-stream',
      '--allow-loopback-in-peer-connection',
      '--autoplay-policy=no-user-gesture-required',
      `--ignore-certificate-errors-spki-list=${spki}`,
    ],
  });
  [a, b] = await Promise.all([openPhone('anna@example.com'), openPhone('ben@example.com')]);
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await core?.dispose();
});

describe('the softphone page', () => {
  it('registers over secure WebSocket with the credentials the portal holds for the session', async () => {
    expect(await a.page.textContent('#reg-state')).toContain(`Registered: calls to ${a.number} ring here`);
    expect(await registeredInPortal(a)).toBe(true);
    expect(await registeredInPortal(b)).toBe(true);
  });

  it('refreshes its registration with renewed credentials', async () => {
    const from = a.received.length;
    await a.page.evaluate(async () => {
      const phone = (globalThis as unknown as { twPhone: { ua: { register(): void }; renew(): Promise<void> } }).twPhone;
      await phone.renew();
      phone.ua.register();
    });
    const answers = () => a.received.slice(from).filter((m) => /\r\nCSeq: \d+ REGISTER\r\n/.test(m)).map((m) => m.slice(0, 11));
    await expect.poll(() => answers().includes('SIP/2.0 200'), { timeout: 5000 }).toBe(true);
    expect(answers()).toEqual(['SIP/2.0 401', 'SIP/2.0 200']);
    expect(await a.page.getAttribute('#reg-state', 'data-state')).toBe('registered');
  });

  it('calls with audio and video; media flows both ways; the caller hangs up and both pages show it', async () => {
    await a.page.fill('#peer', b.number);
    await a.page.check('#with-video');
    await a.page.click('#call');
    expect(await waitState(b.page, '#call-state', 'incoming')).toContain(`Incoming call from ${a.number} (video)`);
    await b.page.click('#answer');
    expect(await waitState(a.page, '#call-state', 'in-call')).toContain(`In a call with ${b.number}`);
    expect(await waitState(b.page, '#call-state', 'in-call')).toContain(`In a call with ${a.number}`);

    const [startA, startB] = await Promise.all([inboundBytes(a.page), inboundBytes(b.page)]);
    const [grownA, grownB] = await Promise.all([mediaGrows(a.page, startA), mediaGrows(b.page, startB)]);
    // and keeps flowing
    await Promise.all([mediaGrows(a.page, grownA), mediaGrows(b.page, grownB)]);
    await Promise.all([shot(a.page, 'a-in-call'), shot(b.page, 'b-in-call')]);

    await a.page.click('#hangup');
    expect(await waitState(a.page, '#call-state', 'ended')).toBe('Call ended: you hung up');
    expect(await waitState(b.page, '#call-state', 'ended')).toBe(`Call ended: ${a.number} hung up`);
    expect(await b.page.isDisabled('#hangup')).toBe(true);
  });

  it('sends chat messages both ways', async () => {
    await chat(a, b, 'Hello Ben, it is Anna');
    await b.page.waitForSelector(`#messages li.in[data-peer="${a.number}"]:has-text("Hello Ben, it is Anna")`);
    await chat(b, a, 'Hi Anna!');
    await a.page.waitForSelector(`#messages li.in[data-peer="${b.number}"]:has-text("Hi Anna!")`);
    await shot(b.page, 'b-chat');
  });

  it('calls a SIPp softphone registered over UDP and hangs up (signalling)', async () => {
    const user = await newUser(core);
    const callee = await startImsCallee(core, user, 'answer-webrtc');
    try {
      await a.page.fill('#peer', user.number);
      await a.page.uncheck('#with-video');
      await a.page.click('#call');
      await waitState(a.page, '#call-state', 'in-call').catch(async (e) => {
        const r = await callee.stop();
        throw new Error(`${e}\n--- sipp ---\n${r.messages.slice(-6000)}\n${r.errors.slice(-2000)}`);
      });
      await a.page.click('#hangup');
      await waitState(a.page, '#call-state', 'ended');
      const res = await callee.result;
      expect(res.exitCode, `SIPp callee:\n${res.errors.slice(-2000)}\n${res.messages.slice(-3000)}`).toBe(0);
    } finally {
      await callee.stop();
    }
  });

  it('shows a MESSAGE a SIPp softphone sent over TCP', async () => {
    const sender = await newUser(core);
    const res = await runImsSipp(core, sender, 'ims-message-sender', { transport: 't1', keys: { callee: a.number } });
    expect(res.exitCode, `SIPp sender:\n${res.errors.slice(-2000)}\n${res.messages.slice(-3000)}`).toBe(0);
    await a.page.waitForSelector(`#messages li.in[data-peer="${sender.number}"]:has-text("hello from ${sender.number}")`);
  });

  it('gets 480 calling a number whose page was closed', async () => {
    await b.page.close();
    await expect.poll(() => registeredInPortal(b), { timeout: 10_000 }).toBe(false);
    await a.page.fill('#peer', b.number);
    await a.page.click('#call');
    expect(await waitState(a.page, '#call-state', 'failed')).toBe('Call failed: 480 Temporarily Unavailable');
    await shot(a.page, 'a-480');
  });
});
