import dgram from 'node:dgram';
import net from 'node:net';
import type { Endpoint, Flow } from './types.js';

/** Default UDP socket receive and send buffer: 4 MiB, so bursts survive a busy event loop. */
export const DEFAULT_UDP_BUFFER_SIZE = 4 * 1024 * 1024;

const FLOW_PREFIX = 'UDP/';
const CR = 0x0d;
const LF = 0x0a;

export interface UdpBindOptions {
  address: string;
  port: number;
  ipv6Only: boolean;
  /** SO_RCVBUF and SO_SNDBUF; the kernel may cap them (net.core.rmem_max / wmem_max). */
  bufferSize: number;
}

/**
 * The identity of a UDP flow: the listening socket and the remote address and port (RFC 5626 §3.3:
 * for UDP the flow is this pair). It is derived, not stored, so UDP peers cost no table entry:
 * `UDP/<local address>/<local port>/<remote address>/<remote port>`.
 */
export function udpFlowId(local: Endpoint, remote: Endpoint): string {
  return `${FLOW_PREFIX}${local.address}/${local.port}/${remote.address}/${remote.port}`;
}

/**
 * dgram runs every destination through a DNS lookup, even an IP literal (a regex and a deferred
 * callback per datagram). The transport layer only ever sends to IP literals it has checked, so
 * the lookup answers at once with the address itself.
 */
function literalLookup(family: 4 | 6) {
  return (address: string, _options: unknown, callback: (error: NodeJS.ErrnoException | null, address: string, family: number) => void): void =>
    callback(null, address, family);
}

/** Splits a UDP flow id into its local and remote endpoints; undefined if it is not one. */
export function parseUdpFlowId(id: string): { local: Endpoint; remote: Endpoint } | undefined {
  if (!id.startsWith(FLOW_PREFIX)) return undefined;
  const parts = id.slice(FLOW_PREFIX.length).split('/');
  if (parts.length !== 4) return undefined;
  const [localAddress, localPort, remoteAddress, remotePort] = parts as [string, string, string, string];
  const local = { address: localAddress, port: Number(localPort) };
  const remote = { address: remoteAddress, port: Number(remotePort) };
  if (net.isIP(remote.address) === 0 || !isPort(remote.port) || !isPort(local.port)) return undefined;
  return { local, remote };
}

export function isPort(port: number): boolean {
  return Number.isInteger(port) && port > 0 && port <= 65535;
}

/** True for a datagram of nothing but CRs and LFs: a keepalive some UAs send over UDP. */
function isKeepalive(data: Buffer): boolean {
  for (let i = 0; i < data.length; i++) {
    if (data[i] !== CR && data[i] !== LF) return false;
  }
  return true;
}

/** Flows a UDP listener keeps for reuse; a peer heard from after its flow was dropped gets a new one. */
export const KNOWN_FLOWS = 4096;

/**
 * One listening UDP socket (RFC 3261 §18: each datagram is one message). Sends go out from the
 * same socket, so responses leave from the port the request reached (RFC 3261 §18.2.2 with
 * RFC 3581 symmetric response routing).
 */
export class UdpListener {
  readonly local: Endpoint;
  readonly family: 4 | 6;
  private readonly flowPrefix: string;
  /**
   * The flows of the peers heard from last, by address and then port, addresses oldest first
   * (see {@link flowTo}). Two levels rather than one key per flow: a datagram's flow is then
   * found without building its id, which every datagram would otherwise cost.
   */
  private readonly flows = new Map<string, Map<number, Flow>>();
  /** Flows held in {@link flows}. */
  private flowCount = 0;
  private closing: Promise<void> | undefined;

  private constructor(
    private readonly socket: dgram.Socket,
    family: 4 | 6,
  ) {
    const bound = socket.address();
    this.local = { address: bound.address, port: bound.port };
    this.family = family;
    this.flowPrefix = `${FLOW_PREFIX}${this.local.address}/${this.local.port}/`;
  }

  /**
   * Binds exactly `options.address`:`options.port`. Datagrams that are empty, larger than
   * `maxMessageSize` or only CRLF keepalives are dropped; the rest go to `onMessage`.
   * `onError` hears socket errors and a buffer size the kernel refused.
   */
  static async bind(
    options: UdpBindOptions,
    maxMessageSize: number,
    onMessage: (data: Buffer, flow: Flow) => void,
    onError: (error: Error) => void,
  ): Promise<UdpListener> {
    const family = net.isIPv6(options.address) ? 6 : 4;
    const lookup = literalLookup(family);
    const socket = dgram.createSocket(family === 6 ? { type: 'udp6', ipv6Only: options.ipv6Only, lookup } : { type: 'udp4', lookup });
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind({ address: options.address, port: options.port, exclusive: true }, () => {
        socket.off('error', reject);
        resolve();
      });
    }).catch((error: unknown) => {
      socket.close();
      throw error;
    });
    socket.on('error', onError);
    try {
      socket.setRecvBufferSize(options.bufferSize);
      socket.setSendBufferSize(options.bufferSize);
    } catch (error) {
      onError(error as Error);
    }
    const listener = new UdpListener(socket, family);
    socket.on('message', (data, rinfo) => {
      if (data.length === 0 || data.length > maxMessageSize || isKeepalive(data)) return;
      onMessage(data, listener.flowTo(rinfo.address, rinfo.port));
    });
    return listener;
  }

  /**
   * The flow between this socket and a remote address and port. The same object for the same
   * peer until {@link KNOWN_FLOWS} newer peers have been heard from: every transaction keeps the
   * flow of its request for as long as it absorbs retransmissions (32 s), and a peer such as an
   * SBC sends thousands of requests in that time.
   */
  flowTo(address: string, port: number): Flow {
    let ports = this.flows.get(address);
    const known = ports?.get(port);
    if (known !== undefined) return known;
    if (this.flowCount >= KNOWN_FLOWS) {
      // The oldest sixteenth of the flows at once, by address: deleted entries stay in a Map's
      // table as holes until V8 rebuilds it, and finding the front steps over each, so one scan
      // per new peer (an edge with many UEs meets new ones all the time) would cost up to the
      // table's capacity. An address holding more than that is left with its newer ports.
      let n = KNOWN_FLOWS >> 4;
      for (const [a, held] of this.flows) {
        if (held.size > n) {
          this.flowCount -= n;
          for (const p of held.keys()) {
            held.delete(p);
            if (--n === 0) break;
          }
          break;
        }
        this.flows.delete(a);
        this.flowCount -= held.size;
        n -= held.size;
        if (a === address) ports = undefined;
        if (n === 0) break;
      }
    }
    const flow: Flow = { id: `${this.flowPrefix}${address}/${port}`, protocol: 'UDP', local: this.local, remote: { address, port } };
    if (ports === undefined) {
      ports = new Map();
      this.flows.set(address, ports);
    }
    ports.set(port, flow);
    this.flowCount++;
    return flow;
  }

  /** Sends one datagram. Rejects with the socket error (EMSGSIZE, ENETUNREACH, ...) if the kernel refuses it. */
  send(data: Buffer, address: string, port: number): Promise<void> {
    return new Promise((resolve, reject) => {
      try {
        this.socket.send(data, port, address, (error) => (error ? reject(error) : resolve()));
      } catch (error) {
        reject(error as Error);
      }
    });
  }

  /** Sends one datagram and resolves with the flow it went on (one promise, no extra wrapping). */
  sendTo(data: Buffer, address: string, port: number, wrapError: (address: string, port: number, error: unknown) => Error): Promise<Flow> {
    return new Promise((resolve, reject) => {
      try {
        this.socket.send(data, port, address, (error) => (error ? reject(wrapError(address, port, error)) : resolve(this.flowTo(address, port))));
      } catch (error) {
        reject(wrapError(address, port, error));
      }
    });
  }

  get closed(): boolean {
    return this.closing !== undefined;
  }

  /** Closes the socket; resolves once it is closed. */
  close(): Promise<void> {
    this.closing ??= new Promise((resolve) => {
      try {
        this.socket.close(() => resolve());
      } catch {
        resolve();
      }
    });
    return this.closing;
  }
}
