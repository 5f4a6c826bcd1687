import { SipParseError } from './errors.js';
import { DIGIT, skipWs, trimEnd } from './chars.js';
import { HeaderLine } from './header-line.js';
import { LIST_HEADERS, canonicalName, endOfListItem, firstListItem, splitList } from './headers.js';
import { NameAddr, parseNameAddr, parseNameAddrIn } from './name-addr.js';
import { parseUri, type Uri } from './uri.js';
import { Via, parseViaIn } from './via.js';

export interface CSeq {
  seq: number;
  method: string;
}

const MAX_CSEQ = 0xffffffff;

/**
 * A SIP message (RFC 3261 §7): start line, header lines in order, body bytes. Header values are
 * decoded only when read and typed decodings are cached; edits replace whole lines, so untouched
 * lines keep their original bytes. An unmodified parsed message serializes to its original bytes.
 */
export abstract class SipMessage {
  // The fields are declared without emitting class fields and set in the constructor: a base
  // class with field initializers keeps the optimizing compiler from inlining its construction
  // into `new SipRequest(...)`, which the parser does for every message.
  protected declare lines: HeaderLine[];
  /** The original bytes while the message is unmodified; dropped on the first edit. */
  protected declare rawBytes: Buffer | null;
  private declare bodyBytes: Buffer | null;
  /** The parsed buffer while {@link body} or {@link raw} have not been cut from it yet. */
  private declare src: Buffer | null;
  private declare bodyStart: number;
  private declare bodyEnd: number;
  /** End of the message in `src` while `raw` is still to be cut from it; -1 otherwise. */
  private declare rawEnd: number;
  private declare viaCache: Via[] | null;
  private declare fromCache: NameAddr | null;
  private declare toCache: NameAddr | null;
  private declare cseqCache: CSeq | null;
  /** Decoded name-addr lists, by `list:<name>`; created on first use. */
  private declare typed: Map<string, unknown> | null;

  constructor(lines: HeaderLine[], body: Buffer, raw: Buffer | null = null) {
    this.lines = lines;
    this.rawBytes = raw;
    this.bodyBytes = body;
    this.src = null;
    this.bodyStart = 0;
    this.bodyEnd = 0;
    this.rawEnd = -1;
    this.viaCache = null;
    this.fromCache = null;
    this.toCache = null;
    this.cseqCache = null;
    this.typed = null;
  }

  /** The header lines in order; change them only through the methods of this class. */
  get headers(): readonly HeaderLine[] {
    return this.lines;
  }

  abstract get startLine(): string;
  /**
   * A copy whose header lines can be edited without touching this message. The decoded Via,
   * From, To and CSeq are shared with it, not decoded again (a request or response crossing
   * several services of one process is cloned at each). pushVia and popVia keep the copies
   * apart; a Via, From or To object changed in place and committed (as the transport stamps
   * the top Via of a request it receives) changes in the copies made before too, so that is
   * done before a message is cloned.
   */
  abstract clone(): SipMessage;

  /** @internal Hands the decoded core headers to a clone (see {@link clone}). */
  protected shareDecoded<T extends SipMessage>(copy: T): T {
    const vias = this.viaCache;
    if (vias !== null) copy.viaCache = vias.slice();
    copy.fromCache = this.fromCache;
    copy.toCache = this.toCache;
    copy.cseqCache = this.cseqCache;
    return copy;
  }

  /** The bytes this message was parsed from, while it has not been modified. */
  get raw(): Buffer | null {
    if (this.rawEnd >= 0) {
      const src = this.src!;
      this.rawBytes = this.rawEnd === src.length ? src : src.subarray(0, this.rawEnd);
      this.rawEnd = -1;
    }
    return this.rawBytes;
  }

  get body(): Buffer {
    if (this.bodyBytes === null) this.bodyBytes = this.src!.subarray(this.bodyStart, this.bodyEnd);
    return this.bodyBytes;
  }

  /** Replaces the body and keeps Content-Length (and Content-Type when given) right. */
  setBody(body: Buffer | string, contentType?: string): void {
    this.bodyBytes = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
    if (contentType !== undefined) this.set('content-type', contentType);
    else if (this.bodyBytes.length === 0) this.remove('content-type');
    this.set('content-length', String(this.bodyBytes.length));
  }

  /** @internal The parser sets the framed body and the exact bytes of the message. */
  framed(body: Buffer, raw: Buffer): void {
    this.bodyBytes = body;
    this.rawBytes = raw;
    this.rawEnd = -1;
  }

  /**
   * @internal The parser sets the body to `buf[bodyStart..bodyEnd)` and, when `rawEnd` is not
   * negative, the message's bytes to `buf[0..rawEnd)`; both are cut from `buf` on first read.
   */
  frame(buf: Buffer, bodyStart: number, bodyEnd: number, rawEnd: number): void {
    this.src = buf;
    this.bodyStart = bodyStart;
    this.bodyEnd = bodyEnd;
    this.bodyBytes = null;
    this.rawEnd = rawEnd;
    if (rawEnd >= 0) this.rawBytes = null;
  }

  protected modified(name?: string): void {
    this.rawBytes = null;
    this.rawEnd = -1;
    if (name === 'via') this.viaCache = null;
    else if (name === 'from') this.fromCache = null;
    else if (name === 'to') this.toCache = null;
    else if (name === 'cseq') this.cseqCache = null;
    else if (name !== undefined && this.typed !== null) {
      this.typed.delete(name);
      this.typed.delete(`list:${name}`);
    }
  }

  // ---- generic header access -------------------------------------------------------------

  private indexOf(canon: string, from = 0): number {
    const h = this.lines;
    for (let i = from; i < h.length; i++) if (h[i]!.name === canon) return i;
    return -1;
  }

  /** @internal The first line named `canon` (already canonical). */
  line(canon: string): HeaderLine | undefined {
    const h = this.lines;
    for (let i = 0; i < h.length; i++) if (h[i]!.name === canon) return h[i];
    return undefined;
  }

  /** The value of the first line named `canon` (already canonical). */
  private valueOf(canon: string): string | undefined {
    const h = this.lines;
    for (let i = 0; i < h.length; i++) if (h[i]!.name === canon) return h[i]!.value;
    return undefined;
  }

  has(name: string): boolean {
    return this.indexOf(canonicalName(name)) >= 0;
  }

  /** The value of the first line of this header (whole line value, never split on commas). */
  get(name: string): string | undefined {
    const i = this.indexOf(canonicalName(name));
    return i < 0 ? undefined : this.headers[i]!.value;
  }

  /**
   * All values of a header: for list headers (§7.3.1) each comma-separated value of every line,
   * otherwise each line's value.
   */
  getAll(name: string): string[] {
    const canon = canonicalName(name);
    const out: string[] = [];
    for (const h of this.headers) {
      if (h.name !== canon) continue;
      if (LIST_HEADERS.has(canon)) for (const v of splitList(h.value)) out.push(v);
      else out.push(h.value);
    }
    return out;
  }

  /** Replaces every line of the header with one line holding `value`, where the first one was. */
  set(name: string, value: string): void {
    const canon = canonicalName(name);
    const i = this.indexOf(canon);
    const line = HeaderLine.make(canon, value);
    if (i < 0) this.lines.push(line);
    else {
      this.lines[i] = line;
      for (let j = this.indexOf(canon, i + 1); j >= 0; j = this.indexOf(canon, j)) this.lines.splice(j, 1);
    }
    this.modified(canon);
  }

  /** Adds a line after all others. */
  append(name: string, value: string): void {
    const canon = canonicalName(name);
    this.lines.push(HeaderLine.make(canon, value));
    this.modified(canon);
  }

  /** Adds a line before the first line of the same header (its value becomes the first), or on top. */
  prepend(name: string, value: string): void {
    const canon = canonicalName(name);
    const i = this.indexOf(canon);
    this.lines.splice(i < 0 ? 0 : i, 0, HeaderLine.make(canon, value));
    this.modified(canon);
  }

  /** Removes every line of the header; returns how many were removed. */
  remove(name: string): number {
    const canon = canonicalName(name);
    const before = this.lines.length;
    this.lines = this.lines.filter((h) => h.name !== canon);
    const n = before - this.lines.length;
    if (n) this.modified(canon);
    return n;
  }

  /** Removes the first value of a list header and returns it (the rest of its line is kept). */
  popFirstValue(name: string): string | undefined {
    const canon = canonicalName(name);
    const i = this.indexOf(canon);
    if (i < 0) return undefined;
    const value = this.lines[i]!.value;
    if (endOfListItem(value, 0, value.length) === value.length) {
      // one value on the line (a Via or Route each hop added): drop the line, no list to rebuild
      this.lines.splice(i, 1);
      this.modified(canon);
      return value;
    }
    // Only the first item is cut out: a response's Vias echoed on one line by the UAS are popped
    // once per hop, and splitting the whole list each time cost a string per item per hop.
    const end = endOfListItem(value, 0, value.length);
    const first = value.slice(0, trimEnd(value, 0, end));
    this.lines[i] = HeaderLine.make(canon, restOfList(value, end));
    this.modified(canon);
    return first;
  }

  /** Replaces the first value of a list header, keeping the other values of its line. */
  replaceFirstValue(name: string, value: string): void {
    const canon = canonicalName(name);
    const i = this.indexOf(canon);
    if (i < 0) return this.prepend(canon, value);
    const old = this.headers[i]!.value;
    const end = endOfListItem(old, 0, old.length);
    this.lines[i] = HeaderLine.make(canon, end === old.length ? value : `${value}, ${restOfList(old, end)}`);
    this.modified(canon);
  }

  // ---- typed headers -----------------------------------------------------------------------

  /** Every Via value, top first (RFC 3261 §20.42). */
  get vias(): Via[] {
    if (this.viaCache === null) this.viaCache = decodeVias(this.lines);
    return this.viaCache;
  }

  get topVia(): Via | undefined {
    return this.vias[0];
  }

  /** Puts a Via on top (a proxy or UAC sending a request, §16.6 step 8). */
  pushVia(via: Via): void {
    const vias = this.viaCache;
    this.prepend('via', via.toString());
    if (vias !== null) {
      vias.unshift(via);
      this.viaCache = vias;
    }
  }

  /** Removes the top Via (a proxy forwarding a response, §16.7 step 3). */
  popVia(): Via | undefined {
    const vias = this.vias;
    const top = vias[0];
    if (!top) return undefined;
    this.popFirstValue('via');
    this.viaCache = vias.slice(1);
    return top;
  }

  /** Rewrites the top Via after its parameters were changed (received, rport, §18.2.1). */
  commitTopVia(): void {
    const vias = this.vias;
    if (vias.length === 0) return;
    this.replaceFirstValue('via', vias[0]!.toString());
    this.viaCache = vias;
  }

  /**
   * @internal The parser hands over From, To and CSeq, decoded from their first lines while it
   * checked them (the caches a getter would fill on first read).
   */
  decodedCore(from: NameAddr, to: NameAddr, cseq: CSeq): void {
    this.fromCache = from;
    this.toCache = to;
    this.cseqCache = cseq;
  }

  private decodeNameAddr(canon: 'from' | 'to'): NameAddr {
    const h = this.line(canon);
    if (h === undefined) throw new SipParseError(`missing ${canon} header`, { header: canon });
    return parseNameAddrIn(h.valueText, h.valueFrom, h.valueTo, canon);
  }

  get from(): NameAddr {
    if (this.fromCache === null) this.fromCache = this.decodeNameAddr('from');
    return this.fromCache;
  }

  get to(): NameAddr {
    if (this.toCache === null) this.toCache = this.decodeNameAddr('to');
    return this.toCache;
  }

  /** Writes back From or To after its tag or URI was changed. */
  commitNameAddr(name: 'from' | 'to'): void {
    const na = name === 'from' ? this.from : this.to;
    this.set(name, na.toString());
    if (name === 'from') this.fromCache = na;
    else this.toCache = na;
  }

  get callId(): string {
    const v = this.valueOf('call-id');
    if (v === undefined) throw new SipParseError('missing Call-ID header', { header: 'call-id' });
    return v;
  }

  get cseq(): CSeq {
    if (this.cseqCache === null) {
      const h = this.line('cseq');
      if (h === undefined) throw new SipParseError('missing CSeq header', { header: 'cseq' });
      this.cseqCache = cseqOf(h);
    }
    return this.cseqCache;
  }

  /** Max-Forwards, or undefined when absent (§20.22). */
  get maxForwards(): number | undefined {
    return countOf(this.line('max-forwards'), 'max-forwards', 255);
  }

  /** Decoded name-addr list of a header such as Contact, Route, Record-Route, Path. */
  nameAddrs(name: string): NameAddr[] {
    const canon = canonicalName(name);
    const key = `list:${canon}`;
    if (this.typed === null) this.typed = new Map();
    else if (this.typed.has(key)) return this.typed.get(key) as NameAddr[];
    const out: NameAddr[] = [];
    for (const v of this.getAll(canon)) {
      if (v.length === 0) throw new SipParseError(`empty value in ${canon}`, { header: canon });
      out.push(parseNameAddr(v, canon));
    }
    this.typed.set(key, out);
    return out;
  }

  /** Contact bindings; empty for `Contact: *` (see {@link isWildcardContact}). */
  get contacts(): NameAddr[] {
    return this.isWildcardContact ? [] : this.nameAddrs('contact');
  }

  /** True for the `Contact: *` of a REGISTER removing all bindings (RFC 3261 §10.2.2). */
  get isWildcardContact(): boolean {
    const v = this.valueOf('contact');
    return v !== undefined && v === '*';
  }

  get routes(): NameAddr[] {
    return this.nameAddrs('route');
  }

  /**
   * The first Route value, decoded without the others: loose routing looks only at the top one
   * (§16.4, §16.6 step 6), and each hop that pops it would otherwise decode the whole list again.
   */
  get topRoute(): NameAddr | undefined {
    const typed = this.typed;
    if (typed !== null) {
      const list = typed.get('list:route') as NameAddr[] | undefined;
      if (list !== undefined) return list[0];
      // the key `route` (cleared by every change to Route, as the list) holds the top value alone
      const top = typed.get('route') as NameAddr | undefined;
      if (top !== undefined) return top;
    }
    const h = this.line('route');
    if (h === undefined) return undefined;
    const first = firstListItem(h.value);
    if (first.length === 0) throw new SipParseError('empty value in route', { header: 'route' });
    const top = parseNameAddr(first, 'route');
    (this.typed ??= new Map()).set('route', top);
    return top;
  }

  get recordRoutes(): NameAddr[] {
    return this.nameAddrs('record-route');
  }

  /** Content-Length as declared, or undefined when absent. */
  get contentLength(): number | undefined {
    return countOf(this.line('content-length'), 'content-length', 0x7fffffff);
  }

  /** Expires header in seconds, or undefined (§20.19). */
  get expires(): number | undefined {
    return countOf(this.line('expires'), 'expires', MAX_CSEQ);
  }
}

/** The items of a list value after the comma at `comma`, LWS before the first trimmed. */
function restOfList(value: string, comma: number): string {
  return value.slice(skipWs(value, comma + 1, value.length));
}

/** Every Via value of `lines`, top first; throws on an empty or malformed one (§20.42, §25.1). */
function decodeVias(lines: readonly HeaderLine[]): Via[] {
  // Made on the first value, holding it: most messages carry one or two (see parseHeaderParams).
  let out: Via[] | null = null;
  for (let i = 0; i < lines.length; i++) {
    const h = lines[i]!;
    if (h.name !== 'via') continue;
    const v = h.valueText;
    const last = h.valueTo;
    let start = h.valueFrom;
    for (;;) {
      // Without a comma ahead the rest is one item; only a comma needs the quote-aware scan.
      const comma = v.indexOf(',', start);
      const end = comma < 0 || comma >= last ? last : endOfListItem(v, start, last);
      const a = skipWs(v, start, end);
      const b = trimEnd(v, a, end);
      if (a === b) throw new SipParseError('Via: empty value', { header: 'via' });
      const via = parseViaIn(v, a, b);
      if (out === null) out = [via];
      else out.push(via);
      if (end === last) break;
      start = end + 1;
    }
  }
  return out ?? [];
}

/** Parses `1*DIGIT` with an upper bound; throws SipParseError naming the header. */
export function parseCount(v: string, header: string, max: number): number {
  return countIn(v, 0, v.length, header, max);
}

/** {@link parseCount} of `s[start..end)`. */
function countIn(s: string, start: number, end: number, header: string, max: number): number {
  if (end === start || end - start > 12) throw new SipParseError(`bad ${header} value`, { header });
  let n = 0;
  for (let i = start; i < end; i++) {
    const c = s.charCodeAt(i);
    if (DIGIT[c] !== 1) throw new SipParseError(`bad ${header} value`, { header });
    n = n * 10 + c - 0x30;
  }
  if (n > max) throw new SipParseError(`${header} value too large`, { header });
  return n;
}

/** Parses `CSeq: 1*DIGIT LWS Method` with the 2^32-1 bound of §8.1.1.5. */
export function parseCSeq(v: string | undefined): CSeq {
  if (v === undefined) throw new SipParseError('missing CSeq header', { header: 'cseq' });
  return cseqIn(v, 0, v.length);
}

/** {@link parseCSeq} of `s[start..end)`. */
function cseqIn(s: string, start: number, end: number): CSeq {
  let i = start;
  while (i < end && DIGIT[s.charCodeAt(i)] === 1) i++;
  let j = i;
  while (j < end && (s.charCodeAt(j) === 0x20 || s.charCodeAt(j) === 0x09)) j++;
  if (i === start || j === i || j >= end) throw new SipParseError('malformed CSeq', { header: 'cseq' });
  const seq = countIn(s, start, i, 'cseq', MAX_CSEQ);
  return { seq, method: s.slice(j, end) };
}

/** @internal The CSeq in the value of `h`. */
export function cseqOf(h: HeaderLine): CSeq {
  return cseqIn(h.valueText, h.valueFrom, h.valueTo);
}

/** @internal The decimal count in the value of `h` (see {@link parseCount}), or undefined without `h`. */
export function countOf(h: HeaderLine | undefined, header: string, max: number): number | undefined {
  return h === undefined ? undefined : countIn(h.valueText, h.valueFrom, h.valueTo, header, max);
}

/** A SIP request (RFC 3261 §7.1). */
export class SipRequest extends SipMessage {
  private uriCache: Uri | null = null;

  constructor(
    readonly method: string,
    private uriText: string,
    headers: HeaderLine[],
    body: Buffer,
    raw: Buffer | null = null,
  ) {
    super(headers, body, raw);
  }

  /** The Request-URI, decoded on first read. */
  get uri(): Uri {
    if (this.uriCache === null) this.uriCache = parseUri(this.uriText);
    return this.uriCache;
  }

  set uri(uri: Uri) {
    this.uriCache = uri;
    this.uriText = uri.toString();
    this.modified();
  }

  /** @internal The parser hands over the Request-URI it decoded from the start line. */
  decodedUri(uri: Uri): void {
    this.uriCache = uri;
  }

  /** Rewrites the Request-URI text after the decoded {@link uri} was edited in place. */
  commitUri(): void {
    if (this.uriCache) this.uriText = this.uriCache.toString();
    this.modified();
  }

  get uriString(): string {
    return this.uriText;
  }

  get startLine(): string {
    return `${this.method} ${this.uriText} SIP/2.0`;
  }

  clone(): SipRequest {
    return this.shareDecoded(new SipRequest(this.method, this.uriText, this.lines.slice(), this.body, this.raw));
  }
}

/** A SIP response (RFC 3261 §7.2). */
export class SipResponse extends SipMessage {
  constructor(
    readonly status: number,
    readonly reason: string,
    headers: HeaderLine[],
    body: Buffer,
    raw: Buffer | null = null,
  ) {
    super(headers, body, raw);
  }

  get startLine(): string {
    return `SIP/2.0 ${this.status} ${this.reason}`;
  }

  clone(): SipResponse {
    return this.shareDecoded(new SipResponse(this.status, this.reason, this.lines.slice(), this.body, this.raw));
  }
}

export function isRequest(m: SipMessage): m is SipRequest {
  return m instanceof SipRequest;
}
