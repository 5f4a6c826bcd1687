import dgram from 'node:dgram';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { TransportError } from '../../../src/sip/transport/errors.js';
import type { BoundListener } from '../../../src/sip/transport/manager.js';
import { TransportLayer } from '../../../src/sip/transport/manager.js';
import { LOOPBACK, closeAll, harness, readStream, sipMessage, type Harness } from './helpers.js';

afterEach(closeAll);

/** A layer with UDP and TCP listeners on one port; retries if the TCP side of the port is taken. */
async function layerOnOnePort(): Promise<Harness> {
  for (let attempt = 0; ; attempt++) {
    const h = harness();
    const udp = await h.layer.listen({ protocol: 'UDP', address: LOOPBACK, port: 0 });
    try {
      await h.layer.listen({ protocol: 'TCP', address: LOOPBACK, port: udp.port });
      return h;
    } catch (error) {
      if (attempt >= 5 || (error as TransportError).sysCode !== 'EADDRINUSE') throw error;
    }
  }
}

describe('TransportLayer', () => {
  it('listens on UDP and TCP on the same port and tells each message its protocol', async () => {
    const { layer, messages } = await layerOnOnePort();
    const [udp, tcp] = layer.listeners as [BoundListener, BoundListener];
    expect(layer.listeners).toEqual([
      { protocol: 'UDP', address: LOOPBACK, port: udp.port },
      { protocol: 'TCP', address: LOOPBACK, port: udp.port },
    ]);
    const datagram = dgram.createSocket('udp4');
    datagram.send(sipMessage('over-udp'), udp.port, LOOPBACK);
    const stream = net.connect(tcp.port, LOOPBACK);
    stream.write(sipMessage('over-tcp'));
    const protocols = new Map<string, Buffer>();
    for (let i = 0; i < 2; i++) {
      const message = await messages.next();
      protocols.set(message.flow.protocol, message.data);
    }
    expect(protocols).toEqual(new Map([['UDP', sipMessage('over-udp')], ['TCP', sipMessage('over-tcp')]]));
    datagram.close();
    stream.destroy();
  });

  it('closes a flow on request and reports it closed locally', async () => {
    const { layer, messages, closed } = harness();
    const { port } = await layer.listen({ protocol: 'TCP', address: LOOPBACK, port: 0 });
    const client = net.connect(port, LOOPBACK);
    const received = readStream(client);
    client.write(sipMessage('x'));
    const { flow } = await messages.next();
    expect(layer.getFlow(flow.id)).toEqual(flow);
    expect(layer.closeFlow(flow.id)).toBe(true);
    expect(await closed.next()).toEqual({ flow, reason: 'local' });
    await received.closed;
    expect(layer.closeFlow(flow.id)).toBe(false);
  });

  it('gives one listener back on unlisten and keeps the others', async () => {
    const { layer, messages } = harness();
    const udp = await layer.listen({ protocol: 'UDP', address: LOOPBACK, port: 0 });
    const tcp = await layer.listen({ protocol: 'TCP', address: LOOPBACK, port: 0 });
    const kept = await layer.listen({ protocol: 'UDP', address: LOOPBACK, port: 0 });
    expect(await layer.unlisten(udp)).toBe(true);
    expect(await layer.unlisten(tcp)).toBe(true);
    expect(await layer.unlisten(udp)).toBe(false);
    expect(layer.listeners).toEqual([kept]);
    // the ports are free again: other sockets bind them
    const datagram = dgram.createSocket('udp4');
    await new Promise<void>((resolve, reject) => datagram.once('error', reject).bind(udp.port, LOOPBACK, resolve));
    const server = net.createServer();
    await new Promise<void>((resolve, reject) => server.once('error', reject).listen(tcp.port, LOOPBACK, resolve));
    expect(layer.getFlow(`UDP/${LOOPBACK}/${udp.port}/${LOOPBACK}/5060`)).toBeUndefined();
    // the one kept still receives
    datagram.send(sipMessage('still-here'), kept.port, LOOPBACK);
    expect((await messages.next()).data).toEqual(sipMessage('still-here'));
    datagram.close();
    await new Promise((resolve) => server.close(resolve));
  });

  it('refuses to listen or send once closed', async () => {
    const { layer } = harness();
    await layer.listen({ protocol: 'UDP', address: LOOPBACK, port: 0 });
    await layer.close();
    await expect(layer.listen({ protocol: 'TCP', address: LOOPBACK, port: 0 })).rejects.toMatchObject({ code: 'TW_ERR_TRANSPORT_CLOSED' });
    await expect(layer.send(sipMessage('x'), { protocol: 'UDP', address: LOOPBACK, port: 5060 })).rejects.toMatchObject({
      code: 'TW_ERR_TRANSPORT_CLOSED',
    });
  });

  it('refuses a TLS or WSS listener without a certificate', async () => {
    const { layer } = harness();
    await expect(layer.listen({ protocol: 'TLS', address: LOOPBACK, port: 0 })).rejects.toMatchObject({ code: 'TW_ERR_TRANSPORT_LISTEN' });
    await expect(layer.listen({ protocol: 'WSS', address: LOOPBACK, port: 0 })).rejects.toMatchObject({ code: 'TW_ERR_TRANSPORT_LISTEN' });
    expect(layer.listeners).toEqual([]);
  });

  it('refuses an out-of-range option at construction, naming it', () => {
    expect(() => new TransportLayer({ maxConnections: 0 })).toThrow(/maxConnections/);
    expect(() => new TransportLayer({ idleTimeoutMs: -1 })).toThrow(/idleTimeoutMs/);
    expect(() => new TransportLayer({ maxMessageSize: 1.5 })).toThrow(/maxMessageSize/);
  });
});
