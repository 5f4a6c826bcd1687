/**
 * Server-side verification of Digest credentials against a stored HA1 (RFC 3261 §22.4,
 * RFC 7616 §3.4 and §3.5, RFC 8760 §2), with stateless nonces and nonce-count replay
 * protection.
 */
import { timingSafeEqual } from 'node:crypto';
import {
  computeResponse,
  digestAlgorithmInfo,
  type DigestAlgorithm,
  type DigestAlgorithmInfo,
  type DigestHash,
  type DigestQop,
} from './digest.js';
import { buildChallenge, type DigestCredentials } from './digest-header.js';
import type { NonceCountStore } from './nonce-count.js';
import type { NonceManager } from './nonce.js';

/** Why credentials were refused. */
export type DigestFailureReason =
  | 'stale'
  | 'bad-response'
  | 'bad-nonce'
  | 'replay'
  | 'realm-mismatch'
  | 'algorithm-mismatch'
  | 'missing-param';

/** A refusal: `reason` drives the answer, `detail` is for logs only. */
export interface DigestFailure {
  readonly ok: false;
  readonly reason: DigestFailureReason;
  readonly detail: string;
}

/** Outcome of a verification. */
export type DigestVerifyResult = { readonly ok: true } | DigestFailure;

/** Inputs of {@link verifyDigest}. */
export interface DigestVerifyRequest {
  readonly credentials: DigestCredentials;
  /** The SIP method of the request (HA2 uses it, RFC 3261 §22.4). */
  readonly method: string;
  /** Stored HA1 (hex) for credentials.username. */
  readonly ha1: string;
  /** Algorithm the stored HA1 was computed with; a `-sess` suffix is ignored. */
  readonly algorithm: DigestAlgorithm | DigestHash;
  /** The realm this server challenged with. */
  readonly realm: string;
  /** Message body, needed for qop=auth-int (RFC 3261 §22.4: empty body = ""). */
  readonly body?: Buffer | string;
}

/** Collaborators of {@link verifyDigest}. */
export interface DigestVerifierDeps {
  readonly nonces: NonceManager;
  readonly nonceCounts: NonceCountStore;
  /**
   * Accept credentials without qop (RFC 2069 style, RFC 3261 §22.4 backwards
   * compatibility). Such credentials carry no nc, so replays within the nonce lifetime
   * cannot be detected. Default false: we always challenge with qop, and RFC 7616 §3.4
   * requires the client to echo it.
   */
  readonly allowMissingQop?: boolean;
}

/** The directives of credentials once checked for presence and form. */
export interface CheckedCredentials {
  readonly algorithm: DigestAlgorithmInfo;
  readonly nonce: string;
  readonly uri: string;
  readonly response: string;
  readonly qop?: DigestQop;
  readonly ncText?: string;
  readonly nc?: number;
  readonly cnonce?: string;
}

const NC_SHAPE = /^[0-9A-Fa-f]{8}$/;
const OK: DigestVerifyResult = Object.freeze({ ok: true });

/** Builds a refusal. */
export function digestFailure(reason: DigestFailureReason, detail: string): DigestFailure {
  return { ok: false, reason, detail };
}

function parseQop(value: string | undefined): DigestQop | undefined | null {
  if (value === undefined) return undefined;
  const lower = value.toLowerCase();
  return lower === 'auth' || lower === 'auth-int' ? lower : null;
}

/**
 * Checks presence and form of the directives (RFC 7616 §3.4): username, realm, nonce,
 * uri and response always; nc and cnonce with qop; cnonce with `-sess`. Also checks the
 * realm against ours and resolves the algorithm with `resolveAlgorithm`.
 */
export function checkCredentials(
  credentials: DigestCredentials,
  realm: string,
  resolveAlgorithm: (token: string | undefined) => DigestAlgorithmInfo | undefined,
  allowMissingQop: boolean,
): CheckedCredentials | DigestFailure {
  const { username, nonce, uri, response, cnonce } = credentials;
  const required = [
    ['username', username],
    ['realm', credentials.realm],
    ['nonce', nonce],
    ['uri', uri],
    ['response', response],
  ] as const;
  for (const [name, value] of required) {
    if (value === undefined) return digestFailure('missing-param', `no ${name}`);
  }
  if (credentials.realm !== realm) return digestFailure('realm-mismatch', `realm ${credentials.realm}`);
  const algorithm = resolveAlgorithm(credentials.algorithm);
  if (!algorithm) return digestFailure('algorithm-mismatch', `algorithm ${credentials.algorithm}`);
  const qop = parseQop(credentials.qop);
  if (qop === null) return digestFailure('missing-param', `unsupported qop ${credentials.qop}`);
  if (qop === undefined && !allowMissingQop) return digestFailure('missing-param', 'no qop');
  if ((qop !== undefined || algorithm.session) && cnonce === undefined) {
    return digestFailure('missing-param', 'no cnonce');
  }
  let nc: number | undefined;
  if (qop !== undefined) {
    if (credentials.nc === undefined || !NC_SHAPE.test(credentials.nc)) {
      return digestFailure('missing-param', 'no or malformed nc');
    }
    nc = Number.parseInt(credentials.nc, 16);
  }
  return {
    algorithm,
    nonce: nonce!,
    uri: uri!,
    response: response!,
    qop,
    ncText: credentials.nc,
    nc,
    cnonce,
  };
}

/**
 * Recomputes the request-digest from `ha1` and compares it with the client's in constant
 * time (crypto.timingSafeEqual). The client's hex may be upper or lower case.
 */
export function responseMatches(
  checked: CheckedCredentials,
  ha1: string,
  method: string,
  body: Buffer | string | undefined,
): boolean {
  const expected = Buffer.from(
    computeResponse({
      algorithm: checked.algorithm.name,
      ha1,
      nonce: checked.nonce,
      method,
      uri: checked.uri,
      qop: checked.qop,
      nc: checked.ncText,
      cnonce: checked.cnonce,
      body,
    }),
  );
  const given = Buffer.from(checked.response.toLowerCase());
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/**
 * Verifies Digest credentials (RFC 3261 §22.4, RFC 7616 §3.4). Order matters:
 * form and realm and algorithm; then the nonce must be ours ('bad-nonce'); then the
 * response must match ('bad-response'); a genuine but expired nonce with a matching
 * response gives 'stale', for a new challenge with stale=true (RFC 7616 §3.3); finally
 * the nonce-count must be new ('replay'). The count is only recorded for a correct
 * response, so forged requests cannot burn counts.
 *
 * The `uri` directive is used as sent: in SIP it need not equal the Request-URI.
 */
export async function verifyDigest(
  request: DigestVerifyRequest,
  deps: DigestVerifierDeps,
): Promise<DigestVerifyResult> {
  const stored = digestAlgorithmInfo(request.algorithm);
  if (!stored) return digestFailure('algorithm-mismatch', `stored algorithm ${request.algorithm}`);
  const resolve = (token: string | undefined): DigestAlgorithmInfo | undefined => {
    const info = digestAlgorithmInfo(token);
    return info && info.hash === stored.hash ? info : undefined;
  };
  const checked = checkCredentials(
    request.credentials,
    request.realm,
    resolve,
    deps.allowMissingQop ?? false,
  );
  if ('ok' in checked) return checked;
  const nonce = deps.nonces.inspect(checked.nonce);
  if (nonce.verdict === 'invalid') return digestFailure('bad-nonce', 'nonce not issued by us');
  if (!responseMatches(checked, request.ha1, request.method, request.body)) {
    return digestFailure('bad-response', 'response does not match');
  }
  if (nonce.verdict === 'stale') return digestFailure('stale', 'nonce expired');
  if (checked.nc !== undefined) {
    const fresh = await deps.nonceCounts.checkAndAdvance(
      checked.nonce,
      checked.nc,
      nonce.remainingMs,
    );
    if (!fresh) return digestFailure('replay', `nc ${checked.ncText} already used`);
  }
  return OK;
}

/** Options of {@link DigestVerifier.challenge}. */
export interface DigestChallengeRequest {
  readonly realm: string;
  /** Defaults to MD5. RFC 8760 §2.3: list SHA-256 challenges before MD5 ones. */
  readonly algorithm?: DigestAlgorithm;
  /** Set after a 'stale' verdict (RFC 7616 §3.3). */
  readonly stale?: boolean;
  readonly opaque?: string;
  readonly qop?: DigestQop | readonly DigestQop[];
}

/** {@link verifyDigest} bound to its collaborators, plus a challenge builder. */
export class DigestVerifier {
  constructor(private readonly deps: DigestVerifierDeps) {}

  /** A WWW-Authenticate / Proxy-Authenticate value carrying a fresh nonce. */
  challenge(request: DigestChallengeRequest): string {
    return buildChallenge({ ...request, nonce: this.deps.nonces.issue() });
  }

  /**
   * One challenge per request, all carrying the same fresh nonce: the client answers one of
   * them (RFC 8760 §2.4 offers several algorithms in one 401), so one nonce is enough.
   */
  challenges(requests: readonly DigestChallengeRequest[]): string[] {
    const nonce = this.deps.nonces.issue();
    return requests.map((r) => buildChallenge({ ...r, nonce }));
  }

  /** See {@link verifyDigest}. */
  verify(request: DigestVerifyRequest): Promise<DigestVerifyResult> {
    return verifyDigest(request, this.deps);
  }
}
