/** The NGV-API-Key check both APIs apply when a key is configured. */
import { describe, expect, it } from 'vitest';
import { buildHssProvisioning, buildHssSignalling, startHssServers } from '../../src/hss/index.js';
import { apiKeyMatches } from '../../src/hss/http.js';
import { MemorySubscriberStore } from '../../src/storage/memory/index.js';
import { ALICE, seed } from './fixtures.js';

const e = encodeURIComponent;

describe('NGV-API-Key', () => {
  it('refuses requests without the key or with a wrong one (401), accepts the right one', async () => {
    const store = new MemorySubscriberStore();
    await seed(store);
    const signalling = await buildHssSignalling({ store, realm: 'example.com', apiKey: 's3cret' });
    const provisioning = await buildHssProvisioning({ store, homeDomain: 'example.com', apiKey: 's3cret' });
    try {
      for (const [app, url] of [
        [signalling, `/impu/${e(ALICE.impu)}/location`],
        [provisioning, `/private/${e(ALICE.impi)}`],
      ] as const) {
        const none = await app.inject({ method: 'GET', url });
        expect(none.statusCode).toBe(401);
        expect(none.json().code).toBe('TW_ERR_HSS_UNAUTHORIZED');
        expect((await app.inject({ method: 'GET', url, headers: { 'NGV-API-Key': 's3cre' } })).statusCode).toBe(401);
        expect((await app.inject({ method: 'GET', url, headers: { 'NGV-API-Key': 's3cret!' } })).statusCode).toBe(401);
        expect((await app.inject({ method: 'GET', url, headers: { 'NGV-API-Key': 's3cret' } })).statusCode).toBe(200);
      }
      const unknownPath = await signalling.inject({ method: 'GET', url: '/whatever' });
      expect(unknownPath.statusCode).toBe(401);
    } finally {
      await signalling.close();
      await provisioning.close();
    }
  });

  it('is not required when no key is configured', async () => {
    const store = new MemorySubscriberStore();
    await seed(store);
    const app = await buildHssSignalling({ store, realm: 'example.com' });
    expect((await app.inject({ method: 'GET', url: `/impu/${e(ALICE.impu)}/location` })).statusCode).toBe(200);
    await app.close();
  });

  it('refuses an empty key at start-up', async () => {
    await expect(buildHssSignalling({ store: new MemorySubscriberStore(), realm: 'example.com', apiKey: '' })).rejects.toThrow(/apiKey/);
  });

  it('compares keys of any length without throwing', () => {
    expect(apiKeyMatches('a', 'a')).toBe(true);
    expect(apiKeyMatches('a', 'a much longer key')).toBe(false);
    expect(apiKeyMatches(['a'], 'a')).toBe(false);
    expect(apiKeyMatches(undefined, 'a')).toBe(false);
  });

  it('startHssServers serves both APIs on real sockets, with the key', async () => {
    const store = new MemorySubscriberStore();
    await seed(store);
    const servers = await startHssServers({ store, bind: '127.0.0.1', signallingPort: 0, provisioningPort: 0, homeDomain: 'example.com', apiKey: 'k' });
    try {
      const base = (port: number) => `http://127.0.0.1:${port}`;
      const headers = { 'NGV-API-Key': 'k' };
      const loc = await fetch(`${base(servers.signallingPort)}/impu/${e(ALICE.impu)}/location`, { headers });
      expect(loc.status).toBe(200);
      const irs = await fetch(`${base(servers.provisioningPort)}/irs`, { method: 'POST', headers });
      expect(irs.status).toBe(201);
      expect(irs.headers.get('location')).toMatch(/^\/irs\//);
      expect((await fetch(`${base(servers.provisioningPort)}/irs`, { method: 'POST' })).status).toBe(401);
    } finally {
      await servers.close();
    }
  });
});
