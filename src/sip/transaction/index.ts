export * from './types.js';
export { SipStack, resolveTimers, type SipStackOptions, type TransactionCounts } from './stack.js';
export { responseRoute, type ResponseRoute } from './response-route.js';
export { stampVia, isStreamFramed } from './inbound.js';
export { ackForNon2xx } from './ack.js';
