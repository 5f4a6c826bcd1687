import { createSocket } from 'node:dgram';
import { Resolver } from 'node:dns/promises';
import { afterEach, describe, it, expect } from 'vitest';
import { encodeName, startDnsServer, type TestDnsServer } from '../../harness/dns-server.js';

let server: TestDnsServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

/** Sends one raw datagram to the server and returns the reply. */
async function exchange(port: number, query: Buffer): Promise<Buffer> {
  const socket = createSocket('udp4');
  try {
    return await new Promise<Buffer>((resolve, reject) => {
      socket.once('message', resolve);
      socket.once('error', reject);
      socket.send(query, port, '127.0.0.1');
    });
  } finally {
    socket.close();
  }
}

function query(id: number, name: string, type: number, flags = 0x0100): Buffer {
  const header = Buffer.alloc(12);
  header.writeUInt16BE(id, 0);
  header.writeUInt16BE(flags, 2);
  header.writeUInt16BE(1, 4);
  const tail = Buffer.alloc(4);
  tail.writeUInt16BE(type, 0);
  tail.writeUInt16BE(1, 2);
  return Buffer.concat([header, encodeName(name), tail]);
}

describe('test DNS server (RFC 1035 wire format)', () => {
  it('answers authoritatively, echoing the ID, the RD bit and the question', async () => {
    server = await startDnsServer({ 'Host.Example': [{ type: 'A', address: '192.0.2.1', ttl: 42 }] });
    const q = query(0xbeef, 'host.EXAMPLE', 1);
    const r = await exchange(server.port, q);
    expect(r.readUInt16BE(0)).toBe(0xbeef);
    expect(r[2]! & 0x80).toBe(0x80); // QR
    expect(r[2]! & 0x04).toBe(0x04); // AA
    expect(r[2]! & 0x01).toBe(0x01); // RD copied
    expect(r[3]! & 0x0f).toBe(0); // NOERROR
    expect(r.readUInt16BE(6)).toBe(1); // one answer
    expect(r.subarray(12, q.length)).toEqual(q.subarray(12));
    const rr = r.subarray(q.length);
    expect(rr.subarray(0, 14)).toEqual(encodeName('host.example'));
    expect(rr.readUInt32BE(14 + 4)).toBe(42); // TTL after TYPE and CLASS
    expect([...rr.subarray(rr.length - 4)]).toEqual([192, 0, 2, 1]);
  });

  it('answers NXDOMAIN for an unknown name and FORMERR for a broken query', async () => {
    server = await startDnsServer({});
    expect((await exchange(server.port, query(1, 'missing.example', 1)))[3]! & 0x0f).toBe(3);
    const broken = query(2, 'x.example', 1).subarray(0, 15);
    expect((await exchange(server.port, broken))[3]! & 0x0f).toBe(1);
  });

  it('sets TC rather than send a reply over 512 octets', async () => {
    const many = Array.from({ length: 40 }, (_, i) => ({ type: 'A' as const, address: `192.0.2.${i + 1}` }));
    server = await startDnsServer({ 'big.example': many });
    const r = await exchange(server.port, query(3, 'big.example', 1));
    expect(r[2]! & 0x02).toBe(0x02);
    expect(r.readUInt16BE(6)).toBe(0);
  });

  it('serves AAAA, SRV and NAPTR records the node:dns resolver decodes', async () => {
    server = await startDnsServer({
      'v6.example': [
        { type: 'AAAA', address: '2001:db8:0:1::a', ttl: 7 },
        { type: 'AAAA', address: '::ffff:192.0.2.5', ttl: 9 },
      ],
      '_sip._tcp.example': [{ type: 'SRV', priority: 3, weight: 4, port: 5070, target: 'sip.example' }],
      example: [{ type: 'NAPTR', order: 1, preference: 2, flags: 's', service: 'SIP+D2T', replacement: '_sip._tcp.example' }],
    });
    const resolver = new Resolver({ timeout: 500, tries: 1 });
    resolver.setServers([server.address]);
    expect(await resolver.resolve6('v6.example', { ttl: true })).toEqual([
      { address: '2001:db8:0:1::a', ttl: 7 },
      { address: '::ffff:192.0.2.5', ttl: 9 },
    ]);
    expect(await resolver.resolveSrv('_sip._tcp.example')).toEqual([
      { priority: 3, weight: 4, port: 5070, name: 'sip.example' },
    ]);
    expect(await resolver.resolveNaptr('example')).toEqual([
      { order: 1, preference: 2, flags: 's', service: 'SIP+D2T', regexp: '', replacement: '_sip._tcp.example' },
    ]);
    await expect(resolver.resolveSrv('v6.example')).rejects.toMatchObject({ code: 'ENODATA' });
  });
});
