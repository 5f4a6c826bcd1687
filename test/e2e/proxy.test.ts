import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { parseMessage } from '../../src/sip/parser/parse.js';
import { SipResponse } from '../../src/sip/message/message.js';
import { freeUdpTcpPort, requireTool, startProcess, type RunningProcess } from '../harness/tools.js';
import { parseSippMessages, runSipp, startSippUas, type SippTransport } from '../harness/sipp.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const running: RunningProcess[] = [];

async function startProxy(route: string, extra: string[] = []): Promise<{ port: number; proc: RunningProcess }> {
  const port = await freeUdpTcpPort();
  const proc = await startProcess(
    process.execPath,
    ['--import', 'tsx', 'examples/static-proxy.ts', '--bind', '127.0.0.1', '--udp-port', String(port), '--tcp-port', String(port), '--route', route, ...extra],
    { cwd: repo, readyLine: /^ready$/, timeoutMs: 20_000 },
  );
  running.push(proc);
  return { port, proc };
}

interface CallCase {
  uac: string;
  uas: string;
  uacTransport: SippTransport;
  uasTransport: SippTransport;
  calls?: number;
  proxyArgs?: string[];
  timeoutSec?: number;
}

/** Runs one SIPp UAC against one SIPp UAS through the static proxy; returns both results. */
async function callThroughProxy(c: CallCase) {
  const calls = c.calls ?? 3;
  const uas = await startSippUas({ scenario: c.uas, transport: c.uasTransport, calls, timeoutSec: c.timeoutSec ?? 30 });
  const routeTransport = c.uasTransport.startsWith('t') ? 'tcp' : 'udp';
  const proxy = await startProxy(`sip:127.0.0.1:${uas.port};transport=${routeTransport}`, c.proxyArgs);
  const uac = await runSipp({
    scenario: c.uac,
    remote: `127.0.0.1:${proxy.port}`,
    dest: `127.0.0.1:${uas.port}`,
    transport: c.uacTransport,
    calls,
    rate: 10,
    service: 'bob',
    timeoutSec: c.timeoutSec ?? 30,
  });
  const uasResult = await uas.stop();
  await proxy.proc.stop();
  return { uac, uas: uasResult, calls };
}

function received(log: string, pattern: RegExp): string[] {
  return parseSippMessages(log)
    .filter((m) => m.direction === 'received')
    .map((m) => m.text)
    .filter((t) => pattern.test(t));
}

describe('the static proxy between real SIPp peers on loopback', () => {
  beforeAll(() => {
    requireTool('sipp', 'sip-tester');
  });
  afterAll(async () => {
    await Promise.all(running.map((p) => p.stop()));
  });

  it('completes calls over UDP with the SDP passed through untouched', async () => {
    const { uac, uas, calls } = await callThroughProxy({ uac: 'uac-call', uas: 'uas-answer', uacTransport: 'u1', uasTransport: 'u1' });
    expect(uac.exitCode).toBe(0);
    expect(uac.stats.successful).toBe(calls);
    const invites = received(uas.messages, /^INVITE /);
    expect(invites.length).toBeGreaterThanOrEqual(calls);
    const sent = parseSippMessages(uac.messages).find((m) => m.direction === 'sent' && m.startLine.startsWith('INVITE '))!;
    const sdp = (text: string): string => text.slice(text.indexOf('\n\n') + 2);
    expect(sdp(sent.text)).toMatch(/^v=0\no=caller /);
    expect(sdp(invites[0]!)).toBe(sdp(sent.text));
    expect(invites[0]).toMatch(/Record-Route: <sip:127\.0\.0\.1:\d+;lr>/);
    expect(invites[0]).toMatch(/Max-Forwards: 69/);
  });

  it('completes calls over TCP', async () => {
    const { uac, calls } = await callThroughProxy({ uac: 'uac-call', uas: 'uas-answer', uacTransport: 't1', uasTransport: 't1' });
    expect(uac.exitCode).toBe(0);
    expect(uac.stats.successful).toBe(calls);
  });

  it('completes calls arriving over UDP and leaving over TCP, record-routing both sides', async () => {
    const { uac, uas, calls } = await callThroughProxy({ uac: 'uac-call', uas: 'uas-answer', uacTransport: 'u1', uasTransport: 't1' });
    expect(uac.exitCode).toBe(0);
    expect(uac.stats.successful).toBe(calls);
    const invite = received(uas.messages, /^INVITE /)[0]!;
    expect(invite).toMatch(/Record-Route: <sip:127\.0\.0\.1:\d+;transport=tcp;lr>/);
    expect(invite).toMatch(/Record-Route: <sip:127\.0\.0\.1:\d+;lr>/);
    expect(received(uas.messages, /^BYE /).length).toBeGreaterThanOrEqual(calls);
  });

  it('relays a CANCEL and the caller gets 487 Request Terminated', async () => {
    const { uac, uas, calls } = await callThroughProxy({ uac: 'uac-cancel', uas: 'uas-ring-forever', uacTransport: 'u1', uasTransport: 'u1' });
    expect(uac.exitCode).toBe(0);
    expect(uac.stats.successful).toBe(calls);
    expect(received(uac.messages, /^SIP\/2\.0 487 /).length).toBeGreaterThanOrEqual(calls);
    expect(received(uas.messages, /^CANCEL /).length).toBeGreaterThanOrEqual(calls);
  });

  it('passes a 486 Busy Here back to the caller', async () => {
    const { uac, calls } = await callThroughProxy({ uac: 'uac-busy', uas: 'uas-busy', uacTransport: 'u1', uasTransport: 'u1' });
    expect(uac.exitCode).toBe(0);
    expect(received(uac.messages, /^SIP\/2\.0 486 /).length).toBeGreaterThanOrEqual(calls);
  });

  it('answers 408 to the caller when the callee never answers', async () => {
    const { uac, calls } = await callThroughProxy({
      uac: 'uac-timeout',
      uas: 'uas-silent',
      uacTransport: 'u1',
      uasTransport: 'u1',
      calls: 1,
      proxyArgs: ['--t1', '100'],
      timeoutSec: 40,
    });
    expect(uac.exitCode).toBe(0);
    expect(received(uac.messages, /^SIP\/2\.0 408 /).length).toBe(calls);
  });

  it('carries an OPTIONS from a WebSocket client through to SIPp and the 200 back down the socket', async () => {
    const uas = await startSippUas({ scenario: 'uas-options', transport: 'u1', calls: 1, timeoutSec: 30 });
    const wsPort = await freeUdpTcpPort();
    const proxy = await startProxy(`sip:127.0.0.1:${uas.port}`, ['--ws-port', String(wsPort)]);
    const ws = new WebSocket(`ws://127.0.0.1:${wsPort}`, 'sip');
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    expect(ws.protocol).toBe('sip');
    const answer = new Promise<SipResponse>((resolve) => {
      ws.on('message', (data: Buffer) => {
        const m = parseMessage(Buffer.from(data));
        if (m instanceof SipResponse && m.status >= 200) resolve(m);
      });
    });
    ws.send(
      [
        `OPTIONS sip:bob@127.0.0.1:${uas.port} SIP/2.0`,
        'Via: SIP/2.0/WS df7jal23ls0d.invalid;branch=z9hG4bKws-options-1',
        'Max-Forwards: 70',
        'From: <sip:alice@example.com>;tag=ws1',
        `To: <sip:bob@127.0.0.1:${uas.port}>`,
        'Call-ID: ws-options-1@df7jal23ls0d.invalid',
        'CSeq: 1 OPTIONS',
        'Content-Length: 0',
        '',
        '',
      ].join('\r\n'),
    );
    const res = await answer;
    expect(res.status).toBe(200);
    expect(res.vias.length).toBe(1);
    expect(res.topVia!.host).toBe('df7jal23ls0d.invalid');
    ws.close();
    const uasResult = await uas.stop();
    expect(received(uasResult.messages, /^OPTIONS /).length).toBe(1);
    await proxy.proc.stop();
  });
});
