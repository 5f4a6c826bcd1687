import { skipWs, trimEnd } from './chars.js';
import { prettyName, unfold } from './headers.js';

/**
 * One header line as received (or written): the raw text is kept so an unmodified line is sent
 * byte for byte as it came; the value is unfolded and trimmed only when read.
 */
export class HeaderLine {
  private decoded: string | undefined;

  constructor(
    /** Canonical lower-case long name (`v` and `Via` both become `via`). */
    readonly name: string,
    /** The whole line without its final CRLF, folding included. */
    readonly raw: string,
    /** Index in `raw` just past the colon. */
    private readonly valueStart: number,
    private readonly folded: boolean,
  ) {}

  /** The value with folding replaced by single spaces and LWS trimmed at both ends. */
  get value(): string {
    if (this.decoded === undefined) {
      const a = skipWs(this.raw, this.valueStart);
      const v = this.raw.slice(a, trimEnd(this.raw, a, this.raw.length));
      this.decoded = this.folded ? unfold(v) : v;
    }
    return this.decoded;
  }

  /** A new line in the conventional spelling: `Name: value`. */
  static make(name: string, value: string): HeaderLine {
    const pretty = prettyName(name);
    const line = new HeaderLine(name, `${pretty}: ${value}`, pretty.length + 1, false);
    line.decoded = value;
    return line;
  }
}
