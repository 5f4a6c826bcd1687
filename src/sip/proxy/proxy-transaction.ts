import { makeResponse, randomToken } from '../message/build.js';
import type { SipRequest, SipResponse } from '../message/message.js';
import { parseUri, type Uri } from '../message/uri.js';
import type { TimerHandle } from '../clock.js';
import type { ClientTransaction, ClientTransactionHandler, ServerTransaction } from '../transaction/types.js';
import type { ProxyCore } from './core.js';
import { LocalHop, RELEASED_REQUEST } from './local.js';
import type { ForwardOptions, ForwardTarget, ProxyService, ResponseContext } from './service.js';

interface Branch {
  index: number;
  target: ForwardTarget;
  request?: SipRequest;
  tx?: ClientTransaction;
  /** A provisional response came in, so a CANCEL may be sent (§9.1). */
  provisional: boolean;
  cancelWanted: boolean;
  cancelSent: boolean;
  final?: SipResponse;
  /** The final response was made here (no route, transport error), not received from downstream. */
  local?: boolean;
  /** The branch's response was replaced by new branches (a diversion): not a candidate. */
  superseded?: boolean;
  timerC?: TimerHandle;
}

/**
 * The response context of one proxied request (RFC 3261 §16.6-16.10): its branches, the best
 * final response so far, CANCEL propagation, and timer C.
 */
export class ProxyTransaction implements ClientTransactionHandler {
  private branches: Branch[] = [];
  private queue: ForwardTarget[] = [];
  private mode: 'parallel' | 'sequential' = 'parallel';
  private recordRoute: boolean;
  private timerC: number;
  private recordRouteUser: string | undefined;
  private readonly method: string;
  private finalSent = false;
  private released = false;
  private cancelled = false;

  /** Where responses go; dropped on release (see {@link maybeRelease}). */
  private server: ServerTransaction;

  constructor(
    private readonly core: ProxyCore,
    server: ServerTransaction,
    /** The request as the service handed it over (Route pre-processing done). */
    private req: SipRequest,
    private service: ProxyService | undefined,
    /** Loop-detection hash of the request as received (§16.6 step 8). */
    private readonly loopHash: string,
    options: ForwardOptions,
    /** Gives the To tag of responses this proxy makes itself (shared with the request context). */
    private tags: { readonly toTag: string },
  ) {
    this.server = server;
    this.method = req.method;
    this.recordRoute = options.recordRoute ?? core.recordRoute;
    this.timerC = options.timerC ?? core.timerC;
    this.recordRouteUser = options.recordRouteUser;
  }

  /** The request as the service handed it over; not available after {@link maybeRelease}. */
  get request(): SipRequest {
    return this.req;
  }

  get isInvite(): boolean {
    return this.method === 'INVITE';
  }

  /** Starts forwarding to the targets (all at once, or one after another). */
  start(targets: ForwardTarget[], options: ForwardOptions = {}): void {
    this.mode = options.mode ?? this.mode;
    if (options.recordRoute !== undefined) this.recordRoute = options.recordRoute;
    if (options.recordRouteUser !== undefined) this.recordRouteUser = options.recordRouteUser;
    if (targets.length === 0) return this.sendFinal(makeResponse(this.request, 480, undefined, this.tags.toTag));
    if (this.mode === 'sequential') {
      this.queue.push(...targets.slice(1));
      this.startBranch(targets[0]!);
    } else for (const t of targets) this.startBranch(t);
  }

  private startBranch(target: ForwardTarget): void {
    const branch: Branch = { index: this.branches.length, target, provisional: false, cancelWanted: false, cancelSent: false };
    this.branches.push(branch);
    let request: SipRequest;
    try {
      const inbound = LocalHop.isLocal(this.server.flow) ? undefined : this.server.flow.protocol;
      request = this.core.prepareForward(this.request, target, this.recordRoute, `${this.loopHash}.${PROCESS_TOKEN}${(++branchSerial).toString(36)}`, inbound, this.recordRouteUser);
    } catch (e) {
      this.core.reportError(e);
      return this.branchFinal(branch, makeResponse(this.request, 500, 'Cannot forward request'));
    }
    branch.request = request;
    this.core.send(request, target, this, (tx, sent) => {
      // The first attempt, or the next target after a failed one (RFC 3263 §4.3): a new
      // transaction with its own branch, which has had no provisional response yet.
      branch.tx = tx;
      branch.request = sent;
      branch.provisional = false;
      if (this.isInvite) this.armTimerC(branch);
    });
  }

  /** A failed attempt of a branch moves to the next target only while the branch is wanted. */
  mayFailover(tx: ClientTransaction): boolean {
    const branch = this.branchOf(tx);
    return branch !== undefined && !branch.cancelWanted && branch.final === undefined;
  }

  private armTimerC(branch: Branch): void {
    this.core.clock.clearTimeout(branch.timerC);
    branch.timerC = this.core.clock.setTimeout(() => {
      branch.timerC = undefined;
      if (branch.final) return;
      // §16.8: timer C fired; CANCEL a branch that has ringing, else treat it as timed out.
      if (branch.provisional) this.cancelBranch(branch);
      this.branchFinal(branch, makeResponse(this.request, 408, undefined, this.tags.toTag));
    }, this.timerC);
  }

  private branchOf(tx: ClientTransaction): Branch | undefined {
    for (const b of this.branches) if (b.tx === tx) return b;
    return undefined;
  }

  onResponse(response: SipResponse, tx: ClientTransaction): void {
    const branch = this.branchOf(tx);
    if (!branch) {
      // After release only 2xx retransmissions matter: RFC 6026 §8.4 has the proxy forward them,
      // statelessly by Via as for a 2xx that matches no transaction.
      if (this.released && response.status >= 200 && response.status < 300) this.core.relayResponse(response);
      return;
    }
    response.popVia();
    let res = response;
    if (this.service?.onResponse && response.status > 100) {
      const ctx = new BranchResponse(this, branch, response);
      this.service.onResponse(ctx);
      if (ctx.diverted) return this.maybeDone();
      res = ctx.result;
    }
    const status = res.status;
    if (status < 200) return this.provisional(branch, res);
    if (status < 300) return this.success(branch, res);
    this.branchFinal(branch, res);
  }

  /** @internal A service's {@link ResponseContext.forward}: new branches instead of this response. */
  divert(branch: Branch, response: SipResponse, targets: ForwardTarget | ForwardTarget[], options: ForwardOptions | undefined): void {
    if (response.status >= 200) {
      branch.final = response;
      branch.superseded = true;
      this.core.clock.clearTimeout(branch.timerC);
    }
    this.start(Array.isArray(targets) ? targets : [targets], options);
  }

  private provisional(branch: Branch, res: SipResponse): void {
    branch.provisional = true;
    if (this.isInvite) this.armTimerC(branch);
    if (branch.cancelWanted && !branch.cancelSent) this.cancelBranch(branch);
    if (res.status === 100 || this.finalSent) return;
    this.server.respond(res);
  }

  /** §16.7 step 5 and RFC 6026: every 2xx is forwarded at once, retransmissions included. */
  private success(branch: Branch, res: SipResponse): void {
    this.core.clock.clearTimeout(branch.timerC);
    const first = branch.final === undefined;
    branch.final = res;
    this.finalSent = true;
    this.server.respond(res);
    if (first) for (const b of this.branches) if (b !== branch && !b.final) this.cancelBranch(b);
    this.queue = [];
    this.maybeRelease();
  }

  private branchFinal(branch: Branch, res: SipResponse): void {
    this.core.clock.clearTimeout(branch.timerC);
    if (branch.final) return;
    branch.final = res;
    if (res.status >= 600) {
      this.queue = [];
      for (const b of this.branches) if (b !== branch && !b.final) this.cancelBranch(b);
    } else if (this.queue.length && !this.cancelled && !this.finalSent) {
      return this.startBranch(this.queue.shift()!);
    }
    this.maybeDone();
  }

  onTimeout(tx: ClientTransaction): void {
    const branch = this.branchOf(tx);
    if (branch) this.branchFinal(branch, makeResponse(this.request, 408, undefined, this.tags.toTag));
  }

  onTransportError(_error: Error, tx: ClientTransaction): void {
    const branch = this.branchOf(tx);
    if (branch) this.localFailure(branch, 503, 'Next hop unreachable');
  }

  private localFailure(branch: Branch, status: number, reason: string): void {
    branch.local = true;
    this.branchFinal(branch, makeResponse(this.request, status, reason, this.tags.toTag));
  }

  /** A branch could not be started (no route, resolution failed). */
  failBranchStart(tx: ClientTransaction | undefined, status: number, reason: string): void {
    const branch = tx ? this.branchOf(tx) : this.branches[this.branches.length - 1];
    if (branch) this.localFailure(branch, status, reason);
  }

  /** Upstream CANCEL (§16.10): cancel every branch and answer the INVITE with 487. */
  cancel(): void {
    if (this.cancelled) return;
    this.cancelled = true;
    this.queue = [];
    for (const b of this.branches) if (!b.final) this.cancelBranch(b);
    if (!this.finalSent) this.sendFinal(makeResponse(this.request, 487, undefined, this.tags.toTag));
  }

  cancelPending(): void {
    this.queue = [];
    for (const b of this.branches) if (!b.final) this.cancelBranch(b);
  }

  private cancelBranch(branch: Branch): void {
    branch.cancelWanted = true;
    if (!this.isInvite || branch.cancelSent || !branch.request || !branch.tx) return;
    if (!branch.provisional) return; // sent when the first provisional response arrives (§9.1)
    branch.cancelSent = true;
    this.core.sendCancel(branch.request, branch.tx);
  }

  private maybeDone(): void {
    if (this.finalSent) return this.maybeRelease();
    if (this.queue.length) return;
    if (this.branches.some((b) => !b.final)) return;
    this.sendFinal(this.best());
  }

  /** §16.7 step 6: a 6xx wins; otherwise the lowest class; a received 503 becomes 500; nothing at all is 408. */
  private best(): SipResponse {
    let best: Branch | undefined;
    for (const b of this.branches) {
      const r = b.final;
      if (!r || b.superseded) continue;
      if (r.status >= 600) return r;
      if (!best || Math.floor(r.status / 100) < Math.floor(best.final!.status / 100)) best = b;
    }
    if (!best) return makeResponse(this.request, 408, undefined, this.tags.toTag);
    // A 503 from downstream says that element is overloaded, not this one: it becomes 500.
    if (best.final!.status === 503 && !best.local) return makeResponse(this.request, 500, 'Next hop unavailable', this.tags.toTag);
    return best.final!;
  }

  private sendFinal(res: SipResponse): void {
    if (this.finalSent) return;
    this.finalSent = true;
    this.server.respond(res);
    this.maybeRelease();
  }

  /**
   * Once the final response is out and every branch has ended, the branches' requests and
   * responses are dropped: the transactions live on for their RFC 6026 timers (32 s over UDP),
   * and holding a whole call's messages that long is what made the heap, and GC, grow. The
   * server transaction goes too: a 2xx retransmission is then relayed by its Via. Kept, it
   * would keep for those 32 s the chain of every hop between services of this process that
   * the request crossed (each hop's server side is the handler of the hop before it).
   */
  private maybeRelease(): void {
    if (this.released || !this.finalSent || this.queue.length) return;
    for (const b of this.branches) if (!b.final) return;
    this.released = true;
    // What the client transactions still get (RFC 6026: 2xx retransmissions, for 32 s over
    // UDP) goes to the core's relay from now on, so that nothing of this object stays with them.
    for (const b of this.branches) b.tx?.handOver(this.core.afterRelease);
    this.branches = [];
    this.req = RELEASED_REQUEST;
    // Whatever may still reach this object (a failover attempt's wrapper, a response queued
    // before the hand-over) finds no request context, request or service held here.
    this.tags = RELEASED_TAGS;
    this.service = undefined;
    this.core.untrack(this.server);
    this.server = RELEASED_SERVER;
  }
}

/**
 * Makes each branch unique (RFC 3261 §8.1.1.7): a random token per process, so a restarted node
 * does not reuse the branches of its previous life, then a counter. The loop hash before it
 * carries the request.
 */
export const PROCESS_TOKEN = randomToken(6);
let branchSerial = 0;

/** Stands in for the server transaction of a released proxy transaction (nothing is sent through it). */
const RELEASED_SERVER: ServerTransaction = {
  id: 'released',
  request: RELEASED_REQUEST,
  flow: { id: 'released', protocol: 'UDP', local: { address: 'released.invalid', port: 0 }, remote: { address: 'released.invalid', port: 0 } },
  isInvite: false,
  state: 'terminated',
  respond() {},
  onTerminated() {},
  offTerminated() {},
};
/** Stands in for the request context of a released proxy transaction (it makes no more responses). */
const RELEASED_TAGS = { toTag: 'released' };

/** Parses a Route value given as a URI string or a `<uri>` name-addr. */
export function routeUri(value: string): Uri {
  const v = value.trim();
  return parseUri(v.startsWith('<') ? v.slice(1, v.indexOf('>')) : v);
}

/**
 * What a service sees of one response of a branch: a class, not an object literal with two
 * closures over the transaction, since one is made for every response at every hop.
 */
class BranchResponse implements ResponseContext {
  /** The response the proxy goes on with: the one received unless the service replaced it. */
  result: SipResponse;
  /** The service started new branches instead (forward). */
  diverted = false;
  readonly request: SipRequest;

  constructor(
    private readonly tx: ProxyTransaction,
    private readonly from: Branch,
    readonly response: SipResponse,
  ) {
    this.result = response;
    this.request = tx.request;
  }

  get branch(): number {
    return this.from.index;
  }

  replace(response: SipResponse): void {
    this.result = response;
  }

  forward(targets: ForwardTarget | ForwardTarget[], options?: ForwardOptions): void {
    this.diverted = true;
    this.tx.divert(this.from, this.response, targets, options);
  }
}
