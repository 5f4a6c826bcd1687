/**
 * The PostgreSQL schema as an ordered list of migrations (the shared data of a cluster: HSS
 * subscribers, XCAP documents, portal accounts; registrations live in Redis). A migration, once
 * released, is never edited: a schema change is a new entry at the end.
 *
 * Every key column is `COLLATE "C"` (byte order), so listings come out in the order the other
 * adapters use whatever the database's locale, and `>` on a key pages through an index.
 */

/** One schema step. `version` is its position in {@link POSTGRES_MIGRATIONS}, counting from 1. */
export interface PostgresMigration {
  readonly version: number;
  readonly name: string;
  readonly sql: string;
}

/**
 * HSS data (TS 29.228). Versions of the registration state come from a sequence, so a version
 * is never handed out twice, even after the set was deleted (common.ts: no ABA); members of a
 * set are ordered by a sequence value taken when they join it.
 */
const SUBSCRIBERS = `
CREATE SEQUENCE subscriber_version AS bigint;
CREATE SEQUENCE member_seq AS bigint;

-- digest: the HA1s, [{realm, algorithm, ha1}] sorted by realm then algorithm (RFC 7616
-- §3.4.2): there is no column a password could go in. Read and written as a whole with the
-- row, so a subscriber is one row here (bulk provisioning writes one row, not three).
CREATE TABLE private_identities (
  impi    text COLLATE "C" PRIMARY KEY,
  digest  jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(digest) = 'array'),
  aka_k   bytea CHECK (length(aka_k) = 16),
  aka_opc bytea CHECK (length(aka_opc) = 16),
  aka_amf bytea CHECK (length(aka_amf) = 2),
  aka_sqn bigint CHECK (aka_sqn BETWEEN 0 AND 281474976710655),
  CHECK ((aka_k IS NULL) = (aka_opc IS NULL) AND (aka_k IS NULL) = (aka_amf IS NULL)
     AND (aka_k IS NULL) = (aka_sqn IS NULL))
);

CREATE TABLE implicit_sets (
  id              text COLLATE "C" PRIMARY KEY,
  service_profile text NOT NULL,
  state           text NOT NULL DEFAULT 'NOT_REGISTERED'
                  CHECK (state IN ('NOT_REGISTERED', 'REGISTERED', 'UNREGISTERED')),
  scscf           text,
  version         bigint NOT NULL DEFAULT nextval('subscriber_version')
);

CREATE TABLE public_identities (
  impu       text COLLATE "C" PRIMARY KEY,
  set_id     text COLLATE "C" NOT NULL REFERENCES implicit_sets (id),
  barred     boolean NOT NULL,
  member_seq bigint NOT NULL DEFAULT nextval('member_seq')
);
CREATE INDEX public_identities_by_set ON public_identities (set_id, member_seq);

CREATE TABLE associations (
  impi text COLLATE "C" NOT NULL REFERENCES private_identities (impi) ON DELETE CASCADE,
  impu text COLLATE "C" NOT NULL REFERENCES public_identities (impu) ON DELETE CASCADE,
  PRIMARY KEY (impi, impu)
);
CREATE INDEX associations_by_impu ON associations (impu, impi);
`;

/** XCAP documents (RFC 4825): one row per application usage, user and document name. */
const DOCUMENTS = `
CREATE TABLE documents (
  auid    text COLLATE "C" NOT NULL,
  xui     text COLLATE "C" NOT NULL,
  name    text COLLATE "C" NOT NULL,
  content text NOT NULL,
  etag    text NOT NULL,
  PRIMARY KEY (auid, xui, name)
);
CREATE INDEX documents_by_user ON documents (xui, auid, name);
`;

/**
 * The self-service portal: accounts with a scrypt hash (never a password), the numbers they
 * own (`value` is the number as an integer, for finding the next free one of a pool), and
 * login sessions. Numbers and sessions go with their account. Times are ms since the epoch.
 */
const PORTAL = `
CREATE TABLE portal_accounts (
  email         text COLLATE "C" PRIMARY KEY,
  full_name     text NOT NULL,
  password_hash text NOT NULL CHECK (password_hash LIKE 'scrypt$%'),
  created_at    bigint NOT NULL,
  is_admin      boolean NOT NULL
);

CREATE TABLE portal_numbers (
  impu          text COLLATE "C" PRIMARY KEY,
  number        text COLLATE "C" NOT NULL UNIQUE,
  value         bigint NOT NULL,
  private_id    text NOT NULL,
  account_email text COLLATE "C" NOT NULL REFERENCES portal_accounts (email) ON DELETE CASCADE,
  pstn          boolean NOT NULL,
  created_at    bigint NOT NULL
);
CREATE INDEX portal_numbers_by_value ON portal_numbers (value);
CREATE INDEX portal_numbers_by_account ON portal_numbers (account_email, number);

CREATE TABLE portal_sessions (
  id         text COLLATE "C" PRIMARY KEY,
  email      text COLLATE "C" NOT NULL REFERENCES portal_accounts (email) ON DELETE CASCADE,
  expires_at bigint NOT NULL
);
CREATE INDEX portal_sessions_by_account ON portal_sessions (email);
CREATE INDEX portal_sessions_by_expiry ON portal_sessions (expires_at);
`;

/** Every migration, in order. */
export const POSTGRES_MIGRATIONS: readonly PostgresMigration[] = Object.freeze([
  { version: 1, name: 'subscribers (HSS data)', sql: SUBSCRIBERS },
  { version: 2, name: 'XCAP documents', sql: DOCUMENTS },
  { version: 3, name: 'portal accounts, numbers and sessions', sql: PORTAL },
]);
