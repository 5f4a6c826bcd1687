/**
 * What the `subscriber` commands accept as a subscriber: a number or user name of the home
 * domain, or a public identity URI, and the private identity that goes with it
 * (3GPP TS 23.003 §13.3: the IMPI is in NAI form, `user@realm`).
 */
import { randomInt } from 'node:crypto';

/** A subscriber's identities, as the commands provision them. */
export interface SubscriberIdentities {
  /** The default public identity (IMPU), `sip:6505550001@example.com`. */
  readonly impu: string;
  /** The private identity (IMPI), `6505550001@example.com`: the username a softphone asks for. */
  readonly impi: string;
}

/** A telephone number, optionally in international form (`+16505550001`). */
const NUMBER = /^\+?[0-9]+$/;
/** A user name: RFC 3261 §25.1 unreserved characters (no escapes). */
const USER = /^[A-Za-z0-9._~+-]+$/;
/** `sip:user@host` or `sips:user@host`, without parameters or headers. */
const SIP_URI = /^(sips?):([A-Za-z0-9._~+!$&'()*,;=%-]+)@([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::(\d{1,5}))?$/i;
/** `tel:+16505550001` (RFC 3966 global number, visual separators allowed). */
const TEL_URI = /^tel:(\+[0-9][0-9().-]*)$/i;

/** The argument is neither a number, a user name nor a SIP or tel URI. */
export class IdentityError extends Error {
  override readonly name = 'IdentityError';
}

/**
 * A bare number or user name N means IMPU `sip:N@<domain>` and IMPI `N@<domain>`; an IMPU
 * `sip:user@host` means IMPI `user@host`; `tel:+N` means IMPI `+N@<domain>`.
 */
export function identitiesOf(arg: string, domain: string): SubscriberIdentities {
  const text = arg.trim();
  if (NUMBER.test(text) || USER.test(text)) return { impu: `sip:${text}@${domain}`, impi: `${text}@${domain}` };
  const sip = SIP_URI.exec(text);
  if (sip) {
    if (sip[4] !== undefined) throw new IdentityError(`a public identity has no port: ${arg}`);
    return { impu: `${sip[1]!.toLowerCase()}:${sip[2]}@${sip[3]!.toLowerCase()}`, impi: `${sip[2]}@${sip[3]!.toLowerCase()}` };
  }
  const tel = TEL_URI.exec(text);
  if (tel) {
    const number = tel[1]!.replace(/[().-]/g, '');
    return { impu: `tel:${number}`, impi: `${number}@${domain}` };
  }
  throw new IdentityError(
    `"${arg}" is not a subscriber: give a number (6505550001), a user name, or a public identity (sip:6505550001@${domain}, tel:+16505550001)`,
  );
}

/** The public identity an argument names (see {@link identitiesOf}). */
export function impuOf(arg: string, domain: string): string {
  return identitiesOf(arg, domain).impu;
}

const BASE62 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
/** 16 base62 characters: about 95 bits. */
export const GENERATED_PASSWORD_LENGTH = 16;

/** A random password of {@link GENERATED_PASSWORD_LENGTH} base62 characters (uniform, from the CSPRNG). */
export function generatePassword(): string {
  let password = '';
  for (let i = 0; i < GENERATED_PASSWORD_LENGTH; i++) password += BASE62[randomInt(BASE62.length)];
  return password;
}
