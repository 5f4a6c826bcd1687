import { SipParseError } from './errors.js';
import { TOKEN, endOfQuoted, isWs, skipWs, trimEnd } from './chars.js';

/** One `;name[=value]` parameter, in the order and case it was received. */
export interface Param {
  name: string;
  /** null for a flag parameter (`;lr`). Quoted values keep their quotes. */
  value: string | null;
}

/** Ordered parameter list with case-insensitive lookup (RFC 3261 §7.3.1, §19.1.4). */
export class Params {
  constructor(readonly list: Param[] = []) {}

  private index(name: string): number {
    const n = name.toLowerCase();
    for (let i = 0; i < this.list.length; i++) {
      const p = this.list[i]!;
      if (p.name === name || p.name.toLowerCase() === n) return i;
    }
    return -1;
  }

  has(name: string): boolean {
    return this.index(name) >= 0;
  }

  /** The value (null for a flag), or undefined when absent. */
  get(name: string): string | null | undefined {
    const i = this.index(name);
    return i < 0 ? undefined : this.list[i]!.value;
  }

  set(name: string, value: string | null = null): this {
    const i = this.index(name);
    if (i >= 0) this.list[i] = { name: this.list[i]!.name, value };
    else this.list.push({ name, value });
    return this;
  }

  delete(name: string): boolean {
    const i = this.index(name);
    if (i < 0) return false;
    this.list.splice(i, 1);
    return true;
  }

  get size(): number {
    return this.list.length;
  }

  clone(): Params {
    return new Params(this.list.map((p) => ({ name: p.name, value: p.value })));
  }

  toString(): string {
    let out = '';
    for (const p of this.list) out += p.value === null ? `;${p.name}` : `;${p.name}=${p.value}`;
    return out;
  }
}

/**
 * Parses header parameters `*( SEMI generic-param )` from `s[start..end)`, where `s[start]` is `;`
 * or whitespace before it. LWS is allowed around `;` and `=` (RFC 3261 §25.1 SEMI, EQUAL); values
 * are tokens, hosts or quoted strings.
 */
export function parseHeaderParams(s: string, start: number, end: number, header: string): Params {
  const list: Param[] = [];
  let i = skipWs(s, start, end);
  while (i < end) {
    if (s.charCodeAt(i) !== 0x3b) throw new SipParseError(`unexpected character in ${header} parameters`, { header });
    i = skipWs(s, i + 1, end);
    const nameStart = i;
    while (i < end && TOKEN[s.charCodeAt(i)] === 1) i++;
    if (i === nameStart) throw new SipParseError(`empty parameter in ${header}`, { header });
    const name = s.slice(nameStart, i);
    i = skipWs(s, i, end);
    let value: string | null = null;
    if (i < end && s.charCodeAt(i) === 0x3d) {
      i = skipWs(s, i + 1, end);
      if (i < end && s.charCodeAt(i) === 0x22) {
        const q = endOfQuoted(s, i, end);
        if (q < 0) throw new SipParseError(`unterminated quoted parameter value in ${header}`, { header });
        value = s.slice(i, q);
        i = q;
      } else {
        const vStart = i;
        while (i < end && s.charCodeAt(i) !== 0x3b && !isWs(s.charCodeAt(i))) {
          const c = s.charCodeAt(i);
          if (c === 0x2c || c === 0x22 || c === 0x3c || c === 0x3e) break;
          i++;
        }
        if (i === vStart) throw new SipParseError(`empty value for parameter ${name} in ${header}`, { header });
        value = s.slice(vStart, i);
      }
      i = skipWs(s, i, end);
    }
    list.push({ name, value });
  }
  return new Params(list);
}

/** Parses URI parameters `;a=b;c` from `s[start..end)` (no whitespace allowed, RFC 3261 §19.1.1). */
export function parseUriParams(s: string, start: number, end: number): Params {
  const list: Param[] = [];
  let i = start;
  while (i < end) {
    // s[i] is ';'
    let j = s.indexOf(';', i + 1);
    if (j < 0 || j > end) j = end;
    const eq = s.indexOf('=', i + 1);
    if (eq > 0 && eq < j) list.push({ name: s.slice(i + 1, eq), value: s.slice(eq + 1, j) });
    else list.push({ name: s.slice(i + 1, j), value: null });
    if (j === i + 1 || (eq === i + 1 && eq < j)) throw new SipParseError('empty URI parameter');
    i = j;
  }
  return new Params(list);
}

/** Trims LWS from both ends of `s[start..end)` and returns the slice. */
export function trimmed(s: string, start = 0, end = s.length): string {
  const a = skipWs(s, start, end);
  return s.slice(a, trimEnd(s, a, end));
}
