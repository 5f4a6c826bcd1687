/**
 * The health and metrics listener (BRIEF.md: port 9090): `GET /health` answers 200 `OK` while
 * the process serves, `GET /metrics` the Prometheus text exposition format (version 0.0.4) of
 * the gauges and counters handed in. It binds exactly where it is told.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One metric sample source: read when /metrics is scraped. */
export interface MetricSource {
  readonly name: string;
  readonly help: string;
  readonly type: 'gauge' | 'counter';
  read(): number | Promise<number>;
}

export interface MetricsServer {
  readonly address: string;
  readonly port: number;
  close(): Promise<void>;
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;

export async function startMetricsServer(address: string, port: number, metrics: readonly MetricSource[]): Promise<MetricsServer> {
  for (const m of metrics) if (!METRIC_NAME.test(m.name)) throw new Error(`bad metric name ${m.name}`);
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    if (path === '/health') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('OK\n');
      return;
    }
    if (path !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    void render(metrics).then(
      (text) => res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(text),
      () => res.writeHead(500, { 'content-type': 'text/plain' }).end('metrics unavailable\n'),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: address, port }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const bound = server.address() as AddressInfo;
  return {
    address: bound.address,
    port: bound.port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

async function render(metrics: readonly MetricSource[]): Promise<string> {
  const lines: string[] = [];
  for (const m of metrics) {
    const value = await m.read();
    lines.push(`# HELP ${m.name} ${m.help}`, `# TYPE ${m.name} ${m.type}`, `${m.name} ${Number.isFinite(value) ? value : 0}`);
  }
  return `${lines.join('\n')}\n`;
}
