/** The SIP listeners of a node: UDP and TCP on one port, even when the first port picked is taken for TCP. */
import dgram from 'node:dgram';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { listenSip } from '../../src/cli/sip-node.js';
import { TransportLayer, type BoundListener, type ListenerConfig } from '../../src/sip/index.js';

const LOOPBACK = '127.0.0.1';
const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A TCP port held by another socket whose UDP side is free. */
async function portTakenForTcpOnly(): Promise<number> {
  for (;;) {
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(0, LOOPBACK, resolve));
    const port = (server.address() as net.AddressInfo).port;
    const probe = dgram.createSocket('udp4');
    const free = await new Promise<boolean>((resolve) => probe.once('error', () => resolve(false)).bind(port, LOOPBACK, () => resolve(true)));
    await new Promise<void>((resolve) => (free ? probe.close(() => resolve()) : resolve()));
    if (free) {
      cleanups.push(() => new Promise((resolve) => server.close(resolve)));
      return port;
    }
    await new Promise((resolve) => server.close(resolve));
  }
}

/** A real transport layer whose first "any free port" for UDP lands on `port` (as the kernel might pick it). */
class FirstUdpPortOn extends TransportLayer {
  private first = true;
  constructor(private readonly port: number) {
    super();
  }
  override listen(config: ListenerConfig): Promise<BoundListener> {
    if (config.protocol === 'UDP' && config.port === 0 && this.first) {
      this.first = false;
      return super.listen({ ...config, port: this.port });
    }
    return super.listen(config);
  }
}

describe('listenSip', () => {
  it('puts UDP and TCP on another free port when the one UDP got is taken for TCP, keeping no listener on it', async () => {
    const taken = await portTakenForTcpOnly();
    const layer = new FirstUdpPortOn(taken);
    cleanups.push(() => layer.close());
    const { proxy, info } = await listenSip(layer, LOOPBACK, [
      ['UDP', 0],
      ['TCP', 0],
    ]);
    const port = proxy[0]!.port;
    expect(port).not.toBe(taken);
    expect(proxy.map((l) => [l.protocol, l.port])).toEqual([
      ['UDP', port],
      ['TCP', port],
    ]);
    expect(info.map((l) => `${l.protocol} ${l.address}:${l.port}`)).toEqual([`udp ${LOOPBACK}:${port}`, `tcp ${LOOPBACK}:${port}`]);
    expect(layer.listeners.map((l) => `${l.protocol} ${l.port}`)).toEqual([`UDP ${port}`, `TCP ${port}`]);
    // the UDP side of the taken port was given back
    const probe = dgram.createSocket('udp4');
    await new Promise<void>((resolve, reject) => probe.once('error', reject).bind(taken, LOOPBACK, resolve));
    await new Promise<void>((resolve) => probe.close(() => resolve()));
  });

  it('fails naming the port when a fixed port is taken', async () => {
    const taken = await portTakenForTcpOnly();
    const layer = new TransportLayer();
    cleanups.push(() => layer.close());
    await expect(
      listenSip(layer, LOOPBACK, [
        ['UDP', taken],
        ['TCP', taken],
      ]),
    ).rejects.toThrow(`cannot listen on TCP ${LOOPBACK}:${taken}`);
  });
});
