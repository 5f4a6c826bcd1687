import dgram from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import { KNOWN_FLOWS, UdpListener, parseUdpFlowId, udpFlowId } from '../../../src/sip/transport/udp.js';
import { LOOPBACK, Queue, closeAll, harness, sipMessage } from './helpers.js';

afterEach(closeAll);

async function udpClient(): Promise<{ socket: dgram.Socket; port: number; received: Queue<Buffer> }> {
  const socket = dgram.createSocket('udp4');
  const received = new Queue<Buffer>();
  socket.on('message', (data) => received.push(data));
  await new Promise<void>((resolve) => socket.bind(0, LOOPBACK, resolve));
  return { socket, port: socket.address().port, received };
}

async function udpServer() {
  const h = harness();
  const bound = await h.layer.listen({ protocol: 'UDP', address: LOOPBACK, port: 0 });
  return { ...h, port: bound.port };
}

describe('UDP transport', () => {
  it('delivers a datagram as one message with the sender as its flow, and answers to { flowId }', async () => {
    const server = await udpServer();
    const client = await udpClient();
    client.socket.send(sipMessage('request'), server.port, LOOPBACK);
    const inbound = await server.messages.next();
    expect(inbound.data).toEqual(sipMessage('request'));
    expect(inbound.flow).toEqual({
      id: udpFlowId({ address: LOOPBACK, port: server.port }, { address: LOOPBACK, port: client.port }),
      protocol: 'UDP',
      local: { address: LOOPBACK, port: server.port },
      remote: { address: LOOPBACK, port: client.port },
    });
    const used = await server.layer.send(sipMessage('reply'), { flowId: inbound.flow.id });
    expect(used).toEqual(inbound.flow);
    expect(await client.received.next()).toEqual(sipMessage('reply'));
    client.socket.close();
  });

  it('sends to an address from the listening socket, on the same flow the peer sends on', async () => {
    const server = await udpServer();
    const client = await udpClient();
    const flow = await server.layer.send(sipMessage('out'), { protocol: 'UDP', address: LOOPBACK, port: client.port });
    expect(await client.received.next()).toEqual(sipMessage('out'));
    client.socket.send(sipMessage('back'), server.port, LOOPBACK);
    expect((await server.messages.next()).flow).toEqual(flow);
    expect(server.layer.getFlow(flow.id)).toEqual(flow);
    client.socket.close();
  });

  it('drops CRLF keepalive datagrams instead of delivering them', async () => {
    const server = await udpServer();
    const client = await udpClient();
    client.socket.send('\r\n\r\n', server.port, LOOPBACK);
    client.socket.send(sipMessage('real'), server.port, LOOPBACK);
    expect((await server.messages.next()).data).toEqual(sipMessage('real'));
    expect(server.messages.length).toBe(0);
    client.socket.close();
  });

  it('rejects a send to an address family it has no socket for', async () => {
    const server = await udpServer();
    await expect(server.layer.send(sipMessage('x'), { protocol: 'UDP', address: '::1', port: 5060 })).rejects.toMatchObject({
      code: 'TW_ERR_TRANSPORT_NO_LISTENER',
    });
  });

  it('rejects a send on a UDP flow of a socket that is not listening', async () => {
    const server = await udpServer();
    const other = udpFlowId({ address: LOOPBACK, port: server.port === 65535 ? 1 : server.port + 1 }, { address: LOOPBACK, port: 5060 });
    await expect(server.layer.send(sipMessage('x'), { flowId: other })).rejects.toMatchObject({ code: 'TW_ERR_TRANSPORT_FLOW_GONE' });
  });

  it('round-trips IPv6 endpoints through a flow id and refuses malformed ones', () => {
    const local = { address: '2001:db8::1', port: 5060 };
    const remote = { address: 'fe80::1', port: 40000 };
    expect(parseUdpFlowId(udpFlowId(local, remote))).toEqual({ local, remote });
    expect(parseUdpFlowId('UDP/2001:db8::1/5060/not-an-ip/1')).toBeUndefined();
    expect(parseUdpFlowId('UDP/2001:db8::1/5060/::1/70000')).toBeUndefined();
    expect(parseUdpFlowId('TCP/abc-1')).toBeUndefined();
  });
});

describe('UDP flow table', () => {
  async function listener(): Promise<UdpListener> {
    const l = await UdpListener.bind({ address: LOOPBACK, port: 0, ipv6Only: false, bufferSize: 65536 }, 65535, () => undefined, () => undefined);
    afterEachClose.push(() => l.close());
    return l;
  }
  const afterEachClose: (() => Promise<void>)[] = [];
  afterEach(async () => {
    await Promise.all(afterEachClose.splice(0).map((close) => close()));
  });

  it('gives a peer the same flow object each time, and distinct peers their own', async () => {
    const l = await listener();
    const a = l.flowTo('192.0.2.1', 5060);
    expect(l.flowTo('192.0.2.1', 5060)).toBe(a);
    expect(a.id).toBe(udpFlowId(l.local, { address: '192.0.2.1', port: 5060 }));
    expect(a.remote).toEqual({ address: '192.0.2.1', port: 5060 });
    const otherPort = l.flowTo('192.0.2.1', 5062);
    const otherHost = l.flowTo('192.0.2.2', 5060);
    expect(otherPort).not.toBe(a);
    expect(otherHost).not.toBe(a);
    expect(new Set([a.id, otherPort.id, otherHost.id]).size).toBe(3);
  });

  it('forgets the oldest addresses once full, a sixteenth of the table at a time', async () => {
    const l = await listener();
    const flows = [];
    for (let i = 0; i < KNOWN_FLOWS; i++) flows.push(l.flowTo(`198.51.${100 + (i >> 12)}.${(i >> 4) & 255}`, 1024 + (i & 15)));
    for (let i = 0; i < KNOWN_FLOWS; i += 97) expect(l.flowTo(flows[i]!.remote.address, flows[i]!.remote.port)).toBe(flows[i]);
    l.flowTo('192.0.2.1', 5060);
    const gone = KNOWN_FLOWS >> 4;
    expect(l.flowTo(flows[0]!.remote.address, flows[0]!.remote.port)).not.toBe(flows[0]);
    expect(l.flowTo(flows[gone - 1]!.remote.address, flows[gone - 1]!.remote.port)).not.toBe(flows[gone - 1]);
    expect(l.flowTo(flows[gone + 16]!.remote.address, flows[gone + 16]!.remote.port)).toBe(flows[gone + 16]);
    expect(l.flowTo(flows[KNOWN_FLOWS - 1]!.remote.address, flows[KNOWN_FLOWS - 1]!.remote.port)).toBe(flows[KNOWN_FLOWS - 1]);
  });

  it('takes the oldest ports of an address with more flows than that (a NAT), not all of them', async () => {
    const l = await listener();
    const flows = [];
    for (let i = 0; i < KNOWN_FLOWS; i++) flows.push(l.flowTo('203.0.113.9', 1024 + i));
    l.flowTo('192.0.2.1', 5060);
    const gone = KNOWN_FLOWS >> 4;
    expect(l.flowTo('203.0.113.9', 1024)).not.toBe(flows[0]);
    expect(l.flowTo('203.0.113.9', 1024 + gone - 1)).not.toBe(flows[gone - 1]);
    expect(l.flowTo('203.0.113.9', 1024 + gone + 1)).toBe(flows[gone + 1]);
    expect(l.flowTo('203.0.113.9', 1024 + KNOWN_FLOWS - 1)).toBe(flows[KNOWN_FLOWS - 1]);
  });
});
