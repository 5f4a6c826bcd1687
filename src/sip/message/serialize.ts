import type { SipMessage } from './message.js';

/**
 * Serializes a message. An unmodified parsed message gives back exactly the bytes it was parsed
 * from; otherwise the start line and header lines are written (untouched lines byte for byte),
 * with a Content-Length added when the message had none (required on streams, §18.3, and always
 * correct on datagrams).
 */
export function serializeMessage(msg: SipMessage): Buffer {
  const raw = msg.raw;
  if (raw !== null) return raw;
  const body = msg.body;
  let head = msg.startLine;
  let hasLength = false;
  for (const h of msg.headers) {
    head += '\r\n';
    head += h.raw;
    if (h.name === 'content-length') hasLength = true;
  }
  if (!hasLength) head += `\r\nContent-Length: ${body.length}`;
  head += '\r\n\r\n';
  const out = Buffer.allocUnsafe(head.length + body.length);
  out.write(head, 0, 'latin1');
  if (body.length) body.copy(out, head.length);
  return out;
}
