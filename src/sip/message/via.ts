import { SipParseError } from './errors.js';
import { DIGIT, HOST, IPV6, TOKEN, bytesOf, isWs, skipWs, skipWsBytes, trimEndBytes } from './chars.js';
import { Params, parseHeaderParams } from './params.js';

/** The magic cookie that marks an RFC 3261 branch (§8.1.1.7). */
export const BRANCH_COOKIE = 'z9hG4bK';

/** One Via value (RFC 3261 §20.42): `SIP/2.0/UDP host:port;branch=...;received=...;rport=...`. */
export class Via {
  constructor(
    public transport: string,
    public host: string,
    public port: number | null = null,
    public params: Params = new Params(),
    public protocol = 'SIP/2.0',
  ) {}

  get branch(): string | undefined {
    return this.params.get('branch') ?? undefined;
  }

  /** True when the branch carries the RFC 3261 magic cookie (otherwise RFC 2543 matching applies). */
  get isRfc3261Branch(): boolean {
    const b = this.branch;
    return b !== undefined && b.length > BRANCH_COOKIE.length && b.startsWith(BRANCH_COOKIE);
  }

  get received(): string | undefined {
    return this.params.get('received') ?? undefined;
  }

  /** The rport value: a number once filled in, null when requested but empty, undefined when absent. */
  get rport(): number | null | undefined {
    const v = this.params.get('rport');
    if (v === undefined) return undefined;
    return v === null ? null : Number(v);
  }

  /** The host without IPv6 brackets. */
  get address(): string {
    return this.host.charCodeAt(0) === 0x5b ? this.host.slice(1, -1) : this.host;
  }

  clone(): Via {
    return new Via(this.transport, this.host, this.port, this.params.clone(), this.protocol);
  }

  toString(): string {
    return `${this.protocol}/${this.transport} ${this.host}${this.port !== null ? `:${this.port}` : ''}${this.params.toString()}`;
  }
}

/** Index just past the token starting at `i`; throws naming `what` when there is none. */
function tokenEnd(s: string, i: number, end: number, what: string): number {
  const start = i;
  const b = bytesOf(s);
  while (i < end && TOKEN[b[i]!] === 1) i++;
  if (i === start) throw new SipParseError(`Via: missing ${what}`, { header: 'via' });
  return i;
}

function slash(s: string, i: number, end: number): number {
  i = skipWs(s, i, end);
  if (i >= end || s.charCodeAt(i) !== 0x2f) throw new SipParseError('Via: malformed sent-protocol', { header: 'via' });
  return skipWs(s, i + 1, end);
}

/** Parses one Via value. LWS is allowed around the slashes and before parameters (§25.1). */
export function parseVia(s: string): Via {
  return parseViaIn(s, 0, s.length);
}

/**
 * Parses the Via value `s[start..end)` (see {@link parseVia}) without copying it first. The
 * chars are read as bytes (see bytesOf) and the usual `SIP/2.0/` compared inline: every helper
 * call left in this function is one the optimizing compiler may not inline once its budget for
 * the function is spent, and each Via of every message comes through here.
 */
export function parseViaIn(s: string, start: number, end: number): Via {
  const b = bytesOf(s);
  // The tables in locals: an imported binding is read again (and checked) on every use.
  const token = TOKEN;
  const host = HOST;
  const digit = DIGIT;
  end = trimEndBytes(b, start, end);
  const n0 = skipWsBytes(b, start, end);
  let protocol: string;
  let t0: number;
  if (
    end - n0 > 8 &&
    b[n0] === 0x53 && b[n0 + 1] === 0x49 && b[n0 + 2] === 0x50 && b[n0 + 3] === 0x2f &&
    b[n0 + 4] === 0x32 && b[n0 + 5] === 0x2e && b[n0 + 6] === 0x30 && b[n0 + 7] === 0x2f
  ) {
    // The usual sent-protocol, without LWS around its slashes.
    protocol = 'SIP/2.0';
    t0 = n0 + 8;
  } else {
    const n1 = tokenEnd(s, n0, end, 'protocol name');
    const v0 = slash(s, n1, end);
    const v1 = tokenEnd(s, v0, end, 'protocol version');
    t0 = slash(s, v1, end);
    protocol = protocolOf(s, n0, n1, v0, v1);
  }
  let i = t0;
  while (i < end && token[b[i]!] === 1) i++;
  if (i === t0) throw new SipParseError('Via: missing transport', { header: 'via' });
  const transport = transportName(s, t0, i);
  if (i >= end || !isWs(b[i]!)) throw new SipParseError('Via: missing sent-by', { header: 'via' });
  i = skipWsBytes(b, i, end);
  let hostName: string;
  if (b[i] === 0x5b) {
    const close = s.indexOf(']', i);
    if (close < 0 || close >= end || close === i + 1) throw new SipParseError('Via: malformed IPv6 reference', { header: 'via' });
    for (let j = i + 1; j < close; j++) {
      if (IPV6[s.charCodeAt(j)] !== 1) throw new SipParseError('Via: malformed IPv6 reference', { header: 'via' });
    }
    hostName = s.slice(i, close + 1);
    i = close + 1;
  } else {
    const hs = i;
    while (i < end && host[b[i]!] === 1) i++;
    if (i === hs) throw new SipParseError('Via: missing host', { header: 'via' });
    hostName = s.slice(hs, i);
  }
  let port: number | null = null;
  const afterHost = skipWsBytes(b, i, end);
  if (afterHost < end && b[afterHost] === 0x3a) {
    const ps = skipWsBytes(b, afterHost + 1, end);
    i = ps;
    let p = 0;
    while (i < end && digit[b[i]!] === 1) p = p * 10 + b[i++]! - 0x30;
    port = i - ps >= 1 && i - ps <= 5 ? p : -1;
    if (port < 0 || port > 65535) throw new SipParseError('Via: bad port', { header: 'via' });
  }
  const params = i < end ? parseHeaderParams(s, i, end, 'Via') : new Params();
  return new Via(transport, hostName, port, params, protocol);
}

/** The transport token `s[start..end)`, without allocating for the usual upper-case ones. */
function transportName(s: string, start: number, end: number): string {
  const len = end - start;
  const c0 = s.charCodeAt(start);
  if (len === 3) {
    const c1 = s.charCodeAt(start + 1);
    const c2 = s.charCodeAt(start + 2);
    if (c0 === 0x55 && c1 === 0x44 && c2 === 0x50) return 'UDP';
    if (c0 === 0x54 && c1 === 0x43 && c2 === 0x50) return 'TCP';
    if (c0 === 0x54 && c1 === 0x4c && c2 === 0x53) return 'TLS';
    if (c0 === 0x57 && c1 === 0x53 && c2 === 0x53) return 'WSS';
  } else if (len === 2 && c0 === 0x57 && s.charCodeAt(start + 1) === 0x53) return 'WS';
  return s.slice(start, end);
}

/** `SIP/2.0` without allocating in the usual case, else `name/version` as received. */
function protocolOf(s: string, n0: number, n1: number, v0: number, v1: number): string {
  if (
    n1 - n0 === 3 && v1 - v0 === 3 &&
    s.charCodeAt(n0) === 0x53 && s.charCodeAt(n0 + 1) === 0x49 && s.charCodeAt(n0 + 2) === 0x50 &&
    s.charCodeAt(v0) === 0x32 && s.charCodeAt(v0 + 1) === 0x2e && s.charCodeAt(v0 + 2) === 0x30
  ) {
    return 'SIP/2.0';
  }
  return `${s.slice(n0, n1)}/${s.slice(v0, v1)}`;
}
