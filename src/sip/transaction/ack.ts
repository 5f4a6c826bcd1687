import { makeRequest } from '../message/build.js';
import type { SipRequest, SipResponse } from '../message/message.js';
import { splitList } from '../message/headers.js';

/**
 * The ACK an INVITE client transaction sends for a 3xx-6xx final response (RFC 3261 §17.1.1.3):
 * the Request-URI, Call-ID and From of the INVITE, the To of the response (with its tag), the
 * CSeq number of the INVITE with method ACK, one Via equal to the top Via of the INVITE (same
 * branch, so it matches the server transaction, §17.2.3) and the INVITE's Route headers.
 * Max-Forwards is copied from the INVITE (70 when it had none, §8.1.1.6).
 */
export function ackForNon2xx(invite: SipRequest, response: SipResponse): SipRequest {
  const topVia = splitList(invite.get('via') ?? '')[0] ?? '';
  const headers: Array<[string, string]> = [['Via', topVia]];
  for (const h of invite.headers) if (h.name === 'route') headers.push(['Route', h.value]);
  headers.push(
    ['Max-Forwards', invite.get('max-forwards') ?? '70'],
    ['From', invite.get('from') ?? ''],
    ['To', response.get('to') ?? ''],
    ['Call-ID', invite.callId],
    ['CSeq', `${invite.cseq.seq} ACK`],
  );
  return makeRequest('ACK', invite.uriString, headers);
}
