/**
 * The statements of {@link PostgresSubscriberStore} (named, so each connection prepares them
 * once; every value bound), with the row shapes they read and the mappers to contract values.
 * Reads that need several tables are one statement (one snapshot, one round trip): the members
 * of a set are aggregated as JSON.
 */
import type {
  DigestHa1,
  ImplicitSet,
  ImpuRegistration,
  PrivateIdentity,
  PublicIdentity,
  RegistrationState,
} from '../subscriber-store.js';
import { sql } from './database.js';

export interface ImpiRow {
  impi: string;
  aka_k: Buffer | null;
  aka_opc: Buffer | null;
  aka_amf: Buffer | null;
  aka_sqn: number | null;
  digest: DigestHa1[];
}

export interface SetRow {
  id: string;
  service_profile: string;
  members: { impu: string; barred: boolean }[];
}

export interface StateRow {
  id: string;
  state: RegistrationState;
  scscf: string | null;
  version: number;
}

/** A row of `registrationCheck`: the set's state, the IMPU's bar and what the UAR asks. */
export interface RegistrationCheckRow extends StateRow {
  barred: boolean;
  linked: boolean;
  has_impi: boolean;
  set_has_unbarred: boolean;
}

/** An implicit set with its members and registration state (`selectSetStateOf`, for the set with or without its state). */
export interface SetStateRow extends SetRow, StateRow {}

export interface ImpuRow {
  impu: string;
  set_id: string;
  barred: boolean;
}

export interface AuthRow extends Omit<ImpiRow, 'impi'> {
  impi: string | null;
  impu_known: boolean;
  linked: boolean;
}

const IMPI_COLUMNS = 'p.impi, p.digest, p.aka_k, p.aka_opc, p.aka_amf, p.aka_sqn';
const MEMBERS = `COALESCE((SELECT json_agg(json_build_object('impu', m.impu, 'barred', m.barred) ORDER BY m.member_seq)
  FROM public_identities m WHERE m.set_id = s.id), '[]'::json) AS members`;

/** Every statement of the subscriber store. */
export const S = {
  selectImpi: sql('sub_select_impi', `SELECT ${IMPI_COLUMNS} FROM private_identities p WHERE p.impi = $1`),
  pageImpis: sql('sub_page_impis', `SELECT ${IMPI_COLUMNS} FROM private_identities p WHERE p.impi > $1 ORDER BY p.impi LIMIT $2`),
  /** $2: the HA1s as JSON (see {@link digestJson}). */
  insertImpi: sql(
    'sub_insert_impi',
    'INSERT INTO private_identities (impi, digest, aka_k, aka_opc, aka_amf, aka_sqn) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING',
  ),
  setDigest: sql('sub_set_digest', 'UPDATE private_identities SET digest = $2 WHERE impi = $1'),
  lockImpi: sql('sub_lock_impi', 'SELECT 1 FROM private_identities WHERE impi = $1 FOR UPDATE'),
  setAkaKeys: sql(
    'sub_set_aka_keys',
    'UPDATE private_identities SET aka_k = $2, aka_opc = $3, aka_amf = $4, aka_sqn = COALESCE(aka_sqn, 0) WHERE impi = $1',
  ),
  clearAka: sql(
    'sub_clear_aka',
    'UPDATE private_identities SET aka_k = NULL, aka_opc = NULL, aka_amf = NULL, aka_sqn = NULL WHERE impi = $1',
  ),
  /** $1 impi, $2 step, $3 highest SQN that may still be advanced by the step. */
  advanceSqn: sql(
    'sub_advance_sqn',
    'UPDATE private_identities SET aka_sqn = aka_sqn + $2 WHERE impi = $1 AND aka_sqn <= $3 RETURNING aka_sqn',
  ),
  /** Whether the IMPI exists and has AKA keys (after a failed SQN update). */
  akaOf: sql('sub_aka_of', 'SELECT aka_sqn IS NOT NULL AS has_aka FROM private_identities WHERE impi = $1'),
  setSqn: sql('sub_set_sqn', 'UPDATE private_identities SET aka_sqn = $2 WHERE impi = $1 AND aka_sqn IS NOT NULL'),
  deleteImpi: sql('sub_delete_impi', 'DELETE FROM private_identities WHERE impi = $1'),

  insertSet: sql('sub_insert_set', 'INSERT INTO implicit_sets (id, service_profile) VALUES ($1, $2) ON CONFLICT DO NOTHING'),
  selectSet: sql('sub_select_set', `SELECT s.id, s.service_profile, ${MEMBERS} FROM implicit_sets s WHERE s.id = $1`),
  updateProfile: sql('sub_update_profile', 'UPDATE implicit_sets SET service_profile = $2 WHERE id = $1'),
  deleteEmptySet: sql(
    'sub_delete_empty_set',
    'DELETE FROM implicit_sets WHERE id = $1 AND NOT EXISTS (SELECT 1 FROM public_identities WHERE set_id = $1)',
  ),
  countMembers: sql('sub_count_members', 'SELECT COUNT(*) AS members FROM public_identities WHERE set_id = $1'),

  selectStateOf: sql(
    'sub_select_state_of',
    'SELECT s.id, s.state, s.scscf, s.version FROM public_identities p JOIN implicit_sets s ON s.id = p.set_id WHERE p.impu = $1',
  ),
  /** $1 impi, $2 impu. */
  registrationCheck: sql(
    'sub_registration_check',
    `SELECT s.id, s.state, s.scscf, s.version, p.barred,
       EXISTS (SELECT 1 FROM associations a WHERE a.impi = $1 AND a.impu = p.impu) AS linked,
       EXISTS (SELECT 1 FROM private_identities i WHERE i.impi = $1) AS has_impi,
       EXISTS (SELECT 1 FROM public_identities m WHERE m.set_id = s.id AND NOT m.barred) AS set_has_unbarred
     FROM public_identities p JOIN implicit_sets s ON s.id = p.set_id WHERE p.impu = $2`,
  ),
  selectSetStateOf: sql(
    'sub_select_set_state_of',
    `SELECT s.id, s.service_profile, s.state, s.scscf, s.version, ${MEMBERS}
     FROM public_identities p JOIN implicit_sets s ON s.id = p.set_id WHERE p.impu = $1`,
  ),
  /** $1 impu, $2 state, $3 S-CSCF, $4 expected version: compare-and-set in one statement. */
  casState: sql(
    'sub_cas_state',
    `UPDATE implicit_sets s SET state = $2, scscf = $3, version = nextval('subscriber_version')
     FROM public_identities p WHERE p.impu = $1 AND s.id = p.set_id AND s.version = $4 RETURNING s.version`,
  ),

  insertImpu: sql('sub_insert_impu', 'INSERT INTO public_identities (impu, set_id, barred) VALUES ($1, $2, $3)'),
  /** $1 set id, $2 IMPUs, $3 barred flags: members joining in array order. */
  insertImpus: sql(
    'sub_insert_impus',
    `INSERT INTO public_identities (impu, set_id, barred)
     SELECT u.impu, $1::text, u.barred FROM unnest($2::text[], $3::boolean[]) WITH ORDINALITY AS u (impu, barred, ord) ORDER BY u.ord`,
  ),
  selectImpu: sql('sub_select_impu', 'SELECT impu, set_id, barred FROM public_identities WHERE impu = $1'),
  /** Joining another set puts the identity last in it, as for a new member. */
  updateImpu: sql(
    'sub_update_impu',
    `UPDATE public_identities SET set_id = $2, barred = $3,
       member_seq = CASE WHEN set_id = $2 THEN member_seq ELSE nextval('member_seq') END
     WHERE impu = $1`,
  ),
  deleteImpu: sql('sub_delete_impu', 'DELETE FROM public_identities WHERE impu = $1'),
  pageImpus: sql('sub_page_impus', 'SELECT impu, set_id, barred FROM public_identities WHERE impu > $1 ORDER BY impu LIMIT $2'),

  insertLink: sql('sub_insert_link', 'INSERT INTO associations (impi, impu) VALUES ($1, $2) ON CONFLICT DO NOTHING'),
  insertLinks: sql('sub_insert_links', 'INSERT INTO associations (impi, impu) SELECT $1::text, unnest($2::text[])'),
  deleteLink: sql('sub_delete_link', 'DELETE FROM associations WHERE impi = $1 AND impu = $2'),
  impusOf: sql('sub_impus_of', 'SELECT impu FROM associations WHERE impi = $1 ORDER BY impu'),
  impisOf: sql('sub_impis_of', 'SELECT impi FROM associations WHERE impu = $1 ORDER BY impi'),

  /** TS 29.228 §6.3 (MAR): the IMPI's credentials and why they may not be handed out, in one snapshot. */
  authVector: sql(
    'sub_auth_vector',
    `SELECT ${IMPI_COLUMNS},
       EXISTS (SELECT 1 FROM public_identities WHERE impu = $2) AS impu_known,
       EXISTS (SELECT 1 FROM associations WHERE impi = $1 AND impu = $2) AS linked
     FROM (SELECT $1::text COLLATE "C" AS impi) k LEFT JOIN private_identities p ON p.impi = k.impi`,
  ),
};

/** HA1 entries as stored in the `digest` column (checked and sorted by checkDigest). */
export function digestJson(digest: readonly DigestHa1[]): string {
  return JSON.stringify(digest.map((d) => ({ realm: d.realm, algorithm: d.algorithm, ha1: d.ha1 })));
}

export function toPrivateIdentity(row: ImpiRow): PrivateIdentity {
  const digest = row.digest.map((d): DigestHa1 => ({ realm: d.realm, algorithm: d.algorithm, ha1: d.ha1 }));
  if (row.aka_k === null || row.aka_opc === null || row.aka_amf === null || row.aka_sqn === null) {
    return { impi: row.impi, digest };
  }
  return { impi: row.impi, digest, aka: { k: row.aka_k, opc: row.aka_opc, amf: row.aka_amf, sqn: row.aka_sqn } };
}

export function toPublicIdentity(row: ImpuRow): PublicIdentity {
  return { impu: row.impu, implicitSetId: row.set_id, barred: row.barred };
}

export function toImplicitSet(row: SetRow): ImplicitSet {
  const members = row.members.map((m): PublicIdentity => ({ impu: m.impu, implicitSetId: row.id, barred: m.barred }));
  return { id: row.id, serviceProfile: row.service_profile, members };
}

export function toRegistration(row: StateRow): ImpuRegistration {
  const base = { implicitSetId: row.id, version: row.version, state: row.state };
  return row.scscf === null ? base : { ...base, scscf: row.scscf };
}
