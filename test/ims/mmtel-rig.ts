/**
 * A proxy core on a fake UDP network hosting the MMTel AS as `mmtel.example.com`, with a fake
 * S-CSCF endpoint that both sends the ISC requests (Route to the AS, then its own token route,
 * P-Served-User) and receives what the AS forwards back, and simservs documents in memory.
 */
import { createMmtelService, type MmtelService } from '../../src/ims/mmtel/index.js';
import type { ProxyService, SipRequest, SipResponse } from '../../src/sip/index.js';
import { MemoryDocumentStore } from '../../src/storage/memory/index.js';
import type { DocumentKey, StoredDocument } from '../../src/storage/document-store.js';
import { COMMON_POLICY_NS, SIMSERVS_AUID, SIMSERVS_DOCUMENT, SIMSERVS_NS } from '../../src/xdms/simservs.js';
import { proxyRig, request, requests, statuses } from '../sip/proxy/harness.js';
import type { FakeEndpoint } from '../harness/fake-transport.js';

export const DOMAIN = 'example.com';
export const AS_HOST = 'mmtel.example.com';
export const ALICE = 'sip:6505550001@example.com';
export const BOB = 'sip:6505550002@example.com';
export const CAROL = 'sip:6505550003@example.com';
export const DAVE = 'sip:6505550004@example.com';
export const SCSCF = { address: '10.0.0.9', port: 5060 };
export const SCSCF_ROUTE = '<sip:odi-tok1@10.0.0.9:5060;lr>';

export interface RigOptions {
  readonly extraServices?: ProxyService[];
  readonly maxDiversions?: number;
  /** Documents the store fails on (get rejects). */
  readonly failing?: boolean;
}

export function mmtelRig(o: RigOptions = {}) {
  const store = new MemoryDocumentStore();
  const errors: unknown[] = [];
  let reads = 0;
  const documents = {
    get: (key: DocumentKey): Promise<StoredDocument | undefined> => {
      reads++;
      if (o.failing) return Promise.reject(new Error('XDMS down'));
      return store.get(key);
    },
  };
  const mmtel: MmtelService = createMmtelService({
    domain: DOMAIN,
    documents,
    onError: (e) => errors.push(e),
    ...(o.maxDiversions !== undefined ? { maxDiversions: o.maxDiversions } : {}),
  });
  const r = proxyRig({ services: [mmtel, ...(o.extraServices ?? [])] });
  const scscf = r.ua(SCSCF.address, SCSCF.port);
  const settle = async (): Promise<void> => {
    for (let i = 0; i < 8; i++) await r.net.flush();
  };
  /** Stores `body` (the services inside <simservs>) as the user's document. */
  const simservs = async (impu: string, body: string): Promise<void> => {
    await store.put({ auid: SIMSERVS_AUID, xui: impu, name: SIMSERVS_DOCUMENT }, document(body));
  };
  return { r, mmtel, store, scscf, settle, simservs, errors, reads: () => reads };
}

export function document(body: string): string {
  return `<?xml version="1.0" encoding="UTF-8"?><simservs xmlns="${SIMSERVS_NS}" xmlns:cp="${COMMON_POLICY_NS}">${body}</simservs>`;
}

export interface RuleSpec {
  readonly id?: string;
  readonly conditions?: readonly string[];
  readonly media?: readonly string[];
}

function conditions(r: RuleSpec): string {
  const parts = [...(r.conditions ?? []).map((c) => `<${c}/>`), ...(r.media ?? []).map((m) => `<media>${m}</media>`)];
  return parts.length ? `<cp:conditions>${parts.join('')}</cp:conditions>` : '<cp:conditions/>';
}

/** A communication-diversion service with these rules. */
export function diversion(rules: Array<RuleSpec & { target: string; options?: string }>, timer = 20, active = true): string {
  const list = rules.map(
    (r, i) => `<cp:rule id="${r.id ?? `d${i}`}">${conditions(r)}<cp:actions><forward-to><target>${r.target}</target>${r.options ?? ''}</forward-to></cp:actions></cp:rule>`,
  );
  return `<communication-diversion active="${active}"><NoReplyTimer>${timer}</NoReplyTimer><cp:ruleset>${list.join('')}</cp:ruleset></communication-diversion>`;
}

/** An incoming or outgoing barring service with these rules. */
export function barringService(kind: 'incoming' | 'outgoing', rules: Array<RuleSpec & { allow: boolean }>, active = true): string {
  const list = rules.map((r, i) => `<cp:rule id="${r.id ?? `b${i}`}">${conditions(r)}<cp:actions><allow>${r.allow}</allow></cp:actions></cp:rule>`);
  return `<${kind}-communication-barring active="${active}"><cp:ruleset>${list.join('')}</cp:ruleset></${kind}-communication-barring>`;
}

export function oir(active: boolean, behaviour = 'presentation-restricted'): string {
  return `<originating-identity-presentation-restriction active="${active}"><default-behaviour>${behaviour}</default-behaviour></originating-identity-presentation-restriction>`;
}

/** An SDP offer with one enabled m= line per media type. */
export function sdp(media: readonly string[]): string {
  const lines = ['v=0', 'o=- 1 1 IN IP4 192.0.2.5', 's=-', 'c=IN IP4 192.0.2.5', 't=0 0'];
  media.forEach((m, i) => lines.push(`m=${m} ${40000 + 2 * i} RTP/AVP ${m === 'video' ? 96 : 0}`));
  return [...lines, ''].join('\r\n');
}

export interface IscOptions {
  readonly sescase?: 'orig' | 'term';
  /** The served user; default Bob (term) or Alice (orig). */
  readonly served?: string;
  readonly regstate?: 'reg' | 'unreg';
  /** Extra P-Served-User parameters, e.g. `;orig-cdiv`. */
  readonly psuParams?: string;
  readonly method?: string;
  /** Request-URI; default Bob. */
  readonly uri?: string;
  readonly headers?: Array<[string, string]>;
  readonly media?: readonly string[];
  /** Leave out P-Asserted-Identity. */
  readonly noPai?: boolean;
}

/** A request as the S-CSCF sends it to the AS over ISC (TS 24.229 §5.4.3.2, §5.4.3.3). */
export function isc(from: FakeEndpoint, o: IscOptions = {}): SipRequest {
  const sescase = o.sescase ?? 'term';
  const served = o.served ?? (sescase === 'orig' ? ALICE : BOB);
  const req = request(from, o.method ?? 'INVITE', o.uri ?? BOB, [
    ['Route', `<sip:${AS_HOST};lr>`],
    ['Route', SCSCF_ROUTE],
    ['P-Served-User', `<${served}>;sescase=${sescase};regstate=${o.regstate ?? 'reg'}${o.psuParams ?? ''}`],
    ...(o.noPai ? [] : [['P-Asserted-Identity', `<${ALICE}>`] as [string, string]]),
    ...(o.headers ?? []),
  ]);
  if (o.media) req.setBody(sdp(o.media), 'application/sdp');
  return req;
}

/** The final statuses and provisional ones an endpoint received, in order. */
export function got(ep: FakeEndpoint): number[] {
  return statuses(ep);
}

export function forwarded(ep: FakeEndpoint, method = 'INVITE'): SipRequest[] {
  return requests(ep, method);
}

export function responses(ep: FakeEndpoint, status: number): SipResponse[] {
  return ep.received((m) => 'status' in m && (m as SipResponse).status === status).map((x) => x.message as SipResponse);
}
