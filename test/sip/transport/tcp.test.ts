import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { FakeClock } from '../../harness/fake-clock.js';
import { FramingError } from '../../../src/sip/parser/framer.js';
import { TransportError } from '../../../src/sip/transport/errors.js';
import { LOOPBACK, closeAll, harness, readStream, sipMessage, waitFor } from './helpers.js';

afterEach(closeAll);

async function tcpServer(options: Parameters<typeof harness>[0] = {}) {
  const h = harness(options);
  const bound = await h.layer.listen({ protocol: 'TCP', address: LOOPBACK, port: 0 });
  return { ...h, port: bound.port };
}

function connect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, LOOPBACK, () => resolve(socket));
    socket.once('error', reject);
  });
}

async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, LOOPBACK, resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe('TCP transport', () => {
  it('binds exactly the given address and exposes the port the system picked', async () => {
    const { layer, port } = await tcpServer();
    expect(port).toBeGreaterThan(0);
    expect(layer.listeners).toEqual([{ protocol: 'TCP', address: LOOPBACK, port }]);
  });

  it('delivers a message sent in pieces whole, with the connection as its flow', async () => {
    const { messages, port } = await tcpServer();
    const client = await connect(port);
    const message = sipMessage('pieces');
    client.write(message.subarray(0, 10));
    client.write(message.subarray(10, 50));
    client.write(message.subarray(50));
    const inbound = await messages.next();
    expect(inbound.data).toEqual(message);
    expect(inbound.flow.protocol).toBe('TCP');
    expect(inbound.flow.remote).toEqual({ address: LOOPBACK, port: client.localPort });
    expect(inbound.flow.local).toEqual({ address: LOOPBACK, port });
    client.destroy();
  });

  it('sends a reply to { flowId } back over the same connection', async () => {
    const { layer, messages, port } = await tcpServer();
    const client = await connect(port);
    const received = readStream(client);
    client.write(sipMessage('request'));
    const inbound = await messages.next();
    const flow = await layer.send(sipMessage('reply'), { flowId: inbound.flow.id });
    expect(flow).toEqual(inbound.flow);
    expect(await received.messages.next()).toEqual(sipMessage('reply'));
    client.destroy();
  });

  it('delivers many messages over one connection in order, however the bytes are cut', async () => {
    const { messages, port } = await tcpServer();
    const client = await connect(port);
    const all = Buffer.concat(Array.from({ length: 500 }, (_, i) => sipMessage(`m${i}`, 'x'.repeat(i % 37))));
    for (let offset = 0, size = 1; offset < all.length; offset += size, size = (size * 7 + 3) % 997) {
      client.write(all.subarray(offset, offset + size));
    }
    for (let i = 0; i < 500; i++) {
      expect((await messages.next()).data).toEqual(sipMessage(`m${i}`, 'x'.repeat(i % 37)));
    }
    client.destroy();
  });

  it('reuses one connection for two sends to the same destination, even concurrent ones', async () => {
    const server = await tcpServer();
    const client = harness();
    const target = { protocol: 'TCP' as const, address: LOOPBACK, port: server.port };
    const [first, second] = await Promise.all([client.layer.send(sipMessage('a'), target), client.layer.send(sipMessage('b'), target)]);
    const third = await client.layer.send(sipMessage('c'), target);
    expect(second.id).toBe(first.id);
    expect(third.id).toBe(first.id);
    const inbound = [await server.messages.next(), await server.messages.next(), await server.messages.next()];
    expect(inbound.map((m) => m.data)).toEqual([sipMessage('a'), sipMessage('b'), sipMessage('c')]);
    expect(new Set(inbound.map((m) => m.flow.id)).size).toBe(1);
    expect(server.layer.connectionCount).toBe(1);
    expect(client.layer.connectionCount).toBe(1);
  });

  it('receives replies on the connection it opened', async () => {
    const server = await tcpServer();
    const client = harness();
    const flow = await client.layer.send(sipMessage('out'), { protocol: 'TCP', address: LOOPBACK, port: server.port });
    const inbound = await server.messages.next();
    await server.layer.send(sipMessage('back'), { flowId: inbound.flow.id });
    const reply = await client.messages.next();
    expect(reply.data).toEqual(sipMessage('back'));
    expect(reply.flow).toEqual(flow);
  });

  it('rejects a send to a port nobody listens on with ECONNREFUSED', async () => {
    const client = harness();
    const port = await closedPort();
    const error = await client.layer.send(sipMessage('x'), { protocol: 'TCP', address: LOOPBACK, port }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TransportError);
    expect(error).toMatchObject({ code: 'TW_ERR_TRANSPORT_CONNECT', sysCode: 'ECONNREFUSED' });
    expect(client.layer.connectionCount).toBe(0);
  });

  it('reports the flow closed when the peer closes, and then refuses sends to it', async () => {
    const { layer, messages, closed, port } = await tcpServer();
    const client = await connect(port);
    client.write(sipMessage('hello'));
    const { flow } = await messages.next();
    client.end();
    expect(await closed.next()).toEqual({ flow, reason: 'remote' });
    expect(layer.getFlow(flow.id)).toBeUndefined();
    await expect(layer.send(sipMessage('late'), { flowId: flow.id })).rejects.toMatchObject({ code: 'TW_ERR_TRANSPORT_FLOW_GONE' });
  });

  it('closes a connection after the idle timeout, counting traffic as activity', async () => {
    const clock = new FakeClock();
    const { layer, messages, closed, port } = await tcpServer({ clock, idleTimeoutMs: 60_000 });
    const client = await connect(port);
    const received = readStream(client);
    client.write(sipMessage('one'));
    const { flow } = await messages.next();
    clock.advance(50_000);
    client.write(sipMessage('two'));
    await messages.next();
    clock.advance(50_000); // 100 s since the start, 50 s since the last message: still open
    expect(layer.getFlow(flow.id)).toEqual(flow);
    clock.advance(10_000);
    expect(await closed.next()).toEqual({ flow, reason: 'idle' });
    await received.closed;
  });

  it('answers a CRLFCRLF ping with a CRLF pong and ignores a lone CRLF', async () => {
    const { layer, messages, port } = await tcpServer();
    const client = await connect(port);
    const received = readStream(client);
    client.write('\r\n');
    client.write(sipMessage('after-pong'));
    const { flow } = await messages.next();
    await layer.send(sipMessage('reply'), { flowId: flow.id });
    await received.messages.next();
    expect(Buffer.concat(received.raw)).toEqual(sipMessage('reply'));
    client.write('\r\n\r\n');
    await waitFor(() => Buffer.concat(received.raw).length > sipMessage('reply').length);
    expect(Buffer.concat(received.raw).subarray(sipMessage('reply').length).toString()).toBe('\r\n');
    client.destroy();
  });

  it('closes the connection on a framing error', async () => {
    const { messages, closed, errors, port } = await tcpServer();
    const client = await connect(port);
    const received = readStream(client);
    client.write(sipMessage('fine'));
    const { flow } = await messages.next();
    client.write('OPTIONS sip:x SIP/2.0\r\nCall-ID: no-length\r\n\r\n');
    await received.closed;
    expect(await closed.next()).toEqual({ flow, reason: 'framing-error' });
    expect(errors.some((e) => e instanceof FramingError && e.reason === 'missing-content-length')).toBe(true);
    expect(messages.length).toBe(0);
  });

  it('refuses connections beyond the cap, and sends that would need one', async () => {
    const { layer, messages, port } = await tcpServer({ maxConnections: 1 });
    const first = await connect(port);
    first.write(sipMessage('first'));
    await messages.next();
    const second = await connect(port);
    await readStream(second).closed;
    expect(layer.connectionCount).toBe(1);
    const elsewhere = await closedPort();
    await expect(layer.send(sipMessage('x'), { protocol: 'TCP', address: LOOPBACK, port: elsewhere })).rejects.toMatchObject({
      code: 'TW_ERR_TRANSPORT_CONN_LIMIT',
    });
    first.destroy();
  });

  it('drops a message and rejects the send when the connection backlog is over its limit', async () => {
    const { layer, messages, port } = await tcpServer({ maxWriteBacklog: 256 * 1024 });
    const client = await connect(port);
    client.write(sipMessage('hi'));
    const { flow } = await messages.next();
    client.pause(); // the peer stops reading: kernel buffers fill, then the socket's own queue
    const big = sipMessage('big', 'y'.repeat(60_000));
    const sends: Array<Promise<unknown>> = [];
    let refused: unknown;
    for (let i = 0; i < 2000 && !refused; i++) {
      sends.push(layer.send(big, { flowId: flow.id }).catch((e: unknown) => (refused ??= e)));
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(refused).toMatchObject({ code: 'TW_ERR_TRANSPORT_BACKLOG' });
    client.destroy();
    await Promise.all(sends);
  });

  it('keeps working when a message handler throws', async () => {
    const { layer, messages, errors, port } = await tcpServer();
    layer.onMessage(() => {
      throw new Error('handler bug');
    });
    const client = await connect(port);
    client.write(Buffer.concat([sipMessage('1'), sipMessage('2')]));
    expect((await messages.next()).data).toEqual(sipMessage('1'));
    expect((await messages.next()).data).toEqual(sipMessage('2'));
    expect(errors.map((e) => e.message)).toEqual(['handler bug', 'handler bug']);
    client.destroy();
  });

  it('closes every connection and listener on close(), reporting the flows closed', async () => {
    const { layer, messages, closed, port } = await tcpServer();
    const client = await connect(port);
    const received = readStream(client);
    client.write(sipMessage('x'));
    const { flow } = await messages.next();
    await layer.close();
    await received.closed;
    expect(await closed.next()).toEqual({ flow, reason: 'shutdown' });
    await expect(connect(port)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    await expect(layer.send(sipMessage('y'), { flowId: flow.id })).rejects.toMatchObject({ code: 'TW_ERR_TRANSPORT_CLOSED' });
  });

  it('rejects bad targets and listeners instead of throwing', async () => {
    const { layer, port } = await tcpServer();
    await expect(layer.send(sipMessage('x'), { protocol: 'TCP', address: 'example.com', port: 5060 })).rejects.toMatchObject({
      code: 'TW_ERR_TRANSPORT_BAD_TARGET',
    });
    await expect(layer.send(sipMessage('x'), { protocol: 'TCP', address: LOOPBACK, port: 0 })).rejects.toMatchObject({
      code: 'TW_ERR_TRANSPORT_BAD_TARGET',
    });
    await expect(layer.send(sipMessage('x'), { flowId: 'TCP/nope-1' })).rejects.toMatchObject({ code: 'TW_ERR_TRANSPORT_FLOW_GONE' });
    await expect(layer.listen({ protocol: 'TCP', address: 'localhost', port: 0 })).rejects.toMatchObject({ code: 'TW_ERR_TRANSPORT_LISTEN' });
    await expect(layer.listen({ protocol: 'TCP', address: LOOPBACK, port })).rejects.toMatchObject({
      code: 'TW_ERR_TRANSPORT_LISTEN',
      sysCode: 'EADDRINUSE',
    });
  });
});
