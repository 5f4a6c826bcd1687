import type { SrvRecord } from './types.js';

/**
 * Orders SRV records the way RFC 2782 ("Usage rules") says a client contacts them: priority
 * ascending; within one priority, repeatedly pick by weight — zero-weight records first in the
 * running order, a uniform integer in [0, sum of weights], the first record whose running sum
 * reaches it — until none is left. A zero-weight record is thus picked only when the draw is 0,
 * which is the "very small chance" the RFC intends when heavier records share its priority.
 *
 * @param random uniform in [0, 1), as `Math.random`; tests pass a seeded one.
 */
export function orderSrv<T extends SrvRecord>(records: readonly T[], random: () => number): T[] {
  const byPriority = new Map<number, T[]>();
  for (const r of records) {
    const group = byPriority.get(r.priority);
    if (group) group.push(r);
    else byPriority.set(r.priority, [r]);
  }
  const priorities = [...byPriority.keys()].sort((a, b) => a - b);
  const out: T[] = [];
  for (const p of priorities) out.push(...weightedOrder(byPriority.get(p)!, random));
  return out;
}

function weightedOrder<T extends SrvRecord>(group: readonly T[], random: () => number): T[] {
  const pool = [...group.filter((r) => r.weight === 0), ...group.filter((r) => r.weight !== 0)];
  const out: T[] = [];
  while (pool.length > 0) {
    let sum = 0;
    for (const r of pool) sum += r.weight;
    const draw = Math.min(sum, Math.floor(random() * (sum + 1)));
    let running = 0;
    let pick = pool.length - 1;
    for (let i = 0; i < pool.length; i++) {
      running += pool[i]!.weight;
      if (running >= draw) {
        pick = i;
        break;
      }
    }
    out.push(pool[pick]!);
    pool.splice(pick, 1);
  }
  return out;
}
