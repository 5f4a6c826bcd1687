/**
 * Overload control's measure of the queue (src/observability/overload.ts): probes through a real
 * UDP listener see the requests queued in front of them, so a backlog that stands over the target
 * gets new requests refused, and they are admitted again once it has drained.
 */
import { createSocket } from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import { startOverloadControl, type OverloadControl } from '../../src/observability/overload.js';
import { TransportLayer, type SipRequest } from '../../src/sip/index.js';

const TARGET_MS = 50;
/** Work per request of the slow consumer below, ms: the backlog of BACKLOG requests is ~600 ms. */
const WORK_MS = 0.2;
const BACKLOG = 3000;
const OPTIONS = Buffer.from(
  'OPTIONS sip:probe@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK-x\r\nMax-Forwards: 70\r\n' +
    'From: <sip:a@example.com>;tag=1\r\nTo: <sip:b@example.com>\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n',
);

const cleanup: Array<() => unknown> = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

async function listening(): Promise<{ transports: TransportLayer; port: number }> {
  const transports = new TransportLayer();
  cleanup.push(() => transports.close());
  const bound = await transports.listen({ protocol: 'UDP', address: '127.0.0.1', port: 0 });
  return { transports, port: bound.port };
}

function busy(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function admit(control: OverloadControl): boolean {
  return control.admit!({} as SipRequest).ok;
}

function metric(control: OverloadControl, name: string): number {
  return Number(control.metrics.find((m) => m.name === name)!.read());
}

describe('overload control', () => {
  it('refuses new requests while a backlog stands over the target, and admits again once it has drained', async () => {
    const { transports, port } = await listening();
    const control = startOverloadControl({ enabled: true, targetLatencyMs: TARGET_MS }, transports);
    cleanup.push(() => control.stop());
    const admit = control.admit!;
    const answers: boolean[] = [];
    transports.onMessage((m) => {
      if (m.flow.remote.port !== clientPort) return;
      busy(WORK_MS);
      answers.push(admit({} as SipRequest).ok);
    });
    const client = createSocket('udp4');
    cleanup.push(() => client.close());
    await new Promise<void>((resolve) => client.bind(0, '127.0.0.1', resolve));
    const clientPort = client.address().port;
    await sleep(100);
    expect(admit({} as SipRequest).ok).toBe(true);

    for (let i = 0; i < BACKLOG; i++) client.send(OPTIONS, port, '127.0.0.1');
    while (answers.length < BACKLOG) await sleep(20);
    expect(answers[0]).toBe(true);
    expect(answers.filter((ok) => !ok).length).toBeGreaterThan(BACKLOG / 4);
    expect(metric(control, 'tidewater_overload_refused_total')).toBeGreaterThan(BACKLOG / 4);

    while (metric(control, 'tidewater_overload_queue_delay_ms') > TARGET_MS) await sleep(20);
    expect(admit({} as SipRequest).ok).toBe(true);
  });

  it('stops probing while no SIP message arrives, and starts again with the next one', async () => {
    const { transports, port } = await listening();
    const client = createSocket('udp4');
    cleanup.push(() => client.close());
    await new Promise<void>((resolve) => client.bind(0, '127.0.0.1', resolve));
    const clientPort = client.address().port;
    let probes = 0;
    let requests = 0;
    transports.onMessage((m) => {
      if (m.flow.remote.port === clientPort) requests += 1;
      else probes += 1;
    });
    const control = startOverloadControl({ enabled: true, targetLatencyMs: TARGET_MS }, transports);
    cleanup.push(() => control.stop());

    // A probe every 10 ms, ten of them, then a pause (the old probe went on at 100 a second).
    let before = -1;
    for (let i = 0; i < 20 && probes !== before; i++) {
      before = probes;
      await sleep(250);
    }
    const idleProbes = probes;
    expect(idleProbes).toBe(before);
    expect(idleProbes).toBeGreaterThan(0);
    expect(idleProbes).toBeLessThan(20);

    // Traffic again: probing resumes at once and goes on while requests keep coming.
    for (let i = 0; i < 10; i++) {
      client.send(OPTIONS, port, '127.0.0.1');
      await sleep(20);
    }
    expect(requests).toBe(10);
    expect(probes).toBeGreaterThan(idleProbes + 5);
    expect(admit(control)).toBe(true);
  });

  it('asks nothing of the stack when it is off', async () => {
    const { transports } = await listening();
    const control = startOverloadControl({ enabled: false, targetLatencyMs: TARGET_MS }, transports);
    expect(control.admit).toBeUndefined();
    expect(control.metrics).toEqual([]);
    control.stop();
  });
});
