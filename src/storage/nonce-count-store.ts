/**
 * Digest replay protection by nonce-count (RFC 7616 §3.4 and §5.5, RFC 3261 §22.4): a client
 * increments nc on every request that reuses a nonce; the server refuses an nc it has already
 * seen for that nonce.
 *
 * This is a structural copy of `NonceCountStore` in src/sip/auth/nonce-count.ts (the storage
 * layer imports nothing from the SIP stack): any adapter here can be handed to the SIP Digest
 * verifier as its `nonceCounts`, since `Promise<boolean>` fits `boolean | Promise<boolean>`.
 */

/**
 * Highest nonce-count seen per nonce. Shared by all nodes (issue 7) it lets every node refuse
 * a replay that another node already accepted.
 *
 * This is the one contract whose adapters read a clock: the signature carries no `now`, so
 * each adapter takes an injected `{ now(): number }` (ms since the Unix epoch) to age its
 * records out.
 */
export interface NonceCountStore {
  /**
   * Resolves true, and records `nc`, when `nc` is strictly greater than the highest count seen
   * for `nonce` (0 for a nonce never seen, so the first accepted nc is at least 1). Resolves
   * false otherwise, leaving the record unchanged; also false for an nc that is not a safe
   * integer of at least 1 (RFC 7616 §3.4: nc is 8 hex digits counting from 00000001).
   * Atomic per nonce, across every node sharing the store.
   *
   * @param ttlMs how much longer the nonce itself stays valid; the record may be dropped after
   *   that, since the nonce is then refused as stale anyway.
   */
  checkAndAdvance(nonce: string, nc: number, ttlMs?: number): Promise<boolean>;
}

/** The time source nonce-count adapters take; wall-clock milliseconds. */
export interface StorageClock {
  now(): number;
}

/** Record lifetime when the caller gives no ttl: 300 000 ms, the default nonce lifetime. */
export const DEFAULT_NONCE_TTL_MS = 300_000;

/** True when `nc` can be a nonce-count at all. */
export function isValidNonceCount(nc: number): boolean {
  return Number.isSafeInteger(nc) && nc >= 1;
}
