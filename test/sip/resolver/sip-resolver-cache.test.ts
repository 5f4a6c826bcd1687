import { afterEach, describe, it, expect } from 'vitest';
import type { Zone } from '../../harness/dns-server.js';
import { rig, type Rig } from './helpers.js';

let current: Rig | undefined;
afterEach(async () => {
  await current?.close();
  current = undefined;
});
async function setup(...args: Parameters<typeof rig>): Promise<Rig> {
  current = await rig(...args);
  return current;
}

const zone: Zone = {
  'example.com': [
    { type: 'NAPTR', order: 10, preference: 10, flags: 's', service: 'SIP+D2U', replacement: '_sip._udp.example.com' },
    { type: 'A', address: '198.51.100.1', ttl: 30 },
  ],
  '_sip._udp.example.com': [{ type: 'SRV', priority: 1, weight: 1, port: 5080, target: 'udp.example.net' }],
  'udp.example.net': [{ type: 'A', address: '192.0.2.30', ttl: 120 }],
  'noaaaa.example': [{ type: 'A', address: '203.0.113.1', ttl: 10 }],
};

describe('SipResolver: caching by TTL', () => {
  it('answers a repeated lookup from cache until the record TTL has passed', async () => {
    const { resolver, server, clock } = await setup(zone, { addressFamilies: [4] });
    const uri = { scheme: 'sip', host: 'example.com', port: 5070 } as const;
    const expected = [{ protocol: 'UDP', address: '198.51.100.1', port: 5070 }];
    expect(await resolver.resolve(uri)).toEqual(expected);
    expect(server.count('example.com', 'A')).toBe(1);
    clock.advance(29_999);
    expect(await resolver.resolve(uri)).toEqual(expected);
    expect(server.count('example.com', 'A')).toBe(1);
    clock.advance(1);
    expect(await resolver.resolve(uri)).toEqual(expected);
    expect(server.count('example.com', 'A')).toBe(2);
  });

  it('sees a changed record once the old answer has expired', async () => {
    const { resolver, server, clock } = await setup(zone, { addressFamilies: [4] });
    const uri = { scheme: 'sip', host: 'noaaaa.example', port: 5060 } as const;
    expect((await resolver.resolve(uri))[0]!.address).toBe('203.0.113.1');
    server.zone = { ...zone, 'noaaaa.example': [{ type: 'A', address: '203.0.113.2', ttl: 10 }] };
    clock.advance(9_000);
    expect((await resolver.resolve(uri))[0]!.address).toBe('203.0.113.1');
    clock.advance(1_000);
    expect((await resolver.resolve(uri))[0]!.address).toBe('203.0.113.2');
  });

  it('caches NAPTR and SRV answers for the fallback TTL, since node:dns reports none for them', async () => {
    const { resolver, server, clock } = await setup(zone, { fallbackTtlSeconds: 60, addressFamilies: [4] });
    const uri = { scheme: 'sip', host: 'example.com' } as const;
    const expected = [{ protocol: 'UDP', address: '192.0.2.30', port: 5080 }];
    expect(await resolver.resolve(uri)).toEqual(expected);
    const asked = server.queries.length;
    expect(asked).toBe(3); // NAPTR, SRV, A
    clock.advance(59_999);
    expect(await resolver.resolve(uri)).toEqual(expected);
    expect(server.queries.length).toBe(asked);
    clock.advance(1);
    expect(await resolver.resolve(uri)).toEqual(expected);
    expect(server.count('example.com', 'NAPTR')).toBe(2);
    expect(server.count('_sip._udp.example.com', 'SRV')).toBe(2);
    expect(server.count('udp.example.net', 'A')).toBe(1); // its own TTL, 120 s, still runs
  });

  it('keeps no more answers than its cache size', async () => {
    const { resolver, server } = await setup(zone, { cacheSize: 1, addressFamilies: [4] });
    const a = { scheme: 'sip', host: 'example.com', port: 5060 } as const;
    const b = { scheme: 'sip', host: 'noaaaa.example', port: 5060 } as const;
    await resolver.resolve(a);
    await resolver.resolve(b);
    await resolver.resolve(a);
    expect(server.count('example.com', 'A')).toBe(2);
  });

  it('shares one query among concurrent lookups of the same name', async () => {
    const { resolver, server } = await setup(zone, { addressFamilies: [4] });
    const uri = { scheme: 'sip', host: 'noaaaa.example', port: 5060 } as const;
    const results = await Promise.all([resolver.resolve(uri), resolver.resolve(uri), resolver.resolve(uri)]);
    expect(results.every((r) => r.length === 1)).toBe(true);
    expect(server.count('noaaaa.example', 'A')).toBe(1);
  });
});

describe('SipResolver: names that do not resolve', () => {
  it('gives an empty list for a name that does not exist, and remembers that briefly', async () => {
    const { resolver, server, clock } = await setup(zone, { negativeTtlSeconds: 30 });
    const outcome = await resolver.resolveDetailed({ scheme: 'sip', host: 'nowhere.example' });
    expect(outcome).toEqual({ targets: [], errors: [] });
    const asked = server.queries.length;
    expect(server.count('nowhere.example', 'NAPTR')).toBe(1);
    expect(server.count('nowhere.example', 'A')).toBe(1);
    expect(await resolver.resolve({ scheme: 'sip', host: 'nowhere.example' })).toEqual([]);
    expect(server.queries.length).toBe(asked);
    clock.advance(30_000);
    await resolver.resolve({ scheme: 'sip', host: 'nowhere.example' });
    expect(server.count('nowhere.example', 'NAPTR')).toBe(2);
  });

  it('falls through to SRV when the NAPTR query times out', async () => {
    const { resolver, server } = await setup(zone, { addressFamilies: [4] });
    server.drop = (q) => q.type === 'NAPTR';
    const outcome = await resolver.resolveDetailed({ scheme: 'sip', host: 'example.com' });
    expect(outcome.targets).toEqual([{ protocol: 'UDP', address: '192.0.2.30', port: 5080 }]);
    expect(outcome.errors).toEqual([{ name: 'example.com', type: 'NAPTR', code: 'ETIMEOUT' }]);
  });

  it('gives an empty list and reports the timeouts when DNS never answers, and asks again next time', async () => {
    const { resolver, server } = await setup(zone, { addressFamilies: [4] });
    server.drop = () => true;
    const outcome = await resolver.resolveDetailed({ scheme: 'sip', host: 'example.com', port: 5060 });
    expect(outcome).toEqual({ targets: [], errors: [{ name: 'example.com', type: 'A', code: 'ETIMEOUT' }] });
    server.drop = () => false;
    expect(await resolver.resolve({ scheme: 'sip', host: 'example.com', port: 5060 })).toEqual([
      { protocol: 'UDP', address: '198.51.100.1', port: 5060 },
    ]);
    expect(server.count('example.com', 'A')).toBe(2);
  });
});
