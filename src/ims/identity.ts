/**
 * Public identities as the core looks them up: the address-of-record form of a SIP URI
 * (RFC 3261 §10.3 step 5), and numbers (tel URIs, or digits in a SIP URI's user part) resolved
 * to the home domain's subscribers (TS 24.229 §5.4.3.2: the S-CSCF translates tel URIs).
 */
import { SipUri, TelUri, lowerAscii, type Uri } from '../sip/index.js';

const DIGITS_ONLY = /^\+?[0-9]+$/;
const SEPARATORS = /[-.()]/g;
const LEADING_PLUS = /^\+/;
const URI_SCHEME = /^(sips?|tel):/;

export class HomeDomain {
  readonly domain: string;

  constructor(domain: string) {
    this.domain = domain.toLowerCase();
  }

  /** True for a SIP URI of the home domain, and for any tel URI (numbers are ours to resolve). */
  isHome(uri: Uri): boolean {
    if (uri instanceof TelUri) return true;
    return uri instanceof SipUri && lowerAscii(uri.host) === this.domain;
  }

  /**
   * The IMPUs `uri` may name, most specific first: the URI's own AoR, then for a number the
   * home domain's `sip:<digits>@domain` and `tel:+<digits>` forms.
   */
  candidates(uri: Uri): string[] {
    if (uri instanceof TelUri) {
      const digits = uri.digits.replace(LEADING_PLUS, '');
      return unique(`sip:${digits}@${this.domain}`, `tel:+${digits}`, `tel:${uri.digits}`);
    }
    if (!(uri instanceof SipUri)) return [];
    const aor = canonicalAor(uri);
    const user = uri.user?.replace(SEPARATORS, '');
    if (!user || !DIGITS_ONLY.test(user) || lowerAscii(uri.host) !== this.domain) return [aor];
    const digits = user.replace(LEADING_PLUS, '');
    return unique(aor, `sip:${digits}@${this.domain}`, `tel:+${digits}`);
  }
}

/** `sip:user@host` with the host lower-cased, no port or parameters (RFC 3261 §10.3 step 5). */
export function canonicalAor(uri: SipUri): string {
  return `sip:${uri.user !== null ? `${uri.user}@` : ''}${uri.host.toLowerCase()}`;
}

/**
 * The private identity derived from a public one when the client sent no Digest username:
 * `sip:user@host` gives `user@host` (TS 33.203 §7.2A.1, TS 24.229 §5.1.1.2.1).
 */
export function derivedImpi(impu: string): string {
  return impu.replace(URI_SCHEME, '');
}

/** The IMPU form of a header URI (To of a REGISTER, P-Asserted-Identity), or undefined. */
export function impuOf(uri: Uri): string | undefined {
  if (uri instanceof SipUri) return canonicalAor(uri);
  if (uri instanceof TelUri) return `tel:${uri.digits}`;
  return undefined;
}

/** `a`, `b` and `c` without repeats, in that order (no Set: this runs on every request). */
function unique(a: string, b: string, c: string): string[] {
  if (a === b) return a === c ? [a] : [a, c];
  return a === c || b === c ? [a, b] : [a, b, c];
}
