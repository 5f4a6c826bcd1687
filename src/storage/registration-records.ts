/**
 * Validation and copying of registration bindings, shared by every adapter so they accept
 * and return exactly the same values.
 */
import { invalid } from './errors.js';
import { ownString, StringPool } from './kept-strings.js';
import type { Binding, ReceivedFrom, RegistrationData } from './registration-store.js';

/** CR, LF and NUL never occur in a SIP header value once unfolded (RFC 3261 §25.1). */
const LINE_BREAK_OR_NUL = /[\r\n\0]/;
/** CSeq numbers are below 2^31 (RFC 3261 §8.1.1.5); reg-id is 1 to 2^31-1 (RFC 5626 §4.2). */
export const MAX_31_BIT = 2 ** 31 - 1;

/** Validates a non-empty (unless `allowEmpty`) string without CR, LF or NUL. */
function validText(value: unknown, what: string, allowEmpty: boolean): string {
  if (typeof value !== 'string' || (!allowEmpty && value.length === 0) || LINE_BREAK_OR_NUL.test(value)) {
    throw invalid(`${what} must be a ${allowEmpty ? '' : 'non-empty '}string without CR, LF or NUL`);
  }
  return value;
}

/** Validates a text a store keeps (see {@link validText}) and returns it as a string of its own ({@link ownString}). */
export function checkText(value: unknown, what: string, allowEmpty = false): string {
  return ownString(validText(value, what, allowEmpty));
}

/**
 * Values many bindings hold alike (the Path of an edge, a flow of a PBX, a User-Agent, a NAT's
 * address): one copy for all of them.
 */
const shared = new StringPool();

/** {@link checkText} for a value bindings share: the pool's copy. */
function checkSharedText(value: unknown, what: string, allowEmpty = false): string {
  return shared.string(validText(value, what, allowEmpty));
}

/** Validates a safe integer from `min` to `max`. */
export function checkInteger(value: unknown, what: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    throw invalid(`${what} must be an integer from ${min} to ${max}, got ${String(value)}`);
  }
  return value;
}

/**
 * Validates an AoR key. Not copied: most uses are lookups (once per call), and a store keeping
 * one as a key copies it (ownString, kept-strings.ts).
 */
export function checkAor(aor: unknown): string {
  return validText(aor, 'aor', false);
}

/** Validates a flow id key (a lookup: not copied). */
export function checkFlowId(flowId: unknown): string {
  return validText(flowId, 'flowId', false);
}

function checkReceivedFrom(r: ReceivedFrom): ReceivedFrom {
  if (typeof r !== 'object' || r === null) throw invalid('receivedFrom must be an object');
  return Object.freeze({
    address: checkSharedText(r.address, 'receivedFrom.address'),
    port: checkInteger(r.port, 'receivedFrom.port', 0, 65535),
    transport: checkSharedText(r.transport, 'receivedFrom.transport'),
  });
}

/**
 * Validates a binding and returns a frozen copy holding only the known fields, so that later
 * changes to the caller's object (or extra properties on it) never reach the store.
 */
export function freezeBinding(b: Binding): Binding {
  if (typeof b !== 'object' || b === null) throw invalid('a binding must be an object');
  if (!Array.isArray(b.path)) throw invalid('binding.path must be an array of URIs');
  const out: { -readonly [K in keyof Binding]: Binding[K] } = {
    contact: checkText(b.contact, 'binding.contact'),
    path: shared.list(b.path.map((uri, i) => validText(uri, `binding.path[${i}]`, false))),
    expiresAt: checkInteger(b.expiresAt, 'binding.expiresAt', 0, Number.MAX_SAFE_INTEGER),
    callId: checkText(b.callId, 'binding.callId'),
    cseq: checkInteger(b.cseq, 'binding.cseq', 0, MAX_31_BIT),
    registeredAt: checkInteger(b.registeredAt, 'binding.registeredAt', 0, Number.MAX_SAFE_INTEGER),
  };
  if (b.q !== undefined) {
    if (typeof b.q !== 'number' || !(b.q >= 0 && b.q <= 1)) throw invalid(`binding.q must be from 0 to 1, got ${String(b.q)}`);
    out.q = b.q;
  }
  if (b.instanceId !== undefined) out.instanceId = checkText(b.instanceId, 'binding.instanceId');
  if (b.regId !== undefined) out.regId = checkInteger(b.regId, 'binding.regId', 1, MAX_31_BIT);
  if (b.flowId !== undefined) out.flowId = checkSharedText(b.flowId, 'binding.flowId');
  if (b.userAgent !== undefined) out.userAgent = checkSharedText(b.userAgent, 'binding.userAgent', true);
  if (b.receivedFrom !== undefined) out.receivedFrom = checkReceivedFrom(b.receivedFrom);
  return Object.freeze(out);
}

/** Validates a whole binding list; see {@link freezeBinding}. */
export function freezeBindings(bindings: readonly Binding[]): readonly Binding[] {
  if (!Array.isArray(bindings)) throw invalid('bindings must be an array');
  return Object.freeze(bindings.map(freezeBinding));
}

/** A fresh, mutable-by-the-caller copy of a stored (frozen, already valid) binding. */
export function copyBinding(b: Binding): Binding {
  const out: { -readonly [K in keyof Binding]: Binding[K] } = {
    contact: b.contact,
    path: b.path.slice(),
    expiresAt: b.expiresAt,
    callId: b.callId,
    cseq: b.cseq,
    registeredAt: b.registeredAt,
  };
  if (b.q !== undefined) out.q = b.q;
  if (b.instanceId !== undefined) out.instanceId = b.instanceId;
  if (b.regId !== undefined) out.regId = b.regId;
  if (b.flowId !== undefined) out.flowId = b.flowId;
  if (b.userAgent !== undefined) out.userAgent = b.userAgent;
  if (b.receivedFrom !== undefined) out.receivedFrom = { ...b.receivedFrom };
  return out;
}

/** Validates `now` for the expiry queries. */
export function checkNow(now: number): number {
  if (!Number.isSafeInteger(now)) throw invalid(`now must be an integer (ms since the Unix epoch), got ${now}`);
  return now;
}

/**
 * Validates a claim's lease (claimExpired) and returns when it ends, for `now` already
 * validated by {@link checkNow}.
 */
export function leaseEnd(now: number, leaseMs: number): number {
  return now + checkInteger(leaseMs, 'leaseMs', 1, Number.MAX_SAFE_INTEGER - Math.max(now, 0));
}

/** Validates a put's data and returns its bindings, validated and frozen. */
export function checkData(data: RegistrationData): readonly Binding[] {
  if (typeof data !== 'object' || data === null) throw invalid('registration data must be an object');
  return freezeBindings(data.bindings);
}
