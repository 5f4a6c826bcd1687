/**
 * A private IPv4 network for cluster tests: each node runs in a network namespace of its own
 * with a real address, so the addresses in Via, Path and Record-Route are real and a node can be
 * cut off from the network (its packets vanish, no RST) as well as killed. Needs root and
 * iproute2 (`ip`, `bridge`).
 *
 * One network, for run id R (the owner's pid in base 36, a dash, four random hex digits):
 * - namespace `tw-R`, the hub: a bridge `br0` with one port per node and one towards the root
 *   namespace; no address, no process.
 * - namespace `tw-R-NAME` per node: `lo` and `eth0` = 10.A.B.N/24 (N = 2, 3, ... in the order
 *   given), and no default route: anything aimed outside the test network fails at once with
 *   ENETUNREACH inside the node instead of reaching the root namespace, which might forward it.
 * - veth `twR` in the root namespace: 10.A.B.1/24, the {@link TestNetwork.rootAddress}. The test
 *   process reaches every node through it, and servers the root runs for the nodes (Redis,
 *   PostgreSQL) bind to it: the host's 127.0.0.1 is not reachable from a namespace.
 *
 * The bridge lives in a namespace of its own, not in the root one, because bridged frames go
 * through br_netfilter (loaded on the test machines, `bridge-nf-call-iptables = 1`) and so through
 * the iptables FORWARD chain of the bridge's namespace: in the root namespace a host firewall
 * with a DROP policy (as Docker sets) would silently eat the traffic, and turning the sysctl off
 * there would change the host for everyone. In the hub the chain is empty and the sysctl, which
 * is per namespace, is switched off: the host's firewall and settings are left alone.
 *
 * Cleanup: {@link TestNetwork.destroy} (call it in afterAll) kills what runs in the namespaces
 * and removes them; a process exit hook does the same as a last resort; and every new network
 * first removes the leftovers of networks whose owner process is dead ({@link cleanupStale}).
 */
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createPostgresCluster, type PostgresCluster } from './postgres.js';
import { startRedisCluster, startRedisServer, type RedisClusterEndpoint, type RedisServer } from './redis.js';
import { requireTool, startProcess, type RunningProcess, type StartProcessOptions } from './tools.js';

/** One node of a {@link TestNetwork}. */
export interface TestNode {
  readonly name: string;
  /** Its network namespace (`ip netns exec NAMESPACE ...`). */
  readonly namespace: string;
  /** Its address on the network (on `eth0` inside the namespace). */
  readonly address: string;
}

/** Output of a command run to completion inside a node. */
export interface RunResult {
  readonly stdout: string;
  readonly stderr: string;
}

/** A network made by {@link createTestNetwork}. */
export interface TestNetwork {
  readonly runId: string;
  /** The /24 in CIDR notation, e.g. `10.213.7.0/24`. */
  readonly subnet: string;
  /** The root namespace's address on the network: every node reaches it, nothing else binds it. */
  readonly rootAddress: string;
  /** The nodes, in the order asked for. */
  readonly nodes: readonly TestNode[];
  /** The node called `name`; throws for a name the network was not made with. */
  node(name: string): TestNode;
  /**
   * Starts `cmd args` inside the node's namespace (`ip netns exec`, which execs the command:
   * the returned pid is the program's own, so SIGKILL hits the program). {@link destroy}
   * stops it if it is still running.
   */
  spawn(node: string, cmd: string, args: readonly string[], opts?: StartProcessOptions): Promise<RunningProcess>;
  /**
   * Runs `cmd args` inside the node to completion; rejects on a non-zero exit or after
   * `timeoutMs` (10 s). A daemon it leaves behind must not keep its stdout or stderr open.
   */
  run(node: string, cmd: string, args: readonly string[], timeoutMs?: number): Promise<RunResult>;
  /**
   * Cuts the node off: its bridge port stops forwarding, so packets to and from it vanish. Its
   * link stays up and ARP entries are permanent, so neither it nor its peers get an error
   * (no RST, no "host unreachable"): connections time out, however long the cut lasts.
   */
  linkDown(node: string): Promise<void>;
  /** Puts the node back on the network after {@link linkDown}; traffic flows again at once. */
  linkUp(node: string): Promise<void>;
  /** A private persistent Redis on {@link rootAddress} (append-only file; survives restart and kill). */
  startRedis(extra?: readonly string[]): Promise<RedisServer>;
  /** A private Redis Cluster of `masters` masters on {@link rootAddress}, announcing that address. */
  startRedisCluster(masters?: number): Promise<RedisClusterEndpoint>;
  /** A private PostgreSQL on {@link rootAddress}, trusting every address of the network. */
  startPostgres(): Promise<PostgresCluster>;
  /** Stops every process and server started through it, and removes the namespaces and links. */
  destroy(): Promise<void>;
}

/** What {@link createTestNetwork} makes. */
export interface TestNetworkOptions {
  /** Node names: lower-case letters, digits and dashes, starting with a letter; distinct. */
  readonly nodes: readonly string[];
}

const NODE_NAME = /^[a-z][a-z0-9-]{0,31}$/;
/** `tw-<pid36>-<hex4>` (the hub) or `tw-<pid36>-<hex4>-<node>`: group 1 is the owner's pid. */
const RUN_NAMESPACE = /^tw-([0-9a-z]{1,6})-[0-9a-f]{4}(?:-[a-z0-9-]+)?$/;
/** `tw<pid36>-<hex4>`, the root end of a run's veth (at most 12 characters: IFNAMSIZ is 16). */
const RUN_ROOT_LINK = /^tw([0-9a-z]{1,6})-[0-9a-f]{4}$/;
const BRIDGE = 'br0';
const UPLINK = 'uplink';
const BRIDGE_PORT_DISABLED = '0';
const BRIDGE_PORT_FORWARDING = '3';
/** Candidate subnets 10.A.B.0/24 with A in this range: well away from the usual 10.0-10.x nets. */
const SUBNET_FIRST_OCTET = { min: 200, max: 250 } as const;
const SUBNET_ATTEMPTS = 100;
/** .1 is the root's, .255 the broadcast: .2 to .254 for nodes. */
const MAX_NODES = 253;

/** Runs `ip` (or `bridge`) with `args`, optionally feeding `-batch -` lines; rejects with its stderr. */
function tool(cmd: 'ip' | 'bridge', args: readonly string[], batch?: readonly string[], timeoutMs = 10_000): Promise<RunResult> {
  const argv = batch === undefined ? args : [...args, '-batch', '-'];
  return new Promise((resolve, reject) => {
    const stdin = batch === undefined ? 'ignore' : 'pipe';
    const child = spawn(cmd, argv, { stdio: [stdin, 'pipe', 'pipe'], timeout: timeoutMs, killSignal: 'SIGKILL' });
    let stdout = '';
    let stderr = '';
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.once('error', reject);
    child.once('close', (code, signal) => {
      if (code === 0) resolve({ stdout, stderr });
      else reject(new Error(`${cmd} ${argv.join(' ')} failed (${signal ?? `exit ${code}`}): ${stderr.trim()}${batch ? `\n${batch.join('\n')}` : ''}`));
    });
    // an early exit (a failed line) closes the pipe: the 'close' handler reports that, not EPIPE
    if (batch !== undefined) child.stdin?.on('error', () => undefined).end(`${batch.join('\n')}\n`);
  });
}

function ipv4ToInt(address: string): number {
  return address.split('.').reduce((n, octet) => n * 256 + Number(octet), 0);
}

/** Prefixes (network, length) that the root namespace routes or owns, from `ip -j`. */
async function usedPrefixes(): Promise<Array<{ network: number; length: number }>> {
  const routes = JSON.parse((await tool('ip', ['-4', '-j', 'route', 'show', 'table', 'all'])).stdout) as Array<{ dst?: string }>;
  const addrs = JSON.parse((await tool('ip', ['-4', '-j', 'addr', 'show'])).stdout) as Array<{ addr_info?: Array<{ local?: string; prefixlen?: number }> }>;
  const cidrs = routes.flatMap((r) => (r.dst === undefined || r.dst === 'default' ? [] : [r.dst]));
  for (const link of addrs) for (const a of link.addr_info ?? []) if (a.local !== undefined) cidrs.push(`${a.local}/${a.prefixlen ?? 32}`);
  return cidrs.map((cidr) => {
    const [address = '', length = '32'] = cidr.split('/');
    const bits = Number(length);
    const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
    return { network: (ipv4ToInt(address) & mask) >>> 0, length: bits };
  });
}

/** A 10.A.B.0/24 that overlaps nothing the root namespace routes or owns. */
async function pickSubnet(): Promise<string> {
  const used = await usedPrefixes();
  for (let i = 0; i < SUBNET_ATTEMPTS; i++) {
    const a = randomInt(SUBNET_FIRST_OCTET.min, SUBNET_FIRST_OCTET.max + 1);
    const b = randomInt(0, 256);
    const candidate = ipv4ToInt(`10.${a}.${b}.0`);
    const clash = used.some(({ network, length }) => {
      const bits = Math.min(length, 24);
      const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
      return ((candidate & mask) >>> 0) === ((network & mask) >>> 0);
    });
    if (!clash) return `10.${a}.${b}`;
  }
  throw new Error(`no free 10.${SUBNET_FIRST_OCTET.min}-${SUBNET_FIRST_OCTET.max}.x.0/24 after ${SUBNET_ATTEMPTS} attempts`);
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** True when the run that `name` belongs to (by `pattern`) has an owner process that is gone. */
function ownerDead(name: string, pattern: RegExp): boolean {
  const match = pattern.exec(name);
  return match?.[1] !== undefined && !processAlive(Number.parseInt(match[1], 36));
}

/** Names of the network namespaces (`ip netns list`). */
async function namespaceNames(): Promise<string[]> {
  const out = (await tool('ip', ['-j', 'netns', 'list'])).stdout.trim();
  return out === '' ? [] : (JSON.parse(out) as Array<{ name: string }>).map((ns) => ns.name);
}

/** Names of the root namespace's veth links. */
async function rootVethNames(): Promise<string[]> {
  return (JSON.parse((await tool('ip', ['-j', 'link', 'show', 'type', 'veth'])).stdout) as Array<{ ifname: string }>).map((l) => l.ifname);
}

/** SIGKILLs every process in `namespaces` (`ip netns pids`): they belong to the run being removed. */
async function killNamespaceProcesses(namespaces: readonly string[]): Promise<void> {
  if (namespaces.length === 0) return;
  const { stdout } = await tool('ip', ['-force'], namespaces.map((ns) => `netns pids ${ns}`)).catch((e: unknown) => ({ stdout: String(e) }));
  for (const pid of stdout.split(/\s+/).filter((p) => /^\d+$/.test(p))) {
    try {
      process.kill(Number(pid), 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

/** `ip -batch` lines removing a run's root link (and with it its hub end) and namespaces. */
function removalLines(rootLinks: readonly string[], namespaces: readonly string[]): string[] {
  return [...rootLinks.map((l) => `link del ${l}`), ...namespaces.map((ns) => `netns del ${ns}`)];
}

/**
 * Removes the namespaces and root veths of networks whose owner process is gone (a crashed or
 * killed run), killing anything still running in them. Networks of live processes, such as
 * other test files running in parallel, are left alone.
 */
export async function cleanupStale(): Promise<void> {
  const namespaces = (await namespaceNames()).filter((ns) => ownerDead(ns, RUN_NAMESPACE));
  const links = (await rootVethNames()).filter((l) => ownerDead(l, RUN_ROOT_LINK));
  if (namespaces.length === 0 && links.length === 0) return;
  await killNamespaceProcesses(namespaces);
  // -force: go on past a link that vanished meanwhile with its peer's namespace
  await tool('ip', ['-force'], removalLines(links, namespaces)).catch(() => undefined);
}

/** What is left of run `runId` in `ip netns list` and the root's `ip link`. */
export async function runLeftovers(runId: string): Promise<string[]> {
  const prefix = `tw-${runId}`;
  const namespaces = (await namespaceNames()).filter((ns) => ns === prefix || ns.startsWith(`${prefix}-`));
  const links = (JSON.parse((await tool('ip', ['-j', 'link', 'show'])).stdout) as Array<{ ifname: string }>)
    .map((l) => l.ifname)
    .filter((name) => name === `tw${runId}`);
  return [...namespaces, ...links];
}

/** Sync removal of every live network at process exit (async work cannot run then). */
const exitRemovals = new Map<string, readonly string[]>();
let exitHookInstalled = false;

function removeAllAtExit(): void {
  for (const lines of exitRemovals.values()) {
    try {
      execFileSync('ip', ['-force', '-batch', '-'], { input: `${lines.join('\n')}\n`, stdio: ['pipe', 'ignore', 'ignore'] });
    } catch {
      // best effort: the next run's cleanupStale() removes what is left
    }
  }
  exitRemovals.clear();
}

/** Like tools.ts: clean up on exit and on the usual termination signals, then let them terminate. */
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', removeAllAtExit);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const onSignal = (): void => {
      removeAllAtExit();
      process.removeListener(sig, onSignal);
      if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
    };
    process.on(sig, onSignal);
  }
}

/** Turns br_netfilter off in the hub (if the module is loaded): bridged frames skip netfilter. */
async function disableBridgeNetfilter(hub: string): Promise<void> {
  let loaded = true;
  try {
    readFileSync('/proc/sys/net/bridge/bridge-nf-call-iptables');
  } catch {
    loaded = false;
  }
  if (!loaded) return;
  const keys = ['iptables', 'ip6tables', 'arptables'].map((t) => `net.bridge.bridge-nf-call-${t}=0`);
  await tool('ip', ['netns', 'exec', hub, 'sysctl', '-q', '-w', ...keys]);
}

/** A fixed, locally administered MAC for host `address` (unique on its own bridge, which is all it needs). */
function macOf(address: string): string {
  const host = Number(address.slice(address.lastIndexOf('.') + 1));
  return `02:74:77:00:00:${host.toString(16).padStart(2, '0')}`;
}

/** `ip -batch` lines giving one station a permanent ARP entry for every other station. */
function neighbourLines(self: string, stations: readonly string[], dev: string): string[] {
  return stations.filter((a) => a !== self).map((a) => `neigh replace ${a} lladdr ${macOf(a)} dev ${dev} nud permanent`);
}

/**
 * Creates the hub, the nodes' namespaces and the links; on failure the caller removes what was
 * made. Every station knows every other's MAC for good (permanent ARP entries, as in a cloud
 * network whose fabric answers ARP): while a node is cut off its peers see silence, never a
 * "host unreachable" after ARP gives up, and traffic flows again the moment it is back.
 */
async function build(hub: string, rootLink: string, rootAddress: string, nodes: readonly TestNode[]): Promise<void> {
  const stations = [rootAddress, ...nodes.map((n) => n.address)];
  await tool('ip', [], [
    `netns add ${hub}`,
    ...nodes.map((n) => `netns add ${n.namespace}`),
    `link add ${rootLink} address ${macOf(rootAddress)} type veth peer name ${UPLINK} netns ${hub}`,
    `addr add ${rootAddress}/24 dev ${rootLink}`,
    `link set dev ${rootLink} up`,
    ...neighbourLines(rootAddress, stations, rootLink),
  ]);
  await disableBridgeNetfilter(hub);
  await tool('ip', ['-n', hub], [
    `link add ${BRIDGE} up type bridge`,
    `link set dev ${UPLINK} master ${BRIDGE} up`,
    ...nodes.flatMap((n, i) => [
      `link add n${i} type veth peer name eth0 address ${macOf(n.address)} netns ${n.namespace}`,
      `link set dev n${i} master ${BRIDGE} up`,
    ]),
  ]);
  await Promise.all(
    nodes.map((n) =>
      tool('ip', ['-n', n.namespace], [
        'link set dev lo up',
        `addr add ${n.address}/24 dev eth0`,
        'link set dev eth0 up',
        ...neighbourLines(n.address, stations, 'eth0'),
      ]),
    ),
  );
}

/** Names and addresses of one network, fixed before anything is made. */
interface Layout {
  readonly runId: string;
  /** The first three octets, e.g. `10.213.7`. */
  readonly prefix: string;
  readonly hub: string;
  readonly rootLink: string;
  readonly nodes: readonly TestNode[];
}

class NamespaceNetwork implements TestNetwork {
  readonly runId: string;
  readonly subnet: string;
  readonly rootAddress: string;
  readonly nodes: readonly TestNode[];
  private readonly processes = new Set<RunningProcess>();
  private readonly services = new Set<() => Promise<void>>();
  private destroyed = false;

  constructor(private readonly layout: Layout) {
    this.runId = layout.runId;
    this.subnet = `${layout.prefix}.0/24`;
    this.rootAddress = `${layout.prefix}.1`;
    this.nodes = layout.nodes;
  }

  /** Every namespace of the run, the hub first. */
  get namespaces(): string[] {
    return [this.layout.hub, ...this.nodes.map((n) => n.namespace)];
  }

  node(name: string): TestNode {
    const found = this.nodes.find((n) => n.name === name);
    if (found === undefined) throw new Error(`test network ${this.runId} has no node ${JSON.stringify(name)}`);
    return found;
  }

  async spawn(node: string, cmd: string, args: readonly string[], opts?: StartProcessOptions): Promise<RunningProcess> {
    const started = await startProcess('ip', ['netns', 'exec', this.node(node).namespace, cmd, ...args], opts);
    this.processes.add(started);
    void started.exited.then(() => this.processes.delete(started));
    return started;
  }

  run(node: string, cmd: string, args: readonly string[], timeoutMs?: number): Promise<RunResult> {
    return tool('ip', ['netns', 'exec', this.node(node).namespace, cmd, ...args], undefined, timeoutMs);
  }

  async linkDown(node: string): Promise<void> {
    await this.setPortState(node, BRIDGE_PORT_DISABLED);
  }

  async linkUp(node: string): Promise<void> {
    await this.setPortState(node, BRIDGE_PORT_FORWARDING);
  }

  async startRedis(extra: readonly string[] = []): Promise<RedisServer> {
    const server = await startRedisServer(extra, { host: this.rootAddress, persistent: true });
    this.services.add(() => server.dispose());
    return server;
  }

  async startRedisCluster(masters = 3): Promise<RedisClusterEndpoint> {
    const cluster = await startRedisCluster(masters, { host: this.rootAddress });
    this.services.add(() => cluster.dispose());
    return cluster;
  }

  async startPostgres(): Promise<PostgresCluster> {
    const cluster = await createPostgresCluster({ host: this.rootAddress, trustedNetwork: this.subnet });
    this.services.add(() => cluster.remove());
    return cluster;
  }

  async destroy(): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    const stops = await Promise.allSettled([
      ...[...this.processes].map((p) => p.stop(2_000)),
      ...[...this.services].map((dispose) => dispose()),
    ]);
    await killNamespaceProcesses(this.namespaces);
    // -force: go on past the root link if it already went with the hub
    await tool('ip', ['-force'], removalLines([this.layout.rootLink], this.namespaces)).catch(() => undefined);
    exitRemovals.delete(this.runId);
    const left = await runLeftovers(this.runId);
    if (left.length > 0) throw new Error(`test network ${this.runId}: could not remove ${left.join(', ')}`);
    const failed = stops.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failed) throw failed.reason;
  }

  /** The hub-side veth of node `name` is bridge port `n<index>`. */
  private async setPortState(name: string, state: string): Promise<void> {
    const port = `n${this.nodes.indexOf(this.node(name))}`;
    await tool('bridge', ['-n', this.layout.hub, 'link', 'set', 'dev', port, 'state', state]);
  }
}

function checkNodeNames(names: readonly string[]): void {
  const bad = names.find((n) => !NODE_NAME.test(n));
  if (bad !== undefined) throw new Error(`node name ${JSON.stringify(bad)} must match ${NODE_NAME}`);
  if (new Set(names).size !== names.length) throw new Error(`node names must be distinct: ${names.join(', ')}`);
  if (names.length > MAX_NODES) throw new Error(`at most ${MAX_NODES} nodes on a /24 network, not ${names.length}`);
}

/**
 * Makes a private network with one namespace per node (see the file comment), after removing
 * the stale networks of dead runs. Call {@link TestNetwork.destroy} once done (afterAll).
 */
export async function createTestNetwork(options: TestNetworkOptions): Promise<TestNetwork> {
  requireTool('ip', 'iproute2');
  requireTool('bridge', 'iproute2');
  checkNodeNames(options.nodes);
  await cleanupStale();
  const runId = `${process.pid.toString(36)}-${randomBytes(2).toString('hex')}`;
  const hub = `tw-${runId}`;
  const rootLink = `tw${runId}`;
  const prefix = await pickSubnet();
  const nodes = options.nodes.map((name, i) => ({ name, namespace: `${hub}-${name}`, address: `${prefix}.${i + 2}` }));
  const network = new NamespaceNetwork({ runId, prefix, hub, rootLink, nodes });
  installExitHook();
  exitRemovals.set(runId, removalLines([rootLink], network.namespaces));
  try {
    await build(hub, rootLink, network.rootAddress, nodes);
  } catch (error) {
    await network.destroy().catch(() => undefined);
    throw error;
  }
  return network;
}
