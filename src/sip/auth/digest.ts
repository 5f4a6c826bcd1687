/**
 * HTTP Digest computations for SIP: HA1, HA2 and the request-digest ("response").
 *
 * RFC 3261 §22.4 adopts HTTP Digest for SIP; RFC 7616 §3.4 gives the computation and the
 * SHA-256 / SHA-512-256 algorithms; RFC 8760 §2 makes those algorithms available to SIP.
 * The server stores only HA1 = H(username ":" realm ":" password), never the password.
 */
import { createHash, type BinaryLike } from 'node:crypto';

/** Algorithm tokens this module computes (RFC 7616 §3.3, RFC 8760 §2). */
export type DigestAlgorithm =
  | 'MD5'
  | 'MD5-sess'
  | 'SHA-256'
  | 'SHA-256-sess'
  | 'SHA-512-256'
  | 'SHA-512-256-sess';

/** The hash behind an algorithm, i.e. the algorithm without its `-sess` suffix. */
export type DigestHash = 'MD5' | 'SHA-256' | 'SHA-512-256';

/** Quality-of-protection values (RFC 7616 §3.3). */
export type DigestQop = 'auth' | 'auth-int';

/** What an algorithm token means: its canonical spelling, hash and session flag. */
export interface DigestAlgorithmInfo {
  /** Canonical spelling, e.g. `SHA-256-sess`. */
  readonly name: DigestAlgorithm;
  /** The underlying hash. */
  readonly hash: DigestHash;
  /** True for the `-sess` variants (RFC 7616 §3.4.2). */
  readonly session: boolean;
}

const NODE_HASH: Readonly<Record<DigestHash, string>> = {
  MD5: 'md5',
  'SHA-256': 'sha256',
  'SHA-512-256': 'sha512-256',
};

const ALGORITHMS: ReadonlyMap<string, DigestAlgorithmInfo> = new Map(
  (['MD5', 'SHA-256', 'SHA-512-256'] as const).flatMap(
    (hash): [string, DigestAlgorithmInfo][] => [
      [hash.toLowerCase(), { name: hash, hash, session: false }],
      [`${hash.toLowerCase()}-sess`, { name: `${hash}-sess`, hash, session: true }],
    ],
  ),
);

/**
 * Looks up an `algorithm` token, case-insensitively. An absent token means MD5
 * (RFC 7616 §3.3: "If this is not present, it is assumed to be MD5"; RFC 3261 §22.4).
 * Returns undefined for an algorithm this module does not compute.
 */
export function digestAlgorithmInfo(token: string | undefined): DigestAlgorithmInfo | undefined {
  return ALGORITHMS.get(token === undefined ? 'md5' : token.toLowerCase());
}

function requireAlgorithm(algorithm: DigestAlgorithm): DigestAlgorithmInfo {
  const info = ALGORITHMS.get(algorithm.toLowerCase());
  if (!info) throw new RangeError(`unsupported Digest algorithm: ${algorithm}`);
  return info;
}

/** Lowercase hex of H(data) for the given hash. */
export function digestHash(hash: DigestHash, ...parts: BinaryLike[]): string {
  const h = createHash(NODE_HASH[hash]);
  for (const part of parts) h.update(part);
  return h.digest('hex');
}

/**
 * HA1 = H(username ":" realm ":" password), RFC 7616 §3.4.2. This is the value a server
 * stores. For `-sess` algorithms the stored value is still this one; the session key is
 * derived per nonce by {@link computeSessionHa1}. The password may be raw bytes (Digest
 * AKA uses the binary RES as the password, RFC 3310 §3.3). Strings are UTF-8.
 */
export function computeHa1(
  algorithm: DigestAlgorithm,
  username: string,
  realm: string,
  password: string | Buffer,
): string {
  const { hash } = requireAlgorithm(algorithm);
  return digestHash(hash, `${username}:${realm}:`, password);
}

/**
 * Session HA1 for `-sess` algorithms: H(HA1 ":" nonce ":" cnonce), RFC 7616 §3.4.2,
 * where HA1 is the stored lowercase hex string.
 */
export function computeSessionHa1(
  algorithm: DigestAlgorithm,
  ha1: string,
  nonce: string,
  cnonce: string,
): string {
  const { hash } = requireAlgorithm(algorithm);
  return digestHash(hash, `${ha1.toLowerCase()}:${nonce}:${cnonce}`);
}

/**
 * HA2 per RFC 7616 §3.4.3: H(method ":" uri) for qop=auth or no qop, and
 * H(method ":" uri ":" H(entity-body)) for qop=auth-int. In SIP an empty body hashes the
 * empty string (RFC 3261 §22.4).
 */
export function computeHa2(
  algorithm: DigestAlgorithm,
  method: string,
  uri: string,
  qop?: DigestQop,
  body?: Buffer | string,
): string {
  const { hash } = requireAlgorithm(algorithm);
  if (qop === 'auth-int') {
    return digestHash(hash, `${method}:${uri}:${digestHash(hash, body ?? '')}`);
  }
  return digestHash(hash, `${method}:${uri}`);
}

/** Inputs of {@link computeResponse}. */
export interface DigestResponseInput {
  readonly algorithm: DigestAlgorithm;
  /** Stored HA1 (hex), never the password. */
  readonly ha1: string;
  readonly nonce: string;
  readonly method: string;
  /** The `uri` directive of the credentials (not necessarily the Request-URI). */
  readonly uri: string;
  /** Absent for RFC 2069 compatibility (no cnonce, no nc). */
  readonly qop?: DigestQop;
  /** Nonce count, 8 hex digits as sent by the client; required with qop. */
  readonly nc?: string;
  /** Required with qop and with `-sess` algorithms. */
  readonly cnonce?: string;
  /** Message body, for qop=auth-int. */
  readonly body?: Buffer | string;
}

/**
 * The request-digest a client must send, RFC 7616 §3.4.1:
 * with qop, H(HA1 ":" nonce ":" nc ":" cnonce ":" qop ":" HA2);
 * without qop (RFC 2069 compatibility, RFC 3261 §22.4), H(HA1 ":" nonce ":" HA2).
 * Throws RangeError when a directive the computation needs is missing.
 */
export function computeResponse(input: DigestResponseInput): string {
  const info = requireAlgorithm(input.algorithm);
  let ha1 = input.ha1.toLowerCase();
  if (info.session) {
    if (input.cnonce === undefined) throw new RangeError(`${info.name} needs a cnonce`);
    ha1 = computeSessionHa1(info.name, ha1, input.nonce, input.cnonce);
  }
  const ha2 = computeHa2(info.name, input.method, input.uri, input.qop, input.body);
  if (input.qop === undefined) return digestHash(info.hash, `${ha1}:${input.nonce}:${ha2}`);
  if (input.nc === undefined || input.cnonce === undefined) {
    throw new RangeError('qop needs nc and cnonce');
  }
  return digestHash(
    info.hash,
    `${ha1}:${input.nonce}:${input.nc}:${input.cnonce}:${input.qop}:${ha2}`,
  );
}

/**
 * The `username` directive value when the challenge asked for userhash=true:
 * H(username ":" realm), RFC 7616 §3.4.4. HA1 keeps using the clear username.
 */
export function computeUserhash(hash: DigestHash, username: string, realm: string): string {
  return digestHash(hash, `${username}:${realm}`);
}
