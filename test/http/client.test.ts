import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { HttpClient, HttpClientError } from '../../src/http/client.js';

let server: Server | undefined;
let client: HttpClient | undefined;

async function serve(handler: Parameters<typeof createServer>[1]): Promise<{ base: string; connections: () => number }> {
  let connections = 0;
  server = createServer(handler);
  server.on('connection', () => connections++);
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  return { base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, connections: () => connections };
}

afterEach(async () => {
  client?.close();
  await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
  server = undefined;
});

describe('HttpClient', () => {
  it('sends method, path, headers and body, and returns status, headers and the whole body', async () => {
    const { base } = await serve((req, res) => {
      let body = '';
      req.setEncoding('utf8').on('data', (c: string) => (body += c));
      req.on('end', () => {
        res.writeHead(201, { etag: '"v1"', 'content-type': 'application/json' });
        res.end(JSON.stringify({ method: req.method, url: req.url, key: req.headers['x-key'], length: req.headers['content-length'], body }));
      });
    });
    client = new HttpClient({ base: `${base}/api`, timeoutMs: 2000 });
    const answer = await client.request('PUT', '/doc?x=1', { 'x-key': 'k' }, 'héllo');
    expect(answer.status).toBe(201);
    expect(answer.headers.etag).toBe('"v1"');
    expect(JSON.parse(answer.text)).toEqual({ method: 'PUT', url: '/api/doc?x=1', key: 'k', length: '6', body: 'héllo' });
  });

  it('keeps one connection for a run of requests instead of opening one each', async () => {
    const { base, connections } = await serve((_req, res) => res.end('{}'));
    client = new HttpClient({ base, timeoutMs: 2000 });
    for (let i = 0; i < 20; i++) expect((await client.request('GET', `/n/${i}`, {})).status).toBe(200);
    expect(connections()).toBe(1);
  });

  it('gives up after timeoutMs with a timeout error', async () => {
    const { base } = await serve(() => undefined);
    client = new HttpClient({ base, timeoutMs: 200 });
    const error = await client.request('GET', '/slow', {}).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HttpClientError);
    expect((error as HttpClientError).kind).toBe('timeout');
  });

  it('reports a peer that is not listening as unreachable', async () => {
    const { base } = await serve((_req, res) => res.end());
    await new Promise((resolve) => server!.close(resolve));
    server = undefined;
    client = new HttpClient({ base, timeoutMs: 2000 });
    const error = await client.request('GET', '/', {}).catch((e: unknown) => e);
    expect((error as HttpClientError).kind).toBe('unreachable');
    expect((error as Error).message).toMatch(/ECONNREFUSED/);
  });
});
