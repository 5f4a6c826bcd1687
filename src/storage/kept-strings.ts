/**
 * Strings a process keeps for as long as a registration lives (bindings, what an edge learnt of a
 * flow), stored at their own size.
 *
 * What is kept comes from a parsed message, and V8 represents a substring as a view of the whole
 * text it was cut from (a "sliced" string, for 13 characters or more) and a concatenation as a
 * pair of pointers to its parts: a stored Call-ID would keep its entire REGISTER alive. A copy
 * made by slicing a concatenation (`(' ' + s).slice(1)`) frees the message but is itself a view
 * of a new string, 32 bytes more per value. {@link ownString} makes a plain copy instead, and
 * {@link StringPool} keeps a single copy of the values many records share (the Path of an edge,
 * the User-Agent of a phone model, a NAT's address), so a binding costs its unique values only.
 * The SIP stack has the same {@link ownString} for its transaction keys
 * (src/sip/transaction/matching.ts): the layers may not import each other.
 */

/** V8 makes views (sliced and cons strings) of 13 characters and more; shorter ones are copies. */
const SHORTEST_VIEW = 13;

/**
 * `s` as a string of its own, holding no other string alive. Text from SIP messages is latin1
 * (the parser decodes bytes one to one): copied through a latin1 buffer into a plain string.
 * Anything wider is copied by slicing a concatenation, which is still a string of its own.
 */
export function ownString(s: string): string {
  if (s.length < SHORTEST_VIEW) return s;
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0xff) return (' ' + s).slice(1);
  return Buffer.from(s, 'latin1').toString('latin1');
}

/**
 * One copy of each value that many records share. Bounded: once `max` distinct values are held,
 * the pool starts over (records keep the copies they have), so a flood of distinct values costs
 * at most `max` strings here.
 */
export class StringPool {
  private readonly strings = new Map<string, string>();
  private readonly lists = new Map<string, readonly string[]>();

  constructor(private readonly max = 4096) {}

  /** The pool's copy of `s`. */
  string(s: string): string {
    const hit = this.strings.get(s);
    if (hit !== undefined) return hit;
    const own = ownString(s);
    if (this.strings.size >= this.max) this.strings.clear();
    this.strings.set(own, own);
    return own;
  }

  /**
   * The pool's frozen copy of the list `values`, whose values hold no line break (so joined by
   * one they name the list): a Path or a Service-Route, the same for every client of an edge.
   */
  list(values: readonly string[]): readonly string[] {
    if (values.length === 0) return EMPTY;
    const key = values.length === 1 ? values[0]! : values.join('\n');
    const hit = this.lists.get(key);
    if (hit !== undefined) return hit;
    const own = Object.freeze(values.map((v) => this.string(v)));
    if (this.lists.size >= this.max) this.lists.clear();
    this.lists.set(values.length === 1 ? own[0]! : ownString(key), own);
    return own;
  }
}

const EMPTY: readonly string[] = Object.freeze([]);
