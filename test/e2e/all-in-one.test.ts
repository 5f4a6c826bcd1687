/**
 * End-to-end acceptance of the all-in-one IMS core (issue 3) with real SIP clients on
 * loopback: SIPp (test/sipp/ims-*.xml) and the baresip softphone, against
 * `node bin/tidewater.js all-in-one` started on free ports (test/harness/ims.ts).
 * Each test provisions its own subscribers, so no binding of one test is seen by another.
 */
import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SipResponse, computeHa1, computeResponse, formatCredentials, parseDigestChallenge, parseMessage } from '../../src/sip/index.js';
import { registerBaresip, startBaresip, type Baresip } from '../harness/baresip.js';
import {
  impuOf,
  userFactory,
  bodyOf,
  headerValues,
  runImsSipp,
  startAllInOne,
  startImsCallee,
  tracedMessages,
  type AllInOne,
  type ImsSippResult,
  type SipCore,
  type TestUser,
} from '../harness/ims.js';
import { requireTool } from '../harness/tools.js';

/** Smallest binding lifetime the core is configured to accept (registration.minExpires). */
const MIN_EXPIRES = 2;
const DOMAIN = 'example.com';
const REGISTERED = /\bREGISTERED\b/;

const newUser = userFactory(6505551000);

const impu = (user: TestUser): string => impuOf(user, DOMAIN);

/** Asserts that a SIPp run succeeded, showing its trace and the server's output when not. */
function expectSuccess(res: ImsSippResult, core: AllInOne, what: string): void {
  const why = `${what} failed (exit ${res.exitCode}):\n${res.log}\n${res.errors.slice(-3000)}\n--- server ---\n${core.output().slice(-3000)}`;
  expect(res.exitCode, why).toBe(0);
}

async function startCore(extra: Record<string, unknown> = {}): Promise<AllInOne> {
  return startAllInOne({ config: { registration: { minExpires: MIN_EXPIRES, defaultExpires: 600 }, ...extra } });
}

describe('all-in-one IMS core with real SIP clients', () => {
  let core: AllInOne;

  beforeAll(async () => {
    requireTool('sipp', 'sip-tester');
    core = await startCore();
  });
  afterAll(async () => {
    await core?.dispose();
  });

  describe('registration', () => {
    it('registers a SIPp client over UDP after a Digest challenge offering MD5 first, then SHA-256', async () => {
      const a = await newUser(core);
      const res = await runImsSipp(core, a, 'ims-register', { keys: { ims_check: '1' } });
      expectSuccess(res, core, 'REGISTER over UDP');
      const challenge = tracedMessages(res, 'received', /^SIP\/2\.0 401 /)[0] ?? '';
      const offers = headerValues(challenge, 'WWW-Authenticate');
      expect(offers[0]).toMatch(/algorithm=MD5\b/i);
      expect(offers.some((o) => /algorithm=SHA-256\b/i.test(o))).toBe(true);
      expect(offers.every((o) => /qop="auth"/.test(o) && /realm="example\.com"/.test(o))).toBe(true);
      const ok = tracedMessages(res, 'received', /^SIP\/2\.0 200 /)[0] ?? '';
      expect(headerValues(ok, 'P-Associated-URI').join(',')).toContain(impu(a));
      expect(headerValues(ok, 'Contact').join(',')).toMatch(/expires=\d+/);
      expect(await core.showSubscriber(impu(a))).toMatch(REGISTERED);
    });

    it('registers a SIPp client over TCP with Service-Route, P-Associated-URI and Path in the 200', async () => {
      const a = await newUser(core);
      const res = await runImsSipp(core, a, 'ims-register', { transport: 't1', keys: { ims_check: '1' } });
      expectSuccess(res, core, 'REGISTER over TCP');
    });

    it('refuses a wrong password with 403', async () => {
      const a = await newUser(core);
      const res = await runImsSipp(core, { ...a, password: 'not-the-password' }, 'ims-register-wrong-password');
      expectSuccess(res, core, 'REGISTER with a wrong password (expecting 403)');
      expect(await core.showSubscriber(impu(a))).not.toMatch(REGISTERED);
    });

    it('refuses a REGISTER that replays an Authorization header with the same nonce-count', async () => {
      const a = await newUser(core);
      const res = await runImsSipp(core, a, 'ims-register-replay');
      expectSuccess(res, core, 'replayed REGISTER (expecting 401 or 403)');
      expect(res.log).toContain('replayed Authorization refused');
    });

    it('refuses a binding shorter than the minimum with 423 and Min-Expires', async () => {
      const a = await newUser(core);
      const res = await runImsSipp(core, a, 'ims-register-too-brief', { expires: MIN_EXPIRES - 1 });
      expectSuccess(res, core, 'too brief REGISTER (expecting 423)');
      expect(res.log).toContain(`Min-Expires ${MIN_EXPIRES}`);
    });

    it('lets a binding expire by itself, without client traffic; calls then get 480', async () => {
      const [a, b] = [await newUser(core), await newUser(core)];
      expectSuccess(await runImsSipp(core, b, 'ims-register', { expires: MIN_EXPIRES }), core, 'REGISTER');
      expect(await core.showSubscriber(impu(b))).toMatch(REGISTERED);
      await waitUntilNotRegistered(core, b, 15_000);
      const call = await runImsSipp(core, a, 'ims-caller-rejected', { keys: { callee: b.number, expect: '480' } });
      expectSuccess(call, core, 'call to an expired binding (expecting 480)');
    });
  });

  describe('calls between SIPp clients', () => {
    it('connects A on UDP to B on TCP: INVITE/180/200/ACK/BYE, SDP untouched, A asserted, edge record-routed', async () => {
      const [a, b] = [await newUser(core), await newUser(core)];
      const callee = await startImsCallee(core, b, 'answer', { transport: 't1' });
      const caller = await runImsSipp(core, a, 'ims-caller-call', { keys: { callee: b.number } });
      expectSuccess(caller, core, 'caller A');
      const bSide = await callee.result;
      expectSuccess(bSide, core, 'callee B');
      const sent = tracedMessages(caller, 'sent', /^INVITE /)[0] ?? '';
      const received = tracedMessages(bSide, 'received', /^INVITE /)[0] ?? '';
      expect(bodyOf(sent)).toMatch(/^v=0\no=caller /);
      expect(bodyOf(received)).toBe(bodyOf(sent));
      expect(headerValues(received, 'P-Asserted-Identity').join(',')).toContain(impu(a));
      expect(headerValues(received, 'Record-Route').length).toBeGreaterThan(0);
      expect(tracedMessages(caller, 'received', /^SIP\/2\.0 180 /).length).toBeGreaterThan(0);
      expect(tracedMessages(bSide, 'received', /^ACK /).length).toBeGreaterThan(0);
      expect(tracedMessages(bSide, 'received', /^BYE /).length).toBeGreaterThan(0);
    });

    it('relays a CANCEL: the ringing callee gets it and the caller gets 487', async () => {
      const [a, b] = [await newUser(core), await newUser(core)];
      const callee = await startImsCallee(core, b, 'ring');
      const caller = await runImsSipp(core, a, 'ims-caller-cancel', { keys: { callee: b.number } });
      expectSuccess(caller, core, 'cancelling caller');
      const bSide = await callee.result;
      expectSuccess(bSide, core, 'ringing callee');
      expect(tracedMessages(bSide, 'received', /^CANCEL /).length).toBeGreaterThan(0);
      expect(tracedMessages(caller, 'received', /^SIP\/2\.0 487 /).length).toBeGreaterThan(0);
    });

    it('passes a busy callee\'s 486 to the caller', async () => {
      const [a, b] = [await newUser(core), await newUser(core)];
      const callee = await startImsCallee(core, b, 'busy', { transport: 't1' });
      const caller = await runImsSipp(core, a, 'ims-caller-rejected', { keys: { callee: b.number, expect: '486' } });
      expectSuccess(caller, core, 'caller expecting 486');
      expectSuccess(await callee.result, core, 'busy callee');
    });

    it('answers 480 for a provisioned callee that is not registered', async () => {
      const [a, b] = [await newUser(core), await newUser(core)];
      const caller = await runImsSipp(core, a, 'ims-caller-rejected', { keys: { callee: b.number, expect: '480' } });
      expectSuccess(caller, core, 'caller expecting 480');
    });

    it('answers 404 for an unknown number', async () => {
      const a = await newUser(core);
      const caller = await runImsSipp(core, a, 'ims-caller-rejected', { keys: { callee: '6505559999', expect: '404' } });
      expectSuccess(caller, core, 'caller expecting 404');
    });

    it('refuses with 403 an INVITE from a flow that never registered', async () => {
      const [a, b] = [await newUser(core), await newUser(core)];
      const caller = await runImsSipp(core, a, 'ims-caller-rejected', { keys: { callee: b.number, expect: '403', register: '0' } });
      expectSuccess(caller, core, 'unregistered caller expecting 403');
    });

    it('rings both contacts of a callee registered twice; the first to answer wins, the other gets CANCEL', async () => {
      const [a, b] = [await newUser(core), await newUser(core)];
      const answering = await startImsCallee(core, b, 'answer');
      const ringing = await startImsCallee(core, b, 'ring', { transport: 't1' });
      const caller = await runImsSipp(core, a, 'ims-caller-call', { keys: { callee: b.number } });
      expectSuccess(caller, core, 'caller');
      const [won, lost] = [await answering.result, await ringing.result];
      expectSuccess(won, core, 'answering contact');
      expectSuccess(lost, core, 'ringing contact');
      expect(tracedMessages(won, 'sent', /^SIP\/2\.0 180 /).length).toBeGreaterThan(0);
      expect(tracedMessages(lost, 'sent', /^SIP\/2\.0 180 /).length).toBeGreaterThan(0);
      expect(tracedMessages(lost, 'received', /^CANCEL /).length).toBeGreaterThan(0);
      expect(tracedMessages(won, 'received', /^BYE /).length).toBeGreaterThan(0);
    });

    it('delivers a MESSAGE with the sender\'s asserted identity', async () => {
      const [a, b] = [await newUser(core), await newUser(core)];
      const receiver = await startImsCallee(core, b, 'message', { transport: 't1' });
      const sender = await runImsSipp(core, a, 'ims-message-sender', { keys: { callee: b.number } });
      expectSuccess(sender, core, 'MESSAGE sender');
      const bSide = await receiver.result;
      expectSuccess(bSide, core, 'MESSAGE receiver');
      const message = tracedMessages(bSide, 'received', /^MESSAGE /)[0] ?? '';
      expect(headerValues(message, 'P-Asserted-Identity').join(',')).toContain(impu(a));
      expect(bodyOf(message)).toContain(`hello from ${a.number}`);
    });
  });
});

/**
 * baresip 1.0.0 (libre) gives up on a 401 that carries any challenge other than MD5 ("Register:
 * Function not implemented"), so its core offers MD5 only (auth.algorithms).
 */
describe('baresip softphone', () => {
  let core: AllInOne;
  const phones: Baresip[] = [];
  beforeAll(async () => {
    requireTool('sipp', 'sip-tester');
    requireTool('baresip', 'baresip-core');
    core = await startCore({ auth: { algorithms: ['MD5'] } });
  });
  afterAll(async () => {
    await Promise.all(phones.map((p) => p.stop()));
    await core?.dispose();
  });

  async function phoneFor(user: TestUser, c: SipCore, transport: 'udp' | 'tcp', answermode: 'auto' | 'manual'): Promise<Baresip> {
    const phone = await startBaresip();
    phones.push(phone);
    await registerBaresip(phone, { ...user, domain: c.domain, proxyPort: c.sipPort, transport, answermode });
    return phone;
  }

  it('registers baresip and completes a call to a SIPp callee', async () => {
    const [a, b] = [await newUser(core), await newUser(core)];
    const phone = await phoneFor(a, core, 'udp', 'manual');
    const callee = await startImsCallee(core, b, 'answer');
    await phone.cmd('dial', `sip:${b.number}@${DOMAIN}`);
    await phone.waitEvent((e) => e.type === 'CALL_ESTABLISHED', 10_000);
    await phone.cmd('hangup');
    await phone.waitEvent((e) => e.type === 'CALL_CLOSED', 10_000);
    const bSide = await callee.result;
    expectSuccess(bSide, core, 'SIPp callee of baresip');
    const invite = tracedMessages(bSide, 'received', /^INVITE /)[0] ?? '';
    expect(headerValues(invite, 'P-Asserted-Identity').join(',')).toContain(impu(a));
  });

  it('lets baresip registered over TCP answer a call from SIPp', async () => {
    const [a, b] = [await newUser(core), await newUser(core)];
    const phone = await phoneFor(b, core, 'tcp', 'auto');
    const caller = await runImsSipp(core, a, 'ims-caller-call', { keys: { callee: b.number } });
    expectSuccess(caller, core, 'SIPp caller of baresip');
    const established = await phone.waitEvent((e) => e.type === 'CALL_ESTABLISHED', 10_000);
    expect(established.direction).toBe('incoming');
    await phone.waitEvent((e) => e.type === 'CALL_CLOSED', 10_000);
  });
});

describe('all-in-one restart', () => {
  let core: AllInOne;
  beforeAll(async () => {
    requireTool('sipp', 'sip-tester');
    core = await startCore();
  });
  afterAll(async () => {
    await core?.dispose();
  });

  it('keeps a registration across a restart: a callee registered before is reached after', async () => {
    const [a, b] = [await newUser(core), await newUser(core)];
    const callee = await startImsCallee(core, b, 'answer', { timeoutSec: 45 });
    await core.restart();
    expect(await core.showSubscriber(impu(b))).toMatch(REGISTERED);
    const caller = await runImsSipp(core, a, 'ims-caller-call', { keys: { callee: b.number } });
    expectSuccess(caller, core, 'caller after restart');
    expectSuccess(await callee.result, core, 'callee registered before the restart');
  });

  it('refuses after a restart an Authorization answered before it (401 stale=true); the fresh challenge registers', async () => {
    const a = await newUser(core);
    const ua = await UdpRegisterer.open(core, a);
    try {
      const challenge = await ua.register();
      expect(challenge.status).toBe(401);
      const authorization = ua.answer(challenge, '00000001');
      expect((await ua.register(authorization)).status).toBe(200);
      await core.restart();
      // the nonce counts are kept in memory: a nonce from before the start is stale, never accepted again
      const replayed = await ua.register(authorization);
      expect(replayed.status).toBe(401);
      const fresh = replayed.getAll('www-authenticate').map((c) => parseDigestChallenge(c)!);
      expect(fresh.every((c) => c.stale === true)).toBe(true);
      expect((await ua.register(ua.answer(replayed, '00000001'))).status).toBe(200);
      expect(await core.showSubscriber(impu(a))).toMatch(REGISTERED);
    } finally {
      ua.close();
    }
  });

  it('stops on SIGTERM with exit code 0', async () => {
    const status = await core.stop();
    expect(status).toEqual({ code: 0, signal: null });
  });
});

/** Polls `subscriber show` (no SIP traffic) until `user` is no longer REGISTERED. */
async function waitUntilNotRegistered(core: AllInOne, user: TestUser, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let shown = '';
  while (Date.now() < deadline) {
    shown = await core.showSubscriber(impu(user));
    if (!REGISTERED.test(shown)) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${impu(user)} still registered after ${timeoutMs} ms:\n${shown}`);
}

/** REGISTERs over UDP from one socket with hand-made Digest answers (MD5, qop=auth), to replay one. */
class UdpRegisterer {
  private cseq = 0;
  private readonly callId = `udp-${randomBytes(6).toString('hex')}`;
  private readonly waiting = new Map<number, (res: SipResponse) => void>();

  private constructor(
    private readonly socket: dgram.Socket,
    private readonly core: AllInOne,
    private readonly user: TestUser,
  ) {
    socket.on('message', (data) => {
      const msg = parseMessage(data);
      if (msg instanceof SipResponse && msg.status >= 200) this.waiting.get(msg.cseq.seq)?.(msg);
    });
  }

  static async open(core: AllInOne, user: TestUser): Promise<UdpRegisterer> {
    const socket = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
    return new UdpRegisterer(socket, core, user);
  }

  /** Sends a REGISTER (with `authorization`, if given) and resolves with its final response. */
  register(authorization?: string): Promise<SipResponse> {
    const cseq = ++this.cseq;
    const port = this.socket.address().port;
    const aor = `sip:${this.user.number}@${DOMAIN}`;
    const lines = [
      `REGISTER sip:${DOMAIN} SIP/2.0`,
      `Via: SIP/2.0/UDP 127.0.0.1:${port};branch=z9hG4bK${randomBytes(6).toString('hex')};rport`,
      'Max-Forwards: 70',
      `From: <${aor}>;tag=udp`,
      `To: <${aor}>`,
      `Call-ID: ${this.callId}`,
      `CSeq: ${cseq} REGISTER`,
      `Contact: <sip:${this.user.number}@127.0.0.1:${port}>`,
      'Expires: 600',
      ...(authorization === undefined ? [] : [`Authorization: ${authorization}`]),
      'Content-Length: 0',
    ];
    const answered = new Promise<SipResponse>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no final response to REGISTER CSeq ${cseq}`)), 10_000);
      this.waiting.set(cseq, (res) => (clearTimeout(timer), resolve(res)));
    });
    this.socket.send(`${lines.join('\r\n')}\r\n\r\n`, this.core.sipPort, '127.0.0.1');
    return answered;
  }

  /** The Authorization answering the MD5 challenge of `res`, with nonce-count `nc`. */
  answer(res: SipResponse, nc: string): string {
    const challenge = res.getAll('www-authenticate').map((c) => parseDigestChallenge(c)!).find((c) => (c.algorithm ?? 'MD5') === 'MD5')!;
    const username = `${this.user.number}@${DOMAIN}`;
    const uri = `sip:${DOMAIN}`;
    const cnonce = randomBytes(8).toString('hex');
    const ha1 = computeHa1('MD5', username, challenge.realm!, this.user.password);
    const response = computeResponse({ algorithm: 'MD5', ha1, nonce: challenge.nonce!, nc, cnonce, qop: 'auth', method: 'REGISTER', uri });
    return formatCredentials({ username, realm: challenge.realm!, nonce: challenge.nonce!, uri, response, algorithm: 'MD5', qop: 'auth', nc, cnonce });
  }

  close(): void {
    this.socket.close();
  }
}
