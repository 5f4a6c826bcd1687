/** Runs the NonceCountStore contract against every adapter, plus adapter-specific bounds. */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { MemoryNonceCountStore } from '../../src/storage/memory/nonce-count-store.js';
import { SqliteDatabase } from '../../src/storage/sqlite/database.js';
import { SqliteNonceCountStore } from '../../src/storage/sqlite/nonce-count-store.js';
import { T0, tempDir } from './fixtures.js';
import { nonceCountStoreContract } from './nonce-count-store.contract.js';

/** A wall clock the test moves by hand. */
function manualClock(start = T0): { now(): number; advance(ms: number): void } {
  let t = start;
  return { now: () => t, advance: (ms) => void (t += ms) };
}

nonceCountStoreContract(
  'memory',
  async () => {
    const clock = manualClock();
    return { store: new MemoryNonceCountStore({ clock }), advance: clock.advance, close: async () => {} };
  },
  { persistent: false },
);

nonceCountStoreContract(
  'sqlite',
  async () => {
    const clock = manualClock();
    const dir = tempDir();
    const file = path.join(dir.path, 'tidewater.db');
    let db = SqliteDatabase.open({ path: file });
    return {
      store: new SqliteNonceCountStore(db, { clock }),
      advance: clock.advance,
      reopen: async () => {
        db.close();
        db = SqliteDatabase.open({ path: file });
        return new SqliteNonceCountStore(db, { clock });
      },
      close: async () => {
        db.close();
        dir.cleanup();
      },
    };
  },
  { persistent: true },
);

describe('nonce-count adapters', () => {
  it('memory: stays within maxEntries and refuses a nonce that may have been evicted', async () => {
    const clock = manualClock();
    const store = new MemoryNonceCountStore({ clock, maxEntries: 3 });
    for (let i = 0; i < 5; i++) {
      expect(await store.checkAndAdvance(`n${i}`, 1, 60_000)).toBe(true);
      clock.advance(1);
    }
    expect(store.size).toBe(3);
    // n0 was evicted: seen again it could be a replay, so it is refused, not taken as new.
    expect(await store.checkAndAdvance('n0', 1, 60_000 - 5)).toBe(false);
    expect(await store.checkAndAdvance('fresh', 1, 60_000)).toBe(true);
  });

  it('sqlite: purges records whose nonce has expired as new nonces arrive', async () => {
    const clock = manualClock();
    const dir = tempDir();
    const db = SqliteDatabase.open({ path: path.join(dir.path, 'tidewater.db') });
    try {
      const store = new SqliteNonceCountStore(db, { clock });
      for (let i = 0; i < 100; i++) await store.checkAndAdvance(`old${i}`, 1, 1000);
      expect(await store.size()).toBe(100);
      clock.advance(2000);
      for (let i = 0; i < 256; i++) await store.checkAndAdvance(`new${i}`, 1, 60_000);
      expect(await store.size()).toBe(256);
    } finally {
      db.close();
      dir.cleanup();
    }
  });
});
