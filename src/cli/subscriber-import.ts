/**
 * `tidewater subscriber import FILE.csv` (issue 7, bulk provisioning): one subscriber per line,
 * `number,password[,more identities...]`, each provisioned as `subscriber add` would (HA1s for
 * the home realm, the default service profile, the default simservs document of every identity),
 * into PostgreSQL when `postgresUrl` is set (the adapter's batched import), else into the data
 * folder's SQLite file (one transaction per batch).
 *
 * A line that is not a subscriber is reported with its number and skipped; the others are still
 * imported. A number whose private identity exists is skipped, so running the same file again
 * (after a crash, or after fixing the bad lines) creates nothing twice. A store that fails stops
 * the import: what was committed stays, and a re-run completes it. Passwords are hashed here and
 * never printed.
 */
import { open } from 'node:fs/promises';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { StorageError, type DocumentStore, type NewSubscriber, type SubscriberStore } from '../storage/index.js';
import type { SqliteStores } from '../storage/sqlite/index.js';
import type { PostgresStores } from '../storage/postgres/index.js';
import { provisionDefaultDocument } from '../xdms/index.js';
import { parseCsvLine } from './csv.js';
import { IdentityError, identitiesOf, impuOf } from './identities.js';
import { CliError } from './output.js';
import { newSubscriberOf, subscriberStoreName, withStores, type SubscriberContext } from './subscriber.js';

/** Options of {@link importSubscribersCommand}. */
export interface ImportCommandOptions {
  /** A progress line after every this many lines of subscribers; default {@link DEFAULT_PROGRESS_EVERY}. */
  readonly progressEvery?: number;
}

export const DEFAULT_PROGRESS_EVERY = 10_000;
/** Rows per PostgreSQL transaction (the adapter's batch) and per SQLite transaction. */
const POSTGRES_BATCH = 1000;
const SQLITE_BATCH = 500;
/**
 * Documents written at once into PostgreSQL: each is a statement of its own (a commit), so
 * many at once let the server flush their commits together.
 */
const DOCUMENT_CONCURRENCY = 16;
/** Bad lines reported one by one; beyond that only counted. */
const MAX_REPORTED = 1000;

/** A line that is a subscriber. */
interface Row {
  readonly line: number;
  /** The default public identity, for messages. */
  readonly impu: string;
  readonly impus: readonly string[];
  readonly subscriber: NewSubscriber;
}

/** What writing one batch did. */
interface BatchResult {
  readonly created: number;
  readonly skipped: number;
  readonly failures: readonly { readonly row: Row; readonly reason: string }[];
}

/** Writes batches of rows; `finish()` waits for what is still being written. */
interface Writer {
  readonly batchSize: number;
  write(rows: readonly Row[]): Promise<BatchResult>;
  finish(): Promise<void>;
}

/** The subscriber of one CSV record, or why it is not one. */
function rowOf(ctx: SubscriberContext, line: number, fields: readonly string[]): Row | string {
  const [number = '', password = '', ...more] = fields;
  if (number.trim() === '') return 'no number (expected number,password[,more identities])';
  if (fields.length < 2 || password === '') return `${number.trim()}: no password (expected number,password[,more identities])`;
  try {
    const { impu, impi } = identitiesOf(number, ctx.config.domain);
    const extra = more.filter((m) => m.trim() !== '').map((m) => impuOf(m, ctx.config.domain));
    const impus = [...new Set([impu, ...extra])];
    return { line, impu, impus, subscriber: newSubscriberOf(ctx.config, impi, impus, password) };
  } catch (error) {
    if (error instanceof IdentityError) return error.message;
    throw error;
  }
}

/** `number,password` (any case) as the first record: a header line, skipped. */
function isHeader(fields: readonly string[]): boolean {
  return fields[0]?.trim().toLowerCase() === 'number' && fields[1]?.trim().toLowerCase() === 'password';
}

/** Writes the default simservs document of each identity that has none, `concurrency` at a time. */
async function ensureDocuments(documents: DocumentStore, impus: readonly string[], concurrency: number): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < impus.length) await provisionDefaultDocument(documents, impus[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, impus.length) }, worker));
}

/**
 * Batches through the PostgreSQL adapter's import (one transaction each, idempotent by IMPI),
 * then the documents of the batch, written while the next batch's subscribers go in.
 */
function postgresWriter(postgres: PostgresStores, documents: DocumentStore): Writer {
  let writing: Promise<void> = Promise.resolve();
  return {
    batchSize: POSTGRES_BATCH,
    write: async (rows) => {
      const report = await postgres.subscribers.importSubscribers(
        rows.map((r) => r.subscriber),
        { batchSize: rows.length, onExisting: 'skip' },
      );
      await writing;
      const failed = new Set(report.failed.map((f) => f.index));
      // Skipped rows too: a run that died between a batch and its documents is completed by the next.
      writing = ensureDocuments(documents, rows.filter((_, i) => !failed.has(i)).flatMap((r) => r.impus), DOCUMENT_CONCURRENCY);
      // Awaited by the next write or by finish(); until then a failure must not count as unhandled.
      writing.catch(() => undefined);
      return {
        created: report.created,
        skipped: report.skipped + report.updated,
        failures: report.failed.map((f) => ({ row: rows[f.index]!, reason: f.reason })),
      };
    },
    finish: () => writing,
  };
}

/**
 * One SQLite transaction per batch. The stores run their statements synchronously, each in a
 * savepoint of this transaction, so a row that fails leaves nothing behind and the rest commit.
 */
function sqliteWriter(sqlite: SqliteStores, subscribers: SubscriberStore, documents: DocumentStore): Writer {
  const connection = sqlite.database.connection;
  const write = async (rows: readonly Row[]): Promise<BatchResult> => {
    let created = 0;
    let skipped = 0;
    const failures: { row: Row; reason: string }[] = [];
    connection.exec('BEGIN IMMEDIATE');
    try {
      for (const row of rows) {
        if (await subscribers.getPrivateIdentity(row.subscriber.privateIdentity.impi)) {
          skipped++;
        } else {
          try {
            await subscribers.addSubscriber(row.subscriber);
            created++;
          } catch (error) {
            if (!(error instanceof StorageError) || error.code === 'TW_ERR_STORAGE_UNAVAILABLE') throw error;
            failures.push({ row, reason: error.message });
            continue;
          }
        }
        for (const impu of row.impus) await provisionDefaultDocument(documents, impu);
      }
      connection.exec('COMMIT');
    } catch (error) {
      if (connection.inTransaction) connection.exec('ROLLBACK');
      throw error;
    }
    return { created, skipped, failures };
  };
  return { batchSize: SQLITE_BATCH, write, finish: async () => undefined };
}

/** Counts, the reporting of bad lines and the progress lines of one import. */
class Tally {
  created = 0;
  skipped = 0;
  failed = 0;
  private nextProgress: number;
  private readonly started = performance.now();

  constructor(
    private readonly ctx: SubscriberContext,
    private readonly progressEvery: number,
  ) {
    this.nextProgress = progressEvery;
  }

  get rows(): number {
    return this.created + this.skipped + this.failed;
  }

  /** True when `pending` more rows reach the next progress line: write them first. */
  progressDue(pending: number): boolean {
    return this.rows + pending >= this.nextProgress;
  }

  fail(line: number, reason: string): void {
    this.failed++;
    if (this.failed <= MAX_REPORTED) this.ctx.out.error(`line ${line}: ${reason}`);
    else if (this.failed === MAX_REPORTED + 1) this.ctx.out.error(`(more lines not imported; only the first ${MAX_REPORTED} are listed)`);
  }

  add(result: BatchResult): void {
    this.created += result.created;
    this.skipped += result.skipped;
    for (const f of result.failures) this.fail(f.row.line, `${f.row.impu}: ${f.reason}`);
    if (this.rows >= this.nextProgress) {
      this.ctx.out.line(`${this.rows} rows: ${this.counts()} (${this.rate()} rows/s)`);
      while (this.nextProgress <= this.rows) this.nextProgress += this.progressEvery;
    }
  }

  counts(): string {
    return `created ${this.created}, skipped ${this.skipped}, failed ${this.failed}`;
  }

  seconds(): number {
    return (performance.now() - this.started) / 1000;
  }

  rate(): number {
    return Math.round(this.rows / Math.max(this.seconds(), 0.001));
  }
}

/**
 * `subscriber import FILE`: reads the file line by line (a header line `number,password,...` is
 * allowed first; blank lines are ignored), writes the subscribers in batches, prints a progress
 * line every `progressEvery` rows and a summary with the rate. Rejects with a {@link CliError}
 * (exit 1) after importing everything else when some lines were not imported.
 */
export async function importSubscribersCommand(ctx: SubscriberContext, file: string, options: ImportCommandOptions = {}): Promise<void> {
  const progressEvery = options.progressEvery ?? DEFAULT_PROGRESS_EVERY;
  if (!Number.isSafeInteger(progressEvery) || progressEvery < 1) throw new CliError(`--progress-every must be a positive integer, got ${progressEvery}`, 2);
  const input = await open(file).catch((error: NodeJS.ErrnoException) => {
    throw new CliError(`cannot read ${file}: ${error.code === 'ENOENT' ? 'no such file' : error.message}`);
  });
  const tally = new Tally(ctx, progressEvery);
  try {
    await withStores(
      ctx.config,
      ['subscribers', 'documents'],
      async (stores) => {
        const writer = stores.postgres ? postgresWriter(stores.postgres, stores.documents) : sqliteWriter(stores.sqlite!, stores.subscribers, stores.documents);
        ctx.out.line(`importing ${path.basename(file)} into ${subscriberStoreName(ctx.config)}`);
        let batch: Row[] = [];
        let line = 0;
        let first = true;
        for await (const raw of input.readLines({ encoding: 'utf8' })) {
          line++;
          const text = line === 1 ? raw.replace(/^\uFEFF/, '') : raw;
          if (text.trim() === '') continue;
          const record = parseCsvLine(text);
          const header = first && record.ok && isHeader(record.fields);
          first = false;
          if (header) continue;
          const row = record.ok ? rowOf(ctx, line, record.fields) : record.reason;
          if (typeof row === 'string') {
            tally.fail(line, row);
            continue;
          }
          batch.push(row);
          if (batch.length >= writer.batchSize || tally.progressDue(batch.length)) {
            tally.add(await writer.write(batch));
            batch = [];
          }
        }
        if (batch.length > 0) tally.add(await writer.write(batch));
        await writer.finish();
      },
      true,
      { postgresPool: { maxConnections: DOCUMENT_CONCURRENCY + 2 } },
    );
  } catch (error) {
    // What was committed stays; the same file run again skips it and completes the rest.
    if (tally.rows > 0) ctx.out.line(`stopped after ${tally.rows} rows: ${tally.counts()}; run the import again to complete it`);
    throw error;
  } finally {
    await input.close();
  }
  ctx.out.line(`imported ${tally.rows} rows from ${path.basename(file)}: ${tally.counts()} in ${tally.seconds().toFixed(1)} s (${tally.rate()} rows/s)`);
  if (tally.failed > 0) throw new CliError(`${tally.failed} ${tally.failed === 1 ? 'line was' : 'lines were'} not imported (listed above); fix them and run the import again`);
}
