import net from 'node:net';

/** Where a listening socket binds: exactly this address (an IP literal) and port (0 picks one). */
export interface BindOptions {
  address: string;
  port: number;
  /** For an IPv6 address: accept IPv6 only (no IPv4-mapped traffic on `::`). */
  ipv6Only: boolean;
}

/** A connection being opened: `ready` settles once it is usable; `abort` gives up on it. */
export interface Opening<T> {
  readonly ready: Promise<T>;
  abort(error: Error): void;
}

/** Where an outbound connection goes. The system picks the source address and port. */
export interface ConnectTarget {
  address: string;
  port: number;
}

const ignore = (): void => undefined;

/** A TCP server (RFC 3261 §18) handing each accepted socket to `onSocket`; not yet listening. */
export function createTcpServer(onSocket: (socket: net.Socket) => void): net.Server {
  return net.createServer({ noDelay: true }, onSocket);
}

/**
 * Starts `server` (TCP, TLS or HTTP) listening on exactly `bind`; resolves with the bound address.
 * Rejects with the socket error (EADDRINUSE, EADDRNOTAVAIL, ...) if it cannot.
 */
export function listenOn(server: net.Server, bind: BindOptions): Promise<net.AddressInfo> {
  return new Promise((resolve, reject) => {
    const failed = (error: Error): void => reject(error);
    server.once('error', failed);
    server.listen({ host: bind.address, port: bind.port, ipv6Only: bind.ipv6Only && net.isIPv6(bind.address), exclusive: true }, () => {
      server.off('error', failed);
      resolve(server.address() as net.AddressInfo);
    });
  });
}

/** Opens a TCP connection (RFC 3261 §18.1.1, §18.2.2 when the client's connection is gone). */
export function connectTcp(target: ConnectTarget): Opening<net.Socket> {
  const socket = net.connect({ host: target.address, port: target.port, noDelay: true });
  return awaitSocket(socket, 'connect');
}

/**
 * Waits for `socket` to emit `event` (connect, or secureConnect for TLS). Rejects with the socket's
 * error, or a plain error if it closes first; the socket is destroyed on failure. An `error`
 * listener stays attached so a late error can never go unhandled.
 */
export function awaitSocket<S extends net.Socket>(socket: S, event: 'connect' | 'secureConnect'): Opening<S> {
  socket.on('error', ignore);
  const ready = new Promise<S>((resolve, reject) => {
    const succeeded = (): void => {
      cleanup();
      resolve(socket);
    };
    const failed = (error: Error): void => {
      cleanup();
      socket.destroy();
      reject(error);
    };
    const closed = (): void => failed(new Error('connection closed while opening'));
    const cleanup = (): void => {
      socket.off(event, succeeded);
      socket.off('error', failed);
      socket.off('close', closed);
    };
    socket.once(event, succeeded);
    socket.once('error', failed);
    socket.once('close', closed);
  });
  return { ready, abort: (error) => socket.destroy(error) };
}
