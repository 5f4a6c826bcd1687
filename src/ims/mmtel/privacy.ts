/**
 * Originating identity presentation and restriction (3GPP TS 24.607 OIP/OIR) as a proxy AS can
 * apply them.
 *
 * Originating side (OIR): the forwarded request gets `From: "Anonymous"
 * <sip:anonymous@anonymous.invalid>` with the caller's tag (RFC 3323 §4.1.1.3) and `Privacy: id`.
 * P-Asserted-Identity stays: inside the trust domain the S-CSCF, other application servers and a
 * PSTN gateway (which signals "presentation restricted" with the number) need it (RFC 3325 §7).
 * Terminating side: the callee's MMTel AS is the last service before the callee's UE, and it
 * removes P-Asserted-Identity when the request asks for `id` or `header` privacy, or when the
 * callee has OIP deactivated, so the callee sees neither the number nor the asserted identity.
 */
import type { SipRequest } from '../../sip/index.js';
import { privacyOf } from './request-facts.js';

export const ANONYMOUS_URI = 'sip:anonymous@anonymous.invalid';

/**
 * TS 24.607 §4.5.2.5: makes the caller anonymous towards the callee; returns the From it had, to
 * put back into responses on their way to the caller.
 */
export function withholdIdentity(req: SipRequest): string {
  const original = req.get('from')!;
  const tag = req.from.tag;
  req.set('from', `"Anonymous" <${ANONYMOUS_URI}>${tag !== undefined ? `;tag=${tag}` : ''}`);
  const privacy = [...privacyOf(req)].filter((v) => v !== 'none' && v !== 'id');
  req.set('privacy', [...privacy, 'id'].join(';'));
  return original;
}

/** TS 24.607 §4.5.2.4: whether the caller's identity is to be withheld. */
export function restrictionWanted(req: SipRequest, oir: { readonly active: boolean; readonly defaultBehaviour?: string } | undefined): boolean {
  const privacy = privacyOf(req);
  if (privacy.has('id') || privacy.has('header')) return true;
  // Temporary mode: a caller's `Privacy: none` presents the identity for this call.
  if (privacy.has('none')) return false;
  return oir?.active === true && oir.defaultBehaviour !== 'presentation-not-restricted';
}
