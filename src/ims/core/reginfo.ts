/**
 * The registration information document of the reg event package (RFC 3680 §5.3,
 * `application/reginfo+xml`) as 3GPP TS 24.229 §5.4.2.1.2 has the S-CSCF fill it: one
 * `<registration>` per non-barred identity of the implicit set, each listing the set's contacts.
 * It also tracks, per subscription, which contacts were reported, so each contact's `event`
 * attribute names what moved it to its state (RFC 3680 §5.1).
 */
import { createHash } from 'node:crypto';
import type { Binding } from '../../storage/index.js';
import type { RegistrationChange } from './registrar.js';

export const REGINFO_TYPE = 'application/reginfo+xml';
export const REGINFO_NS = 'urn:ietf:params:xml:ns:reginfo';

/** Contact state machine events (RFC 3680 §5.1.2). */
export type ContactEvent =
  | 'registered'
  | 'created'
  | 'refreshed'
  | 'shortened'
  | 'expired'
  | 'deactivated'
  | 'probation'
  | 'unregistered'
  | 'rejected';

export interface ReginfoContact {
  readonly id: string;
  readonly state: 'active' | 'terminated';
  readonly event: ContactEvent;
  readonly uri: string;
  /** Seconds left; 0 for a terminated contact. */
  readonly expires: number;
  readonly durationRegistered?: number;
  readonly q?: number;
  readonly callId?: string;
  readonly cseq?: number;
  /** RFC 5626/5627 Contact parameters, sent as `<unknown-param>` (TS 24.229 §5.4.2.1.2). */
  readonly instanceId?: string;
  readonly regId?: number;
}

export interface ReginfoRegistration {
  readonly aor: string;
  readonly id: string;
  /** Registration state machine (RFC 3680 §5.1.1). */
  readonly state: 'init' | 'active' | 'terminated';
  readonly contacts: readonly ReginfoContact[];
}

export interface Reginfo {
  /** Per subscription: 0 for the first document, then one more for each (RFC 3680 §5.3). */
  readonly version: number;
  readonly state: 'full' | 'partial';
  readonly registrations: readonly ReginfoRegistration[];
}

// XML 1.0 §2.2 Char: anything else (C0 controls but tab/LF/CR, lone surrogates, U+FFFE/F) is replaced.
const NOT_XML_CHAR = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;
const XML_SPECIAL = /[&<>"']/g;
const ENTITIES: Readonly<Record<string, string>> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' };

/** Text safe in XML character data and in double- or single-quoted attribute values. */
export function escapeXml(s: string): string {
  return s.replace(NOT_XML_CHAR, '\ufffd').replace(XML_SPECIAL, (c) => ENTITIES[c]!);
}

/** Serialises a reginfo document (RFC 3680 §5.3, schema of §5.4). */
export function reginfoXml(doc: Reginfo): string {
  let xml = `<?xml version="1.0" encoding="UTF-8"?>\n<reginfo xmlns="${REGINFO_NS}" version="${doc.version}" state="${doc.state}">\n`;
  for (const r of doc.registrations) {
    const open = `  <registration aor="${escapeXml(r.aor)}" id="${escapeXml(r.id)}" state="${r.state}"`;
    if (!r.contacts.length) {
      xml += `${open}/>\n`;
      continue;
    }
    xml += `${open}>\n`;
    for (const c of r.contacts) xml += contactXml(c);
    xml += '  </registration>\n';
  }
  return `${xml}</reginfo>\n`;
}

function contactXml(c: ReginfoContact): string {
  let attrs = `id="${escapeXml(c.id)}" state="${c.state}" event="${c.event}" expires="${c.expires}"`;
  if (c.durationRegistered !== undefined) attrs += ` duration-registered="${c.durationRegistered}"`;
  if (c.q !== undefined) attrs += ` q="${qValue(c.q)}"`;
  if (c.callId !== undefined) attrs += ` callid="${escapeXml(c.callId)}"`;
  if (c.cseq !== undefined) attrs += ` cseq="${c.cseq}"`;
  let xml = `    <contact ${attrs}>\n      <uri>${escapeXml(c.uri)}</uri>\n`;
  if (c.instanceId !== undefined) xml += `      <unknown-param name="+sip.instance">${escapeXml(c.instanceId)}</unknown-param>\n`;
  if (c.regId !== undefined) xml += `      <unknown-param name="reg-id">${c.regId}</unknown-param>\n`;
  return `${xml}    </contact>\n`;
}

/** q-value as RFC 3261 §25.1 writes it: at most three decimals. */
function qValue(q: number): string {
  return String(Math.round(q * 1000) / 1000);
}

/** What was last reported of a contact to one subscriber. */
export interface ReportedContact {
  readonly binding: Binding;
  readonly event: ContactEvent;
}

/** Why the contacts are being reported: a registrar change, or none (initial or refresh NOTIFY). */
export type ReportCause = RegistrationChange | 'none';

/** A binding's identity across refreshes: instance and reg-id (RFC 5626 §6), else its URI. */
export function bindingKey(b: Binding): string {
  return b.instanceId !== undefined ? `i ${b.instanceId} ${b.regId ?? ''}` : `c ${b.contact}`;
}

/** A short id stable across documents and subscriptions (RFC 3680 §5.3: ids identify across notifications). */
export function stableId(prefix: string, ...parts: string[]): string {
  return prefix + createHash('sha1').update(parts.join('\n')).digest('hex').slice(0, 12);
}

/**
 * The contacts to report given what this subscriber was told before (RFC 3680 §5.1.2): a new
 * binding is `registered`; one whose REGISTER (Call-ID, CSeq) changed is `refreshed`; an
 * unchanged one keeps its event; one that went is reported once as terminated: `expired` when
 * its time had run out, `deactivated` when its flow failed (RFC 5626 §5.3: the UA should
 * register again), else `unregistered`. Returns the report and what to remember for next time.
 */
export function reportContacts(
  previous: ReadonlyMap<string, ReportedContact>,
  bindings: readonly Binding[],
  cause: ReportCause,
  now: number,
): { active: ReportedContact[]; terminated: ReportedContact[]; next: Map<string, ReportedContact> } {
  const next = new Map<string, ReportedContact>();
  const active: ReportedContact[] = [];
  for (const b of bindings) {
    if (b.expiresAt <= now) continue;
    const key = bindingKey(b);
    const before = previous.get(key);
    let event: ContactEvent = 'registered';
    if (before) event = before.binding.callId === b.callId && before.binding.cseq === b.cseq ? before.event : 'refreshed';
    const reported = { binding: b, event };
    next.set(key, reported);
    active.push(reported);
  }
  const terminated: ReportedContact[] = [];
  for (const [key, before] of previous) {
    if (next.has(key)) continue;
    const event: ContactEvent =
      before.binding.expiresAt <= now || cause === 'expired' ? 'expired' : cause === 'flow-failed' ? 'deactivated' : 'unregistered';
    terminated.push({ binding: before.binding, event });
  }
  return { active, terminated, next };
}

/** One identity of the implicit set as the document lists it. */
export interface SetIdentity {
  readonly impu: string;
  readonly barred: boolean;
}

/**
 * The full-state document: one registration per non-barred identity (TS 24.229 §5.4.2.1.2),
 * all with the set's contacts. A registration is active with a live contact, terminated when
 * its last contact was just reported terminated, else init (RFC 3680 §5.1.1).
 */
export function fullReginfo(
  version: number,
  identities: readonly SetIdentity[],
  report: { readonly active: readonly ReportedContact[]; readonly terminated: readonly ReportedContact[] },
  now: number,
): Reginfo {
  const state = report.active.length ? 'active' : report.terminated.length ? 'terminated' : 'init';
  const registrations = identities
    .filter((i) => !i.barred)
    .map((i) => ({
      aor: i.impu,
      id: stableId('r', i.impu),
      state,
      contacts: [
        ...report.active.map((c) => contactOf(i.impu, c, 'active', now)),
        ...report.terminated.map((c) => contactOf(i.impu, c, 'terminated', now)),
      ],
    })) satisfies ReginfoRegistration[];
  return { version, state: 'full', registrations };
}

function contactOf(impu: string, c: ReportedContact, state: 'active' | 'terminated', now: number): ReginfoContact {
  const b = c.binding;
  return {
    id: stableId('c', impu, bindingKey(b)),
    state,
    event: c.event,
    uri: b.contact,
    expires: state === 'active' ? Math.max(0, Math.round((b.expiresAt - now) / 1000)) : 0,
    ...(state === 'active' ? { durationRegistered: Math.max(0, Math.floor((now - b.registeredAt) / 1000)) } : {}),
    ...(b.q !== undefined ? { q: b.q } : {}),
    callId: b.callId,
    cseq: b.cseq,
    ...(b.instanceId !== undefined ? { instanceId: b.instanceId } : {}),
    ...(b.regId !== undefined ? { regId: b.regId } : {}),
  };
}
