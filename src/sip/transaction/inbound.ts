/**
 * The receiving half of the transport layer that sits on top of the raw transports (RFC 3261
 * §18.2.1, RFC 3581 §4): how to parse what arrived, how to stamp the top Via, and what to answer
 * to a request that could not be parsed.
 */
import { makeResponse, newTag } from '../message/build.js';
import type { SipParseError } from '../message/errors.js';
import type { SipRequest, SipResponse } from '../message/message.js';
import type { Endpoint, TransportProtocol } from '../transport/types.js';

/** An IPv4 address as a dual-stack socket reports it (`::ffff:192.0.2.1`). */
const MAPPED_IPV4 = /^::ffff:(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})$/i;

/**
 * Whether a message from this transport is a cut-out piece of a byte stream, so Content-Length
 * is mandatory (§18.3). WebSocket messages are whole (RFC 7118 §5.1) and parse like datagrams.
 */
export function isStreamFramed(protocol: TransportProtocol): boolean {
  return protocol === 'TCP' || protocol === 'TLS';
}

/** The source address as it should appear in `received`: IPv4-mapped IPv6 unwrapped. */
export function sourceAddress(address: string): string {
  const m = MAPPED_IPV4.exec(address);
  return m !== null ? m[1]! : address;
}

/**
 * Stamps the top Via of a received request (§18.2.1, RFC 3581 §4): `received` is set to the
 * source address when the sent-by host differs from it (a domain name always does), and when the
 * client asked for `rport` its value is filled with the source port and `received` is set even if
 * equal to the sent-by host. Returns whether the Via was changed (and rewritten).
 */
export function stampVia(request: SipRequest, source: Endpoint): boolean {
  const via = request.topVia;
  if (via === undefined) return false;
  const address = sourceAddress(source.address);
  let changed = false;
  const rportRequested = via.rport === null;
  if (rportRequested) {
    via.params.set('rport', String(source.port));
    changed = true;
  }
  if ((rportRequested || via.address.toLowerCase() !== address.toLowerCase()) && via.received !== address) {
    via.params.set('received', address);
    changed = true;
  }
  if (changed) request.commitTopVia();
  return changed;
}

/**
 * The stateless answer to a request that failed to parse (§8.2, §16.3, §21.4.1): the error's
 * status (400, or 505, 501, 416 as the parser decided) with its reason phrase, sent to where the
 * top Via says. Undefined when nothing can be answered: a response, an ACK (§17.1.1.3: never
 * answered), or a request without a usable top Via. The Via of `partial` is stamped first so the
 * answer carries `received` and `rport`.
 */
export function answerToMalformed(error: SipParseError, source: Endpoint): { request: SipRequest; response: SipResponse } | undefined {
  const partial = (error as SipParseError & { partial?: SipRequest }).partial;
  if (partial === undefined || partial.method === 'ACK') return undefined;
  try {
    if (partial.topVia === undefined) return undefined;
    stampVia(partial, source);
  } catch {
    return undefined;
  }
  const status = error.status >= 400 && error.status <= 699 ? error.status : 400;
  return { request: partial, response: makeResponse(partial, status, error.reasonPhrase, newTag()) };
}

/**
 * True for a message of nothing but CR and LF (or empty): a keepalive (the CRLF ping of RFC 5626
 * §3.5.1, which many clients also send over UDP), not a SIP message.
 */
export function isKeepalive(data: Buffer): boolean {
  for (let i = 0; i < data.length; i++) {
    const c = data[i];
    if (c !== 0x0d && c !== 0x0a) return false;
  }
  return true;
}
