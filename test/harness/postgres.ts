/**
 * A real PostgreSQL for tests: the server at `PG_URL` (default
 * `postgres://postgres@127.0.0.1:5432/postgres`) when it answers, else a private cluster made
 * with initdb in a temporary directory and run on a free loopback port (as the `postgres` user
 * when the tests run as root: initdb and postgres refuse root). The private server dies with the
 * test process (`setpriv --pdeathsig`) and its directory is removed when the last user stops it.
 * A private cluster may instead listen on a test network's address (see test/harness/netns.ts).
 *
 * Every test (or file) takes its own database from {@link createTestDatabase}, so runs never
 * see each other's rows, and drops it afterwards.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { appendFileSync, chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { openPostgresStores, type PostgresStores, type PostgresStoresOptions } from '../../src/storage/postgres/index.js';
import { findTool, freePort, startProcess, type RunningProcess } from './tools.js';

/** Where the tests look for a running server first. */
export const DEFAULT_PG_URL = 'postgres://postgres@127.0.0.1:5432/postgres';
const DEBIAN_PACKAGE = 'postgresql';

/** A server the tests may create databases on. */
export interface PostgresServer {
  /** Superuser URL of the `postgres` database. */
  readonly url: string;
  /** True when this process started it (initdb + postgres), false for an existing one. */
  readonly started: boolean;
  /** Releases this user; a private server is stopped and removed after the last release. */
  stop(): Promise<void>;
}

/** A database of its own for one test or file. */
export interface TestDatabase {
  readonly name: string;
  /** URL of the database (same credentials as the server's). */
  readonly url: string;
  /** Drops it, closing any connection left open. */
  drop(): Promise<void>;
}

/** True when a server answers a query at `url` within `timeoutMs`. */
export async function answers(url: string, timeoutMs = 1500): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: timeoutMs });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.query('SELECT 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** The directory of `initdb` and `postgres`: Debian's newest /usr/lib/postgresql/N/bin, else PATH. */
function binDir(): string {
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root) ? readdirSync(root).filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a)) : [];
  for (const version of versions) {
    const dir = path.join(root, version, 'bin');
    if (existsSync(path.join(dir, 'initdb')) && existsSync(path.join(dir, 'postgres'))) return dir;
  }
  const initdb = findTool('initdb');
  if (initdb !== undefined && findTool('postgres') !== undefined) return path.dirname(initdb);
  throw new Error(
    `no PostgreSQL server answers at ${process.env.PG_URL ?? DEFAULT_PG_URL} and initdb/postgres are not installed: ` +
      `install the Debian package ${DEBIAN_PACKAGE} (apt-get install -y ${DEBIAN_PACKAGE})`,
  );
}

/** The `postgres` account's uid and gid when running as root (the server may not run as root). */
function serverAccount(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  try {
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
    return { uid, gid };
  } catch {
    throw new Error(`running as root needs the system user postgres (made by the Debian package ${DEBIAN_PACKAGE})`);
  }
}

/**
 * A private PostgreSQL cluster in a temporary directory: initdb once, then the server can be
 * stopped (fast shutdown or SIGKILL) and started again on the same port and data, as a
 * restart test needs. `remove()` stops it and deletes the directory.
 */
export interface PostgresCluster {
  /** Superuser URL of its `postgres` database. */
  readonly url: string;
  readonly port: number;
  readonly running: boolean;
  /** Starts the server (again); resolves once it accepts connections. */
  start(): Promise<void>;
  /** `fast`: SIGINT (sessions ended, clean shutdown); `kill`: SIGKILL, as a crash. */
  stop(mode?: 'fast' | 'kill'): Promise<void>;
  /** A fast stop (if running), then {@link PostgresCluster.start}. */
  restart(): Promise<void>;
  remove(): Promise<void>;
}

/** Where a private cluster listens and whom it lets in. */
export interface PostgresClusterOptions {
  /** The one address it listens on (default 127.0.0.1), e.g. a test network's root address. */
  readonly host?: string;
  /** A CIDR whose clients get in as any user without a password (`trust`), e.g. a test network. */
  readonly trustedNetwork?: string;
}

/**
 * Creates (initdb) and starts a private cluster on a free port of loopback, or of `options.host`
 * (a port free on 127.0.0.1 is free on a test network's address too: nothing else binds there).
 */
export async function createPostgresCluster(options: PostgresClusterOptions = {}): Promise<PostgresCluster> {
  const host = options.host ?? '127.0.0.1';
  const bin = binDir();
  const account = serverAccount();
  const dir = mkdtempSync(path.join(tmpdir(), 'tidewater-pg-'));
  const data = path.join(dir, 'data');
  const cleanup = (): void => rmSync(dir, { recursive: true, force: true });
  process.once('exit', cleanup);
  if (account) chownSync(dir, account.uid, account.gid);
  try {
    const initArgs = ['-D', data, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--locale=C', '--no-sync'];
    const initdb = path.join(bin, 'initdb');
    if (account) execFileSync('runuser', ['-u', 'postgres', '--', initdb, ...initArgs], { stdio: 'pipe' });
    else execFileSync(initdb, initArgs, { stdio: 'pipe' });
    if (options.trustedNetwork !== undefined) appendFileSync(path.join(data, 'pg_hba.conf'), `host all all ${options.trustedNetwork} trust\n`);
  } catch (error) {
    cleanup();
    throw error;
  }
  const port = await freePort('tcp');
  const serverArgs = ['-D', data, '-p', String(port), '-k', dir, '-c', `listen_addresses=${host}`, '-c', 'fsync=off', '-c', 'max_connections=200'];
  const postgres = path.join(bin, 'postgres');
  // setpriv execs postgres itself (runuser would stay as its parent), so the death signal
  // that startProcess arranges reaches the server when the test process dies.
  const [cmd, args] = account
    ? ['setpriv', ['--reuid', String(account.uid), '--regid', String(account.gid), '--init-groups', '--pdeathsig', 'KILL', '--', postgres, ...serverArgs]]
    : [postgres, serverArgs];
  let server: RunningProcess | undefined;
  const cluster: PostgresCluster = {
    url: `postgres://postgres@${host}:${port}/postgres`,
    port,
    get running() {
      return server !== undefined;
    },
    start: async () => {
      if (server) return;
      server = await startProcess(cmd, args, { readyLine: /database system is ready to accept connections/, timeoutMs: 30_000 });
    },
    stop: async (mode = 'fast') => {
      const running = server;
      if (!running) return;
      server = undefined;
      if (mode === 'kill') {
        await running.stop(0);
        return;
      }
      running.signal('SIGINT');
      const timer = setTimeout(() => void running.stop(0), 10_000);
      await running.exited;
      clearTimeout(timer);
    },
    restart: async () => {
      await cluster.stop();
      await cluster.start();
    },
    remove: async () => {
      await cluster.stop();
      cleanup();
    },
  };
  try {
    await cluster.start();
  } catch (error) {
    cleanup();
    throw error;
  }
  return cluster;
}

let shared: Promise<{ url: string; cluster?: PostgresCluster }> | undefined;
let users = 0;

/**
 * A PostgreSQL server for this test process: the one at `PG_URL` (or {@link DEFAULT_PG_URL})
 * if it answers, else a private cluster started now. Throws naming the Debian package when
 * neither is possible. Call `stop()` on the result once done (afterAll).
 */
export async function ensurePostgres(): Promise<PostgresServer> {
  users++;
  shared ??= (async () => {
    const url = process.env.PG_URL ?? DEFAULT_PG_URL;
    if (await answers(url)) return { url };
    const cluster = await createPostgresCluster();
    return { url: cluster.url, cluster };
  })();
  let found: { url: string; cluster?: PostgresCluster };
  try {
    found = await shared;
  } catch (error) {
    users--;
    shared = undefined;
    throw error;
  }
  let stopped = false;
  return {
    url: found.url,
    started: found.cluster !== undefined,
    stop: async () => {
      if (stopped) return;
      stopped = true;
      if (--users > 0 || !found.cluster) return;
      shared = undefined;
      await found.cluster.remove();
    },
  };
}

/** Runs `text` (no parameters: CREATE/DROP DATABASE take none) on the server's admin database. */
async function admin(url: string, text: string): Promise<void> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
  client.on('error', () => undefined);
  await client.connect();
  try {
    await client.query(text);
  } finally {
    await client.end();
  }
}

/** Creates an empty database `tw_test_<random>` on `server`. */
export async function createTestDatabase(server: PostgresServer): Promise<TestDatabase> {
  const name = `tw_test_${randomBytes(6).toString('hex')}`;
  await admin(server.url, `CREATE DATABASE ${name}`);
  const url = new URL(server.url);
  url.pathname = `/${name}`;
  let dropped = false;
  return {
    name,
    url: url.toString(),
    drop: async () => {
      if (dropped) return;
      dropped = true;
      await admin(server.url, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    },
  };
}

/** Stores on a fresh test database; `reopen` closes the pool and opens a new one on the same data. */
export interface TestStores {
  readonly database: TestDatabase;
  readonly stores: PostgresStores;
  reopen(): Promise<PostgresStores>;
  /** Closes the pool and drops the database. */
  close(): Promise<void>;
}

/** A fresh database on `server`, migrated, with every PostgreSQL store on it. */
export async function openTestStores(server: PostgresServer, options: PostgresStoresOptions = {}): Promise<TestStores> {
  const database = await createTestDatabase(server);
  let stores = await openPostgresStores(database.url, { schema: 'migrate', ...options });
  return {
    database,
    get stores() {
      return stores;
    },
    reopen: async () => {
      await stores.close();
      stores = await openPostgresStores(database.url, options);
      return stores;
    },
    close: async () => {
      await stores.close();
      await database.drop();
    },
  };
}
