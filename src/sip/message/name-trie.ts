import { TOKEN } from './chars.js';
import { COMPACT_FORMS, KNOWN_NAMES, SINGLE_HEADER_BITS } from './headers.js';

/** A well-known header name reached in {@link NAME_TRIE}. */
export interface KnownName {
  /** Canonical lower-case long name. */
  readonly canon: string;
  /** Its bit in {@link SINGLE_HEADER_BITS} when it may appear only once, else 0. */
  readonly single: number;
}

/**
 * Class of each char in a header name: 0 ends the name (not a token char, RFC 3261 §25.1),
 * 1 is a token char that spells no well-known name, 2..27 are the letters (either case), 28 `-`.
 */
export const NAME_CLASS = new Uint8Array(256);
/** Row width of {@link NAME_TRIE}: the 29 char classes, rounded up to a power of two (a shift finds a state). */
const ROW = 32;
for (let c = 0; c < 256; c++) if (TOKEN[c] === 1) NAME_CLASS[c] = 1;
for (let c = 0x61; c <= 0x7a; c++) NAME_CLASS[c] = NAME_CLASS[c - 0x20] = 2 + c - 0x61;
NAME_CLASS[0x2d] = 28;

/** State 0 is "a token that is no well-known name" (it stays there); the scan starts at 1. */
export const NAME_ROOT = 1;

const rows: number[][] = [new Array<number>(ROW).fill(0), new Array<number>(ROW).fill(0)];
const accept: Array<KnownName | undefined> = [undefined, undefined];

function add(lower: string, canon: string): void {
  let st = NAME_ROOT;
  for (let i = 0; i < lower.length; i++) {
    const cls = NAME_CLASS[lower.charCodeAt(i)]!;
    let next = rows[st]![cls]!;
    if (next === 0) {
      next = rows.length;
      rows.push(new Array<number>(ROW).fill(0));
      accept.push(undefined);
      rows[st]![cls] = next;
    }
    st = next;
  }
  accept[st] = { canon, single: SINGLE_HEADER_BITS[canon] ?? 0 };
}

for (const canon of KNOWN_NAMES) add(canon, canon);
for (const [c, canon] of COMPACT_FORMS) add(c, canon);

/**
 * Transitions of a DFA over {@link NAME_CLASS} that recognises the well-known header names in
 * any letter case, each state stored as the offset of its row: `next = NAME_TRIE[row + class]`,
 * starting at {@link NAME_ROOT_ROW}, and the state is `row >> 5`. One table read per char and no
 * second pass to confirm a match; holding offsets rather than state numbers takes the shift off
 * the chain of dependent reads that the scan of a name is.
 */
if (rows.length * ROW > 0xffff) throw new Error('header name trie too large for 16-bit row offsets');
export const NAME_TRIE = Uint16Array.from(rows.flat(), (st) => st * ROW);

/** The row of {@link NAME_ROOT}, where a scan starts. */
export const NAME_ROOT_ROW = NAME_ROOT * ROW;

/** The well-known name a scan ending in a state spells, if any (see {@link NAME_TRIE}). */
export const NAME_AT: ReadonlyArray<KnownName | undefined> = accept;
