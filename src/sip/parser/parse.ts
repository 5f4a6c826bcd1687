import { SipParseError } from '../message/errors.js';
import { DIGIT, TOKEN, WORD, allIn, trimEnd } from '../message/chars.js';
import { HeaderLine } from '../message/header-line.js';
import { canonicalName, knownName } from '../message/headers.js';
import { SipRequest, SipResponse, parseCount, parseCSeq, type SipMessage } from '../message/message.js';

export interface ParseOptions {
  /**
   * The buffer came from a stream (TCP, TLS): Content-Length is mandatory and the framer has
   * already cut the message to it (RFC 3261 §18.3). For datagrams, a missing Content-Length
   * means "to the end of the datagram" and octets beyond it are ignored (§18.3, RFC 4475 §3.1.1.8).
   */
  stream?: boolean;
}

/** Header sections longer than this are not looked at (the transports cap whole messages lower). */
const MAX_HEAD = 65536;

/** Methods this stack knows; an unknown method with a mismatched CSeq gets 501 (RFC 4475 §3.1.2.18). */
const KNOWN_METHODS = new Set([
  'INVITE', 'ACK', 'BYE', 'CANCEL', 'OPTIONS', 'REGISTER', 'PRACK', 'SUBSCRIBE', 'NOTIFY',
  'PUBLISH', 'INFO', 'REFER', 'MESSAGE', 'UPDATE',
]);

/** Headers that may appear only once (RFC 3261 §7.3.1, §20); a second one is an error (RFC 4475 §3.3.8). */
const SINGLE_BIT: Readonly<Record<string, number>> = Object.assign(Object.create(null) as Record<string, number>, {
  'call-id': 1,
  cseq: 2,
  from: 4,
  to: 8,
  'max-forwards': 16,
  'content-length': 32,
});

/**
 * Parses one SIP message from `buf`. Checks the start line, the presence and syntax of Via,
 * From, To, Call-ID and CSeq, and Content-Length and Max-Forwards when present; everything else is
 * decoded when read. Throws {@link SipParseError} saying what is wrong and where; when the
 * message is a request whose answer can still be addressed, the error carries it as `partial`.
 */
export function parseMessage(buf: Buffer, opts: ParseOptions = {}): SipRequest | SipResponse {
  const text = buf.toString('latin1', 0, Math.min(buf.length, MAX_HEAD));
  const headEnd = text.indexOf('\r\n\r\n');
  if (headEnd < 0) throw new SipParseError('no empty line after the header section');
  const head = text.slice(0, headEnd);
  let eol = head.indexOf('\r\n');
  if (eol < 0) eol = head.length;
  const lines = splitHeaderLines(head, eol);
  const bodyStart = headEnd + 4;
  const msg: SipRequest | SipResponse = startLine(head.slice(0, eol), lines, buf, bodyStart);
  try {
    checkCore(msg);
    frameBody(msg, buf, bodyStart, opts.stream === true);
  } catch (e) {
    if (e instanceof SipParseError && msg instanceof SipRequest) e.partial = msg;
    throw e;
  }
  return msg;
}

/** Splits the header section into logical lines, joining folded continuations (§7.3.1). */
function splitHeaderLines(head: string, eol: number): HeaderLine[] {
  const out: HeaderLine[] = [];
  let pos = eol + 2;
  let cur = -1;
  let curColon = -1;
  let folded = false;
  while (pos < head.length) {
    let next = head.indexOf('\r\n', pos);
    if (next < 0) next = head.length;
    const c = head.charCodeAt(pos);
    if (c === 0x20 || c === 0x09) {
      if (cur < 0) throw new SipParseError('continuation line without a header', { offset: pos });
      folded = true;
    } else {
      if (cur >= 0) out.push(headerLine(head, cur, curColon, pos - 2, folded));
      const colon = head.indexOf(':', pos);
      if (colon < 0 || colon > next) throw new SipParseError('header line without a colon', { offset: pos });
      cur = pos;
      curColon = colon;
      folded = false;
    }
    pos = next + 2;
  }
  if (cur >= 0) out.push(headerLine(head, cur, curColon, head.length, folded));
  return out;
}

function headerLine(head: string, start: number, colon: number, end: number, folded: boolean): HeaderLine {
  const nameEnd = trimEnd(head, start, colon);
  let name = knownName(head, start, nameEnd);
  if (name === undefined) {
    if (!allIn(TOKEN, head, start, nameEnd)) {
      throw new SipParseError(`malformed header name "${head.slice(start, Math.min(nameEnd, start + 40))}"`, { offset: start });
    }
    name = canonicalName(head.slice(start, nameEnd));
  }
  return new HeaderLine(name, head.slice(start, end), colon - start + 1, folded);
}

function startLine(line: string, lines: HeaderLine[], buf: Buffer, bodyStart: number): SipRequest | SipResponse {
  if (line.startsWith('SIP/')) return statusLine(line, lines, buf, bodyStart);
  const sp1 = line.indexOf(' ');
  const sp2 = sp1 < 0 ? -1 : line.indexOf(' ', sp1 + 1);
  if (sp1 <= 0 || sp2 < 0 || line.indexOf(' ', sp2 + 1) >= 0 || sp2 === sp1 + 1) {
    throw new SipParseError('malformed Request-Line', { offset: 0 });
  }
  const method = line.slice(0, sp1);
  if (!allIn(TOKEN, method)) throw new SipParseError('malformed method', { offset: 0 });
  const uri = line.slice(sp1 + 1, sp2);
  const req = new SipRequest(method, uri, lines, buf.subarray(bodyStart), null);
  try {
    checkVersion(line.slice(sp2 + 1), sp2 + 1);
  } catch (e) {
    throw withPartial(e as SipParseError, req);
  }
  let parsed;
  try {
    parsed = req.uri;
  } catch (e) {
    throw withPartial(new SipParseError(`bad Request-URI: ${(e as Error).message}`, { offset: sp1 + 1 }), req);
  }
  if (parsed.kind === 'sip' && parsed.headers !== null) {
    throw withPartial(new SipParseError('Request-URI must not carry headers (RFC 3261 §19.1.1)', { offset: sp1 + 1 }), req);
  }
  return req;
}

function statusLine(line: string, lines: HeaderLine[], buf: Buffer, bodyStart: number): SipResponse {
  const sp1 = line.indexOf(' ');
  if (sp1 < 0) throw new SipParseError('malformed Status-Line', { offset: 0 });
  checkVersion(line.slice(0, sp1), 0);
  const sp2 = line.indexOf(' ', sp1 + 1);
  const code = line.slice(sp1 + 1, sp2 < 0 ? line.length : sp2);
  if (code.length !== 3 || !allIn(DIGIT, code) || code < '100' || code > '699') {
    throw new SipParseError(`bad status code "${code.slice(0, 12)}"`, { offset: sp1 + 1 });
  }
  if (sp2 < 0) throw new SipParseError('missing reason phrase separator', { offset: sp1 + 4 });
  return new SipResponse(Number(code), line.slice(sp2 + 1), lines, buf.subarray(bodyStart), null);
}

const VERSION = /^SIP\/\d+\.\d+$/;

function checkVersion(v: string, offset: number): void {
  if (v === 'SIP/2.0') return;
  if (VERSION.test(v)) throw new SipParseError(`unsupported SIP version ${v}`, { offset, status: 505 });
  throw new SipParseError('malformed SIP version', { offset });
}

function withPartial(e: SipParseError, req: SipRequest): SipParseError {
  e.partial = req;
  return e;
}

/** The headers every message needs (§8.1.1), decoded now so later reads cannot fail. */
function checkCore(msg: SipMessage): void {
  let seen = 0;
  for (const h of msg.headers) {
    const bit = SINGLE_BIT[h.name];
    if (bit === undefined) continue;
    if (seen & bit) throw new SipParseError(`more than one ${h.name} header`, { header: h.name });
    seen |= bit;
  }
  if (msg.vias.length === 0) throw new SipParseError('missing Via header', { header: 'via' });
  void msg.from;
  void msg.to;
  const callId = msg.callId;
  if (!isCallId(callId)) throw new SipParseError('malformed Call-ID', { header: 'call-id' });
  const cseq = parseCSeq(msg.get('cseq'));
  if (!allIn(TOKEN, cseq.method)) throw new SipParseError('malformed CSeq method', { header: 'cseq' });
  if (msg instanceof SipRequest && cseq.method !== msg.method) {
    const status = KNOWN_METHODS.has(msg.method) ? 400 : 501;
    throw new SipParseError('CSeq method does not match the Request-Line', { header: 'cseq', status });
  }
  void msg.cseq;
  const mf = msg.get('max-forwards');
  if (mf !== undefined) parseCount(mf, 'max-forwards', 255);
}

/** Call-ID = word [ "@" word ] (§25.1). */
function isCallId(v: string): boolean {
  const at = v.indexOf('@');
  if (at < 0) return allIn(WORD, v);
  return allIn(WORD, v, 0, at) && allIn(WORD, v, at + 1);
}

/** Applies Content-Length to the body (§18.3, §20.14). */
function frameBody(msg: SipMessage, buf: Buffer, bodyStart: number, stream: boolean): void {
  const declared = msg.contentLength;
  const available = buf.length - bodyStart;
  if (declared === undefined) {
    if (stream) throw new SipParseError('missing Content-Length on a stream transport', { header: 'content-length' });
    msg.framed(buf.subarray(bodyStart), buf);
    return;
  }
  if (declared > available) {
    throw new SipParseError(`Content-Length ${declared} exceeds the ${available} body bytes received`, { header: 'content-length' });
  }
  const end = bodyStart + declared;
  msg.framed(buf.subarray(bodyStart, end), end === buf.length ? buf : buf.subarray(0, end));
}

