import { afterEach, describe, it, expect } from 'vitest';
import type { Zone } from '../../harness/dns-server.js';
import { rig, scripted, type Rig } from './helpers.js';

let current: Rig | undefined;
afterEach(async () => {
  await current?.close();
  current = undefined;
});
async function setup(...args: Parameters<typeof rig>): Promise<Rig> {
  current = await rig(...args);
  return current;
}

const hosts: Zone = {
  'tls.example.net': [{ type: 'A', address: '192.0.2.10' }],
  'tcp.example.net': [{ type: 'A', address: '192.0.2.20' }],
  'udp.example.net': [
    { type: 'A', address: '192.0.2.30' },
    { type: 'AAAA', address: '2001:db8::30' },
  ],
  'ws.example.net': [{ type: 'A', address: '192.0.2.40' }],
};

const naptrZone: Zone = {
  ...hosts,
  'example.com': [
    { type: 'NAPTR', order: 20, preference: 10, flags: 's', service: 'SIP+D2T', replacement: '_sip._tcp.example.com' },
    { type: 'NAPTR', order: 10, preference: 50, flags: 'S', service: 'SIPS+D2T', replacement: '_sips._tcp.example.com' },
    { type: 'NAPTR', order: 20, preference: 5, flags: 's', service: 'SIP+D2U', replacement: '_sip._udp.example.com' },
    { type: 'NAPTR', order: 5, preference: 5, flags: 's', service: 'SIP+D2S', replacement: '_sip._sctp.example.com' },
    { type: 'NAPTR', order: 1, preference: 1, flags: 'u', service: 'E2U+sip', regexp: '!^.*$!sip:x@y!', replacement: '' },
    { type: 'NAPTR', order: 30, preference: 1, flags: 's', service: 'SIPS+D2W', replacement: '_sips._ws.example.com' },
    { type: 'A', address: '198.51.100.1' },
  ],
  '_sips._tcp.example.com': [{ type: 'SRV', priority: 1, weight: 1, port: 5061, target: 'tls.example.net' }],
  '_sip._tcp.example.com': [{ type: 'SRV', priority: 1, weight: 1, port: 5070, target: 'tcp.example.net' }],
  '_sip._udp.example.com': [{ type: 'SRV', priority: 1, weight: 1, port: 5080, target: 'udp.example.net' }],
  '_sip._sctp.example.com': [{ type: 'SRV', priority: 1, weight: 1, port: 5090, target: 'tcp.example.net' }],
  '_sips._ws.example.com': [{ type: 'SRV', priority: 1, weight: 1, port: 443, target: 'ws.example.net' }],
};

describe('SipResolver: NAPTR, SRV, A/AAAA (RFC 3263 §4.1, §4.2)', () => {
  it('follows NAPTR to SRV to addresses, by NAPTR order then preference, skipping unusable records', async () => {
    const { resolver } = await setup(naptrZone);
    expect(await resolver.resolve({ scheme: 'sip', host: 'example.com' })).toEqual([
      { protocol: 'TLS', address: '192.0.2.10', port: 5061 },
      { protocol: 'UDP', address: '192.0.2.30', port: 5080 },
      { protocol: 'UDP', address: '2001:db8::30', port: 5080 },
      { protocol: 'TCP', address: '192.0.2.20', port: 5070 },
      { protocol: 'WSS', address: '192.0.2.40', port: 443 },
    ]);
  });

  it('leaves out NAPTR services for transports the element does not support', async () => {
    const { resolver, server } = await setup(naptrZone, { transports: ['UDP', 'TCP'] });
    expect(await resolver.resolve({ scheme: 'sip', host: 'example.com' })).toEqual([
      { protocol: 'UDP', address: '192.0.2.30', port: 5080 },
      { protocol: 'UDP', address: '2001:db8::30', port: 5080 },
      { protocol: 'TCP', address: '192.0.2.20', port: 5070 },
    ]);
    expect(server.count('_sips._tcp.example.com')).toBe(0);
  });

  it('queries SRV for each supported transport when the domain has no NAPTR records', async () => {
    const { resolver, server } = await setup({
      ...hosts,
      'example.org': [{ type: 'A', address: '198.51.100.2' }],
      '_sip._tcp.example.org': [{ type: 'SRV', priority: 1, weight: 1, port: 5070, target: 'tcp.example.net' }],
      '_sips._tcp.example.org': [{ type: 'SRV', priority: 1, weight: 1, port: 5061, target: 'tls.example.net' }],
    });
    expect(await resolver.resolve({ scheme: 'sip', host: 'example.org' })).toEqual([
      { protocol: 'TCP', address: '192.0.2.20', port: 5070 },
      { protocol: 'TLS', address: '192.0.2.10', port: 5061 },
    ]);
    expect(server.count('example.org', 'NAPTR')).toBe(1);
    expect(server.count('_sip._udp.example.org', 'SRV')).toBe(1);
    expect(server.count('example.org', 'A')).toBe(0);
  });

  it('uses the A/AAAA records on the default port over UDP when there is neither NAPTR nor SRV', async () => {
    const { resolver } = await setup({
      'plain.example': [
        { type: 'A', address: '203.0.113.5' },
        { type: 'AAAA', address: '2001:db8::5' },
      ],
    });
    expect(await resolver.resolve({ scheme: 'sip', host: 'plain.example' })).toEqual([
      { protocol: 'UDP', address: '203.0.113.5', port: 5060 },
      { protocol: 'UDP', address: '2001:db8::5', port: 5060 },
    ]);
    expect(await resolver.resolve({ scheme: 'sips', host: 'plain.example' })).toEqual([
      { protocol: 'TLS', address: '203.0.113.5', port: 5061 },
      { protocol: 'TLS', address: '2001:db8::5', port: 5061 },
    ]);
  });

  it('lists IPv6 addresses first when asked to', async () => {
    const { resolver } = await setup(
      { 'plain.example': [{ type: 'A', address: '203.0.113.5' }, { type: 'AAAA', address: '2001:db8::5' }] },
      { addressFamilies: [6, 4] },
    );
    const targets = await resolver.resolve({ scheme: 'sip', host: 'plain.example' });
    expect(targets.map((t) => t.address)).toEqual(['2001:db8::5', '203.0.113.5']);
  });

  it('falls back to A/AAAA with the NAPTR-chosen transport when the NAPTR points at no SRV', async () => {
    const { resolver } = await setup({
      'broken.example': [
        { type: 'NAPTR', order: 1, preference: 1, flags: 's', service: 'SIP+D2T', replacement: '_sip._tcp.gone.example' },
        { type: 'A', address: '203.0.113.9' },
      ],
    });
    expect(await resolver.resolve({ scheme: 'sip', host: 'broken.example' })).toEqual([
      { protocol: 'TCP', address: '203.0.113.9', port: 5060 },
    ]);
  });

  it('uses only A/AAAA when the URI has a port, with the transport parameter or UDP', async () => {
    const { resolver, server } = await setup(naptrZone);
    expect(await resolver.resolve({ scheme: 'sip', host: 'example.com', port: 5999 })).toEqual([
      { protocol: 'UDP', address: '198.51.100.1', port: 5999 },
    ]);
    expect(await resolver.resolve({ scheme: 'sip', host: 'example.com', port: 5999, transport: 'TCP' })).toEqual([
      { protocol: 'TCP', address: '198.51.100.1', port: 5999 },
    ]);
    expect(server.queries.filter((q) => q.type === 'NAPTR' || q.type === 'SRV')).toEqual([]);
  });

  it('queries only the SRV of an explicit transport, then A/AAAA on its default port', async () => {
    const { resolver, server } = await setup({
      ...naptrZone,
      'bare.example': [{ type: 'A', address: '203.0.113.7' }],
    });
    expect(await resolver.resolve({ scheme: 'sip', host: 'example.com', transport: 'tcp' })).toEqual([
      { protocol: 'TCP', address: '192.0.2.20', port: 5070 },
    ]);
    expect(await resolver.resolve({ scheme: 'sip', host: 'example.com', transport: 'tls' })).toEqual([
      { protocol: 'TLS', address: '192.0.2.10', port: 5061 },
    ]);
    expect(server.count('example.com', 'NAPTR')).toBe(0);
    expect(await resolver.resolve({ scheme: 'sip', host: 'bare.example', transport: 'tcp' })).toEqual([
      { protocol: 'TCP', address: '203.0.113.7', port: 5060 },
    ]);
    expect(await resolver.resolve({ scheme: 'sip', host: 'bare.example', transport: 'tls' })).toEqual([
      { protocol: 'TLS', address: '203.0.113.7', port: 5061 },
    ]);
    expect(server.count('_sips._tcp.bare.example', 'SRV')).toBe(1);
  });

  it('does not fall back to A/AAAA when SRV says the service is decidedly not available', async () => {
    const { resolver, server } = await setup({
      'closed.example': [{ type: 'A', address: '203.0.113.8' }],
      '_sip._tcp.closed.example': [{ type: 'SRV', priority: 0, weight: 0, port: 0, target: '.' }],
    });
    expect(await resolver.resolve({ scheme: 'sip', host: 'closed.example', transport: 'tcp' })).toEqual([]);
    expect(server.count('closed.example', 'A')).toBe(0);
  });

  it('orders SRV targets by priority, then by weight using the injected random source', async () => {
    const zone: Zone = {
      'a.example.net': [{ type: 'A', address: '192.0.2.1' }],
      'b.example.net': [{ type: 'A', address: '192.0.2.2' }],
      'c.example.net': [{ type: 'A', address: '192.0.2.3' }],
      'backup.example.net': [{ type: 'A', address: '192.0.2.9' }],
      '_sip._udp.weighted.example': [
        { type: 'SRV', priority: 20, weight: 100, port: 5060, target: 'backup.example.net' },
        { type: 'SRV', priority: 10, weight: 10, port: 5060, target: 'a.example.net' },
        { type: 'SRV', priority: 10, weight: 60, port: 5060, target: 'b.example.net' },
        { type: 'SRV', priority: 10, weight: 30, port: 5060, target: 'c.example.net' },
      ],
    };
    const uri = { scheme: 'sip', host: 'weighted.example', transport: 'udp' } as const;
    const order = async (...draws: number[]) => {
      const { resolver } = await setup(zone, { random: scripted(...draws), addressFamilies: [4] });
      const out = (await resolver.resolve(uri)).map((t) => t.address);
      await current!.close();
      current = undefined;
      return out;
    };
    // Running sums a=10, b=70, c=100 over draws in [0, 100]; the backup's priority comes last.
    expect(await order(0.05, 0.05, 0, 0)).toEqual(['192.0.2.1', '192.0.2.2', '192.0.2.3', '192.0.2.9']);
    expect(await order(0.99, 0.99, 0, 0)).toEqual(['192.0.2.3', '192.0.2.2', '192.0.2.1', '192.0.2.9']);
    expect(await order(0.5, 0, 0, 0)).toEqual(['192.0.2.2', '192.0.2.1', '192.0.2.3', '192.0.2.9']);
  });
});

describe('SipResolver: numeric hosts and SIPS', () => {
  it('never queries DNS for a numeric IPv4 or IPv6 host', async () => {
    const { resolver, server } = await setup(naptrZone);
    const cases = [
      [{ scheme: 'sip', host: '192.0.2.99' }, { protocol: 'UDP', address: '192.0.2.99', port: 5060 }],
      [{ scheme: 'sip', host: '[2001:db8::99]' }, { protocol: 'UDP', address: '2001:db8::99', port: 5060 }],
      [{ scheme: 'sip', host: '2001:db8::99', port: 5070 }, { protocol: 'UDP', address: '2001:db8::99', port: 5070 }],
      [{ scheme: 'sip', host: '192.0.2.99', transport: 'tcp' }, { protocol: 'TCP', address: '192.0.2.99', port: 5060 }],
      [{ scheme: 'sip', host: '192.0.2.99', transport: 'tls' }, { protocol: 'TLS', address: '192.0.2.99', port: 5061 }],
      [{ scheme: 'sip', host: '192.0.2.99', transport: 'ws' }, { protocol: 'WS', address: '192.0.2.99', port: 5060 }],
      [{ scheme: 'sips', host: '192.0.2.99' }, { protocol: 'TLS', address: '192.0.2.99', port: 5061 }],
      [{ scheme: 'sips', host: '[2001:db8::99]', transport: 'tcp' }, { protocol: 'TLS', address: '2001:db8::99', port: 5061 }],
      [{ scheme: 'sips', host: '192.0.2.99', transport: 'ws', port: 443 }, { protocol: 'WSS', address: '192.0.2.99', port: 443 }],
    ] as const;
    for (const [input, expected] of cases) expect(await resolver.resolve(input)).toEqual([expected]);
    expect(server.queries).toEqual([]);
  });

  it('yields only TLS (and WSS) targets for a SIPS URI', async () => {
    const { resolver } = await setup(naptrZone);
    expect(await resolver.resolve({ scheme: 'sips', host: 'example.com' })).toEqual([
      { protocol: 'TLS', address: '192.0.2.10', port: 5061 },
      { protocol: 'WSS', address: '192.0.2.40', port: 443 },
    ]);
  });

  it('queries only _sips._tcp for a SIPS URI whose domain has no NAPTR', async () => {
    const { resolver, server } = await setup({
      ...hosts,
      '_sip._udp.nonaptr.example': [{ type: 'SRV', priority: 1, weight: 1, port: 5080, target: 'udp.example.net' }],
      '_sips._tcp.nonaptr.example': [{ type: 'SRV', priority: 1, weight: 1, port: 5061, target: 'tls.example.net' }],
    });
    expect(await resolver.resolve({ scheme: 'sips', host: 'nonaptr.example' })).toEqual([
      { protocol: 'TLS', address: '192.0.2.10', port: 5061 },
    ]);
    expect(server.count('_sip._udp.nonaptr.example')).toBe(0);
    expect(server.count('_sip._tcp.nonaptr.example')).toBe(0);
  });

  it('finds nothing for SIPS over UDP or a transport it does not know, without asking DNS', async () => {
    const { resolver, server } = await setup(naptrZone);
    expect(await resolver.resolve({ scheme: 'sips', host: 'example.com', transport: 'udp' })).toEqual([]);
    expect(await resolver.resolve({ scheme: 'sip', host: 'example.com', transport: 'sctp' })).toEqual([]);
    expect(await resolver.resolve({ scheme: 'sips', host: '192.0.2.1', transport: 'udp' })).toEqual([]);
    expect(server.queries).toEqual([]);
  });

  it('rejects a malformed host or port without asking DNS', async () => {
    const { resolver, server } = await setup(naptrZone);
    expect(await resolver.resolve({ scheme: 'sip', host: '[example.com]' })).toEqual([]);
    expect(await resolver.resolve({ scheme: 'sip', host: '' })).toEqual([]);
    expect(await resolver.resolve({ scheme: 'sip', host: 'example.com', port: 0 })).toEqual([]);
    expect(await resolver.resolve({ scheme: 'sip', host: 'example.com', port: 70000 })).toEqual([]);
    expect(server.queries).toEqual([]);
  });
});
