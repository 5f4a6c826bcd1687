/**
 * The SQLite schema as an ordered list of migrations. A migration, once released, is never
 * edited: a schema change is a new entry at the end. {@link migrate} in database.ts applies the
 * missing ones in order, each in its own transaction, and records it in `schema_version`.
 */

/** One schema step. `version` is its position in {@link MIGRATIONS}, counting from 1. */
export interface Migration {
  readonly version: number;
  readonly name: string;
  readonly sql: string;
}

/**
 * Versions of records come from `counters` rows bumped in the writing transaction, so a
 * version is never handed out twice, even after the record was deleted (see common.ts).
 */
const REGISTRATIONS = `
CREATE TABLE counters (
  name  TEXT PRIMARY KEY,
  value INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO counters (name, value) VALUES ('registration_version', 0);

CREATE TABLE registrations (
  aor     TEXT PRIMARY KEY,
  version INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE bindings (
  aor            TEXT NOT NULL,
  position       INTEGER NOT NULL,
  contact        TEXT NOT NULL,
  path           TEXT NOT NULL,          -- Path URIs joined by LF (a URI holds no LF)
  expires_at     INTEGER NOT NULL,
  q              REAL,
  call_id        TEXT NOT NULL,
  cseq           INTEGER NOT NULL,
  instance_id    TEXT,
  reg_id         INTEGER,
  flow_id        TEXT,
  user_agent     TEXT,
  recv_address   TEXT,
  recv_port      INTEGER,
  recv_transport TEXT,
  registered_at  INTEGER NOT NULL,
  PRIMARY KEY (aor, position)
) WITHOUT ROWID;
CREATE INDEX bindings_by_expiry ON bindings (expires_at);
CREATE INDEX bindings_by_flow ON bindings (flow_id) WHERE flow_id IS NOT NULL;
`;

const SUBSCRIBERS = `
INSERT INTO counters (name, value) VALUES ('subscriber_version', 0), ('member_seq', 0);

CREATE TABLE private_identities (
  impi    TEXT PRIMARY KEY,
  aka_k   BLOB,
  aka_opc BLOB,
  aka_amf BLOB,
  aka_sqn INTEGER,
  CHECK ((aka_k IS NULL) = (aka_opc IS NULL) AND (aka_k IS NULL) = (aka_amf IS NULL)
     AND (aka_k IS NULL) = (aka_sqn IS NULL))
) WITHOUT ROWID;

-- HA1 only (RFC 7616 §3.4.2): there is no column a password could go in.
CREATE TABLE digest_credentials (
  impi      TEXT NOT NULL REFERENCES private_identities (impi) ON DELETE CASCADE,
  realm     TEXT NOT NULL,
  algorithm TEXT NOT NULL CHECK (algorithm IN ('MD5', 'SHA-256', 'SHA-512-256')),
  ha1       TEXT NOT NULL,
  PRIMARY KEY (impi, realm, algorithm)
) WITHOUT ROWID;

CREATE TABLE implicit_sets (
  id              TEXT PRIMARY KEY,
  service_profile TEXT NOT NULL,
  state           TEXT NOT NULL CHECK (state IN ('NOT_REGISTERED', 'REGISTERED', 'UNREGISTERED')),
  scscf           TEXT,
  version         INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE public_identities (
  impu       TEXT PRIMARY KEY,
  set_id     TEXT NOT NULL REFERENCES implicit_sets (id),
  barred     INTEGER NOT NULL,
  member_seq INTEGER NOT NULL            -- order of joining the set
) WITHOUT ROWID;
CREATE INDEX public_identities_by_set ON public_identities (set_id, member_seq);

CREATE TABLE associations (
  impi TEXT NOT NULL REFERENCES private_identities (impi) ON DELETE CASCADE,
  impu TEXT NOT NULL REFERENCES public_identities (impu) ON DELETE CASCADE,
  PRIMARY KEY (impi, impu)
) WITHOUT ROWID;
CREATE INDEX associations_by_impu ON associations (impu, impi);
`;

const NONCE_COUNTS = `
CREATE TABLE nonce_counts (
  nonce      TEXT PRIMARY KEY,
  nc         INTEGER NOT NULL,
  expires_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX nonce_counts_by_expiry ON nonce_counts (expires_at);
`;

/** XCAP documents (RFC 4825): one row per application usage, user and document name. */
const DOCUMENTS = `
CREATE TABLE documents (
  auid    TEXT NOT NULL,
  xui     TEXT NOT NULL,
  name    TEXT NOT NULL,
  content TEXT NOT NULL,
  etag    TEXT NOT NULL,
  PRIMARY KEY (auid, xui, name)
) WITHOUT ROWID;
CREATE INDEX documents_by_user ON documents (xui, auid, name);
`;

/**
 * The self-service portal (issue 4): accounts with a scrypt hash (never a password), the
 * numbers they own (`value` is the number as an integer, for finding the next free one of a
 * pool), and login sessions. Numbers and sessions go with their account.
 */
const PORTAL = `
CREATE TABLE portal_accounts (
  email         TEXT PRIMARY KEY,
  full_name     TEXT NOT NULL,
  password_hash TEXT NOT NULL CHECK (password_hash LIKE 'scrypt$%'),
  created_at    INTEGER NOT NULL,
  is_admin      INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE portal_numbers (
  impu          TEXT PRIMARY KEY,
  number        TEXT NOT NULL UNIQUE,
  value         INTEGER NOT NULL,
  private_id    TEXT NOT NULL,
  account_email TEXT NOT NULL REFERENCES portal_accounts (email) ON DELETE CASCADE,
  pstn          INTEGER NOT NULL,
  created_at    INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX portal_numbers_by_value ON portal_numbers (value);
CREATE INDEX portal_numbers_by_account ON portal_numbers (account_email, number);

CREATE TABLE portal_sessions (
  id         TEXT PRIMARY KEY,
  email      TEXT NOT NULL REFERENCES portal_accounts (email) ON DELETE CASCADE,
  expires_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX portal_sessions_by_account ON portal_sessions (email);
CREATE INDEX portal_sessions_by_expiry ON portal_sessions (expires_at);
`;

/**
 * Reg-event subscriptions (RFC 3680, TS 24.229 §5.4.2.1; issue 7): one row each. The dialog
 * state is read and written whole on every NOTIFY, so it is one JSON text; the watched AoR and
 * the expiry are columns of their own for the two lookups that are not by key.
 */
const SUBSCRIPTIONS = `
INSERT INTO counters (name, value) VALUES ('subscription_version', 0);

CREATE TABLE reg_event_subscriptions (
  key        TEXT PRIMARY KEY,           -- Call-ID LF local tag LF event id (subscription-records.ts)
  aor        TEXT NOT NULL,
  version    INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  dialog     TEXT NOT NULL               -- SubscriptionData as JSON
) WITHOUT ROWID;
CREATE INDEX reg_event_subscriptions_by_aor ON reg_event_subscriptions (aor);
CREATE INDEX reg_event_subscriptions_by_expiry ON reg_event_subscriptions (expires_at);
`;

/** Every migration, in order. */
export const MIGRATIONS: readonly Migration[] = Object.freeze([
  { version: 1, name: 'registrations and bindings', sql: REGISTRATIONS },
  { version: 2, name: 'subscribers (HSS data)', sql: SUBSCRIBERS },
  { version: 3, name: 'digest nonce counts', sql: NONCE_COUNTS },
  { version: 4, name: 'XCAP documents', sql: DOCUMENTS },
  { version: 5, name: 'portal accounts, numbers and sessions', sql: PORTAL },
  { version: 6, name: 'reg-event subscriptions', sql: SUBSCRIPTIONS },
]);
