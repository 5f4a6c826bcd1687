/**
 * {@link NonceCountStore} on Redis: one key per nonce holding the highest nonce-count seen,
 * expiring with the nonce (RFC 7616 §3.4 and §5.5). The check and the advance are one Lua
 * script on that key, so two nodes verifying the same replayed request cannot both accept it.
 *
 * Unlike the other adapters it takes no clock: a record's lifetime is a TTL that Redis ages by
 * its own clock, which every node sharing the store agrees on.
 */
import { DEFAULT_NONCE_TTL_MS, isValidNonceCount, type NonceCountStore } from '../nonce-count-store.js';
import { guard } from './client.js';
import type { RedisKeyspace } from './keys.js';
import { defineScripts, type RedisClient, type ScriptCommands } from './scripts.js';

/** Options of {@link RedisNonceCountStore}. */
export interface RedisNonceCountStoreOptions {
  /** Record lifetime when the caller gives no ttl; default {@link DEFAULT_NONCE_TTL_MS}. */
  readonly defaultTtlMs?: number;
}

/** Longest record lifetime (ten years): Lua hands numbers to Redis with 14 significant digits. */
const MAX_TTL_MS = 10 * 366 * 24 * 3600 * 1000;

export class RedisNonceCountStore implements NonceCountStore {
  private readonly client: RedisClient & ScriptCommands;
  private readonly defaultTtlMs: number;

  constructor(
    client: RedisClient,
    private readonly keys: RedisKeyspace,
    options: RedisNonceCountStoreOptions = {},
  ) {
    this.client = defineScripts(client);
    this.defaultTtlMs = options.defaultTtlMs ?? DEFAULT_NONCE_TTL_MS;
  }

  async checkAndAdvance(nonce: string, nc: number, ttlMs?: number): Promise<boolean> {
    if (!isValidNonceCount(nc) || typeof nonce !== 'string') return false;
    const ttl = ttlMs === undefined || Number.isNaN(ttlMs) ? this.defaultTtlMs : ttlMs;
    // A nonce already past its lifetime is refused as stale by the verifier anyway; keep 1 ms.
    const px = Math.max(1, Math.min(Math.ceil(ttl), MAX_TTL_MS));
    const accepted = await guard('checkAndAdvance', () =>
      this.client.twNonceAdvance(this.keys.nonce(nonce), String(nc), String(px)),
    );
    return accepted === 1;
  }
}
