/**
 * The registrar's binding rules (RFC 3261 §10.3 steps 6-8, RFC 5626 §6, RFC 5627 §4), as pure
 * functions over the stored bindings so they can run inside a compare-and-set retry loop.
 */
import { unescapeUriPart, type NameAddr, type SipRequest, type Uri } from '../../sip/index.js';
import type { Binding, ReceivedFrom } from '../../storage/index.js';

const EXPIRES_VALUE = /^[0-9]{1,10}$/;
const QUOTES = /^"|"$/g;

/** Expiry limits in seconds. */
export interface ExpiryLimits {
  readonly minExpires: number;
  readonly maxExpires: number;
  readonly defaultExpires: number;
}

/** One Contact of a REGISTER with its granted expiry. */
export interface ContactChange {
  readonly contact: string;
  /** Seconds granted; 0 removes the binding. */
  readonly expires: number;
  readonly q?: number;
  readonly instanceId?: string;
  readonly regId?: number;
}

/** What a REGISTER asks for, or why it cannot be done. */
export type RegisterIntent =
  | { readonly kind: 'fetch' }
  | { readonly kind: 'remove-all' }
  | { readonly kind: 'update'; readonly changes: readonly ContactChange[] }
  | { readonly kind: 'too-brief' }
  | { readonly kind: 'invalid'; readonly reason: string };

/** Reads the Contacts and Expires of a REGISTER (RFC 3261 §10.3 steps 6-7, §10.2.1.1). */
export function registerIntent(req: SipRequest, limits: ExpiryLimits): RegisterIntent {
  const headerExpires = req.expires;
  if (req.isWildcardContact) {
    if (headerExpires !== 0 || req.getAll('contact').length !== 1) {
      return { kind: 'invalid', reason: 'Contact: * needs Expires: 0 and no other Contact' };
    }
    return { kind: 'remove-all' };
  }
  const contacts = req.contacts;
  if (contacts.length === 0) return { kind: 'fetch' };
  const changes: ContactChange[] = [];
  for (const c of contacts) {
    const change = contactChange(c, headerExpires, limits);
    if (change === 'too-brief') return { kind: 'too-brief' };
    if (typeof change === 'string') return { kind: 'invalid', reason: change };
    changes.push(change);
  }
  return { kind: 'update', changes };
}

function contactChange(c: NameAddr, headerExpires: number | undefined, limits: ExpiryLimits): ContactChange | string {
  const raw = c.params.get('expires');
  let expires = headerExpires ?? limits.defaultExpires;
  if (raw !== undefined && raw !== null) {
    if (!EXPIRES_VALUE.test(raw)) return `bad expires parameter "${raw}"`;
    expires = Number(raw);
  }
  if (expires > 0 && expires < limits.minExpires) return 'too-brief';
  expires = Math.min(expires, limits.maxExpires);
  const change: { -readonly [K in keyof ContactChange]: ContactChange[K] } = { contact: c.uri.toString(), expires };
  const q = c.params.get('q');
  if (q !== undefined && q !== null) {
    const n = Number(q);
    if (!(n >= 0 && n <= 1)) return `bad q parameter "${q}"`;
    change.q = n;
  }
  const instance = c.params.get('+sip.instance');
  if (instance) change.instanceId = instance.replace(QUOTES, '');
  const regId = c.params.get('reg-id');
  if (regId !== undefined && regId !== null) {
    const n = Number(regId);
    if (!Number.isInteger(n) || n < 1 || n > 2 ** 31 - 1) return `bad reg-id "${regId}"`;
    change.regId = n;
  }
  return change;
}

/** The REGISTER's context stored with each binding it makes. */
export interface RegisterContext {
  readonly now: number;
  readonly callId: string;
  readonly cseq: number;
  readonly path: readonly string[];
  readonly flowId?: string;
  readonly userAgent?: string;
  readonly receivedFrom?: ReceivedFrom;
}

/** Outcome of applying a REGISTER to the bindings. */
export type ApplyResult = { readonly ok: true; readonly bindings: Binding[] } | { readonly ok: false; readonly reason: 'out-of-order' };

/** The binding a change replaces: same instance and reg-id (RFC 5626 §6), or same instance (RFC 5627), or same URI. */
function matches(b: Binding, c: ContactChange): boolean {
  if (c.instanceId !== undefined && b.instanceId === c.instanceId) return c.regId === b.regId;
  return b.contact === c.contact && (c.instanceId === undefined || b.instanceId === undefined);
}

/**
 * Applies the changes to the unexpired bindings (RFC 3261 §10.3 step 7): a binding from the
 * same Call-ID with a CSeq not higher is out of order and nothing changes.
 */
export function applyChanges(current: readonly Binding[], changes: readonly ContactChange[], reg: RegisterContext): ApplyResult {
  const out = current.filter((b) => b.expiresAt > reg.now);
  for (const c of changes) {
    const i = out.findIndex((b) => matches(b, c));
    const existing = i >= 0 ? out[i] : undefined;
    if (existing && existing.callId === reg.callId && existing.cseq >= reg.cseq) return { ok: false, reason: 'out-of-order' };
    if (c.expires === 0) {
      if (i >= 0) out.splice(i, 1);
      continue;
    }
    const binding: Binding = {
      contact: c.contact,
      path: [...reg.path],
      expiresAt: reg.now + c.expires * 1000,
      callId: reg.callId,
      cseq: reg.cseq,
      registeredAt: existing?.registeredAt ?? reg.now,
      ...(c.q !== undefined ? { q: c.q } : {}),
      ...(c.instanceId !== undefined ? { instanceId: c.instanceId } : {}),
      ...(c.regId !== undefined ? { regId: c.regId } : {}),
      ...(reg.flowId !== undefined ? { flowId: reg.flowId } : {}),
      ...(reg.userAgent !== undefined ? { userAgent: reg.userAgent } : {}),
      ...(reg.receivedFrom !== undefined ? { receivedFrom: reg.receivedFrom } : {}),
    };
    if (i >= 0) out[i] = binding;
    else out.push(binding);
  }
  return { ok: true, bindings: out };
}

/**
 * The Contact header values of a 200 to REGISTER: every live binding with its remaining time,
 * and, when `gruuAor` is given (the REGISTER said `Supported: gruu`), the public GRUU of each
 * binding that has an instance id (RFC 5627 §5.3).
 */
export function contactValues(bindings: readonly Binding[], now: number, gruuAor?: string): string[] {
  return bindings.map((b) => {
    let v = `<${b.contact}>;expires=${Math.max(0, Math.round((b.expiresAt - now) / 1000))}`;
    if (b.q !== undefined) v += `;q=${b.q}`;
    if (b.instanceId !== undefined) v += `;+sip.instance="${b.instanceId}"`;
    if (b.regId !== undefined) v += `;reg-id=${b.regId}`;
    if (b.instanceId !== undefined && gruuAor !== undefined) v += `;pub-gruu="${publicGruu(gruuAor, b.instanceId)}"`;
    return v;
  });
}

/** Characters a `gr` value keeps as they are (RFC 3261 §25.1 paramchar: unreserved and param-unreserved). */
const PARAM_CHAR = /[A-Za-z0-9\-_.!~*'()[\]/:&+$]/;

/** An instance id without the angle brackets of its `+sip.instance` form: `urn:uuid:...`. */
function bareInstance(instanceId: string): string {
  return instanceId.startsWith('<') && instanceId.endsWith('>') ? instanceId.slice(1, -1) : instanceId;
}

/**
 * The public GRUU of an AoR and instance (RFC 5627 §3.1): the AoR with a `gr` parameter holding
 * the instance id without its angle brackets, escaped where the URI grammar needs it,
 * e.g. `sip:6505550001@example.com;gr=urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6`.
 */
export function publicGruu(aor: string, instanceId: string): string {
  let value = '';
  for (const ch of bareInstance(instanceId)) {
    value += PARAM_CHAR.test(ch) ? ch : [...Buffer.from(ch, 'utf8')].map((b) => `%${b.toString(16).toUpperCase().padStart(2, '0')}`).join('');
  }
  return `${aor};gr=${value}`;
}

/**
 * The instance a GRUU Request-URI names (RFC 5627 §5.5): its `gr` value unescaped; `null` for a
 * `gr` without a value (a temporary GRUU, which this registrar never hands out); undefined for
 * a URI that is no GRUU.
 */
export function gruuInstance(uri: Uri): string | null | undefined {
  if (uri.kind !== 'sip' || !uri.params.has('gr')) return undefined;
  const value = uri.params.get('gr');
  return value ? unescapeUriPart(value) : null;
}

/** True when `b` was registered by the instance a GRUU names (instance ids compared without case). */
export function isInstance(b: Binding, instance: string): boolean {
  return b.instanceId !== undefined && bareInstance(b.instanceId).toLowerCase() === bareInstance(instance).toLowerCase();
}

/** Live bindings, highest q first (RFC 3261 §16.6: targets in q order), ties in stored order. */
export function liveTargets(bindings: readonly Binding[], now: number): Binding[] {
  return bindings.filter((b) => b.expiresAt > now).sort((a, b) => (b.q ?? 1) - (a.q ?? 1));
}
