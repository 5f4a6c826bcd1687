/**
 * Bulk provisioning into PostgreSQL (`tidewater subscriber import`, issue 7 point 5): rows go in
 * batches, each batch one transaction of a few multi-row statements (`INSERT ... SELECT FROM
 * unnest($arrays) ON CONFLICT DO NOTHING`), so the cost per subscriber is a few rows of a
 * statement, not a round trip.
 *
 * Each row is all or nothing, as {@link SubscriberStore.addSubscriber}: a row whose IMPI exists
 * is skipped (or its credentials replaced, `onExisting: 'update'`), a row whose implicit set or
 * a public identity belongs to someone else fails with the reason and leaves nothing behind, and
 * every other row is created. Rows are keyed by IMPI, so re-running an import (after a crash,
 * or twice at once from two hosts) creates nothing twice and reports the rows as skipped.
 */
import { StorageError } from '../errors.js';
import { checkPrivateIdentity, checkPublicIdentity, checkServiceProfile, checkSetId } from '../subscriber-records.js';
import type { NewSubscriber, PrivateIdentity, PublicIdentity } from '../subscriber-store.js';
import { checkStorableText, sql, type PostgresDatabase, type Queryable } from './database.js';
import { digestJson } from './subscriber-statements.js';

/** Options of {@link importSubscribers}. */
export interface ImportOptions {
  /** Rows per transaction; default 1000. */
  readonly batchSize?: number;
  /**
   * A row whose IMPI exists: `skip` (default) leaves it as stored; `update` replaces its HA1s
   * and, when the row has AKA keys, its keys (the SQN is kept). Its identities are not touched.
   */
  readonly onExisting?: 'skip' | 'update';
  /** Called after each committed batch with the number of rows handled so far. */
  readonly onProgress?: (done: number) => void;
}

/** A row that was not imported: its position in the input, its IMPI when readable, and why. */
export interface ImportFailure {
  readonly index: number;
  readonly impi?: string;
  readonly reason: string;
}

/** What an import did; `created + skipped + updated + failed.length` is the number of rows. */
export interface ImportReport {
  readonly created: number;
  readonly skipped: number;
  readonly updated: number;
  readonly failed: readonly ImportFailure[];
}

interface Row {
  readonly index: number;
  readonly identity: PrivateIdentity;
  readonly setId: string;
  readonly profile: string;
  readonly publics: readonly PublicIdentity[];
}

const INSERT_IMPIS = sql(
  'imp_insert_impis',
  `INSERT INTO private_identities (impi, digest, aka_k, aka_opc, aka_amf, aka_sqn)
   SELECT * FROM unnest($1::text[], $2::jsonb[], $3::bytea[], $4::bytea[], $5::bytea[], $6::bigint[])
   ON CONFLICT DO NOTHING RETURNING impi`,
);
const INSERT_SETS = sql(
  'imp_insert_sets',
  'INSERT INTO implicit_sets (id, service_profile) SELECT * FROM unnest($1::text[], $2::text[]) ON CONFLICT DO NOTHING RETURNING id',
);
const INSERT_IMPUS = sql(
  'imp_insert_impus',
  `INSERT INTO public_identities (impu, set_id, barred)
   SELECT u.impu, u.set_id, u.barred FROM unnest($1::text[], $2::text[], $3::boolean[]) WITH ORDINALITY AS u (impu, set_id, barred, ord)
   ORDER BY u.ord ON CONFLICT DO NOTHING RETURNING impu`,
);
const INSERT_LINKS = sql('imp_insert_links', 'INSERT INTO associations (impi, impu) SELECT * FROM unnest($1::text[], $2::text[])');
const DELETE_IMPUS = sql('imp_delete_impus', 'DELETE FROM public_identities WHERE impu = ANY($1::text[])');
const DELETE_SETS = sql('imp_delete_sets', 'DELETE FROM implicit_sets WHERE id = ANY($1::text[])');
const DELETE_IMPIS = sql('imp_delete_impis', 'DELETE FROM private_identities WHERE impi = ANY($1::text[])');
/** New HA1s, and new AKA keys where given (NULL: keep), keeping the SQN. */
const UPDATE_CREDENTIALS = sql(
  'imp_update_credentials',
  `UPDATE private_identities p SET digest = u.digest,
     aka_k = COALESCE(u.k, p.aka_k), aka_opc = COALESCE(u.opc, p.aka_opc), aka_amf = COALESCE(u.amf, p.aka_amf),
     aka_sqn = CASE WHEN u.k IS NULL THEN p.aka_sqn ELSE COALESCE(p.aka_sqn, 0) END
   FROM unnest($1::text[], $2::jsonb[], $3::bytea[], $4::bytea[], $5::bytea[]) AS u (impi, digest, k, opc, amf)
   WHERE p.impi = u.impi`,
);

/** Validates a row as addSubscriber does; a failure says why not. */
function checkRow(subscriber: NewSubscriber, index: number): Row | ImportFailure {
  const impi = typeof subscriber?.privateIdentity?.impi === 'string' ? subscriber.privateIdentity.impi : undefined;
  try {
    const identity = checkPrivateIdentity(subscriber.privateIdentity);
    const setId = checkSetId(subscriber.implicitSet?.id);
    const profile = checkStorableText(checkServiceProfile(subscriber.implicitSet.serviceProfile), 'serviceProfile');
    const publics = (subscriber.publicIdentities ?? []).map((p) =>
      checkPublicIdentity({ impu: p.impu, implicitSetId: setId, barred: p.barred === true }),
    );
    if (publics.length === 0) throw new StorageError('TW_ERR_STORAGE_INVALID', 'a subscriber needs a public identity');
    return { index, identity, setId, profile, publics };
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    return impi === undefined ? { index, reason } : { index, impi, reason };
  }
}

/**
 * Splits rows into batches of at most `size`, in order, such that a row sharing a key (IMPI, set,
 * IMPU) with an earlier row lands in a later batch than it: it then meets that row in the
 * database and is skipped or fails as it would have one at a time. Linear: each row goes to the
 * first batch with room after the last batch holding one of its keys ("next open batch" kept as
 * a union-find forest).
 */
function batches(rows: readonly Row[], size: number): Row[][] {
  const out: Row[][] = [];
  const lastBatchOf = new Map<string, number>();
  const nextOpen: number[] = [];
  const firstOpenFrom = (i: number): number => {
    let root = i;
    while (nextOpen[root] !== undefined && nextOpen[root] !== root) root = nextOpen[root]!;
    for (let j = i; j !== root; ) {
      const next = nextOpen[j]!;
      nextOpen[j] = root;
      j = next;
    }
    return root;
  };
  for (const row of rows) {
    const keys = [`i:${row.identity.impi}`, `s:${row.setId}`, ...row.publics.map((p) => `u:${p.impu}`)];
    const after = Math.max(-1, ...keys.map((k) => lastBatchOf.get(k) ?? -1));
    const index = firstOpenFrom(after + 1);
    const batch = (out[index] ??= []);
    batch.push(row);
    nextOpen[index] = batch.length === size ? index + 1 : index;
    for (const k of keys) lastBatchOf.set(k, index);
  }
  return out;
}

interface BatchResult {
  created: number;
  skipped: number;
  updated: number;
  failed: ImportFailure[];
}

/** Columns of private identities as arrays: IMPI, HA1s (JSON), K, OPc, AMF (NULL without AKA). */
function identityArrays(rows: readonly Row[]): [string[], string[], (Buffer | null)[], (Buffer | null)[], (Buffer | null)[]] {
  const ids = rows.map((r) => r.identity);
  return [
    ids.map((p) => p.impi),
    ids.map((p) => digestJson(p.digest)),
    ids.map((p) => p.aka?.k ?? null),
    ids.map((p) => p.aka?.opc ?? null),
    ids.map((p) => p.aka?.amf ?? null),
  ];
}

/** Creates the rows whose IMPI was new; returns the ones that clashed on a set or an IMPU. */
async function createFresh(q: Queryable, fresh: readonly Row[]): Promise<ImportFailure[]> {
  const sets = new Set((await q.query<{ id: string }>(INSERT_SETS, [fresh.map((r) => r.setId), fresh.map((r) => r.profile)])).rows.map((r) => r.id));
  const withSet = fresh.filter((r) => sets.has(r.setId));
  const publics = withSet.flatMap((r) => r.publics);
  const impus = new Set(
    (await q.query<{ impu: string }>(INSERT_IMPUS, [publics.map((p) => p.impu), publics.map((p) => p.implicitSetId), publics.map((p) => p.barred)])).rows.map(
      (r) => r.impu,
    ),
  );
  const failed: ImportFailure[] = [];
  const clashed = new Set<Row>();
  for (const row of fresh) {
    const taken = sets.has(row.setId) ? row.publics.find((p) => !impus.has(p.impu)) : undefined;
    if (sets.has(row.setId) && taken === undefined) continue;
    clashed.add(row);
    const reason = taken === undefined ? `implicit set ${row.setId} already exists` : `public identity ${taken.impu} already exists`;
    failed.push({ index: row.index, impi: row.identity.impi, reason });
  }
  if (clashed.size > 0) {
    const undo = [...clashed];
    await q.query(DELETE_IMPUS, [undo.flatMap((r) => r.publics.map((p) => p.impu)).filter((impu) => impus.has(impu))]);
    await q.query(DELETE_SETS, [undo.map((r) => r.setId).filter((id) => sets.has(id))]);
    await q.query(DELETE_IMPIS, [undo.map((r) => r.identity.impi)]);
  }
  const created = fresh.filter((r) => !clashed.has(r));
  const links = created.flatMap((r) => r.publics.map((p) => [r.identity.impi, p.impu] as const));
  await q.query(INSERT_LINKS, [links.map((l) => l[0]), links.map((l) => l[1])]);
  return failed;
}

async function importBatch(q: Queryable, batch: readonly Row[], update: boolean): Promise<BatchResult> {
  const sqns = batch.map((r) => r.identity.aka?.sqn ?? null);
  const inserted = await q.query<{ impi: string }>(INSERT_IMPIS, [...identityArrays(batch), sqns]);
  const freshImpis = new Set(inserted.rows.map((r) => r.impi));
  const fresh = batch.filter((r) => freshImpis.has(r.identity.impi));
  const existing = batch.filter((r) => !freshImpis.has(r.identity.impi));
  const failed = fresh.length > 0 ? await createFresh(q, fresh) : [];
  if (update && existing.length > 0) await q.query(UPDATE_CREDENTIALS, identityArrays(existing));
  return {
    created: fresh.length - failed.length,
    skipped: update ? 0 : existing.length,
    updated: update ? existing.length : 0,
    failed,
  };
}

/** Imports `subscribers` into the database of `db` (see the module comment). */
export async function importSubscribers(
  db: PostgresDatabase,
  subscribers: readonly NewSubscriber[],
  options: ImportOptions = {},
): Promise<ImportReport> {
  const size = options.batchSize ?? 1000;
  if (!Number.isSafeInteger(size) || size < 1) throw new StorageError('TW_ERR_STORAGE_INVALID', `batchSize must be a positive integer, got ${size}`);
  const update = options.onExisting === 'update';
  const failed: ImportFailure[] = [];
  const valid: Row[] = [];
  subscribers.forEach((s, index) => {
    const row = checkRow(s, index);
    if ('reason' in row) failed.push(row);
    else valid.push(row);
  });
  const report = { created: 0, skipped: 0, updated: 0 };
  let done = failed.length;
  for (const batch of batches(valid, size)) {
    // Sorted by IMPI, so two importers of overlapping files take row locks in the same order.
    batch.sort((a, b) => (a.identity.impi < b.identity.impi ? -1 : a.identity.impi > b.identity.impi ? 1 : 0));
    const result = await db.transaction('importSubscribers', (q) => importBatch(q, batch, update));
    report.created += result.created;
    report.skipped += result.skipped;
    report.updated += result.updated;
    failed.push(...result.failed);
    done += batch.length;
    options.onProgress?.(done);
  }
  failed.sort((a, b) => a.index - b.index);
  return { ...report, failed };
}
