/**
 * The proxies the benchmark measures. Each target listens on 127.0.0.1:`port` (UDP and TCP),
 * relays every call statefully to the SIPp UAS at `route`, record-routes itself, runs pinned
 * to one CPU, and is ready when its start promise resolves.
 */
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { startProcess, type RunningProcess } from '../../test/harness/tools.js';
import { kamailioOptions, kamailioVersion, startKamailio, type KamailioAllocator } from '../lib/kamailio.js';

export type { KamailioAllocator } from '../lib/kamailio.js';

/** Where and how a target instance runs. */
export interface TargetContext {
  /** SIP port, UDP and TCP. */
  readonly port: number;
  /** WebSocket port (Tidewater only). */
  readonly wsPort: number;
  /** Next hop for every call, e.g. `sip:127.0.0.1:5090;transport=udp`. */
  readonly route: string;
  readonly cpu: number;
  /** Scratch folder of this instance. */
  readonly runDir: string;
}

/** A proxy under test. */
export interface Target {
  readonly name: string;
  /** One line describing the build and settings, for the report. */
  readonly description: string;
  /** Starts the proxy and resolves once it is ready. */
  start(ctx: TargetContext): Promise<RunningProcess>;
}

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const KAMAILIO_CFG = fileURLToPath(new URL('./kamailio-proxy.cfg', import.meta.url));
/** The compiled program (`npm run build`, also run by `npm install` and by bench:proxy). */
const STATIC_PROXY = 'dist/examples/static-proxy.js';
const KAMAILIO_READY = /kamailio-proxy ready/;
const TIDEWATER_READY = /^ready\b/;
const PLACEHOLDER = /\{(port|wsPort|route)\}/g;
const WHITESPACE = /\s+/;
const START_TIMEOUT_MS = 20_000;

/**
 * Kamailio with bench/proxy/kamailio-proxy.cfg: `children` UDP workers and one TCP worker,
 * 1024 MB shared / 16 MB private memory, 4 MB socket buffers, all pinned to the target CPU.
 * `allocator` picks the memory manager: Debian's build defaults to `qm`, a debugging
 * allocator that cost ~3x the CPU per call here (qm_malloc 60 % of the worker's profile);
 * `tlsf` (O(1)) is what a tuned production deployment runs, and the default.
 */
export async function kamailioTarget(children: number, allocator: KamailioAllocator): Promise<Target> {
  const version = await kamailioVersion();
  const options = { children, allocator, shmMb: 1024 };
  return {
    name: 'kamailio',
    description: `kamailio ${version}, kamailio-proxy.cfg, ${kamailioOptions(options).join(' ')}`,
    start: (ctx) =>
      startKamailio({
        ...options,
        cfg: KAMAILIO_CFG,
        defines: [`KAM_PORT=${ctx.port}`, `ROUTE_URI="${ctx.route}"`],
        cpu: ctx.cpu,
        runDir: ctx.runDir,
        readyLine: KAMAILIO_READY,
      }),
  };
}

/**
 * Node with the V8 flags of every Node target: a process pinned to one core gains nothing from
 * V8's parallel GC threads (they compete for the same core), and a 16 MiB young generation
 * promotes fewer short-lived call objects: the Node counterpart of running Kamailio with its
 * tlsf allocator.
 */
const NODE = 'node --single-threaded-gc --max-semi-space-size=16';

/** The default command line of Tidewater's static proxy, as a template. */
export const TIDEWATER_DEFAULT_CMD = `${NODE} ${STATIC_PROXY} --bind 127.0.0.1 --udp-port {port} --tcp-port {port} ` +
  '--ws-port {wsPort} --route {route}';

/** The opt-in floor targets: Node relaying the same datagrams with no transactions (bench/proxy/floor.ts). */
export const FLOOR_TARGETS = ['floor-relay', 'floor-parse', 'floor-edit'] as const;
export type FloorTarget = (typeof FLOOR_TARGETS)[number];

/**
 * bench/proxy/floor.ts in the mode its name gives, with the same V8 flags as the static proxy:
 * what any Node program pays to move a call's datagrams, and what parsing and editing add.
 */
export function floorTarget(name: FloorTarget): Target {
  const mode = name.slice('floor-'.length);
  return nodeTarget(name, `${NODE} --import tsx bench/proxy/floor.ts --mode ${mode} --bind 127.0.0.1 --udp-port {port} --route {route}`);
}

/**
 * Tidewater's static proxy, started from `template` (placeholders `{port}`, `{wsPort}`,
 * `{route}`; words split on whitespace, no shell) in the repository root. Returns the reason
 * instead when the default program does not exist yet.
 */
export function tidewaterTarget(template: string | undefined): Target | string {
  const cmd = template ?? TIDEWATER_DEFAULT_CMD;
  if (template === undefined && !existsSync(`${REPO_ROOT}${STATIC_PROXY}`)) {
    return `${STATIC_PROXY} does not exist yet`;
  }
  return nodeTarget('tidewater', cmd);
}

/** A Node program started from the command template `cmd`, pinned to the target CPU, ready when it prints `ready`. */
function nodeTarget(name: string, cmd: string): Target {
  return {
    name,
    description: `${cmd} (node ${process.version})`,
    start: async (ctx) => {
      await mkdir(ctx.runDir, { recursive: true });
      const values: Record<string, string> = { port: String(ctx.port), wsPort: String(ctx.wsPort), route: ctx.route };
      const words = cmd.trim().split(WHITESPACE).map((w) => w.replace(PLACEHOLDER, (_, key: string) => values[key] ?? ''));
      return startProcess('taskset', ['-c', String(ctx.cpu), ...words], {
        readyLine: TIDEWATER_READY,
        timeoutMs: START_TIMEOUT_MS,
        cwd: REPO_ROOT,
      });
    },
  };
}
