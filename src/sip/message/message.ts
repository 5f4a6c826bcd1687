import { SipParseError } from './errors.js';
import { DIGIT } from './chars.js';
import { HeaderLine } from './header-line.js';
import { LIST_HEADERS, canonicalName, splitList } from './headers.js';
import { NameAddr, parseNameAddr } from './name-addr.js';
import { parseUri, type Uri } from './uri.js';
import { Via, parseVia } from './via.js';

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
  /** The original bytes while the message is unmodified; dropped on the first edit. */
  protected rawBytes: Buffer | null;
  private typed: Map<string, unknown> | null = null;

  constructor(
    protected lines: HeaderLine[],
    private bodyBytes: Buffer,
    raw: Buffer | null = null,
  ) {
    this.rawBytes = raw;
  }

  /** The header lines in order; change them only through the methods of this class. */
  get headers(): readonly HeaderLine[] {
    return this.lines;
  }

  abstract get startLine(): string;
  abstract clone(): SipMessage;

  /** The bytes this message was parsed from, while it has not been modified. */
  get raw(): Buffer | null {
    return this.rawBytes;
  }

  get body(): Buffer {
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
  }

  protected modified(name?: string): void {
    this.rawBytes = null;
    if (name !== undefined && this.typed) this.typed.delete(name);
  }

  private cached<T>(key: string, decode: () => T): T {
    if (this.typed === null) this.typed = new Map();
    else if (this.typed.has(key)) return this.typed.get(key) as T;
    const v = decode();
    this.typed.set(key, v);
    return v;
  }

  // ---- generic header access -------------------------------------------------------------

  private indexOf(canon: string, from = 0): number {
    const h = this.lines;
    for (let i = from; i < h.length; i++) if (h[i]!.name === canon) return i;
    return -1;
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
    const items = splitList(this.headers[i]!.value);
    const first = items.shift();
    if (items.length === 0) this.lines.splice(i, 1);
    else this.lines[i] = HeaderLine.make(canon, items.join(', '));
    this.modified(canon);
    return first;
  }

  /** Replaces the first value of a list header, keeping the other values of its line. */
  replaceFirstValue(name: string, value: string): void {
    const canon = canonicalName(name);
    const i = this.indexOf(canon);
    if (i < 0) return this.prepend(canon, value);
    const items = splitList(this.headers[i]!.value);
    items[0] = value;
    this.lines[i] = HeaderLine.make(canon, items.join(', '));
    this.modified(canon);
  }

  // ---- typed headers -----------------------------------------------------------------------

  /** Every Via value, top first (RFC 3261 §20.42). */
  get vias(): Via[] {
    return this.cached('via', () => {
      const out: Via[] = [];
      for (const h of this.headers) {
        if (h.name !== 'via') continue;
        for (const item of splitList(h.value)) {
          if (item.length === 0) throw new SipParseError('Via: empty value', { header: 'via' });
          out.push(parseVia(item));
        }
      }
      return out;
    });
  }

  get topVia(): Via | undefined {
    return this.vias[0];
  }

  /** Puts a Via on top (a proxy or UAC sending a request, §16.6 step 8). */
  pushVia(via: Via): void {
    const vias = this.typed?.get('via') as Via[] | undefined;
    this.prepend('via', via.toString());
    if (vias) {
      vias.unshift(via);
      this.typed!.set('via', vias);
    }
  }

  /** Removes the top Via (a proxy forwarding a response, §16.7 step 3). */
  popVia(): Via | undefined {
    const vias = this.vias;
    const top = vias[0];
    if (!top) return undefined;
    this.popFirstValue('via');
    this.typed!.set('via', vias.slice(1));
    return top;
  }

  /** Rewrites the top Via after its parameters were changed (received, rport, §18.2.1). */
  commitTopVia(): void {
    const vias = this.vias;
    if (vias.length === 0) return;
    this.replaceFirstValue('via', vias[0]!.toString());
    this.typed!.set('via', vias);
  }

  private nameAddr(canon: string): NameAddr {
    return this.cached(canon, () => {
      const v = this.get(canon);
      if (v === undefined) throw new SipParseError(`missing ${canon} header`, { header: canon });
      return parseNameAddr(v, canon);
    });
  }

  get from(): NameAddr {
    return this.nameAddr('from');
  }

  get to(): NameAddr {
    return this.nameAddr('to');
  }

  /** Writes back From or To after its tag or URI was changed. */
  commitNameAddr(name: 'from' | 'to'): void {
    const na = this.nameAddr(name);
    this.set(name, na.toString());
    this.typed!.set(name, na);
  }

  get callId(): string {
    const v = this.get('call-id');
    if (v === undefined) throw new SipParseError('missing Call-ID header', { header: 'call-id' });
    return v;
  }

  get cseq(): CSeq {
    return this.cached('cseq', () => parseCSeq(this.get('cseq')));
  }

  /** Max-Forwards, or undefined when absent (§20.22). */
  get maxForwards(): number | undefined {
    const v = this.get('max-forwards');
    if (v === undefined) return undefined;
    return parseCount(v, 'max-forwards', 255);
  }

  /** Decoded name-addr list of a header such as Contact, Route, Record-Route, Path. */
  nameAddrs(name: string): NameAddr[] {
    const canon = canonicalName(name);
    return this.cached(`list:${canon}`, () =>
      this.getAll(canon).map((v) => {
        if (v.length === 0) throw new SipParseError(`empty value in ${canon}`, { header: canon });
        return parseNameAddr(v, canon);
      }),
    );
  }

  /** Contact bindings; empty for `Contact: *` (see {@link isWildcardContact}). */
  get contacts(): NameAddr[] {
    return this.isWildcardContact ? [] : this.nameAddrs('contact');
  }

  /** True for the `Contact: *` of a REGISTER removing all bindings (RFC 3261 §10.2.2). */
  get isWildcardContact(): boolean {
    const v = this.get('contact');
    return v !== undefined && v === '*';
  }

  get routes(): NameAddr[] {
    return this.nameAddrs('route');
  }

  get recordRoutes(): NameAddr[] {
    return this.nameAddrs('record-route');
  }

  /** Content-Length as declared, or undefined when absent. */
  get contentLength(): number | undefined {
    const v = this.get('content-length');
    return v === undefined ? undefined : parseCount(v, 'content-length', 0x7fffffff);
  }

  /** Expires header in seconds, or undefined (§20.19). */
  get expires(): number | undefined {
    const v = this.get('expires');
    return v === undefined ? undefined : parseCount(v, 'expires', MAX_CSEQ);
  }
}

/** Parses `1*DIGIT` with an upper bound; throws SipParseError naming the header. */
export function parseCount(v: string, header: string, max: number): number {
  if (v.length === 0 || v.length > 12) throw new SipParseError(`bad ${header} value`, { header });
  for (let i = 0; i < v.length; i++) {
    if (DIGIT[v.charCodeAt(i)] !== 1) throw new SipParseError(`bad ${header} value`, { header });
  }
  const n = Number(v);
  if (n > max) throw new SipParseError(`${header} value too large`, { header });
  return n;
}

/** Parses `CSeq: 1*DIGIT LWS Method` with the 2^32-1 bound of §8.1.1.5. */
export function parseCSeq(v: string | undefined): CSeq {
  if (v === undefined) throw new SipParseError('missing CSeq header', { header: 'cseq' });
  let i = 0;
  while (i < v.length && DIGIT[v.charCodeAt(i)] === 1) i++;
  const num = v.slice(0, i);
  let j = i;
  while (j < v.length && (v.charCodeAt(j) === 0x20 || v.charCodeAt(j) === 0x09)) j++;
  if (i === 0 || j === i || j >= v.length) throw new SipParseError('malformed CSeq', { header: 'cseq' });
  const seq = parseCount(num, 'cseq', MAX_CSEQ);
  return { seq, method: v.slice(j) };
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
    return new SipRequest(this.method, this.uriText, this.lines.slice(), this.body, this.rawBytes);
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
    return new SipResponse(this.status, this.reason, this.lines.slice(), this.body, this.rawBytes);
  }
}

export function isRequest(m: SipMessage): m is SipRequest {
  return m instanceof SipRequest;
}
