/**
 * Digest AKA version 1 (RFC 3310) on MILENAGE: authentication vectors, the nonce that
 * carries RAND and AUTN, verification of the client's Digest response, and SQN
 * resynchronisation from AUTS (3GPP TS 33.102 §6.3.3 and §6.3.5).
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { computeHa1, type DigestAlgorithmInfo } from './digest.js';
import type { DigestCredentials } from './digest-header.js';
import {
  checkCredentials,
  digestFailure,
  responseMatches,
  type DigestFailure,
} from './digest-verifier.js';
import { Milenage, type OperatorKey } from './milenage.js';

/** The Digest algorithm token of Digest AKA version 1 (RFC 3310 §3.1). */
export const AKA_V1_MD5 = 'AKAv1-MD5';

/** A subscriber's MILENAGE keys: a ready {@link Milenage}, or K with OP or OPc. */
export type AkaKeys = { readonly milenage: Milenage } | ({ readonly k: Buffer } & OperatorKey);

/** An authentication vector (TS 33.102 §6.3.2) plus its RFC 3310 nonce. */
export interface AkaVector {
  readonly rand: Buffer;
  /** AUTN = (SQN ⊕ AK) ‖ AMF ‖ MAC-A, 16 bytes. */
  readonly autn: Buffer;
  /** Expected RES; also the Digest password (RFC 3310 §3.3). */
  readonly xres: Buffer;
  readonly ck: Buffer;
  readonly ik: Buffer;
  readonly sqn: Buffer;
  readonly amf: Buffer;
  /** base64(RAND ‖ AUTN ‖ server data), RFC 3310 §3.2. */
  readonly nonce: string;
}

/** Inputs of {@link generateAkaVector}. */
export interface AkaVectorRequest {
  readonly keys: AkaKeys;
  /** 6 bytes; choosing and advancing SQN (TS 33.102 Annex C) is the caller's job. */
  readonly sqn: Buffer;
  /** 2 bytes. */
  readonly amf: Buffer;
  /** 16 bytes; random when omitted. */
  readonly rand?: Buffer;
  /** Opaque bytes appended to the nonce (RFC 3310 §3.2 "server specific data"). */
  readonly serverData?: Buffer;
}

/** RAND, AUTN and server data recovered from an RFC 3310 nonce. */
export interface AkaNonceParts {
  readonly rand: Buffer;
  readonly autn: Buffer;
  readonly serverData: Buffer;
}

const RAND_BYTES = 16;
const AUTN_BYTES = 16;
const AUTS_BYTES = 14;
const SQN_BYTES = 6;
/** TS 33.102 §6.3.3: MAC-S is computed with a dummy AMF of all zeros. */
const RESYNC_AMF = Buffer.alloc(2);
const BASE64_SHAPE = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const AKA_ALGORITHM: DigestAlgorithmInfo = Object.freeze({ name: 'MD5', hash: 'MD5', session: false });

function milenageOf(keys: AkaKeys): Milenage {
  return 'milenage' in keys ? keys.milenage : new Milenage(keys.k, keys);
}

function xor(a: Buffer, b: Buffer): Buffer {
  const out = Buffer.allocUnsafe(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i]! ^ b[i]!;
  return out;
}

/** Strict standard base64 decoding (RFC 4648 §4, padded); undefined when malformed. */
function decodeBase64(text: string): Buffer | undefined {
  return BASE64_SHAPE.test(text) ? Buffer.from(text, 'base64') : undefined;
}

/** The RFC 3310 §3.2 nonce: base64(RAND ‖ AUTN ‖ server data). */
export function encodeAkaNonce(rand: Buffer, autn: Buffer, serverData?: Buffer): string {
  const parts = serverData ? [rand, autn, serverData] : [rand, autn];
  return Buffer.concat(parts).toString('base64');
}

/** Splits an RFC 3310 nonce; undefined when it is not base64 of at least 32 bytes. */
export function decodeAkaNonce(nonce: string): AkaNonceParts | undefined {
  const raw = decodeBase64(nonce);
  if (!raw || raw.length < RAND_BYTES + AUTN_BYTES) return undefined;
  return {
    rand: raw.subarray(0, RAND_BYTES),
    autn: raw.subarray(RAND_BYTES, RAND_BYTES + AUTN_BYTES),
    serverData: raw.subarray(RAND_BYTES + AUTN_BYTES),
  };
}

/**
 * Generates an authentication vector (TS 33.102 §6.3.2): XRES = f2, CK = f3, IK = f4,
 * AK = f5, MAC-A = f1 over SQN and AMF, AUTN = (SQN ⊕ AK) ‖ AMF ‖ MAC-A; and the
 * RFC 3310 §3.2 nonce carrying RAND and AUTN.
 */
export function generateAkaVector(request: AkaVectorRequest): AkaVector {
  const rand = request.rand ?? randomBytes(RAND_BYTES);
  const { sqn, amf } = request;
  const out = milenageOf(request.keys).compute(rand, sqn, amf);
  const autn = Buffer.concat([xor(sqn, out.ak), amf, out.macA]);
  return {
    rand: Buffer.from(rand),
    autn,
    xres: out.res,
    ck: out.ck,
    ik: out.ik,
    sqn: Buffer.from(sqn),
    amf: Buffer.from(amf),
    nonce: encodeAkaNonce(rand, autn, request.serverData),
  };
}

/**
 * HA1 for Digest AKAv1-MD5: the password is the raw RES bytes (RFC 3310 §3.3), so
 * HA1 = MD5(username ":" realm ":" XRES). An empty password is used with AUTS (§3.2).
 */
export function akaHa1(username: string, realm: string, res: Buffer): string {
  return computeHa1('MD5', username, realm, res);
}

/** Inputs of {@link verifyAkaResponse}. */
export interface AkaVerifyRequest {
  readonly credentials: DigestCredentials;
  readonly method: string;
  /** The realm this server challenged with. */
  readonly realm: string;
  /** The vector whose nonce was sent in the challenge. */
  readonly vector: Pick<AkaVector, 'nonce' | 'xres'>;
  /** Message body, for qop=auth-int. */
  readonly body?: Buffer | string;
  /** Accept credentials without qop (see DigestVerifierDeps.allowMissingQop); default false. */
  readonly allowMissingQop?: boolean;
}

/** The client asks for resynchronisation: pass RAND and AUTS to {@link resynchronise}. */
export interface AkaResyncRequest {
  readonly ok: false;
  readonly reason: 'resync';
  readonly detail: string;
  readonly rand: Buffer;
  readonly auts: Buffer;
}

/** Outcome of {@link verifyAkaResponse}. */
export type AkaVerifyResult = { readonly ok: true } | DigestFailure | AkaResyncRequest;

function resolveAkaAlgorithm(token: string | undefined): DigestAlgorithmInfo | undefined {
  return token?.toLowerCase() === AKA_V1_MD5.toLowerCase() ? AKA_ALGORITHM : undefined;
}

/**
 * Verifies Digest AKAv1-MD5 credentials (RFC 3310 §3.3) against the vector sent in the
 * challenge: realm, algorithm AKAv1-MD5, the same nonce, and the response computed with
 * XRES as password, compared in constant time. With an `auts` directive (RFC 3310 §3.2,
 * §3.4) the response must instead use the empty password, and the result asks for
 * resynchronisation. A vector is good for one authentication only (TS 33.102 §6.3.2): discard it after this.
 */
export function verifyAkaResponse(request: AkaVerifyRequest): AkaVerifyResult {
  const { credentials } = request;
  const checked = checkCredentials(
    credentials,
    request.realm,
    resolveAkaAlgorithm,
    request.allowMissingQop ?? false,
  );
  if ('ok' in checked) return checked;
  if (checked.nonce !== request.vector.nonce) {
    return digestFailure('bad-nonce', 'nonce is not the challenged one');
  }
  const parts = decodeAkaNonce(checked.nonce);
  if (!parts) return digestFailure('bad-nonce', 'nonce is not base64(RAND || AUTN)');
  const username = credentials.username!;
  if (credentials.auts !== undefined) {
    const auts = decodeBase64(credentials.auts);
    if (!auts || auts.length !== AUTS_BYTES) return digestFailure('missing-param', 'malformed auts');
    const emptyHa1 = akaHa1(username, request.realm, Buffer.alloc(0));
    if (!responseMatches(checked, emptyHa1, request.method, request.body)) {
      return digestFailure('bad-response', 'response with auts does not match');
    }
    return { ok: false, reason: 'resync', detail: 'client sent AUTS', rand: parts.rand, auts };
  }
  const ha1 = akaHa1(username, request.realm, request.vector.xres);
  if (!responseMatches(checked, ha1, request.method, request.body)) {
    return digestFailure('bad-response', 'response does not match');
  }
  return { ok: true };
}

/** Outcome of {@link resynchronise}. */
export type AkaResyncResult = { readonly ok: true; readonly sqnMs: Buffer } | { readonly ok: false };

/**
 * Network side of resynchronisation (TS 33.102 §6.3.5, RFC 3310 §3.4): from
 * AUTS = (SQN_MS ⊕ AK*) ‖ MAC-S, recover SQN_MS with AK* = f5*(RAND) and check
 * MAC-S = f1*(SQN_MS, RAND, AMF = 0x0000) in constant time. On success the caller sets
 * its SQN_HE from `sqnMs` and issues a fresh vector.
 */
export function resynchronise(keys: AkaKeys, rand: Buffer, auts: Buffer): AkaResyncResult {
  if (!Buffer.isBuffer(auts) || auts.length !== AUTS_BYTES) return { ok: false };
  const milenage = milenageOf(keys);
  const sqnMs = xor(auts.subarray(0, SQN_BYTES), milenage.f5star(rand));
  const macS = milenage.f1star(rand, sqnMs, RESYNC_AMF);
  return timingSafeEqual(macS, auts.subarray(SQN_BYTES)) ? { ok: true, sqnMs } : { ok: false };
}
