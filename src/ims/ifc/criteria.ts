/**
 * Initial Filter Criteria in compiled form (3GPP TS 29.228 Annex B.2.2 and Annex F): what a
 * service profile's `InitialFilterCriteria` elements become once parsed, with every regular
 * expression compiled, so a request is matched against them without parsing or compiling
 * anything on the SIP path.
 */

/** TS 29.228 Annex B tDirectionOfRequest: the session case a request is served in. */
export const SessionCase = {
  ORIGINATING_REGISTERED: 0,
  TERMINATING_REGISTERED: 1,
  TERMINATING_UNREGISTERED: 2,
  ORIGINATING_UNREGISTERED: 3,
  /** Originating after a diversion by a terminating AS (TS 24.229 §5.4.3.3, orig-cdiv). */
  ORIGINATING_CDIV: 4,
} as const;
export type SessionCase = (typeof SessionCase)[keyof typeof SessionCase];

/** TS 29.228 Annex B tRegistrationType: which REGISTER an SPT on method REGISTER matches. */
export const RegistrationType = {
  INITIAL_REGISTRATION: 0,
  RE_REGISTRATION: 1,
  DE_REGISTRATION: 2,
} as const;
export type RegistrationType = (typeof RegistrationType)[keyof typeof RegistrationType];

/** TS 29.228 Annex B tDefaultHandling: 0 SESSION_CONTINUED, 1 SESSION_TERMINATED. */
export const DefaultHandling = { SESSION_CONTINUED: 0, SESSION_TERMINATED: 1 } as const;
export type DefaultHandling = (typeof DefaultHandling)[keyof typeof DefaultHandling];

/** TS 29.228 Annex B tApplicationServer. */
export interface ApplicationServer {
  /** The AS's SIP URI, as provisioned. */
  readonly serverName: string;
  /** What to do when the AS fails or does not answer (absent in the XML: SESSION_CONTINUED). */
  readonly defaultHandling: DefaultHandling;
  /** Opaque data for the AS, sent in the body of a third-party REGISTER (TS 24.229 §5.4.1.7). */
  readonly serviceInfo?: string;
  /** Include the UE's REGISTER in the third-party REGISTER (message/sip body). */
  readonly includeRegisterRequest: boolean;
  /** Include the 200 to the UE's REGISTER in the third-party REGISTER (message/sip body). */
  readonly includeRegisterResponse: boolean;
}

/** One Service Point Trigger (TS 29.228 Annex B tSePoTri) with its test compiled. */
export type ServicePointTrigger = { readonly negated: boolean } & (
  | {
      readonly kind: 'method';
      /** Upper-cased. */
      readonly method: string;
      /** Bit i set: RegistrationType i matches; 0: any REGISTER (TS 29.228 Annex B tSePoTriExtension). */
      readonly registrationTypes: number;
    }
  | { readonly kind: 'request-uri'; readonly pattern: RegExp }
  | {
      readonly kind: 'header';
      /** Canonical (lower-case, long form) header name. */
      readonly name: string;
      /** Absent: the SPT is about the header being present. */
      readonly content?: RegExp;
    }
  | { readonly kind: 'session-case'; readonly sessionCase: SessionCase }
  | {
      readonly kind: 'session-description';
      /** The SDP line type, e.g. `m`. */
      readonly line: string;
      /** Absent: the SPT is about such a line being present. */
      readonly content?: RegExp;
    }
);

/**
 * A TriggerPoint (TS 29.228 Annex B tTrigger, Annex F): groups of SPTs, each SPT in one or more
 * groups. CNF: every group has a true SPT. DNF: some group has only true SPTs.
 */
export interface TriggerPoint {
  readonly cnf: boolean;
  readonly groups: readonly (readonly ServicePointTrigger[])[];
}

/** TS 29.228 Annex B tProfilePartIndicator: the part of the profile an iFC belongs to. */
export type ProfilePart = 'registered' | 'unregistered';

/** One InitialFilterCriteria (TS 29.228 Annex B tInitialFilterCriteria). */
export interface FilterCriterion {
  readonly priority: number;
  /** Absent: the criterion matches every request (it is unconditional). */
  readonly trigger?: TriggerPoint;
  readonly applicationServer: ApplicationServer;
  /** Absent: the criterion applies whatever the served user's registration state. */
  readonly profilePart?: ProfilePart;
}

/** A service profile's criteria, highest priority (lowest Priority value) first. */
export interface FilterCriteria {
  readonly criteria: readonly FilterCriterion[];
  /** Criteria left out because they could not be used (bad regex, no ServerName...), and why. */
  readonly problems: readonly string[];
}
