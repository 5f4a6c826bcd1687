/**
 * CPU accounting from /proc for benchmarks: the process tree of a server, the on-CPU time
 * of all its threads, the kernel's UDP buffer drop counters.
 *
 * On-CPU time comes from /proc/PID/task/TID/schedstat (first field, nanoseconds, exact)
 * rather than utime/stime (clock ticks): on tick-less VM kernels the tick-sampled figures
 * miss short event-driven bursts. Threads or processes that end during a measurement take
 * their time with them: measure long-lived servers only.
 */
import { readFile, readdir } from 'node:fs/promises';

const STAT_AFTER_COMM = /\)\s+(\S)\s+(\d+)/;
const WHITESPACE = /\s+/;

/** Parent PID of every process, from /proc/PID/stat. */
async function parentMap(): Promise<Map<number, number>> {
  const parents = new Map<number, number>();
  const entries = await readdir('/proc');
  await Promise.all(
    entries.map(async (entry) => {
      const pid = Number(entry);
      if (!Number.isInteger(pid)) return;
      const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
      // the command name may contain spaces and parentheses: parse after the last ')'
      const match = STAT_AFTER_COMM.exec(stat.slice(stat.lastIndexOf(')')));
      if (match?.[2] !== undefined) parents.set(pid, Number(match[2]));
    }),
  );
  return parents;
}

/** `root` and all its descendants that are alive now. */
export async function processTree(root: number): Promise<number[]> {
  const parents = await parentMap();
  const children = new Map<number, number[]>();
  for (const [pid, ppid] of parents) {
    const list = children.get(ppid);
    if (list === undefined) children.set(ppid, [pid]);
    else list.push(pid);
  }
  const tree: number[] = [];
  const todo = parents.has(root) ? [root] : [];
  while (todo.length > 0) {
    const pid = todo.pop() as number;
    tree.push(pid);
    todo.push(...(children.get(pid) ?? []));
  }
  return tree.sort((a, b) => a - b);
}

/** Nanoseconds on CPU so far, summed over every thread of every process in `pids`. */
export async function cpuNs(pids: readonly number[]): Promise<number> {
  let total = 0;
  for (const pid of pids) {
    const tasks = await readdir(`/proc/${pid}/task`).catch(() => [] as string[]);
    for (const tid of tasks) {
      const schedstat = await readFile(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').catch(() => '');
      const ns = Number(schedstat.split(' ')[0]);
      if (Number.isFinite(ns)) total += ns;
    }
  }
  return total;
}

/** UDP datagrams the kernel dropped for full socket buffers so far (RcvbufErrors + SndbufErrors). */
export async function udpBufferDrops(): Promise<number> {
  const snmp = await readFile('/proc/net/snmp', 'utf8');
  const [header, values] = snmp.split('\n').filter((line) => line.startsWith('Udp:'));
  if (header === undefined || values === undefined) return 0;
  const names = header.split(WHITESPACE);
  const counts = values.split(WHITESPACE);
  const get = (name: string): number => Number(counts[names.indexOf(name)] ?? 0) || 0;
  return get('RcvbufErrors') + get('SndbufErrors');
}

/** The `p`-th percentile (0-100, nearest rank) of ascending `sorted`, or undefined when empty. */
export function percentile(sorted: readonly number[], p: number): number | undefined {
  if (sorted.length === 0) return undefined;
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1];
}

/** On-CPU nanoseconds of every process now, with its command name. */
export async function cpuSnapshot(): Promise<Map<number, { readonly comm: string; readonly ns: number }>> {
  const snapshot = new Map<number, { comm: string; ns: number }>();
  const entries = await readdir('/proc');
  for (const entry of entries) {
    const pid = Number(entry);
    if (!Number.isInteger(pid)) continue;
    const comm = (await readFile(`/proc/${pid}/comm`, 'utf8').catch(() => '')).trim();
    if (comm === '') continue;
    snapshot.set(pid, { comm, ns: await cpuNs([pid]) });
  }
  return snapshot;
}

/** CPU used between two snapshots by processes outside `exclude`: total ns and the top three. */
export function foreignCpu(
  before: ReadonlyMap<number, { readonly ns: number }>,
  after: ReadonlyMap<number, { readonly comm: string; readonly ns: number }>,
  exclude: ReadonlySet<number>,
): { readonly ns: number; readonly top: ReadonlyArray<{ readonly comm: string; readonly ns: number }> } {
  const byComm = new Map<string, number>();
  let total = 0;
  for (const [pid, { comm, ns }] of after) {
    if (exclude.has(pid) || comm.startsWith('ksoftirqd')) continue;
    const previous = before.get(pid)?.ns ?? 0;
    const delta = ns >= previous ? ns - previous : ns; // PID reused
    if (delta <= 0) continue;
    total += delta;
    byComm.set(comm, (byComm.get(comm) ?? 0) + delta);
  }
  const top = [...byComm].sort((a, b) => b[1] - a[1]).slice(0, 3).map(([comm, ns]) => ({ comm, ns }));
  return { ns: total, top };
}

/** Resident and proportional set sizes, kB, summed over `pids` (from /proc/PID/smaps_rollup). */
export interface MemoryKb {
  readonly rssKb: number;
  /** Shared pages divided among the processes mapping them: the sum over a process tree counts them once. */
  readonly pssKb: number;
  /** Live JavaScript heap after a full garbage collection, for a Node process that lets us force one. */
  readonly heapKb?: number;
}

const SMAPS_FIELD = /^(Rss|Pss):\s+(\d+)\s+kB/gm;

/** Memory of the processes `pids` now; processes that have gone count 0. */
export async function memoryKb(pids: readonly number[]): Promise<MemoryKb> {
  let rssKb = 0;
  let pssKb = 0;
  for (const pid of pids) {
    const text = await readFile(`/proc/${pid}/smaps_rollup`, 'utf8').catch(() => '');
    for (const match of text.matchAll(SMAPS_FIELD)) {
      if (match[1] === 'Rss') rssKb += Number(match[2]);
      else pssKb += Number(match[2]);
    }
  }
  return { rssKb, pssKb };
}
