/**
 * What the core asks of the HSS (3GPP TS 29.228 Cx), as an interface: the all-in-one answers
 * in-process from the subscriber store ({@link LocalHss}); the HSS HTTP API (issue 4) and a
 * Diameter Cx client are other implementations.
 */
import type { Uri } from '../sip/index.js';
import type { AuthVectorLookup, ImplicitSet, RegistrationState } from '../storage/index.js';
import type { HomeDomain } from './identity.js';

/** User-Authorization-Answer (TS 29.228 §6.1.1): may `impi` register `impu`, and at which S-CSCF. */
export type UserAuthorization =
  | { readonly ok: true; /** The S-CSCF already assigned, if any (else the I-CSCF picks one). */ readonly scscf?: string }
  | { readonly ok: false; readonly reason: 'unknown-user' | 'identities-dont-match' | 'barred' };

/** Location-Info-Answer (TS 29.228 §6.1.4): who serves `impu`. */
export interface LocationInfo {
  readonly state: RegistrationState;
  readonly scscf?: string;
  /** The first identity of the implicit set: the key the registrar keeps the set's bindings under. */
  readonly defaultImpu: string;
  /** Barred identities may receive but not originate (TS 29.228 Annex B.2.1). */
  readonly barred: boolean;
}

/** Server-Assignment-Type values the core uses (TS 29.229 §6.3.15). */
export type ServerAssignmentType = 'REGISTRATION' | 'RE_REGISTRATION' | 'USER_DEREGISTRATION' | 'TIMEOUT_DEREGISTRATION';

/** Server-Assignment-Answer: the implicit set now registered or de-registered. */
export interface ServerAssignment {
  readonly implicitSet: ImplicitSet;
}

export interface Hss {
  /** UAR (TS 29.228 §6.1.1). */
  userAuthorization(impi: string, impu: string): Promise<UserAuthorization>;
  /** MAR (TS 29.228 §6.3): the credentials to challenge `impi` with. */
  authVector(impi: string, impu: string): Promise<AuthVectorLookup>;
  /** SAR (TS 29.228 §6.1.2): records the registration state of `impu`'s implicit set. */
  serverAssignment(impu: string, type: ServerAssignmentType, scscf: string): Promise<ServerAssignment | undefined>;
  /** LIR (TS 29.228 §6.1.4); undefined for an identity the HSS does not know. */
  locationInfo(impu: string): Promise<LocationInfo | undefined>;
  /** The implicit registration set `impu` belongs to (the IMS subscription SAR downloads). */
  implicitSetOf(impu: string): Promise<ImplicitSet | undefined>;
}

/**
 * Who serves the identity a Request-URI names: LIR for each IMPU the URI may be (its AoR, then
 * for a number the home domain's forms, {@link HomeDomain.candidates}), the first one known.
 */
export async function locate(
  hss: Pick<Hss, 'locationInfo'>,
  home: HomeDomain,
  uri: Uri,
): Promise<(LocationInfo & { readonly impu: string }) | undefined> {
  for (const impu of home.candidates(uri)) {
    const where = await hss.locationInfo(impu);
    // Written out rather than spread: a spread of an object with an optional field is a slow
    // property definition on every call (this runs for every terminating request).
    if (where) return { state: where.state, scscf: where.scscf, defaultImpu: where.defaultImpu, barred: where.barred, impu };
  }
  return undefined;
}
