/**
 * Communication diversion (3GPP TS 24.604): which rule of the served user applies to an event,
 * and the diverted request's History-Info (RFC 7044, TS 24.604 §4.5.2.6.1).
 *
 * History-Info as the AS writes it: the served user's entry (the one whose URI names the received
 * Request-URI, added with the next index when the request has none) gets the reason of the
 * diversion as an escaped Reason header (`?Reason=SIP;cause=486;text="Busy Here"`, RFC 7044
 * §4.2.1) and, when the rule says `reveal-identity-to-target` false, `Privacy=history` (§10.1);
 * the new entry is the target with the RFC 4458 `cause` parameter, an index one level below the
 * served user's and `mp` pointing at it (§4.2.2). The diversions so far are the entries with a
 * `cause` parameter.
 */
import { NameAddr, parseNameAddr, parseUri, REASON_PHRASES, SipUri, TelUri, type SipRequest, type Uri } from '../../sip/index.js';
import type { DiversionRule, DiversionService } from '../../xdms/simservs.js';
import type { HomeDomain } from '../identity.js';
import { mediaMatch } from './barring.js';

/** What diverts a communication (TS 24.604 §4.5.2.6.2 to §4.5.2.6.6). */
export type DiversionEvent = 'unconditional' | 'not-registered' | 'busy' | 'no-answer' | 'not-reachable';

/** RFC 4458 §3 / TS 24.604 Annex C: the `cause` value of each kind of diversion. */
export const DIVERSION_CAUSE: Readonly<Record<DiversionEvent, number>> = {
  unconditional: 302,
  busy: 486,
  'no-answer': 408,
  'not-registered': 404,
  'not-reachable': 503,
};

/** TS 24.604 §4.9.1.2: NoReplyTimer when the document gives none, in seconds. */
export const DEFAULT_NO_REPLY_SECONDS = 20;

/**
 * The first rule, in document order, that diverts on `event`: an unconditional rule holds no
 * condition but media; any other holds exactly that one condition (RFC 4745 ANDs conditions, so a
 * rule with two events would never match). Deactivated rules and rules with conditions this AS
 * does not evaluate (identity, validity, presence) never match; `media` conditions must all be
 * enabled in the offer.
 */
export function diversionRule(service: DiversionService | undefined, event: DiversionEvent, media: ReadonlySet<string> | undefined): DiversionRule | undefined {
  if (!service?.active) return undefined;
  return service.rules.find(
    (r) =>
      !r.deactivated &&
      r.extraConditions.length === 0 &&
      mediaMatch(r.media, media) &&
      (event === 'unconditional' ? r.conditions.length === 0 : r.conditions.length === 1 && r.conditions[0] === event),
  );
}

/**
 * The diversion a final response from the served user's side asks for: after the no-reply timer
 * fired, any failure is that branch being cancelled (no answer); otherwise 486 and 600 are busy,
 * 480 is not registered (the S-CSCF's answer when the user has no live contact), 408 and 5xx
 * are not reachable.
 */
export function responseEvent(status: number, noReplyFired: boolean): DiversionEvent | undefined {
  if (status < 300) return undefined;
  if (noReplyFired) return 'no-answer';
  if (status === 486 || status === 600) return 'busy';
  if (status === 480) return 'not-registered';
  if (status === 408 || (status >= 500 && status < 600)) return 'not-reachable';
  return undefined;
}

/** The History-Info entries of a request (a malformed one throws SipParseError naming the header). */
export function historyOf(req: SipRequest): NameAddr[] {
  return req.getAll('history-info').map((v) => parseNameAddr(v, 'history-info'));
}

/** Diversions the request went through: History-Info entries whose URI has `cause` (RFC 4458). */
export function diversionCount(history: readonly NameAddr[]): number {
  return history.filter((h) => h.uri.kind !== 'absolute' && h.uri.params.has('cause')).length;
}

/** A tel: number a call can go to: digits, `*` and `#`, optionally global. */
const DIALLABLE = /^\+?[0-9*#]+$/;

/** A forward-to target the core can route: a SIP URI of a resolvable host, or a tel URI with a number. */
export function parseTarget(text: string): Uri | undefined {
  let uri: Uri;
  try {
    uri = parseUri(text.trim());
  } catch {
    return undefined;
  }
  if (uri instanceof SipUri) {
    const host = uri.host.toLowerCase();
    return host === '' || host === 'invalid' || host.endsWith('.invalid') ? undefined : uri;
  }
  if (uri instanceof TelUri) return DIALLABLE.test(uri.digits) ? uri : undefined;
  return undefined;
}

export interface DiversionInput {
  /** The Request-URI the served user was reached at. */
  readonly requestUri: Uri;
  readonly servedUser: Uri;
  /** History-Info of the request as received. */
  readonly history: readonly NameAddr[];
  readonly rule: DiversionRule;
  readonly event: DiversionEvent;
  readonly maxDiversions: number;
  readonly home: HomeDomain;
}

/** A diversion to make, or why it cannot be made (answered 480). */
export type DiversionPlan =
  | { readonly ok: true; readonly target: Uri; readonly history: readonly string[] }
  | { readonly ok: false; readonly reason: string };

/** TS 24.604 §4.5.2.6.1: checks the target and the diversion count, and writes History-Info. */
export function planDiversion(input: DiversionInput): DiversionPlan {
  const target = parseTarget(input.rule.target);
  if (!target) return { ok: false, reason: 'Temporarily Unavailable - invalid forwarding target' };
  if (diversionCount(input.history) >= input.maxDiversions) return { ok: false, reason: 'Temporarily Unavailable - too many diversions' };
  const seen = [input.servedUser, input.requestUri, ...input.history.map((h) => h.uri)];
  if (seen.some((u) => sameIdentity(u, target, input.home))) return { ok: false, reason: 'Temporarily Unavailable - diversion loop' };
  return { ok: true, target, history: historyWith(input, target) };
}

function historyWith(input: DiversionInput, target: Uri): string[] {
  const entries = input.history.map((h) => h.clone());
  let at = -1;
  for (let i = entries.length - 1; i >= 0 && at < 0; i--) if (sameIdentity(entries[i]!.uri, input.requestUri, input.home)) at = i;
  if (at < 0) {
    const uri = input.requestUri.clone();
    if (uri instanceof SipUri) uri.headers = null;
    const entry = new NameAddr(uri);
    entry.params.set('index', nextIndex(entries));
    entries.push(entry);
    at = entries.length - 1;
  }
  const served = entries[at]!;
  const cause = DIVERSION_CAUSE[input.event];
  if (served.uri instanceof SipUri) {
    const reason = `Reason=${encodeURIComponent(`SIP;cause=${cause};text="${REASON_PHRASES[cause] ?? 'Diverted'}"`)}`;
    const privacy = input.rule.options?.['reveal-identity-to-target'] === false ? '&Privacy=history' : '';
    served.uri.headers = served.uri.headers ? `${served.uri.headers}&${reason}${privacy}` : `${reason}${privacy}`;
  }
  const parent = served.params.get('index') ?? '1';
  const next = target.clone();
  if (next.kind !== 'absolute') next.params.set('cause', String(cause));
  const entry = new NameAddr(next);
  entry.params.set('index', childIndex(parent, entries));
  entry.params.set('mp', parent);
  entries.push(entry);
  return entries.map((e) => e.toString());
}

/** The index of an entry added after the last one (RFC 7044 §10.3): one level below it. */
function nextIndex(entries: readonly NameAddr[]): string {
  const last = entries[entries.length - 1]?.params.get('index');
  return last ? `${last}.1` : '1';
}

/** The first free `parent.n` (RFC 7044 §10.3: a new branch of `parent`). */
function childIndex(parent: string, entries: readonly NameAddr[]): string {
  const used = new Set(entries.map((e) => e.params.get('index')));
  let n = 1;
  while (used.has(`${parent}.${n}`)) n++;
  return `${parent}.${n}`;
}

/** Two URIs name the same user: same address of record, or the same number in the home domain. */
export function sameIdentity(a: Uri, b: Uri, home: HomeDomain): boolean {
  const ids = new Set(home.candidates(a));
  return home.candidates(b).some((id) => ids.has(id));
}
