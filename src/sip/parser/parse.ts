import { SipParseError } from '../message/errors.js';
import { DIGIT, TOKEN, WORD, allIn, bytesOf, scanBytesOf, skipWsBytes, trimEnd, trimEndBytes } from '../message/chars.js';
import { HeaderLine } from '../message/header-line.js';
import { SINGLE_HEADER_BITS, canonicalName, knownName } from '../message/headers.js';
import { NAME_AT, NAME_CLASS, NAME_ROOT_ROW, NAME_TRIE } from '../message/name-trie.js';
import { SipRequest, SipResponse, countOf, cseqOf, type SipMessage } from '../message/message.js';
import { parseNameAddrIn } from '../message/name-addr.js';
import { parseUriIn } from '../message/uri.js';

export interface ParseOptions {
  /**
   * The buffer came from a stream (TCP, TLS): Content-Length is mandatory and the framer has
   * already cut the message to it (RFC 3261 §18.3). For datagrams, a missing Content-Length
   * means "to the end of the datagram" and octets beyond it are ignored (§18.3, RFC 4475 §3.1.1.8).
   */
  stream?: boolean;
}

const CRLF_CRLF = Buffer.from('\r\n\r\n', 'latin1');

/** Header sections longer than this are not looked at (the transports cap whole messages lower). */
const MAX_HEAD = 65536;

/** Messages up to this size are decoded whole rather than searched for their header end first. */
const WHOLE_DECODE = 2048;

/** Methods this stack knows; an unknown method with a mismatched CSeq gets 501 (RFC 4475 §3.1.2.18). */
const KNOWN_METHODS = new Set([
  'INVITE', 'ACK', 'BYE', 'CANCEL', 'OPTIONS', 'REGISTER', 'PRACK', 'SUBSCRIBE', 'NOTIFY',
  'PUBLISH', 'INFO', 'REFER', 'MESSAGE', 'UPDATE',
]);

/**
 * Parses one SIP message from `buf`. Checks the start line, the presence and syntax of Via,
 * From, To, Call-ID and CSeq, and Content-Length and Max-Forwards when present; everything else is
 * decoded when read. Throws {@link SipParseError} saying what is wrong and where; when the
 * message is a request whose answer can still be addressed, the error carries it as `partial`.
 */
export function parseMessage(buf: Buffer, opts: ParseOptions = {}): SipRequest | SipResponse {
  // The header section ends at the first CRLF CRLF (a folded line's CRLF is followed by SP or HT,
  // never by CRLF). A small message is decoded whole, body included, and the header split finds
  // that end on its way (searching the bytes first costs more than decoding a short body); a
  // large one has only its header section decoded, so its body stays bytes.
  let end = buf.length;
  if (end > WHOLE_DECODE) {
    const head = buf.indexOf(CRLF_CRLF);
    end = head >= 0 && head + 4 <= MAX_HEAD ? head + 4 : Math.min(end, MAX_HEAD);
  }
  const text = latin1(buf, end);
  scanBytesOf(text, buf);
  try {
    return parseText(text, buf, opts.stream === true);
  } finally {
    scanBytesOf(null, null);
  }
}

function parseText(text: string, buf: Buffer, stream: boolean): SipRequest | SipResponse {
  const eol = crlf(text, 0);
  if (eol < 0) throw noEmptyLine();
  const firstOf: Array<HeaderLine | undefined> = [undefined, undefined, undefined, undefined, undefined, undefined];
  const lines = splitHeaderLines(text, buf, eol, firstOf);
  const dup = duplicate;
  const bodyStart = sectionEnd + 4;
  const msg: SipRequest | SipResponse = startLine(text, eol, lines, buf, bodyStart);
  try {
    checkCore(msg, dup, firstOf);
    frameBody(msg, buf, bodyStart, stream, firstOf[CONTENT_LENGTH]);
  } catch (e) {
    if (e instanceof SipParseError && msg instanceof SipRequest) e.partial = msg;
    throw e;
  }
  return msg;
}

/** Node's own latin1 decoder, called without the checks of `toString` when it is there. */
const latin1Slice = (Buffer.prototype as { latin1Slice?: (start: number, end: number) => string }).latin1Slice;

/** `buf[0..end)` as a latin1 string (one char per byte). */
function latin1(buf: Buffer, end: number): string {
  return latin1Slice !== undefined ? latin1Slice.call(buf, 0, end) : buf.toString('latin1', 0, end);
}

function noEmptyLine(): SipParseError {
  return new SipParseError('no empty line after the header section');
}

/** Index of the first CRLF at or after `from`, or -1. */
function crlf(s: string, from: number): number {
  for (;;) {
    const r = s.indexOf('\r', from);
    if (r < 0 || s.charCodeAt(r + 1) === 0x0a) return r;
    from = r + 1;
  }
}

/**
 * What the last {@link splitHeaderLines} found: where the header section ends (the CRLF before
 * the empty line), and the first header line (in order) repeating a header that may appear only
 * once, checked after the start line as RFC 4475 §3.3.8 expects.
 */
let sectionEnd = 0;
let duplicate: string | undefined;

/**
 * Where {@link splitHeaderLines} puts the first line of each header that may appear only once,
 * so the checks need not search the lines: slot `i` is the header whose bit in
 * SINGLE_HEADER_BITS is `1 << i`. The slots are an array made for each message rather than
 * module variables, as storing a new line into a long-lived object costs a write barrier each.
 */
const CALL_ID = 0;
const CSEQ = 1;
const FROM = 2;
const TO = 3;
const MAX_FORWARDS = 4;
const CONTENT_LENGTH = 5;

/**
 * Splits the header section after the start line (which ends at `eol`) into logical lines up to
 * the empty line, joining folded continuations (§7.3.1). The lines point into `s`; no string is
 * copied. Names are read from `b`, the bytes `s` was decoded from (byte i is char i), which is
 * quicker than reading chars. A malformed section is reported as a two-pass parser would: a
 * missing empty line first, then the first bad line. The first line of each header that may
 * appear only once goes into its slot of `firstOf`.
 */
function splitHeaderLines(s: string, b: Buffer, eol: number, firstOf: Array<HeaderLine | undefined>): HeaderLine[] {
  // The tables in locals: an imported binding is read again (and checked) on every use, which
  // in the name scan is every char.
  const classOf = NAME_CLASS;
  const trie = NAME_TRIE;
  const out: HeaderLine[] = [];
  let seen = 0;
  duplicate = undefined;
  let next = eol;
  // Bytes past the end of `s` (cut at MAX_HEAD) are not part of the header section.
  const last = s.length - 1;
  while (next + 3 > last || b[next + 2] !== 0x0d || b[next + 3] !== 0x0a) {
    const start = next + 2;
    let pos = start;
    let row = NAME_ROOT_ROW;
    // cls is undefined past the end of `b`, which also ends the name. Past the end of `s` (a
    // header section over MAX_HEAD), the line cannot end in `s` and no empty line follows in it.
    let cls = classOf[b[pos]!]!;
    while (cls > 0) {
      row = trie[row + cls]!;
      cls = classOf[b[++pos]!]!;
    }
    const nameEnd = pos;
    let c = pos <= last ? b[pos]! : -1;
    while ((c === 0x20 || c === 0x09) && pos < last) c = b[++pos]!;
    let name: string;
    let colon = pos;
    let single = 0;
    const known = c === 0x3a && nameEnd > start ? NAME_AT[row >> 5] : undefined;
    if (known !== undefined) {
      name = known.canon;
      single = known.single;
    } else if (c === 0x3a && nameEnd > start) {
      name = canonicalName(s.slice(start, nameEnd));
    } else {
      colon = colonOf(s, start);
      name = unusualName(s, start, colon);
      single = SINGLE_HEADER_BITS[name] ?? 0;
    }
    const repeated = (seen & single) !== 0;
    if (repeated && duplicate === undefined) duplicate = name;
    seen |= single;
    next = crlf(s, colon + 1);
    let folded = false;
    while (next >= 0 && next + 2 <= last && isFoldWs(b[next + 2]!)) {
      folded = true;
      next = crlf(s, next + 2);
    }
    if (next < 0) throw noEmptyLine();
    const valueFrom = skipWsBytes(b, colon + 1, next);
    const line = new HeaderLine(name, s, colon - start + 1, folded, start, next, valueFrom, trimEndBytes(b, valueFrom, next));
    if (single !== 0 && !repeated) firstOf[31 - Math.clz32(single)] = line;
    out.push(line);
  }
  sectionEnd = next;
  return out;
}

function isFoldWs(c: number): boolean {
  return c === 0x20 || c === 0x09;
}

/**
 * The colon ending the name of the line at `start`; throws when the line has none, or when the
 * message has no empty line at all (that is reported first), or when the line is a continuation.
 */
function colonOf(s: string, start: number): number {
  const headEnd = s.indexOf('\r\n\r\n');
  if (headEnd < 0) throw noEmptyLine();
  const c = s.charCodeAt(start);
  if (c === 0x20 || c === 0x09) throw new SipParseError('continuation line without a header', { offset: start });
  const next = s.indexOf('\r\n', start);
  const colon = s.indexOf(':', start);
  if (colon < 0 || colon > next || colon >= headEnd) throw new SipParseError('header line without a colon', { offset: start });
  return colon;
}

/** The canonical name of a line whose name is not a plain token next to its colon. */
function unusualName(s: string, start: number, colon: number): string {
  const nameEnd = trimEnd(s, start, colon);
  const known = knownName(s, start, nameEnd);
  if (known !== undefined) return known;
  if (!allIn(TOKEN, s, start, nameEnd)) {
    throw new SipParseError(`malformed header name "${s.slice(start, Math.min(nameEnd, start + 40))}"`, { offset: start });
  }
  return canonicalName(s.slice(start, nameEnd));
}

/** Index of the first space in `s[from..end)`, or -1. */
function space(s: string, from: number, end: number): number {
  const i = s.indexOf(' ', from);
  return i < end ? i : -1;
}

/** Parses the start line `s[0..eol)` (§7.1, §7.2) and makes the message around `lines`. */
function startLine(s: string, eol: number, lines: HeaderLine[], buf: Buffer, bodyStart: number): SipRequest | SipResponse {
  if (s.charCodeAt(0) === 0x53 && s.charCodeAt(1) === 0x49 && s.charCodeAt(2) === 0x50 && s.charCodeAt(3) === 0x2f) {
    return statusLine(s, eol, lines, buf, bodyStart);
  }
  const sp1 = space(s, 0, eol);
  const sp2 = sp1 < 0 ? -1 : space(s, sp1 + 1, eol);
  // A line ending in exactly `SIP/2.0` has no third space, so that search is needed only when not.
  const v2 = sp2 >= 0 && isVersion2(s, sp2 + 1, eol);
  if (sp1 <= 0 || sp2 < 0 || (!v2 && space(s, sp2 + 1, eol) >= 0) || sp2 === sp1 + 1) {
    throw new SipParseError('malformed Request-Line', { offset: 0 });
  }
  if (!allIn(TOKEN, s, 0, sp1)) throw new SipParseError('malformed method', { offset: 0 });
  const req = new SipRequest(s.slice(0, sp1), s.slice(sp1 + 1, sp2), lines, EMPTY, null);
  req.frame(buf, bodyStart, buf.length, -1);
  if (!v2) throw withPartial(versionError(s.slice(sp2 + 1, eol), sp2 + 1), req);
  let parsed;
  try {
    parsed = parseUriIn(s, sp1 + 1, sp2);
  } catch (e) {
    throw withPartial(new SipParseError(`bad Request-URI: ${(e as Error).message}`, { offset: sp1 + 1 }), req);
  }
  req.decodedUri(parsed);
  if (parsed.kind === 'sip' && parsed.headers !== null) {
    throw withPartial(new SipParseError('Request-URI must not carry headers (RFC 3261 §19.1.1)', { offset: sp1 + 1 }), req);
  }
  return req;
}

function statusLine(s: string, eol: number, lines: HeaderLine[], buf: Buffer, bodyStart: number): SipResponse {
  const sp1 = space(s, 0, eol);
  if (sp1 < 0) throw new SipParseError('malformed Status-Line', { offset: 0 });
  if (!isVersion2(s, 0, sp1)) throw versionError(s.slice(0, sp1), 0);
  const sp2 = space(s, sp1 + 1, eol);
  const codeEnd = sp2 < 0 ? eol : sp2;
  const code = statusCode(s, sp1 + 1, codeEnd);
  if (code < 0) {
    throw new SipParseError(`bad status code "${s.slice(sp1 + 1, codeEnd).slice(0, 12)}"`, { offset: sp1 + 1 });
  }
  if (sp2 < 0) throw new SipParseError('missing reason phrase separator', { offset: sp1 + 4 });
  const res = new SipResponse(code, s.slice(sp2 + 1, eol), lines, EMPTY, null);
  res.frame(buf, bodyStart, buf.length, -1);
  return res;
}

/** The three-digit code 100-699 in `line[start..end)`, or -1 (§7.2, §25.1). */
function statusCode(line: string, start: number, end: number): number {
  if (end - start !== 3) return -1;
  let n = 0;
  for (let i = start; i < end; i++) {
    const c = line.charCodeAt(i);
    if (DIGIT[c] !== 1) return -1;
    n = n * 10 + c - 0x30;
  }
  return n >= 100 && n <= 699 ? n : -1;
}

const EMPTY = Buffer.alloc(0);
const VERSION = /^SIP\/\d+\.\d+$/;

/** True when `s[start..end)` is exactly `SIP/2.0`. */
function isVersion2(s: string, start: number, end: number): boolean {
  return (
    end - start === 7 &&
    s.charCodeAt(start) === 0x53 && s.charCodeAt(start + 1) === 0x49 && s.charCodeAt(start + 2) === 0x50 &&
    s.charCodeAt(start + 3) === 0x2f && s.charCodeAt(start + 4) === 0x32 && s.charCodeAt(start + 5) === 0x2e &&
    s.charCodeAt(start + 6) === 0x30
  );
}

function versionError(v: string, offset: number): SipParseError {
  if (VERSION.test(v)) return new SipParseError(`unsupported SIP version ${v}`, { offset, status: 505 });
  return new SipParseError('malformed SIP version', { offset });
}

function withPartial(e: SipParseError, req: SipRequest): SipParseError {
  e.partial = req;
  return e;
}

/**
 * The headers every message needs (§8.1.1), decoded now so later reads cannot fail. `dup` is
 * the first repeated header that may appear only once (§7.3.1, §20; RFC 4475 §3.3.8).
 */
function checkCore(msg: SipMessage, dup: string | undefined, firstOf: ReadonlyArray<HeaderLine | undefined>): void {
  if (dup !== undefined) throw new SipParseError(`more than one ${dup} header`, { header: dup });
  if (msg.vias.length === 0) throw new SipParseError('missing Via header', { header: 'via' });
  const from = nameAddrOf(firstOf[FROM], 'from');
  const to = nameAddrOf(firstOf[TO], 'to');
  const callId = firstOf[CALL_ID];
  if (callId === undefined) throw new SipParseError('missing Call-ID header', { header: 'call-id' });
  if (!isCallId(callId.valueText, callId.valueFrom, callId.valueTo)) {
    throw new SipParseError('malformed Call-ID', { header: 'call-id' });
  }
  const cseqLine = firstOf[CSEQ];
  if (cseqLine === undefined) throw new SipParseError('missing CSeq header', { header: 'cseq' });
  const cseq = cseqOf(cseqLine);
  msg.decodedCore(from, to, cseq);
  if (!allIn(TOKEN, cseq.method)) throw new SipParseError('malformed CSeq method', { header: 'cseq' });
  if (msg instanceof SipRequest && cseq.method !== msg.method) {
    const status = KNOWN_METHODS.has(msg.method) ? 400 : 501;
    throw new SipParseError('CSeq method does not match the Request-Line', { header: 'cseq', status });
  }
  countOf(firstOf[MAX_FORWARDS], 'max-forwards', 255);
}

/** From or To decoded from its line (see {@link SipMessage.from}). */
function nameAddrOf(h: HeaderLine | undefined, canon: 'from' | 'to') {
  if (h === undefined) throw new SipParseError(`missing ${canon} header`, { header: canon });
  return parseNameAddrIn(h.valueText, h.valueFrom, h.valueTo, canon);
}

/**
 * Call-ID = word [ "@" word ] (§25.1), in `s[start..end)`. One pass: `@` is no word char, so the
 * first one splits the value and any other fails it.
 */
function isCallId(s: string, start: number, end: number): boolean {
  const b = bytesOf(s);
  const word = WORD;
  let at = -1;
  for (let i = start; i < end; i++) {
    const c = b[i]!;
    if (word[c] === 1) continue;
    if (c !== 0x40 || at >= 0) return false;
    at = i;
  }
  return at < 0 ? end > start : at > start && end > at + 1;
}

/** Applies Content-Length to the body (§18.3, §20.14). */
function frameBody(msg: SipMessage, buf: Buffer, bodyStart: number, stream: boolean, contentLength: HeaderLine | undefined): void {
  const declared = countOf(contentLength, 'content-length', 0x7fffffff);
  const available = buf.length - bodyStart;
  if (declared === undefined) {
    if (stream) throw new SipParseError('missing Content-Length on a stream transport', { header: 'content-length' });
    msg.frame(buf, bodyStart, buf.length, buf.length);
    return;
  }
  if (declared > available) {
    throw new SipParseError(`Content-Length ${declared} exceeds the ${available} body bytes received`, { header: 'content-length' });
  }
  const end = bodyStart + declared;
  msg.frame(buf, bodyStart, end, end);
}
