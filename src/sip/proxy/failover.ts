import { makeRequest, newBranch } from '../message/build.js';
import type { SipRequest, SipResponse } from '../message/message.js';
import type { Via } from '../message/via.js';
import type { Clock, TimerHandle } from '../clock.js';
import type { ClientTransaction, ClientTransactionHandler, TransactionLayer } from '../transaction/types.js';
import type { Flow, SendTarget, TransportProtocol } from '../transport/types.js';
import type { TargetHealth } from './health.js';

/** What `ProxyCore.send` reports to: the request's client transactions, and two more questions. */
export interface NextHopHandler extends ClientTransactionHandler {
  /** The request could not be sent at all (no route, no target); `tx` is undefined when none was started. */
  failBranchStart(tx: ClientTransaction | undefined, status: number, reason: string): void;
  /**
   * Whether an attempt that failed in `tx` may go on to the next target. False once the request
   * is being cancelled: a new INVITE must not go out after the caller's CANCEL. Default true.
   */
  mayFailover?(tx: ClientTransaction): boolean;
}

/**
 * Told of each client transaction the request goes out in and the request as sent in it: the
 * first, then one per failover, each with its own Via branch (the one a CANCEL must carry, §9.1).
 */
export type OnAttempt = (tx: ClientTransaction, request: SipRequest) => void;

export interface NextHopsOptions {
  transactions: TransactionLayer;
  clock: Clock;
  health: TargetHealth;
  /** How long an attempt may stay without any response (not even 100) while other targets remain. */
  timeoutMs: number;
  /** This proxy's Via for a request it sends over `protocol` (§16.6 step 8). */
  via: (protocol: TransportProtocol, branch: string) => Via;
  /** §9.1: a CANCEL for the INVITE `request` sent in `tx`, where the INVITE went. */
  sendCancel: (request: SipRequest, tx: ClientTransaction) => void;
  onError: (error: unknown) => void;
}

/**
 * Sends a request to the targets its next hop resolved to, in turn (RFC 3263 §4.3): a transport
 * error, a 503, or no response at all within `timeoutMs` moves the request to the next target,
 * in a new client transaction with a new branch; whoever sent it sees only the attempt that
 * counts. Each failure quarantines the target in {@link TargetHealth} (a 503 for its Retry-After),
 * and the targets are tried healthy ones first. One instance per proxy core.
 */
export class NextHops {
  constructor(readonly opts: NextHopsOptions) {}

  /**
   * Sends `request`, whose top Via was written for `prepared` (the transport its next-hop URI
   * asks for), to the targets that URI resolved to.
   */
  send(request: SipRequest, prepared: TransportProtocol, targets: readonly SendTarget[], handler: NextHopHandler, onAttempt: OnAttempt): void {
    if (targets.length === 0) return handler.failBranchStart(undefined, 503, 'Next hop not resolvable');
    const ordered = this.opts.health.order(targets);
    if (ordered.length > 1) return new Attempts(this, request, prepared, ordered, handler, onAttempt).start();
    const target = ordered[0]!;
    const sent = this.requestFor(request, prepared, target, 0);
    onAttempt(this.opts.transactions.sendRequest(sent, target, handler), sent);
  }

  /**
   * The request for attempt `n` (0 the first) to `target`. A later attempt is a copy with a new
   * branch: the earlier transaction still holds its request, and may still receive responses.
   * The top Via names the transport the target is reached over (§18.1.1), which the URI the
   * request was prepared for need not say (a peer set's host name, a NAPTR answer).
   */
  requestFor(template: SipRequest, prepared: TransportProtocol, target: SendTarget, n: number): SipRequest {
    const protocol = 'protocol' in target ? target.protocol : prepared;
    if (n === 0 && protocol === prepared) return template;
    const branch = template.topVia!.branch!;
    const request = n === 0 ? template : template.clone();
    request.popVia();
    request.pushVia(this.opts.via(protocol, n === 0 ? branch : `${branch}.${n}`));
    return request;
  }

  /**
   * Ends the dialog of a 2xx that an abandoned attempt brought after the INVITE had moved on, as
   * a UAC does with a 2xx it does not want (§13.2.2.4): an ACK for each 2xx (it is retransmitted
   * until ACKed) and, once per dialog, a BYE. Both go over the flow the INVITE took, with the
   * route set the Record-Route entries below this proxy's give: that flow leads to where the route
   * set begins or, with no Record-Route downstream, to a proxy that routes on the Contact in the
   * Request-URI.
   */
  hangUp(ok: SipResponse, tx: ClientTransaction, invite: SipRequest, bye: boolean): void {
    const flow = tx.flow;
    if (!flow) return;
    const recordRoutes = ok.getAll('record-route');
    const routes = recordRoutes.slice(0, recordRoutes.length - invite.getAll('record-route').length).reverse();
    const uri = ok.contacts[0]?.uri.toString() ?? invite.uriString;
    const seq = invite.cseq.seq;
    const target = { flowId: flow.id };
    const ack = this.dialogRequest('ACK', seq, uri, invite, ok, routes, flow);
    this.opts.transactions.sendStateless(ack, target).catch(this.opts.onError);
    if (bye) this.opts.transactions.sendRequest(this.dialogRequest('BYE', seq + 1, uri, invite, ok, routes, flow), target, IGNORE_RESPONSES);
  }

  private dialogRequest(method: string, seq: number, uri: string, invite: SipRequest, ok: SipResponse, routes: string[], flow: Flow): SipRequest {
    const headers: Array<[string, string]> = [
      ['Via', this.opts.via(flow.protocol, newBranch()).toString()],
      ['Max-Forwards', '70'],
      ['From', invite.get('from')!],
      ['To', ok.get('to')!],
      ['Call-ID', invite.callId],
      ['CSeq', `${seq} ${method}`],
    ];
    for (const r of routes) headers.push(['Route', r]);
    return makeRequest(method, uri, headers);
  }
}

/**
 * One request's attempts over two or more targets. It is the handler of every client transaction
 * it starts: those of the current attempt pass through to the request's handler, unless they
 * fail and a target remains; those of an attempt abandoned for want of an answer are dealt with
 * here and go no further.
 */
class Attempts implements ClientTransactionHandler {
  /** The index of the current attempt's target. */
  private n = 0;
  private current: ClientTransaction | undefined;
  private timer: TimerHandle | undefined;
  /** The request as prepared, copied for each attempt; dropped once no further attempt can start. */
  private template: SipRequest | undefined;
  /** The current attempt's request as sent, while a further attempt may follow it. */
  private sent: SipRequest | undefined;
  /**
   * Abandoned INVITE attempts and their requests as sent, for ending them when they turn out
   * alive: a transaction lets go of its request at its final response, and a late 2xx is one.
   */
  private abandoned: Array<[ClientTransaction, SipRequest]> | undefined;
  /** Abandoned INVITE attempts already CANCELled. */
  private cancelledLate: ClientTransaction[] | undefined;
  /** To tags of the dialogs of late 2xx already sent a BYE. */
  private hungUp: string[] | undefined;

  constructor(
    private readonly hops: NextHops,
    template: SipRequest,
    private readonly prepared: TransportProtocol,
    private readonly targets: readonly SendTarget[],
    private readonly handler: NextHopHandler,
    private readonly onAttempt: OnAttempt,
  ) {
    this.template = template;
  }

  start(): void {
    this.attempt();
  }

  private attempt(): void {
    const { transactions, clock, timeoutMs } = this.hops.opts;
    const target = this.targets[this.n]!;
    const request = this.hops.requestFor(this.template!, this.prepared, target, this.n);
    const more = this.n < this.targets.length - 1;
    if (!more) this.template = undefined;
    const tx = transactions.sendRequest(request, target, this);
    this.current = tx;
    this.sent = more ? request : undefined;
    this.onAttempt(tx, request);
    if (more) this.timer = clock.setTimeout(this.expired, timeoutMs);
  }

  onResponse(response: SipResponse, tx: ClientTransaction): void {
    if (tx !== this.current) return this.late(response, tx);
    this.stopTimer();
    const status = response.status;
    if (status === 503) {
      this.hops.opts.health.quarantine(this.targets[this.n]!, retryAfterMs(response));
      if (this.failover(tx)) return;
    }
    if (status >= 200) this.template = undefined;
    this.handler.onResponse(response, tx);
  }

  onTimeout(tx: ClientTransaction): void {
    if (tx !== this.current) return;
    this.stopTimer();
    this.hops.opts.health.quarantine(this.targets[this.n]!);
    if (!this.failover(tx)) this.handler.onTimeout(tx);
  }

  onTransportError(error: Error, tx: ClientTransaction): void {
    if (tx !== this.current) return;
    this.stopTimer();
    this.hops.opts.health.quarantine(this.targets[this.n]!);
    if (!this.failover(tx)) this.handler.onTransportError(error, tx);
  }

  /**
   * No response at all within the failover timeout: the target is taken for dead and the request
   * moves on. The attempt is abandoned, not ended: its transaction lives on to its own timeout,
   * so that a late response is still recognised as one (see {@link late}) rather than taken for
   * a stray to relay upstream; an INVITE that never had a provisional response cannot be
   * CANCELled yet anyway (§9.1).
   */
  private readonly expired = (): void => {
    this.timer = undefined;
    try {
      this.hops.opts.health.quarantine(this.targets[this.n]!);
      this.failover(this.current!);
    } catch (e) {
      this.hops.opts.onError(e);
    }
  };

  /** Starts the next attempt when a target is left and the handler still wants the request sent. */
  private failover(failed: ClientTransaction): boolean {
    if (this.template === undefined) return false;
    if (this.handler.mayFailover?.(failed) === false) {
      this.template = undefined;
      return false;
    }
    if (failed.isInvite && this.sent !== undefined) (this.abandoned ??= []).push([failed, this.sent]);
    this.n++;
    this.attempt();
    return true;
  }

  /**
   * A response from an abandoned attempt: the request has moved on, so nothing of it goes
   * upstream. An INVITE that turns out to be alive is ended: CANCELled at its first provisional
   * response (§9.1 allows no earlier), ACKed and BYEd when it was answered with a 2xx anyway.
   * Its other final responses are ACKed by the transaction itself.
   */
  private late(response: SipResponse, tx: ClientTransaction): void {
    const invite = this.abandoned?.find(([t]) => t === tx)?.[1];
    if (invite === undefined) return;
    const status = response.status;
    if (status < 200) {
      if (this.cancelledLate?.includes(tx)) return;
      (this.cancelledLate ??= []).push(tx);
      this.hops.opts.sendCancel(invite, tx);
    } else if (status < 300) {
      const tag = response.to.tag ?? '';
      const first = !this.hungUp?.includes(tag);
      if (first) (this.hungUp ??= []).push(tag);
      this.hops.hangUp(response, tx, invite, first);
    }
  }

  private stopTimer(): void {
    if (this.timer === undefined) return;
    this.hops.opts.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }
}

/** The Retry-After of a response in ms (RFC 3261 §20.33: delta-seconds, then an optional comment or parameters). */
function retryAfterMs(response: SipResponse): number | undefined {
  const value = response.get('retry-after');
  if (value === undefined) return undefined;
  let seconds = 0;
  let i = 0;
  for (; i < value.length; i++) {
    const digit = value.charCodeAt(i) - 0x30;
    if (digit < 0 || digit > 9) break;
    seconds = seconds * 10 + digit;
  }
  return i === 0 ? undefined : seconds * 1000;
}

const IGNORE_RESPONSES: ClientTransactionHandler = {
  onResponse() {},
  onTimeout() {},
  onTransportError() {},
};
