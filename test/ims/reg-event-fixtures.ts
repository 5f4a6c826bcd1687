/**
 * What the reg-event notifier tests share: the subscriber's identities and HSS, SUBSCRIBEs as a
 * UE sends them, a request context that records the answer, and readers of the NOTIFY body.
 */
import { expect } from 'vitest';
import type { RegEventHss } from '../../src/ims/core/reg-event.js';
import type { LocationInfo } from '../../src/ims/hss.js';
import { makeRequest, makeResponse, type RequestContext, type SipRequest, type SipResponse } from '../../src/sip/index.js';
import type { Binding, ImplicitSet } from '../../src/storage/index.js';
import { childrenNamed, parseXml, type XmlElement } from './mini-xml.js';

export const NOW = 1_700_000_000_000;
export const ALICE = 'sip:6505550001@example.com';
export const ALICE_TEL = 'tel:+16505550001';
export const BOB = 'sip:6505550002@example.com';
export const EDGE_PATH = 'sip:tok1@pcscf.example.com;lr';

/** Lets everything the in-memory stores started run to its end (they settle within microtasks). */
export function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

function set(id: string, members: Array<[string, boolean]>): ImplicitSet {
  return { id, serviceProfile: '', members: members.map(([impu, barred]) => ({ impu, implicitSetId: id, barred })) };
}

export const SETS = [
  set('alice', [
    [ALICE, false],
    [ALICE_TEL, false],
    ['sip:alice-barred@example.com', true],
  ]),
  set('bob', [[BOB, false]]),
];

/** The HSS as the notifier sees it: LIR, and the implicit set when `withSets`. */
export function fakeHss(withSets = true): RegEventHss {
  const setOf = (impu: string) => SETS.find((s) => s.members.some((m) => m.impu === impu));
  const hss: RegEventHss = {
    async locationInfo(impu: string): Promise<LocationInfo | undefined> {
      const s = setOf(impu);
      if (!s) return undefined;
      return { state: 'REGISTERED', defaultImpu: s.members[0]!.impu, barred: s.members.find((m) => m.impu === impu)!.barred };
    },
  };
  if (withSets) hss.implicitSetOf = async (impu) => setOf(impu);
  return hss;
}

export function binding(contact: string, extra: Partial<Binding> = {}): Binding {
  return { contact, path: [EDGE_PATH], expiresAt: NOW + 600_000, callId: 'reg-1', cseq: 1, registeredAt: NOW, ...extra };
}

export function subscribe(headers: Partial<Record<string, string | null>> = {}, uri = ALICE): SipRequest {
  const base: Record<string, string | null> = {
    Via: 'SIP/2.0/UDP pcscf.example.com;branch=z9hG4bKsub1',
    'Max-Forwards': '69',
    From: `<${ALICE}>;tag=ue1`,
    To: `<${ALICE}>`,
    'Call-ID': 'sub-call-1',
    CSeq: '1 SUBSCRIBE',
    Contact: '<sip:ue@10.0.0.2:5060;transport=tcp>',
    Event: 'reg',
    Expires: '600000',
    Accept: 'application/reginfo+xml',
    'P-Asserted-Identity': `<${ALICE}>`,
  };
  const list: Array<[string, string]> = [['Record-Route', '<sip:tok1@pcscf.example.com;lr>'], ['Record-Route', '<sip:b2@other.example.net;lr>']];
  for (const [n, v] of Object.entries({ ...base, ...headers })) if (v !== null && v !== undefined) list.push([n, v]);
  return makeRequest('SUBSCRIBE', uri, list);
}

/** A SUBSCRIBE in the dialog the 200 `ok` made. */
export function inDialog(ok: SipResponse, cseq: number, expires: number, extra: Partial<Record<string, string | null>> = {}): SipRequest {
  return subscribe({ To: ok.get('to')!, CSeq: `${cseq} SUBSCRIBE`, Expires: String(expires), ...extra }, 'sip:scscf.example.com');
}

function fakeContext(request: SipRequest) {
  const responses: SipResponse[] = [];
  let settled = false;
  const ctx: RequestContext = {
    request,
    flow: undefined,
    addressedAs: 'scscf.example.com',
    consumedRoutes: [],
    forward: () => {
      throw new Error('the notifier never forwards');
    },
    respond(status, reason, headers = []) {
      const res = makeResponse(request, status, reason, 'coretag');
      for (const [n, v] of headers) res.append(n, v);
      ctx.respondWith(res);
    },
    respondWith(res) {
      if (settled) throw new Error('second outcome');
      settled = true;
      responses.push(res);
    },
    defer: () => ctx,
    setTimer: () => {},
    cancelTimer: () => {},
    cancelBranches: () => {},
    get settled() {
      return settled;
    },
  };
  return { ctx, responses };
}

export async function handle(fn: (ctx: RequestContext) => Promise<void>, request: SipRequest): Promise<SipResponse> {
  const { ctx, responses } = fakeContext(request);
  await fn(ctx);
  expect(responses.length).toBe(1);
  return responses[0]!;
}

export function body(req: SipRequest): XmlElement {
  return parseXml(req.body.toString('utf8'));
}

export function contactsOf(doc: XmlElement, aor = ALICE): Array<{ uri: string; state: string; event: string; expires: string }> {
  const reg = childrenNamed(doc, 'registration').find((r) => r.attrs.aor === aor)!;
  return childrenNamed(reg, 'contact').map((c) => ({
    uri: childrenNamed(c, 'uri')[0]!.text,
    state: c.attrs.state!,
    event: c.attrs.event!,
    expires: c.attrs.expires!,
  }));
}
