import { skipWs, trimEnd } from './chars.js';
import { prettyName, unfold } from './headers.js';

/**
 * One header line as received (or written): the raw text is kept so an unmodified line is sent
 * byte for byte as it came; the value is unfolded and trimmed only when read.
 *
 * A parsed line does not copy its text: it points into the header section it came from
 * (`src[start..end)`), so splitting a message into lines allocates no strings.
 */
export class HeaderLine {
  private decoded: string | undefined = undefined;
  /** False when the value must be read from {@link value} rather than from `src` (folded or made lines). */
  private inPlace: boolean;

  /**
   * @param name Canonical lower-case long name.
   * @param src The line's text, or (with `start` and `end`) the text that holds it.
   * @param valueStart Index just past the colon, counted from `start`.
   * @param folded True when the line holds folding (CRLF followed by SP or HT, §7.3.1).
   */
  constructor(
    /** Canonical lower-case long name (`v` and `Via` both become `via`). */
    readonly name: string,
    private readonly src: string,
    private readonly valueStart: number,
    private readonly folded: boolean,
    private readonly start = 0,
    private readonly end = src.length,
  ) {
    this.inPlace = !folded;
  }

  /** The whole line without its final CRLF, folding included. */
  get raw(): string {
    return this.start === 0 && this.end === this.src.length ? this.src : this.src.slice(this.start, this.end);
  }

  /** The value with folding replaced by single spaces and LWS trimmed at both ends. */
  get value(): string {
    if (this.decoded === undefined) {
      const s = this.src;
      const a = skipWs(s, this.start + this.valueStart, this.end);
      const v = s.slice(a, trimEnd(s, a, this.end));
      this.decoded = this.folded ? unfold(v) : v;
    }
    return this.decoded;
  }

  /**
   * @internal The text that holds the value, which is `valueText[valueFrom..valueTo)`: the line's
   * source for a parsed line without folding, else {@link value} itself. Lets the
   * decoders scan the value where it lies, without copying it.
   */
  get valueText(): string {
    return this.inPlace ? this.src : this.value;
  }

  /** @internal Where the value starts in {@link valueText}. */
  get valueFrom(): number {
    return this.inPlace ? skipWs(this.src, this.start + this.valueStart, this.end) : 0;
  }

  /** @internal Where the value ends in {@link valueText}. */
  get valueTo(): number {
    if (!this.inPlace) return this.value.length;
    return trimEnd(this.src, skipWs(this.src, this.start + this.valueStart, this.end), this.end);
  }

  /** A new line in the conventional spelling: `Name: value`. */
  static make(name: string, value: string): HeaderLine {
    const pretty = prettyName(name);
    const line = new HeaderLine(name, `${pretty}: ${value}`, pretty.length + 1, false);
    line.decoded = value;
    line.inPlace = false;
    return line;
  }
}
