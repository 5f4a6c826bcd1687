/**
 * WAL checkpoints on a worker thread, so that a server's event loop seldom waits for one.
 *
 * In WAL mode SQLite copies the log back into the database file once it holds 1,000 pages,
 * right after the commit that crossed the mark, on the committing connection, and syncs both
 * files. On the all-in-one under 400 REGISTER/s that was every 0.6 s, and each time the event
 * loop stalled some 10-15 ms for a thousand page writes and three fsyncs: a steady part of the
 * REGISTER latency tail.
 *
 * A checkpointer opens a second connection on a worker thread and runs a PASSIVE checkpoint
 * every `intervalMs`. A passive checkpoint never blocks the writer and copies what no reader
 * still needs, so by the time the server's connection reaches the 1,000-page mark nearly every
 * page is in the database file already and its own checkpoint has little left to copy or sync.
 * `bench/sqlite-checkpoint.bench.ts` (2,000 writes/s, one core): event-loop delays over 5 ms
 * 77-86 -> 0-6 per 15 s, p99.9 10-11 -> 3-4 ms, for 10 us more CPU per write (the worker's
 * syncs). At 200 ms the worker left a third of the work to the event loop (42-74 delays).
 * The worker runs at the lowest priority (nice 19), so on a busy core it takes the idle moments.
 *
 * The server's connection keeps SQLite's automatic checkpoint, for two reasons: under a steady
 * stream of commits a checkpoint running beside the writer never catches up with the end of
 * the log, and the log starts again from its beginning only when one has (tried: with the
 * automatic checkpoint off the log grew by 2 MB a second); and if the worker fails, nothing
 * changes but the cost of that checkpoint. `onFailure` is told of such a failure.
 */
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

/** Default time between two background checkpoints. */
export const DEFAULT_CHECKPOINT_INTERVAL_MS = 20;

export interface WalCheckpointerOptions {
  /** The database file the connection has open. */
  readonly path: string;
  /** Time between two checkpoints; default {@link DEFAULT_CHECKPOINT_INTERVAL_MS}. */
  readonly intervalMs?: number;
  /** Told once if background checkpoints stop for any reason but {@link WalCheckpointer.stop}. */
  readonly onFailure?: (error: Error) => void;
}

/**
 * The worker: CommonJS, evaluated from this string so that it runs the same from the sources
 * (tests) and from the build. It is handed the driver's resolved path, not its name, so it finds
 * the same better-sqlite3 whatever the working directory.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
// Errors cross to the parent as plain ones: the driver's own class arrives without its message.
const plain = (what, error) => new Error(what + ': ' + (error && error.message ? error.message : String(error)));
let db;
try {
  db = new Database(workerData.path, { fileMustExist: true, timeout: 0 });
} catch (error) {
  throw plain('opening ' + workerData.path, error);
}
// The lowest priority for this thread alone (Linux numbers threads like processes): on a busy
// core it waits for the event loop's idle moments rather than taking turns with it.
try {
  require('node:os').setPriority(Number(require('node:fs').readlinkSync('/proc/thread-self').split('/').pop()), 19);
} catch {}
const checkpoint = db.prepare('PRAGMA wal_checkpoint(PASSIVE)');
const timer = setInterval(() => {
  try {
    checkpoint.run();
  } catch (error) {
    if (error && error.code === 'SQLITE_BUSY') return;
    throw plain('checkpoint of ' + workerData.path, error);
  }
}, workerData.intervalMs);
parentPort.on('message', () => {
  clearInterval(timer);
  db.close();
  parentPort.close();
});
parentPort.postMessage('ready');
`;

export class WalCheckpointer {
  private readonly worker: Worker;
  private stopping = false;
  private readonly exited: Promise<void>;
  private readonly readyPromise: Promise<void>;

  private constructor(options: WalCheckpointerOptions) {
    const intervalMs = options.intervalMs ?? DEFAULT_CHECKPOINT_INTERVAL_MS;
    if (!Number.isInteger(intervalMs) || intervalMs < 1) throw new RangeError(`intervalMs must be a positive integer, not ${intervalMs}`);
    const driver = createRequire(import.meta.url).resolve('better-sqlite3');
    this.worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { driver, path: options.path, intervalMs },
      // Not the server's flags (a CPU profile or heap-snapshot signal of its own), and a heap
      // sized for what it does: it allocates next to nothing.
      execArgv: [],
      resourceLimits: { maxOldGenerationSizeMb: 16, maxYoungGenerationSizeMb: 2 },
    });
    // The server's lifetime is not the worker's business: it never keeps the process alive.
    this.worker.unref();
    let failed: Error | undefined;
    const fail = (error: Error): void => {
      if (this.stopping || failed) return;
      failed = error;
      options.onFailure?.(error);
    };
    this.readyPromise = new Promise<void>((resolve, reject) => {
      this.worker.once('message', () => resolve());
      this.worker.once('error', reject);
      this.worker.once('exit', () => reject(failed ?? new Error('the checkpoint worker exited before it was ready')));
    });
    // Whoever does not wait for readiness must not see an unhandled rejection.
    this.readyPromise.catch(() => undefined);
    this.worker.on('error', fail);
    this.exited = new Promise<void>((resolve) => {
      this.worker.once('exit', (code) => {
        if (!this.stopping) fail(new Error(`the checkpoint worker exited (code ${code})`));
        resolve();
      });
    });
  }

  /** Starts checkpointing `options.path` in a worker. */
  static start(options: WalCheckpointerOptions): WalCheckpointer {
    return new WalCheckpointer(options);
  }

  /** Resolves once the worker has the database open; rejects if it could not. */
  ready(): Promise<void> {
    return this.readyPromise;
  }

  /**
   * Asks the worker to close its connection and end. The server's connection is left as it
   * is: its owner closes it next, and the last connection to close checkpoints what is left
   * and removes the log.
   */
  stop(): Promise<void> {
    if (!this.stopping) {
      this.stopping = true;
      // Whoever waits for the worker to end keeps the process alive until it has.
      this.worker.ref();
      this.worker.postMessage('stop');
    }
    return this.exited;
  }
}
