import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { systemClock, type Clock } from '../clock.js';
import { DEFAULT_MAX_MESSAGE_SIZE } from '../parser/framer.js';
import { StreamConnection, type Connection, type ConnectionHooks, type ConnectionOptions, type FlowCloseReason } from './connection.js';
import { TransportError, asTransportError } from './errors.js';
import { HandlerSet } from './handlers.js';
import { connectTcp, createTcpServer, listenOn, type BindOptions, type Opening } from './tcp.js';
import { connectTls, createTlsServer, type TlsClientOptions, type TlsCredentials } from './tls.js';
import type { Flow, InboundMessage, SendTarget, TransportProtocol } from './types.js';
import { DEFAULT_UDP_BUFFER_SIZE, UdpListener, isPort, parseUdpFlowId } from './udp.js';
import { WsConnection, connectWs, createWsServer } from './ws.js';
import type { WebSocket } from 'ws';

/** One listening endpoint. */
export interface ListenerConfig {
  protocol: TransportProtocol;
  /** An IP literal; the listener binds exactly this address (`0.0.0.0` / `::` for all). */
  address: string;
  /** 0 lets the system pick; {@link BoundListener.port} tells which. */
  port: number;
  /** For an IPv6 address: IPv6 only, no IPv4-mapped traffic. Default true. */
  ipv6Only?: boolean;
  /** Certificate and key; required for TLS and WSS. */
  tls?: TlsCredentials;
  /** WS/WSS: the request path to accept (e.g. `/sip`); default any. */
  path?: string;
}

/** A listener as bound. */
export interface BoundListener {
  readonly protocol: TransportProtocol;
  readonly address: string;
  readonly port: number;
}

/** Tuning for {@link TransportLayer}; every field has a default. */
export interface TransportLayerOptions {
  /** The clock idle and connect timers run on. Default the system clock. */
  clock?: Clock;
  /** Largest message accepted (stream framing, UDP datagram, WebSocket message). Default 64 KiB. */
  maxMessageSize?: number;
  /**
   * Idle timeout for connections a peer opened to us. Default 1 hour: clients that follow
   * RFC 5626 send CRLF keepalives every couple of minutes, which count as traffic; clients that
   * do not still keep their flow for a typical registration interval. 0 disables.
   */
  idleTimeoutMs?: number;
  /** Idle timeout for connections we opened (to other servers, or to UAs). Default 10 minutes; 0 disables. */
  outboundIdleTimeoutMs?: number;
  /**
   * TCP and TLS connections we opened: ping (CRLFCRLF, RFC 5626 §4.4.1) after this long without
   * a byte in, and close the connection as unresponsive after twice as long, so that a peer cut
   * off the network fails what waits on it within seconds. Default 0 (off): for links between
   * the nodes of a deployment, whose peers answer pings.
   */
  outboundKeepaliveMs?: number;
  /** Giving up on opening a connection (TCP, TLS or WebSocket handshake included). Default 10 s. */
  connectTimeoutMs?: number;
  /** Most connections open at once, accepted and opened together. Default 10 000. */
  maxConnections?: number;
  /** Per connection: a send is refused once this many bytes wait to be written. Default 1 MiB. */
  maxWriteBacklog?: number;
  /** UDP SO_RCVBUF / SO_SNDBUF. Default 4 MiB (the kernel may cap it at net.core.rmem_max). */
  udpBufferSize?: number;
  /** How TLS and WSS connections we open verify the server. */
  tlsClient?: TlsClientOptions;
}

type Resolved = Required<Omit<TransportLayerOptions, 'tlsClient'>> & { tlsClient: TlsClientOptions };

interface StreamServer {
  readonly server: net.Server;
  readonly sockets: Set<net.Socket>;
}

interface PendingOpen {
  readonly promise: Promise<Connection>;
  abort(error: Error): void;
}

type Dialed = { socket: net.Socket; ws?: WebSocket };

const PROTOCOLS: ReadonlySet<string> = new Set<TransportProtocol>(['UDP', 'TCP', 'TLS', 'WS', 'WSS']);

const CLOSED_ERROR = (): TransportError => new TransportError('TW_ERR_TRANSPORT_CLOSED', 'the transport layer is closed');

/**
 * The SIP transport layer (RFC 3261 §18): listeners for UDP, TCP, TLS, WS and WSS, a table of
 * connection flows (RFC 5626 §3.3), and `send` that reuses a flow or opens one.
 *
 * Flow ids: a connection's is `<protocol>/<random per layer>-<n>`, so an id never names a later
 * connection, even after a restart; a UDP flow's is derived from its endpoints (`udpFlowId` in
 * udp.ts) and needs no table entry. Connections are reused by (protocol, remote
 * address, remote port), whether we opened or accepted them (RFC 3261 §18.2.2).
 *
 * Events are registrations, not an EventEmitter: {@link onMessage}, {@link onFlowClosed} and
 * {@link onError} each return a function that unregisters. Handlers run synchronously; one that
 * throws is reported to the error handlers and never reaches a socket.
 */
export class TransportLayer {
  private readonly options: Resolved;
  private readonly connections = new Map<string, Connection>();
  private readonly byRemote = new Map<string, Connection>();
  private readonly opening = new Map<string, PendingOpen>();
  private readonly udp: UdpListener[] = [];
  private readonly servers: StreamServer[] = [];
  private readonly bound: BoundListener[] = [];
  private readonly errors = new HandlerSet<[Error]>(() => undefined);
  private readonly messages = new HandlerSet<[InboundMessage]>((error) => this.reportError(error));
  private readonly flowsClosed = new HandlerSet<[Flow, FlowCloseReason]>((error) => this.reportError(error));
  private readonly flowPrefix = randomBytes(4).toString('hex');
  private flowSequence = 0;
  private closing: Promise<void> | undefined;
  private readonly hooks: ConnectionHooks = {
    message: (connection, data) => this.messages.emit({ data, flow: connection.flow }),
    closed: (connection, reason) => this.forget(connection, reason),
    error: (error) => this.reportError(error),
  };

  /** @throws RangeError naming the option, for a value out of range. */
  constructor(options: TransportLayerOptions = {}) {
    checkOptions(options);
    this.options = {
      clock: options.clock ?? systemClock,
      maxMessageSize: options.maxMessageSize ?? DEFAULT_MAX_MESSAGE_SIZE,
      idleTimeoutMs: options.idleTimeoutMs ?? 3_600_000,
      outboundIdleTimeoutMs: options.outboundIdleTimeoutMs ?? 600_000,
      outboundKeepaliveMs: options.outboundKeepaliveMs ?? 0,
      connectTimeoutMs: options.connectTimeoutMs ?? 10_000,
      maxConnections: options.maxConnections ?? 10_000,
      maxWriteBacklog: options.maxWriteBacklog ?? 1024 * 1024,
      udpBufferSize: options.udpBufferSize ?? DEFAULT_UDP_BUFFER_SIZE,
      tlsClient: options.tlsClient ?? {},
    };
  }

  /** Every listener bound so far, with its actual port. */
  get listeners(): readonly BoundListener[] {
    return this.bound;
  }

  /** Connections open now (accepted and opened). */
  get connectionCount(): number {
    return this.connections.size;
  }

  private readonly udpFlows = new Map<string, { listener: UdpListener; address: string; port: number }>();

  /** Registers a handler for every inbound message. */
  onMessage(handler: (message: InboundMessage) => void): () => void {
    return this.messages.add(handler);
  }

  /** Registers a handler for connection flows that closed; UDP flows never close. */
  onFlowClosed(handler: (flow: Flow, reason: FlowCloseReason) => void): () => void {
    return this.flowsClosed.add(handler);
  }

  /** Registers a handler for problems worth logging: framing errors, failed TLS handshakes, socket errors. */
  onError(handler: (error: Error) => void): () => void {
    return this.errors.add(handler);
  }

  /** A live flow by id: a connection in the table, or any UDP flow of a listening socket. */
  getFlow(flowId: string): Flow | undefined {
    const connection = this.connections.get(flowId);
    if (connection) return connection.flow;
    const udp = this.udpFlow(flowId);
    return udp?.listener.flowTo(udp.address, udp.port);
  }

  /** Closes a connection flow (reason `local`); false if there is no such connection. */
  closeFlow(flowId: string): boolean {
    const connection = this.connections.get(flowId);
    connection?.close('local');
    return connection !== undefined;
  }

  /**
   * Binds a listener on exactly `config.address`:`config.port`. Rejects with
   * `TW_ERR_TRANSPORT_LISTEN` for a bad configuration or a socket error (EADDRINUSE, ...).
   */
  async listen(config: ListenerConfig): Promise<BoundListener> {
    if (this.closing) throw CLOSED_ERROR();
    const where = `${config.protocol} ${config.address}:${config.port}`;
    const problem = listenerProblem(config);
    if (problem) throw new TransportError('TW_ERR_TRANSPORT_LISTEN', `cannot listen on ${where}: ${problem}`);
    const bind = { address: config.address, port: config.port, ipv6Only: config.ipv6Only ?? true };
    try {
      const bound = config.protocol === 'UDP' ? await this.listenUdp(bind) : await this.listenStream(config, bind);
      this.bound.push(bound);
      return bound;
    } catch (error) {
      throw asTransportError('TW_ERR_TRANSPORT_LISTEN', `cannot listen on ${where}`, error);
    }
  }

  /**
   * Closes one listener that {@link listen} bound, giving its port back (a start-up that needs
   * the same port number for UDP and TCP tries another pair when the first is taken). The
   * connections it accepted stay open. False when it is not bound (any more).
   */
  async unlisten(listener: BoundListener): Promise<boolean> {
    const i = this.bound.indexOf(listener);
    if (i < 0) return false;
    this.bound.splice(i, 1);
    if (listener.protocol === 'UDP') {
      const udp = this.udpListenerAt(listener.address, listener.port);
      if (udp === undefined) return true;
      this.udp.splice(this.udp.indexOf(udp), 1);
      this.udpFlows.clear();
      await udp.close();
      return true;
    }
    const entry = this.servers.find(({ server }) => {
      const at = server.address();
      return typeof at === 'object' && at !== null && at.port === listener.port && at.address === listener.address;
    });
    if (entry === undefined) return true;
    this.servers.splice(this.servers.indexOf(entry), 1);
    await new Promise((resolve) => entry.server.close(resolve));
    return true;
  }

  private async listenUdp(bind: BindOptions): Promise<BoundListener> {
    const listener = await UdpListener.bind(
      { ...bind, bufferSize: this.options.udpBufferSize },
      this.options.maxMessageSize,
      (data, flow) => this.messages.emit({ data, flow }),
      (error) => this.reportError(error),
    );
    if (this.closing) {
      await listener.close();
      throw CLOSED_ERROR();
    }
    this.udp.push(listener);
    return { protocol: 'UDP', address: listener.local.address, port: listener.local.port };
  }

  private async listenStream(config: ListenerConfig, bind: BindOptions): Promise<BoundListener> {
    const entry = this.createServer(config);
    const { address, port } = await listenOn(entry.server, bind);
    if (this.closing) {
      // close() started while binding: it did not see this server, so close it here.
      await new Promise((resolve) => entry.server.close(resolve));
      throw CLOSED_ERROR();
    }
    this.servers.push(entry);
    return { protocol: config.protocol, address, port };
  }

  /**
   * Sends one message and resolves with the flow it went on. To `{ flowId }`: that flow, or
   * `TW_ERR_TRANSPORT_FLOW_GONE` (RFC 5626 §5.3). To `{ protocol, address, port }`: an open
   * connection to that remote for that protocol, else a new one (RFC 3261 §18.1.1); UDP goes
   * out of a listening socket of the address's family. Never throws: every failure is a
   * rejected promise with a {@link TransportError}.
   */
  send(data: Buffer, target: SendTarget): Promise<Flow> {
    // Not async: a datagram, the common case, costs one promise, not a chain of them.
    if (this.closing) return Promise.reject(CLOSED_ERROR());
    if ('flowId' in target) {
      const udp = this.connections.has(target.flowId) ? undefined : this.udpFlow(target.flowId);
      if (udp) return this.sendDatagram(udp.listener, data, udp.address, udp.port);
      return this.sendOnFlow(data, target.flowId);
    }
    const { protocol, address, port } = target;
    if (!PROTOCOLS.has(protocol) || ipFamily(address) === 0 || !isPort(port)) {
      return Promise.reject(
        new TransportError('TW_ERR_TRANSPORT_BAD_TARGET', `cannot send to ${protocol} ${address}:${port}: need a known protocol, an IP literal and a port 1-65535`),
      );
    }
    if (protocol === 'UDP') {
      const listener = this.udpListenerFor(address);
      if (!listener) return Promise.reject(new TransportError('TW_ERR_TRANSPORT_NO_LISTENER', `no UDP listener of the address family of ${address}`));
      return this.sendDatagram(listener, data, address, port);
    }
    return this.sendStream(data, target);
  }

  private async sendStream(data: Buffer, target: { protocol: TransportProtocol; address: string; port: number; path?: string; servername?: string }): Promise<Flow> {
    const connection = await this.connectionTo(target);
    await connection.send(data);
    return connection.flow;
  }

  /** Closes every listener and connection; resolves once all sockets are closed. */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    for (const pending of this.opening.values()) pending.abort(CLOSED_ERROR());
    const waits: Array<Promise<unknown>> = [...this.opening.values()].map((p) => p.promise.catch(() => undefined));
    for (const { server, sockets } of this.servers) {
      waits.push(new Promise((resolve) => server.close(resolve)));
      for (const socket of sockets) socket.destroy();
    }
    for (const connection of this.connections.values()) {
      connection.close('shutdown');
      waits.push(connection.closed);
    }
    waits.push(...this.udp.map((listener) => listener.close()));
    await Promise.all(waits);
  }

  private async sendOnFlow(data: Buffer, flowId: string): Promise<Flow> {
    const connection = this.connections.get(flowId);
    if (connection) {
      await connection.send(data);
      return connection.flow;
    }
    const udp = this.udpFlow(flowId);
    if (!udp) throw new TransportError('TW_ERR_TRANSPORT_FLOW_GONE', `flow ${flowId} does not exist (any more)`);
    return this.sendDatagram(udp.listener, data, udp.address, udp.port);
  }

  /** A UDP flow id decoded to its socket and remote end; remembered, since replies reuse it. */
  private udpFlow(flowId: string): { listener: UdpListener; address: string; port: number } | undefined {
    const hit = this.udpFlows.get(flowId);
    if (hit && !hit.listener.closed) return hit;
    const udp = parseUdpFlowId(flowId);
    const listener = udp && this.udpListenerAt(udp.local.address, udp.local.port);
    if (!listener) return undefined;
    const entry = { listener, address: udp.remote.address, port: udp.remote.port };
    if (this.udpFlows.size >= UDP_FLOW_CACHE) this.udpFlows.clear();
    this.udpFlows.set(flowId, entry);
    return entry;
  }

  private sendDatagram(listener: UdpListener, data: Buffer, address: string, port: number): Promise<Flow> {
    return listener.sendTo(data, address, port, sendFailed);
  }

  /** RFC 3261 §18.1.1: reuse a connection to the destination if there is one, else open one. */
  private connectionTo(target: { protocol: TransportProtocol; address: string; port: number; path?: string; servername?: string }): Promise<Connection> {
    const key = remoteKey(target.protocol, target.address, target.port);
    const existing = this.byRemote.get(key);
    if (existing && !existing.closing) return Promise.resolve(existing);
    const pending = this.opening.get(key);
    if (pending) return pending.promise;
    if (!this.hasRoom()) {
      return Promise.reject(new TransportError('TW_ERR_TRANSPORT_CONN_LIMIT', `connection limit of ${this.options.maxConnections} reached`));
    }
    const where = `${target.protocol} ${target.address}:${target.port}`;
    let dialing: Opening<Dialed>;
    try {
      dialing = this.dial(target);
    } catch (error) {
      return Promise.reject(new TransportError('TW_ERR_TRANSPORT_BAD_TARGET', `cannot connect to ${where}`, error));
    }
    const clock = this.options.clock;
    const timer = clock.setTimeout(
      () => dialing.abort(new TransportError('TW_ERR_TRANSPORT_CONNECT_TIMEOUT', `connecting to ${where} timed out after ${this.options.connectTimeoutMs} ms`)),
      this.options.connectTimeoutMs,
    );
    const promise = dialing.ready
      .then((dialed) => this.adopt(target.protocol, dialed, false))
      .catch((error: unknown) => {
        throw asTransportError('TW_ERR_TRANSPORT_CONNECT', `cannot connect to ${where}`, error);
      })
      .finally(() => {
        clock.clearTimeout(timer);
        this.opening.delete(key);
      });
    this.opening.set(key, { promise, abort: (error) => dialing.abort(error) });
    return promise;
  }

  private dial(target: { protocol: TransportProtocol; address: string; port: number; path?: string; servername?: string }): Opening<Dialed> {
    const { address, port, servername } = target;
    switch (target.protocol) {
      case 'TCP': {
        const opening = connectTcp({ address, port });
        return { ready: opening.ready.then((socket) => ({ socket })), abort: opening.abort };
      }
      case 'TLS': {
        const opening = connectTls({ address, port, servername }, this.options.tlsClient);
        return { ready: opening.ready.then((socket) => ({ socket })), abort: opening.abort };
      }
      default: {
        const secure = target.protocol === 'WSS';
        return connectWs({ address, port, secure, path: target.path, servername }, this.options.maxMessageSize, this.options.tlsClient);
      }
    }
  }

  /** Puts a connected socket (accepted or opened) in the table as a flow. */
  private adopt(protocol: TransportProtocol, { socket, ws }: Dialed, accepted: boolean): Connection {
    const id = `${protocol}/${this.flowPrefix}-${++this.flowSequence}`;
    const flow = ws ? WsConnection.flowFor(id, protocol, socket) : StreamConnection.flowFor(id, protocol, socket);
    if (this.closing || !flow) {
      if (ws) ws.terminate();
      else socket.destroy();
      throw this.closing ? CLOSED_ERROR() : new Error('connection closed before it could be used');
    }
    const options: ConnectionOptions = {
      clock: this.options.clock,
      idleTimeoutMs: accepted ? this.options.idleTimeoutMs : this.options.outboundIdleTimeoutMs,
      maxWriteBacklog: this.options.maxWriteBacklog,
      maxMessageSize: this.options.maxMessageSize,
      keepaliveMs: accepted || ws ? 0 : this.options.outboundKeepaliveMs,
    };
    const connection = ws ? new WsConnection(ws, flow, this.hooks, options) : new StreamConnection(socket, flow, this.hooks, options);
    this.connections.set(id, connection);
    this.byRemote.set(remoteKey(protocol, flow.remote.address, flow.remote.port), connection);
    return connection;
  }

  private accept(protocol: TransportProtocol, dialed: Dialed): void {
    if (!this.hasRoom()) {
      if (dialed.ws) dialed.ws.terminate();
      else dialed.socket.destroy();
      this.reportError(new TransportError('TW_ERR_TRANSPORT_CONN_LIMIT', `${protocol} connection refused: limit of ${this.options.maxConnections} reached`));
      return;
    }
    try {
      this.adopt(protocol, dialed, true);
    } catch {
      // The peer went away before the connection could be used; nothing to do.
    }
  }

  private forget(connection: Connection, reason: FlowCloseReason): void {
    const { flow } = connection;
    this.connections.delete(flow.id);
    const key = remoteKey(flow.protocol, flow.remote.address, flow.remote.port);
    if (this.byRemote.get(key) === connection) this.byRemote.delete(key);
    this.flowsClosed.emit(flow, reason);
  }

  private createServer(config: ListenerConfig): StreamServer {
    const { protocol } = config;
    let server: net.Server;
    if (protocol === 'TCP') {
      server = createTcpServer((socket) => this.accept(protocol, { socket }));
    } else if (protocol === 'TLS') {
      server = createTlsServer(config.tls as TlsCredentials, (socket) => this.accept(protocol, { socket }), (error) => this.reportError(error));
    } else {
      server = createWsServer({
        tls: protocol === 'WSS' ? config.tls : undefined,
        path: config.path,
        maxMessageSize: this.options.maxMessageSize,
        canAccept: () => this.hasRoom() && !this.closing,
        onConnection: (ws, socket) => this.accept(protocol, { socket, ws }),
      });
    }
    const sockets = new Set<net.Socket>();
    server.on('connection', (socket: net.Socket) => {
      if (this.closing) {
        socket.destroy();
        return;
      }
      sockets.add(socket);
      socket.once('close', () => sockets.delete(socket));
    });
    server.on('error', (error) => this.reportError(error));
    return { server, sockets };
  }

  private hasRoom(): boolean {
    return this.connections.size + this.opening.size < this.options.maxConnections;
  }

  /** The UDP socket to send to `address` from: same family, a loopback one for a loopback peer if any. */
  private udpListenerFor(address: string): UdpListener | undefined {
    const family = ipFamily(address) === 6 ? 6 : 4;
    const loopback = isLoopback(address);
    let fallback: UdpListener | undefined;
    for (const listener of this.udp) {
      if (listener.family !== family) continue;
      if (isLoopback(listener.local.address) === loopback) return listener;
      fallback ??= listener;
    }
    return fallback;
  }

  private udpListenerAt(address: string, port: number): UdpListener | undefined {
    return this.udp.find((listener) => listener.local.port === port && listener.local.address === address);
  }

  private reportError(error: unknown): void {
    this.errors.emit(error instanceof Error ? error : new Error(String(error)));
  }
}

/** Numeric options and the least value each accepts. */
const MINIMUMS: ReadonlyArray<[keyof TransportLayerOptions, number]> = [
  ['maxMessageSize', 1],
  ['idleTimeoutMs', 0],
  ['outboundIdleTimeoutMs', 0],
  ['outboundKeepaliveMs', 0],
  ['connectTimeoutMs', 1],
  ['maxConnections', 1],
  ['maxWriteBacklog', 1],
  ['udpBufferSize', 1],
];

function checkOptions(options: TransportLayerOptions): void {
  for (const [key, minimum] of MINIMUMS) {
    const value = options[key];
    if (value !== undefined && (typeof value !== 'number' || !Number.isInteger(value) || value < minimum)) {
      throw new RangeError(`TransportLayerOptions.${key} must be an integer >= ${minimum}, got ${String(value)}`);
    }
  }
}

function listenerProblem(config: ListenerConfig): string | undefined {
  if (!PROTOCOLS.has(config.protocol)) return 'unknown protocol';
  if (net.isIP(config.address) === 0) return 'the address must be an IP literal';
  if (!Number.isInteger(config.port) || config.port < 0 || config.port > 65535) return 'the port must be 0-65535';
  if ((config.protocol === 'TLS' || config.protocol === 'WSS') && !config.tls) return 'TLS and WSS need a certificate and key';
  return undefined;
}

function isLoopback(address: string): boolean {
  return address.startsWith('127.') || address === '::1';
}

/** The connection-reuse key: protocol and remote address (canonical form for IPv6) and port. */
function remoteKey(protocol: TransportProtocol, address: string, port: number): string {
  return `${protocol} ${address.includes(':') ? canonicalIpv6(address) : address} ${port}`;
}

function canonicalIpv6(address: string): string {
  try {
    return new net.SocketAddress({ address, family: 'ipv6' }).address;
  } catch {
    return address.toLowerCase();
  }
}

/** How many decoded UDP flow ids to remember (cleared when full; re-decoding is cheap). */
const UDP_FLOW_CACHE = 16_384;
const families = new Map<string, number>();

/** net.isIP with a bounded memo: the same few peer addresses come back on every message. */
function ipFamily(address: string): number {
  let f = families.get(address);
  if (f === undefined) {
    f = net.isIP(address);
    if (families.size >= UDP_FLOW_CACHE) families.clear();
    families.set(address, f);
  }
  return f;
}

function sendFailed(address: string, port: number, error: unknown): TransportError {
  return new TransportError('TW_ERR_TRANSPORT_SEND', `UDP send to ${address}:${port} failed`, error);
}
