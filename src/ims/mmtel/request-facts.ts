/**
 * What the MMTel application server reads from a request the S-CSCF sent it over ISC
 * (3GPP TS 24.229 §5.7.1): whom it serves and in which session case (RFC 5502 P-Served-User),
 * the media of the SDP offer (TS 24.604 §4.9.1.3 `media` condition), the caller's privacy
 * (RFC 3323 Privacy, RFC 3325 P-Asserted-Identity) and the number dialled (TS 24.611 §4.9.1.3
 * `international`).
 */
import { SipUri, TelUri, type SipRequest, type Uri } from '../../sip/index.js';
import { mediaSections } from '../sdp.js';

/** RFC 5502 §6: the served user and session case of an ISC request. */
export interface ServedUser {
  readonly uri: Uri;
  readonly sessionCase: 'orig' | 'term';
  /** `regstate=reg` (or absent); false for `unreg`. */
  readonly registered: boolean;
  /** TS 24.229 §5.4.3.3: the originating services of a diverting user (`orig-cdiv`). */
  readonly originatingCdiv: boolean;
}

const P_SERVED_USER = 'p-served-user';

/**
 * The served user of the request, or undefined when it has no P-Served-User or the header says no
 * session case (then the AS cannot tell which services apply). A malformed header throws the
 * parser's SipParseError (the core answers 400 naming it).
 */
export function servedUserOf(req: SipRequest): ServedUser | undefined {
  if (!req.has(P_SERVED_USER)) return undefined;
  const psu = req.nameAddrs(P_SERVED_USER)[0];
  if (!psu) return undefined;
  const sescase = psu.params.get('sescase')?.toLowerCase();
  if (sescase !== 'orig' && sescase !== 'term') return undefined;
  return {
    uri: psu.uri,
    sessionCase: sescase,
    registered: psu.params.get('regstate')?.toLowerCase() !== 'unreg',
    originatingCdiv: psu.params.has('orig-cdiv'),
  };
}

/**
 * The media types the SDP offer of `req` enables (RFC 4566 §5.14: `m=<media> <port> ...`, a port
 * of 0 disables the stream), or undefined when the request carries no SDP.
 */
export function offeredMedia(req: SipRequest): ReadonlySet<string> | undefined {
  const body = req.body;
  if (body.length === 0) return undefined;
  const type = req.get('content-type')?.toLowerCase() ?? '';
  if (!type.startsWith('application/sdp') && !type.startsWith('multipart/')) return undefined;
  const media = new Set<string>();
  for (const m of mediaSections(body.toString('utf8'))) if (m.media && m.port !== 0) media.add(m.media);
  return media;
}

/** The values of the Privacy header (RFC 3323 §4.2), lower-cased. */
export function privacyOf(req: SipRequest): Set<string> {
  const out = new Set<string>();
  for (const line of req.getAll('privacy')) {
    for (const v of line.split(/[;,]/)) {
      const value = v.trim().toLowerCase();
      if (value) out.add(value);
    }
  }
  return out;
}

/** True when the network was asked to withhold the caller's identity (RFC 3323 `id` or `header`). */
export function identityRestricted(req: SipRequest): boolean {
  const privacy = privacyOf(req);
  return privacy.has('id') || privacy.has('header');
}

/** RFC 3323 §4.1.1.3 / RFC 3261 §8.1.1.3: `anonymous@anonymous.invalid` or any anonymous user. */
export function isAnonymousUri(uri: Uri): boolean {
  if (!(uri instanceof SipUri)) return false;
  return uri.host.toLowerCase() === 'anonymous.invalid' || uri.user?.toLowerCase() === 'anonymous';
}

/**
 * TS 24.611 §4.5.2.6.2 (ACR): the caller's identity is withheld: Privacy `id` or `header`, or an
 * anonymous From or P-Asserted-Identity.
 */
export function callerAnonymous(req: SipRequest): boolean {
  if (identityRestricted(req)) return true;
  if (isAnonymousUri(req.from.uri)) return true;
  return req.has('p-asserted-identity') && req.nameAddrs('p-asserted-identity').some((p) => isAnonymousUri(p.uri));
}

/** The caller as the network asserts it (first P-Asserted-Identity), else the From URI. */
export function callerUri(req: SipRequest): Uri {
  const pai = req.has('p-asserted-identity') ? req.nameAddrs('p-asserted-identity')[0] : undefined;
  return pai?.uri ?? req.from.uri;
}

const VISUAL_SEPARATORS = /[-.()]/g;
const NUMBER = /^\+?[0-9]+$/;

/** The number a URI holds (a tel URI, or a SIP user part made of digits), separators removed. */
export function numberOf(uri: Uri): string | undefined {
  let raw: string | undefined;
  if (uri instanceof TelUri) raw = uri.number;
  else if (uri instanceof SipUri && uri.user !== null) raw = unescapeUser(uri.user);
  if (raw === undefined) return undefined;
  const n = raw.replace(VISUAL_SEPARATORS, '');
  return NUMBER.test(n) ? n : undefined;
}

function unescapeUser(user: string): string {
  try {
    return decodeURIComponent(user);
  } catch {
    return user;
  }
}

/** How international numbers are recognised (TS 24.611 §4.9.1.3 `international`). */
export interface NumberPlan {
  /** Prefixes dialled before a country code, e.g. `00` and `011`. */
  readonly internationalPrefixes: readonly string[];
  /** The home country code without `+`, e.g. `1`. */
  readonly homeCountryCode: string;
}

/**
 * True for a number outside the home country: one dialled with an international prefix, or a
 * global number (`+cc...`) whose country code is not the home one. E.164 country codes are
 * prefix-free, so `+<home code>` at the start means the home country.
 */
export function isInternational(uri: Uri, plan: NumberPlan): boolean {
  const n = numberOf(uri);
  if (n === undefined) return false;
  if (n.startsWith('+')) return !n.startsWith(`+${plan.homeCountryCode}`);
  return plan.internationalPrefixes.some((p) => p.length > 0 && n.startsWith(p));
}
