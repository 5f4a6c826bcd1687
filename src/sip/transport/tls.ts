import net from 'node:net';
import tls from 'node:tls';
import { awaitSocket, type ConnectTarget, type Opening } from './tcp.js';

/** A server's certificate chain and key (PEM), for TLS and WSS listeners. */
export interface TlsCredentials {
  cert: string | Buffer;
  key: string | Buffer;
  passphrase?: string;
  /** Trusted CAs, when client certificates are requested. */
  ca?: string | Buffer | Array<string | Buffer>;
  /** Ask clients for a certificate (mutual TLS); unverified clients are refused. Default false. */
  requestCert?: boolean;
}

/** How outbound TLS and WSS connections authenticate the server (and optionally themselves). */
export interface TlsClientOptions {
  /** Trusted CAs; default: Node's bundled roots. */
  ca?: string | Buffer | Array<string | Buffer>;
  /** Client certificate and key, for servers that require mutual TLS. */
  cert?: string | Buffer;
  key?: string | Buffer;
  /** Verify the server's certificate (RFC 5922). Default true; turn off only in labs. */
  rejectUnauthorized?: boolean;
}

/** TLS handshakes that do not finish within this are dropped (slow-handshake protection). */
export const TLS_HANDSHAKE_TIMEOUT_MS = 10_000;

/** Node's TLS settings for a server with `credentials`. */
export function serverTlsOptions(credentials: TlsCredentials): tls.TlsOptions {
  return {
    cert: credentials.cert,
    key: credentials.key,
    passphrase: credentials.passphrase,
    ca: credentials.ca,
    requestCert: credentials.requestCert ?? false,
    rejectUnauthorized: credentials.requestCert ?? false,
    handshakeTimeout: TLS_HANDSHAKE_TIMEOUT_MS,
    minVersion: 'TLSv1.2',
  };
}

/**
 * A SIP-over-TLS server (RFC 3261 §26.2.1, RFC 5630): `onSocket` gets each connection once its
 * handshake is complete; `onHandshakeError` hears about handshakes that failed.
 */
export function createTlsServer(
  credentials: TlsCredentials,
  onSocket: (socket: tls.TLSSocket) => void,
  onHandshakeError: (error: Error) => void,
): tls.Server {
  const server = tls.createServer({ ...serverTlsOptions(credentials), noDelay: true }, onSocket);
  server.on('tlsClientError', onHandshakeError);
  return server;
}

/**
 * Opens a TLS connection and verifies the server (RFC 5922 §7.2: against `servername` when given,
 * else against the IP address). SNI is sent only for a host name (RFC 6066 §3 forbids literals).
 */
export function connectTls(target: ConnectTarget & { servername?: string }, options: TlsClientOptions): Opening<tls.TLSSocket> {
  const servername = target.servername && net.isIP(target.servername) === 0 ? target.servername : undefined;
  const socket = tls.connect({
    host: target.address,
    port: target.port,
    servername,
    ca: options.ca,
    cert: options.cert,
    key: options.key,
    rejectUnauthorized: options.rejectUnauthorized ?? true,
    minVersion: 'TLSv1.2',
  });
  return awaitSocket(socket, 'secureConnect');
}
