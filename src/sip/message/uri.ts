import { SipParseError } from './errors.js';
import { DIGIT, HOST, IPV6, URIC, allIn, bytesOf } from './chars.js';
import { Params, parseUriParams } from './params.js';

/** A `sip:` or `sips:` URI (RFC 3261 §19.1). User and password stay escaped as received. */
export class SipUri {
  readonly kind = 'sip' as const;
  constructor(
    public scheme: 'sip' | 'sips',
    public user: string | null,
    public host: string,
    public port: number | null = null,
    public params: Params = new Params(),
    public headers: string | null = null,
    public password: string | null = null,
  ) {}

  /** transport parameter, lower-cased, when present. */
  get transport(): string | undefined {
    const t = this.params.get('transport');
    return t ? t.toLowerCase() : undefined;
  }

  /** The host without IPv6 brackets, as a socket API wants it. */
  get address(): string {
    return this.host.charCodeAt(0) === 0x5b ? this.host.slice(1, -1) : this.host;
  }

  /** The address-of-record form `sip:user@host` (RFC 3261 §10.3 step 5), host lower-cased. */
  get aor(): string {
    return `${this.scheme}:${this.user !== null ? `${this.user}@` : ''}${this.host.toLowerCase()}`;
  }

  clone(): SipUri {
    return new SipUri(this.scheme, this.user, this.host, this.port, this.params.clone(), this.headers, this.password);
  }

  toString(): string {
    let s = `${this.scheme}:`;
    if (this.user !== null) s += this.password !== null ? `${this.user}:${this.password}@` : `${this.user}@`;
    s += this.host;
    if (this.port !== null) s += `:${this.port}`;
    if (this.params.size) s += this.params.toString();
    if (this.headers !== null) s += `?${this.headers}`;
    return s;
  }
}

/** A `tel:` URI (RFC 3966): the number with its visual separators, and parameters. */
export class TelUri {
  readonly kind = 'tel' as const;
  readonly scheme = 'tel';
  constructor(
    public number: string,
    public params: Params = new Params(),
  ) {}

  /** True for a global number (`+` followed by digits). */
  get isGlobal(): boolean {
    return this.number.charCodeAt(0) === 0x2b;
  }

  /** The number with visual separators (`-`, `.`, `(`, `)`) removed. */
  get digits(): string {
    return this.number.replace(VISUAL_SEPARATORS, '');
  }

  clone(): TelUri {
    return new TelUri(this.number, this.params.clone());
  }

  toString(): string {
    return `tel:${this.number}${this.params.toString()}`;
  }
}

/** Any other absolute URI, kept opaque (RFC 3261 §19.1 allows any scheme in headers). */
export class AbsoluteUri {
  readonly kind = 'absolute' as const;
  constructor(
    public scheme: string,
    public rest: string,
  ) {}

  clone(): AbsoluteUri {
    return new AbsoluteUri(this.scheme, this.rest);
  }

  toString(): string {
    return `${this.scheme}:${this.rest}`;
  }
}

export type Uri = SipUri | TelUri | AbsoluteUri;

const VISUAL_SEPARATORS = /[-.()]/g;

/** Index of the colon ending the scheme of the URI in `s[start..end)`, or -1 (RFC 3986 §3.1). */
function schemeEnd(s: string, start: number, end: number): number {
  if (start >= end) return -1;
  const c0 = s.charCodeAt(start) | 0x20;
  if (c0 < 0x61 || c0 > 0x7a) return -1;
  for (let i = start + 1; i < end; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x3a) return i;
    const l = c | 0x20;
    if (!((l >= 0x61 && l <= 0x7a) || (c >= 0x30 && c <= 0x39) || c === 0x2b || c === 0x2d || c === 0x2e)) return -1;
  }
  return -1;
}

/**
 * Parses a URI. `sip`/`sips` and `tel` are decoded; other schemes are kept opaque. Throws
 * {@link SipParseError} on anything malformed (whitespace, bad host or port, empty parameters).
 */
export function parseUri(s: string): Uri {
  return parseUriIn(s, 0, s.length);
}

/** Parses the URI `s[start..end)` (see {@link parseUri}) without copying it first. */
export function parseUriIn(s: string, start: number, end: number): Uri {
  // `sip:` and `sips:` (any case) are what nearly every URI starts with: recognised here without
  // the general scheme scan, which would find the same colon and scheme.
  if (
    end - start > 3 &&
    (s.charCodeAt(start) | 0x20) === 0x73 && (s.charCodeAt(start + 1) | 0x20) === 0x69 && (s.charCodeAt(start + 2) | 0x20) === 0x70
  ) {
    const c3 = s.charCodeAt(start + 3);
    if (c3 === 0x3a) return parseSipUri(s, 'sip', start, start + 4, end);
    if ((c3 | 0x20) === 0x73 && end - start > 4 && s.charCodeAt(start + 4) === 0x3a) {
      return parseSipUri(s, 'sips', start, start + 5, end);
    }
  }
  const colon = schemeEnd(s, start, end);
  if (colon < 0) throw new SipParseError(`malformed URI "${clip(s, start, end)}": no scheme`);
  const known = knownScheme(s, start, colon);
  if (known === 'sip' || known === 'sips') return parseSipUri(s, known, start, colon + 1, end);
  if (known === 'tel') return parseTelUri(s, start, colon + 1, end);
  if (colon + 1 >= end || !allIn(URIC, s, colon + 1, end)) throw new SipParseError(`malformed URI "${clip(s, start, end)}"`);
  return new AbsoluteUri(s.slice(start, colon), s.slice(colon + 1, end));
}

/** `sip`, `sips` or `tel` when `s[start..colon)` spells one in any case (schemeEnd checked ASCII). */
function knownScheme(s: string, start: number, colon: number): 'sip' | 'sips' | 'tel' | undefined {
  const len = colon - start;
  if (len !== 3 && len !== 4) return undefined;
  const c0 = s.charCodeAt(start) | 0x20;
  const c1 = s.charCodeAt(start + 1) | 0x20;
  const c2 = s.charCodeAt(start + 2) | 0x20;
  if (c0 === 0x73 && c1 === 0x69 && c2 === 0x70) {
    if (len === 3) return 'sip';
    return (s.charCodeAt(start + 3) | 0x20) === 0x73 ? 'sips' : undefined;
  }
  return len === 3 && c0 === 0x74 && c1 === 0x65 && c2 === 0x6c ? 'tel' : undefined;
}

/**
 * Decodes the part after `sip:` (`s[start..end)`, the URI starting at `u0`) in one pass over the
 * characters (RFC 3261 §19.1.1, §25.1): every char must be a URI char; the first `@` ends the
 * userinfo, and the first `:` before it the user.
 */
function parseSipUri(s: string, scheme: 'sip' | 'sips', u0: number, start: number, end: number): SipUri {
  if (start >= end) throw new SipParseError(`malformed SIP URI "${clip(s, u0, end)}"`);
  let at = -1;
  let pc = -1;
  let q = -1;
  // The first non-host char from the start, and after the first '@': where the host ends.
  let hostEnd0 = -1;
  let hostEnd1 = -1;
  const b = bytesOf(s);
  // The tables in locals: an imported binding is read again (and checked) on every use.
  const hostChar = HOST;
  const uric = URIC;
  for (let k = start; k < end; k++) {
    const c = b[k]!;
    if (hostChar[c] === 1) continue; // host chars are all URI chars
    if (uric[c] !== 1) throw new SipParseError(`malformed SIP URI "${clip(s, u0, end)}"`);
    if (hostEnd0 < 0) hostEnd0 = k;
    if (at >= 0 && hostEnd1 < 0) hostEnd1 = k;
    if (c === 0x40) {
      if (at < 0) at = k;
    } else if (c === 0x3a) {
      if (pc < 0) pc = k;
    } else if (c === 0x3f && q < 0) q = k;
  }
  let user: string | null = null;
  let password: string | null = null;
  let i = start;
  if (at >= 0) {
    if (pc >= 0 && pc < at) {
      user = s.slice(start, pc);
      password = s.slice(pc + 1, at);
    } else user = s.slice(start, at);
    if (user.length === 0) throw new SipParseError(`empty user part in "${clip(s, u0, end)}"`);
    i = at + 1;
  }
  let host: string;
  if (s.charCodeAt(i) === 0x5b && i < end) {
    const close = s.indexOf(']', i);
    if (close < 0 || close >= end || !allIn(IPV6, s, i + 1, close)) {
      throw new SipParseError(`malformed IPv6 reference in "${clip(s, u0, end)}"`);
    }
    host = s.slice(i, close + 1);
    i = close + 1;
  } else {
    const hs = i;
    i = at < 0 ? hostEnd0 : hostEnd1;
    if (i < 0) i = end;
    if (i === hs) throw new SipParseError(`missing host in "${clip(s, u0, end)}"`);
    host = s.slice(hs, i);
  }
  let port: number | null = null;
  if (i < end && s.charCodeAt(i) === 0x3a) {
    const ps = ++i;
    let p = 0;
    while (i < end && DIGIT[s.charCodeAt(i)] === 1) p = p * 10 + s.charCodeAt(i++) - 0x30;
    port = i - ps >= 1 && i - ps <= 5 ? p : -1;
    if (port < 0 || port > 65535) throw new SipParseError(`bad port in "${clip(s, u0, end)}"`);
  }
  if (q >= 0 && q < i) {
    q = s.indexOf('?', i);
    if (q >= end) q = -1;
  }
  const pend = q < 0 ? end : q;
  if (i < pend && s.charCodeAt(i) !== 0x3b) throw new SipParseError(`malformed host or port in "${clip(s, u0, end)}"`);
  const params = i < pend ? parseUriParams(s, i, pend) : new Params();
  const headers = q < 0 ? null : s.slice(q + 1, end);
  return new SipUri(scheme, user, host, port, params, headers, password);
}

function parseTelUri(s: string, u0: number, start: number, end: number): TelUri {
  if (start >= end || !allIn(URIC, s, start, end)) throw new SipParseError(`malformed tel URI "${clip(s, u0, end)}"`);
  let semi = s.indexOf(';', start);
  if (semi >= end) semi = -1;
  const number = s.slice(start, semi < 0 ? end : semi);
  if (number.length === 0) throw new SipParseError(`empty tel URI number in "${clip(s, u0, end)}"`);
  return new TelUri(number, semi < 0 ? new Params() : parseUriParams(s, semi, end));
}

/** The URI `s[start..end)` for an error message, cut short when long. */
function clip(s: string, start: number, end: number): string {
  return end - start > 60 ? `${s.slice(start, start + 57)}...` : s.slice(start, end);
}

/** Decodes `%HH` escapes (RFC 3261 §19.1.2) for comparison; invalid escapes are kept literally. */
export function unescapeUriPart(s: string): string {
  if (s.indexOf('%') < 0) return s;
  return s.replace(ESCAPE, (m, h: string) => String.fromCharCode(parseInt(h, 16)));
}
const ESCAPE = /%([0-9a-fA-F]{2})/g;

/**
 * URI equality per RFC 3261 §19.1.4 for SIP URIs: scheme, user (case-sensitive, escapes
 * decoded), password, host (case-insensitive), port, and the transport, user, ttl, method and maddr
 * parameters must agree; other parameters must agree only when both sides carry them.
 */
export function sipUriEquals(a: SipUri, b: SipUri): boolean {
  if (a.scheme !== b.scheme || a.port !== b.port) return false;
  if (a.host.toLowerCase() !== b.host.toLowerCase()) return false;
  if ((a.user === null) !== (b.user === null)) return false;
  if (a.user !== null && unescapeUriPart(a.user) !== unescapeUriPart(b.user!)) return false;
  if (a.password !== b.password) return false;
  for (const name of ['transport', 'user', 'ttl', 'method', 'maddr']) {
    const x = a.params.get(name);
    const y = b.params.get(name);
    if ((x === undefined) !== (y === undefined)) return false;
    if (x !== undefined && (x ?? '').toLowerCase() !== (y ?? '').toLowerCase()) return false;
  }
  for (const p of a.params.list) {
    const y = b.params.get(p.name);
    if (y !== undefined && (y ?? '').toLowerCase() !== (p.value ?? '').toLowerCase()) return false;
  }
  return true;
}
