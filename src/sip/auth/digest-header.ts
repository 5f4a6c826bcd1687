/**
 * Digest header values: parsing credentials (Authorization, Proxy-Authorization) and
 * challenges (WWW-Authenticate, Proxy-Authenticate), and building both.
 *
 * Grammar: RFC 3261 §25.1 (credentials, challenge, auth-param, quoted-string with
 * quoted-pair), RFC 7616 §3.3 and §3.4 for the directives.
 */
import type { DigestAlgorithm, DigestQop } from './digest.js';

/** An algorithm token a challenge may carry: a Digest algorithm, or Digest AKA (RFC 3310 §3.1). */
export type ChallengeAlgorithm = DigestAlgorithm | 'AKAv1-MD5';

/** Parsed `Digest` credentials. Directive names are matched case-insensitively. */
export interface DigestCredentials {
  readonly username?: string;
  readonly realm?: string;
  readonly nonce?: string;
  readonly uri?: string;
  readonly response?: string;
  readonly algorithm?: string;
  readonly cnonce?: string;
  readonly opaque?: string;
  readonly qop?: string;
  readonly nc?: string;
  /** Digest AKA resynchronisation token, base64 (RFC 3310 §3.2). */
  readonly auts?: string;
  readonly userhash?: string;
  /** Every directive including unknown ones, names lowercased, values unquoted. */
  readonly params: ReadonlyMap<string, string>;
}

/** A parsed `Digest` challenge. */
export interface DigestChallenge {
  readonly realm?: string;
  readonly nonce?: string;
  readonly opaque?: string;
  readonly algorithm?: string;
  readonly domain?: string;
  /** The qop-options list, e.g. ['auth', 'auth-int']; empty when absent. */
  readonly qop: readonly string[];
  /** stale=true (case-insensitive), RFC 7616 §3.3. */
  readonly stale: boolean;
  /** Every directive including unknown ones, names lowercased, values unquoted. */
  readonly params: ReadonlyMap<string, string>;
}

const TAB = 0x09;
const LF = 0x0a;
const CR = 0x0d;
const SP = 0x20;
const DQUOTE = 0x22;
const COMMA = 0x2c;
const EQUAL = 0x3d;
const BACKSLASH = 0x5c;

/** RFC 3261 §25.1 token characters. */
const TOKEN_CHAR = new Uint8Array(128);
for (let c = 0; c < 128; c++) {
  const ch = String.fromCharCode(c);
  if (/[A-Za-z0-9\-.!%*_+`'~]/.test(ch)) TOKEN_CHAR[c] = 1;
}

const QOP_SPLIT = /\s*,\s*/;
const UNSAFE_VALUE = /[\r\n\0]/;
const QUOTE_ESCAPE = /[\\"]/g;

function isTokenChar(c: number): boolean {
  return c < 128 && TOKEN_CHAR[c] === 1;
}

function isWhitespace(c: number): boolean {
  return c === SP || c === TAB || c === CR || c === LF;
}

function skipWhitespace(s: string, i: number): number {
  while (i < s.length && isWhitespace(s.charCodeAt(i))) i++;
  return i;
}

/** Reads a quoted-string starting at the opening quote; returns [value, next index] or undefined. */
function readQuoted(s: string, start: number): [string, number] | undefined {
  let out = '';
  let runStart = start + 1;
  for (let i = runStart; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === DQUOTE) return [out + s.slice(runStart, i), i + 1];
    if (c === BACKSLASH) {
      const next = s.charCodeAt(i + 1);
      if (Number.isNaN(next) || next === CR || next === LF) return undefined;
      out += s.slice(runStart, i) + s[i + 1];
      i++;
      runStart = i + 1;
    } else if (c === CR || c === LF || c === 0) {
      return undefined;
    }
  }
  return undefined;
}

/** Reads an unquoted value: anything up to whitespace or a comma, no quotes or controls. */
function readBare(s: string, start: number): [string, number] | undefined {
  let i = start;
  while (i < s.length) {
    const c = s.charCodeAt(i);
    if (isWhitespace(c) || c === COMMA) break;
    if (c === DQUOTE || c < SP || c === 0x7f) return undefined;
    i++;
  }
  return i === start ? undefined : [s.slice(start, i), i];
}

/**
 * Splits `Digest a=b, c="d"` into its directives. Returns undefined when the scheme is not
 * Digest, a directive is malformed or repeated (RFC 7616 §3.4: each at most once), or a
 * quoted string is unterminated. Empty list elements (",,") are tolerated (RFC 7230 §7).
 */
export function parseDigestParams(value: string): Map<string, string> | undefined {
  let i = skipWhitespace(value, 0);
  const schemeStart = i;
  while (i < value.length && isTokenChar(value.charCodeAt(i))) i++;
  if (value.slice(schemeStart, i).toLowerCase() !== 'digest') return undefined;
  if (i < value.length && !isWhitespace(value.charCodeAt(i))) return undefined;
  const params = new Map<string, string>();
  for (;;) {
    i = skipWhitespace(value, i);
    if (i >= value.length) break;
    if (value.charCodeAt(i) === COMMA) {
      i++;
      continue;
    }
    const nameStart = i;
    while (i < value.length && isTokenChar(value.charCodeAt(i))) i++;
    if (i === nameStart) return undefined;
    const name = value.slice(nameStart, i).toLowerCase();
    i = skipWhitespace(value, i);
    if (value.charCodeAt(i) !== EQUAL) return undefined;
    i = skipWhitespace(value, i + 1);
    const read = value.charCodeAt(i) === DQUOTE ? readQuoted(value, i) : readBare(value, i);
    if (!read || params.has(name)) return undefined;
    params.set(name, read[0]);
    i = skipWhitespace(value, read[1]);
    if (i < value.length && value.charCodeAt(i) !== COMMA) return undefined;
  }
  return params.size === 0 ? undefined : params;
}

/**
 * Parses an Authorization or Proxy-Authorization value (RFC 3261 §22.4, §25.1
 * `credentials`). Any directive order, case-insensitive names, unknown directives kept in
 * `params`. Returns undefined if the value is not well-formed Digest credentials.
 */
export function parseDigestCredentials(value: string): DigestCredentials | undefined {
  const params = parseDigestParams(value);
  if (!params) return undefined;
  return {
    username: params.get('username'),
    realm: params.get('realm'),
    nonce: params.get('nonce'),
    uri: params.get('uri'),
    response: params.get('response'),
    algorithm: params.get('algorithm'),
    cnonce: params.get('cnonce'),
    opaque: params.get('opaque'),
    qop: params.get('qop'),
    nc: params.get('nc'),
    auts: params.get('auts'),
    userhash: params.get('userhash'),
    params,
  };
}

/** Parses a WWW-Authenticate or Proxy-Authenticate value (RFC 7616 §3.3). */
export function parseDigestChallenge(value: string): DigestChallenge | undefined {
  const params = parseDigestParams(value);
  if (!params) return undefined;
  const qop = params.get('qop');
  return {
    realm: params.get('realm'),
    nonce: params.get('nonce'),
    opaque: params.get('opaque'),
    algorithm: params.get('algorithm'),
    domain: params.get('domain'),
    qop: qop === undefined ? [] : qop.trim().split(QOP_SPLIT).filter((q) => q !== ''),
    stale: params.get('stale')?.toLowerCase() === 'true',
    params,
  };
}

/**
 * Renders a quoted-string (RFC 3261 §25.1), escaping `"` and `\`. Throws RangeError for
 * CR, LF or NUL, which no header value may carry.
 */
export function quoteString(value: string): string {
  if (UNSAFE_VALUE.test(value)) throw new RangeError('header value contains CR, LF or NUL');
  return `"${value.replace(QUOTE_ESCAPE, '\\$&')}"`;
}

function bareToken(value: string): string {
  for (let i = 0; i < value.length; i++) {
    if (!isTokenChar(value.charCodeAt(i))) throw new RangeError(`not a token: ${value}`);
  }
  if (value === '') throw new RangeError('empty token');
  return value;
}

/** Options of {@link buildChallenge}. */
export interface ChallengeOptions {
  readonly realm: string;
  readonly nonce: string;
  readonly opaque?: string;
  /** Defaults to MD5; always emitted. */
  readonly algorithm?: ChallengeAlgorithm;
  /** Defaults to 'auth' (RFC 3261 §22.4: servers MUST always send qop). */
  readonly qop?: DigestQop | readonly DigestQop[];
  /** Emits stale=true: the nonce was stale but the digest valid (RFC 7616 §3.3). */
  readonly stale?: boolean;
  readonly domain?: string;
  /** Emits userhash=true (RFC 7616 §3.3). */
  readonly userhash?: boolean;
}

/**
 * Builds a WWW-Authenticate / Proxy-Authenticate value, e.g.
 * `Digest realm="atlanta.com", nonce="…", opaque="…", algorithm=SHA-256, qop="auth"`
 * (RFC 7616 §3.3; RFC 3261 §22.4).
 */
export function buildChallenge(options: ChallengeOptions): string {
  const parts = [`realm=${quoteString(options.realm)}`];
  if (options.domain !== undefined) parts.push(`domain=${quoteString(options.domain)}`);
  parts.push(`nonce=${quoteString(options.nonce)}`);
  if (options.opaque !== undefined) parts.push(`opaque=${quoteString(options.opaque)}`);
  if (options.stale) parts.push('stale=true');
  parts.push(`algorithm=${bareToken(options.algorithm ?? 'MD5')}`);
  const qop = options.qop ?? 'auth';
  const qops: readonly DigestQop[] = typeof qop === 'string' ? [qop] : qop;
  if (qops.length > 0) parts.push(`qop=${quoteString(qops.join(','))}`);
  if (options.userhash) parts.push('userhash=true');
  return `Digest ${parts.join(', ')}`;
}

/** Fields of {@link formatCredentials}: what a client sends. */
export interface CredentialsFields {
  readonly username: string;
  readonly realm: string;
  readonly nonce: string;
  readonly uri: string;
  readonly response: string;
  readonly algorithm?: ChallengeAlgorithm;
  readonly cnonce?: string;
  readonly opaque?: string;
  readonly qop?: DigestQop;
  readonly nc?: string;
  readonly auts?: string;
}

/**
 * Builds an Authorization / Proxy-Authorization value (RFC 3261 §22.4, RFC 7616 §3.4):
 * quoted strings for username, realm, nonce, uri, response, cnonce, opaque and auts;
 * bare tokens for algorithm, qop and nc.
 */
export function formatCredentials(fields: CredentialsFields): string {
  const parts = [
    `username=${quoteString(fields.username)}`,
    `realm=${quoteString(fields.realm)}`,
    `nonce=${quoteString(fields.nonce)}`,
    `uri=${quoteString(fields.uri)}`,
    `response=${quoteString(fields.response)}`,
  ];
  if (fields.algorithm !== undefined) parts.push(`algorithm=${bareToken(fields.algorithm)}`);
  if (fields.cnonce !== undefined) parts.push(`cnonce=${quoteString(fields.cnonce)}`);
  if (fields.opaque !== undefined) parts.push(`opaque=${quoteString(fields.opaque)}`);
  if (fields.qop !== undefined) parts.push(`qop=${bareToken(fields.qop)}`);
  if (fields.nc !== undefined) parts.push(`nc=${bareToken(fields.nc)}`);
  if (fields.auts !== undefined) parts.push(`auts=${quoteString(fields.auts)}`);
  return `Digest ${parts.join(', ')}`;
}
