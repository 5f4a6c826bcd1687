import net from 'node:net';
import tls from 'node:tls';
import { FakeClock } from '../../harness/fake-clock.js';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { LOOPBACK, closeAll, harness, readStream, selfSignedCertificate, sipMessage, waitFor } from './helpers.js';

let credentials: { cert: string; key: string };

beforeAll(async () => {
  credentials = await selfSignedCertificate();
});

afterEach(closeAll);

async function tlsServer() {
  const h = harness();
  const bound = await h.layer.listen({ protocol: 'TLS', address: LOOPBACK, port: 0, tls: credentials });
  return { ...h, port: bound.port };
}

function connect(port: number): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: LOOPBACK, port, ca: credentials.cert }, () => resolve(socket));
    socket.once('error', reject);
  });
}

describe('TLS transport', () => {
  it('delivers a message from a TLS client with a TLS flow and replies over the same connection', async () => {
    const server = await tlsServer();
    const client = await connect(server.port);
    const received = readStream(client);
    client.write(sipMessage('secure'));
    const inbound = await server.messages.next();
    expect(inbound.data).toEqual(sipMessage('secure'));
    expect(inbound.flow.protocol).toBe('TLS');
    expect(inbound.flow.remote).toEqual({ address: LOOPBACK, port: client.localPort });
    await server.layer.send(sipMessage('reply'), { flowId: inbound.flow.id });
    expect(await received.messages.next()).toEqual(sipMessage('reply'));
    client.destroy();
    expect(await server.closed.next()).toEqual({ flow: inbound.flow, reason: 'remote' });
  });

  it('opens a verified TLS connection to a server and reuses it', async () => {
    const server = await tlsServer();
    const client = harness({ tlsClient: { ca: credentials.cert } });
    const target = { protocol: 'TLS' as const, address: LOOPBACK, port: server.port };
    const first = await client.layer.send(sipMessage('1'), target);
    const second = await client.layer.send(sipMessage('2'), target);
    expect(second.id).toBe(first.id);
    const inbound = await server.messages.next();
    expect(inbound.data).toEqual(sipMessage('1'));
    expect((await server.messages.next()).flow.id).toBe(inbound.flow.id);
    await server.layer.send(sipMessage('back'), { flowId: inbound.flow.id });
    expect(await client.messages.next()).toEqual({ data: sipMessage('back'), flow: first });
  });

  it('verifies the certificate against the server name when one is given', async () => {
    const server = await tlsServer();
    const client = harness({ tlsClient: { ca: credentials.cert } });
    const flow = await client.layer.send(sipMessage('sni'), { protocol: 'TLS', address: LOOPBACK, port: server.port, servername: 'localhost' });
    expect(flow.protocol).toBe('TLS');
    const wrong = harness({ tlsClient: { ca: credentials.cert } });
    await expect(
      wrong.layer.send(sipMessage('sni'), { protocol: 'TLS', address: LOOPBACK, port: server.port, servername: 'sip.example.com' }),
    ).rejects.toMatchObject({ code: 'TW_ERR_TRANSPORT_CONNECT' });
  });

  it('refuses to send over a connection to a server it cannot verify', async () => {
    const server = await tlsServer();
    const client = harness();
    const error = await client.layer.send(sipMessage('x'), { protocol: 'TLS', address: LOOPBACK, port: server.port }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'TW_ERR_TRANSPORT_CONNECT', sysCode: 'DEPTH_ZERO_SELF_SIGNED_CERT' });
    expect(server.messages.length).toBe(0);
    expect(client.layer.connectionCount).toBe(0);
  });

  it('closes TLS connections and listeners on close()', async () => {
    const server = await tlsServer();
    const client = await connect(server.port);
    const received = readStream(client);
    client.write(sipMessage('x'));
    await server.messages.next();
    await server.layer.close();
    await received.closed;
    expect(server.layer.connectionCount).toBe(0);
  });

  it('gives up on a handshake that never completes after the connect timeout', async () => {
    // Accepts TCP, reads and discards the ClientHello, never answers.
    const silent = net.createServer((socket) => socket.on('error', () => undefined).resume());
    await new Promise<void>((resolve) => silent.listen(0, LOOPBACK, resolve));
    const accepted: net.Socket[] = [];
    silent.on('connection', (socket) => accepted.push(socket));
    const clock = new FakeClock();
    const client = harness({ clock, connectTimeoutMs: 5000, tlsClient: { ca: credentials.cert } });
    const port = (silent.address() as net.AddressInfo).port;
    const sending = client.layer.send(sipMessage('x'), { protocol: 'TLS', address: LOOPBACK, port }).catch((e: unknown) => e);
    await waitFor(() => accepted.length === 1);
    clock.advance(4999);
    expect(client.layer.connectionCount).toBe(0);
    clock.advance(1);
    expect(await sending).toMatchObject({ code: 'TW_ERR_TRANSPORT_CONNECT_TIMEOUT' });
    await new Promise((resolve) => silent.close(resolve)); // only once the abandoned connection is closed
  });
});
