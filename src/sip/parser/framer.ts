/**
 * Stream framing for SIP over TCP, TLS and other byte streams (RFC 3261 §18.3): cuts a byte
 * stream into whole SIP messages without parsing them. The end of the header section is the first
 * CRLFCRLF; the body is exactly `Content-Length` bytes, which a stream message MUST carry
 * (RFC 3261 §18.3, §20.14). CRLFs between messages are skipped (RFC 3261 §7.5) and a double CRLF
 * there is an RFC 5626 §3.5.1 keepalive "ping".
 *
 * Cost: every byte is looked at once. The header terminator is found with `Buffer.indexOf` per
 * chunk (carrying a partial match across chunk edges); a message that lies inside one chunk is
 * handed out as a zero-copy `subarray` of it; a message spread over chunks is copied once into a
 * buffer of its final size. Memory held is bounded by the maximum message size.
 */

const CR = 0x0d;
const LF = 0x0a;
const SP = 0x20;
const HTAB = 0x09;
const COLON = 0x3a;
const DIGIT_0 = 0x30;
const DIGIT_9 = 0x39;
const HYPHEN = 0x2d;
const CRLFCRLF = Buffer.from('\r\n\r\n', 'latin1');
/** "content-length" as lower-case bytes, for a case-insensitive compare (RFC 3261 §7.3.1). */
const CONTENT_LENGTH = Buffer.from('content-length', 'latin1');
/** `l`, the compact form of Content-Length (RFC 3261 §7.3.3, §20.14). */
const COMPACT_L = 0x6c;
/** More digits than this cannot be a length within any sane maximum; saturate instead of parsing. */
const MAX_LENGTH_DIGITS = 9;

/** Default largest message (header section plus body) accepted on a stream: 64 KiB. */
export const DEFAULT_MAX_MESSAGE_SIZE = 64 * 1024;

/** Why a stream can no longer be framed; the connection must be closed. */
export type FramingErrorReason =
  | 'message-too-large'
  | 'missing-content-length'
  | 'invalid-content-length'
  | 'conflicting-content-length';

/**
 * A stream that cannot be framed: once message boundaries are lost the only safe action is to
 * close the connection (RFC 3261 §18.3).
 */
export class FramingError extends Error {
  override readonly name = 'FramingError';
  readonly code = 'TW_ERR_SIP_FRAMING';

  constructor(
    readonly reason: FramingErrorReason,
    message: string,
  ) {
    super(message);
  }
}

/** Where the framer delivers what it finds. Handlers run synchronously inside {@link StreamFramer.push}. */
export interface FramerHandlers {
  /** One whole SIP message: start line, headers, blank line and exactly Content-Length body bytes. */
  onMessage(message: Buffer): void;
  /** A CRLFCRLF keepalive ping between messages (RFC 5626 §3.5.1); answer with a single CRLF. */
  onPing?(): void;
  /** The stream cannot be framed; no further messages follow. Called at most once. */
  onError(error: FramingError): void;
}

export interface FramerOptions {
  /** Largest message in bytes, header section included; also bounds a header section still being searched. */
  maxMessageSize?: number;
}

const IDLE = 0;
const HEADERS = 1;
const BODY = 2;
const STOPPED = 3;

/**
 * Incremental SIP stream framer. Feed it socket chunks with {@link push}; it calls the handlers for
 * each complete message, keepalive ping and framing error.
 *
 * Keepalives (RFC 5626 §3.5.1): between messages, every second consecutive CRLF is reported as a
 * ping, whatever the chunking; a single CRLF (a pong, or the optional CRLF before a start line,
 * RFC 3261 §7.5) is ignored. Two pongs in a row with no message between would read as a ping; the
 * reply to it is a single CRLF, which the peer in turn ignores.
 */
export class StreamFramer {
  private readonly maxMessageSize: number;
  private phase = IDLE;
  /** IDLE: line feeds seen since the last message or ping. */
  private lineFeeds = 0;
  /** HEADERS: earlier chunks' bytes of the header section being searched. */
  private parts: Buffer[] = [];
  private partsLength = 0;
  /** HEADERS: how many bytes of CRLFCRLF the bytes seen so far end with (0-3). */
  private match = 0;
  /** BODY: the message being assembled, at its final size, and how much of it is filled. */
  private pending: Buffer | undefined;
  private filled = 0;

  constructor(
    private readonly handlers: FramerHandlers,
    options: FramerOptions = {},
  ) {
    this.maxMessageSize = options.maxMessageSize ?? DEFAULT_MAX_MESSAGE_SIZE;
  }

  /** Bytes held for a message not yet complete. Never more than the maximum message size. */
  get bufferedBytes(): number {
    return this.phase === BODY ? this.filled : this.partsLength;
  }

  /** True once a framing error was reported or {@link close} was called; pushes are then ignored. */
  get stopped(): boolean {
    return this.phase === STOPPED;
  }

  /** Stops framing and drops buffered bytes (e.g. the connection is closing). */
  close(): void {
    this.phase = STOPPED;
    this.parts = [];
    this.partsLength = 0;
    this.pending = undefined;
  }

  /** Feeds the next chunk of the stream. Handlers are called before this returns. */
  push(chunk: Buffer): void {
    let offset = 0;
    while (offset < chunk.length) {
      switch (this.phase) {
        case IDLE:
          offset = this.skipBetweenMessages(chunk, offset);
          break;
        case HEADERS:
          offset = this.scanHeaders(chunk, offset);
          break;
        case BODY:
          offset = this.fillBody(chunk, offset);
          break;
        default:
          return;
      }
    }
  }

  /** RFC 3261 §7.5 / RFC 5626 §3.5.1: consumes CRs and LFs before a start line, reporting pings. */
  private skipBetweenMessages(chunk: Buffer, offset: number): number {
    for (let i = offset; i < chunk.length; i++) {
      const byte = chunk[i];
      if (byte === LF) {
        if (++this.lineFeeds === 2) {
          this.lineFeeds = 0;
          this.handlers.onPing?.();
          if (this.phase !== IDLE) return chunk.length;
        }
      } else if (byte !== CR) {
        this.lineFeeds = 0;
        this.phase = HEADERS;
        this.match = 0;
        return i;
      }
    }
    return chunk.length;
  }

  private scanHeaders(chunk: Buffer, start: number): number {
    const end = this.findHeaderEnd(chunk, start);
    if (end < 0) {
      const held = this.partsLength + chunk.length - start;
      // The terminator needs at least one more byte, so `held` bytes already make the section too big.
      if (held >= this.maxMessageSize) return this.fail('message-too-large', `header section exceeds ${this.maxMessageSize} bytes`);
      this.parts.push(start === 0 ? chunk : chunk.subarray(start));
      this.partsLength = held;
      return chunk.length;
    }
    const headerLength = this.partsLength + end - start;
    if (headerLength > this.maxMessageSize) return this.fail('message-too-large', `header section exceeds ${this.maxMessageSize} bytes`);
    const inOneChunk = this.parts.length === 0;
    const header = inOneChunk ? chunk.subarray(start, end) : this.joinParts(chunk.subarray(start, end), headerLength);
    const bodyLength = readContentLength(header);
    if (bodyLength instanceof FramingError) return this.fail(bodyLength);
    const total = headerLength + bodyLength;
    if (total > this.maxMessageSize) return this.fail('message-too-large', `message of ${total} bytes exceeds ${this.maxMessageSize}`);
    const available = chunk.length - end;
    if (bodyLength === 0 || (inOneChunk && available >= bodyLength)) {
      this.deliver(inOneChunk ? chunk.subarray(start, end + bodyLength) : header);
      return end + bodyLength;
    }
    const message = Buffer.allocUnsafe(total);
    header.copy(message, 0);
    const take = Math.min(available, bodyLength);
    chunk.copy(message, headerLength, end, end + take);
    this.pending = message;
    this.filled = headerLength + take;
    this.phase = BODY;
    if (this.filled === total) this.completeBody();
    return end + take;
  }

  private fillBody(chunk: Buffer, offset: number): number {
    const message = this.pending as Buffer;
    const take = Math.min(chunk.length - offset, message.length - this.filled);
    chunk.copy(message, this.filled, offset, offset + take);
    this.filled += take;
    if (this.filled === message.length) this.completeBody();
    return offset + take;
  }

  private completeBody(): void {
    const message = this.pending as Buffer;
    this.pending = undefined;
    this.filled = 0;
    this.deliver(message);
  }

  private joinParts(last: Buffer, length: number): Buffer {
    this.parts.push(last);
    const header = Buffer.concat(this.parts, length);
    this.parts = [];
    this.partsLength = 0;
    return header;
  }

  private deliver(message: Buffer): void {
    this.phase = IDLE;
    this.lineFeeds = 0;
    this.handlers.onMessage(message);
  }

  /**
   * Finds the end of the header section in `chunk` from `start`, continuing a partial CRLFCRLF
   * left at the end of the previous chunk. Returns the offset just past the terminator, or -1 and
   * remembers how much of a terminator the chunk ends with.
   */
  private findHeaderEnd(chunk: Buffer, start: number): number {
    let i = start;
    let matched = this.match;
    while (matched !== 0 && i < chunk.length) {
      matched = advanceTerminator(matched, chunk[i++]);
      if (matched === 4) {
        this.match = 0;
        return i;
      }
    }
    if (i >= chunk.length) {
      this.match = matched;
      return -1;
    }
    const found = chunk.indexOf(CRLFCRLF, i);
    if (found >= 0) {
      this.match = 0;
      return found + 4;
    }
    for (let k = Math.max(i, chunk.length - 3); k < chunk.length; k++) matched = advanceTerminator(matched, chunk[k]);
    this.match = matched;
    return -1;
  }

  private fail(reason: FramingErrorReason | FramingError, message = ''): number {
    const error = reason instanceof FramingError ? reason : new FramingError(reason, message);
    this.close();
    this.handlers.onError(error);
    return Number.MAX_SAFE_INTEGER;
  }
}

/** One step of a matcher for CRLFCRLF: `matched` bytes matched so far, then `byte`. */
function advanceTerminator(matched: number, byte: number): number {
  const expected = matched % 2 === 0 ? CR : LF;
  if (byte === expected) return matched + 1;
  return byte === CR ? 1 : 0;
}

/**
 * Reads the body length from a header section (start line through the blank line) without parsing
 * it: finds every `Content-Length` or `l` header field (RFC 3261 §7.3.1: names case-insensitive,
 * `*(SP / HTAB) ":" SWS` after the name, values possibly folded onto continuation lines) and checks
 * that its value is one decimal number. Duplicate fields must agree.
 */
export function readContentLength(header: Buffer): number | FramingError {
  let length = -1;
  let position = header.indexOf(LF) + 1;
  const last = header.length - 2;
  while (position > 0 && position < last) {
    let lineEnd = header.indexOf(LF, position);
    const first = header[position];
    const valueStart = first === SP || first === HTAB ? -1 : contentLengthValueStart(header, position, lineEnd);
    if (valueStart >= 0) {
      while (header[lineEnd + 1] === SP || header[lineEnd + 1] === HTAB) lineEnd = header.indexOf(LF, lineEnd + 1);
      const value = parseLength(header, valueStart, lineEnd);
      if (value < 0) return new FramingError('invalid-content-length', 'Content-Length is not a non-negative decimal number');
      if (length >= 0 && value !== length) return new FramingError('conflicting-content-length', 'Content-Length appears twice with different values');
      length = value;
    }
    position = lineEnd + 1;
  }
  if (length < 0) return new FramingError('missing-content-length', 'Content-Length is required on a stream transport (RFC 3261 §18.3)');
  return length;
}

/** If the line at `start` is a Content-Length field, the offset just past its colon, else -1. */
function contentLengthValueStart(header: Buffer, start: number, lineEnd: number): number {
  let i = start;
  if ((header[i] | 0x20) === COMPACT_L) {
    i++;
  } else {
    for (let k = 0; k < CONTENT_LENGTH.length; k++, i++) {
      const byte = header[i];
      const wanted = CONTENT_LENGTH[k];
      if (wanted === HYPHEN ? byte !== HYPHEN : (byte | 0x20) !== wanted) return -1;
    }
  }
  while (i < lineEnd && (header[i] === SP || header[i] === HTAB)) i++;
  return header[i] === COLON ? i + 1 : -1;
}

/** Parses `LWS 1*DIGIT LWS` in [from, to); -1 if it is anything else. Huge values saturate. */
function parseLength(header: Buffer, from: number, to: number): number {
  let i = from;
  while (i < to && isWhitespace(header[i])) i++;
  let value = 0;
  let digits = 0;
  for (; i < to; i++) {
    const byte = header[i];
    if (byte < DIGIT_0 || byte > DIGIT_9) break;
    if (++digits <= MAX_LENGTH_DIGITS) value = value * 10 + (byte - DIGIT_0);
    else value = Number.MAX_SAFE_INTEGER;
  }
  if (digits === 0) return -1;
  while (i < to && isWhitespace(header[i])) i++;
  return i === to ? value : -1;
}

function isWhitespace(byte: number): boolean {
  return byte === SP || byte === HTAB || byte === CR || byte === LF;
}
