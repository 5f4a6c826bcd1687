/**
 * The in-process adapters, and the memory cache the all-in-one puts in front of its SQLite
 * registration store. Only the CLI wiring and tests import this folder.
 */
export { MemoryAccountStore } from './account-store.js';
export { CachedRegistrationStore, type CachedRegistrationStoreOptions } from './cached-registration-store.js';
export { MemoryDocumentStore } from './document-store.js';
export { MemoryNonceCountStore, type MemoryNonceCountStoreOptions } from './nonce-count-store.js';
export { MemoryRegistrationStore } from './registration-store.js';
export { MemorySubscriberStore } from './subscriber-store.js';
export { MemorySubscriptionStore } from './subscription-store.js';
