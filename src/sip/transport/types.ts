/**
 * The transport layer's contract (RFC 3261 §18): bytes in, bytes out, and the flow each message
 * came in on, so responses and later requests reuse the client's connection (RFC 5626 flows).
 */
export type TransportProtocol = 'UDP' | 'TCP' | 'TLS' | 'WS' | 'WSS';

export interface Endpoint {
  address: string;
  port: number;
}

/**
 * One flow: a connection for TCP, TLS, WS and WSS, or a (local socket, remote address) pair for
 * UDP. `id` is stable for the flow's life and is what a flow token (RFC 5626 §5.2) encodes.
 */
export interface Flow {
  readonly id: string;
  readonly protocol: TransportProtocol;
  readonly local: Endpoint;
  readonly remote: Endpoint;
}

/** Where to send: an existing flow, or a destination to reach over a protocol (connecting if needed). */
export type SendTarget =
  | { flowId: string }
  | { protocol: TransportProtocol; address: string; port: number; /** WS only */ path?: string; /** TLS/WSS SNI */ servername?: string };

export interface InboundMessage {
  /** One whole SIP message (a datagram, one framed stream message, or one WebSocket message). */
  readonly data: Buffer;
  readonly flow: Flow;
}

export function isReliable(protocol: TransportProtocol): boolean {
  return protocol !== 'UDP';
}

/** Lower-case Via transport token for a protocol (RFC 3261 §18.2.1, RFC 7118 §5). */
export function viaTransport(protocol: TransportProtocol): string {
  return protocol;
}
