import { execFileSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { connect, createServer, type AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createTestNetwork, runLeftovers, type TestNetwork } from './netns.js';
import { requireTool } from './tools.js';

const NODE = process.execPath;
/** Inside a namespace every port is free: the tests use fixed ones. */
const PORT = 5060;
/** Far longer than a SYN/ACK takes on a bridge: "timeout" means no answer at all. */
const CUT_OFF_PROBE_MS = 1000;

/** `node -e` script: connects to argv[1]:argv[2], prints connected, timeout or the error code. */
const CONNECT_PROBE = `
const [host, port, ms] = process.argv.slice(1);
const socket = require('node:net').connect(Number(port), host);
const done = (what) => { console.log(what); process.exit(0); };
setTimeout(() => done('timeout'), Number(ms));
socket.on('connect', () => done('connected'));
socket.on('error', (e) => done(e.code));
`;

/** `node -e` script: a TCP server on argv[1]:argv[2] that greets each peer with its address. */
const TCP_GREETER = `
const server = require('node:net').createServer((c) => { c.on('error', () => {}); c.end('hello ' + c.remoteAddress); });
server.listen(Number(process.argv[2]), process.argv[1], () => console.log('ready'));
`;

/** `node -e` script: reads what a TCP server at argv[1]:argv[2] sends, prints it. */
const TCP_READER = `
const socket = require('node:net').connect(Number(process.argv[2]), process.argv[1]);
let text = '';
socket.setEncoding('utf8').on('data', (d) => (text += d)).on('end', () => console.log(text));
`;

/** `node -e` script: a UDP server on argv[1]:argv[2] that echoes each datagram with the sender's address. */
const UDP_ECHO = `
const socket = require('node:dgram').createSocket('udp4');
socket.on('message', (m, from) => socket.send(m + ' from ' + from.address, from.port, from.address));
socket.bind(Number(process.argv[2]), process.argv[1], () => console.log('ready'));
`;

/** `node -e` script: sends argv[3] to argv[1]:argv[2] over UDP and prints the reply. */
const UDP_ASK = `
const socket = require('node:dgram').createSocket('udp4');
socket.on('message', (m) => { console.log(String(m)); process.exit(0); });
socket.send(process.argv[3], Number(process.argv[2]), process.argv[1]);
`;

async function nodeScript(net: TestNetwork, node: string, script: string, args: readonly (string | number)[]): Promise<string> {
  return (await net.run(node, NODE, ['-e', script, ...args.map(String)])).stdout.trim();
}

/** From the root namespace (the test process itself), as {@link CONNECT_PROBE}. */
function probeFromRoot(host: string, port: number, ms: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(port, host);
    const done = (what: string): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(what);
    };
    const timer = setTimeout(() => done('timeout'), ms);
    socket.once('connect', () => done('connected'));
    socket.once('error', (e: NodeJS.ErrnoException) => done(e.code ?? e.message));
  });
}

function namespaces(): string[] {
  return execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' }).split('\n').map((l) => l.split(' ')[0] ?? '').filter(Boolean);
}

function rootLinks(): string[] {
  return (JSON.parse(execFileSync('ip', ['-j', 'link', 'show'], { encoding: 'utf8' })) as Array<{ ifname: string }>).map((l) => l.ifname);
}

function pidsIn(namespace: string): string[] {
  return execFileSync('ip', ['netns', 'pids', namespace], { encoding: 'utf8' }).split('\n').filter(Boolean);
}

/** Running (a zombie waiting to be reaped counts as gone). */
function isRunning(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

describe('a test network of namespaces', () => {
  let net: TestNetwork;

  beforeAll(async () => {
    net = await createTestNetwork({ nodes: ['alpha', 'beta'] });
  });

  afterAll(async () => {
    await net?.destroy();
  });

  it('gives each node its own address on a private /24 and the root namespace .1', async () => {
    expect(net.subnet).toMatch(/^10\.\d+\.\d+\.0\/24$/);
    const prefix = net.subnet.replace(/0\/24$/, '');
    expect(net.rootAddress).toBe(`${prefix}1`);
    expect(net.nodes.map((n) => n.address)).toEqual([`${prefix}2`, `${prefix}3`]);
    const shown = (await net.run('beta', 'ip', ['-4', '-o', 'addr', 'show', 'dev', 'eth0'])).stdout;
    expect(shown).toContain(`${net.node('beta').address}/24`);
  });

  it('carries a UDP datagram between two nodes, from the sender\'s real address', async () => {
    const beta = net.node('beta').address;
    await net.spawn('beta', NODE, ['-e', UDP_ECHO, beta, String(PORT)], { readyLine: /ready/ });
    expect(await nodeScript(net, 'alpha', UDP_ASK, [beta, PORT, 'OPTIONS'])).toBe(`OPTIONS from ${net.node('alpha').address}`);
  });

  it('carries a TCP connection between two nodes', async () => {
    const beta = net.node('beta').address;
    await net.spawn('beta', NODE, ['-e', TCP_GREETER, beta, String(PORT)], { readyLine: /ready/ });
    expect(await nodeScript(net, 'alpha', TCP_READER, [beta, PORT])).toBe(`hello ${net.node('alpha').address}`);
  });

  it('lets a node reach TCP and UDP servers of the root namespace on rootAddress', async () => {
    const alpha = net.node('alpha').address;
    const server = createServer((c) => c.end(`hello ${c.remoteAddress}`));
    const socket = createSocket('udp4').on('message', (m, from) => socket.send(`${m} from ${from.address}`, from.port, from.address));
    await new Promise<void>((resolve) => server.listen(0, net.rootAddress, resolve));
    await new Promise<void>((resolve) => socket.bind(0, net.rootAddress, resolve));
    try {
      const { port } = server.address() as AddressInfo;
      expect(await nodeScript(net, 'alpha', TCP_READER, [net.rootAddress, port])).toBe(`hello ${alpha}`);
      expect(await nodeScript(net, 'alpha', UDP_ASK, [net.rootAddress, socket.address().port, 'OPTIONS'])).toBe(`OPTIONS from ${alpha}`);
    } finally {
      server.close();
      socket.close();
    }
  });

  it('gives a node no route out of the test network', async () => {
    // a route lookup only: no packet is sent
    await expect(net.run('alpha', 'ip', ['route', 'get', '203.0.113.1'])).rejects.toThrow(/unreachable/i);
  });

  it('cuts a node off with linkDown (connections time out, no RST) and puts it back with linkUp', async () => {
    const beta = net.node('beta').address;
    await net.spawn('beta', NODE, ['-e', TCP_GREETER, beta, String(PORT + 1)], { readyLine: /ready/ });
    expect(await nodeScript(net, 'alpha', CONNECT_PROBE, [beta, PORT + 1, 5000])).toBe('connected');

    await net.linkDown('beta');
    expect(await nodeScript(net, 'alpha', CONNECT_PROBE, [beta, PORT + 1, CUT_OFF_PROBE_MS])).toBe('timeout');
    expect(await probeFromRoot(beta, PORT + 1, CUT_OFF_PROBE_MS)).toBe('timeout');
    expect(await nodeScript(net, 'beta', CONNECT_PROBE, [net.rootAddress, 9, CUT_OFF_PROBE_MS])).toBe('timeout');

    await net.linkUp('beta');
    expect(await nodeScript(net, 'alpha', CONNECT_PROBE, [beta, PORT + 1, 5000])).toBe('connected');
    expect(await probeFromRoot(beta, PORT + 1, 5000)).toBe('connected');
    // the root's port 9 is closed: reachable again, so refused at once
    expect(await nodeScript(net, 'beta', CONNECT_PROBE, [net.rootAddress, 9, 5000])).toBe('ECONNREFUSED');
  });

  it('spawns the program itself in the namespace, so SIGKILL to its pid leaves nothing running', async () => {
    const namespace = net.node('alpha').namespace;
    const before = pidsIn(namespace);
    const child = await net.spawn('alpha', NODE, ['-e', 'console.log("ready"); setInterval(() => {}, 1e9)'], { readyLine: /ready/ });
    expect(readFileSync(`/proc/${child.pid}/cmdline`, 'utf8').split('\0')[0]).toBe(NODE);
    expect(execFileSync('ip', ['netns', 'identify', String(child.pid)], { encoding: 'utf8' }).trim()).toBe(namespace);

    process.kill(child.pid, 'SIGKILL');
    expect((await child.exited).signal).toBe('SIGKILL');
    expect(isRunning(child.pid)).toBe(false);
    expect(pidsIn(namespace)).toEqual(before);
  });
});

describe('cleaning up test networks', () => {
  it('removes every namespace and link of the run on destroy, and stops what runs in them', async () => {
    const net = await createTestNetwork({ nodes: ['one', 'two', 'three'] });
    const started = await net.spawn('one', 'sleep', ['300']);
    // one it did not start: a daemon left behind in a namespace
    const daemon = Number((await net.run('two', 'sh', ['-c', 'setsid sleep 300 >/dev/null 2>&1 & echo $!'])).stdout.trim());
    expect(isRunning(daemon)).toBe(true);
    expect(await runLeftovers(net.runId)).toHaveLength(5); // hub, three nodes, the root's veth

    await net.destroy();

    expect(await runLeftovers(net.runId)).toEqual([]);
    expect(namespaces().filter((ns) => ns.startsWith(`tw-${net.runId}`))).toEqual([]);
    expect(rootLinks().filter((l) => l.startsWith(`tw${net.runId}`))).toEqual([]);
    expect((await started.exited).signal).not.toBeNull();
    await vi.waitFor(() => expect(isRunning(daemon)).toBe(false));
  });

  it('removes the leftovers of a run whose process is dead, and leaves a live run alone', async () => {
    const live = await createTestNetwork({ nodes: ['kept'] });
    // pid_max itself is never a pid: the owner of this fake crashed run is surely gone
    const deadOwner = Number(readFileSync('/proc/sys/kernel/pid_max', 'utf8')).toString(36);
    const staleNamespace = `tw-${deadOwner}-dead-edge1`;
    const staleLink = `tw${deadOwner}-dead`;
    execFileSync('ip', ['netns', 'add', staleNamespace]);
    execFileSync('ip', ['link', 'add', staleLink, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', staleNamespace]);
    let next: TestNetwork | undefined;
    try {
      next = await createTestNetwork({ nodes: ['next'] });
      expect(namespaces()).not.toContain(staleNamespace);
      expect(rootLinks()).not.toContain(staleLink);
      expect(await runLeftovers(live.runId)).toHaveLength(3);
      expect((await live.run('kept', 'ip', ['-br', 'link', 'show', 'eth0'])).stdout).toMatch(/UP/);
    } finally {
      await next?.destroy();
      await live.destroy();
      if (rootLinks().includes(staleLink)) execFileSync('ip', ['link', 'del', staleLink]);
      if (namespaces().includes(staleNamespace)) execFileSync('ip', ['netns', 'del', staleNamespace]);
    }
  });
});

describe('stores on a test network', () => {
  let network: TestNetwork;
  let alpha: string;

  beforeAll(async () => {
    requireTool('redis-cli', 'redis-tools');
    requireTool('psql', 'postgresql-client');
    network = await createTestNetwork({ nodes: ['alpha'] });
    alpha = network.node('alpha').address;
  });

  afterAll(async () => {
    await network?.destroy();
  });

  const redisCli = async (port: number, ...command: string[]): Promise<string> =>
    (await network.run('alpha', 'redis-cli', ['-h', network.rootAddress, '-p', String(port), ...command])).stdout.trim();

  it('runs a Redis that nodes reach on rootAddress, not on loopback, and that keeps its data across restart and kill', async () => {
    const redis = await network.startRedis();
    expect(redis.url).toBe(`redis://${network.rootAddress}:${redis.port}`);
    expect(await probeFromRoot('127.0.0.1', redis.port, 5000)).toBe('ECONNREFUSED');
    expect(await redisCli(redis.port, 'SET', 'registration', alpha)).toBe('OK');

    await redis.restart();
    expect(await redisCli(redis.port, 'GET', 'registration')).toBe(alpha);

    await redis.kill();
    await redis.start();
    expect(await redisCli(redis.port, 'GET', 'registration')).toBe(alpha);
  });

  it('runs a Redis Cluster whose MOVED redirects a node can follow', async () => {
    const cluster = await network.startRedisCluster(3);
    const ports = cluster.urls.map((url) => Number(new URL(url).port));
    expect(cluster.urls.every((url) => new URL(url).hostname === network.rootAddress)).toBe(true);
    const keys = Array.from({ length: 12 }, (_, i) => `aor${i}`);
    for (const key of keys) expect(await redisCli(ports[0]!, '-c', 'SET', key, `${key}-binding`)).toBe('OK');
    for (const key of keys) expect(await redisCli(ports[2]!, '-c', 'GET', key)).toBe(`${key}-binding`);
    const sizes = await Promise.all(ports.map(async (port) => Number(await redisCli(port, 'DBSIZE'))));
    expect(sizes.filter((n) => n > 0).length).toBeGreaterThan(1); // the keys really spread over masters
  });

  it('runs a PostgreSQL that nodes reach on rootAddress and that keeps its rows across restart', async () => {
    const pg = await network.startPostgres();
    expect(pg.url).toBe(`postgres://postgres@${network.rootAddress}:${pg.port}/postgres`);
    const psql = async (sql: string): Promise<string> =>
      (await network.run('alpha', 'psql', ['-h', network.rootAddress, '-p', String(pg.port), '-U', 'postgres', '-At', '-v', 'ON_ERROR_STOP=1', '-c', sql])).stdout.trim();
    expect(await psql('SELECT host(inet_client_addr())')).toBe(alpha);
    await psql("CREATE TABLE kept (value text); INSERT INTO kept VALUES ('survives')");

    await pg.restart();
    expect(await psql('SELECT value FROM kept')).toBe('survives');
  });
});
