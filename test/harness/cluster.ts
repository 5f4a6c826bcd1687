/**
 * A Tidewater cluster on a test network (netns.ts): each role (`tidewater edge|core|mmtel|hss|
 * xdms|portal`) a process of its own in its own namespace, configured by a YAML (JSON) file as
 * an operator would, with Redis and PostgreSQL on the network's root address.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ExitStatus } from './tools.js';
import type { RunningProcess } from './tools.js';
import type { TestNetwork } from './netns.js';
import { REPO_ROOT } from './ims.js';

export type Role = 'all-in-one' | 'edge' | 'core' | 'mmtel' | 'hss' | 'xdms' | 'portal';

/** A role's process on its node. */
export interface RoleProcess {
  /** The node (namespace) name. */
  readonly name: string;
  readonly role: Role;
  readonly address: string;
  readonly config: Readonly<Record<string, unknown>>;
  /** The process started last. */
  readonly proc: RunningProcess;
  /** Everything the processes of this node printed, oldest first. */
  output(): string;
  /** Sends a signal to the process (SIGKILL: a crash). */
  signal(signal: NodeJS.Signals): void;
  exited(): Promise<ExitStatus>;
  /** SIGTERM and wait (SIGKILL after 5 s). */
  stop(): Promise<ExitStatus>;
  /** Starts the role again on the same node, configuration and data folder (after a stop or a kill). */
  start(): Promise<void>;
  dispose(): Promise<void>;
}

const BIN = join(REPO_ROOT, 'bin', 'tidewater.js');

/**
 * Starts `role` on `node` with `config` (plus `bind`: the node's address, and a data folder of
 * its own), and resolves once it printed its ready line.
 */
export async function startRole(net: TestNetwork, node: string, role: Role, config: Readonly<Record<string, unknown>>): Promise<RoleProcess> {
  const address = net.node(node).address;
  const dataDir = await mkdtemp(join(tmpdir(), `tw-${role}-`));
  const full = { bind: address, dataDir, ...config };
  const file = join(dataDir, 'config.yaml');
  await writeFile(file, JSON.stringify(full, null, 2));
  let history = '';
  let proc: RunningProcess | undefined;
  const ready = new RegExp(`^tidewater ${role} for \\S+ ready$`, 'm');
  const start = async (): Promise<void> => {
    if (proc) history += proc.stdout + proc.stderr;
    proc = await net.spawn(node, process.execPath, [BIN, role, '--config', file], { readyLine: ready, timeoutMs: 30_000, cwd: REPO_ROOT });
  };
  await start();
  return {
    name: node,
    role,
    address,
    config: full,
    get proc() {
      return proc!;
    },
    output: () => history + proc!.stdout + proc!.stderr,
    signal: (signal) => proc!.signal(signal),
    exited: () => proc!.exited,
    stop: () => proc!.stop(),
    start,
    dispose: async () => {
      await proc!.stop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
