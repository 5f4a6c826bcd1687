/**
 * A small HTTP/1.1 client for the calls one Tidewater node makes to another's API (a core to
 * the HSS, an MMTel AS to the XDMS): kept-alive connections from one agent per base URL, a
 * timeout per request, the body read whole.
 *
 * Node's global `fetch` (undici with WHATWG streams, an AbortSignal and its timer per request)
 * cost a core about a fifth of its CPU in bench:cluster; `node:http` with a keep-alive agent
 * does the same request for a fraction of that.
 */
import { Agent as HttpAgent, request as httpRequest, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';

export interface HttpClientOptions {
  /** Base URL, `http://` or `https://`, without a trailing slash; paths are appended to it. */
  readonly base: string;
  /** How long one request may take, connection included, ms. */
  readonly timeoutMs: number;
  /** Connections kept per client at most; further requests wait for one. Default 64. */
  readonly maxSockets?: number;
}

export interface HttpAnswer {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly text: string;
}

/** Why a request got no answer: `timeout` (none within timeoutMs) or `unreachable` (connection failed or broke). */
export class HttpClientError extends Error {
  constructor(
    readonly kind: 'timeout' | 'unreachable',
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'HttpClientError';
  }
}

/** Keep-alive sockets idle longer than this are closed (below Fastify's 72 s keepAliveTimeout, so the client closes first). */
const IDLE_SOCKET_MS = 30_000;

export class HttpClient {
  private readonly url: URL;
  private readonly agent: HttpAgent;
  private readonly send: typeof httpRequest;

  constructor(private readonly opts: HttpClientOptions) {
    this.url = new URL(opts.base);
    const secure = this.url.protocol === 'https:';
    const agentOptions = { keepAlive: true, maxSockets: opts.maxSockets ?? 64, timeout: IDLE_SOCKET_MS, scheduling: 'lifo' as const };
    this.agent = secure ? new HttpsAgent(agentOptions) : new HttpAgent(agentOptions);
    this.send = secure ? httpsRequest : httpRequest;
  }

  /** Sends `method path` with `headers` and `body`; resolves with the whole answer, rejects with {@link HttpClientError}. */
  request(method: string, path: string, headers: OutgoingHttpHeaders, body?: string): Promise<HttpAnswer> {
    return new Promise((resolve, reject) => {
      let settled = false;
      const finish = (error: HttpClientError | undefined, answer?: HttpAnswer): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (error) reject(error);
        else resolve(answer!);
      };
      const outgoing: OutgoingHttpHeaders = body === undefined ? headers : { ...headers, 'content-length': Buffer.byteLength(body) };
      const req = this.send(
        {
          protocol: this.url.protocol,
          hostname: this.url.hostname.startsWith('[') ? this.url.hostname.slice(1, -1) : this.url.hostname,
          port: this.url.port,
          path: this.url.pathname === '/' ? path : this.url.pathname + path,
          method,
          headers: outgoing,
          agent: this.agent,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () => finish(undefined, { status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') }));
          res.on('error', (e) => finish(new HttpClientError('unreachable', e.message, { cause: e })));
        },
      );
      const timer = setTimeout(() => {
        finish(new HttpClientError('timeout', `no answer within ${this.opts.timeoutMs} ms`));
        req.destroy();
      }, this.opts.timeoutMs);
      req.on('error', (e) => finish(new HttpClientError('unreachable', e.message, { cause: e })));
      req.end(body);
    });
  }

  /** Closes the kept-alive connections. */
  close(): void {
    this.agent.destroy();
  }
}
