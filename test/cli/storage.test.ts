import { statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadNonceKey, openAllInOneStorage } from '../../src/cli/storage.js';
import { tempDataDir } from './run-cli.js';

describe('the all-in-one storage', () => {
  it('creates the data folder, and keeps the nonce key (mode 0600) across restarts', async () => {
    const dataDir = tempDataDir();
    const first = await openAllInOneStorage(dataDir);
    first.close();
    const second = await openAllInOneStorage(dataDir);
    second.close();
    expect(first.nonceKey).toHaveLength(32);
    expect(second.nonceKey.equals(first.nonceKey)).toBe(true);
    expect(statSync(path.join(dataDir, 'nonce.key')).mode & 0o777).toBe(0o600);
    expect(loadNonceKey(tempDataDir()).equals(first.nonceKey)).toBe(false);
  });

  it('keeps registrations and subscribers across a restart', async () => {
    const dataDir = tempDataDir();
    const before = await openAllInOneStorage(dataDir);
    const binding = { contact: 'sip:a@192.0.2.1:5060', path: ['<sip:pcscf.example.com;lr>'], expiresAt: Date.now() + 600_000, callId: 'c1', cseq: 2, registeredAt: Date.now() };
    expect(await before.registrations.put('sip:a@example.com', { bindings: [binding] }, 0)).toMatchObject({ ok: true });
    await before.subscribers.createImplicitSet({ id: 'set-a', serviceProfile: '<ServiceProfile/>' });
    before.close();

    const after = await openAllInOneStorage(dataDir);
    try {
      expect((await after.registrations.get('sip:a@example.com'))?.bindings).toEqual([binding]);
      expect(await after.registrations.nextExpiryAt()).toBe(binding.expiresAt);
      expect(await after.subscribers.getImplicitSet('set-a')).toMatchObject({ id: 'set-a', members: [] });
    } finally {
      after.close();
    }
  });

  it('keeps nonce counts in memory, forgotten by a restart, and says since when (older nonces are then stale)', async () => {
    const dataDir = tempDataDir();
    const t0 = Date.now();
    const first = await openAllInOneStorage(dataDir);
    expect(await first.nonceCounts.checkAndAdvance('n1', 1)).toBe(true);
    expect(await first.nonceCounts.checkAndAdvance('n1', 1)).toBe(false);
    first.close();
    const second = await openAllInOneStorage(dataDir);
    second.close();
    expect(await second.nonceCounts.checkAndAdvance('n1', 1)).toBe(true);
    expect(second.nonceCountsSince).toBeGreaterThanOrEqual(first.nonceCountsSince!);
    expect(first.nonceCountsSince).toBeGreaterThanOrEqual(t0);
    expect(second.where.nonceCounts).toMatch(/^memory/);
  });
});
