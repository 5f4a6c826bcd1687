/** The SIP transport layer: listeners, connection flows and sending (RFC 3261 §18, RFC 5626, RFC 7118). */
export { TransportLayer, type BoundListener, type ListenerConfig, type TransportLayerOptions } from './manager.js';
export { TransportError, type TransportErrorCode } from './errors.js';
export type { FlowCloseReason } from './connection.js';
export type { TlsClientOptions, TlsCredentials } from './tls.js';
export { DEFAULT_UDP_BUFFER_SIZE, parseUdpFlowId, udpFlowId } from './udp.js';
export { SIP_SUBPROTOCOL } from './ws.js';
export * from './types.js';
