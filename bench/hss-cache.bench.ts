/**
 * The S-CSCF's HSS cache under the miss pattern of a real registrar: every user re-registers
 * far less often than the cache's TTL, so each REGISTER misses and inserts, and the entries
 * inserted one TTL earlier expire. Prints CPU µs per miss at steady state.
 *
 *   tsx bench/hss-cache.bench.ts [rate=2000] [users=80000]
 */
import { CachedHss } from '../src/ims/hss-cache.js';
import type { Hss } from '../src/ims/hss.js';

const rate = Number(process.argv[2] ?? 2000);
const users = Number(process.argv[3] ?? 80_000);
const answer = Promise.resolve({ ok: true as const, impi: 'x', digest: [] });
const hss = { authVector: () => answer } as unknown as Hss;
let now = 0;
const cache = new CachedHss(hss, { ttlMs: 10_000, now: () => now });
let i = 0;
function run(seconds: number): void {
  for (let k = 0; k < seconds * rate; k++) {
    now += 1000 / rate;
    const u = i++ % users;
    void cache.authVector(`u${u}@x`, `sip:u${u}@x`);
  }
}
run(30); // past one TTL: entries now expire as fast as they come
const start = process.cpuUsage();
run(60);
const used = process.cpuUsage(start);
console.log(
  `hss cache, ${rate} misses/s of fake time over ${users} users, TTL 10 s: ` +
    `${((used.user + used.system) / (60 * rate)).toFixed(2)} µs CPU per miss, ${cache.entries} entries kept`,
);
