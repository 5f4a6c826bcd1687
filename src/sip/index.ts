/**
 * Tidewater's SIP stack (`tidewater/sip`): RFC 3261 message model and parser, transports,
 * transactions, the stateful proxy core with its service contract, Digest/AKA helpers and the
 * RFC 3263 resolver. It knows nothing of IMS or storage.
 */
export * from './message/index.js';
export { parseMessage, type ParseOptions } from './parser/parse.js';
export { StreamFramer, FramingError, readContentLength, DEFAULT_MAX_MESSAGE_SIZE } from './parser/framer.js';
export * from './transport/index.js';
export * from './transaction/index.js';
export * from './proxy/index.js';
export * from './auth/index.js';
export * from './resolver/index.js';
export { systemClock, type Clock, type TimerHandle } from './clock.js';
