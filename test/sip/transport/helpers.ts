import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Socket } from 'node:net';
import { promisify } from 'node:util';
import { StreamFramer } from '../../../src/sip/parser/framer.js';
import { TransportLayer, type TransportLayerOptions } from '../../../src/sip/transport/manager.js';
import type { Flow, InboundMessage } from '../../../src/sip/transport/types.js';

export const LOOPBACK = '127.0.0.1';

/** A SIP message with a correct Content-Length and a body. */
export function sipMessage(tag: string, body = `body of ${tag}`): Buffer {
  return Buffer.from(
    `MESSAGE sip:bob@example.com SIP/2.0\r\nCall-ID: ${tag}\r\nCSeq: 1 MESSAGE\r\n` +
      `Content-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}

/** Queues values and hands them out in order, waiting when none is there yet. */
export class Queue<T> {
  private readonly items: T[] = [];
  private readonly waiters: Array<(item: T) => void> = [];

  push(item: T): void {
    const waiter = this.waiters.shift();
    if (waiter) waiter(item);
    else this.items.push(item);
  }

  get length(): number {
    return this.items.length;
  }

  next(timeoutMs = 5000): Promise<T> {
    const item = this.items.shift();
    if (item !== undefined) return Promise.resolve(item);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('timed out waiting for a queued item')), timeoutMs);
      this.waiters.push((value) => {
        clearTimeout(timer);
        resolve(value);
      });
    });
  }
}

/** A transport layer whose inbound messages, closed flows and errors are queued for the test. */
export interface Harness {
  layer: TransportLayer;
  messages: Queue<InboundMessage>;
  closed: Queue<{ flow: Flow; reason: string }>;
  errors: Error[];
}

const open: TransportLayer[] = [];

export function harness(options: TransportLayerOptions = {}): Harness {
  const layer = new TransportLayer(options);
  open.push(layer);
  const h: Harness = { layer, messages: new Queue(), closed: new Queue(), errors: [] };
  layer.onMessage((message) => h.messages.push(message));
  layer.onFlowClosed((flow, reason) => h.closed.push({ flow, reason }));
  layer.onError((error) => h.errors.push(error));
  return h;
}

/** Closes every layer made by {@link harness}; call from afterEach. */
export async function closeAll(): Promise<void> {
  await Promise.all(open.splice(0).map((layer) => layer.close()));
}

/** Frames what a raw client socket receives, and queues the CRLF keepalives separately. */
export function readStream(socket: Socket): { messages: Queue<Buffer>; raw: Buffer[]; closed: Promise<void> } {
  const messages = new Queue<Buffer>();
  const raw: Buffer[] = [];
  const framer = new StreamFramer({ onMessage: (m) => messages.push(Buffer.from(m)), onError: () => socket.destroy() });
  socket.on('data', (chunk: Buffer) => {
    raw.push(chunk);
    framer.push(chunk);
  });
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  return { messages, raw, closed };
}

/** Resolves once `predicate` holds, polling; rejects after `timeoutMs`. */
export async function waitFor(predicate: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

const run = promisify(execFile);

/** A self-signed certificate for 127.0.0.1 and localhost, made with the openssl CLI in a temp dir. */
export async function selfSignedCertificate(): Promise<{ cert: string; key: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'tidewater-tls-'));
  try {
    const key = join(dir, 'key.pem');
    const cert = join(dir, 'cert.pem');
    await run('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=localhost',
      '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost',
    ]);
    return { cert: await readFile(cert, 'utf8'), key: await readFile(key, 'utf8') };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
