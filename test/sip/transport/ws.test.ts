import http from 'node:http';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket, type RawData } from 'ws';
import type { ListenerConfig } from '../../../src/sip/transport/manager.js';
import { FakeClock } from '../../harness/fake-clock.js';
import { LOOPBACK, Queue, closeAll, harness, selfSignedCertificate, sipMessage } from './helpers.js';

let credentials: { cert: string; key: string };

beforeAll(async () => {
  credentials = await selfSignedCertificate();
});

afterEach(closeAll);

async function wsServer(protocol: 'WS' | 'WSS', extra: Partial<ListenerConfig> = {}, options: Parameters<typeof harness>[0] = {}) {
  const h = harness(options);
  const tls = protocol === 'WSS' ? credentials : undefined;
  const bound = await h.layer.listen({ protocol, address: LOOPBACK, port: 0, tls, ...extra });
  return { ...h, port: bound.port };
}

interface Client {
  ws: WebSocket;
  received: Queue<{ data: Buffer; binary: boolean }>;
}

function wsClient(url: string, protocols: string[] = ['sip']): Promise<Client> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, protocols, { ca: credentials.cert });
    const received = new Queue<{ data: Buffer; binary: boolean }>();
    ws.on('message', (data: RawData, binary: boolean) => received.push({ data: data as Buffer, binary }));
    ws.once('open', () => resolve({ ws, received }));
    ws.once('error', reject);
  });
}

describe.each(['WS', 'WSS'] as const)('%s transport', (protocol) => {
  const scheme = protocol === 'WSS' ? 'wss' : 'ws';

  it('delivers each WebSocket message as one SIP message and replies over the same connection', async () => {
    const server = await wsServer(protocol);
    const client = await wsClient(`${scheme}://${LOOPBACK}:${server.port}/`);
    expect(client.ws.protocol).toBe('sip');
    client.ws.send(sipMessage('text').toString());
    client.ws.send(sipMessage('binary'), { binary: true });
    const first = await server.messages.next();
    expect(first.data).toEqual(sipMessage('text'));
    expect(first.flow.protocol).toBe(protocol);
    expect(first.flow.local).toEqual({ address: LOOPBACK, port: server.port });
    const second = await server.messages.next();
    expect(second.data).toEqual(sipMessage('binary'));
    expect(second.flow).toEqual(first.flow);
    await server.layer.send(sipMessage('reply'), { flowId: first.flow.id });
    expect(await client.received.next()).toEqual({ data: sipMessage('reply'), binary: false });
    client.ws.close();
    expect(await server.closed.next()).toEqual({ flow: first.flow, reason: 'remote' });
  });

  it('refuses a handshake that does not offer the sip subprotocol', async () => {
    const server = await wsServer(protocol);
    await expect(wsClient(`${scheme}://${LOOPBACK}:${server.port}/`, ['chat'])).rejects.toThrow(/400/);
    await expect(wsClient(`${scheme}://${LOOPBACK}:${server.port}/`, [])).rejects.toThrow(/400/);
    expect(server.layer.connectionCount).toBe(0);
  });

  it('opens a connection to a WebSocket server with subprotocol sip and reuses it', async () => {
    const server = await wsServer(protocol, { path: '/sip' });
    const client = harness({ tlsClient: { ca: credentials.cert } });
    const target = { protocol, address: LOOPBACK, port: server.port, path: '/sip' };
    const [first, second] = await Promise.all([client.layer.send(sipMessage('1'), target), client.layer.send(sipMessage('2'), target)]);
    expect(second.id).toBe(first.id);
    const inbound = await server.messages.next();
    expect(inbound.data).toEqual(sipMessage('1'));
    expect((await server.messages.next()).data).toEqual(sipMessage('2'));
    await server.layer.send(sipMessage('back'), { flowId: inbound.flow.id });
    expect(await client.messages.next()).toEqual({ data: sipMessage('back'), flow: first });
    expect(server.layer.connectionCount).toBe(1);
  });

  it('refuses an upgrade on another path when a path is configured', async () => {
    const server = await wsServer(protocol, { path: '/sip' });
    await expect(wsClient(`${scheme}://${LOOPBACK}:${server.port}/other`)).rejects.toThrow(/404/);
  });
});

describe('WS transport', () => {
  it('sends a message whose body is not UTF-8 in a binary frame', async () => {
    const server = await wsServer('WS');
    const client = await wsClient(`ws://${LOOPBACK}:${server.port}/`);
    client.ws.send(sipMessage('hi').toString());
    const { flow } = await server.messages.next();
    const binary = Buffer.concat([sipMessage('bin', '\u0000\u0000').subarray(0, -2), Buffer.from([0xff, 0xfe])]);
    await server.layer.send(binary, { flowId: flow.id });
    expect(await client.received.next()).toEqual({ data: binary, binary: true });
    client.ws.close();
  });

  it('answers a CRLFCRLF keepalive message with CRLF and delivers neither it nor a lone CRLF', async () => {
    const server = await wsServer('WS');
    const client = await wsClient(`ws://${LOOPBACK}:${server.port}/`);
    client.ws.send('\r\n');
    client.ws.send('\r\n\r\n');
    expect((await client.received.next()).data.toString()).toBe('\r\n');
    client.ws.send(sipMessage('after').toString());
    expect((await server.messages.next()).data).toEqual(sipMessage('after'));
    expect(client.received.length).toBe(0);
    client.ws.close();
  });

  it('answers a plain HTTP request with 426 Upgrade Required', async () => {
    const server = await wsServer('WS');
    const status = await new Promise<number | undefined>((resolve, reject) => {
      http.get({ host: LOOPBACK, port: server.port, path: '/' }, (response) => {
        response.resume();
        resolve(response.statusCode);
      }).once('error', reject);
    });
    expect(status).toBe(426);
  });

  it('closes an idle WebSocket connection', async () => {
    const clock = new FakeClock();
    const server = await wsServer('WS', {}, { clock, idleTimeoutMs: 1000 });
    const client = await wsClient(`ws://${LOOPBACK}:${server.port}/`);
    client.ws.send(sipMessage('x').toString());
    const { flow } = await server.messages.next();
    const clientClosed = new Promise<number>((resolve) => client.ws.once('close', (code) => resolve(code)));
    clock.advance(1000);
    expect(await server.closed.next()).toEqual({ flow, reason: 'idle' });
    expect(await clientClosed).toBe(1000);
  });

  it('refuses an upgrade over the connection cap with 503', async () => {
    const server = await wsServer('WS', {}, { maxConnections: 1 });
    const first = await wsClient(`ws://${LOOPBACK}:${server.port}/`);
    await expect(wsClient(`ws://${LOOPBACK}:${server.port}/`)).rejects.toThrow(/503/);
    first.ws.close();
  });
});
