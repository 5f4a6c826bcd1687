/**
 * The behaviour every NonceCountStore adapter must show: Digest nonce-count replay protection
 * (RFC 7616 §3.4 and §5.5, RFC 3261 §22.4).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { NonceCountStore } from '../../src/storage/nonce-count-store.js';
import type { ContractOptions } from './registration-store.contract.js';

export interface NonceCountHarness {
  readonly store: NonceCountStore;
  /** Moves the store's injected clock forward. */
  advance(ms: number): void;
  readonly reopen?: () => Promise<NonceCountStore>;
  close(): Promise<void>;
}

export function nonceCountStoreContract(name: string, open: () => Promise<NonceCountHarness>, options: ContractOptions): void {
  describe(`NonceCountStore contract: ${name}`, () => {
    let h: NonceCountHarness;
    let store: NonceCountStore;
    beforeEach(async () => {
      h = await open();
      store = h.store;
    });
    afterEach(async () => {
      await h.close();
    });

    it('accepts rising counts and refuses a replayed or lower one', async () => {
      expect(await store.checkAndAdvance('n1', 1, 60_000)).toBe(true);
      expect(await store.checkAndAdvance('n1', 1, 60_000)).toBe(false);
      expect(await store.checkAndAdvance('n1', 3, 60_000)).toBe(true);
      expect(await store.checkAndAdvance('n1', 2, 60_000)).toBe(false);
      expect(await store.checkAndAdvance('n1', 3, 60_000)).toBe(false);
      expect(await store.checkAndAdvance('n1', 4, 60_000)).toBe(true);
    });

    it('keeps each nonce apart', async () => {
      expect(await store.checkAndAdvance('n1', 5, 60_000)).toBe(true);
      expect(await store.checkAndAdvance('n2', 1, 60_000)).toBe(true);
      expect(await store.checkAndAdvance('n2', 1, 60_000)).toBe(false);
      expect(await store.checkAndAdvance('n1', 5, 60_000)).toBe(false);
    });

    it('refuses counts that cannot be a nonce-count, without recording them', async () => {
      for (const nc of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 53]) {
        expect(await store.checkAndAdvance('n1', nc, 60_000)).toBe(false);
      }
      expect(await store.checkAndAdvance('n1', 1, 60_000)).toBe(true);
    });

    it('lets exactly one of several concurrent uses of the same count through', async () => {
      const results = await Promise.all(Array.from({ length: 8 }, () => store.checkAndAdvance('n1', 1, 60_000)));
      expect(results.filter(Boolean)).toHaveLength(1);
    });

    it('still refuses a replay within the ttl once time has passed', async () => {
      expect(await store.checkAndAdvance('n1', 1)).toBe(true);
      h.advance(299_000);
      expect(await store.checkAndAdvance('n1', 1)).toBe(false);
    });

    if (!options.persistent) return;
    it('still refuses a replay after a restart', async () => {
      expect(await store.checkAndAdvance('n1', 7, 60_000)).toBe(true);
      store = await h.reopen!();
      expect(await store.checkAndAdvance('n1', 7, 60_000)).toBe(false);
      expect(await store.checkAndAdvance('n1', 8, 60_000)).toBe(true);
    });
  });
}
