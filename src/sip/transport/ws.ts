import { isUtf8 } from 'node:buffer';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import { Connection, socketEndpoints, type ConnectionHooks, type ConnectionOptions, type FlowCloseReason } from './connection.js';
import type { ConnectTarget, Opening } from './tcp.js';
import { serverTlsOptions, type TlsClientOptions, type TlsCredentials } from './tls.js';
import type { Flow, TransportProtocol } from './types.js';

/** The WebSocket subprotocol for SIP (RFC 7118 §4.1). */
export const SIP_SUBPROTOCOL = 'sip';

/** A WebSocket opening handshake that does not finish within this is dropped. */
export const WS_HANDSHAKE_TIMEOUT_MS = 10_000;

const CR = 0x0d;
const LF = 0x0a;

export interface WsServerOptions {
  /** Present for WSS: the server certificate and key. */
  tls?: TlsCredentials;
  /** Accept upgrades only on this request path (e.g. `/sip`); default any path. */
  path?: string;
  /** Largest message; bigger frames close the connection with 1009 (RFC 6455 §7.4.1). */
  maxMessageSize: number;
  /** Whether one more connection may be accepted (the connection cap). */
  canAccept(): boolean;
  /** A WebSocket whose handshake is complete, and the socket under it. */
  onConnection(ws: WebSocket, socket: net.Socket): void;
}

/**
 * An HTTP(S) server that only upgrades to WebSocket with the `sip` subprotocol (RFC 7118 §4.1): an
 * upgrade that does not offer `sip` gets 400, a wrong path 404, one over the connection cap 503, and
 * a plain HTTP request 426. Not yet listening.
 */
export function createWsServer(options: WsServerOptions): http.Server {
  const server = options.tls ? https.createServer(serverTlsOptions(options.tls)) : http.createServer();
  server.headersTimeout = WS_HANDSHAKE_TIMEOUT_MS;
  server.requestTimeout = WS_HANDSHAKE_TIMEOUT_MS;
  const wss = new WebSocketServer({
    noServer: true,
    clientTracking: false,
    perMessageDeflate: false,
    maxPayload: options.maxMessageSize,
    handleProtocols: () => SIP_SUBPROTOCOL,
  });
  server.on('request', (_request: http.IncomingMessage, response: http.ServerResponse) => {
    response.writeHead(426, { Upgrade: 'websocket', Connection: 'close', 'Content-Length': '0' }).end();
  });
  server.on('upgrade', (request: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
    socket.on('error', () => socket.destroy());
    const refusal = refusalFor(request, options);
    if (refusal) {
      socket.end(`HTTP/1.1 ${refusal}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`, () => socket.destroy());
      return;
    }
    wss.handleUpgrade(request, socket, head, (ws) => options.onConnection(ws, socket));
  });
  return server;
}

function refusalFor(request: http.IncomingMessage, options: WsServerOptions): string | undefined {
  const offered = request.headers['sec-websocket-protocol'] ?? '';
  if (!offered.split(',').some((token) => token.trim() === SIP_SUBPROTOCOL)) return '400 Bad Request';
  if (options.path !== undefined && (request.url ?? '/').split('?')[0] !== options.path) return '404 Not Found';
  if (!options.canAccept()) return '503 Service Unavailable';
  return undefined;
}

export interface WsConnectTarget extends ConnectTarget {
  secure: boolean;
  path?: string;
  servername?: string;
}

/**
 * Opens a WebSocket to a SIP server offering only the `sip` subprotocol (RFC 7118 §4.1); the `ws`
 * client fails the handshake if the server does not select it.
 */
export function connectWs(
  target: WsConnectTarget,
  maxMessageSize: number,
  tlsOptions: TlsClientOptions,
): Opening<{ ws: WebSocket; socket: net.Socket }> {
  const host = net.isIPv6(target.address) ? `[${target.address}]` : target.address;
  const path = target.path?.startsWith('/') ? target.path : `/${target.path ?? ''}`;
  const url = `${target.secure ? 'wss' : 'ws'}://${host}:${target.port}${path}`;
  const servername = target.servername && net.isIP(target.servername) === 0 ? target.servername : undefined;
  const ws = new WebSocket(url, SIP_SUBPROTOCOL, {
    perMessageDeflate: false,
    followRedirects: false,
    maxPayload: maxMessageSize,
    handshakeTimeout: WS_HANDSHAKE_TIMEOUT_MS,
    ...(target.secure ? { servername, ...tlsOptions, rejectUnauthorized: tlsOptions.rejectUnauthorized ?? true } : {}),
  });
  let socket: net.Socket | undefined;
  let fail!: (error: Error) => void;
  ws.on('error', () => undefined);
  ws.once('upgrade', (response: http.IncomingMessage) => (socket = response.socket));
  const ready = new Promise<{ ws: WebSocket; socket: net.Socket }>((resolve, reject) => {
    fail = reject;
    ws.once('open', () => {
      if (socket) return resolve({ ws, socket });
      ws.terminate();
      reject(new Error('WebSocket opened without a socket'));
    });
    ws.once('error', reject);
    ws.once('close', () => reject(new Error('WebSocket closed while opening')));
  });
  return {
    ready,
    abort: (error) => {
      fail(error);
      ws.terminate();
    },
  };
}

/**
 * SIP over WebSocket (RFC 7118 §5): each text or binary message is one SIP message, so no stream
 * framing. A message of only CRLFs is a keepalive, as over TCP (RFC 5626 §3.5.1, used by SIP.js
 * and JsSIP): CRLFCRLF is answered with CRLF and nothing is delivered. Outbound messages go in a
 * text frame when they are valid UTF-8, else in a binary frame (RFC 7118 §5.1).
 */
export class WsConnection extends Connection {
  constructor(
    private readonly ws: WebSocket,
    flow: Flow,
    hooks: ConnectionHooks,
    options: ConnectionOptions,
  ) {
    super(flow, hooks, options);
    ws.on('message', (data: RawData) => this.received(data));
    ws.on('error', (error) => this.noteError(error));
    ws.on('close', () => this.transportClosed());
    if (ws.readyState === WebSocket.CLOSED) queueMicrotask(() => this.transportClosed());
  }

  /** A WebSocket connection's Flow, or undefined if its socket is already closed. */
  static flowFor(id: string, protocol: TransportProtocol, socket: net.Socket): Flow | undefined {
    const endpoints = socketEndpoints(socket);
    return endpoints && { id, protocol, ...endpoints };
  }

  protected backlog(): number {
    return this.ws.bufferedAmount;
  }

  protected write(data: Buffer, done: (error?: Error | null) => void): void {
    if (this.ws.readyState !== WebSocket.OPEN) {
      done(new Error('WebSocket is not open'));
      return;
    }
    this.ws.send(data, { binary: !isUtf8(data) }, (error) => done(error));
  }

  protected destroyTransport(reason: FlowCloseReason): void {
    if (reason === 'idle' || reason === 'local') this.ws.close(1000);
    else this.ws.terminate();
  }

  private received(data: RawData): void {
    this.touch();
    const message = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
    const lineFeeds = keepaliveLineFeeds(message);
    if (lineFeeds < 0) this.deliver(message);
    else if (lineFeeds >= 2) this.pong();
  }
}

/** For a message of only CRs and LFs, how many LFs it has; -1 for anything else. */
function keepaliveLineFeeds(message: Buffer): number {
  if (message.length === 0 || message.length > 8) return message.length === 0 ? 0 : -1;
  let lineFeeds = 0;
  for (let i = 0; i < message.length; i++) {
    if (message[i] === LF) lineFeeds++;
    else if (message[i] !== CR) return -1;
  }
  return lineFeeds;
}
