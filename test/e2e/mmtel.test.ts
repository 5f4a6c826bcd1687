/**
 * The MMTel application server end to end (issue 6): the all-in-one with SIPp as the caller, the
 * served user and the party a call is diverted to. Every number comes from the portal's REST API
 * with the operator's API key, and so has the default iFC (INVITEs to sip:mmtel.<domain>); its
 * supplementary services are set by PUTting its simservs document there, as an operator's tools
 * would, and apply to the next call. Each scenario checks what the caller, the callee and the
 * diverted-to party received (SIPp traces). Scenarios run concurrently, each on its own numbers.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serializeSimservs, defaultSettings, type BarringRule, type DiversionRule, type SimservsSettings } from '../../src/xdms/index.js';
import {
  bodyOf,
  headerValues,
  runImsSipp,
  startAllInOne,
  startImsCallee,
  tracedMessages,
  type AllInOne,
  type CalleeRole,
  type ImsCallee,
  type ImsSippResult,
} from '../harness/ims.js';
import { PortalOperator, type PortalNumber } from '../harness/portal-operator.js';
import { parseSippMessages } from '../harness/sipp.js';
import { requireTool } from '../harness/tools.js';

const DOMAIN = 'example.com';
const API_KEY = 'mmtel-e2e-operator-key-0123456789';
/** The shortest NoReplyTimer a simservs document may hold (TS 24.604 §4.9.1: 5 to 180 s). */
const NO_REPLY_SECONDS = 5;
const ANONYMOUS_FROM = /^"Anonymous" <sip:anonymous@anonymous\.invalid>;tag=/;

let core: AllInOne;
let operator: PortalOperator;
/** Provisioning goes one request at a time: the portal hands out the lowest free number. */
let provisioning: Promise<unknown> = Promise.resolve();

function serially<T>(work: () => Promise<T>): Promise<T> {
  const next = provisioning.then(work, work);
  provisioning = next.catch(() => undefined);
  return next;
}

function expectSipp(res: ImsSippResult, what: string): void {
  const why = `${what} failed (exit ${res.exitCode}):\n${res.log}\n${res.errors.slice(-3000)}\n${res.messages.slice(-5000)}\n--- server ---\n${core.output().slice(-3000)}`;
  expect(res.exitCode, why).toBe(0);
}

/** The default settings with `change`d services, as a simservs document. */
function simservs(change: Partial<SimservsSettings>): string {
  return serializeSimservs({ ...defaultSettings(), ...change });
}

/** Communication diversion with these rules (TS 24.604), active. */
function diversion(rules: DiversionRule[], noReplyTimer = 20): Partial<SimservsSettings> {
  return { cdiv: { active: true, noReplyTimer, rules } };
}

/** A forward-to rule: `condition` none for unconditional; `media` all enabled in the offer. */
function forwardTo(target: string, condition?: DiversionRule['conditions'][number], media: string[] = []): DiversionRule {
  return { id: `cf-${condition ?? 'all'}`, deactivated: false, media, extraConditions: [], conditions: condition ? [condition] : [], target };
}

/** A barring rule (TS 24.611): the allow-all rule of the default document is replaced by it. */
function barringRule(conditions: BarringRule['conditions'], allow = false): BarringRule {
  return { id: `cb-${conditions.join('-') || 'all'}`, deactivated: false, media: [], extraConditions: [], conditions, allow };
}

/** A number from the portal, with a simservs document when `settings` is given. */
function number(settings?: Partial<SimservsSettings>): Promise<PortalNumber> {
  return serially(async () => {
    const n = await operator.allocate();
    if (settings) await operator.putSimservs(n, simservs(settings));
    return n;
  });
}

interface CallOptions {
  /** The final status the caller must get. */
  readonly expect: number;
  /** Offer video besides audio. */
  readonly video?: boolean;
}

/** `caller` registers and calls `callee` (a number, or digits to dial) with ims-mmtel-caller.xml. */
async function call(caller: PortalNumber, callee: PortalNumber | string, opts: CallOptions): Promise<ImsSippResult> {
  const dialled = typeof callee === 'string' ? callee : callee.number;
  const keys = { callee: dialled, expect: String(opts.expect), video: opts.video ? '1' : '0' };
  const res = await runImsSipp(core, caller, 'ims-mmtel-caller', { keys });
  expectSipp(res, `call from ${caller.number} to ${dialled} expecting ${opts.expect}`);
  return res;
}

function callee(user: PortalNumber, role: CalleeRole, keys: Record<string, string> = {}): Promise<ImsCallee> {
  return startImsCallee(core, user, role, { keys });
}

/** Requests of `method` a SIPp run received. */
function received(res: ImsSippResult, method: string): string[] {
  return tracedMessages(res, 'received', new RegExp(`^${method} `));
}

/** Status codes of the responses to INVITE a SIPp run received, in order, without retransmissions. */
function inviteResponses(res: ImsSippResult): number[] {
  const texts = parseSippMessages(res.messages)
    .filter((m) => m.direction === 'received' && m.startLine.startsWith('SIP/2.0 ') && headerValues(m.text, 'CSeq').some((c) => / INVITE$/.test(c)))
    .map((m) => m.text);
  return [...new Set(texts)].map((t) => Number(t.split(' ')[1]));
}

/** The response lines of status `status` to INVITE a SIPp run received. */
function responses(res: ImsSippResult, status: number): string[] {
  return tracedMessages(res, 'received', new RegExp(`^SIP/2\\.0 ${status} `)).filter((m) => headerValues(m, 'CSeq').some((c) => / INVITE$/.test(c)));
}

/** History-Info entries (RFC 7044) of a traced message, one per value. */
function historyInfo(text: string): string[] {
  return headerValues(text, 'History-Info').flatMap((v) => v.split(/,(?=\s*<)/).map((e) => e.trim()));
}

/** The entry of the served user, with the escaped Reason of the diversion (RFC 7044 §4.2.1). */
function servedEntry(user: PortalNumber, cause: number): RegExp {
  return new RegExp(`^<sip:${user.number}@${DOMAIN}\\?Reason=SIP%3Bcause%3D${cause}%3B[^>]*>;index=[\\d.]+$`);
}

/** The entry of the target (RFC 4458 `cause`, RFC 7044 `mp`). */
function targetEntry(user: PortalNumber, cause: number): RegExp {
  return new RegExp(`^<sip:${user.number}@${DOMAIN};cause=${cause}>;index=[\\d.]+;mp=[\\d.]+$`);
}

/** The single INVITE a SIPp callee received (a UDP retransmission counts once). */
function theInvite(res: ImsSippResult): string {
  const invites = [...new Set(received(res, 'INVITE'))];
  expect(invites).toHaveLength(1);
  return invites[0]!;
}

async function invitesAt(party: ImsCallee): Promise<string[]> {
  return received(await party.stop(), 'INVITE');
}

beforeAll(async () => {
  requireTool('sipp', 'sip-tester');
  core = await startAllInOne({ domain: DOMAIN, config: { apiKey: API_KEY, registration: { minExpires: 2, defaultExpires: 600 } } });
  operator = await PortalOperator.start(core, API_KEY, 'mmtel-tests@example.net');
});

afterAll(async () => {
  await core?.dispose();
});

describe.concurrent('communication diversion (TS 24.604)', () => {
  it('gives a new number the default iFC towards the MMTel AS', async () => {
    const n = await number();
    expect(await operator.getIfcs(n)).toMatch(
      new RegExp(`<InitialFilterCriteria>.*<Method>INVITE</Method>.*<ServerName>sip:mmtel\\.${DOMAIN.replace('.', '\\.')}</ServerName><DefaultHandling>0</DefaultHandling>`),
    );
  });

  it('unconditional: the caller gets 181 and the call reaches the forward target with History-Info; the served user gets nothing', async () => {
    const [a, c] = [await number(), await number()];
    const b = await number(diversion([forwardTo(c.sipUri)]));
    const [bSide, cSide] = [await callee(b, 'answer'), await callee(c, 'answer')];
    const aSide = await call(a, b, { expect: 200 });
    const cResult = await cSide.result;
    expectSipp(cResult, 'forward target');
    const atC = theInvite(cResult);
    expect(historyInfo(atC)).toEqual([expect.stringMatching(servedEntry(b, 302)), expect.stringMatching(targetEntry(c, 302))]);
    expect(headerValues(atC, 'P-Asserted-Identity').join()).toContain(a.sipUri);
    const forwarded = responses(aSide, 181);
    expect(forwarded.length).toBeGreaterThanOrEqual(1);
    expect(historyInfo(forwarded[0]!)).toEqual(historyInfo(atC));
    expect(inviteResponses(aSide).filter((s) => s >= 200)).toEqual([200]);
    expect(await invitesAt(bSide)).toEqual([]);
  });

  it('busy: the served user answers 486 and the call is diverted', async () => {
    const [a, c] = [await number(), await number()];
    const b = await number(diversion([forwardTo(c.sipUri, 'busy')]));
    const [bSide, cSide] = [await callee(b, 'busy'), await callee(c, 'answer')];
    const aSide = await call(a, b, { expect: 200 });
    const [bResult, cResult] = [await bSide.result, await cSide.result];
    expectSipp(bResult, 'busy callee');
    expectSipp(cResult, 'forward target');
    expect(received(bResult, 'INVITE')).not.toEqual([]);
    expect(historyInfo(theInvite(cResult))).toEqual([expect.stringMatching(servedEntry(b, 486)), expect.stringMatching(targetEntry(c, 486))]);
    expect(responses(aSide, 181)).not.toEqual([]);
    expect(responses(aSide, 486)).toEqual([]);
  });

  it('no answer: after NoReplyTimer the ringing branch is cancelled and the call is diverted', async () => {
    const [a, c] = [await number(), await number()];
    const b = await number(diversion([forwardTo(c.sipUri, 'no-answer')], NO_REPLY_SECONDS));
    const [bSide, cSide] = [await callee(b, 'ring'), await callee(c, 'answer')];
    const started = Date.now();
    const aSide = await call(a, b, { expect: 200 });
    expect(Date.now() - started).toBeGreaterThanOrEqual(NO_REPLY_SECONDS * 1000);
    const [bResult, cResult] = [await bSide.result, await cSide.result];
    expectSipp(bResult, 'ringing callee');
    expectSipp(cResult, 'forward target');
    expect(received(bResult, 'CANCEL')).not.toEqual([]);
    expect(historyInfo(theInvite(cResult))).toEqual([expect.stringMatching(servedEntry(b, 408)), expect.stringMatching(targetEntry(c, 408))]);
    expect(inviteResponses(aSide)).toContain(181);
  });

  it('not registered: the call to a user with no contact is diverted at once', async () => {
    const [a, c] = [await number(), await number()];
    const b = await number(diversion([forwardTo(c.sipUri, 'not-registered')]));
    const cSide = await callee(c, 'answer');
    const aSide = await call(a, b, { expect: 200 });
    const cResult = await cSide.result;
    expectSipp(cResult, 'forward target');
    expect(historyInfo(theInvite(cResult))).toEqual([expect.stringMatching(servedEntry(b, 404)), expect.stringMatching(targetEntry(c, 404))]);
    expect(inviteResponses(aSide)).toContain(181);
  });

  it.each([408, 503, 500])('not reachable: the served user answers %i and the call is diverted', async (status) => {
    const [a, c] = [await number(), await number()];
    const b = await number(diversion([forwardTo(c.sipUri, 'not-reachable')]));
    const [bSide, cSide] = [await callee(b, 'fail', { status: String(status) }), await callee(c, 'answer')];
    const aSide = await call(a, b, { expect: 200 });
    const [bResult, cResult] = [await bSide.result, await cSide.result];
    expectSipp(bResult, `callee answering ${status}`);
    expectSipp(cResult, 'forward target');
    expect(received(bResult, 'INVITE')).not.toEqual([]);
    expect(historyInfo(theInvite(cResult))).toEqual([expect.stringMatching(servedEntry(b, 503)), expect.stringMatching(targetEntry(c, 503))]);
    expect(inviteResponses(aSide).filter((s) => s >= 200)).toEqual([200]);
  });

  it('media: a rule for video diverts the audio and video call, not the audio-only one', async () => {
    const [a1, a2, c] = [await number(), await number(), await number()];
    const b = await number(diversion([forwardTo(c.sipUri, undefined, ['video'])]));
    const [bSide, cSide] = [await callee(b, 'answer'), await callee(c, 'answer')];
    const audioOnly = await call(a1, b, { expect: 200 });
    const bResult = await bSide.result;
    expectSipp(bResult, 'served user (audio-only call)');
    const atB = theInvite(bResult);
    expect(bodyOf(atB)).not.toMatch(/^m=video/m);
    expect(historyInfo(atB)).toEqual([]);
    expect(inviteResponses(audioOnly)).not.toContain(181);

    const withVideo = await call(a2, b, { expect: 200, video: true });
    const cResult = await cSide.result;
    expectSipp(cResult, 'forward target (video call)');
    const atC = theInvite(cResult);
    expect(bodyOf(atC)).toMatch(/^m=video [1-9]\d* /m);
    expect(historyInfo(atC)).toEqual([expect.stringMatching(servedEntry(b, 302)), expect.stringMatching(targetEntry(c, 302))]);
    expect(inviteResponses(withVideo)).toContain(181);
  });

  it('a forward target that cannot be reached as a URI gets 480, and the served user nothing', async () => {
    const a = await number();
    const b = await number(diversion([forwardTo('sip:nobody@forward.invalid')]));
    const bSide = await callee(b, 'answer');
    const aSide = await call(a, b, { expect: 480 });
    expect(responses(aSide, 480).map((m) => m.split('\n')[0])).toEqual([expect.stringMatching(/^SIP\/2\.0 480 Temporarily Unavailable - invalid forwarding target/)]);
    expect(await invitesAt(bSide)).toEqual([]);
  });

  it('a chain of 6 forwarding users is stopped after 5 diversions with 480', async () => {
    const [a, last] = [await number(), await number()];
    // Each of the six forwards to the next; the sixth to `last`.
    const chain: PortalNumber[] = [last];
    for (let i = 0; i < 6; i++) chain.unshift(await number(diversion([forwardTo(chain[0]!.sipUri)])));
    const lastSide = await callee(last, 'answer');
    const aSide = await call(a, chain[0]!, { expect: 480 });
    const final = responses(aSide, 480)[0] ?? '';
    expect(final.split('\n')[0]).toMatch(/^SIP\/2\.0 480 Temporarily Unavailable - too many diversions/);
    // One 181 per diversion made (RFC 7044 entries with cause), the sixth refused.
    const forwarded = [...new Set(responses(aSide, 181))];
    expect(forwarded).toHaveLength(5);
    expect(historyInfo(forwarded[4]!).filter((e) => /;cause=302[?>]/.test(e))).toHaveLength(5);
    expect(await invitesAt(lastSide)).toEqual([]);
  });
});

describe.concurrent('communication barring (TS 24.611)', () => {
  it('outgoing, all: the caller gets 603 and the callee nothing', async () => {
    const [a, b] = [await number({ ocb: { active: true, rules: [barringRule([])] } }), await number()];
    const bSide = await callee(b, 'answer');
    const aSide = await call(a, b, { expect: 603 });
    expect(responses(aSide, 603).map((m) => m.split('\n')[0])).toEqual(['SIP/2.0 603 Decline - outgoing communication barred']);
    expect(await invitesAt(bSide)).toEqual([]);
  });

  it('outgoing international: a number with an international prefix or another country code gets 603, a national call passes', async () => {
    const [a, b] = [await number({ ocb: { active: true, rules: [barringRule(['international'])] } }), await number()];
    for (const dialled of ['00442079460000', '+442079460000']) {
      const abroad = await call(a, dialled, { expect: 603 });
      expect(responses(abroad, 603).map((m) => m.split('\n')[0])).toEqual(['SIP/2.0 603 Decline - outgoing communication barred']);
    }
    const bSide = await callee(b, 'answer');
    const national = await call(a, b, { expect: 200 });
    expectSipp(await bSide.result, 'national callee');
    expect(inviteResponses(national).filter((s) => s >= 200)).toEqual([200]);
  });

  it('incoming, all: the caller gets 603 and the callee nothing', async () => {
    const [a, b] = [await number(), await number({ icb: { active: true, rules: [barringRule([])] } })];
    const bSide = await callee(b, 'answer');
    const aSide = await call(a, b, { expect: 603 });
    expect(responses(aSide, 603).map((m) => m.split('\n')[0])).toEqual(['SIP/2.0 603 Decline - incoming communication barred']);
    expect(await invitesAt(bSide)).toEqual([]);
  });

  it('anonymous communication rejection: a caller withholding its identity gets 603, one presenting it gets through', async () => {
    const restricted = { oir: { active: true, defaultBehaviour: 'presentation-restricted' as const } };
    const [anonymous, known] = [await number(restricted), await number()];
    const b = await number({ icb: { active: true, rules: [barringRule(['anonymous'])] } });
    const bSide = await callee(b, 'answer');
    const rejected = await call(anonymous, b, { expect: 603 });
    expect(responses(rejected, 603).map((m) => m.split('\n')[0])).toEqual(['SIP/2.0 603 Decline - anonymous communication rejected']);
    await call(known, b, { expect: 200 });
    const bResult = await bSide.result;
    expectSipp(bResult, 'callee');
    expect(headerValues(theInvite(bResult), 'P-Asserted-Identity').join()).toContain(known.sipUri);
  });
});

describe('identity presentation and restriction (TS 24.607)', () => {
  it('with OIR active the callee sees "Anonymous" and no P-Asserted-Identity; the caller sees its own From', async () => {
    const a = await number({ oir: { active: true, defaultBehaviour: 'presentation-restricted' } });
    const b = await number();
    const bSide = await callee(b, 'answer');
    const aSide = await call(a, b, { expect: 200 });
    const bResult = await bSide.result;
    expectSipp(bResult, 'callee');
    const atB = theInvite(bResult);
    expect(headerValues(atB, 'From')).toEqual([expect.stringMatching(ANONYMOUS_FROM)]);
    expect(headerValues(atB, 'P-Asserted-Identity')).toEqual([]);
    expect(headerValues(atB, 'Privacy').join()).toMatch(/\bid\b/);
    const answer = responses(aSide, 200)[0] ?? '';
    expect(headerValues(answer, 'From')[0]).toMatch(new RegExp(`^<sip:${a.number}@${DOMAIN}>;tag=`));
  });
});
