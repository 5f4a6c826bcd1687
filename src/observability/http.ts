/**
 * The health and metrics listener (BRIEF.md: port 9090, `metricsPort`), one per process:
 *
 * - `GET /health/live` answers 200 `OK` for as long as the process runs its event loop (a
 *   process that stops answering it is stuck and should be restarted); `GET /health` is the same.
 * - `GET /health/ready` answers 200 `OK` when the process takes new work, and 503 with the reason
 *   on one line (`starting`, `draining`, a failed dependency check) when it does not: a load
 *   balancer or an orchestrator sends traffic elsewhere meanwhile.
 * - `GET /metrics` answers the Prometheus text exposition format (version 0.0.4) of the gauges
 *   and counters handed in.
 *
 * Every health body is `text/plain`, one line. The listener binds exactly where it is told.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One metric sample source: read when /metrics is scraped. */
export interface MetricSource {
  readonly name: string;
  readonly help: string;
  readonly type: 'gauge' | 'counter';
  read(): number | Promise<number>;
}

/** Whether a process takes new work, and if not, why (one short line). */
export interface Readiness {
  readonly ready: boolean;
  readonly reason?: string;
}

/** What the health endpoints report; without `ready`, the process is ready whenever it runs. */
export interface HealthOptions {
  readonly ready?: () => Readiness | Promise<Readiness>;
}

export interface MetricsServer {
  readonly address: string;
  readonly port: number;
  close(): Promise<void>;
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const TEXT = 'text/plain; charset=utf-8';
/** Probes must see the state of now, never a cached answer. */
const NO_STORE = { 'content-type': TEXT, 'cache-control': 'no-store' };

export async function startMetricsServer(
  address: string,
  port: number,
  metrics: readonly MetricSource[],
  health: HealthOptions = {},
): Promise<MetricsServer> {
  for (const m of metrics) if (!METRIC_NAME.test(m.name)) throw new Error(`bad metric name ${m.name}`);
  const server: Server = createServer((req, res) => handle(req, res, metrics, health));
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

function handle(req: IncomingMessage, res: ServerResponse, metrics: readonly MetricSource[], health: HealthOptions): void {
  const path = (req.url ?? '/').split('?')[0];
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { allow: 'GET, HEAD' }).end();
    return;
  }
  switch (path) {
    case '/health':
    case '/health/live':
      res.writeHead(200, NO_STORE).end('OK\n');
      return;
    case '/health/ready':
      void readinessOf(health).then(({ ready, reason }) => {
        if (ready) res.writeHead(200, NO_STORE).end('OK\n');
        else res.writeHead(503, NO_STORE).end(`${oneLine(reason ?? 'not ready')}\n`);
      });
      return;
    case '/metrics':
      void render(metrics).then(
        (text) => res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(text),
        () => res.writeHead(500, { 'content-type': TEXT }).end('metrics unavailable\n'),
      );
      return;
    default:
      res.writeHead(404, { 'content-type': TEXT }).end('not found\n');
  }
}

/** The readiness callback's answer; one that throws or rejects means not ready. */
async function readinessOf(health: HealthOptions): Promise<Readiness> {
  if (health.ready === undefined) return { ready: true };
  try {
    return await health.ready();
  } catch (e) {
    return { ready: false, reason: `readiness check failed: ${e instanceof Error ? e.message : String(e)}` };
  }
}

function oneLine(text: string): string {
  return text.replace(/[\r\n]+/g, ' ').slice(0, 200);
}

async function render(metrics: readonly MetricSource[]): Promise<string> {
  const lines: string[] = [];
  for (const m of metrics) {
    const value = await m.read();
    lines.push(`# HELP ${m.name} ${m.help}`, `# TYPE ${m.name} ${m.type}`, `${m.name} ${Number.isFinite(value) ? value : 0}`);
  }
  return `${lines.join('\n')}\n`;
}
