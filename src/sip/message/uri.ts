import { SipParseError } from './errors.js';
import { DIGIT, HOST, IPV6, URIC, allIn } from './chars.js';
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

function schemeEnd(s: string): number {
  const c0 = s.charCodeAt(0) | 0x20;
  if (c0 < 0x61 || c0 > 0x7a) return -1;
  for (let i = 1; i < s.length; i++) {
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
  const colon = schemeEnd(s);
  if (colon < 0) throw new SipParseError(`malformed URI "${clip(s)}": no scheme`);
  const scheme = s.slice(0, colon);
  const lower = scheme.length <= 4 ? scheme.toLowerCase() : '';
  if (lower === 'sip' || lower === 'sips') return parseSipUri(s, lower, colon + 1);
  if (lower === 'tel') return parseTelUri(s, colon + 1);
  if (colon + 1 >= s.length || !allIn(URIC, s, colon + 1)) throw new SipParseError(`malformed URI "${clip(s)}"`);
  return new AbsoluteUri(scheme, s.slice(colon + 1));
}

function parseSipUri(s: string, scheme: 'sip' | 'sips', start: number): SipUri {
  const end = s.length;
  if (start >= end || !allIn(URIC, s, start, end)) throw new SipParseError(`malformed SIP URI "${clip(s)}"`);
  let user: string | null = null;
  let password: string | null = null;
  let i = start;
  const at = s.indexOf('@', start);
  if (at >= 0) {
    const pc = s.indexOf(':', start);
    if (pc >= 0 && pc < at) {
      user = s.slice(start, pc);
      password = s.slice(pc + 1, at);
    } else user = s.slice(start, at);
    if (user.length === 0) throw new SipParseError(`empty user part in "${clip(s)}"`);
    i = at + 1;
  }
  let host: string;
  if (s.charCodeAt(i) === 0x5b) {
    const close = s.indexOf(']', i);
    if (close < 0 || !allIn(IPV6, s, i + 1, close)) throw new SipParseError(`malformed IPv6 reference in "${clip(s)}"`);
    host = s.slice(i, close + 1);
    i = close + 1;
  } else {
    const hs = i;
    while (i < end && HOST[s.charCodeAt(i)] === 1) i++;
    if (i === hs) throw new SipParseError(`missing host in "${clip(s)}"`);
    host = s.slice(hs, i);
  }
  let port: number | null = null;
  if (i < end && s.charCodeAt(i) === 0x3a) {
    const ps = ++i;
    while (i < end && DIGIT[s.charCodeAt(i)] === 1) i++;
    port = i - ps >= 1 && i - ps <= 5 ? Number(s.slice(ps, i)) : -1;
    if (port < 0 || port > 65535) throw new SipParseError(`bad port in "${clip(s)}"`);
  }
  const q = s.indexOf('?', i);
  const pend = q < 0 ? end : q;
  if (i < pend && s.charCodeAt(i) !== 0x3b) throw new SipParseError(`malformed host or port in "${clip(s)}"`);
  const params = i < pend ? parseUriParams(s, i, pend) : new Params();
  const headers = q < 0 ? null : s.slice(q + 1);
  return new SipUri(scheme, user, host, port, params, headers, password);
}

function parseTelUri(s: string, start: number): TelUri {
  if (start >= s.length || !allIn(URIC, s, start)) throw new SipParseError(`malformed tel URI "${clip(s)}"`);
  const semi = s.indexOf(';', start);
  const number = s.slice(start, semi < 0 ? s.length : semi);
  if (number.length === 0) throw new SipParseError(`empty tel URI number in "${clip(s)}"`);
  return new TelUri(number, semi < 0 ? new Params() : parseUriParams(s, semi, s.length));
}

function clip(s: string): string {
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
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
