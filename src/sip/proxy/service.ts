import type { SipRequest, SipResponse } from '../message/message.js';
import type { Uri } from '../message/uri.js';
import type { Flow } from '../transport/types.js';

/** One target of a forward: where the request goes (its new Request-URI) and optionally how. */
export interface ForwardTarget {
  /** The Request-URI of the forwarded copy; defaults to the request's current Request-URI. */
  uri?: Uri;
  /** Send over this existing flow (RFC 5626: reach a client over the connection it opened). */
  flowId?: string;
  /** Route values (URIs, top first) to put in front of the existing Route set, e.g. a stored Path. */
  routes?: string[];
  /** Extra headers for this branch only. */
  headers?: Array<[string, string]>;
}

export interface ForwardOptions {
  /** Parallel (all at once, the default) or sequential (next one after a failure) forking (§16.6). */
  mode?: 'parallel' | 'sequential';
  /** Record-Route this proxy so it stays in the dialog (§16.6 step 4); default from the core config. */
  recordRoute?: boolean;
  /** Per-branch no-answer limit in ms for INVITE (timer C, §16.6 step 11); default from the core. */
  timerC?: number;
  /**
   * User part of this proxy's Record-Route entries, e.g. an RFC 5626 §5.3 flow token, so the
   * dialog's later requests tell which flow they belong to. Must be a valid SIP URI user.
   */
  recordRouteUser?: string;
}

/**
 * What a service sees of an initial or in-dialog request. Every request handed to a service gets
 * exactly one outcome: `forward` (possibly to several targets), `respond` with a final response,
 * or `defer` (and then one of the two later). A second outcome throws.
 */
export interface RequestContext {
  /** The request as received by this service (after Route pre-processing, §16.4). Edits made
   *  before `forward` travel with it. */
  readonly request: SipRequest;
  /** The flow the request arrived on (undefined when it came from a service in this process). */
  readonly flow: Flow | undefined;
  /** The service host name that addressed this service (Route or Request-URI host). */
  readonly addressedAs: string;
  /** Route values this proxy removed because they addressed it (§16.4), top first. */
  readonly consumedRoutes: readonly Uri[];
  /** Forwards the request statefully to one or more targets (forking when several). */
  forward(targets?: ForwardTarget | ForwardTarget[], options?: ForwardOptions): void;
  /** Answers with a final (or provisional, for status < 200) response. */
  respond(status: number, reason?: string, headers?: Array<[string, string]>, body?: { type: string; data: Buffer | string }): void;
  /** Answers with a response the service built itself (it must be a response to `request`). */
  respondWith(response: SipResponse): void;
  /** Promises an outcome later (an HSS lookup, a timer); returns this context for convenience. */
  defer(): RequestContext;
  /** Sets a timer; `onTimer` of the service (or the callback) runs when it fires, unless cancelled. */
  setTimer(name: string, ms: number, cb?: () => void): void;
  cancelTimer(name: string): void;
  /** Cancels the pending branches (§16.10 behaviour towards the targets). */
  cancelBranches(reason?: string): void;
  /** True once an outcome was chosen. */
  readonly settled: boolean;
}

/** A response from one branch, seen by the service before the proxy picks the best (§16.7). */
export interface ResponseContext {
  readonly response: SipResponse;
  readonly request: SipRequest;
  /** Index of the branch (order of the targets given to `forward`). */
  readonly branch: number;
  /** Replaces the response the proxy will consider for this branch (e.g. to hide a 486). */
  replace(response: SipResponse): void;
  /** Starts new branches instead of treating this final response as the branch result (diversion). */
  forward(targets: ForwardTarget | ForwardTarget[], options?: ForwardOptions): void;
}

/**
 * The contract every IMS function implements on the proxy core (STYLE.md, after Clearwater's
 * sprout): a small per-transaction object with hooks. A service is addressed by a host name in the
 * Route or Request-URI, so one process hosts all functions or one.
 */
export interface ProxyService {
  /** Host names this service answers to (e.g. `scscf.example.com`). */
  readonly hosts: readonly string[];
  /** An out-of-dialog request (no To tag). */
  onInitialRequest(ctx: RequestContext): void | Promise<void>;
  /** A request inside a dialog (To tag present); default: forward along the Route set. */
  onInDialogRequest?(ctx: RequestContext): void | Promise<void>;
  /** Every response of a branch, before best-response selection. */
  onResponse?(ctx: ResponseContext): void;
  /** The request was CANCELled upstream (the core cancels the branches and answers 487). */
  onCancel?(ctx: RequestContext): void;
  /** A timer set with ctx.setTimer fired and had no callback. */
  onTimer?(ctx: RequestContext, name: string): void;
}
