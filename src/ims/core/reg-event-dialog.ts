/**
 * The SIP side of a reg-event subscription (RFC 6665, RFC 3680): reading a SUBSCRIBE's Event
 * and Accept headers, naming its subscription, and building the next NOTIFY of a stored one
 * together with the subscription as it is once that NOTIFY is sent.
 */
import { makeRequest, parseNameAddr, type SipRequest } from '../../sip/index.js';
import type { Binding, SubscriptionData, SubscriptionKey, SubscriptionRecord } from '../../storage/index.js';
import { REGINFO_TYPE, bindingKey, fullReginfo, reginfoXml, reportContacts, type ReportCause, type ReportedContact } from './reginfo.js';

/** Why a subscription ends (RFC 6665 §4.2.2, Subscription-State reasons). */
export type Termination = 'timeout' | 'noresource';

const MAX_FORWARDS = '70';

/** `Event: reg;id=x` as package name (lower case) and id parameter (RFC 6665 §8.2.1). */
export function parseEvent(value: string | undefined): { package: string; id: string | undefined } | undefined {
  if (!value) return undefined;
  const [name, ...params] = value.split(';');
  let id: string | undefined;
  for (const p of params) {
    const eq = p.indexOf('=');
    if (eq > 0 && p.slice(0, eq).trim().toLowerCase() === 'id') id = p.slice(eq + 1).trim();
  }
  return { package: name!.trim().toLowerCase(), id };
}

/** The subscription a SUBSCRIBE names: its Call-ID, the notifier's tag and the Event id (RFC 6665 §4.1.2.3). */
export function subscriptionKey(callId: string, localTag: string, eventId: string | undefined): SubscriptionKey {
  return eventId === undefined ? { callId, localTag } : { callId, localTag, eventId };
}

/** RFC 6665 §4.2.1.1 / RFC 3680 §4.4: reginfo must be acceptable when Accept is present. */
export function acceptsReginfo(req: SipRequest): boolean {
  const values = req.getAll('accept').flatMap((v) => v.split(','));
  const types = values.map((v) => v.split(';')[0]!.trim().toLowerCase()).filter((t) => t.length > 0);
  if (!types.length) return true;
  return types.some((t) => t === REGINFO_TYPE || t === 'application/*' || t === '*/*');
}

/** The host of a Path URI, lower case; undefined for one that does not parse. */
export function pathHost(path: string): string | undefined {
  try {
    const uri = parseNameAddr(path.startsWith('<') ? path : `<${path}>`, 'path').uri;
    return uri.kind === 'sip' ? uri.host.toLowerCase() : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The next NOTIFY of `sub`: the set's `bindings` as a full document with the next version (RFC
 * 3680 §5.3), in the dialog with the next CSeq; with `end`, Subscription-State terminated with
 * that reason (RFC 6665 §4.2.2), else active with the seconds left. `data` is the subscription
 * as stored once that NOTIFY is sent (next CSeq and version, the contacts it reported).
 */
export function nextNotify(
  sub: SubscriptionRecord,
  bindings: readonly Binding[],
  cause: ReportCause,
  end: Termination | undefined,
  now: number,
  contact: string,
): { data: SubscriptionData; request: SipRequest } {
  // `reported` holds only what this function stored: ContactEvent values (the store checks their form).
  const previous = new Map(sub.reported.map((r) => [bindingKey(r.binding), r as ReportedContact]));
  const report = reportContacts(previous, bindings, cause, now);
  const body = reginfoXml(fullReginfo(sub.reginfoVersion, sub.identities, report, now));
  const { key, version: _version, ...current } = sub;
  const data: SubscriptionData = {
    ...current,
    localCseq: sub.localCseq + 1,
    reginfoVersion: sub.reginfoVersion + 1,
    reported: [...report.next.values()],
  };
  const state = end ? `terminated;reason=${end}` : `active;expires=${Math.max(1, Math.ceil((sub.expiresAt - now) / 1000))}`;
  return { data, request: notifyRequest(key, data, state, body, contact) };
}

/** The NOTIFY inside the subscription's dialog (RFC 3261 §12.2.1.1, RFC 6665 §4.2.2); the sender adds Via. */
function notifyRequest(key: SubscriptionKey, sub: SubscriptionData, subscriptionState: string, body: string, contact: string): SipRequest {
  let uri = sub.remoteTarget;
  let routes = sub.routeSet;
  const first = routes[0] !== undefined ? parseNameAddr(routes[0], 'route') : undefined;
  if (first && !(first.uri.kind === 'sip' && first.uri.params.has('lr'))) {
    // A strict router (RFC 3261 §12.2.1.1): it becomes the Request-URI, the target the last Route.
    uri = first.uri.toString();
    routes = [...routes.slice(1), `<${sub.remoteTarget}>`];
  }
  const headers: Array<[string, string]> = [['Max-Forwards', MAX_FORWARDS]];
  for (const r of routes) headers.push(['Route', r]);
  headers.push(
    ['From', sub.localUri],
    ['To', sub.remoteUri],
    ['Call-ID', key.callId],
    ['CSeq', `${sub.localCseq} NOTIFY`],
    ['Contact', `<${contact}>`],
    ['Event', key.eventId !== undefined ? `reg;id=${key.eventId}` : 'reg'],
    ['Subscription-State', subscriptionState],
    ['Content-Type', REGINFO_TYPE],
  );
  return makeRequest('NOTIFY', uri, headers, body);
}
