/**
 * {@link RegistrationStore} on SQLite: one row per AoR (its version) and one per binding, with
 * indexes on expiry and flow. Statements are prepared once; every value is a bound parameter.
 * A write reads the version, compares, bumps the version counter and replaces the bindings,
 * inside the database's group commit (group-commit.ts): atomic, and settled only once
 * committed. It persists across restarts; the all-in-one reads through CachedRegistrationStore
 * in front of it.
 *
 * The claims of `claimExpired` are kept in memory by the store (LocalLeases), not in the file:
 * the database is one process's data folder, swept by that process only, and a claim is
 * worthless after a restart anyway (the sweeper that held it is gone).
 */
import type Database from 'better-sqlite3';
import { checkExpectedVersion, pageLimit, resultLimit, type CasResult, type Page, type PageRequest } from '../common.js';
import { checkAor, checkData, checkFlowId, checkNow, leaseEnd } from '../registration-records.js';
import type {
  Binding,
  BindingRef,
  RegistrationCounts,
  RegistrationData,
  RegistrationRecord,
  RegistrationStore,
} from '../registration-store.js';
import { LocalLeases } from '../memory/leases.js';
import { guard, type SqliteDatabase } from './database.js';
import type { GroupCommit } from './group-commit.js';

interface BindingRow {
  aor: string;
  position: number;
  contact: string;
  path: string;
  expires_at: number;
  q: number | null;
  call_id: string;
  cseq: number;
  instance_id: string | null;
  reg_id: number | null;
  flow_id: string | null;
  user_agent: string | null;
  recv_address: string | null;
  recv_port: number | null;
  recv_transport: string | null;
  registered_at: number;
}

type RefRow = BindingRow & { version: number };
type BindingParams = [string, number, string, string, number, number | null, string, number, string | null,
  number | null, string | null, string | null, string | null, number | null, string | null, number];

const PATH_SEPARATOR = '\n';
const NO_BINDINGS: readonly Binding[] = Object.freeze([]);

function toBinding(row: BindingRow): Binding {
  const b: { -readonly [K in keyof Binding]: Binding[K] } = {
    contact: row.contact,
    path: row.path === '' ? [] : row.path.split(PATH_SEPARATOR),
    expiresAt: row.expires_at,
    callId: row.call_id,
    cseq: row.cseq,
    registeredAt: row.registered_at,
  };
  if (row.q !== null) b.q = row.q;
  if (row.instance_id !== null) b.instanceId = row.instance_id;
  if (row.reg_id !== null) b.regId = row.reg_id;
  if (row.flow_id !== null) b.flowId = row.flow_id;
  if (row.user_agent !== null) b.userAgent = row.user_agent;
  if (row.recv_address !== null && row.recv_port !== null && row.recv_transport !== null) {
    b.receivedFrom = { address: row.recv_address, port: row.recv_port, transport: row.recv_transport };
  }
  return b;
}

function toParams(aor: string, position: number, b: Binding): BindingParams {
  const r = b.receivedFrom;
  return [aor, position, b.contact, b.path.join(PATH_SEPARATOR), b.expiresAt, b.q ?? null, b.callId, b.cseq,
    b.instanceId ?? null, b.regId ?? null, b.flowId ?? null, b.userAgent ?? null,
    r?.address ?? null, r?.port ?? null, r?.transport ?? null, b.registeredAt];
}

function toRef(row: RefRow): BindingRef {
  return { aor: row.aor, binding: toBinding(row), version: row.version };
}

export class SqliteRegistrationStore implements RegistrationStore {
  private readonly selectVersion: Database.Statement<[string], number>;
  private readonly selectBindings: Database.Statement<[string], BindingRow>;
  private readonly nextVersion: Database.Statement<[], number>;
  private readonly insertRecord: Database.Statement<[string, number]>;
  private readonly updateRecord: Database.Statement<[number, string]>;
  private readonly deleteRecord: Database.Statement<[string]>;
  private readonly deleteBindings: Database.Statement<[string]>;
  private readonly insertBinding: Database.Statement<BindingParams>;
  private readonly selectExpired: Database.Statement<[number, number], RefRow>;
  private readonly selectNextExpiry: Database.Statement<[], number | null>;
  private readonly selectFlow: Database.Statement<[string], RefRow>;
  private readonly selectPage: Database.Statement<[string, number], { aor: string; version: number }>;
  private readonly selectPageBindings: Database.Statement<[string, string], BindingRow>;
  private readonly selectCounts: Database.Statement<[], RegistrationCounts>;
  private readonly read: (aor: string) => RegistrationRecord | undefined;
  private readonly writes: GroupCommit;
  private readonly readPage: (after: string, limit: number) => Page<RegistrationRecord>;
  /** The claims of `claimExpired`, by `<aor> LF <position>`. */
  private readonly leases = new LocalLeases();

  constructor(database: SqliteDatabase) {
    const db = database.connection;
    this.selectVersion = db.prepare<[string], number>('SELECT version FROM registrations WHERE aor = ?').pluck();
    this.selectBindings = db.prepare('SELECT * FROM bindings WHERE aor = ? ORDER BY position');
    this.nextVersion = db
      .prepare<[], number>("UPDATE counters SET value = value + 1 WHERE name = 'registration_version' RETURNING value")
      .pluck();
    this.insertRecord = db.prepare('INSERT INTO registrations (aor, version) VALUES (?, ?)');
    this.updateRecord = db.prepare('UPDATE registrations SET version = ? WHERE aor = ?');
    this.deleteRecord = db.prepare('DELETE FROM registrations WHERE aor = ?');
    this.deleteBindings = db.prepare('DELETE FROM bindings WHERE aor = ?');
    this.insertBinding = db.prepare(
      `INSERT INTO bindings (aor, position, contact, path, expires_at, q, call_id, cseq, instance_id, reg_id,
         flow_id, user_agent, recv_address, recv_port, recv_transport, registered_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    this.selectExpired = db.prepare(
      `SELECT b.*, r.version FROM bindings b JOIN registrations r ON r.aor = b.aor
       WHERE b.expires_at <= ? ORDER BY b.expires_at LIMIT ?`,
    );
    this.selectNextExpiry = db.prepare<[], number | null>('SELECT MIN(expires_at) FROM bindings').pluck();
    this.selectFlow = db.prepare(
      `SELECT b.*, r.version FROM bindings b JOIN registrations r ON r.aor = b.aor
       WHERE b.flow_id = ? ORDER BY b.aor, b.position`,
    );
    this.selectPage = db.prepare('SELECT aor, version FROM registrations WHERE aor > ? ORDER BY aor LIMIT ?');
    this.selectPageBindings = db.prepare('SELECT * FROM bindings WHERE aor >= ? AND aor <= ? ORDER BY aor, position');
    this.selectCounts = db.prepare(
      'SELECT (SELECT COUNT(*) FROM registrations) AS aors, (SELECT COUNT(*) FROM bindings) AS bindings',
    );
    this.read = db.transaction((aor: string) => this.readRecord(aor)).deferred;
    this.writes = database.writes;
    this.readPage = db.transaction((after: string, limit: number) => this.pageAfter(after, limit)).deferred;
  }

  async get(aor: string): Promise<RegistrationRecord | undefined> {
    checkAor(aor);
    return guard('get', () => this.read(aor));
  }

  async put(aor: string, data: RegistrationData, expectedVersion: number): Promise<CasResult> {
    checkAor(aor);
    checkExpectedVersion(expectedVersion);
    const bindings = checkData(data);
    return this.writes.submit('put', () => this.compareAndSet(aor, bindings, expectedVersion));
  }

  async delete(aor: string, expectedVersion: number): Promise<CasResult> {
    checkAor(aor);
    checkExpectedVersion(expectedVersion);
    return this.writes.submit('delete', () => this.compareAndSet(aor, NO_BINDINGS, expectedVersion));
  }

  async expiredBefore(now: number, limit: number): Promise<BindingRef[]> {
    checkNow(now);
    resultLimit(limit);
    return guard('expiredBefore', () => this.selectExpired.all(now, limit).map(toRef));
  }

  async claimExpired(now: number, leaseMs: number, limit: number): Promise<BindingRef[]> {
    const until = leaseEnd(checkNow(now), leaseMs);
    resultLimit(limit);
    return guard('claimExpired', () =>
      this.leases
        .claimDue((count) => this.selectExpired.all(now, count), limit, now, until, (row) => `${row.aor}\n${row.position}`, (row) => row.version)
        .map(toRef),
    );
  }

  async nextExpiryAt(): Promise<number | undefined> {
    return guard('nextExpiryAt', () => this.selectNextExpiry.get() ?? undefined);
  }

  async bindingsOfFlow(flowId: string): Promise<BindingRef[]> {
    checkFlowId(flowId);
    return guard('bindingsOfFlow', () => this.selectFlow.all(flowId).map(toRef));
  }

  async list(page: PageRequest): Promise<Page<RegistrationRecord>> {
    const limit = pageLimit(page);
    return guard('list', () => this.readPage(page.after ?? '', limit));
  }

  async count(): Promise<RegistrationCounts> {
    return guard('count', () => this.selectCounts.get()!);
  }

  private readRecord(aor: string): RegistrationRecord | undefined {
    const version = this.selectVersion.get(aor);
    if (version === undefined) return undefined;
    return { aor, version, bindings: this.selectBindings.all(aor).map(toBinding) };
  }

  private compareAndSet(aor: string, bindings: readonly Binding[], expected: number): CasResult {
    const current = this.selectVersion.get(aor) ?? 0;
    if (current !== expected) return { ok: false, currentVersion: current };
    if (current !== 0) this.deleteBindings.run(aor);
    if (bindings.length === 0) {
      if (current !== 0) this.deleteRecord.run(aor);
      return { ok: true, version: 0 };
    }
    const version = this.nextVersion.get()!;
    if (current === 0) this.insertRecord.run(aor, version);
    else this.updateRecord.run(version, aor);
    for (let i = 0; i < bindings.length; i++) this.insertBinding.run(...toParams(aor, i, bindings[i]!));
    return { ok: true, version };
  }

  private pageAfter(after: string, limit: number): Page<RegistrationRecord> {
    const rows = this.selectPage.all(after, limit + 1);
    const records = rows.slice(0, limit);
    if (records.length === 0) return { items: [] };
    const byAor = new Map<string, Binding[]>();
    for (const row of this.selectPageBindings.all(records[0]!.aor, records[records.length - 1]!.aor)) {
      let list = byAor.get(row.aor);
      if (!list) byAor.set(row.aor, (list = []));
      list.push(toBinding(row));
    }
    const items = records.map(({ aor, version }) => ({ aor, version, bindings: byAor.get(aor) ?? [] }));
    return rows.length > limit ? { items, next: records[limit - 1]!.aor } : { items };
  }
}
