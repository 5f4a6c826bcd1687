/**
 * Group commit: write operations submitted during one turn of the event loop run together in
 * one SQLite transaction, and each caller's promise settles once that transaction committed.
 *
 * A commit costs far more than the statements in it (on the development machine about 80 us
 * of CPU for one registration write alone, under 40 us each when 16 share a commit). Under
 * load many REGISTERs are handled in the same event-loop turn, so batches grow with load and
 * the cost per write falls; at low load a batch holds one write, delayed by one turn at most.
 *
 * Semantics are those of running the operations one after the other, each in its own
 * transaction: each sees the effect of those before it, and no promise resolves before its
 * write is committed. Operations are pure database work (their only effects are their
 * statements), so when one throws the whole batch is rolled back and each operation is run
 * again in a transaction of its own: the failing one fails alone. (A SAVEPOINT per operation
 * would do the same at a cost on every write rather than on the rare failure.)
 */
import type Database from 'better-sqlite3';
import { asStorageError } from '../errors.js';

interface Pending {
  readonly run: () => unknown;
  readonly resolve: (value: unknown) => void;
  readonly reject: (reason: unknown) => void;
  value: unknown;
}

/** Most operations committed together; a larger queue is committed in several transactions. */
const MAX_BATCH = 512;

export class GroupCommit {
  private queue: Pending[] = [];
  private scheduled = false;
  private readonly commitBatch: (batch: Pending[]) => void;
  private readonly commitOne: (p: Pending) => unknown;

  constructor(connection: Database.Database) {
    this.commitBatch = connection.transaction((batch: Pending[]) => {
      for (const p of batch) p.value = p.run();
    }).immediate;
    this.commitOne = connection.transaction((p: Pending) => p.run()).immediate;
  }

  /** Operations waiting for the next commit. */
  get pending(): number {
    return this.queue.length;
  }

  /**
   * Queues `run` (synchronous statements, no awaiting inside) for the next group commit and
   * resolves with its result once committed; rejects with its error (a driver error as
   * TW_ERR_STORAGE_UNAVAILABLE), or with the commit's failure.
   */
  submit<T>(what: string, run: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const fail = (e: unknown) => reject(asStorageError(`SQLite ${what}`, e));
      this.queue.push({ run, resolve: resolve as (value: unknown) => void, reject: fail, value: undefined });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  /** Commits everything queued now (also called before the database closes). */
  flush(): void {
    this.scheduled = false;
    while (this.queue.length > 0) {
      const batch = this.queue.length <= MAX_BATCH ? this.queue : this.queue.slice(0, MAX_BATCH);
      this.queue = batch === this.queue ? [] : this.queue.slice(MAX_BATCH);
      if (this.tryBatch(batch)) continue;
      for (const p of batch) {
        try {
          p.resolve(this.commitOne(p));
        } catch (error) {
          p.reject(error);
        }
      }
    }
  }

  /** Commits `batch` in one transaction and settles it; false (all rolled back) if anything threw. */
  private tryBatch(batch: Pending[]): boolean {
    if (batch.length === 1) return false;
    try {
      this.commitBatch(batch);
    } catch {
      return false;
    }
    for (const p of batch) p.resolve(p.value);
    return true;
  }
}
