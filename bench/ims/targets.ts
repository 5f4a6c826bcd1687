/**
 * The IMS cores the benchmark measures: Tidewater's all-in-one and Kamailio as registrar +
 * digest auth + stateful proxy (kamailio-ims.cfg). Each target is provisioned once per run
 * with the benchmark subscribers (users.ts) and then started as fresh instances, pinned to one
 * CPU, listening on 127.0.0.1:`port` (UDP and TCP), with no registration from earlier instances.
 */
import { existsSync } from 'node:fs';
import { copyFile, mkdir, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { startProcess, type RunningProcess } from '../../test/harness/tools.js';
import { kamailioOptions, kamailioVersion, runToEnd, startKamailio, type KamailioAllocator } from '../lib/kamailio.js';
import { DATABASE_FILE, provisionTidewater } from './provision.js';
import { benchUser, DOMAIN, md5 } from './users.js';

/** One instance of a target. */
export interface InstanceContext {
  /** SIP port, UDP and TCP. */
  readonly port: number;
  /** WebSocket port (Tidewater only). */
  readonly wsPort: number;
  readonly cpu: number;
  /** Scratch folder of this instance (logs, data). */
  readonly runDir: string;
  /**
   * Start a Node target with its inspector on a free loopback port (`--inspect=127.0.0.1:0`), so
   * the memory phase can force a full garbage collection and read the heap (inspector.ts).
   */
  readonly inspect?: boolean;
}

/** An IMS core under test. */
export interface ImsTarget {
  readonly name: string;
  /** One line describing the build and settings, for the report. */
  readonly description: string;
  /** Provisions users 0 .. `count` - 1 into `dir`, once per run, before any instance starts. */
  prepare(dir: string, count: number): Promise<void>;
  /** Starts a fresh instance on the provisioned data and resolves once it is ready. */
  start(ctx: InstanceContext): Promise<RunningProcess>;
  /** Bindings the running instance holds, when it can tell. */
  bindings(ctx: InstanceContext): Promise<number | undefined>;
}

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const KAMAILIO_CFG = fileURLToPath(new URL('./kamailio-ims.cfg', import.meta.url));
const KAMAILIO_READY = /kamailio-ims ready/;
const KAMAILIO_SCHEMA = '/usr/share/kamailio/db_sqlite';
const KAMAILIO_DB = 'kam.sqlite';
const CONTACTS_STAT = /location_contacts\s*=\s*(\d+)/;
const TIDEWATER_PROGRAM = 'bin/tidewater.js';
const TIDEWATER_READY = /tidewater all-in-one for \S+ ready/;
const PLACEHOLDER = /\{(port|wsPort|dataDir)\}/g;
const WHITESPACE = /\s+/;
const TIDEWATER_START_TIMEOUT_MS = 60_000;

/** Kamailio's control socket of the instance in `runDir`: short, in the temporary folder (108-byte limit). */
function controlSocket(ctx: InstanceContext): string {
  return `unix:${join(tmpdir(), `tw-bench-kam-${process.pid}-${ctx.port}.ctl`)}`;
}

/** The subscriber table of kamailio-ims.cfg: username = number, ha1b = MD5(impi:realm:password). */
async function provisionKamailio(dir: string, count: number): Promise<void> {
  await mkdir(dir, { recursive: true });
  const db = new Database(join(dir, KAMAILIO_DB));
  try {
    for (const file of ['standard-create.sql', 'auth_db-create.sql']) db.exec(await readFile(join(KAMAILIO_SCHEMA, file), 'utf8'));
    const insert = db.prepare('INSERT INTO subscriber (username, domain, password, ha1, ha1b) VALUES (?, ?, ?, ?, ?)');
    db.transaction(() => {
      for (let i = 0; i < count; i++) {
        const u = benchUser(i);
        // Kamailio's stock schema keeps the password too; only its HA1s are used here
        insert.run(u.number, DOMAIN, '', md5(`${u.number}:${DOMAIN}:${u.password}`), md5(`${u.impi}:${DOMAIN}:${u.password}`));
      }
    })();
  } finally {
    db.close();
  }
}

/**
 * Kamailio with bench/ims/kamailio-ims.cfg: `children` UDP workers (the reference harness
 * runs 2, so that one blocked in SQLite does not idle the core) and one TCP worker, 1024 MB
 * shared memory (tm keeps finished transactions ~5 s), all pinned to the target CPU.
 */
export async function kamailioImsTarget(children: number, allocator: KamailioAllocator): Promise<ImsTarget> {
  const version = await kamailioVersion();
  const options = { children, allocator, shmMb: 1024 };
  let dbDir = '';
  return {
    name: 'kamailio',
    description: `kamailio ${version}, kamailio-ims.cfg (auth_db over SQLite, usrloc in memory), ${kamailioOptions(options).join(' ')}`,
    prepare: async (dir, count) => {
      dbDir = dir;
      await provisionKamailio(dir, count);
    },
    start: (ctx) =>
      startKamailio({
        ...options,
        cfg: KAMAILIO_CFG,
        defines: [`KAM_PORT=${ctx.port}`, `DBURL="sqlite:///${join(dbDir, KAMAILIO_DB)}"`, `CTLSOCK="${controlSocket(ctx)}"`],
        cpu: ctx.cpu,
        runDir: ctx.runDir,
        readyLine: KAMAILIO_READY,
      }),
    bindings: async (ctx) => {
      const res = await runToEnd('kamcmd', ['-s', controlSocket(ctx), 'stats.get_statistics', 'usrloc:']);
      const match = CONTACTS_STAT.exec(res.output);
      return match?.[1] === undefined ? undefined : Number(match[1]);
    },
  };
}

/** The all-in-one's command line, as a template: placeholders {port} {wsPort} {dataDir}. */
export const TIDEWATER_DEFAULT_CMD =
  // Pinned to one core: no parallel GC threads competing for it, and a 16 MiB young generation (as
  // bench:proxy). No memory reducer: some 30 s after a load stops, V8 shrinks the heap with three
  // full collections, and when load comes back the node then spends its first second growing it
  // again (scavenges every 10-20 ms, a full collection every half second): at half the maximum
  // call rate after the 35 s pause, 52-200 calls were refused as overload in each of six runs, and
  // none in three without it (docs/performance.md, 2026-11-27 midday).
  `node --single-threaded-gc --max-semi-space-size=16 --no-memory-reducer ${TIDEWATER_PROGRAM} all-in-one --data-dir {dataDir} ` +
  '--bind 127.0.0.1 --sip-port {port} --ws-port {wsPort} --tls-port 0 --wss-port 0 --hss-port 0 --hss-provisioning-port 0 --xdms-port 0 --portal-port 0 --metrics-port 0';

/**
 * Tidewater's all-in-one, started from `template` (words split on whitespace, no shell) in the
 * repository root, each instance on its own copy of the provisioned database. Returns the
 * reason instead when the default program does not exist yet.
 */
export function tidewaterImsTarget(template: string | undefined): ImsTarget | string {
  const cmd = template ?? TIDEWATER_DEFAULT_CMD;
  if (template === undefined && !existsSync(join(REPO_ROOT, TIDEWATER_PROGRAM))) return `${TIDEWATER_PROGRAM} does not exist yet`;
  let templateDir = '';
  return {
    name: 'tidewater',
    description: `${cmd} (node ${process.version})`,
    prepare: async (dir, count) => {
      templateDir = dir;
      await provisionTidewater(dir, 0, count);
    },
    start: async (ctx) => {
      const dataDir = join(ctx.runDir, 'data');
      await mkdir(dataDir, { recursive: true });
      await copyFile(join(templateDir, DATABASE_FILE), join(dataDir, DATABASE_FILE));
      const values: Record<string, string> = { port: String(ctx.port), wsPort: String(ctx.wsPort), dataDir };
      const words = cmd.trim().split(WHITESPACE).map((w) => w.replace(PLACEHOLDER, (_, key: string) => values[key] ?? ''));
      if (ctx.inspect && words[0] === 'node') words.splice(1, 0, '--inspect=127.0.0.1:0');
      return startProcess('taskset', ['-c', String(ctx.cpu), ...words], {
        readyLine: TIDEWATER_READY,
        timeoutMs: TIDEWATER_START_TIMEOUT_MS,
        cwd: REPO_ROOT,
      });
    },
    bindings: async () => undefined,
  };
}
