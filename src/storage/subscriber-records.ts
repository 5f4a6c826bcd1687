/**
 * Validation and copying of subscriber data, shared by every adapter so they accept and
 * return exactly the same values.
 */
import { invalid } from './errors.js';
import type {
  AkaCredentials,
  AkaKeys,
  DigestHa1,
  Ha1Algorithm,
  PrivateIdentity,
  PublicIdentity,
  RegistrationState,
  ScscfAssignment,
} from './subscriber-store.js';

const CONTROL_OR_SPACE = /[\0-\x20\x7f]/;
/** TS 23.003 §13.4: an IMPU is a SIP URI (RFC 3261) or a tel URI (RFC 3966). */
const IMPU_SCHEME = /^(?:sips?|tel):./i;
const LOWER_HEX = /^[0-9a-f]+$/;
const LINE_BREAK_OR_NUL = /[\r\n\0]/;
/** Hex digits of each algorithm's HA1. */
const HA1_HEX_LENGTH: ReadonlyMap<unknown, number> = new Map<Ha1Algorithm, number>([
  ['MD5', 32],
  ['SHA-256', 64],
  ['SHA-512-256', 64],
]);
const STATES: ReadonlySet<string> = new Set<RegistrationState>(['NOT_REGISTERED', 'REGISTERED', 'UNREGISTERED']);
/** SQN is 48 bits (TS 33.102 §6.3.2). */
export const MAX_SQN = 2 ** 48 - 1;

function checkToken(value: unknown, what: string): string {
  if (typeof value !== 'string' || value.length === 0 || CONTROL_OR_SPACE.test(value)) {
    throw invalid(`${what} must be a non-empty string without spaces or control characters`);
  }
  return value;
}

/** Validates an IMPI (NAI, TS 23.003 §13.3); any non-empty token is accepted. */
export function checkImpi(impi: unknown): string {
  return checkToken(impi, 'impi');
}

/** Validates an IMPU: a `sip:`, `sips:` or `tel:` URI. */
export function checkImpu(impu: unknown): string {
  const value = checkToken(impu, 'impu');
  if (!IMPU_SCHEME.test(value)) throw invalid(`impu must be a sip:, sips: or tel: URI, got ${value}`);
  return value;
}

/** Validates an implicit set id. */
export function checkSetId(id: unknown): string {
  return checkToken(id, 'implicit set id');
}

/** Validates a service profile: any string (XML is parsed by the core, not here). */
export function checkServiceProfile(profile: unknown): string {
  if (typeof profile !== 'string') throw invalid('serviceProfile must be a string');
  return profile;
}

/**
 * Validates HA1 entries: known algorithm, realm present, hex of the hash's size (upper-case
 * hex is lowered), at most one per (realm, algorithm). Returns copies sorted by realm, then
 * algorithm: the order every adapter returns them in. A password given by mistake where the
 * HA1 belongs is refused here, so it can never be stored.
 */
export function checkDigest(digest: readonly DigestHa1[]): DigestHa1[] {
  if (!Array.isArray(digest)) throw invalid('digest must be an array of HA1 entries');
  const seen = new Set<string>();
  const checked = digest.map((d): DigestHa1 => {
    const length = HA1_HEX_LENGTH.get(d?.algorithm);
    if (length === undefined) throw invalid(`unsupported HA1 algorithm: ${String(d?.algorithm)}`);
    if (typeof d.realm !== 'string' || d.realm.length === 0 || LINE_BREAK_OR_NUL.test(d.realm)) {
      throw invalid('digest realm must be a non-empty string');
    }
    const ha1 = typeof d.ha1 === 'string' ? d.ha1.toLowerCase() : '';
    if (ha1.length !== length || !LOWER_HEX.test(ha1)) {
      throw invalid(`an ${d.algorithm} HA1 is ${length} hex digits; refusing anything else (never a password)`);
    }
    const key = `${d.realm}\n${d.algorithm}`;
    if (seen.has(key)) throw invalid(`two HA1 entries for realm ${d.realm} and ${d.algorithm}`);
    seen.add(key);
    return { realm: d.realm, algorithm: d.algorithm, ha1 };
  });
  return checked.sort(byRealmThenAlgorithm);
}

/** The order every adapter returns HA1 entries in. */
function byRealmThenAlgorithm(a: DigestHa1, b: DigestHa1): number {
  if (a.realm !== b.realm) return a.realm < b.realm ? -1 : 1;
  return a.algorithm < b.algorithm ? -1 : a.algorithm > b.algorithm ? 1 : 0;
}

function checkBytes(value: unknown, length: number, what: string): Buffer {
  if (!Buffer.isBuffer(value) || value.length !== length) throw invalid(`${what} must be ${length} bytes`);
  return Buffer.from(value);
}

/** Validates an SQN value. */
export function checkSqn(sqn: unknown): number {
  if (typeof sqn !== 'number' || !Number.isSafeInteger(sqn) || sqn < 0 || sqn > MAX_SQN) {
    throw invalid(`SQN must be an integer from 0 to 2^48-1, got ${String(sqn)}`);
  }
  return sqn;
}

/** Validates and copies AKA keys (K and OPc 16 bytes, AMF 2 bytes). */
export function checkAkaKeys(aka: AkaKeys): AkaKeys {
  if (typeof aka !== 'object' || aka === null) throw invalid('aka must be an object');
  return { k: checkBytes(aka.k, 16, 'aka.k'), opc: checkBytes(aka.opc, 16, 'aka.opc'), amf: checkBytes(aka.amf, 2, 'aka.amf') };
}

/** Validates and copies a whole private identity. */
export function checkPrivateIdentity(p: PrivateIdentity): PrivateIdentity {
  if (typeof p !== 'object' || p === null) throw invalid('a private identity must be an object');
  const out: { -readonly [K in keyof PrivateIdentity]: PrivateIdentity[K] } = {
    impi: checkImpi(p.impi),
    digest: checkDigest(p.digest),
  };
  if (p.aka !== undefined) out.aka = { ...checkAkaKeys(p.aka), sqn: checkSqn(p.aka.sqn) };
  return out;
}

/** Validates and copies a public identity; `barred` defaults to false. */
export function checkPublicIdentity(p: PublicIdentity): PublicIdentity {
  if (typeof p !== 'object' || p === null) throw invalid('a public identity must be an object');
  return { impu: checkImpu(p.impu), implicitSetId: checkSetId(p.implicitSetId), barred: p.barred === true };
}

/** Validates a state change: a known state, and an S-CSCF unless NOT_REGISTERED. */
export function checkAssignment(a: ScscfAssignment): ScscfAssignment {
  if (typeof a !== 'object' || a === null || !STATES.has(a.state)) {
    throw invalid(`registration state must be one of ${[...STATES].join(', ')}`);
  }
  if (a.scscf === undefined) {
    if (a.state !== 'NOT_REGISTERED') throw invalid(`state ${a.state} needs the assigned S-CSCF`);
    return { state: a.state };
  }
  return { state: a.state, scscf: checkToken(a.scscf, 'scscf') };
}

/** Validates an SQN step: 1 to 2^32. */
export function checkSqnStep(step: unknown): number {
  if (typeof step !== 'number' || !Number.isSafeInteger(step) || step < 1 || step > 2 ** 32) {
    throw invalid(`SQN step must be an integer from 1 to 2^32, got ${String(step)}`);
  }
  return step;
}

/** A deep copy of stored AKA credentials. */
export function copyAka(aka: AkaCredentials): AkaCredentials {
  return { k: Buffer.from(aka.k), opc: Buffer.from(aka.opc), amf: Buffer.from(aka.amf), sqn: aka.sqn };
}

/** A deep copy of a stored private identity. */
export function copyPrivateIdentity(p: PrivateIdentity): PrivateIdentity {
  const digest = p.digest.map((d) => ({ realm: d.realm, algorithm: d.algorithm, ha1: d.ha1 }));
  return p.aka === undefined ? { impi: p.impi, digest } : { impi: p.impi, digest, aka: copyAka(p.aka) };
}
