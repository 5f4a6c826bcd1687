import { SipParseError } from './errors.js';
import { TOKEN, bytesOf, endOfQuoted, isWs, skipWs, skipWsBytes, trimEnd } from './chars.js';

/** One `;name[=value]` parameter, in the order and case it was received. */
export interface Param {
  name: string;
  /** null for a flag parameter (`;lr`). Quoted values keep their quotes. */
  value: string | null;
}

/** Ordered parameter list with case-insensitive lookup (RFC 3261 §7.3.1, §19.1.4). */
export class Params {
  /** The list, created on first need (most URIs carry no parameter). */
  private items: Param[] | null;

  constructor(list?: Param[]) {
    this.items = list ?? null;
  }

  /** The parameters in order; change them only through the methods of this class. */
  get list(): Param[] {
    if (this.items === null) this.items = [];
    return this.items;
  }

  private index(name: string): number {
    const list = this.items;
    if (list === null) return -1;
    for (let i = 0; i < list.length; i++) {
      const n = list[i]!.name;
      if (n === name || sameIgnoringCase(n, name)) return i;
    }
    return -1;
  }

  has(name: string): boolean {
    return this.index(name) >= 0;
  }

  /** The value (null for a flag), or undefined when absent. */
  get(name: string): string | null | undefined {
    const i = this.index(name);
    return i < 0 ? undefined : this.items![i]!.value;
  }

  set(name: string, value: string | null = null): this {
    const i = this.index(name);
    if (i >= 0) this.items![i] = { name: this.items![i]!.name, value };
    else this.list.push({ name, value });
    return this;
  }

  delete(name: string): boolean {
    const i = this.index(name);
    if (i < 0) return false;
    this.items!.splice(i, 1);
    return true;
  }

  get size(): number {
    return this.items === null ? 0 : this.items.length;
  }

  clone(): Params {
    const list = this.items;
    if (list === null) return new Params();
    const copy: Param[] = [];
    for (let i = 0; i < list.length; i++) copy.push({ name: list[i]!.name, value: list[i]!.value });
    return new Params(copy);
  }

  toString(): string {
    const list = this.items;
    if (list === null) return '';
    let out = '';
    for (let i = 0; i < list.length; i++) {
      const p = list[i]!;
      out += p.value === null ? `;${p.name}` : `;${p.name}=${p.value}`;
    }
    return out;
  }
}

/** `a.toLowerCase() === b.toLowerCase()`, without allocating when both are ASCII. */
function sameIgnoringCase(a: string, b: string): boolean {
  if (a.length !== b.length) return !isAscii(a, b) && a.toLowerCase() === b.toLowerCase();
  let same = true;
  for (let i = 0; i < a.length; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if ((x | y) > 0x7f) return a.toLowerCase() === b.toLowerCase();
    if (x !== y && (x | 0x20) !== (y | 0x20)) same = false;
    else if (x !== y && !isLetter(x | 0x20)) same = false;
  }
  return same;
}

function isLetter(c: number): boolean {
  return c >= 0x61 && c <= 0x7a;
}

function isAscii(a: string, b: string): boolean {
  for (let i = 0; i < a.length; i++) if (a.charCodeAt(i) > 0x7f) return false;
  for (let i = 0; i < b.length; i++) if (b.charCodeAt(i) > 0x7f) return false;
  return true;
}

/** Chars that end an unquoted parameter value: `;`, LWS, `,`, `"`, `<`, `>`. */
const VALUE_END = new Uint8Array(256);
for (const c of [0x3b, 0x20, 0x09, 0x0d, 0x0a, 0x2c, 0x22, 0x3c, 0x3e]) VALUE_END[c] = 1;

/**
 * Header parameter names so common that they are given as these constants rather than cut from
 * the text, by length (no two share one): parsing allocates less, and looking one up by name then
 * finds the very same string.
 */
const COMMON_PARAMS: Array<string | undefined> = [];
for (const n of ['q', 'lr', 'tag', 'rport', 'branch', 'expires', 'received']) COMMON_PARAMS[n.length] = n;

/** The parameter name `s[start..end)`, as a constant when it is a common one spelled in lower case. */
function paramName(s: string, b: Uint8Array, start: number, end: number): string {
  const common = COMMON_PARAMS[end - start];
  if (common !== undefined) {
    let k = 0;
    while (k < common.length && b[start + k] === common.charCodeAt(k)) k++;
    if (k === common.length) return common;
  }
  return s.slice(start, end);
}

/**
 * Parses header parameters `*( SEMI generic-param )` from `s[start..end)`, where `s[start]` is `;`
 * or whitespace before it. LWS is allowed around `;` and `=` (RFC 3261 §25.1 SEMI, EQUAL); values
 * are tokens, hosts or quoted strings.
 */
export function parseHeaderParams(s: string, start: number, end: number, header: string): Params {
  // The list is made on the first parameter, holding it: an empty `[]` would get room for 16 on
  // its first push, and most values carry one or two parameters. LWS is rare, so each place that
  // may hold some is looked at before skipping it.
  let list: Param[] | null = null;
  const b = bytesOf(s);
  // The tables in locals: a module binding is read again (and checked) on every use.
  const token = TOKEN;
  const valueEnd = VALUE_END;
  let i = start;
  if (i < end && isWs(b[i]!)) i = skipWsBytes(b, i, end);
  while (i < end) {
    if (b[i] !== 0x3b) throw new SipParseError(`unexpected character in ${header} parameters`, { header });
    i++;
    if (i < end && isWs(b[i]!)) i = skipWsBytes(b, i, end);
    const nameStart = i;
    while (i < end && token[b[i]!] === 1) i++;
    if (i === nameStart) throw new SipParseError(`empty parameter in ${header}`, { header });
    const name = paramName(s, b, nameStart, i);
    if (i < end && isWs(b[i]!)) i = skipWsBytes(b, i, end);
    let value: string | null = null;
    if (i < end && b[i] === 0x3d) {
      i++;
      if (i < end && isWs(b[i]!)) i = skipWsBytes(b, i, end);
      if (i < end && b[i] === 0x22) {
        const q = endOfQuoted(s, i, end);
        if (q < 0) throw new SipParseError(`unterminated quoted parameter value in ${header}`, { header });
        value = s.slice(i, q);
        i = q;
      } else {
        const vStart = i;
        while (i < end && valueEnd[b[i]!] !== 1) i++;
        if (i === vStart) throw new SipParseError(`empty value for parameter ${name} in ${header}`, { header });
        value = s.slice(vStart, i);
      }
      if (i < end && isWs(b[i]!)) i = skipWsBytes(b, i, end);
    }
    const p: Param = { name, value };
    if (list === null) list = [p];
    else list.push(p);
  }
  return new Params(list ?? []);
}

/** Parses URI parameters `;a=b;c` from `s[start..end)` (no whitespace allowed, RFC 3261 §19.1.1). */
export function parseUriParams(s: string, start: number, end: number): Params {
  // Made on the first parameter, holding it (see parseHeaderParams).
  let list: Param[] | null = null;
  let i = start;
  while (i < end) {
    // s[i] is ';'
    let j = i + 1;
    let eq = -1;
    for (; j < end; j++) {
      const c = s.charCodeAt(j);
      if (c === 0x3b) break;
      if (c === 0x3d && eq < 0) eq = j;
    }
    if (j === i + 1 || eq === i + 1) throw new SipParseError('empty URI parameter');
    const p: Param = eq > 0 ? { name: s.slice(i + 1, eq), value: s.slice(eq + 1, j) } : { name: s.slice(i + 1, j), value: null };
    if (list === null) list = [p];
    else list.push(p);
    i = j;
  }
  return new Params(list ?? []);
}

/** Trims LWS from both ends of `s[start..end)` and returns the slice. */
export function trimmed(s: string, start = 0, end = s.length): string {
  const a = skipWs(s, start, end);
  return s.slice(a, trimEnd(s, a, end));
}
