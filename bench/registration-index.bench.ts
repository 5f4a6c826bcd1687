/**
 * What the in-memory registration index costs the garbage collector, the thing that made the
 * IMS bench's p99 grow with the number of registered users (docs/performance.md, 2026-11-27
 * night): every full collection marks every object the bindings are made of.
 *
 * Stores `users` AoRs of one binding each, shaped as the registrar writes them behind the edge
 * (Path, flow, User-Agent, received-from, +sip.instance), then prints heap objects and bytes
 * per binding, the time of a full collection, and CPU µs per refresh (put) and per read (get).
 *
 *   tsx bench/registration-index.bench.ts [users=100000]
 */
import { readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString, writeHeapSnapshot } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { Binding } from '../src/storage/registration-store.js';
import { MemoryRegistrationStore } from '../src/storage/memory/registration-store.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const users = Number(process.argv[2] ?? 100_000);
const store = new MemoryRegistrationStore();
const versions = new Array<number>(users).fill(0);

function binding(i: number, now: number): Binding {
  return {
    contact: `<sip:u${i}@10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}:5060;transport=udp>`,
    // The edge's Path names the client's flow in a token of its own: one value per client.
    path: [`<sip:${(i * 2654435761) % 4294967296 >>> 0}@edge.example.com:5058;lr;ob>`],
    expiresAt: now + 3_600_000,
    callId: `${(i * 7919).toString(36)}-${now.toString(36)}@10.0.0.1`,
    cseq: 2,
    instanceId: `<urn:uuid:00000000-0000-4000-8000-${i.toString(16).padStart(12, '0')}>`,
    regId: 1,
    flowId: `udp:10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}:5060`,
    userAgent: 'Tidewater bench softphone 1.0',
    receivedFrom: { address: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, port: 5060, transport: 'UDP' },
    registeredAt: now,
  };
}

async function putAll(now: number): Promise<void> {
  for (let i = 0; i < users; i++) {
    const result = await store.put(`sip:u${i}@example.com`, { bindings: [binding(i, now)] }, versions[i]!);
    if (!result.ok) throw new Error(`conflict on u${i}`);
    versions[i] = result.version;
  }
}

/** Objects on the heap, from a snapshot's header. */
function heapObjects(): number {
  const file = writeHeapSnapshot(join(tmpdir(), `tw-regindex-${process.pid}.heapsnapshot`));
  const head = readFileSync(file, { encoding: 'utf8' }).slice(0, 4096);
  rmSync(file);
  const match = /"node_count":(\d+)/.exec(head);
  if (!match) throw new Error('no node_count in the heap snapshot');
  return Number(match[1]);
}

function fullGcMs(rounds: number): number {
  let total = 0;
  for (let r = 0; r < rounds; r++) {
    const start = process.hrtime.bigint();
    gc();
    total += Number(process.hrtime.bigint() - start) / 1e6;
  }
  return total / rounds;
}

gc();
const emptyGc = fullGcMs(5);
const objectsBefore = heapObjects();
gc();
const bytesBefore = process.memoryUsage().heapUsed;
const t0 = Date.now();
await putAll(t0);
gc();
const bytesAfter = process.memoryUsage().heapUsed;
const objectsAfter = heapObjects();
const fullGc = fullGcMs(5);

let cpu = process.cpuUsage();
await putAll(t0 + 60_000);
const refresh = process.cpuUsage(cpu);
cpu = process.cpuUsage();
let found = 0;
for (let i = 0; i < users; i++) if ((await store.get(`sip:u${i}@example.com`))?.bindings.length === 1) found++;
const read = process.cpuUsage(cpu);
if (found !== users) throw new Error(`read back ${found} of ${users} records`);
const perOp = (usage: NodeJS.CpuUsage): string => ((usage.user + usage.system) / users).toFixed(2);

console.log(
  `registration index, ${users} AoRs of one binding: ` +
    `${((objectsAfter - objectsBefore) / users).toFixed(1)} heap objects and ` +
    `${Math.round((bytesAfter - bytesBefore) / users)} B per binding; ` +
    `full GC ${fullGc.toFixed(1)} ms (${emptyGc.toFixed(1)} ms empty); ` +
    `${perOp(refresh)} µs CPU per refresh, ${perOp(read)} µs per read`,
);
