/**
 * An in-memory network for transaction-layer tests: endpoints speaking UDP or TCP, every message
 * recorded (with its parsed form and the fake-clock time it was sent), and rules to drop messages.
 * Delivery is asynchronous (a microtask), like a real socket; `await net.flush()` lets every
 * message in flight arrive. UDP to nobody is lost silently; TCP to nobody is refused.
 *
 * TCP is modelled as connections: the connecting side gets an ephemeral local port (50000 up),
 * both sides get a flow for the connection, and either side can send on it until it is closed.
 */
import type { Clock } from '../../src/sip/clock.js';
import type { SipRequest, SipResponse } from '../../src/sip/message/message.js';
import { parseMessage } from '../../src/sip/parser/parse.js';
import type { MessageTransport } from '../../src/sip/transaction/types.js';
import type { Endpoint, Flow, InboundMessage, SendTarget } from '../../src/sip/transport/types.js';

export type FakeProtocol = 'UDP' | 'TCP';

/** One message put on the network. */
export interface Packet {
  readonly seq: number;
  /** Clock time of the send. */
  readonly at: number;
  readonly protocol: FakeProtocol;
  readonly from: Endpoint;
  readonly to: Endpoint;
  /** The sender's flow id. */
  readonly flowId: string;
  readonly data: Buffer;
  /** The message parsed, or undefined when it does not parse. */
  readonly message: SipRequest | SipResponse | undefined;
  /** A drop rule matched, or (UDP) nobody listened at `to`. */
  dropped: boolean;
}

/** One message delivered to an endpoint. */
export interface Received {
  readonly message: SipRequest | SipResponse | undefined;
  readonly flow: Flow;
  readonly data: Buffer;
  readonly at: number;
}

interface FlowEnd {
  readonly flow: Flow;
  readonly owner: FakeEndpoint;
  /** TCP: the other end of the connection. */
  peer?: FlowEnd;
  open: boolean;
}

function hostPort(e: Endpoint): string {
  return `${e.address}:${e.port}`;
}

function parseOrUndefined(data: Buffer, stream: boolean): SipRequest | SipResponse | undefined {
  try {
    return parseMessage(data, { stream });
  } catch {
    return undefined;
  }
}

/** The network: endpoints, the log of every packet, and drop rules. */
export class FakeNetwork {
  readonly packets: Packet[] = [];
  private readonly endpoints = new Map<string, FakeEndpoint>();
  private rules: Array<{ match: (p: Packet) => boolean; remaining: number }> = [];
  private nextPort = 50000;
  private nextConnection = 1;

  constructor(readonly clock?: Clock) {}

  /** A listening endpoint (a UDP socket, or a TCP listener that can also connect out). */
  endpoint(protocol: FakeProtocol, address: string, port: number): FakeEndpoint {
    const key = `${protocol} ${address}:${port}`;
    if (this.endpoints.has(key)) throw new Error(`endpoint ${key} exists`);
    const ep = new FakeEndpoint(this, protocol, { address, port });
    this.endpoints.set(key, ep);
    return ep;
  }

  /** Drops the next `times` packets that `match` (all of them by default). */
  drop(match: (p: Packet) => boolean, times = Infinity): void {
    this.rules.push({ match, remaining: times });
  }

  clearDrops(): void {
    this.rules = [];
  }

  /** Lets every message in flight (and everything they cause) arrive. */
  async flush(): Promise<void> {
    for (let i = 0; i < 3; i++) await new Promise<void>((resolve) => setImmediate(resolve));
  }

  /** Packets that were sent (dropped or not) whose parsed message satisfies `pred`. */
  sent(pred: (m: SipRequest | SipResponse, p: Packet) => boolean): Packet[] {
    return this.packets.filter((p) => p.message !== undefined && pred(p.message, p));
  }

  /** @internal */
  now(): number {
    return this.clock?.now() ?? 0;
  }

  /** @internal */
  listener(protocol: FakeProtocol, to: Endpoint): FakeEndpoint | undefined {
    return this.endpoints.get(`${protocol} ${hostPort(to)}`);
  }

  /** @internal */
  ephemeralPort(): number {
    return this.nextPort++;
  }

  /** @internal */
  connectionId(): number {
    return this.nextConnection++;
  }

  /** @internal Records a packet and decides whether it is dropped by a rule. */
  record(protocol: FakeProtocol, from: FlowEnd, data: Buffer): Packet {
    const packet: Packet = {
      seq: this.packets.length,
      at: this.now(),
      protocol,
      from: from.flow.local,
      to: from.flow.remote,
      flowId: from.flow.id,
      data,
      message: parseOrUndefined(data, protocol === 'TCP'),
      dropped: false,
    };
    this.packets.push(packet);
    for (const rule of this.rules) {
      if (rule.remaining > 0 && rule.match(packet)) {
        rule.remaining--;
        packet.dropped = true;
        break;
      }
    }
    return packet;
  }
}

/** One endpoint: a {@link MessageTransport} for the stack under test, with an inbox of what arrived. */
export class FakeEndpoint implements MessageTransport {
  /** Where delivered messages go, e.g. `(m) => stack.receive(m)`. */
  onMessage: ((message: InboundMessage) => void) | undefined;
  readonly inbox: Received[] = [];
  private readonly flows = new Map<string, FlowEnd>();
  private failures: Error[] = [];

  constructor(
    private readonly net: FakeNetwork,
    readonly protocol: FakeProtocol,
    readonly local: Endpoint,
  ) {}

  /** The next `n` sends reject with `error`. */
  failNextSends(n = 1, error = new Error('send failed (injected)')): void {
    for (let i = 0; i < n; i++) this.failures.push(error);
  }

  /** Closes a TCP connection (both ends): later sends on it reject. */
  closeFlow(flowId: string): void {
    const end = this.flows.get(flowId);
    if (!end) throw new Error(`no flow ${flowId}`);
    end.open = false;
    if (end.peer) end.peer.open = false;
  }

  send(data: Buffer, target: SendTarget): Promise<Flow> {
    const failure = this.failures.shift();
    if (failure) return Promise.reject(failure);
    let end: FlowEnd;
    if ('flowId' in target) {
      const found = this.flows.get(target.flowId);
      if (!found || !found.open) return Promise.reject(new Error(`flow ${target.flowId} is closed or unknown`));
      end = found;
    } else {
      if (target.protocol !== this.protocol) return Promise.reject(new Error(`${this.protocol} endpoint cannot send ${target.protocol}`));
      const remote = { address: target.address, port: target.port };
      const opened = this.protocol === 'UDP' ? this.udpFlow(remote) : this.tcpFlow(remote);
      if (opened instanceof Error) return Promise.reject(opened);
      end = opened;
    }
    const packet = this.net.record(this.protocol, end, data);
    if (!packet.dropped) this.transmit(end, data, packet);
    return Promise.resolve(end.flow);
  }

  /** Messages received, parsed, whose message satisfies `pred`. */
  received(pred: (m: SipRequest | SipResponse) => boolean = () => true): Received[] {
    return this.inbox.filter((r) => r.message !== undefined && pred(r.message));
  }

  /** @internal */
  udpFlow(remote: Endpoint): FlowEnd {
    const id = `UDP ${hostPort(this.local)}->${hostPort(remote)}`;
    let end = this.flows.get(id);
    if (!end) {
      end = { flow: { id, protocol: 'UDP', local: this.local, remote }, owner: this, open: true };
      this.flows.set(id, end);
    }
    return end;
  }

  private tcpFlow(remote: Endpoint): FlowEnd | Error {
    for (const end of this.flows.values()) {
      if (end.open && end.peer && hostPort(end.flow.remote) === hostPort(remote)) return end;
    }
    const listener = this.net.listener('TCP', remote);
    if (!listener) return new Error(`connect ECONNREFUSED ${hostPort(remote)}`);
    const n = this.net.connectionId();
    const local = { address: this.local.address, port: this.net.ephemeralPort() };
    const mine: FlowEnd = { flow: { id: `TCP#${n} ${hostPort(local)}->${hostPort(remote)}`, protocol: 'TCP', local, remote }, owner: this, open: true };
    const theirs: FlowEnd = {
      flow: { id: `TCP#${n} ${hostPort(remote)}<-${hostPort(local)}`, protocol: 'TCP', local: remote, remote: local },
      owner: listener,
      open: true,
      peer: mine,
    };
    mine.peer = theirs;
    this.flows.set(mine.flow.id, mine);
    listener.flows.set(theirs.flow.id, theirs);
    return mine;
  }

  private transmit(end: FlowEnd, data: Buffer, packet: Packet): void {
    let into: FlowEnd | undefined;
    if (end.peer) into = end.peer;
    else {
      const listener = this.net.listener('UDP', end.flow.remote);
      if (!listener) {
        packet.dropped = true;
        return;
      }
      into = listener.udpFlow(this.local);
    }
    const target = into;
    queueMicrotask(() => target.owner.deliver(target.flow, data));
  }

  private deliver(flow: Flow, data: Buffer): void {
    this.inbox.push({ message: parseOrUndefined(data, this.protocol === 'TCP'), flow, data, at: this.net.now() });
    this.onMessage?.({ data, flow });
  }
}
