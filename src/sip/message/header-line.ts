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
  /** Canonical lower-case long name (`v` and `Via` both become `via`). */
  readonly name: string;
  private readonly src: string;
  private readonly start: number;
  private readonly end: number;
  /**
   * Where the value starts and ends in `src`, LWS trimmed (folding included). Kept from the
   * split rather than found again on each read: the parser reads the core headers' bounds
   * several times, and a getter that only loads a field is always inlined.
   */
  private readonly from: number;
  private readonly to: number;
  /** False when the value must be read from {@link value} rather than from `src` (folded or made lines). */
  private inPlace: boolean;
  private decoded: string | undefined;

  /**
   * @param name Canonical lower-case long name.
   * @param src The line's text, or (with `start` and `end`) the text that holds it.
   * @param valueStart Index just past the colon, counted from `start`.
   * @param folded True when the line holds folding (CRLF followed by SP or HT, §7.3.1).
   * @param valueFrom Where the value starts in `src` past its LWS, when the caller knows it.
   * @param valueTo Where the value ends in `src` before its trailing LWS, when the caller knows it.
   */
  constructor(
    name: string,
    src: string,
    valueStart: number,
    folded: boolean,
    start = 0,
    end = src.length,
    valueFrom = skipWs(src, start + valueStart, end),
    valueTo = trimEnd(src, valueFrom, end),
  ) {
    this.name = name;
    this.src = src;
    this.start = start;
    this.end = end;
    this.from = valueFrom;
    this.to = valueTo;
    this.inPlace = !folded;
    this.decoded = undefined;
  }

  /** The whole line without its final CRLF, folding included. */
  get raw(): string {
    return this.start === 0 && this.end === this.src.length ? this.src : this.src.slice(this.start, this.end);
  }

  /** The value with folding replaced by single spaces and LWS trimmed at both ends. */
  get value(): string {
    if (this.decoded === undefined) {
      // Only a parsed line gets here (a made one has its value set): in place unless folded.
      const v = this.src.slice(this.from, this.to);
      this.decoded = this.inPlace ? v : unfold(v);
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
    return this.inPlace ? this.from : 0;
  }

  /** @internal Where the value ends in {@link valueText}. */
  get valueTo(): number {
    return this.inPlace ? this.to : this.value.length;
  }

  /** A new line in the conventional spelling: `Name: value`. */
  static make(name: string, value: string): HeaderLine {
    const pretty = prettyName(name);
    const text = `${pretty}: ${value}`;
    // The value is read from `value` itself (the line is not read in place), so its bounds are
    // not looked for in the new text (which would flatten it).
    const line = new HeaderLine(name, text, pretty.length + 1, false, 0, text.length, 0, value.length);
    line.decoded = value;
    line.inPlace = false;
    return line;
  }
}
