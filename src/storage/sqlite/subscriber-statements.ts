/**
 * The prepared statements of {@link SqliteSubscriberStore} (prepared once per store, every
 * value bound), with the row shapes they read and the mappers to contract values.
 */
import type Database from 'better-sqlite3';
import type {
  DigestHa1,
  Ha1Algorithm,
  ImpuRegistration,
  PrivateIdentity,
  PublicIdentity,
  RegistrationState,
} from '../subscriber-store.js';

export interface ImpiRow {
  impi: string;
  aka_k: Buffer | null;
  aka_opc: Buffer | null;
  aka_amf: Buffer | null;
  aka_sqn: number | null;
}

export interface DigestRow {
  realm: string;
  algorithm: Ha1Algorithm;
  ha1: string;
}

export interface SetRow {
  id: string;
  service_profile: string;
  state: RegistrationState;
  scscf: string | null;
  version: number;
}

/** A row of {@link prepareSubscriberStatements}' `selectAuth`: the IMPI, whether the IMPU exists and is linked, one digest. */
export interface AuthRow extends ImpiRow {
  has_impu: number;
  linked: number;
  realm: string | null;
  algorithm: Ha1Algorithm | null;
  ha1: string | null;
}

/** The registration columns of an implicit set (no service profile). */
export type SetStateRow = Omit<SetRow, 'service_profile'>;

/** A member of an implicit set with the set's service profile. */
export interface SetMemberRow extends ImpuRow {
  service_profile: string;
}

/** A row of `selectRegistrationCheck`: the set's state, the IMPU's bar and what the UAR asks (0/1). */
export interface RegistrationCheckRow extends SetStateRow {
  barred: number;
  linked: number;
  has_impi: number;
  set_has_unbarred: number;
}

/** A member of an implicit set with the set's columns, registration state included: `selectSetStateOf`, for the set with or without its state. */
export interface SetStateMemberRow extends SetMemberRow {
  state: RegistrationState;
  scscf: string | null;
  version: number;
}

export interface ImpuRow {
  impu: string;
  set_id: string;
  barred: number;
  member_seq: number;
}

type Blob = Buffer | null;

/** The part of a prepared statement the store uses (nameable in declaration files). */
export interface Statement<P extends unknown[], R = unknown> {
  run(...params: P): { changes: number };
  get(...params: P): R | undefined;
  all(...params: P): R[];
}

function prepare<P extends unknown[], R = unknown>(db: Database.Database, sql: string): Statement<P, R> {
  return db.prepare<P, R>(sql);
}

/** A statement returning its first column's value instead of a row object. */
function pluck<P extends unknown[], R>(db: Database.Database, sql: string): Statement<P, R> {
  return db.prepare<P, R>(sql).pluck();
}

/** Prepares every statement of the subscriber store on `db`. */
export function prepareSubscriberStatements(db: Database.Database) {
  return {
    nextCounter: pluck<[string], number>(db, 'UPDATE counters SET value = value + 1 WHERE name = ? RETURNING value'),

    insertImpi: prepare<[string, Blob, Blob, Blob, number | null]>(
      db,
      'INSERT INTO private_identities (impi, aka_k, aka_opc, aka_amf, aka_sqn) VALUES (?, ?, ?, ?, ?)',
    ),
    selectImpi: prepare<[string], ImpiRow>(db, 'SELECT * FROM private_identities WHERE impi = ?'),
    setAkaKeys: prepare<[Buffer, Buffer, Buffer, string]>(
      db,
      'UPDATE private_identities SET aka_k = ?, aka_opc = ?, aka_amf = ?, aka_sqn = COALESCE(aka_sqn, 0) WHERE impi = ?',
    ),
    clearAka: prepare<[string]>(
      db,
      'UPDATE private_identities SET aka_k = NULL, aka_opc = NULL, aka_amf = NULL, aka_sqn = NULL WHERE impi = ?',
    ),
    /** Params: step, impi, highest SQN that may still be advanced by step. */
    advanceSqn: pluck<[number, string, number], number>(
      db,
      'UPDATE private_identities SET aka_sqn = aka_sqn + ? WHERE impi = ? AND aka_sqn <= ? RETURNING aka_sqn',
    ),
    setSqn: prepare<[number, string]>(
      db,
      'UPDATE private_identities SET aka_sqn = ? WHERE impi = ? AND aka_sqn IS NOT NULL',
    ),
    deleteImpi: prepare<[string]>(db, 'DELETE FROM private_identities WHERE impi = ?'),
    pageImpis: prepare<[string, number], ImpiRow>(
      db,
      'SELECT * FROM private_identities WHERE impi > ? ORDER BY impi LIMIT ?',
    ),

    insertDigest: prepare<[string, string, string, string]>(
      db,
      'INSERT INTO digest_credentials (impi, realm, algorithm, ha1) VALUES (?, ?, ?, ?)',
    ),
    selectDigests: prepare<[string], DigestRow>(
      db,
      'SELECT realm, algorithm, ha1 FROM digest_credentials WHERE impi = ? ORDER BY realm, algorithm',
    ),
    deleteDigests: prepare<[string]>(db, 'DELETE FROM digest_credentials WHERE impi = ?'),

    insertSet: prepare<[string, string, number]>(
      db,
      "INSERT INTO implicit_sets (id, service_profile, state, scscf, version) VALUES (?, ?, 'NOT_REGISTERED', NULL, ?)",
    ),
    selectSet: prepare<[string], SetRow>(db, 'SELECT * FROM implicit_sets WHERE id = ?'),
    updateProfile: prepare<[string, string]>(db, 'UPDATE implicit_sets SET service_profile = ? WHERE id = ?'),
    deleteSet: prepare<[string]>(db, 'DELETE FROM implicit_sets WHERE id = ?'),
    countMembers: pluck<[string], number>(db, 'SELECT COUNT(*) FROM public_identities WHERE set_id = ?'),
    selectMembers: prepare<[string], ImpuRow>(
      db,
      'SELECT * FROM public_identities WHERE set_id = ? ORDER BY member_seq',
    ),
    /** Params: state, scscf, new version, set id, expected version. */
    updateState: prepare<[string, string | null, number, string, number]>(
      db,
      'UPDATE implicit_sets SET state = ?, scscf = ?, version = ? WHERE id = ? AND version = ?',
    ),
    // What a registration reads, each in one statement (a consistent snapshot of its own, so no
    // transaction around it) and without columns it does not use.
    selectStateOf: prepare<[string], SetStateRow>(
      db,
      'SELECT s.id, s.state, s.scscf, s.version FROM public_identities p JOIN implicit_sets s ON s.id = p.set_id WHERE p.impu = ?',
    ),
    /** $1 impi, $2 impi, $3 impu. */
    selectRegistrationCheck: prepare<[string, string, string], RegistrationCheckRow>(
      db,
      `SELECT s.id, s.state, s.scscf, s.version, p.barred,
         EXISTS (SELECT 1 FROM associations a WHERE a.impi = ? AND a.impu = p.impu) AS linked,
         EXISTS (SELECT 1 FROM private_identities i WHERE i.impi = ?) AS has_impi,
         EXISTS (SELECT 1 FROM public_identities m WHERE m.set_id = s.id AND m.barred = 0) AS set_has_unbarred
       FROM public_identities p JOIN implicit_sets s ON s.id = p.set_id WHERE p.impu = ?`,
    ),
    selectSetStateOf: prepare<[string], SetStateMemberRow>(
      db,
      `SELECT m.impu, m.set_id, m.barred, m.member_seq, s.service_profile, s.state, s.scscf, s.version
       FROM public_identities p JOIN implicit_sets s ON s.id = p.set_id JOIN public_identities m ON m.set_id = s.id
       WHERE p.impu = ? ORDER BY m.member_seq`,
    ),
    selectAuth: prepare<[string, string, string], AuthRow>(
      db,
      `SELECT i.impi, i.aka_k, i.aka_opc, i.aka_amf, i.aka_sqn,
         EXISTS (SELECT 1 FROM public_identities WHERE impu = ?) AS has_impu,
         EXISTS (SELECT 1 FROM associations a WHERE a.impi = i.impi AND a.impu = ?) AS linked,
         d.realm, d.algorithm, d.ha1
       FROM private_identities i LEFT JOIN digest_credentials d ON d.impi = i.impi
       WHERE i.impi = ? ORDER BY d.realm, d.algorithm`,
    ),

    insertImpu: prepare<[string, string, number, number]>(
      db,
      'INSERT INTO public_identities (impu, set_id, barred, member_seq) VALUES (?, ?, ?, ?)',
    ),
    selectImpu: prepare<[string], ImpuRow>(db, 'SELECT * FROM public_identities WHERE impu = ?'),
    updateImpu: prepare<[string, number, number, string]>(
      db,
      'UPDATE public_identities SET set_id = ?, barred = ?, member_seq = ? WHERE impu = ?',
    ),
    deleteImpu: prepare<[string]>(db, 'DELETE FROM public_identities WHERE impu = ?'),
    pageImpus: prepare<[string, number], ImpuRow>(
      db,
      'SELECT * FROM public_identities WHERE impu > ? ORDER BY impu LIMIT ?',
    ),

    insertLink: prepare<[string, string]>(db, 'INSERT OR IGNORE INTO associations (impi, impu) VALUES (?, ?)'),
    deleteLink: prepare<[string, string]>(db, 'DELETE FROM associations WHERE impi = ? AND impu = ?'),
    selectLink: pluck<[string, string], number>(db, 'SELECT 1 FROM associations WHERE impi = ? AND impu = ?'),
    impusOf: pluck<[string], string>(db, 'SELECT impu FROM associations WHERE impi = ? ORDER BY impu'),
    impisOf: pluck<[string], string>(db, 'SELECT impi FROM associations WHERE impu = ? ORDER BY impi'),
  };
}

export type SubscriberStatements = ReturnType<typeof prepareSubscriberStatements>;

export function toPrivateIdentity(row: ImpiRow, digest: DigestRow[]): PrivateIdentity {
  const ha1s: DigestHa1[] = digest.map((d) => ({ realm: d.realm, algorithm: d.algorithm, ha1: d.ha1 }));
  if (row.aka_k === null || row.aka_opc === null || row.aka_amf === null || row.aka_sqn === null) {
    return { impi: row.impi, digest: ha1s };
  }
  return { impi: row.impi, digest: ha1s, aka: { k: row.aka_k, opc: row.aka_opc, amf: row.aka_amf, sqn: row.aka_sqn } };
}

export function toPublicIdentity(row: ImpuRow): PublicIdentity {
  return { impu: row.impu, implicitSetId: row.set_id, barred: row.barred !== 0 };
}

export function toRegistration(row: SetStateRow): ImpuRegistration {
  const base = { implicitSetId: row.id, version: row.version, state: row.state };
  return row.scscf === null ? base : { ...base, scscf: row.scscf };
}
