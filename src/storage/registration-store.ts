/**
 * The registrar's bindings (RFC 3261 §10.3): per address-of-record, the contacts registered
 * for it, each with its expiry, Path (RFC 3327) and outbound flow (RFC 5626).
 *
 * In IMS the address-of-record is a public user identity (IMPU) of the S-CSCF's implicit
 * registration set (3GPP TS 24.229 §5.4.1.2). The store treats the AoR as an opaque key: the
 * caller canonicalises it (RFC 3261 §10.3 step 5) before any call.
 */
import type { CasResult, Page, PageRequest } from './common.js';

/** Where the REGISTER came from, as the edge saw it (RFC 3581 received/rport). */
export interface ReceivedFrom {
  readonly address: string;
  readonly port: number;
  /** Transport token: UDP, TCP, TLS, WS or WSS. */
  readonly transport: string;
}

/**
 * One binding of an AoR to a contact (RFC 3261 §10.3). Times are milliseconds since the Unix
 * epoch (wall clock), so they keep their meaning across restarts and between nodes.
 */
export interface Binding {
  /** The Contact URI, as registered (RFC 3261 §10.2.1). */
  readonly contact: string;
  /** The Path header URIs of the REGISTER, first to last (RFC 3327 §5.3); empty without Path. */
  readonly path: readonly string[];
  /** When the binding expires: it is expired once `now >= expiresAt` (RFC 3261 §10.3 step 7). */
  readonly expiresAt: number;
  /** The Contact's q-value, 0 to 1 (RFC 3261 §20.10); absent when the client gave none. */
  readonly q?: number;
  /** Call-ID of the REGISTER that made or refreshed the binding (RFC 3261 §10.3 step 7). */
  readonly callId: string;
  /** CSeq number of that REGISTER; a refresh with the same Call-ID must have a higher one. */
  readonly cseq: number;
  /** The `+sip.instance` Contact parameter (RFC 5626 §4.1, RFC 5627 §4.1), e.g. `<urn:uuid:...>`. */
  readonly instanceId?: string;
  /** The `reg-id` Contact parameter (RFC 5626 §4.2), 1 to 2^31-1. */
  readonly regId?: number;
  /**
   * The edge's flow the REGISTER arrived on (RFC 5626 §5.2). When that flow fails (a
   * WebSocket closes) the registrar removes the bindings found by `bindingsOfFlow`.
   */
  readonly flowId?: string;
  /** The User-Agent header of the REGISTER, for troubleshooting. */
  readonly userAgent?: string;
  /** Source address of the REGISTER (RFC 3581). */
  readonly receivedFrom?: ReceivedFrom;
  /** When the binding was first created (not refreshed), ms since the Unix epoch. */
  readonly registeredAt: number;
}

/** What a writer stores for an AoR. */
export interface RegistrationData {
  /**
   * The AoR's bindings, in the order the registrar keeps them. An empty list removes the
   * record (RFC 3261 §10.3 step 8: an AoR with no bindings is not registered).
   */
  readonly bindings: readonly Binding[];
}

/** A stored record: the AoR's bindings and the version a writer passes back to change them. */
export interface RegistrationRecord extends RegistrationData {
  readonly aor: string;
  /** Positive; never repeats for an AoR (see common.ts). */
  readonly version: number;
}

/** One binding together with its AoR and the AoR record's version, for a follow-up CAS write. */
export interface BindingRef {
  readonly aor: string;
  readonly binding: Binding;
  readonly version: number;
}

/** Sizes for metrics. */
export interface RegistrationCounts {
  /** AoRs with at least one binding, expired or not. */
  readonly aors: number;
  /** Bindings stored, including expired ones not yet removed. */
  readonly bindings: number;
}

/**
 * Bindings per AoR with compare-and-set writes and an expiry index.
 *
 * Rules every adapter keeps (checked by test/storage/registration-store.contract.ts):
 * - Values in and out are copies: mutating what `get` returned, or what was passed to `put`,
 *   never changes the store. Nothing depends on object identity, so a shared store (Redis)
 *   behaves as the in-process one.
 * - Writes are compare-and-set on the record's version (RFC 3261 §10.3 has the registrar
 *   process REGISTERs for one AoR atomically; with several core nodes, CAS is how).
 * - The store never reads a clock: expiry queries take `now` from the caller, and `get`
 *   returns expired bindings too until a writer removes them (the registrar filters by its now).
 */
export interface RegistrationStore {
  /** The record of `aor`, or undefined when it has no bindings. */
  get(aor: string): Promise<RegistrationRecord | undefined>;

  /**
   * Replaces the bindings of `aor` if its version is still `expectedVersion` (0: the writer saw
   * no record). Returns the new version, or a conflict and nothing written. Storing an empty
   * binding list removes the record (the result's version is then 0).
   * Rejects with TW_ERR_STORAGE_INVALID for a malformed binding.
   */
  put(aor: string, data: RegistrationData, expectedVersion: number): Promise<CasResult>;

  /** Removes the record of `aor` if its version is still `expectedVersion`. */
  delete(aor: string, expectedVersion: number): Promise<CasResult>;

  /**
   * Up to `limit` bindings whose expiry has passed (`expiresAt <= now`), earliest first (the
   * order among equal expiries is unspecified). A timer sweeper uses it to expire bindings
   * without any client traffic (RFC 3261 §10.3: an expired binding is removed) and removes
   * them with a CAS write using the returned version.
   */
  expiredBefore(now: number, limit: number): Promise<BindingRef[]>;

  /**
   * Like {@link expiredBefore}, but hands each due binding to one caller only, for sweepers on
   * several core nodes sharing the store: a binding returned here is not returned again by any
   * `claimExpired` with a `now` earlier than this `now + leaseMs`, from any node (a shared
   * adapter's instances on the same data share the claims; a single-process adapter keeps them
   * in its one instance). The claimer removes it with a CAS write within the lease; if it
   * did not (it died, or its write failed), the binding is offered again once the lease is over.
   * A claim follows the record, not the old data: a write of the AoR (a refresh, a removal, any
   * CAS write) ends the claims on its bindings, so a refreshed binding is due at its new expiry
   * and a removed one is gone. Up to `limit` bindings, earliest first as far as the adapter
   * knows (one offered again after a lease may rank by its lease end). CAS still guards the
   * write: a claim only keeps other sweepers from trying the same binding.
   *
   * An adapter may keep a claimed binding in its expiry index at the lease end (Redis does), so
   * until then `expiredBefore` may leave it out and `nextExpiryAt` may report the lease end:
   * that is when a sweeper can next claim it. `leaseMs` is a positive integer.
   */
  claimExpired(now: number, leaseMs: number, limit: number): Promise<BindingRef[]>;

  /** The earliest `expiresAt` of any stored binding, so a sweeper can sleep until then. */
  nextExpiryAt(): Promise<number | undefined>;

  /**
   * Every binding registered over the edge flow `flowId`, so the registrar can remove them when
   * the flow fails (RFC 5626 §5.3; for WebSocket, RFC 7118 §5 closes the flow with the socket).
   */
  bindingsOfFlow(flowId: string): Promise<BindingRef[]>;

  /** All records, a page at a time, in an adapter-chosen stable order (CLI, cache warm-up). */
  list(page: PageRequest): Promise<Page<RegistrationRecord>>;

  /** How many AoRs and bindings are stored. */
  count(): Promise<RegistrationCounts>;
}
