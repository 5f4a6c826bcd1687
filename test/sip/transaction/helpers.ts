import { makeRequest, makeResponse } from '../../../src/sip/message/build.js';
import type { SipRequest, SipResponse } from '../../../src/sip/message/message.js';
import { serializeMessage } from '../../../src/sip/message/serialize.js';
import { SipStack, type SipStackOptions } from '../../../src/sip/transaction/stack.js';
import type {
  ClientTransaction,
  ClientTransactionHandler,
  ServerTransaction,
  ServerTransactionFailure,
  TransactionUser,
} from '../../../src/sip/transaction/types.js';
import type { Endpoint, Flow } from '../../../src/sip/transport/types.js';
import { FakeClock } from '../../harness/fake-clock.js';
import { FakeNetwork, type FakeEndpoint, type FakeProtocol, type Packet, type Received } from '../../harness/fake-transport.js';

export const PROTOCOLS: FakeProtocol[] = ['UDP', 'TCP'];
/** The stack under test. */
export const LOCAL: Endpoint = { address: '192.0.2.10', port: 5060 };
/** The scripted peer. */
export const PEER: Endpoint = { address: '192.0.2.20', port: 5060 };
export const T1 = 500;
export const T2 = 4000;
export const T4 = 5000;

/**
 * The request each server transaction began with, as a TU keeps it: a transaction lets go of its
 * request at the final response, and these tests answer again after that.
 */
export const requestOf = new WeakMap<ServerTransaction, SipRequest>();

/** A transaction user that records everything and lets a test react to new requests. */
export class RecordingUser implements TransactionUser {
  readonly requests: ServerTransaction[] = [];
  readonly acks: Array<{ ack: SipRequest; flow: Flow }> = [];
  readonly strays: SipResponse[] = [];
  readonly failures: Array<{ tx: ServerTransaction; failure: ServerTransactionFailure; at: number }> = [];
  onRequestHook: ((tx: ServerTransaction) => void) | undefined;

  constructor(private readonly clock: FakeClock) {}

  onRequest(tx: ServerTransaction): void {
    requestOf.set(tx, tx.request);
    this.requests.push(tx);
    this.onRequestHook?.(tx);
  }
  onAck(ack: SipRequest, flow: Flow): void {
    this.acks.push({ ack, flow });
  }
  onStrayResponse(response: SipResponse): void {
    this.strays.push(response);
  }
  onServerTransactionFailure(tx: ServerTransaction, failure: ServerTransactionFailure): void {
    this.failures.push({ tx, failure, at: this.clock.now() });
  }
}

/** A client transaction handler that records what it is told and when. */
export class RecordingHandler implements ClientTransactionHandler {
  readonly responses: SipResponse[] = [];
  readonly timeouts: number[] = [];
  readonly transportErrors: Error[] = [];

  constructor(private readonly clock: FakeClock) {}

  onResponse(response: SipResponse): void {
    this.responses.push(response);
  }
  onTimeout(_tx: ClientTransaction): void {
    this.timeouts.push(this.clock.now());
  }
  onTransportError(error: Error): void {
    this.transportErrors.push(error);
  }
  get statuses(): number[] {
    return this.responses.map((r) => r.status);
  }
}

export interface Rig {
  protocol: FakeProtocol;
  clock: FakeClock;
  net: FakeNetwork;
  stack: SipStack;
  user: RecordingUser;
  local: FakeEndpoint;
  peer: FakeEndpoint;
  errors: Array<{ error: unknown; context: string }>;
  /** Advances fake time and lets every message in flight arrive. */
  advance(ms: number): Promise<void>;
  handler(): RecordingHandler;
  /** Sends a message from the peer to the stack (a new connection for TCP). */
  peerSend(message: SipRequest | SipResponse | Buffer): Promise<Flow>;
  /** The peer answers a message it received, over the flow it came on. */
  peerReply(to: Received, status: number, toTag?: string): Promise<SipResponse>;
}

export function rig(protocol: FakeProtocol, options: Partial<SipStackOptions> = {}): Rig {
  const clock = new FakeClock();
  const net = new FakeNetwork(clock);
  const local = net.endpoint(protocol, LOCAL.address, LOCAL.port);
  const peer = net.endpoint(protocol, PEER.address, PEER.port);
  const user = new RecordingUser(clock);
  const errors: Rig['errors'] = [];
  const stack = new SipStack({ transport: local, user, clock, onError: (error, context) => errors.push({ error, context }), ...options });
  local.onMessage = (m) => stack.receive(m);
  return {
    protocol,
    clock,
    net,
    stack,
    user,
    local,
    peer,
    errors,
    async advance(ms) {
      clock.advance(ms);
      await net.flush();
    },
    handler: () => new RecordingHandler(clock),
    async peerSend(message) {
      const data = Buffer.isBuffer(message) ? message : serializeMessage(message);
      const flow = await peer.send(data, { protocol, ...LOCAL });
      await net.flush();
      return flow;
    },
    async peerReply(to, status, toTag) {
      const response = makeResponse(to.message as SipRequest, status, undefined, toTag);
      await peer.send(serializeMessage(response), { flowId: to.flow.id });
      await net.flush();
      return response;
    },
  };
}

export interface RequestSpec {
  protocol: FakeProtocol;
  /** The sender: LOCAL for requests the stack sends, PEER for requests the peer sends. */
  from?: Endpoint;
  branch?: string;
  /** Extra Via values below the top one. */
  lowerVias?: string[];
  /** Parameters appended to the top Via (e.g. ';rport'). */
  viaParams?: string;
  viaHost?: string;
  uri?: string;
  callId?: string;
  cseq?: number;
  fromTag?: string | null;
  toTag?: string;
  routes?: string[];
}

let counter = 0;

/** A request built like a UAC builds it (§8.1.1); defaults give a fresh branch and Call-ID. */
export function request(method: string, spec: RequestSpec): SipRequest {
  const n = ++counter;
  const sender = spec.from ?? LOCAL;
  const host = spec.viaHost ?? `${sender.address}:${sender.port}`;
  const branch = spec.branch ?? `z9hG4bK-test-${n}`;
  const headers: Array<[string, string]> = [['Via', `SIP/2.0/${spec.protocol} ${host};branch=${branch}${spec.viaParams ?? ''}`]];
  for (const v of spec.lowerVias ?? []) headers.push(['Via', v]);
  for (const r of spec.routes ?? []) headers.push(['Route', r]);
  headers.push(
    ['Max-Forwards', '70'],
    ['From', `<sip:alice@example.com>${spec.fromTag === null ? '' : `;tag=${spec.fromTag ?? `ft${n}`}`}`],
    ['To', `<sip:bob@example.com>${spec.toTag ? `;tag=${spec.toTag}` : ''}`],
    ['Call-ID', spec.callId ?? `call-${n}@example.com`],
    ['CSeq', `${spec.cseq ?? 1} ${method}`],
    ['Contact', `<sip:alice@${sender.address}:${sender.port}>`],
  );
  return makeRequest(method, spec.uri ?? 'sip:bob@example.com', headers);
}

/** The clock times at which packets were sent. */
export function times(packets: Packet[]): number[] {
  return packets.map((p) => p.at);
}

/** Packets the stack sent that carry a request of `method`. */
export function requestsSent(r: Rig, method: string): Packet[] {
  return r.net.sent((m, p) => 'method' in m && m.method === method && p.from.address === LOCAL.address);
}

/** Packets the stack sent that carry a response with `status`. */
export function responsesSent(r: Rig, status: number): Packet[] {
  return r.net.sent((m, p) => 'status' in m && m.status === status && p.from.address === LOCAL.address);
}
