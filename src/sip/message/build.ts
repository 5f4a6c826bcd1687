import { randomBytes } from 'node:crypto';
import { HeaderLine } from './header-line.js';
import { canonicalName } from './headers.js';
import { SipRequest, SipResponse } from './message.js';
import { BRANCH_COOKIE } from './via.js';

/** Standard reason phrases (RFC 3261 §21 and later RFCs). */
export const REASON_PHRASES: Readonly<Record<number, string>> = {
  100: 'Trying', 180: 'Ringing', 181: 'Call Is Being Forwarded', 182: 'Queued', 183: 'Session Progress',
  200: 'OK', 202: 'Accepted', 204: 'No Notification',
  300: 'Multiple Choices', 301: 'Moved Permanently', 302: 'Moved Temporarily', 305: 'Use Proxy', 380: 'Alternative Service',
  400: 'Bad Request', 401: 'Unauthorized', 402: 'Payment Required', 403: 'Forbidden', 404: 'Not Found',
  405: 'Method Not Allowed', 406: 'Not Acceptable', 407: 'Proxy Authentication Required', 408: 'Request Timeout',
  410: 'Gone', 412: 'Conditional Request Failed', 413: 'Request Entity Too Large', 414: 'Request-URI Too Long',
  415: 'Unsupported Media Type', 416: 'Unsupported URI Scheme', 420: 'Bad Extension', 421: 'Extension Required',
  423: 'Interval Too Brief', 429: 'Provide Referrer Identity', 430: 'Flow Failed', 439: 'First Hop Lacks Outbound Support',
  480: 'Temporarily Unavailable', 481: 'Call/Transaction Does Not Exist', 482: 'Loop Detected', 483: 'Too Many Hops',
  484: 'Address Incomplete', 485: 'Ambiguous', 486: 'Busy Here', 487: 'Request Terminated', 488: 'Not Acceptable Here',
  489: 'Bad Event', 491: 'Request Pending', 493: 'Undecipherable', 494: 'Security Agreement Required',
  500: 'Server Internal Error', 501: 'Not Implemented', 502: 'Bad Gateway', 503: 'Service Unavailable',
  504: 'Server Time-out', 505: 'Version Not Supported', 513: 'Message Too Large', 580: 'Precondition Failure',
  600: 'Busy Everywhere', 603: 'Decline', 604: 'Does Not Exist Anywhere', 606: 'Not Acceptable',
};

/** The copied headers of a response to a request (RFC 3261 §8.2.6.2). */
const COPIED = new Set(['via', 'from', 'to', 'call-id', 'cseq']);

/**
 * Builds a response to `request`: Via (all values, in order), From, To, Call-ID and CSeq copied
 * byte for byte (§8.2.6.2), a To tag added when `toTag` is given and the To has none, and
 * Content-Length 0. Works on a request that failed validation too (copies what is there).
 */
export function makeResponse(request: SipRequest, status: number, reason?: string, toTag?: string): SipResponse {
  const lines: HeaderLine[] = [];
  for (const h of request.headers) {
    if (!COPIED.has(h.name)) continue;
    if (h.name === 'to' && toTag !== undefined && status > 100 && !hasTag(h.value)) {
      lines.push(HeaderLine.make('to', `${h.value};tag=${toTag}`));
    } else lines.push(h);
  }
  lines.push(HeaderLine.make('content-length', '0'));
  return new SipResponse(status, reason ?? REASON_PHRASES[status] ?? 'Unknown', lines, EMPTY);
}

const EMPTY = Buffer.alloc(0);
const TAG_PARAM = /;\s*tag\s*=/i;

function hasTag(to: string): boolean {
  return TAG_PARAM.test(to);
}

/** A new RFC 3261 branch: the magic cookie and 96 random bits (§8.1.1.7). */
export function newBranch(): string {
  return BRANCH_COOKIE + randomToken(12);
}

/** A random tag for From/To (§19.3): 64 random bits. */
export function newTag(): string {
  return randomToken(8);
}

let pool = Buffer.alloc(0);
let poolPos = 0;

/** URL-safe random token of `bytes` random bytes, drawn from a refilled pool (cheap per call). */
export function randomToken(bytes: number): string {
  if (poolPos + bytes > pool.length) {
    pool = randomBytes(4096);
    poolPos = 0;
  }
  const s = pool.toString('base64url', poolPos, poolPos + bytes);
  poolPos += bytes;
  return s;
}

/** Builds a request from parts; header values are written as given. */
export function makeRequest(
  method: string,
  uri: string,
  headers: Array<[string, string]>,
  body: Buffer | string = EMPTY,
): SipRequest {
  const bodyBuf = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  const lines = headers.map(([n, v]) => HeaderLine.make(canonicalName(n), v));
  if (!headers.some(([n]) => n.toLowerCase() === 'content-length')) {
    lines.push(HeaderLine.make('content-length', String(bodyBuf.length)));
  }
  return new SipRequest(method, uri, lines, bodyBuf);
}
