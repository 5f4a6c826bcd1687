/** Character classes of the RFC 3261 §25.1 grammar, as lookup tables indexed by char code. */

function table(chars: string, ranges: Array<[number, number]> = []): Uint8Array {
  const t = new Uint8Array(256);
  for (let i = 0; i < chars.length; i++) t[chars.charCodeAt(i)] = 1;
  for (const [a, b] of ranges) for (let c = a; c <= b; c++) t[c] = 1;
  return t;
}

const ALPHANUM: Array<[number, number]> = [
  [0x30, 0x39],
  [0x41, 0x5a],
  [0x61, 0x7a],
];

/** token = 1*(alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~") */
export const TOKEN = table("-.!%*_+`'~", ALPHANUM);

/** word chars (Call-ID): token chars plus ( ) < > : \ " / [ ] ? { } */
export const WORD = table('-.!%*_+`\'~()<>:\\"/[]?{}', ALPHANUM);

/** Characters allowed in a host name, IPv4 address or the inside of an IPv6 reference. */
export const HOST = table('-._', ALPHANUM);
export const IPV6 = table(':.', [
  [0x30, 0x39],
  [0x41, 0x46],
  [0x61, 0x66],
]);

/**
 * Characters that may appear unescaped in a URI's user, password, parameters and headers
 * (unreserved, escaped, and the part-specific reserved sets, RFC 3261 §25.1). Anything else,
 * notably whitespace, `<`, `>`, `"` and control characters, makes a URI malformed.
 */
export const URIC = table("-_.!~*'()%&=+$,;?/:[]@", ALPHANUM);

export const DIGIT = table('', [[0x30, 0x39]]);
export const HEX = table('', [
  [0x30, 0x39],
  [0x41, 0x46],
  [0x61, 0x66],
]);

export function isWs(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0d || c === 0x0a;
}

/** True when every char of `s` (from `start` to `end`) is in `t`, and the range is non-empty. */
export function allIn(t: Uint8Array, s: string, start = 0, end = s.length): boolean {
  if (end <= start) return false;
  for (let i = start; i < end; i++) {
    const c = s.charCodeAt(i);
    if (c > 255 || t[c] !== 1) return false;
  }
  return true;
}

/** Index of the first non-whitespace char at or after `i` (whitespace = SP, HT, CR, LF). */
export function skipWs(s: string, i: number, end = s.length): number {
  while (i < end && isWs(s.charCodeAt(i))) i++;
  return i;
}

/** {@link skipWs} over bytes from {@link bytesOf}. */
export function skipWsBytes(b: Uint8Array, i: number, end: number): number {
  while (i < end && isWs(b[i]!)) i++;
  return i;
}

/** {@link trimEnd} over bytes from {@link bytesOf}. */
export function trimEndBytes(b: Uint8Array, start: number, end: number): number {
  while (end > start && isWs(b[end - 1]!)) end--;
  return end;
}

/** Index just past the last non-whitespace char before `end`. */
export function trimEnd(s: string, start: number, end: number): number {
  while (end > start && isWs(s.charCodeAt(end - 1))) end--;
  return end;
}

/**
 * Index just past the closing quote of the quoted-string starting at `i` (which must be `"`),
 * honouring quoted-pair escapes (RFC 3261 §25.1); -1 when unterminated.
 */
export function endOfQuoted(s: string, i: number, end = s.length): number {
  for (let j = i + 1; j < end; j++) {
    const c = s.charCodeAt(j);
    if (c === 0x5c) {
      j++;
      continue;
    }
    if (c === 0x22) return j + 1;
  }
  return -1;
}

/** Unquotes a quoted-string (with its quotes), removing quoted-pair backslashes. */
export function unquote(s: string): string {
  if (s.length < 2 || s.charCodeAt(0) !== 0x22) return s;
  const inner = s.slice(1, -1);
  return inner.indexOf('\\') < 0 ? inner : inner.replace(QUOTED_PAIR, '$1');
}

/** Quotes a string as a quoted-string, escaping `"` and `\`. */
export function quote(s: string): string {
  return `"${s.replace(NEEDS_ESCAPE, '\\$1')}"`;
}

/**
 * Char codes for the scanners, as bytes: V8 reads a Buffer faster than a string's chars. While
 * the parser runs, its text is backed by the bytes it was decoded from (char i is byte i); any
 * other string is copied into a scratch buffer, with chars above 255 (which no char class holds)
 * written as 0xff, which no char class holds either.
 */
let parseText: string | null = null;
let parseBytes: Buffer | null = null;
let scratchText: string | null = null;
let scratch: Buffer = Buffer.allocUnsafeSlow(256);

/**
 * @internal The parser declares that `text` is `bytes` decoded as latin1, until it calls this
 * again with nulls (the bytes must not be kept past the parse: the caller may reuse them).
 */
export function scanBytesOf(text: string | null, bytes: Buffer | null): void {
  parseText = text;
  parseBytes = bytes;
}

/**
 * @internal Bytes `b` with `b[i]` standing for `s.charCodeAt(i)` as the char classes see it.
 * Kept this small so that the optimizing compiler always inlines it (the copy is a call apart).
 */
export function bytesOf(s: string): Buffer {
  return s === parseText ? parseBytes! : scratchBytesOf(s);
}

/** {@link bytesOf} of a string other than the parser's text: a copy in the scratch buffer. */
function scratchBytesOf(s: string): Buffer {
  if (s !== scratchText) {
    if (scratch.length < s.length) scratch = Buffer.allocUnsafeSlow(Math.max(s.length, scratch.length * 2));
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      scratch[i] = c > 0xff ? 0xff : c;
    }
    scratchText = s;
  }
  return scratch;
}

const QUOTED_PAIR = /\\([\s\S])/g;
const NEEDS_ESCAPE = /(["\\])/g;

/**
 * `s` in lower case, for names compared case-insensitively (hosts, tokens, RFC 3261 §19.1.4):
 * `s` itself when it holds no upper-case ASCII letter and nothing beyond ASCII, the usual case.
 * V8's own toLowerCase takes a runtime call, and copies, for any string cut from a message.
 */
export function lowerAscii(s: string): string {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if ((c >= 0x41 && c <= 0x5a) || c > 0x7f) return s.toLowerCase();
  }
  return s;
}
