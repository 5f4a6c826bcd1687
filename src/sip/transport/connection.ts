import type { Socket } from 'node:net';
import type { Clock, TimerHandle } from '../clock.js';
import { StreamFramer, type FramingError } from '../parser/framer.js';
import { TransportError } from './errors.js';
import type { Flow, TransportProtocol } from './types.js';

/** Why a connection-backed flow ended; passed to flow-closed handlers. */
export type FlowCloseReason =
  /** The peer closed the connection (or it broke: reset, TLS alert). */
  | 'remote'
  /** No traffic either way for the idle timeout. */
  | 'idle'
  /** Our CRLF keepalive pings went unanswered (RFC 5626 §4.4.1): the peer is gone or cut off. */
  | 'unresponsive'
  /** The byte stream could not be framed (RFC 3261 §18.3); the connection was dropped. */
  | 'framing-error'
  /** An upper layer asked for the flow to be closed. */
  | 'local'
  /** The transport layer is shutting down. */
  | 'shutdown';

/** What a connection tells its owner. */
export interface ConnectionHooks {
  /** One whole inbound SIP message. */
  message(connection: Connection, data: Buffer): void;
  /** The socket is gone; called exactly once per connection. `error` is the socket error, if any. */
  closed(connection: Connection, reason: FlowCloseReason, error: Error | undefined): void;
  /** A non-fatal problem worth logging, e.g. a framing error before the connection is dropped. */
  error(error: Error, flow: Flow): void;
}

export interface ConnectionOptions {
  clock: Clock;
  /** Close after this long without a byte in or a message out; 0 disables. */
  idleTimeoutMs: number;
  /** Largest write backlog (bytes queued but not yet handed to the kernel) a send may add to. */
  maxWriteBacklog: number;
  /** Largest inbound message. */
  maxMessageSize: number;
  /**
   * Stream connections we opened (not WebSocket): when nothing came in for this long, send a
   * CRLFCRLF ping; when nothing (not even the CRLF pong) came in for twice this long, the peer
   * is taken as gone and the connection closed as `unresponsive`, so what waits on it fails now
   * rather than when TCP gives up (minutes). 0 disables.
   */
  keepaliveMs?: number;
}

const PONG = Buffer.from('\r\n', 'latin1');
const PING = Buffer.from('\r\n\r\n', 'latin1');

/**
 * One connection-backed flow (TCP, TLS, WS, WSS). Owns the idle timer and the write-backlog
 * bound; subclasses move the bytes. `closed` resolves once the underlying socket is gone, after
 * the owner's `closed` hook ran exactly once.
 */
export abstract class Connection {
  readonly closed: Promise<void>;
  private resolveClosed!: () => void;
  private lastActivity: number;
  private lastInbound: number;
  private idleTimer: TimerHandle | undefined;
  private keepaliveTimer: TimerHandle | undefined;
  private closeReason: FlowCloseReason | undefined;
  private lastError: Error | undefined;
  private finished = false;

  protected constructor(
    readonly flow: Flow,
    protected readonly hooks: ConnectionHooks,
    protected readonly options: ConnectionOptions,
  ) {
    this.closed = new Promise((resolve) => (this.resolveClosed = resolve));
    this.lastActivity = options.clock.now();
    this.lastInbound = this.lastActivity;
    if (options.idleTimeoutMs > 0) this.idleTimer = options.clock.setTimeout(() => this.checkIdle(), options.idleTimeoutMs);
    const every = options.keepaliveMs ?? 0;
    if (every > 0) this.keepaliveTimer = options.clock.setTimeout(() => this.checkAlive(), every);
  }

  /** True once closing started, for whatever reason; sends then fail. */
  get closing(): boolean {
    return this.closeReason !== undefined || this.finished;
  }

  /**
   * Writes one message. Resolves once the bytes are handed to the socket; rejects with
   * `TW_ERR_TRANSPORT_BACKLOG` (message dropped) when the connection already holds more than the
   * backlog limit, `TW_ERR_TRANSPORT_FLOW_GONE` when the connection is closing, or
   * `TW_ERR_TRANSPORT_SEND` when the write fails.
   */
  send(data: Buffer): Promise<void> {
    if (this.closing) return Promise.reject(this.gone());
    const backlog = this.backlog();
    if (backlog + data.length > this.options.maxWriteBacklog) {
      return Promise.reject(
        new TransportError(
          'TW_ERR_TRANSPORT_BACKLOG',
          `${this.flow.protocol} flow ${this.flow.id}: ${backlog} bytes already queued, limit ${this.options.maxWriteBacklog}; message dropped`,
        ),
      );
    }
    this.lastActivity = this.options.clock.now();
    return new Promise((resolve, reject) => {
      this.write(data, (error) => (error ? reject(new TransportError('TW_ERR_TRANSPORT_SEND', `${this.flow.protocol} write to flow ${this.flow.id} failed`, error)) : resolve()));
    });
  }

  /** Closes the connection; the `closed` hook reports `reason`. Idempotent. */
  close(reason: FlowCloseReason): void {
    if (this.closing) return;
    this.closeReason = reason;
    this.options.clock.clearTimeout(this.idleTimer);
    this.options.clock.clearTimeout(this.keepaliveTimer);
    this.destroyTransport(reason);
  }

  /** Bytes written but not yet handed to the kernel. */
  protected abstract backlog(): number;
  protected abstract write(data: Buffer, done: (error?: Error | null) => void): void;
  protected abstract destroyTransport(reason: FlowCloseReason): void;

  /** Subclasses call this for every inbound byte run, message or keepalive. */
  protected touch(): void {
    this.lastActivity = this.options.clock.now();
    this.lastInbound = this.lastActivity;
  }

  /** Subclasses call this for each whole inbound message. */
  protected deliver(data: Buffer): void {
    if (this.closing) return;
    this.hooks.message(this, data);
  }

  /**
   * RFC 5626 §3.5.1, §4.4.1: answers a CRLFCRLF ping with a CRLF pong, unless the connection is
   * backed up (a peer that does not read gets nothing more queued).
   */
  protected pong(): void {
    if (this.closing || this.backlog() + PONG.length > this.options.maxWriteBacklog) return;
    this.write(PONG, () => undefined);
  }

  protected noteError(error: Error): void {
    this.lastError ??= error;
  }

  /** Subclasses call this once the socket is really closed. */
  protected transportClosed(): void {
    if (this.finished) return;
    this.finished = true;
    this.options.clock.clearTimeout(this.idleTimer);
    this.options.clock.clearTimeout(this.keepaliveTimer);
    this.hooks.closed(this, this.closeReason ?? 'remote', this.lastError);
    this.resolveClosed();
  }

  private checkAlive(): void {
    if (this.closing) return;
    const every = this.options.keepaliveMs!;
    const silentFor = this.options.clock.now() - this.lastInbound;
    if (silentFor >= 2 * every) return this.close('unresponsive');
    // Quiet for a while: ask (the ping itself is not traffic that proves the peer alive).
    if (silentFor >= every && this.backlog() + PING.length <= this.options.maxWriteBacklog) this.write(PING, () => undefined);
    this.keepaliveTimer = this.options.clock.setTimeout(() => this.checkAlive(), every);
  }

  private checkIdle(): void {
    if (this.closing) return;
    const idleFor = this.options.clock.now() - this.lastActivity;
    if (idleFor >= this.options.idleTimeoutMs) {
      this.close('idle');
    } else {
      this.idleTimer = this.options.clock.setTimeout(() => this.checkIdle(), this.options.idleTimeoutMs - idleFor);
    }
  }

  private gone(): TransportError {
    return new TransportError('TW_ERR_TRANSPORT_FLOW_GONE', `${this.flow.protocol} flow ${this.flow.id} is closing`);
  }
}

/** Local and remote endpoints of a connected socket, or undefined if it is already gone. */
export function socketEndpoints(socket: Socket): Pick<Flow, 'local' | 'remote'> | undefined {
  const { localAddress, localPort, remoteAddress, remotePort } = socket;
  if (!localAddress || !localPort || !remoteAddress || !remotePort) return undefined;
  return { local: { address: localAddress, port: localPort }, remote: { address: remoteAddress, port: remotePort } };
}

/**
 * SIP over a byte stream (TCP, or TLS on top of it): a {@link StreamFramer} cuts the stream into
 * messages (RFC 3261 §18.3); a framing error closes the connection, since message boundaries are
 * lost; CRLFCRLF pings are answered.
 */
export class StreamConnection extends Connection {
  private readonly framer: StreamFramer;

  constructor(
    private readonly socket: Socket,
    flow: Flow,
    hooks: ConnectionHooks,
    options: ConnectionOptions,
  ) {
    super(flow, hooks, options);
    this.framer = new StreamFramer(
      {
        onMessage: (message) => this.deliver(message),
        onPing: () => this.pong(),
        onError: (error) => this.framingFailed(error),
      },
      { maxMessageSize: options.maxMessageSize },
    );
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      this.touch();
      this.framer.push(chunk);
    });
    socket.on('error', (error) => this.noteError(error));
    socket.on('close', () => {
      this.framer.close();
      this.transportClosed();
    });
    if (socket.destroyed) queueMicrotask(() => this.transportClosed());
  }

  /** A stream connection's Flow for `socket`, or undefined if the socket is already closed. */
  static flowFor(id: string, protocol: TransportProtocol, socket: Socket): Flow | undefined {
    const endpoints = socketEndpoints(socket);
    return endpoints && { id, protocol, ...endpoints };
  }

  protected backlog(): number {
    return this.socket.writableLength;
  }

  protected write(data: Buffer, done: (error?: Error | null) => void): void {
    this.socket.write(data, done);
  }

  protected destroyTransport(): void {
    this.framer.close();
    this.socket.destroy();
  }

  private framingFailed(error: FramingError): void {
    this.hooks.error(error, this.flow);
    this.close('framing-error');
  }
}
