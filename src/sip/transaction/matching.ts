/**
 * Transaction matching keys (RFC 3261 §17.1.3, §17.2.3, §9.2). Every key is a plain string so the
 * transaction tables are `Map`s with O(1) lookup per message.
 */
import type { SipRequest, SipResponse } from '../message/message.js';
import { lowerAscii } from '../message/chars.js';
import { sipUriEquals } from '../message/uri.js';
import type { Via } from '../message/via.js';

/** Separates key fields; no branch, host, method or Call-ID can contain a space. */
const SEP = ' ';

/** V8 makes views (sliced and cons strings) of 13 characters and more; shorter ones are copies. */
const SHORTEST_VIEW = 13;

/**
 * `s` as a plain string of its own, for keys kept as long as a transaction: a key built from a
 * message's branch is a V8 slice of (and a concatenation over) that message's whole text, which
 * a server transaction waiting out timer J would otherwise keep alive for 32 s. Text from the
 * parser is latin1 and is copied through a latin1 buffer; anything wider by slicing a
 * concatenation (a string of its own too, but a 32-byte view over its copy). The storage layer,
 * which may not import this one, has the same function for the bindings it keeps
 * (src/storage/kept-strings.ts).
 */
export function ownString(s: string): string {
  if (s.length < SHORTEST_VIEW) return s;
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0xff) return (' ' + s).slice(1);
  return Buffer.from(s, 'latin1').toString('latin1');
}

/** Key of a client transaction: the branch of its top Via and its method (§17.1.3). */
export function clientKey(branch: string, method: string): string {
  return branch + SEP + method;
}

/**
 * The client transaction key a response matches (§17.1.3): the branch of its top Via and the
 * method of its CSeq. A CANCEL's responses thus match the CANCEL, not the INVITE it shares the
 * branch with. Undefined when the top Via has no branch.
 */
export function responseKey(response: SipResponse): string | undefined {
  const branch = response.topVia?.branch;
  return branch === undefined ? undefined : clientKey(branch, response.cseq.method);
}

/** The sent-by of a Via (`host:port`, host case-folded) as §17.2.3 compares it. */
function sentBy(via: Via): string {
  return via.port === null ? lowerAscii(via.host) : `${lowerAscii(via.host)}:${via.port}`;
}

/**
 * Key of a server transaction for a request whose top Via carries an RFC 3261 branch (§17.2.3):
 * branch, sent-by and method, where an ACK counts as the INVITE it acknowledges. `method`
 * overrides the request's own (a CANCEL looking for its INVITE, §9.2). Undefined when the branch
 * lacks the magic cookie: then {@link legacyKey} applies.
 */
export function serverKey(request: SipRequest, method: string = request.method): string | undefined {
  const via = request.topVia;
  if (via === undefined || !via.isRfc3261Branch) return undefined;
  const m = method === 'ACK' ? 'INVITE' : method;
  return via.branch! + SEP + sentBy(via) + SEP + m;
}

/** The top Via as RFC 2543 matching compares it: transport, sent-by and branch, not received/rport. */
function viaIdentity(via: Via): string {
  return `${via.transport.toUpperCase()}/${sentBy(via)};${via.branch ?? ''}`;
}

/**
 * Bucket key for RFC 2543 matching (§17.2.3, last paragraphs): Call-ID, CSeq number, From tag and
 * top Via, the fields every request of the transaction (INVITE, its ACK and its CANCEL) shares.
 * Candidates in a bucket are then checked with {@link legacyMatches}.
 */
export function legacyKey(request: SipRequest): string {
  return `${request.callId}${SEP}${request.cseq.seq}${SEP}${request.from.tag ?? ''}${SEP}${viaIdentity(request.topVia!)}`;
}

/** Request-URI equality: §19.1.4 for SIP URIs, exact text for others. */
function sameRequestUri(a: SipRequest, b: SipRequest): boolean {
  if (a.uriString === b.uriString) return true;
  const ua = a.uri;
  const ub = b.uri;
  return ua.kind === 'sip' && ub.kind === 'sip' && sipUriEquals(ua, ub);
}

/**
 * RFC 2543 matching of `request` against `original`, the request that created a server
 * transaction in the same {@link legacyKey} bucket (§17.2.3):
 * - an ACK matches an INVITE when the Request-URI matches and its To tag equals the To tag of the
 *   response the transaction sent (`responseToTag`);
 * - any other request matches when its method, Request-URI and To tag equal the original's.
 */
export function legacyMatches(original: SipRequest, request: SipRequest, responseToTag: string | undefined): boolean {
  if (!sameRequestUri(original, request)) return false;
  if (request.method === 'ACK') return original.method === 'INVITE' && request.to.tag === responseToTag;
  return request.method === original.method && request.to.tag === original.to.tag;
}

/**
 * RFC 2543 matching of a CANCEL to the INVITE it cancels (§9.2): Request-URI, To tag, From tag,
 * Call-ID, CSeq number and top Via equal (the last four through {@link legacyKey}).
 */
export function legacyCancelMatches(invite: SipRequest, cancel: SipRequest): boolean {
  return invite.method === 'INVITE' && sameRequestUri(invite, cancel) && cancel.to.tag === invite.to.tag;
}
