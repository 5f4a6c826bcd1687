import type { SipRequest } from './message.js';

/**
 * Why a message could not be accepted, and what a UAS or proxy should answer (RFC 3261 §8.2, §16.3).
 * `status` is the response to send for a request (400 by default, 505 for an unknown SIP version,
 * 501 for an unknown method whose CSeq disagrees, 416 for an unusable URI scheme); a response
 * that fails to parse is dropped.
 */
export class SipParseError extends Error {
  override readonly name = 'SipParseError';
  /** Byte offset into the message where the problem was found, when known. */
  readonly offset: number | undefined;
  /** The header (canonical lower-case name) that was malformed, when the problem is in one. */
  readonly header: string | undefined;
  readonly status: number;

  constructor(message: string, opts: { offset?: number; header?: string; status?: number } = {}) {
    super(opts.offset !== undefined ? `${message} (at byte ${opts.offset})` : message);
    this.offset = opts.offset;
    this.header = opts.header;
    this.status = opts.status ?? 400;
  }

  /** A reason phrase for the 4xx/5xx answer: short, printable, safe to echo. */
  /**
   * The request as far as it could be read, when the start line and header lines were sound, so
   * a UAS or proxy can still answer it (its Via, From, To, Call-ID and CSeq are copied as they are).
   */
  get partial(): SipRequest | undefined {
    return this.partialRequest;
  }

  set partial(req: SipRequest | undefined) {
    Object.defineProperty(this, 'partialRequest', { value: req, enumerable: false, writable: true, configurable: true });
  }

  declare private partialRequest: SipRequest | undefined;

  get reasonPhrase(): string {
    const text = this.message.replace(UNPRINTABLE, '?');
    return text.length > 100 ? `${text.slice(0, 97)}...` : text;
  }
}

const UNPRINTABLE = /[^\x20-\x7e]/g;
