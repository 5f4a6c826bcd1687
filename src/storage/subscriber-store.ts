/**
 * Subscriber data as an HSS keeps it (3GPP TS 23.228 §4.3.3, TS 29.228): private user
 * identities (IMPI) with their credentials, public user identities (IMPU) grouped in implicit
 * registration sets, each set with a service profile, the IMPI-IMPU associations, and per set
 * the registration state and the assigned S-CSCF.
 *
 * Credentials are stored as Digest HA1 values only (RFC 7616 §3.4.2, RFC 3261 §22.4): the
 * password itself never reaches the store, and a value that is not an HA1 (hex of the
 * algorithm's hash size) is refused. IMS-AKA keys (TS 33.102 §6.3) are stored as given.
 *
 * Provisioning writes (create, update, delete) are last-writer-wins on a whole row; the writes
 * that race during signalling are compare-and-set (registration state) or atomic (AKA SQN).
 */
import type { CasResult, Page, PageRequest } from './common.js';

/** Hashes an HA1 can be computed with (RFC 7616 §3.3, RFC 8760 §2). `-sess` variants use the same HA1. */
export type Ha1Algorithm = 'MD5' | 'SHA-256' | 'SHA-512-256';

/** HA1 = H(username ":" realm ":" password) for one realm and algorithm (RFC 7616 §3.4.2). */
export interface DigestHa1 {
  readonly realm: string;
  readonly algorithm: Ha1Algorithm;
  /** Lowercase hex: 32 digits for MD5, 64 for SHA-256 and SHA-512-256. */
  readonly ha1: string;
}

/** A subscriber's MILENAGE keys (TS 35.206 §2, TS 33.102 §6.3.2). */
export interface AkaKeys {
  /** Subscriber key K, 16 bytes. */
  readonly k: Buffer;
  /** OPc, 16 bytes (the operator variant key already combined with K). */
  readonly opc: Buffer;
  /** Authentication management field, 2 bytes. */
  readonly amf: Buffer;
}

/** AKA keys plus the HSS's sequence number SQN_HE, 48 bits (TS 33.102 §6.3.2, Annex C). */
export interface AkaCredentials extends AkaKeys {
  readonly sqn: number;
}

/** A private user identity (IMPI, TS 23.003 §13.3) and its credentials. */
export interface PrivateIdentity {
  /** The IMPI in NAI form, e.g. `6505550001@example.com`; the Digest username. */
  readonly impi: string;
  /** At most one HA1 per (realm, algorithm); returned sorted by realm, then algorithm. */
  readonly digest: readonly DigestHa1[];
  readonly aka?: AkaCredentials;
}

/**
 * A change to a private identity's credentials; absent fields are kept. `aka: null` removes
 * the AKA keys; new keys keep the stored SQN (a fresh identity starts at 0).
 */
export interface PrivateIdentityUpdate {
  readonly digest?: readonly DigestHa1[];
  readonly aka?: AkaKeys | null;
}

/** An implicit registration set as provisioned (TS 23.228 §5.2.1a). */
export interface ImplicitSetData {
  /** Provisioning key of the set, chosen by the provisioner. */
  readonly id: string;
  /**
   * The service profile of the set's identities (TS 29.228 Annex B: public identities and
   * initial Filter Criteria), kept as opaque XML text here; the core parses it.
   */
  readonly serviceProfile: string;
}

/** A public user identity (IMPU, TS 23.003 §13.4): a `sip:`, `sips:` or `tel:` URI. */
export interface PublicIdentity {
  readonly impu: string;
  /** The implicit registration set it belongs to. */
  readonly implicitSetId: string;
  /** Barred identities are registered with the set but may not originate (TS 29.228 BarringIndication). */
  readonly barred: boolean;
}

/** An implicit registration set with its members, in the order they were added. */
export interface ImplicitSet extends ImplicitSetData {
  readonly members: PublicIdentity[];
}

/**
 * Registration state of a public identity in the HSS (TS 29.228 §6.1.2): REGISTERED, or
 * UNREGISTERED (an S-CSCF serves terminating requests for it without a registration), or
 * NOT_REGISTERED.
 */
export type RegistrationState = 'NOT_REGISTERED' | 'REGISTERED' | 'UNREGISTERED';

/** A registration state and the S-CSCF assigned (required unless NOT_REGISTERED). */
export interface ScscfAssignment {
  readonly state: RegistrationState;
  /** SIP URI of the serving S-CSCF (TS 29.228 §6.1.2 Server-Name). */
  readonly scscf?: string;
}

/**
 * The registration state of an IMPU. It is kept per implicit set: every identity of the set is
 * registered and de-registered together (TS 23.228 §5.2.1a, TS 29.228 §6.1.2), so all members
 * report the same state, S-CSCF and version.
 */
export interface ImpuRegistration extends ScscfAssignment {
  readonly implicitSetId: string;
  readonly version: number;
}

/**
 * What a user authorization (TS 29.228 §6.1.1, UAR) needs to know of `impi` registering `impu`,
 * read at once: the answer to every REGISTER at the I-CSCF.
 */
export interface RegistrationCheck {
  /** The state of the IMPU's implicit set. */
  readonly registration: ImpuRegistration;
  readonly barred: boolean;
  /** Some identity of the implicit set is not barred (a barred IMPU registers only with one). */
  readonly setHasUnbarred: boolean;
  /** `impi` may register `impu` (they are associated). */
  readonly linked: boolean;
  /** `impi` exists (read when it is not linked, to tell unknown-user from identities-dont-match). */
  readonly privateIdentityKnown: boolean;
}

/** An IMPU's implicit set and its registration state, read at once (SAR and LIR). */
export interface ImplicitSetState {
  readonly implicitSet: ImplicitSet;
  readonly registration: ImpuRegistration;
}

/** One subscriber provisioned in one step: an IMPI, a new implicit set, its IMPUs, all associated. */
export interface NewSubscriber {
  readonly privateIdentity: PrivateIdentity;
  readonly implicitSet: ImplicitSetData;
  /** At least one; the first is the set's default identity (listed first in P-Associated-URI). */
  readonly publicIdentities: readonly { readonly impu: string; readonly barred?: boolean }[];
}

/**
 * Why no credentials can be returned (TS 29.228 §6.3, Multimedia-Auth-Answer):
 * unknown identities map to DIAMETER_ERROR_USER_UNKNOWN (5001), identities that exist but are
 * not associated to DIAMETER_ERROR_IDENTITIES_DONT_MATCH (5002).
 */
export type AuthVectorFailure = 'unknown-private-identity' | 'unknown-public-identity' | 'identities-dont-match';

/** The credentials an S-CSCF builds its challenge from, or why there are none. */
export type AuthVectorLookup =
  | { readonly ok: true; readonly impi: string; readonly digest: DigestHa1[]; readonly aka?: AkaCredentials }
  | { readonly ok: false; readonly reason: AuthVectorFailure };

/**
 * The HSS's subscriber data. Values in and out are copies, as for every store.
 * Rejections: TW_ERR_STORAGE_EXISTS when creating an existing key, TW_ERR_STORAGE_NOT_FOUND when
 * a referenced identity or set is missing, TW_ERR_STORAGE_INVALID for malformed values.
 */
export interface SubscriberStore {
  /** Creates the IMPI, the implicit set and its IMPUs and associates them, all or nothing. */
  addSubscriber(subscriber: NewSubscriber): Promise<void>;

  createPrivateIdentity(identity: PrivateIdentity): Promise<void>;
  getPrivateIdentity(impi: string): Promise<PrivateIdentity | undefined>;
  updatePrivateIdentity(impi: string, update: PrivateIdentityUpdate): Promise<void>;
  /** Removes the IMPI and its associations; false when it did not exist. */
  deletePrivateIdentity(impi: string): Promise<boolean>;
  /** Private identities in IMPI order. */
  listPrivateIdentities(page: PageRequest): Promise<Page<PrivateIdentity>>;

  /** Creates a set in state NOT_REGISTERED with no S-CSCF. */
  createImplicitSet(set: ImplicitSetData): Promise<void>;
  getImplicitSet(id: string): Promise<ImplicitSet | undefined>;
  updateServiceProfile(id: string, serviceProfile: string): Promise<void>;
  /** Removes an empty set (TW_ERR_STORAGE_IN_USE while it has members); false when absent. */
  deleteImplicitSet(id: string): Promise<boolean>;

  /** Adds an IMPU to an existing set. */
  createPublicIdentity(identity: PublicIdentity): Promise<void>;
  getPublicIdentity(impu: string): Promise<PublicIdentity | undefined>;
  /** Changes an IMPU's set or barring. */
  updatePublicIdentity(identity: PublicIdentity): Promise<void>;
  /** Removes the IMPU and its associations; false when it did not exist. */
  deletePublicIdentity(impu: string): Promise<boolean>;
  /** Public identities in IMPU order. */
  listPublicIdentities(page: PageRequest): Promise<Page<PublicIdentity>>;

  /** Lets `impi` register `impu` (TS 23.228 §4.3.3.3: many-to-many). Idempotent. */
  associate(impi: string, impu: string): Promise<void>;
  /** Undoes {@link associate}; false when they were not associated. */
  dissociate(impi: string, impu: string): Promise<boolean>;
  /** IMPUs `impi` may register, sorted; empty for an unknown IMPI. */
  publicIdentitiesOf(impi: string): Promise<string[]>;
  /** IMPIs that may register `impu`, sorted; empty for an unknown IMPU. */
  privateIdentitiesOf(impu: string): Promise<string[]>;
  /** The implicit set `impu` belongs to, with all its members (P-Associated-URI, RFC 7315 §4.1). */
  implicitSetOf(impu: string): Promise<ImplicitSet | undefined>;

  /** Credentials for authenticating `impi` registering `impu` (TS 29.228 §6.3, MAR). */
  authVector(impi: string, impu: string): Promise<AuthVectorLookup>;
  /**
   * Atomically adds `step` (default 1; 32 for TS 33.102 Annex C.3.2's 5-bit IND) to SQN_HE and
   * returns the new value for a fresh vector, so no two vectors share an SQN even across nodes.
   * TW_ERR_STORAGE_NOT_FOUND when the IMPI has no AKA keys; TW_ERR_STORAGE_INVALID past 2^48-1.
   */
  nextAkaSqn(impi: string, step?: number): Promise<number>;
  /** Sets SQN_HE after a resynchronisation (TS 33.102 §6.3.5: SQN_HE := SQN_MS). */
  setAkaSqn(impi: string, sqn: number): Promise<void>;

  /** The state of `impu`'s implicit set; undefined for an unknown IMPU. */
  getRegistrationState(impu: string): Promise<ImpuRegistration | undefined>;
  /**
   * {@link getPublicIdentity}, {@link privateIdentitiesOf}, {@link getRegistrationState} and
   * whether the set can register, for a UAR, in one read; undefined for an unknown IMPU.
   */
  registrationCheck(impi: string, impu: string): Promise<RegistrationCheck | undefined>;
  /** {@link implicitSetOf} and {@link getRegistrationState} in one read; undefined for an unknown IMPU. */
  implicitSetStateOf(impu: string): Promise<ImplicitSetState | undefined>;
  /**
   * Sets the state and S-CSCF of `impu`'s whole implicit set (TS 29.228 §6.1.2, SAR) if its
   * version is still `expectedVersion`. TW_ERR_STORAGE_NOT_FOUND for an unknown IMPU.
   */
  setRegistrationState(impu: string, assignment: ScscfAssignment, expectedVersion: number): Promise<CasResult>;
}
