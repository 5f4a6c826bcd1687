/**
 * End-to-end dialogs and subscriptions through the all-in-one IMS core (issue 3) with SIPp on
 * loopback (test/sipp/ims-dlg-*.xml): the reg event package, requests inside a call in both
 * directions over the edge's Record-Route, number dialing, MESSAGE and OPTIONS, and reliable
 * provisional responses. Each test provisions its own subscribers (numbers from 6505552000,
 * apart from the other e2e files'), so no binding of one test is seen by another.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  impuOf,
  userFactory, bodyOf, headerValues, runImsSipp, startAllInOne, tracedMessages, type AllInOne, type ImsSippResult, type TestUser } from '../harness/ims.js';
import { startImsSipp, startRoleCallee, xmlAttribute, xmlElements } from '../harness/ims-dialogs.js';
import { requireTool } from '../harness/tools.js';

const DOMAIN = 'example.com';

const newUser = userFactory(6505552000);

const impu = (user: TestUser): string => impuOf(user, DOMAIN);

/** Asserts that a SIPp run succeeded, showing its trace and the server's output when not. */
function expectSuccess(res: ImsSippResult, core: AllInOne, what: string): void {
  const why =
    `${what} failed (exit ${res.exitCode}):\n${res.log}\n${res.errors.slice(-3000)}\n--- messages ---\n${res.messages.slice(-6000)}` +
    `\n--- server ---\n${core.output().slice(-3000)}`;
  expect(res.exitCode, why).toBe(0);
}

/** The Contact URI a SIPp run registered (from the REGISTER it sent). */
function registeredContact(res: ImsSippResult): string {
  const register = tracedMessages(res, 'sent', /^REGISTER /)[0] ?? '';
  return /<([^>]+)>/.exec(headerValues(register, 'Contact')[0] ?? '')?.[1] ?? '';
}

/** Messages once each: without the retransmissions (same start line and CSeq) a UDP peer may have sent. */
function once(messages: readonly string[]): string[] {
  const seen = new Set<string>();
  return messages.filter((m) => {
    const key = `${m.split('\n')[0]}\n${headerValues(m, 'CSeq')[0]}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** Status lines of the final responses a SIPp run received to its `method` requests, in order. */
function finals(res: ImsSippResult, method: string): string[] {
  const cseq = new RegExp(`^CSeq: *\\d+ ${method}\\s*$`, 'im');
  return once(tracedMessages(res, 'received', /^SIP\/2\.0 [2-6]\d\d /).filter((m) => cseq.test(m))).map((m) => m.split('\n')[0] ?? '');
}

/** The `<registration>` element of `aor` in a reginfo document (RFC 3680 §5.3). */
function registrationOf(reginfo: string, aor: string): string {
  return xmlElements(reginfo, 'registration').find((r) => xmlAttribute(r, 'aor') === aor) ?? '';
}

/** The version attribute of a reginfo document. */
const version = (reginfo: string): number => Number(xmlAttribute(xmlElements(reginfo, 'reginfo')[0] ?? '', 'version'));

/**
 * A fresh user registers and subscribes to its own reg event (ims-dlg-subscriber.xml); once it
 * got the first NOTIFY, a second SIPp process registers the same identity (UDP, so its binding
 * stays once it exits); the subscriber then unsubscribes. Returns the subscriber's run and both
 * contacts.
 */
async function watchOwnRegistration(core: AllInOne): Promise<{ a: TestUser; res: ImsSippResult; own: string; other: string }> {
  const a = await newUser(core);
  const subscriber = await startImsSipp(core, a, 'ims-dlg-subscriber', { keys: { target: a.number } });
  await subscriber.waitForLog(/^subscribed/m);
  const second = await runImsSipp(core, a, 'ims-register');
  expectSuccess(second, core, 'second registration of the same identity');
  const res = await subscriber.result;
  expectSuccess(res, core, 'subscriber');
  return { a, res, own: `sip:${a.number}@127.0.0.1:${subscriber.port};transport=UDP`, other: registeredContact(second) };
}

describe('all-in-one dialogs and subscriptions with SIPp', () => {
  let core: AllInOne;

  beforeAll(async () => {
    requireTool('sipp', 'sip-tester');
    core = await startAllInOne({ config: { registration: { minExpires: 2, defaultExpires: 600 } } });
  });
  afterAll(async () => {
    await core?.dispose();
  });

  describe('reg event package (RFC 3680)', () => {
    it('notifies a UE subscribed to its own registration over its flow, then again when a second contact registers', async () => {
      const { a, res, own, other } = await watchOwnRegistration(core);

      const ok = tracedMessages(res, 'received', /^SIP\/2\.0 200 /).find((m) => /^CSeq: *1 SUBSCRIBE/im.test(m)) ?? '';
      expect(Number(headerValues(ok, 'Expires')[0])).toBeGreaterThan(0);
      const notifies = once(tracedMessages(res, 'received', /^NOTIFY /));
      expect(notifies.length, res.messages).toBe(3);
      const [first, update, last] = notifies.map(bodyOf) as [string, string, string];
      expect(headerValues(notifies[0]!, 'Content-Type')).toEqual(['application/reginfo+xml']);

      const firstReg = registrationOf(first, impu(a));
      expect(xmlAttribute(firstReg, 'state')).toBe('active');
      expect(xmlElements(firstReg, 'uri')).toEqual([`<uri>${own}</uri>`]);
      expect(xmlElements(firstReg, 'contact').map((c) => xmlAttribute(c, 'state'))).toEqual(['active']);
      expect(headerValues(notifies[0]!, 'Subscription-State')[0]).toMatch(/^active/);

      const updateReg = registrationOf(update, impu(a));
      expect(xmlAttribute(updateReg, 'state')).toBe('active');
      expect(xmlElements(updateReg, 'uri').sort()).toEqual([`<uri>${own}</uri>`, `<uri>${other}</uri>`].sort());
      expect(xmlElements(updateReg, 'contact').map((c) => xmlAttribute(c, 'state'))).toEqual(['active', 'active']);
      expect(version(update)).toBe(version(first) + 1);

      expect(headerValues(notifies[2]!, 'Subscription-State')[0]).toMatch(/^terminated/);
      expect(version(last)).toBe(version(update) + 1);
    });

    it('puts the edge\'s Record-Route in the 200 to a SUBSCRIBE, so refreshes come back through the edge', async () => {
      const { res } = await watchOwnRegistration(core);
      const ok = tracedMessages(res, 'received', /^SIP\/2\.0 200 /).find((m) => /^CSeq: *1 SUBSCRIBE/im.test(m)) ?? '';
      // RFC 3261 §12.1.1: the UAS copies the Record-Route of a dialog-creating request into its 2xx.
      expect(headerValues(ok, 'Record-Route').length, ok).toBeGreaterThan(0);
      const unsubscribe = tracedMessages(res, 'sent', /^SUBSCRIBE /).find((m) => /^CSeq: *2 SUBSCRIBE/im.test(m)) ?? '';
      expect(headerValues(unsubscribe, 'Route').length, unsubscribe).toBeGreaterThan(0);
      expect(finals(res, 'SUBSCRIBE')).toEqual(['SIP/2.0 200 OK', 'SIP/2.0 200 OK']);
    });

    it('refuses with 403 a SUBSCRIBE to the registration state of another user', async () => {
      const [a, b] = [await newUser(core), await newUser(core)];
      expectSuccess(await runImsSipp(core, b, 'ims-register'), core, 'REGISTER of the watched user');
      const res = await runImsSipp(core, a, 'ims-dlg-subscribe-refused', { keys: { target: b.number } });
      expectSuccess(res, core, 'SUBSCRIBE to another user (expecting 403)');
      expect(tracedMessages(res, 'received', /^NOTIFY /)).toEqual([]);
    });
  });

  describe('requests inside a call, through the edge', () => {
    it('carries INFO, a re-INVITE and the callee\'s UPDATE along the Record-Route set, then BYE (A on UDP, B on TCP)', async () => {
      const [a, b] = [await newUser(core), await newUser(core)];
      const callee = await startRoleCallee(core, b, 'ims-dlg-callee-midcall', { transport: 't1' });
      const caller = await runImsSipp(core, a, 'ims-dlg-caller-midcall', { keys: { callee: b.number } });
      expectSuccess(caller, core, 'caller A');
      const bSide = await callee.result;
      expectSuccess(bSide, core, 'callee B');

      const invite = tracedMessages(bSide, 'received', /^INVITE /)[0] ?? '';
      expect(headerValues(invite, 'Record-Route').length).toBeGreaterThan(0);
      const info = once(tracedMessages(bSide, 'received', /^INFO /));
      expect(info.length).toBe(1);
      expect(bodyOf(info[0]!)).toContain('Signal=5');
      const reinvites = once(tracedMessages(bSide, 'received', /^INVITE /)).slice(1);
      expect(reinvites.length).toBe(1);
      expect(bodyOf(reinvites[0]!)).toBe(bodyOf(tracedMessages(caller, 'sent', /^INVITE /)[1] ?? ''));
      expect(bodyOf(reinvites[0]!)).toContain('a=sendonly');
      expect(once(tracedMessages(bSide, 'received', /^ACK /)).length).toBe(2);
      expect(once(tracedMessages(caller, 'received', /^UPDATE /)).length).toBe(1);
      expect(once(tracedMessages(bSide, 'received', /^BYE /)).length).toBe(1);

      expect(finals(caller, 'INFO')).toEqual(['SIP/2.0 200 OK']);
      expect(finals(caller, 'INVITE')).toEqual(['SIP/2.0 200 OK', 'SIP/2.0 200 OK']);
      expect(bodyOf(tracedMessages(caller, 'received', /^SIP\/2\.0 200 /).filter((m) => /^CSeq: *3 INVITE/im.test(m))[0] ?? '')).toContain('a=recvonly');
      expect(finals(bSide, 'UPDATE')).toEqual(['SIP/2.0 200 OK']);
      expect(finals(caller, 'BYE')).toEqual(['SIP/2.0 200 OK']);
      for (const sent of [...tracedMessages(caller, 'sent', /^(INFO|INVITE|ACK|BYE) /).slice(1), ...tracedMessages(bSide, 'sent', /^UPDATE /)]) {
        expect(headerValues(sent, 'Route').length, sent).toBeGreaterThan(0);
      }
    });
  });

  describe('number dialing', () => {
    it('completes a call to a tel URI (Request-URI and To) at the registered SIP identity of that number', async () => {
      const [a, b] = [await newUser(core), await newUser(core)];
      const callee = await startRoleCallee(core, b, 'ims-callee-answer');
      const target = `tel:${b.number}`;
      const caller = await runImsSipp(core, a, 'ims-dlg-caller-uri', { keys: { target } });
      expectSuccess(caller, core, `caller dialling ${target}`);
      const bSide = await callee.result;
      expectSuccess(bSide, core, 'callee');
      const invite = tracedMessages(bSide, 'received', /^INVITE /)[0] ?? '';
      expect(invite.split('\n')[0]).toBe(`INVITE sip:${b.number}@127.0.0.1:${callee.port};transport=UDP SIP/2.0`);
      expect(headerValues(invite, 'To')[0]).toBe(`<${target}>`);
      expect(headerValues(invite, 'P-Asserted-Identity').join(',')).toContain(impu(a));
      expect(once(tracedMessages(bSide, 'received', /^BYE /)).length).toBe(1);
    });

    it('completes a call to sip:+<number>@<home domain>;user=phone', async () => {
      const [a, b] = [await newUser(core), await newUser(core)];
      const callee = await startRoleCallee(core, b, 'ims-callee-answer', { transport: 't1' });
      const target = `sip:+${b.number}@${DOMAIN};user=phone`;
      const caller = await runImsSipp(core, a, 'ims-dlg-caller-uri', { keys: { target } });
      expectSuccess(caller, core, `caller dialling ${target}`);
      const bSide = await callee.result;
      expectSuccess(bSide, core, 'callee');
      const invite = tracedMessages(bSide, 'received', /^INVITE /)[0] ?? '';
      expect(headerValues(invite, 'To')[0]).toBe(`<${target}>`);
      expect(once(tracedMessages(bSide, 'received', /^BYE /)).length).toBe(1);
    });
  });

  describe('requests outside a dialog', () => {
    it('answers 480 to a MESSAGE for a provisioned user that is not registered', async () => {
      const [a, b] = [await newUser(core), await newUser(core)];
      const res = await runImsSipp(core, a, 'ims-dlg-request', { keys: { callee: b.number, method: 'MESSAGE', expect: '480' } });
      expectSuccess(res, core, 'MESSAGE to an unregistered user (expecting 480)');
      expect(finals(res, 'MESSAGE')).toEqual(['SIP/2.0 480 Temporarily Unavailable']);
    });

    it('delivers an OPTIONS to a registered user, whose 200 reaches the sender', async () => {
      const [a, b] = [await newUser(core), await newUser(core)];
      const callee = await startRoleCallee(core, b, 'ims-dlg-callee-options', { transport: 't1', autoAnswer: false });
      const res = await runImsSipp(core, a, 'ims-dlg-request', { keys: { callee: b.number, method: 'OPTIONS', expect: '200' } });
      expectSuccess(res, core, 'OPTIONS to a registered user (expecting 200)');
      const bSide = await callee.result;
      expectSuccess(bSide, core, 'OPTIONS receiver');
      const options = tracedMessages(bSide, 'received', /^OPTIONS /)[0] ?? '';
      expect(headerValues(options, 'P-Asserted-Identity').join(',')).toContain(impu(a));
      const ok = tracedMessages(res, 'received', /^SIP\/2\.0 200 /).find((m) => /^CSeq: *1 OPTIONS/im.test(m)) ?? '';
      expect(headerValues(ok, 'Allow').join(',')).toContain('PRACK');
    });
  });

  describe('reliable provisional responses (RFC 3262)', () => {
    it('carries a 183 with Require: 100rel to the caller and its PRACK to the callee, then the call completes', async () => {
      const [a, b] = [await newUser(core), await newUser(core)];
      const callee = await startRoleCallee(core, b, 'ims-dlg-callee-prack');
      const caller = await runImsSipp(core, a, 'ims-dlg-caller-prack', { keys: { callee: b.number } });
      expectSuccess(caller, core, 'caller sending PRACK');
      const bSide = await callee.result;
      expectSuccess(bSide, core, 'callee sending a reliable 183');
      const progress = tracedMessages(caller, 'received', /^SIP\/2\.0 183 /)[0] ?? '';
      expect(headerValues(progress, 'Require')).toContain('100rel');
      expect(headerValues(progress, 'RSeq')).toEqual(['1']);
      const prack = tracedMessages(bSide, 'received', /^PRACK /)[0] ?? '';
      expect(headerValues(prack, 'RAck')).toEqual(['1 1 INVITE']);
      expect(headerValues(tracedMessages(caller, 'sent', /^PRACK /)[0] ?? '', 'Route').length).toBeGreaterThan(0);
      expect(finals(caller, 'PRACK')).toEqual(['SIP/2.0 200 OK']);
      expect(finals(caller, 'INVITE')).toEqual(['SIP/2.0 200 OK']);
      expect(once(tracedMessages(bSide, 'received', /^BYE /)).length).toBe(1);
    });
  });
});
