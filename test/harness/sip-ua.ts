/**
 * A minimal SIP user agent for end-to-end tests over the secure transports SIPp lacks: SIP over
 * TLS (node:tls, the server verified against a given certificate) and SIP over secure WebSocket
 * (the `ws` package, `sip` subprotocol, RFC 7118), speaking like JsSIP does (a `.invalid` Via
 * host, RFC 5626 outbound Contact with `+sip.instance` and `reg-id`). It registers with Digest
 * (MD5, qop=auth), sends requests and waits for their final response, and hands incoming
 * requests to the test, which answers them. No retransmissions: both transports are reliable.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import tls from 'node:tls';
import { WebSocket } from 'ws';
import {
  StreamFramer,
  SipRequest,
  SipResponse,
  computeHa1,
  computeResponse,
  formatCredentials,
  parseDigestChallenge,
  parseMessage,
} from '../../src/sip/index.js';

/** One connection to the edge. */
interface Channel {
  readonly transport: 'TLS' | 'WSS';
  /** Via sent-by and Contact host:port (JsSIP puts a random `.invalid` host for WebSocket). */
  readonly sentBy: string;
  send(text: string): void;
  close(): Promise<void>;
}

export interface UaOptions {
  readonly user: string;
  readonly password: string;
  readonly domain: string;
  /** The `+sip.instance` of this device (RFC 5626 §4.1); default a fresh urn:uuid. */
  readonly instance?: string;
}

const token = (): string => randomBytes(6).toString('hex');

/** Waits for one of a list of things to arrive. */
class Inbox<T> {
  private readonly items: T[] = [];
  private readonly waiters: Array<{ match: (t: T) => boolean; resolve: (t: T) => void }> = [];

  put(item: T): void {
    const i = this.waiters.findIndex((w) => w.match(item));
    if (i >= 0) this.waiters.splice(i, 1)[0]!.resolve(item);
    else this.items.push(item);
  }

  take(match: (t: T) => boolean, timeoutMs: number, what: string): Promise<T> {
    const i = this.items.findIndex(match);
    if (i >= 0) return Promise.resolve(this.items.splice(i, 1)[0]!);
    return new Promise((resolve, reject) => {
      const waiter = { match, resolve: (t: T) => (clearTimeout(timer), resolve(t)) };
      const timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        reject(new Error(`no ${what} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiters.push(waiter);
    });
  }

  /** Items that arrived and nobody took. */
  get pending(): readonly T[] {
    return this.items;
  }
}

/** A user agent on one TLS or WSS connection. */
export class TestUa {
  readonly instance: string;
  readonly requests = new Inbox<SipRequest>();
  private readonly responses = new Inbox<SipResponse>();
  private readonly contactUser = token();
  /** Request-URI and Via of each request sent, by `Call-ID CSeq`, for the ACK of a failure. */
  private readonly sent = new Map<string, { uri: string; via: string }>();
  private cseq = 0;
  private nc = 0;

  private constructor(
    private readonly channel: Channel,
    readonly opts: UaOptions,
  ) {
    this.instance = opts.instance ?? `<urn:uuid:${randomUUID()}>`;
  }

  /** Connects over TLS to 127.0.0.1:`port`, trusting only `ca` and checking the certificate names `servername`. */
  static async tls(port: number, ca: string, servername: string, opts: UaOptions): Promise<{ ua: TestUa; socket: tls.TLSSocket }> {
    const socket = tls.connect({ host: '127.0.0.1', port, ca, servername });
    await new Promise<void>((resolve, reject) => {
      socket.once('secureConnect', resolve);
      socket.once('error', reject);
    });
    const channel: Channel = {
      transport: 'TLS',
      sentBy: `${socket.localAddress}:${socket.localPort}`,
      send: (text) => socket.write(text),
      close: () => new Promise((resolve) => socket.end(resolve)),
    };
    const ua = new TestUa(channel, opts);
    const framer = new StreamFramer({ onMessage: (m) => ua.received(m), onError: () => socket.destroy() });
    socket.on('data', (chunk: Buffer) => framer.push(chunk));
    socket.on('error', () => undefined);
    return { ua, socket };
  }

  /** Connects over secure WebSocket (subprotocol `sip`) to 127.0.0.1:`port`, trusting only `ca`. */
  static async wss(port: number, ca: string, opts: UaOptions): Promise<{ ua: TestUa; ws: WebSocket }> {
    const ws = new WebSocket(`wss://127.0.0.1:${port}/`, 'sip', { ca });
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    const channel: Channel = {
      transport: 'WSS',
      sentBy: `${token()}.invalid`,
      send: (text) => ws.send(text),
      close: () => new Promise((resolve) => (ws.once('close', () => resolve()), ws.close(1000))),
    };
    const ua = new TestUa(channel, opts);
    ws.on('message', (data: Buffer) => ua.received(Buffer.from(data)));
    ws.on('error', () => undefined);
    return { ua, ws };
  }

  get aor(): string {
    return `sip:${this.opts.user}@${this.opts.domain}`;
  }

  /** The Contact URI this device registers. */
  get contactUri(): string {
    return `sip:${this.contactUser}@${this.channel.sentBy};transport=${this.channel.transport === 'TLS' ? 'tls' : 'ws'}`;
  }

  /** REGISTER, answering a 401 with Digest MD5; resolves with the final response. */
  async register(expires = 600, supported = 'path, outbound, gruu'): Promise<SipResponse> {
    const callId = `reg-${token()}`;
    const contact = `<${this.contactUri};ob>;+sip.instance="${this.instance}";reg-id=1;expires=${expires}`;
    const headers = [`Contact: ${contact}`, `Supported: ${supported}`, `Expires: ${expires}`];
    const first = await this.request('REGISTER', `sip:${this.opts.domain}`, { callId, headers, to: this.aor });
    if (first.status !== 401) return first;
    const auth = this.authorization(first, 'REGISTER', `sip:${this.opts.domain}`);
    return this.request('REGISTER', `sip:${this.opts.domain}`, { callId, headers: [...headers, `Authorization: ${auth}`], to: this.aor });
  }

  /** Sends an out-of-dialog request (or one in a dialog, given its headers) and resolves with its final response. */
  request(method: string, uri: string, o: { callId?: string; headers?: string[]; body?: string; type?: string; to?: string; cseq?: number; fromTag?: string } = {}): Promise<SipResponse> {
    const callId = o.callId ?? `${method.toLowerCase()}-${token()}`;
    const cseq = o.cseq ?? ++this.cseq;
    const via = `SIP/2.0/${this.channel.transport} ${this.channel.sentBy};branch=z9hG4bK${token()};rport`;
    this.sent.set(`${callId} ${cseq}`, { uri, via });
    const lines = [
      `${method} ${uri} SIP/2.0`,
      `Via: ${via}`,
      'Max-Forwards: 70',
      `From: <${this.aor}>;tag=${o.fromTag ?? 'ua'}`,
      `To: <${o.to ?? uri}>`,
      `Call-ID: ${callId}`,
      `CSeq: ${cseq} ${method}`,
      ...(method === 'REGISTER' ? [] : [`Contact: <${this.contactUri};ob>`]),
      ...(o.headers ?? []),
    ];
    this.send(lines, o.body, o.type);
    return this.responses.take((r) => r.callId === callId && r.cseq.seq === cseq && r.cseq.method === method && r.status >= 200, 15_000, `final response to ${method}`);
  }

  /** Provisional responses seen for a request (by Call-ID), e.g. 180 Ringing. */
  provisionals(callId: string): readonly SipResponse[] {
    return this.responses.pending.filter((r) => r.callId === callId && r.status < 200);
  }

  /** ACK for a 2xx to INVITE (RFC 3261 §13.2.2.4): to the callee's Contact along the reversed Record-Route. */
  ack(ok: SipResponse): void {
    this.send(this.inDialog('ACK', ok, ok.cseq.seq));
  }

  /** BYE in the dialog a 2xx to INVITE set up; resolves with its final response. */
  bye(ok: SipResponse): Promise<SipResponse> {
    const cseq = ok.cseq.seq + 1;
    this.send(this.inDialog('BYE', ok, cseq));
    return this.responses.take((r) => r.callId === ok.callId && r.cseq.method === 'BYE' && r.status >= 200, 15_000, 'final response to BYE');
  }

  /** ACK for a non-2xx final response to INVITE (RFC 3261 §17.1.1.3): same branch, hop by hop. */
  ackFailure(res: SipResponse): void {
    const invite = this.sent.get(`${res.callId} ${res.cseq.seq}`)!;
    this.send([`ACK ${invite.uri} SIP/2.0`, `Via: ${invite.via}`, 'Max-Forwards: 70', `From: ${res.get('from')!}`, `To: ${res.get('to')!}`, `Call-ID: ${res.callId}`, `CSeq: ${res.cseq.seq} ACK`]);
  }

  /** The next request of `method` that reached this device. */
  nextRequest(method: string, timeoutMs = 15_000): Promise<SipRequest> {
    return this.requests.take((r) => r.method === method, timeoutMs, `${method} request`);
  }

  /** Answers a request that reached this device (To tag added for a dialog-forming 2xx). */
  respond(req: SipRequest, status: number, reason: string, extra: string[] = [], body?: string, type?: string): void {
    const to = req.get('to')!;
    const lines = [
      `SIP/2.0 ${status} ${reason}`,
      ...req.getAll('via').map((v) => `Via: ${v}`),
      ...req.getAll('record-route').map((r) => `Record-Route: ${r}`),
      `From: ${req.get('from')!}`,
      `To: ${to.includes(';tag=') ? to : `${to};tag=${token()}`}`,
      `Call-ID: ${req.callId}`,
      `CSeq: ${req.cseq.seq} ${req.cseq.method}`,
      `Contact: <${this.contactUri}>`,
      ...extra,
    ];
    this.send(lines, body, type);
  }

  close(): Promise<void> {
    return this.channel.close();
  }

  private inDialog(method: string, ok: SipResponse, cseq: number): string[] {
    const routes = ok.getAll('record-route').reverse();
    return [
      `${method} ${ok.contacts[0]!.uri.toString()} SIP/2.0`,
      `Via: SIP/2.0/${this.channel.transport} ${this.channel.sentBy};branch=z9hG4bK${token()};rport`,
      'Max-Forwards: 70',
      `From: ${ok.get('from')!}`,
      `To: ${ok.get('to')!}`,
      `Call-ID: ${ok.callId}`,
      `CSeq: ${cseq} ${method}`,
      ...routes.map((r) => `Route: ${r}`),
    ];
  }

  private authorization(challenge: SipResponse, method: string, uri: string): string {
    const offers = challenge.getAll('www-authenticate').map((v) => parseDigestChallenge(v)!);
    const md5 = offers.find((c) => (c.algorithm ?? 'MD5') === 'MD5')!;
    const nc = (++this.nc).toString(16).padStart(8, '0');
    const cnonce = token();
    const username = `${this.opts.user}@${this.opts.domain}`;
    const ha1 = computeHa1('MD5', username, md5.realm!, this.opts.password);
    const response = computeResponse({ algorithm: 'MD5', ha1, nonce: md5.nonce!, method, uri, qop: 'auth', nc, cnonce });
    return formatCredentials({ username, realm: md5.realm!, nonce: md5.nonce!, uri, response, algorithm: 'MD5', qop: 'auth', nc, cnonce, ...(md5.opaque ? { opaque: md5.opaque } : {}) });
  }

  private send(lines: string[], body = '', type?: string): void {
    const head = [...lines, ...(body ? [`Content-Type: ${type ?? 'application/sdp'}`] : []), `Content-Length: ${Buffer.byteLength(body)}`];
    this.channel.send(`${head.join('\r\n')}\r\n\r\n${body}`);
  }

  private received(data: Buffer): void {
    const m = parseMessage(data);
    if (m instanceof SipResponse) this.responses.put(m);
    else if (m instanceof SipRequest) this.requests.put(m);
  }
}
