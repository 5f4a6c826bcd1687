import { isWs, skipWs, trimEnd } from './chars.js';

/** RFC 3261 §7.3.3 compact forms and those of later RFCs (3265, 3515, 3841, 3892, 4028, 4474). */
const COMPACT: Record<string, string> = {
  a: 'accept-contact',
  b: 'referred-by',
  c: 'content-type',
  d: 'request-disposition',
  e: 'content-encoding',
  f: 'from',
  i: 'call-id',
  j: 'reject-contact',
  k: 'supported',
  l: 'content-length',
  m: 'contact',
  n: 'identity-info',
  o: 'event',
  r: 'refer-to',
  s: 'subject',
  t: 'to',
  u: 'allow-events',
  v: 'via',
  x: 'session-expires',
  y: 'identity',
};

/** How each known header is spelled when Tidewater writes it. */
const PRETTY: Record<string, string> = {
  'call-id': 'Call-ID',
  cseq: 'CSeq',
  'www-authenticate': 'WWW-Authenticate',
  'mime-version': 'MIME-Version',
  'p-asserted-identity': 'P-Asserted-Identity',
  'p-preferred-identity': 'P-Preferred-Identity',
  'p-associated-uri': 'P-Associated-URI',
  'p-called-party-id': 'P-Called-Party-ID',
  'p-charging-vector': 'P-Charging-Vector',
  'p-charging-function-addresses': 'P-Charging-Function-Addresses',
  'p-visited-network-id': 'P-Visited-Network-ID',
  'p-access-network-info': 'P-Access-Network-Info',
  'p-served-user': 'P-Served-User',
  'rack': 'RAck',
  'rseq': 'RSeq',
};

/**
 * Headers whose value is a comma-separated list (RFC 3261 §7.3.1): several lines and several
 * comma-joined values are the same thing. Headers not listed here (Date, WWW-Authenticate,
 * Authorization, ...) are never split on commas.
 */
export const LIST_HEADERS: ReadonlySet<string> = new Set([
  'via',
  'route',
  'record-route',
  'contact',
  'path',
  'service-route',
  'allow',
  'supported',
  'require',
  'proxy-require',
  'unsupported',
  'accept',
  'accept-encoding',
  'accept-language',
  'allow-events',
  'content-encoding',
  'content-language',
  'in-reply-to',
  'alert-info',
  'call-info',
  'error-info',
  'warning',
  'p-associated-uri',
  'p-asserted-identity',
  'p-preferred-identity',
  'history-info',
  'reason',
  'security-client',
  'security-server',
  'security-verify',
  'accept-contact',
  'reject-contact',
  'request-disposition',
  'p-charging-function-addresses',
]);

const cache = new Map<string, string>();
const CACHE_LIMIT = 4096;

/**
 * Headers that may appear only once (RFC 3261 §7.3.1, §20), each with a bit of its own; a second
 * one makes the message malformed (RFC 4475 §3.3.8).
 */
export const SINGLE_HEADER_BITS: Readonly<Record<string, number>> = Object.assign(
  Object.create(null) as Record<string, number>,
  { 'call-id': 1, cseq: 2, from: 4, to: 8, 'max-forwards': 16, 'content-length': 32 },
);

/** Header names worth recognising without allocating (canonical, lower-case). */
export const KNOWN_NAMES: readonly string[] = [
  'via', 'from', 'to', 'call-id', 'cseq', 'contact', 'max-forwards', 'content-length', 'content-type', 'route',
  'record-route', 'expires', 'authorization', 'proxy-authorization', 'www-authenticate', 'proxy-authenticate',
  'user-agent', 'allow', 'supported', 'require', 'path', 'service-route', 'event', 'session-expires', 'accept',
  'p-asserted-identity', 'p-preferred-identity', 'p-associated-uri', 'server', 'subject', 'min-expires',
  'allow-events', 'p-charging-vector', 'date', 'reason', 'rseq', 'rack', 'refer-to', 'subscription-state',
  'proxy-require', 'unsupported', 'min-se', 'privacy', 'p-access-network-info', 'p-visited-network-id',
  'p-charging-function-addresses', 'security-client', 'security-server', 'security-verify', 'accept-encoding',
  'accept-language', 'content-encoding', 'content-disposition', 'mime-version', 'timestamp', 'warning',
  'organization', 'priority', 'in-reply-to', 'reply-to', 'retry-after', 'history-info', 'p-called-party-id',
  'p-served-user', 'referred-by', 'replaces', 'sip-etag', 'sip-if-match', 'authentication-info',
];

/** The compact forms (one letter) with their long names. */
export const COMPACT_FORMS: ReadonlyArray<readonly [string, string]> = Object.entries(COMPACT);

/** Header names worth recognising without allocating, grouped by length. */
const KNOWN_BY_LENGTH: Array<Array<[string, string]>> = [];
for (const canon of KNOWN_NAMES) (KNOWN_BY_LENGTH[canon.length] ??= []).push([canon, canon]);
for (const [c, canon] of COMPACT_FORMS) (KNOWN_BY_LENGTH[1] ??= []).push([c, canon]);

/**
 * The canonical name when `s[start..end)` is a well-known header name in any letter case, without
 * allocating a string; undefined otherwise (then use {@link canonicalName}).
 */
export function knownName(s: string, start: number, end: number): string | undefined {
  const list = KNOWN_BY_LENGTH[end - start];
  if (list === undefined) return undefined;
  outer: for (const [lower, canon] of list) {
    for (let i = 0; i < lower.length; i++) {
      let c = s.charCodeAt(start + i);
      if (c >= 0x41 && c <= 0x5a) c |= 0x20;
      if (c !== lower.charCodeAt(i)) continue outer;
    }
    return canon;
  }
  return undefined;
}

/** Canonical (lower-case, long-form) name of a header name as it appeared on the wire. */
export function canonicalName(raw: string): string {
  const hit = cache.get(raw);
  if (hit !== undefined) return hit;
  const lower = raw.toLowerCase();
  const canon = (lower.length === 1 ? COMPACT[lower] : undefined) ?? lower;
  if (cache.size < CACHE_LIMIT) cache.set(raw, canon);
  return canon;
}

/** The conventional spelling of a canonical header name (`call-id` -> `Call-ID`). */
export function prettyName(canon: string): string {
  const p = PRETTY[canon];
  if (p) return p;
  let out = '';
  let up = true;
  for (let i = 0; i < canon.length; i++) {
    const ch = canon[i]!;
    out += up ? ch.toUpperCase() : ch;
    up = ch === '-';
  }
  PRETTY[canon] = out;
  return out;
}

/**
 * Splits a list header value on the commas that separate values: not inside a quoted string
 * and not inside `<...>` (RFC 3261 §7.3.1). Items are trimmed; empty items are kept as `''` so
 * callers can reject them.
 */
export function splitList(value: string): string[] {
  const out: string[] = [];
  let start = 0;
  for (;;) {
    const end = endOfListItem(value, start, value.length);
    out.push(trimSlice(value, start, end));
    if (end === value.length) return out;
    start = end + 1;
  }
}

/** The first item of a list value (§7.3.1), trimmed; `value` itself when it holds one item. */
export function firstListItem(value: string): string {
  const end = endOfListItem(value, 0, value.length);
  return end === value.length ? value : trimSlice(value, 0, end);
}

/**
 * Index of the comma ending the list item that starts at `start` (not inside a quoted string
 * nor `<...>`, §7.3.1), or `end` for the last item of `value[..end)`.
 */
export function endOfListItem(value: string, start: number, end: number): number {
  let inQuote = false;
  let inAngle = false;
  for (let i = start; i < end; i++) {
    const c = value.charCodeAt(i);
    if (inQuote) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inQuote = false;
    } else if (c === 0x22) inQuote = true;
    else if (c === 0x3c) inAngle = true;
    else if (c === 0x3e) inAngle = false;
    else if (c === 0x2c && !inAngle) return i;
  }
  return end;
}

function trimSlice(s: string, a: number, b: number): string {
  a = skipWs(s, a, b);
  return s.slice(a, trimEnd(s, a, b));
}

/** Replaces each run of folding whitespace (CRLF followed by SP/HT) with a single space. */
export function unfold(value: string): string {
  if (value.indexOf('\n') < 0) return value;
  let out = '';
  let i = 0;
  while (i < value.length) {
    const c = value.charCodeAt(i);
    if (c === 0x0d || c === 0x0a) {
      let j = i;
      while (j < value.length && isWs(value.charCodeAt(j))) j++;
      out += ' ';
      i = j;
    } else {
      out += value[i];
      i++;
    }
  }
  return out;
}
