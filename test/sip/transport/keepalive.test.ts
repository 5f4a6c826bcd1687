/**
 * Keepalive of the connections we open (TransportLayerOptions.outboundKeepaliveMs, RFC 5626
 * §4.4.1 CRLF ping and pong): a peer that answers keeps its connection however quiet the
 * signalling; a peer that vanished without a reset (cut off the network, frozen) has its
 * connection closed as unresponsive, which fails what waits on it instead of leaving it to TCP's
 * minutes-long retries.
 */
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { LOOPBACK, closeAll, harness, sipMessage } from './helpers.js';

afterEach(closeAll);

const KEEPALIVE_MS = 100;

describe('keepalive of connections we opened', () => {
  it('closes the connection to a peer that swallows everything, pings included, as unresponsive', async () => {
    const silent = net.createServer((socket) => socket.on('data', () => undefined));
    await new Promise<void>((resolve) => silent.listen(0, LOOPBACK, resolve));
    const { port } = silent.address() as net.AddressInfo;
    try {
      const client = harness({ outboundKeepaliveMs: KEEPALIVE_MS });
      const flow = await client.layer.send(sipMessage('to-silent'), { protocol: 'TCP', address: LOOPBACK, port });
      const closed = await client.closed.next();
      expect(closed.flow.id).toBe(flow.id);
      expect(closed.reason).toBe('unresponsive');
    } finally {
      silent.close();
    }
  });

  it('keeps the connection to a peer that answers the pings, across many quiet intervals', async () => {
    const server = harness();
    const bound = await server.layer.listen({ protocol: 'TCP', address: LOOPBACK, port: 0 });
    const client = harness({ outboundKeepaliveMs: KEEPALIVE_MS });
    const flow = await client.layer.send(sipMessage('hello'), { protocol: 'TCP', address: LOOPBACK, port: bound.port });
    await server.messages.next();
    await new Promise((resolve) => setTimeout(resolve, 10 * KEEPALIVE_MS));
    expect(client.layer.getFlow(flow.id)).toBeDefined();
    // Still the same connection: a message sent now arrives on it.
    await client.layer.send(sipMessage('later'), { flowId: flow.id });
    expect((await server.messages.next()).data.toString()).toContain('later');
  });
});
