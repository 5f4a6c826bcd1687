/**
 * What WAL checkpoints cost the event loop: random row updates through the group commit at a
 * steady rate, with SQLite's own checkpoints (`inline`) and with a background checkpointer
 * (`background`), alternating; prints CPU per write and the event loop's delays (a 1 ms timer's
 * lateness). Run pinned to one core, as a server is:
 *
 *   taskset -c 0 npx tsx bench/sqlite-checkpoint.bench.ts [rate=2000] [seconds=15] [rounds=3]
 *
 * CKPT_MS sets the background checkpointer's interval (default the checkpointer's own).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { SqliteDatabase } from '../src/storage/sqlite/database.js';

const [rate = 2000, seconds = 15, rounds = 3] = process.argv.slice(2).map(Number);
const ROWS = 20_000;

async function run(mode: 'inline' | 'background'): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'tw-ckpt-'));
  const db = SqliteDatabase.open({ path: join(dir, 'bench.sqlite'), checkpoint: mode, migrations: [], ...(process.env.CKPT_MS ? { checkpointIntervalMs: Number(process.env.CKPT_MS) } : {}) });
  try {
    const c = db.connection;
    c.exec('CREATE TABLE t (k TEXT PRIMARY KEY, v TEXT, n INTEGER); CREATE INDEX t_n ON t(n)');
    const insert = c.prepare('INSERT INTO t VALUES (?, ?, ?)');
    c.transaction(() => {
      for (let i = 0; i < ROWS; i++) insert.run(`sip:${6505550000 + i}@example.com`, 'x'.repeat(300), i);
    })();
    const update = c.prepare('UPDATE t SET v = ?, n = ? WHERE k = ?');
    const delays: number[] = [];
    let last = performance.now();
    const probe = setInterval(() => {
      const now = performance.now();
      delays.push(now - last - 1);
      last = now;
    }, 1);
    const total = rate * seconds;
    let done = 0;
    const t0 = performance.now();
    const cpu0 = process.cpuUsage();
    await new Promise<void>((resolve) => {
      const tick = setInterval(() => {
        const due = Math.min(total, Math.floor(((performance.now() - t0) / 1000) * rate));
        for (; done < due; done++) {
          const key = `sip:${6505550000 + Math.floor(Math.random() * ROWS)}@example.com`;
          const value = `${'y'.repeat(300)}${done}`;
          const n = done;
          void db.writes.submit('update', () => update.run(value, n, key));
        }
        if (done >= total) {
          clearInterval(tick);
          resolve();
        }
      }, 1);
    });
    clearInterval(probe);
    const cpu = process.cpuUsage(cpu0);
    delays.sort((a, b) => a - b);
    const q = (p: number): string => delays[Math.min(delays.length - 1, Math.floor(delays.length * p))]!.toFixed(1);
    const over5 = delays.filter((d) => d > 5).length;
    return `${mode.padEnd(10)} ${((cpu.user + cpu.system) / total).toFixed(1)} us CPU/write; loop delay p99 ${q(0.99)} p99.9 ${q(0.999)} max ${delays.at(-1)!.toFixed(1)} ms; ${over5} over 5 ms`;
  } finally {
    await db.shutdown();
    rmSync(dir, { recursive: true, force: true });
  }
}

console.log(`${rate} writes/s for ${seconds} s, ${rounds} rounds`);
for (let i = 0; i < rounds; i++) {
  console.log(await run('inline'));
  console.log(await run('background'));
}
