/**
 * The health and metrics listener on a real loopback socket: liveness, readiness with its
 * reason, the `/health` alias, metrics, and what it refuses.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { startMetricsServer, type MetricsServer, type Readiness } from '../../src/observability/http.js';

const servers: MetricsServer[] = [];

afterEach(async () => {
  for (const s of servers.splice(0)) await s.close();
});

async function serve(ready?: () => Readiness | Promise<Readiness>): Promise<(path: string, init?: RequestInit) => Promise<Response>> {
  const server = await startMetricsServer('127.0.0.1', 0, [{ name: 'tidewater_things', help: 'Things.', type: 'gauge', read: () => 3 }], ready ? { ready } : {});
  servers.push(server);
  return (path, init) => fetch(`http://127.0.0.1:${server.port}${path}`, init);
}

describe('the health endpoints', () => {
  it('answer /health/live and /health with 200 OK in plain text, never cached', async () => {
    const get = await serve(() => ({ ready: false, reason: 'draining' }));
    for (const path of ['/health/live', '/health']) {
      const res = await get(path);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
      expect(res.headers.get('cache-control')).toBe('no-store');
      expect(await res.text()).toBe('OK\n');
    }
  });

  it('answer /health/ready 200 when ready and 503 with the reason when not, following the callback', async () => {
    let state: Readiness = { ready: false, reason: 'starting' };
    const get = await serve(() => state);
    let res = await get('/health/ready');
    expect([res.status, await res.text()]).toEqual([503, 'starting\n']);
    state = { ready: true };
    res = await get('/health/ready');
    expect([res.status, await res.text()]).toEqual([200, 'OK\n']);
    state = { ready: false, reason: 'draining' };
    res = await get('/health/ready?probe=1');
    expect([res.status, await res.text()]).toEqual([503, 'draining\n']);
  });

  it('answer /health/ready 503 naming the failure when the readiness callback throws', async () => {
    const get = await serve(async () => {
      throw new Error('redis down\nsecond line');
    });
    const res = await get('/health/ready');
    expect(res.status).toBe(503);
    expect(await res.text()).toBe('readiness check failed: redis down second line\n');
  });

  it('count a process without a readiness callback as ready', async () => {
    const get = await serve();
    expect((await get('/health/ready')).status).toBe(200);
  });

  it('answer HEAD like GET without a body, refuse other methods with 405 and unknown paths with 404', async () => {
    const get = await serve(() => ({ ready: false, reason: 'draining' }));
    const head = await get('/health/ready', { method: 'HEAD' });
    expect(head.status).toBe(503);
    expect(await head.text()).toBe('');
    const post = await get('/health/live', { method: 'POST' });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, HEAD');
    expect((await get('/health/other')).status).toBe(404);
  });

  it('leave /metrics as it was: the Prometheus text format of every source', async () => {
    const get = await serve(() => ({ ready: false, reason: 'draining' }));
    const res = await get('/metrics');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/plain; version=0.0.4');
    expect(await res.text()).toBe('# HELP tidewater_things Things.\n# TYPE tidewater_things gauge\ntidewater_things 3\n');
  });
});
