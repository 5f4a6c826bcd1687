/**
 * Tidewater's storage contracts: what the IMS functions depend on. Adapters live in
 * ./memory and ./sqlite, ./redis and ./postgres (imported from their own paths, so code that
 * never uses them never loads their drivers); only the CLI picks one.
 */
export * from './common.js';
export type * from './account-store.js';
export { checkEmail, checkPasswordHash, checkRange, PASSWORD_HASH_FORMAT } from './account-store.js';
export * from './errors.js';
export type * from './document-store.js';
export { MAX_DOCUMENT_LENGTH } from './document-store.js';
export type * from './registration-store.js';
export type * from './subscriber-store.js';
export type * from './subscription-store.js';
export { DEFAULT_NONCE_TTL_MS, type NonceCountStore, type StorageClock } from './nonce-count-store.js';
export { updateRegistration, type RegistrationUpdate, type UpdateOutcome } from './registration-update.js';
