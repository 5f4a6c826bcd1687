// The test/sipp scenarios, pair by pair, directly against each other (no proxy in between),
// and the parts a proxy test relies on: branches, tags, Via sets, timeouts, traces.
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parseSippMessages, runSipp, startSippUas, type SippTracedMessage, type SippTransport } from './sipp.js';
import { requireTool } from './tools.js';

const VIA_BRANCH = /^Via:.*;branch=([^;\s]+)/im;
const TO_TAG = /^To:.*;tag=([^;\s]+)/im;
const VIA_LINE = /^Via:.*$/gim;

function branchOf(text: string): string | undefined {
  return VIA_BRANCH.exec(text)?.[1];
}

function find(messages: readonly SippTracedMessage[], direction: 'sent' | 'received', method: string): SippTracedMessage {
  const hit = messages.find((m) => m.direction === direction && m.startLine.startsWith(method));
  if (hit === undefined) throw new Error(`no ${direction} ${method} in the trace`);
  return hit;
}

/** A bare UDP peer on 127.0.0.1 that hands over the datagrams it receives, in order. */
class UdpPeer {
  private readonly queue: Array<{ text: string; from: RemoteInfo }> = [];
  private readonly waiting: Array<(msg: { text: string; from: RemoteInfo }) => void> = [];
  private constructor(
    readonly socket: Socket,
    readonly port: number,
  ) {
    socket.on('message', (buf, from) => {
      const msg = { text: buf.toString('latin1'), from };
      const waiter = this.waiting.shift();
      if (waiter) waiter(msg);
      else this.queue.push(msg);
    });
  }

  static async open(): Promise<UdpPeer> {
    const socket = createSocket('udp4');
    await new Promise<void>((resolve) => socket.bind({ address: '127.0.0.1', port: 0 }, resolve));
    return new UdpPeer(socket, socket.address().port);
  }

  /** Next datagram whose first line starts with `prefix` (others are dropped). */
  async next(prefix: string): Promise<{ text: string; from: RemoteInfo }> {
    for (;;) {
      const msg = this.queue.shift() ?? (await new Promise<{ text: string; from: RemoteInfo }>((r) => this.waiting.push(r)));
      if (msg.text.startsWith(prefix)) return msg;
    }
  }

  send(text: string, port: number): void {
    this.socket.send(text.replace(/\n/g, '\r\n'), port, '127.0.0.1');
  }

  close(): void {
    this.socket.close();
  }
}

/** Copies the Via..CSeq headers of a request into a response with `statusLine`. */
function respond(request: string, statusLine: string, toTag: string): string {
  const lines = request.split('\r\n');
  const pick = (name: string): string[] => lines.filter((l) => l.toLowerCase().startsWith(`${name.toLowerCase()}:`));
  const to = pick('To').map((l) => (TO_TAG.test(l) || toTag === '' ? l : `${l};tag=${toTag}`));
  return [statusLine, ...pick('Via'), ...pick('From'), ...to, ...pick('Call-ID'), ...pick('CSeq'), 'Content-Length: 0', '', ''].join('\n');
}

const peers: UdpPeer[] = [];
afterEach(() => {
  for (const p of peers.splice(0)) p.close();
});

beforeAll(() => {
  requireTool('sipp', 'sip-tester');
});

describe.each<SippTransport>(['u1', 't1'])('scenario pairs over %s', (transport) => {
  it.each([
    ['uac-call', 'uas-answer'],
    ['uac-cancel', 'uas-ring-forever'],
    ['uac-busy', 'uas-busy'],
    ['uac-options', 'uas-options'],
  ])('%s completes its call against %s', async (uac, uas) => {
    const callee = await startSippUas({ scenario: uas, transport, timeoutSec: 20 });
    const caller = await runSipp({ scenario: uac, remote: `127.0.0.1:${callee.port}`, transport, timeoutSec: 20 });
    const calleeResult = await callee.result;
    expect(caller.exitCode, caller.errors).toBe(0);
    expect(caller.stats.successful).toBe(1);
    expect(caller.stats.failed).toBe(0);
    expect(calleeResult.exitCode, calleeResult.errors).toBe(0);
    expect(calleeResult.stats.successful).toBe(1);
  });
});

describe('call scenarios', () => {
  it('acknowledges a 200 in a new transaction and sends the BYE inside the dialog', async () => {
    const callee = await startSippUas({ scenario: 'uas-answer', timeoutSec: 20 });
    const caller = await runSipp({ scenario: 'uac-call', remote: `127.0.0.1:${callee.port}`, service: 'bob' });
    await callee.result;
    const msgs = parseSippMessages(caller.messages);
    const target = `sip:127.0.0.1:${callee.port};transport=UDP`;
    expect(msgs.map((m) => `${m.direction} ${m.startLine}`)).toEqual([
      `sent INVITE sip:bob@127.0.0.1:${callee.port} SIP/2.0`,
      'received SIP/2.0 100 Trying',
      'received SIP/2.0 180 Ringing',
      'received SIP/2.0 200 OK',
      `sent ACK ${target} SIP/2.0`,
      `sent BYE ${target} SIP/2.0`,
      'received SIP/2.0 200 OK',
    ]);
    const invite = find(msgs, 'sent', 'INVITE');
    const ack = find(msgs, 'sent', 'ACK');
    const bye = find(msgs, 'sent', 'BYE');
    expect(branchOf(ack.text)).not.toBe(branchOf(invite.text));
    expect(TO_TAG.exec(bye.text)?.[1]).toMatch(/SIPpTag01/);
    expect(invite.text).toContain('Content-Type: application/sdp');
  });

  it('cancels with the INVITE branch and acknowledges the 487 on that branch', async () => {
    const callee = await startSippUas({ scenario: 'uas-ring-forever', timeoutSec: 20 });
    const caller = await runSipp({ scenario: 'uac-cancel', remote: `127.0.0.1:${callee.port}` });
    await callee.result;
    const msgs = parseSippMessages(caller.messages);
    const inviteBranch = branchOf(find(msgs, 'sent', 'INVITE').text);
    expect(branchOf(find(msgs, 'sent', 'CANCEL').text)).toBe(inviteBranch);
    const ack = find(msgs, 'sent', 'ACK');
    expect(branchOf(ack.text)).toBe(inviteBranch);
    expect(ack.text).toMatch(/^CSeq: 1 ACK$/m);
    expect(TO_TAG.exec(ack.text)?.[1]).toBe(TO_TAG.exec(find(msgs, 'received', 'SIP/2.0 487').text)?.[1]);
  });

  it('acknowledges a 486 on the INVITE branch', async () => {
    const callee = await startSippUas({ scenario: 'uas-busy', timeoutSec: 20 });
    const caller = await runSipp({ scenario: 'uac-busy', remote: `127.0.0.1:${callee.port}` });
    await callee.result;
    const msgs = parseSippMessages(caller.messages);
    expect(branchOf(find(msgs, 'sent', 'ACK').text)).toBe(branchOf(find(msgs, 'sent', 'INVITE').text));
  });
});

describe('uas-ring-forever behind a proxy', () => {
  it('answers the 487 with every Via of the INVITE although the CANCEL carries one', async () => {
    const proxy = await UdpPeer.open();
    peers.push(proxy);
    const callee = await startSippUas({ scenario: 'uas-ring-forever', timeoutSec: 20 });
    const vias = `Via: SIP/2.0/UDP 127.0.0.1:${proxy.port};branch=z9hG4bKproxy1\nVia: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bKcaller1`;
    const common = `From: <sip:a@example.com>;tag=f1\nTo: <sip:b@example.com>\nCall-ID: ring-1@test\nMax-Forwards: 69`;
    proxy.send(`INVITE sip:b@127.0.0.1:${callee.port} SIP/2.0\n${vias}\n${common}\nCSeq: 7 INVITE\nContact: <sip:a@127.0.0.1:5999>\nContent-Length: 0\n\n`, callee.port);
    await proxy.next('SIP/2.0 180');
    proxy.send(`CANCEL sip:b@127.0.0.1:${callee.port} SIP/2.0\n${vias.split('\n')[0]}\n${common}\nCSeq: 7 CANCEL\nContent-Length: 0\n\n`, callee.port);
    const ok = await proxy.next('SIP/2.0 200');
    const terminated = await proxy.next('SIP/2.0 487');
    expect(ok.text).toMatch(/^CSeq: 7 CANCEL\r$/m);
    expect(terminated.text.match(VIA_LINE)?.map((l) => l.trim())).toEqual(vias.split('\n'));
    expect(terminated.text).toMatch(/^CSeq: 7 INVITE\r$/m);
    expect(TO_TAG.exec(terminated.text)?.[1]).toBe(TO_TAG.exec(ok.text)?.[1]);
    const toWithTag = TO_TAG.exec(terminated.text)?.[0] ?? '';
    proxy.send(`ACK sip:b@127.0.0.1:${callee.port} SIP/2.0\n${vias.split('\n')[0]}\n${common.replace(/^To:.*$/m, toWithTag)}\nCSeq: 7 ACK\nContent-Length: 0\n\n`, callee.port);
    const result = await callee.result;
    expect(result.exitCode, result.errors).toBe(0);
  });
});

describe('timeout scenarios', () => {
  it('uac-timeout takes a 408 after a 100 and acknowledges it on the INVITE branch', async () => {
    const proxy = await UdpPeer.open();
    peers.push(proxy);
    const run = runSipp({ scenario: 'uac-timeout', remote: `127.0.0.1:${proxy.port}`, timeoutSec: 20 });
    const invite = await proxy.next('INVITE');
    proxy.send(respond(invite.text, 'SIP/2.0 100 Trying', ''), invite.from.port);
    proxy.send(respond(invite.text, 'SIP/2.0 408 Request Timeout', 'p1'), invite.from.port);
    const ack = await proxy.next('ACK');
    const caller = await run;
    expect(caller.exitCode, caller.errors).toBe(0);
    expect(branchOf(ack.text)).toBe(branchOf(invite.text));
    expect(TO_TAG.exec(ack.text)?.[1]).toBe('p1');
  });

  it('uas-silent never answers and absorbs the INVITE retransmissions', async () => {
    const callee = await startSippUas({ scenario: 'uas-silent', timeoutSec: 30 });
    const caller = await runSipp({
      scenario: 'uac-call',
      remote: `127.0.0.1:${callee.port}`,
      timeoutSec: 10,
      recvTimeoutMs: 2_000,
    });
    const calleeResult = await callee.stop();
    expect(caller.exitCode).not.toBe(0);
    expect(caller.stats.failed).toBe(1);
    expect(caller.stats.retransmissions).toBeGreaterThanOrEqual(1);
    const seen = parseSippMessages(calleeResult.messages);
    const invites = seen.filter((m) => m.direction === 'received' && m.startLine.startsWith('INVITE'));
    expect(invites.length).toBeGreaterThanOrEqual(2);
    expect(seen.filter((m) => m.direction === 'sent')).toEqual([]);
    expect(calleeResult.stats.failed).toBe(0);
  });
});

describe('runSipp', () => {
  it('runs several calls at a rate and records their response times', async () => {
    const callee = await startSippUas({ scenario: 'uas-answer', calls: 20, timeoutSec: 20 });
    const caller = await runSipp({
      scenario: 'uac-call',
      remote: `127.0.0.1:${callee.port}`,
      calls: 20,
      rate: 200,
      rtt: true,
      traceMessages: false,
    });
    await callee.result;
    expect(caller.exitCode).toBe(0);
    expect(caller.stats.created).toBe(20);
    expect(caller.stats.successful).toBe(20);
    expect(caller.rtt.get(1)).toHaveLength(20);
    expect(caller.messages).toBe('');
  });

  it('reports a local port that is already taken as a bind failure', async () => {
    const taken = await UdpPeer.open();
    peers.push(taken);
    const res = await runSipp({ scenario: 'uac-options', remote: '127.0.0.1:9', localPort: taken.port, timeoutSec: 5 });
    expect(res.exitCode).toBe(254);
    await expect(startSippUas({ scenario: 'uas-options', localPort: taken.port, timeoutSec: 5 })).rejects.toThrow(
      /exited before listening \(exit 254\)/,
    );
  });

  it('ends with a failure exit code when the peer stays silent until the timeout', async () => {
    const silent = await UdpPeer.open();
    peers.push(silent);
    const res = await runSipp({ scenario: 'uac-options', remote: `127.0.0.1:${silent.port}`, timeoutSec: 2 });
    expect(res.exitCode, res.stdout.slice(-1500)).toBe(255);
    expect(res.timedOut).toBe(false);
    expect(res.stats.successful).toBe(0);
    expect(res.stats.retransmissions).toBeGreaterThanOrEqual(1);
    expect(res.errors).toMatch(/timed out/);
  });
});
