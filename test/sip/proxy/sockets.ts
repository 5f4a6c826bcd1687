/**
 * Real sockets on 127.0.0.1 around a proxy core: the proxy (UDP and TCP listeners, its own fake
 * clock for the transaction and failover timers), SIP servers behind it that answer as told, a
 * UDP socket that reads and never answers, and a caller. Every node has its own fake clock, so
 * nothing retransmits or times out unless a test advances the proxy's.
 */
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { makeRequest, makeResponse, newBranch, newTag } from '../../../src/sip/message/build.js';
import { SipRequest, SipResponse } from '../../../src/sip/message/message.js';
import { serializeMessage } from '../../../src/sip/message/serialize.js';
import { parseUri } from '../../../src/sip/message/uri.js';
import { parseMessage } from '../../../src/sip/parser/parse.js';
import { ProxyCore, type ProxyCoreOptions } from '../../../src/sip/proxy/core.js';
import { TargetHealth } from '../../../src/sip/proxy/health.js';
import { peerSetResolver } from '../../../src/sip/proxy/peer-set.js';
import { SipStack } from '../../../src/sip/transaction/stack.js';
import type { ClientTransactionHandler, ServerTransaction, TransactionUser } from '../../../src/sip/transaction/types.js';
import { TransportLayer } from '../../../src/sip/transport/manager.js';
import type { SendTarget, TransportProtocol } from '../../../src/sip/transport/types.js';
import { FakeClock } from '../../harness/fake-clock.js';

const LOOPBACK = '127.0.0.1';
/** The host name the proxy forwards every request to; its peer set is what each test configures. */
export const SERVICE = 'core.test';

const closers: Array<() => Promise<void> | void> = [];

/** Closes every socket opened here; call from afterEach. */
export async function closeSockets(): Promise<void> {
  await Promise.all(closers.splice(0).map((close) => close()));
}

/** Waits until `cond` holds; fails naming `what` if it does not within a few seconds (a bound, not a timing). */
export async function until(cond: () => boolean, what: string): Promise<void> {
  const end = Date.now() + 5000;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`gave up waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** A transport layer listening on UDP and TCP on loopback, with a SIP stack on a fake clock. */
async function node(user: TransactionUser | undefined, record?: SendTarget[]) {
  const layer = new TransportLayer();
  const clock = new FakeClock();
  const errors: unknown[] = [];
  const udp = await layer.listen({ protocol: 'UDP', address: LOOPBACK, port: 0 });
  const tcp = await layer.listen({ protocol: 'TCP', address: LOOPBACK, port: 0 });
  const transport = record
    ? { send: (data: Buffer, target: SendTarget) => (record.push(target), layer.send(data, target)) }
    : layer;
  const stack = new SipStack({ transport, clock, autoTrying: false, onError: (e) => errors.push(e) });
  if (user) stack.setUser(user);
  layer.onMessage((m) => stack.receive(m));
  closers.push(() => {
    stack.close();
    return layer.close();
  });
  const port = (p: TransportProtocol): number => (p === 'UDP' ? udp.port : tcp.port);
  return { layer, stack, clock, errors, port };
}

export type ProxyNode = Awaited<ReturnType<typeof proxyNode>>;

/**
 * A proxy forwarding every request to `sip:bob@core.test`, whose peers are `peers` (URIs), with
 * failover and the peer set's round robin sharing one health table. `sends` records every target
 * the proxy sent a message to.
 */
export async function proxyNode(peers: string[], options: Partial<ProxyCoreOptions> = {}) {
  const sends: SendTarget[] = [];
  const n = await node(undefined, sends);
  const health = new TargetHealth({ clock: n.clock });
  const core = new ProxyCore({
    transactions: n.stack,
    clock: n.clock,
    listeners: [
      { protocol: 'UDP', host: LOOPBACK, port: n.port('UDP') },
      { protocol: 'TCP', host: LOOPBACK, port: n.port('TCP') },
    ],
    resolve: peerSetResolver({ peers: { [SERVICE]: peers }, health }),
    health,
    defaultService: { hosts: [], onInitialRequest: (ctx) => ctx.forward({ uri: parseUri(`sip:bob@${SERVICE}`) }) },
    onError: (e) => n.errors.push(e),
    ...options,
  });
  n.stack.setUser(core);
  /** Messages the proxy sent to a TCP or UDP port of 127.0.0.1. */
  const sentTo = (port: number): number => sends.filter((t) => 'port' in t && t.port === port).length;
  return { ...n, core, health, sends, sentTo };
}

/** How a {@link Peer} answers a request other than ACK and CANCEL. */
export type Behaviour = (tx: ServerTransaction, peer: Peer) => void;

/** Answers 200 (an INVITE with a Contact). */
export const accept: Behaviour = (tx, peer) => tx.respond(peer.response(tx.request, 200));
/** Answers 180 and waits (for a CANCEL). */
export const ring: Behaviour = (tx, peer) => tx.respond(peer.response(tx.request, 180));
/** Answers 503, with a Retry-After when given. */
export const unavailable =
  (retryAfterSeconds?: number): Behaviour =>
  (tx, peer) => {
    const res = peer.response(tx.request, 503);
    if (retryAfterSeconds !== undefined) res.append('retry-after', String(retryAfterSeconds));
    tx.respond(res);
  };

/** A SIP server on loopback that answers as its behaviour says and records what it received. */
export class Peer implements TransactionUser {
  readonly requests: SipRequest[] = [];
  /** The server transaction of every request received, in order. */
  readonly transactions: ServerTransaction[] = [];
  readonly tag = newTag();
  behaviour: Behaviour = accept;
  private net!: Awaited<ReturnType<typeof node>>;

  static async start(behaviour: Behaviour = accept): Promise<Peer> {
    const peer = new Peer();
    peer.behaviour = behaviour;
    peer.net = await node(peer);
    return peer;
  }

  port(protocol: TransportProtocol): number {
    return this.net.port(protocol);
  }

  uri(protocol: TransportProtocol): string {
    return `sip:${LOOPBACK}:${this.port(protocol)};transport=${protocol.toLowerCase()}`;
  }

  received(method: string): SipRequest[] {
    return this.requests.filter((r) => r.method === method);
  }

  response(request: SipRequest, status: number): SipResponse {
    const res = makeResponse(request, status, undefined, this.tag);
    if (request.method === 'INVITE' && status < 300) res.append('contact', `<sip:bob@${LOOPBACK}:${this.port('UDP')}>`);
    return res;
  }

  onRequest(tx: ServerTransaction): void {
    this.requests.push(tx.request);
    this.transactions.push(tx);
    if (tx.request.method !== 'CANCEL') return this.behaviour(tx, this);
    const cancel = tx.request;
    tx.respond(makeResponse(cancel, 200, undefined, this.tag));
    const invite = this.net.stack.findInviteForCancel(cancel);
    if (invite && invite.state === 'proceeding') invite.respond(this.response(invite.request, 487));
  }

  onAck(ack: SipRequest): void {
    this.requests.push(ack);
  }

  onStrayResponse(): void {}
}

/**
 * A UDP socket that reads every datagram and answers none by itself: a node cut off, or one that
 * hangs. A test can make it answer late with {@link reply}.
 */
export class Swallower {
  readonly requests: SipRequest[] = [];
  private from: RemoteInfo | undefined;

  private constructor(private readonly socket: Socket) {
    socket.on('message', (data, rinfo) => {
      const m = parseMessage(data);
      if (m instanceof SipRequest) this.requests.push(m);
      this.from = rinfo;
    });
  }

  static async start(): Promise<Swallower> {
    const socket = createSocket('udp4');
    await new Promise<void>((resolve) => socket.bind(0, LOOPBACK, resolve));
    closers.push(() => new Promise<void>((resolve) => socket.close(() => resolve())));
    return new Swallower(socket);
  }

  get uri(): string {
    return `sip:${LOOPBACK}:${this.socket.address().port};transport=udp`;
  }

  received(method: string): SipRequest[] {
    return this.requests.filter((r) => r.method === method);
  }

  /** Answers the last `method` request received with `status` (and a Contact on a 2xx), back where it came from. */
  reply(method: string, status: number): void {
    const req = this.received(method).at(-1)!;
    const res = makeResponse(req, status, undefined, 'late');
    if (status >= 200 && status < 300) res.append('contact', `<sip:bob@${LOOPBACK}:${this.socket.address().port}>`);
    this.socket.send(serializeMessage(res), this.from!.port, this.from!.address);
  }
}

/** What a caller saw of one request: every response, in order. */
export interface Call {
  readonly request: SipRequest;
  readonly responses: SipResponse[];
  readonly statuses: number[];
  readonly final: SipResponse | undefined;
}

/** A user agent client on loopback sending requests to the proxy over UDP. */
export class Caller {
  private constructor(private readonly net: Awaited<ReturnType<typeof node>>) {}

  static async start(): Promise<Caller> {
    return new Caller(await node({ onRequest: () => {}, onAck: () => {}, onStrayResponse: () => {} }));
  }

  /** Sends a new `method` request to `proxy` in a client transaction. */
  send(proxy: ProxyNode, method: string): Call {
    const port = this.net.port('UDP');
    const request = makeRequest(method, 'sip:bob@example.com', [
      ['Via', `SIP/2.0/UDP ${LOOPBACK}:${port};branch=${newBranch()};rport`],
      ['Max-Forwards', '70'],
      ['From', `<sip:alice@example.com>;tag=${newTag()}`],
      ['To', '<sip:bob@example.com>'],
      ['Call-ID', `${newTag()}@test`],
      ['CSeq', `1 ${method}`],
      ['Contact', `<sip:alice@${LOOPBACK}:${port}>`],
    ]);
    return this.sendRequest(proxy, request);
  }

  /** The CANCEL of `call`'s INVITE (§9.1), sent to `proxy`. */
  cancel(proxy: ProxyNode, call: Call): Call {
    const invite = call.request;
    const cancel = new SipRequest('CANCEL', invite.uriString, [], Buffer.alloc(0));
    for (const h of ['via', 'from', 'to', 'call-id']) cancel.append(h, invite.get(h)!);
    cancel.append('cseq', `${invite.cseq.seq} CANCEL`);
    cancel.append('max-forwards', '70');
    return this.sendRequest(proxy, cancel);
  }

  private sendRequest(proxy: ProxyNode, request: SipRequest): Call {
    const responses: SipResponse[] = [];
    const call: Call = {
      request,
      responses,
      get statuses() {
        return responses.map((r) => r.status);
      },
      get final() {
        return responses.find((r) => r.status >= 200);
      },
    };
    const handler: ClientTransactionHandler = {
      onResponse: (res) => responses.push(res),
      onTimeout: () => {},
      onTransportError: () => {},
    };
    this.net.stack.sendRequest(request, { protocol: 'UDP', address: LOOPBACK, port: proxy.port('UDP') }, handler);
    return call;
  }
}
