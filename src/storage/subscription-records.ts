/**
 * Validation, copying and key encoding of reg-event subscriptions, shared by every adapter so
 * they accept and return exactly the same values.
 */
import { invalid } from './errors.js';
import { ownString } from './kept-strings.js';
import { MAX_31_BIT, checkAor, checkInteger, checkText, copyBinding, freezeBinding } from './registration-records.js';
import type { ReportedBinding, SubscriptionData, SubscriptionKey, SubscriptionRecord, WatchedIdentity } from './subscription-store.js';

/** RFC 3680 §5.1.2 contact events are lower-case words; this also keeps them safe in XML attributes. */
const CONTACT_EVENT = /^[a-z]{1,32}$/;

/** Validates a key and returns a frozen copy holding only its fields. */
export function checkKey(key: SubscriptionKey): SubscriptionKey {
  if (typeof key !== 'object' || key === null) throw invalid('a subscription key must be an object');
  const out: { -readonly [K in keyof SubscriptionKey]: SubscriptionKey[K] } = {
    callId: checkText(key.callId, 'key.callId'),
    localTag: checkText(key.localTag, 'key.localTag'),
  };
  if (key.eventId !== undefined) out.eventId = checkText(key.eventId, 'key.eventId', true);
  return Object.freeze(out);
}

/**
 * A key as one string: `Call-ID LF local tag LF` then `-` without an event id or `=` and the id.
 * None of the parts holds an LF, so the encoding is unambiguous and sorts by Call-ID first.
 */
export function encodeKey(key: SubscriptionKey): string {
  return `${key.callId}\n${key.localTag}\n${key.eventId === undefined ? '-' : `=${key.eventId}`}`;
}

/** The key {@link encodeKey} made `encoded` from. */
export function decodeKey(encoded: string): SubscriptionKey {
  const first = encoded.indexOf('\n');
  const second = encoded.indexOf('\n', first + 1);
  const callId = encoded.slice(0, first);
  const localTag = encoded.slice(first + 1, second);
  return encoded[second + 1] === '=' ? { callId, localTag, eventId: encoded.slice(second + 2) } : { callId, localTag };
}

function checkList<T>(value: readonly T[], what: string, check: (item: T, what: string) => T): readonly T[] {
  if (!Array.isArray(value)) throw invalid(`${what} must be an array`);
  return Object.freeze(value.map((item, i) => check(item, `${what}[${i}]`)));
}

function checkIdentity(identity: WatchedIdentity, what: string): WatchedIdentity {
  if (typeof identity !== 'object' || identity === null) throw invalid(`${what} must be an object`);
  if (typeof identity.barred !== 'boolean') throw invalid(`${what}.barred must be a boolean`);
  return Object.freeze({ impu: checkText(identity.impu, `${what}.impu`), barred: identity.barred });
}

function checkReported(reported: ReportedBinding, what: string): ReportedBinding {
  if (typeof reported !== 'object' || reported === null) throw invalid(`${what} must be an object`);
  if (typeof reported.event !== 'string' || !CONTACT_EVENT.test(reported.event)) {
    throw invalid(`${what}.event must be a contact event name (lower-case letters)`);
  }
  return Object.freeze({ binding: freezeBinding(reported.binding), event: reported.event });
}

/**
 * Validates a put's data and returns a frozen copy holding only the known fields, so later
 * changes to the caller's object never reach the store.
 */
export function checkSubscriptionData(data: SubscriptionData): SubscriptionData {
  if (typeof data !== 'object' || data === null) throw invalid('subscription data must be an object');
  return Object.freeze({
    aor: ownString(checkAor(data.aor)),
    identities: checkList(data.identities, 'identities', checkIdentity),
    localUri: checkText(data.localUri, 'localUri'),
    remoteUri: checkText(data.remoteUri, 'remoteUri'),
    remoteTag: checkText(data.remoteTag, 'remoteTag'),
    routeSet: checkList(data.routeSet, 'routeSet', (uri, what) => checkText(uri, what)),
    remoteTarget: checkText(data.remoteTarget, 'remoteTarget'),
    remoteCseq: checkInteger(data.remoteCseq, 'remoteCseq', 0, MAX_31_BIT),
    localCseq: checkInteger(data.localCseq, 'localCseq', 0, MAX_31_BIT),
    reginfoVersion: checkInteger(data.reginfoVersion, 'reginfoVersion', 0, Number.MAX_SAFE_INTEGER),
    reported: checkList(data.reported, 'reported', checkReported),
    expiresAt: checkInteger(data.expiresAt, 'expiresAt', 0, Number.MAX_SAFE_INTEGER),
  });
}

/** A fresh, caller-owned copy of stored (already valid) data: only the known fields. */
export function copySubscriptionData(data: SubscriptionData): SubscriptionData {
  return {
    aor: data.aor,
    identities: data.identities.map((i) => ({ impu: i.impu, barred: i.barred })),
    localUri: data.localUri,
    remoteUri: data.remoteUri,
    remoteTag: data.remoteTag,
    routeSet: data.routeSet.slice(),
    remoteTarget: data.remoteTarget,
    remoteCseq: data.remoteCseq,
    localCseq: data.localCseq,
    reginfoVersion: data.reginfoVersion,
    reported: data.reported.map((r) => ({ binding: copyBinding(r.binding), event: r.event })),
    expiresAt: data.expiresAt,
  };
}

/** A caller-owned record of stored data. */
export function toSubscriptionRecord(key: SubscriptionKey, version: number, data: SubscriptionData): SubscriptionRecord {
  return { key: { ...key }, version, ...copySubscriptionData(data) };
}
