import { createSocket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { describe, expect, it, vi } from 'vitest';
import { freePort, freePortExcept, freeUdpTcpPort, isPortBound, requireTool, startProcess } from './tools.js';

function bindUdp(port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = createSocket('udp4');
    socket.once('error', reject);
    socket.bind({ address: '127.0.0.1', port, exclusive: true }, () => socket.close(() => resolve()));
  });
}

function listenTcp(port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port, exclusive: true }, () => server.close(() => resolve()));
  });
}

/** Running (a zombie waiting to be reaped by init counts as gone). */
function isRunning(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

describe('requireTool', () => {
  it('returns the path of an installed tool', () => {
    expect(requireTool('sh', 'dash')).toMatch(/\/sh$/);
  });

  it('names the Debian package of a missing tool', () => {
    expect(() => requireTool('tw-no-such-tool', 'tw-some-package')).toThrow(/tw-no-such-tool.*tw-some-package/);
  });
});

describe('freePort', () => {
  it('gives loopback ports that can be bound for UDP and for TCP', async () => {
    const udp = await freePort('udp');
    const tcp = await freePort('tcp');
    expect(udp).toBeGreaterThan(0);
    await expect(bindUdp(udp)).resolves.toBeUndefined();
    await expect(listenTcp(tcp)).resolves.toBeUndefined();
  });

  it('gives a port free for both UDP and TCP', async () => {
    const port = await freeUdpTcpPort();
    await expect(bindUdp(port)).resolves.toBeUndefined();
    await expect(listenTcp(port)).resolves.toBeUndefined();
  });

  it('gives a free port other than those already picked', async () => {
    const first = await freePort('tcp');
    const taken = [first];
    for (let i = 0; i < 5; i++) taken.push(await freePortExcept('tcp', taken));
    expect(new Set(taken).size).toBe(taken.length);
    await expect(listenTcp(taken[5]!)).resolves.toBeUndefined();
  });

  it('sees which process has a UDP port bound, through /proc', async () => {
    const socket = createSocket('udp4');
    await new Promise<void>((resolve) => socket.bind({ address: '127.0.0.1', port: 0 }, resolve));
    const port = socket.address().port;
    expect(await isPortBound(port, 'udp')).toBe(true);
    expect(await isPortBound(port, 'udp', process.pid)).toBe(true);
    const other = await startProcess('sleep', ['30']);
    expect(await isPortBound(port, 'udp', other.pid)).toBe(false);
    await other.stop();
    await new Promise<void>((resolve) => socket.close(resolve));
    expect(await isPortBound(port, 'udp')).toBe(false);
  });
});

describe('startProcess', () => {
  it('resolves when the ready line appears and collects the output', async () => {
    const proc = await startProcess('sh', ['-c', 'echo starting; echo oops >&2; echo ready; exec sleep 30'], {
      readyLine: /^ready$/,
    });
    expect(proc.stdout).toContain('starting\nready\n');
    await expect(proc.waitForLine(/oops/)).resolves.toBe('oops');
    const status = await proc.stop();
    expect(status.signal).toBe('SIGTERM');
  });

  it('rejects with the output when the process exits before it is ready', async () => {
    await expect(startProcess('sh', ['-c', 'echo bad config >&2; exit 3'], { readyLine: /ready/ })).rejects.toThrow(
      /exited before ready \(code 3.*bad config/s,
    );
  });

  it('kills a process that is not ready in time', async () => {
    const started = Date.now();
    await expect(startProcess('sh', ['-c', 'echo $$; exec sleep 30'], { readyLine: /ready/, timeoutMs: 300 })).rejects.toThrow(
      /not ready within 300 ms/,
    );
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('escalates to SIGKILL when SIGTERM is ignored', async () => {
    const proc = await startProcess('sh', ['-c', "trap '' TERM; echo ready; while :; do sleep 1; done"], {
      readyLine: /ready/,
    });
    const status = await proc.stop(200);
    expect(status.signal).toBe('SIGKILL');
  });

  it('stops the grandchildren of the process too', async () => {
    const proc = await startProcess('sh', ['-c', 'sleep 30 & echo "child $!"; wait'], { readyLine: /^child \d+$/ });
    const line = await proc.waitForLine(/^child \d+$/);
    const grandchild = Number(line.split(' ')[1]);
    expect(isRunning(grandchild)).toBe(true);
    await proc.stop();
    // The grandchild closes its end of the output pipe (which lets stop() resolve) a moment
    // before the kernel marks it a zombie; on a busy machine that moment can be seen here.
    await vi.waitFor(() => expect(isRunning(grandchild)).toBe(false), { timeout: 2_000 });
  });

  it('reports a line that is only printed later, and fails when none comes before exit', async () => {
    const proc = await startProcess('sh', ['-c', 'read _ 2>/dev/null; echo late; exit 0']);
    await expect(proc.waitForLine(/late/)).resolves.toBe('late');
    await expect(proc.waitForLine(/never/)).rejects.toThrow(/exited without printing/);
  });
});
