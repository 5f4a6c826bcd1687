import { SipParseError } from './errors.js';
import { TOKEN, endOfQuoted, isWs, skipWs, trimEnd, unquote } from './chars.js';
import { Params, parseHeaderParams } from './params.js';
import { parseUriIn, type Uri } from './uri.js';

/**
 * A name-addr or addr-spec with header parameters, as in From, To, Contact, Route,
 * Record-Route, Path, Service-Route and P-Asserted-Identity (RFC 3261 §20, §25.1).
 */
export class NameAddr {
  constructor(
    public uri: Uri,
    /** Display name as received: a quoted string keeps its quotes, tokens keep their spacing. */
    public displayName: string | null = null,
    public params: Params = new Params(),
  ) {}

  /** The display name with quotes and escapes removed. */
  get display(): string | null {
    return this.displayName === null ? null : unquote(this.displayName);
  }

  get tag(): string | undefined {
    return this.params.get('tag') ?? undefined;
  }

  set tag(value: string | undefined) {
    if (value === undefined) this.params.delete('tag');
    else this.params.set('tag', value);
  }

  clone(): NameAddr {
    return new NameAddr(this.uri.clone(), this.displayName, this.params.clone());
  }

  toString(): string {
    const dn = this.displayName !== null ? `${this.displayName} ` : '';
    return `${dn}<${this.uri.toString()}>${this.params.toString()}`;
  }
}

/** Parses one name-addr / addr-spec with parameters; `header` names the field in errors. */
export function parseNameAddr(s: string, header: string): NameAddr {
  return parseNameAddrIn(s, 0, s.length, header);
}

/** Parses the name-addr `s[start..end)` (see {@link parseNameAddr}) without copying it first. */
export function parseNameAddrIn(s: string, start: number, end: number, header: string): NameAddr {
  end = trimEnd(s, start, end);
  let i = skipWs(s, start, end);
  if (i >= end) throw new SipParseError(`empty ${header}`, { header });
  let displayName: string | null = null;
  const c0 = s.charCodeAt(i);
  if (c0 === 0x22) {
    const q = endOfQuoted(s, i, end);
    if (q < 0) throw new SipParseError(`unterminated quoted display name in ${header}`, { header });
    displayName = s.slice(i, q);
    i = skipWs(s, q, end);
    if (i >= end || s.charCodeAt(i) !== 0x3c) throw new SipParseError(`expected <URI> after display name in ${header}`, { header });
  } else if (c0 !== 0x3c) {
    const lt = findDisplayEnd(s, i, end, header);
    if (lt < 0) return parseAddrSpec(s, i, end, header);
    displayName = s.slice(i, trimEnd(s, i, lt));
    i = lt;
  }
  const gt = s.indexOf('>', i + 1);
  if (gt < 0 || gt >= end) throw new SipParseError(`missing > in ${header}`, { header });
  const uri = uriOf(s, i + 1, gt, header);
  const params = gt + 1 < end ? parseHeaderParams(s, gt + 1, end, header) : new Params();
  return new NameAddr(uri, displayName, params);
}

/**
 * Finds the `<` ending an unquoted display name made of LWS-separated tokens; -1 when the value
 * is an addr-spec (no `<` before a `;`, a `,` or the end).
 */
function findDisplayEnd(s: string, i: number, end: number, header: string): number {
  let sawSpaceAfterToken = false;
  let tokens = 0;
  for (let j = i; j < end; j++) {
    const c = s.charCodeAt(j);
    if (c === 0x3c) return j;
    if (isWs(c)) {
      if (tokens > 0) sawSpaceAfterToken = true;
      continue;
    }
    if (c === 0x3a || c === 0x3b || c === 0x3f || c === 0x40) {
      if (!sawSpaceAfterToken) return -1;
      throw new SipParseError(`malformed display name in ${header}`, { header });
    }
    if (c > 255 || TOKEN[c] !== 1) throw new SipParseError(`malformed display name in ${header}`, { header });
    tokens++;
  }
  return -1;
}

function parseAddrSpec(s: string, i: number, end: number, header: string): NameAddr {
  let j = i;
  while (j < end) {
    const c = s.charCodeAt(j);
    if (c === 0x3b || isWs(c)) break;
    if (c === 0x3f || c === 0x2c) {
      throw new SipParseError(`URI with "?" or "," must be enclosed in <> in ${header}`, { header });
    }
    j++;
  }
  const uri = uriOf(s, i, j, header);
  const params = j < end ? parseHeaderParams(s, j, end, header) : new Params();
  return new NameAddr(uri, null, params);
}

function uriOf(s: string, start: number, end: number, header: string): Uri {
  try {
    return parseUriIn(s, start, end);
  } catch (e) {
    if (e instanceof SipParseError) throw new SipParseError(`${header}: ${e.message}`, { header });
    throw e;
  }
}
