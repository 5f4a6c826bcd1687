/**
 * Errors the transport layer reports. Every failure of {@link TransportLayer.send} and
 * {@link TransportLayer.listen} rejects with a {@link TransportError}; nothing is thrown
 * synchronously. For a request, the transaction layer treats any of them as a transport error
 * (RFC 3261 §8.1.3.1, §17.1.4: behave as if a 503 was received).
 */
export type TransportErrorCode =
  /** The transport layer was closed. */
  | 'TW_ERR_TRANSPORT_CLOSED'
  /** `send({ flowId })` names a flow that no longer exists (RFC 5626 §5.3: the flow failed). */
  | 'TW_ERR_TRANSPORT_FLOW_GONE'
  /** No listening socket can send there (no UDP listener of the target's address family). */
  | 'TW_ERR_TRANSPORT_NO_LISTENER'
  /** The target is not usable: not an IP literal, bad port, or malformed flow id. */
  | 'TW_ERR_TRANSPORT_BAD_TARGET'
  /** Opening a connection failed (refused, unreachable, TLS or WebSocket handshake failure). */
  | 'TW_ERR_TRANSPORT_CONNECT'
  /** Opening a connection took longer than the connect timeout. */
  | 'TW_ERR_TRANSPORT_CONNECT_TIMEOUT'
  /** The connection cap was reached; no new connection was opened. */
  | 'TW_ERR_TRANSPORT_CONN_LIMIT'
  /** The connection's write backlog is over its limit; the message was dropped. */
  | 'TW_ERR_TRANSPORT_BACKLOG'
  /** Writing to the socket failed (the connection closed meanwhile, EMSGSIZE, ...). */
  | 'TW_ERR_TRANSPORT_SEND'
  /** A listener could not be opened (EADDRINUSE, EADDRNOTAVAIL, bad configuration). */
  | 'TW_ERR_TRANSPORT_LISTEN';

export class TransportError extends Error {
  override readonly name = 'TransportError';
  /** The operating system's code when the failure came from a socket, e.g. `ECONNREFUSED`. */
  readonly sysCode: string | undefined;

  constructor(
    readonly code: TransportErrorCode,
    message: string,
    cause?: unknown,
  ) {
    const sysCode = systemCode(cause);
    super(sysCode && !message.includes(sysCode) ? `${message}: ${sysCode}` : message, cause === undefined ? undefined : { cause });
    this.sysCode = sysCode;
  }
}

function systemCode(cause: unknown): string | undefined {
  if (cause instanceof TransportError) return cause.sysCode;
  if (cause instanceof Error && typeof (cause as NodeJS.ErrnoException).code === 'string') {
    return (cause as NodeJS.ErrnoException).code;
  }
  return undefined;
}

/** Wraps any failure in a {@link TransportError} of `code`, keeping one that already is. */
export function asTransportError(code: TransportErrorCode, message: string, cause: unknown): TransportError {
  return cause instanceof TransportError ? cause : new TransportError(code, message, cause);
}
