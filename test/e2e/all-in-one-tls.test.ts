/**
 * The edge's secure transports (issue 5) end to end: SIP over TLS and over secure WebSocket
 * against `node bin/tidewater.js all-in-one` on free loopback ports, with the self-signed
 * certificate it generated in its data folder, a minimal UA written here (test/harness/sip-ua.ts:
 * node:tls, and the `ws` package with the `sip` subprotocol) and SIPp over UDP and TCP as the
 * softphones on the other side. Also GRUUs (RFC 5627) and the edge's media rule.
 */
import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  bodyOf,
  headerValues,
  impuOf,
  runImsSipp,
  startAllInOne,
  startImsCallee,
  tracedMessages,
  userFactory,
  type AllInOne,
  type ImsSippResult,
  type TestUser,
} from '../harness/ims.js';
import { TestUa } from '../harness/sip-ua.js';
import { requireTool } from '../harness/tools.js';

const DOMAIN = 'example.com';
const REGISTERED = /\bREGISTERED\b/;
const newUser = userFactory(6505557000);

/** A softphone's offer: plain RTP (RFC 3551), no DTLS. */
const PLAIN_RTP = ['v=0', 'o=tls-ua 1 1 IN IP4 127.0.0.1', 's=-', 'c=IN IP4 127.0.0.1', 't=0 0', 'm=audio 40000 RTP/AVP 0', 'a=rtpmap:0 PCMU/8000', ''].join('\r\n');
/** A browser's offer: DTLS-SRTP with ICE (RFC 8829), as Chromium writes it, shortened. */
const WEBRTC = [
  'v=0',
  'o=- 4611731400430051336 2 IN IP4 127.0.0.1',
  's=-',
  't=0 0',
  'a=group:BUNDLE 0',
  'm=audio 9 UDP/TLS/RTP/SAVPF 111',
  'c=IN IP4 0.0.0.0',
  'a=ice-ufrag:Wz1b',
  'a=ice-pwd:fHq1h8pWvL7m0y1GQ6nyGmR0',
  'a=fingerprint:sha-256 AB:12:CD:34:EF:56:AB:12:CD:34:EF:56:AB:12:CD:34:EF:56:AB:12:CD:34:EF:56:AB:12:CD:34:EF:56:AB:12',
  'a=setup:actpass',
  'a=mid:0',
  'a=rtpmap:111 opus/48000/2',
  'a=candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host',
  '',
].join('\r\n');

let core: AllInOne;
let cert: string;

const ua = (user: TestUser) => ({ user: user.number, password: user.password, domain: DOMAIN });
const tlsUa = async (user: TestUser) => (await TestUa.tls(core.tlsPort, cert, DOMAIN, ua(user))).ua;
const wssUa = async (user: TestUser) => TestUa.wss(core.wssPort, cert, ua(user));

function expectSuccess(res: ImsSippResult, what: string): void {
  expect(res.exitCode, `${what} failed (exit ${res.exitCode}):\n${res.log}\n${res.errors.slice(-3000)}\n--- server ---\n${core.output().slice(-3000)}`).toBe(0);
}

/** Polls `subscriber show` until `user` is no longer REGISTERED. */
async function waitUntilNotRegistered(user: TestUser, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let shown = '';
  while (Date.now() < deadline) {
    shown = await core.showSubscriber(impuOf(user, DOMAIN));
    if (!REGISTERED.test(shown)) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${impuOf(user, DOMAIN)} still registered after ${timeoutMs} ms:\n${shown}`);
}

/** A body as SIPp's trace shows it: LF line ends, the last one dropped. */
const asTraced = (body: string): string => body.replace(/\r\n/g, '\n').trimEnd();

/** The pub-gruu of the 200's Contact registered by `instance`. */
function gruuOf(ok: { getAll(name: string): string[] }, instance: string): string {
  const contact = ok.getAll('contact').find((c) => c.includes(`+sip.instance="${instance}"`)) ?? '';
  return /;pub-gruu="([^"]+)"/.exec(contact)?.[1] ?? '';
}

beforeAll(async () => {
  requireTool('sipp', 'sip-tester');
  core = await startAllInOne({ config: { registration: { minExpires: 2, defaultExpires: 600 } } });
  cert = await readFile(join(core.dataDir, 'tls', 'cert.pem'), 'utf8');
});
afterAll(async () => {
  await core?.dispose();
});

describe('the edge over TLS and secure WebSocket', () => {
  it('generates a certificate for its domain at first start, prints its fingerprints, and keeps it across a restart', async () => {
    const x509 = new X509Certificate(cert);
    expect(x509.checkHost(DOMAIN)).toBe(DOMAIN);
    expect(x509.checkIP('127.0.0.1')).toBe('127.0.0.1');
    const out = core.output();
    expect(out).toContain(`listening sip tls 127.0.0.1:${core.tlsPort}`);
    expect(out).toContain(`listening sip wss 127.0.0.1:${core.wssPort}`);
    expect(out).toContain(`tls certificate sha256 ${x509.fingerprint256}`);
    expect(out).toMatch(/tls certificate self-signed, generated now \(none yet\)/);
    const spki = /tls certificate spki sha256 (\S+) \(chromium --ignore-certificate-errors-spki-list=(\S+)\)/.exec(out);
    expect(spki?.[1]).toBe(spki?.[2]);
    await core.restart();
    const after = core.output().split('--- restart ---').pop()!;
    expect(after).toMatch(/tls certificate self-signed, kept from an earlier start/);
    expect(after).toContain(`tls certificate sha256 ${x509.fingerprint256}`);
    expect(await readFile(join(core.dataDir, 'tls', 'cert.pem'), 'utf8')).toBe(cert);
  });

  it('registers a TLS client with Digest and connects its call to a SIPp UAS over UDP, then drops its binding when the connection closes', async () => {
    const [a, b] = [await newUser(core), await newUser(core)];
    const callee = await startImsCallee(core, b, 'answer');
    const caller = await tlsUa(a);
    const reg = await caller.register();
    expect(reg.status).toBe(200);
    expect(reg.get('path')).toMatch(/;lr;ob>$/);
    expect(reg.get('service-route')).toBeDefined();
    expect(gruuOf(reg, caller.instance)).toBe(`sip:${a.number}@${DOMAIN};gr=${caller.instance.slice(1, -1)}`);

    const ok = await caller.request('INVITE', `sip:${b.number}@${DOMAIN}`, { body: PLAIN_RTP });
    expect(ok.status).toBe(200);
    expect(caller.provisionals(ok.callId).map((r) => r.status)).toContain(180);
    // RFC 5658: the caller's side of the edge Record-Routes twice, TLS below UDP (RFC 5630 transport=tls).
    const rr = ok.getAll('record-route');
    expect(rr[rr.length - 1]).toMatch(new RegExp(`^<sip:[\\w-]+@127\\.0\\.0\\.1:${core.tlsPort};transport=tls;lr>$`));
    expect(rr[rr.length - 2]).toMatch(new RegExp(`^<sip:[\\w-]+@127\\.0\\.0\\.1:${core.sipPort};lr>$`));
    caller.ack(ok);
    expect((await caller.bye(ok)).status).toBe(200);

    const bSide = await callee.result;
    expectSuccess(bSide, 'SIPp callee');
    const invite = tracedMessages(bSide, 'received', /^INVITE /)[0] ?? '';
    expect(bodyOf(invite)).toBe(asTraced(PLAIN_RTP));
    expect(headerValues(invite, 'P-Asserted-Identity').join(',')).toContain(impuOf(a, DOMAIN));
    expect(headerValues(invite, 'Via')[0]).toMatch(/^SIP\/2\.0\/UDP 127\.0\.0\.1:/);
    expect(tracedMessages(bSide, 'received', /^BYE /)).toHaveLength(1);

    expect(await core.showSubscriber(impuOf(a, DOMAIN))).toMatch(REGISTERED);
    await caller.close();
    await waitUntilNotRegistered(a);
  });

  it('delivers to a WSS client a MESSAGE a SIPp UAC sends over TCP; once its socket closes, a call to it gets 480', async () => {
    const [c, d] = [await newUser(core), await newUser(core)];
    const { ua: browser } = await wssUa(c);
    expect((await browser.register()).status).toBe(200);

    const sending = runImsSipp(core, d, 'ims-message-sender', { transport: 't1', keys: { callee: c.number } });
    const message = await browser.nextRequest('MESSAGE');
    browser.respond(message, 200, 'OK');
    expectSuccess(await sending, 'MESSAGE sender over TCP');
    expect(message.body.toString()).toContain(`hello from ${d.number}`);
    expect(message.get('p-asserted-identity')).toContain(impuOf(d, DOMAIN));

    await browser.close();
    await waitUntilNotRegistered(c);
    const call = await runImsSipp(core, d, 'ims-caller-rejected', { keys: { callee: c.number, expect: '480' } });
    expectSuccess(call, 'call to a closed WSS client (expecting 480)');
  });

  it('carries a browser\'s WebRTC offer unchanged to a SIPp UAS over UDP; the call sets up and tears down', async () => {
    const [e, f] = [await newUser(core), await newUser(core)];
    const callee = await startImsCallee(core, f, 'answer');
    const { ua: browser } = await wssUa(e);
    expect((await browser.register()).status).toBe(200);
    const ok = await browser.request('INVITE', `sip:${f.number}@${DOMAIN}`, { body: WEBRTC });
    expect(ok.status).toBe(200);
    browser.ack(ok);
    expect((await browser.bye(ok)).status).toBe(200);
    const fSide = await callee.result;
    expectSuccess(fSide, 'SIPp callee');
    expect(bodyOf(tracedMessages(fSide, 'received', /^INVITE /)[0] ?? '')).toBe(asTraced(WEBRTC));
    await browser.close();
  });

  it('refuses with 488 and Warning 302 a plain RTP offer to a user reachable only from a browser', async () => {
    const [g, h] = [await newUser(core), await newUser(core)];
    const { ua: browser } = await wssUa(g);
    expect((await browser.register()).status).toBe(200);
    const phone = await tlsUa(h);
    expect((await phone.register()).status).toBe(200);
    const refused = await phone.request('INVITE', `sip:${g.number}@${DOMAIN}`, { body: PLAIN_RTP });
    phone.ackFailure(refused);
    expect(refused.status).toBe(488);
    expect(refused.get('warning')).toMatch(/^302 \S+ "Incompatible transport protocol: .*DTLS-SRTP/);
    // The browser never saw the INVITE, and stays reachable for chat.
    const text = phone.request('MESSAGE', `sip:${g.number}@${DOMAIN}`, { body: 'still reachable for chat', type: 'text/plain' });
    browser.respond(await browser.nextRequest('MESSAGE'), 200, 'OK');
    expect((await text).status).toBe(200);
    expect(browser.requests.pending.filter((r) => r.method === 'INVITE')).toEqual([]);
    await Promise.all([browser.close(), phone.close()]);
  });
});

describe('public GRUUs (RFC 5627) over TLS and WSS', () => {
  it('target one device of a user; the other hears of its socket closing by reg-event, and its GRUU then gets 480', async () => {
    const [u, v] = [await newUser(core), await newUser(core)];
    const desk = await tlsUa(u);
    const { ua: laptop } = await wssUa(u);
    await desk.register();
    const ok = await laptop.register();
    expect(ok.status).toBe(200);
    expect(ok.getAll('contact')).toHaveLength(2);
    const deskGruu = gruuOf(ok, desk.instance);
    const laptopGruu = gruuOf(ok, laptop.instance);
    expect(laptopGruu).toBe(`sip:${u.number}@${DOMAIN};gr=${laptop.instance.slice(1, -1)}`);
    expect(deskGruu).not.toBe(laptopGruu);

    const sender = await tlsUa(v);
    expect((await sender.register()).status).toBe(200);
    const send = (to: string, text: string) => sender.request('MESSAGE', to, { body: text, type: 'text/plain' });

    // To the AoR: both devices.
    const toBoth = send(`sip:${u.number}@${DOMAIN}`, 'to everyone');
    for (const device of [desk, laptop]) device.respond(await device.nextRequest('MESSAGE'), 200, 'OK');
    expect((await toBoth).status).toBe(200);

    // To the laptop's GRUU: the laptop only.
    const toLaptop = send(laptopGruu, 'to the laptop');
    const got = await laptop.nextRequest('MESSAGE');
    expect(got.body.toString()).toBe('to the laptop');
    laptop.respond(got, 200, 'OK');
    expect((await toLaptop).status).toBe(200);
    await expect(desk.nextRequest('MESSAGE', 500)).rejects.toThrow(/no MESSAGE request/);

    // The desk watches the registration; the laptop's socket closes.
    const subscribed = desk.request('SUBSCRIBE', `sip:${u.number}@${DOMAIN}`, {
      headers: ['Event: reg', 'Accept: application/reginfo+xml', 'Expires: 600'],
    });
    const first = await desk.nextRequest('NOTIFY');
    desk.respond(first, 200, 'OK');
    expect((await subscribed).status).toBeLessThan(300);
    expect(first.body.toString().match(/state="active"/g)?.length).toBeGreaterThanOrEqual(3);
    await laptop.close();
    const update = await desk.nextRequest('NOTIFY');
    desk.respond(update, 200, 'OK');
    expect(update.body.toString()).toMatch(/<contact [^>]*state="terminated"[^>]*event="deactivated"|<contact [^>]*event="deactivated"[^>]*state="terminated"/);

    expect((await send(laptopGruu, 'anyone there?')).status).toBe(480);
    const toDesk = send(deskGruu, 'to the desk');
    desk.respond(await desk.nextRequest('MESSAGE'), 200, 'OK');
    expect((await toDesk).status).toBe(200);
    await Promise.all([desk.close(), sender.close()]);
  });
});
