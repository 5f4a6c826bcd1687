/**
 * Initial Filter Criteria and the ISC interface end to end (issue 6): the all-in-one with SIPp
 * as the subscribers and as the external application server (test/sipp/ims-as-*.xml), each
 * number and its iFCs provisioned through the portal's REST API with the operator's API key.
 * Each scenario checks what the caller, the callee and the AS actually received (SIPp traces).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  bodyOf,
  headerValues,
  runImsSipp,
  startAllInOne,
  startImsCallee,
  tracedMessages,
  type AllInOne,
  type ImsCallee,
  type ImsSippResult,
} from '../harness/ims.js';
import { PortalOperator, serviceProfile, type IfcSpec, type PortalNumber } from '../harness/portal-operator.js';
import { parseSippMessages, startSippUas, type SippResult, type SippUas } from '../harness/sipp.js';
import { freePort, requireTool } from '../harness/tools.js';

const DOMAIN = 'example.com';
const API_KEY = 'ifc-e2e-operator-key-0123456789';
/** ifc.asTimeoutMs of the core under test (the default is 2000). */
const AS_TIMEOUT_MS = 1000;
const SCSCF_URI = `sip:scscf.${DOMAIN}`;
/** An INVITE in the terminating session case of a registered callee (TS 29.228 SessionCase 1). */
const TERMINATING_INVITE = ['<Method>INVITE</Method>', '<SessionCase>1</SessionCase>'];
const REGISTERED = /\bREGISTERED\b/;

let core: AllInOne;
let operator: PortalOperator;

function expectSipp(res: SippResult | ImsSippResult, what: string): void {
  const log = 'log' in res ? res.log : '';
  const why = `${what} failed (exit ${res.exitCode}):\n${log}\n${res.errors.slice(-3000)}\n${res.messages.slice(-4000)}\n--- server ---\n${core.output().slice(-3000)}`;
  expect(res.exitCode, why).toBe(0);
}

/** A SIPp application server on a free UDP port of 127.0.0.1, playing `scenario` once. */
async function startAs(scenario: string, keys: Record<string, string> = {}): Promise<SippUas & { uri: string }> {
  const port = await freePort('udp');
  const uas = await startSippUas({ scenario, localPort: port, keys: { domain: DOMAIN, ...keys }, timeoutSec: 20 });
  return { ...uas, uri: `sip:127.0.0.1:${port}` };
}

/** A number from the portal with `ifcs` (none: no iFC provisioned). */
async function number(ifcs: (n: PortalNumber) => IfcSpec[] = () => []): Promise<PortalNumber> {
  const n = await operator.allocate();
  const list = ifcs(n);
  if (list.length) await operator.putIfcs(n, serviceProfile(n.sipUri, list));
  return n;
}

/** Requests of `method` a SIPp run received. */
function received(res: SippResult, method: string): string[] {
  return tracedMessages(res, 'received', new RegExp(`^${method} `));
}

/** Status codes of the final responses to INVITE a SIPp run received. */
function inviteFinals(res: SippResult): number[] {
  return parseSippMessages(res.messages)
    .filter((m) => m.direction === 'received' && m.startLine.startsWith('SIP/2.0 ') && headerValues(m.text, 'CSeq').some((c) => / INVITE$/.test(c)))
    .map((m) => Number(m.startLine.split(' ')[1]))
    .filter((s) => s >= 200);
}

/** Stops a callee that should have got nothing and returns the INVITEs it got. */
async function invitesAt(callee: ImsCallee): Promise<string[]> {
  return received(await callee.stop(), 'INVITE');
}

beforeAll(async () => {
  requireTool('sipp', 'sip-tester');
  core = await startAllInOne({
    domain: DOMAIN,
    config: { apiKey: API_KEY, registration: { minExpires: 2, defaultExpires: 600 }, ifc: { asTimeoutMs: AS_TIMEOUT_MS } },
  });
  operator = await PortalOperator.start(core, API_KEY, 'isc-tests@example.net');
});

afterAll(async () => {
  await core?.dispose();
});

describe('a terminating application server over ISC', () => {
  it('that proxies: the callee gets the call with the header the AS added, the caller gets 200', async () => {
    const as = await startAs('ims-as-proxy');
    const [caller, callee] = [await number(), await number(() => [{ serverName: as.uri, spts: TERMINATING_INVITE }])];
    const bSide = await startImsCallee(core, callee, 'answer');
    const aSide = await runImsSipp(core, caller, 'ims-caller-call', { keys: { callee: callee.number } });
    expectSipp(aSide, 'caller');
    const [bResult, asResult] = [await bSide.result, await as.result];
    expectSipp(bResult, 'callee');
    expectSipp(asResult, 'AS');

    const atAs = received(asResult, 'INVITE')[0] ?? '';
    expect(headerValues(atAs, 'P-Served-User')).toEqual([`<${callee.sipUri}>;sescase=term;regstate=reg`]);
    expect(headerValues(atAs, 'Route')).toEqual([`<${as.uri};lr>`, expect.stringMatching(new RegExp(`^<sip:odi-[\\w-]+@scscf\\.${DOMAIN};lr>$`))]);
    const sent = tracedMessages(aSide, 'sent', /^INVITE /)[0] ?? '';
    const atCallee = received(bResult, 'INVITE')[0] ?? '';
    expect(headerValues(atCallee, 'X-Tidewater-AS')).toEqual(['proxied-by-sipp']);
    expect(headerValues(atCallee, 'P-Served-User')).toEqual([]);
    expect(headerValues(atCallee, 'P-Asserted-Identity').join()).toContain(caller.sipUri);
    expect(bodyOf(atCallee).trim()).toBe(bodyOf(sent).trim());
    expect(inviteFinals(aSide)).toEqual([200]);
  });

  it('that answers 404 with DefaultHandling terminate: the caller gets the 404, the callee nothing', async () => {
    const as = await startAs('ims-as-reject', { status: '404' });
    const [caller, callee] = [await number(), await number(() => [{ serverName: as.uri, spts: TERMINATING_INVITE, defaultHandling: 1 }])];
    const bSide = await startImsCallee(core, callee, 'answer');
    const aSide = await runImsSipp(core, caller, 'ims-as-caller-final', { keys: { callee: callee.number, expect: '404' } });
    expectSipp(aSide, 'caller expecting 404');
    expectSipp(await as.result, 'AS');
    expect(tracedMessages(aSide, 'received', /^SIP\/2\.0 404 /).map((m) => m.split('\n')[0])).toEqual(['SIP/2.0 404 Refused by the application server']);
    expect(received(await as.result, 'INVITE')).toHaveLength(1);
    expect(await invitesAt(bSide)).toEqual([]);
  });

  it('that answers 404 with DefaultHandling continue: still the 404 (an answer, not an AS failure: TS 24.229 §5.4.3.3)', async () => {
    const as = await startAs('ims-as-reject', { status: '404' });
    const [caller, callee] = [await number(), await number(() => [{ serverName: as.uri, spts: TERMINATING_INVITE, defaultHandling: 0 }])];
    const bSide = await startImsCallee(core, callee, 'answer');
    const aSide = await runImsSipp(core, caller, 'ims-as-caller-final', { keys: { callee: callee.number, expect: '404' } });
    expectSipp(aSide, 'caller expecting 404');
    expectSipp(await as.result, 'AS');
    expect(tracedMessages(aSide, 'received', /^SIP\/2\.0 404 /).map((m) => m.split('\n')[0])).toEqual(['SIP/2.0 404 Refused by the application server']);
    expect(await invitesAt(bSide)).toEqual([]);
  });

  it('that fails (503) with DefaultHandling continue: skipped, the call reaches the callee', async () => {
    const as = await startAs('ims-as-reject', { status: '503' });
    const [caller, callee] = [await number(), await number(() => [{ serverName: as.uri, spts: TERMINATING_INVITE, defaultHandling: 0 }])];
    const bSide = await startImsCallee(core, callee, 'answer');
    const aSide = await runImsSipp(core, caller, 'ims-caller-call', { keys: { callee: callee.number } });
    expectSipp(aSide, 'caller');
    const asResult = await as.result;
    expectSipp(asResult, 'AS');
    expect(received(asResult, 'INVITE')).toHaveLength(1);
    expect(received(await bSide.result, 'INVITE')).toHaveLength(1);
    expect(inviteFinals(aSide)).toEqual([200]);
  });

  it('that fails (503) with DefaultHandling terminate: the caller gets 500, the callee nothing', async () => {
    const as = await startAs('ims-as-reject', { status: '503' });
    const [caller, callee] = [await number(), await number(() => [{ serverName: as.uri, spts: TERMINATING_INVITE, defaultHandling: 1 }])];
    const bSide = await startImsCallee(core, callee, 'answer');
    const aSide = await runImsSipp(core, caller, 'ims-as-caller-final', { keys: { callee: callee.number, expect: '500' } });
    expectSipp(aSide, 'caller expecting 500');
    expectSipp(await as.result, 'AS');
    expect(await invitesAt(bSide)).toEqual([]);
  });

  it('that never answers, with DefaultHandling continue: the call reaches the callee after ifc.asTimeoutMs', async () => {
    const silent = `sip:127.0.0.1:${await freePort('udp')}`;
    const [caller, callee] = [await number(), await number(() => [{ serverName: silent, spts: TERMINATING_INVITE, defaultHandling: 0 }])];
    const bSide = await startImsCallee(core, callee, 'answer');
    const started = Date.now();
    const aSide = await runImsSipp(core, caller, 'ims-caller-call', { keys: { callee: callee.number } });
    expectSipp(aSide, 'caller');
    expect(Date.now() - started).toBeGreaterThanOrEqual(AS_TIMEOUT_MS);
    expect(received(await bSide.result, 'INVITE')).toHaveLength(1);
  });

  it('that redirects: the caller receives the 302 with the AS’s Contact, the callee nothing', async () => {
    const as = await startAs('ims-as-redirect', { target: '6505559998' });
    const [caller, callee] = [await number(), await number(() => [{ serverName: as.uri, spts: TERMINATING_INVITE }])];
    const bSide = await startImsCallee(core, callee, 'answer');
    const aSide = await runImsSipp(core, caller, 'ims-as-caller-final', { keys: { callee: callee.number, expect: '302' } });
    expectSipp(aSide, 'caller expecting 302');
    expectSipp(await as.result, 'AS');
    expect(aSide.log).toMatch(/contact:\s+<sip:6505559998@example\.com>/);
    expect(await invitesAt(bSide)).toEqual([]);
  });

  it('that acts as a B2BUA: its new leg, sent back with the token, reaches the callee; the caller talks to the AS', async () => {
    const [caller, callee] = [await number(), await operator.allocate()];
    const as = await startAs('ims-as-b2bua', { callee: callee.number });
    await operator.putIfcs(callee, serviceProfile(callee.sipUri, [{ serverName: as.uri, spts: TERMINATING_INVITE }]));
    const bSide = await startImsCallee(core, callee, 'answer');
    const aSide = await runImsSipp(core, caller, 'ims-caller-call', { keys: { callee: callee.number } });
    expectSipp(aSide, 'caller');
    const [bResult, asResult] = [await bSide.result, await as.result];
    expectSipp(bResult, 'callee');
    expectSipp(asResult, 'AS (B2BUA)');

    const legA = tracedMessages(aSide, 'sent', /^INVITE /)[0] ?? '';
    const atCallee = received(bResult, 'INVITE')[0] ?? '';
    expect(headerValues(atCallee, 'X-Tidewater-AS')).toEqual(['b2bua-leg']);
    expect(headerValues(atCallee, 'Call-ID')[0]).toMatch(/^b2b\/\/\//);
    expect(headerValues(atCallee, 'Call-ID')).not.toEqual(headerValues(legA, 'Call-ID'));
    expect(bodyOf(atCallee)).toMatch(/^v=0\no=b2bua /);
    const answer = tracedMessages(aSide, 'received', /^SIP\/2\.0 200 /).find((m) => headerValues(m, 'CSeq').some((c) => / INVITE$/.test(c))) ?? '';
    expect(headerValues(answer, 'Contact').join()).toMatch(/^<sip:b2bua@127\.0\.0\.1:/);
    expect(received(asResult, 'INVITE')).toHaveLength(1);
    expect(received(asResult, 'BYE')).toHaveLength(1);
  });
});

describe('third-party registration', () => {
  const registerIfc = (serverName: string, defaultHandling: 0 | 1 = 0): IfcSpec[] => [{ serverName, spts: ['<Method>REGISTER</Method>'], defaultHandling }];

  it('tells the AS of the registration and the de-registration: From the S-CSCF, To the identity, Expires as granted', async () => {
    const as = await startAs('ims-as-register', { status: '200' });
    const user = await number(() => registerIfc(as.uri));
    const ue = await runImsSipp(core, user, 'ims-as-ue-register', { expires: 600 });
    expectSipp(ue, 'UE registering and de-registering');
    const asResult = await as.result;
    expectSipp(asResult, 'AS');
    const registers = received(asResult, 'REGISTER');
    expect(registers).toHaveLength(2);
    for (const r of registers) {
      expect(r.split('\n')[0]).toBe(`REGISTER ${as.uri} SIP/2.0`);
      expect(headerValues(r, 'From')[0]).toMatch(new RegExp(`^<${SCSCF_URI}>;tag=`));
      expect(headerValues(r, 'To')).toEqual([`<${user.sipUri}>`]);
      expect(headerValues(r, 'Contact')).toEqual([`<${SCSCF_URI}>`]);
    }
    const expires = registers.map((r) => Number(headerValues(r, 'Expires')[0]));
    expect(expires[0]).toBeGreaterThanOrEqual(599);
    expect(expires[0]).toBeLessThanOrEqual(600);
    expect(expires[1]).toBe(0);
    expect(headerValues(registers[1]!, 'Call-ID')).toEqual(headerValues(registers[0]!, 'Call-ID'));
  });

  it('de-registers the user when the AS fails under DefaultHandling terminate, and tells the AS', async () => {
    const as = await startAs('ims-as-register', { status: '500' });
    const user = await number(() => registerIfc(as.uri, 1));
    const ue = await runImsSipp(core, user, 'ims-register', { expires: 600 });
    expectSipp(ue, 'UE registering');
    const asResult = await as.result;
    expectSipp(asResult, 'AS');
    expect(received(asResult, 'REGISTER').map((r) => headerValues(r, 'Expires')[0])).toEqual([expect.stringMatching(/^(599|600)$/), '0']);
    expect(await core.showSubscriber(user.sipUri)).not.toMatch(REGISTERED);
  });
});
