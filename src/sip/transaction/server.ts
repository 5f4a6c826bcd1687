/**
 * Server transactions (RFC 3261 §17.2): the INVITE machine of §17.2.1 with the Accepted state of
 * RFC 6026 §7.1, and the non-INVITE machine of §17.2.2. Each state machine is a `switch` over the
 * state; timers run on the injected clock.
 */
import { makeResponse } from '../message/build.js';
import type { SipRequest, SipResponse } from '../message/message.js';
import { serializeMessage } from '../message/serialize.js';
import { parseMessage } from '../parser/parse.js';
import { isReliable, type Flow } from '../transport/types.js';
import { TimedTransaction, TimerSlot, asError, keep, kept, safeSend, sixtyFourT1, type TransactionContext } from './context.js';
import { responseRoute, type ResponseRoute } from './response-route.js';
import type { ServerTransaction, ServerTransactionState } from './types.js';

/** What the two server machines share: sending responses, retransmitting, terminating. */
abstract class ServerTransactionBase extends TimedTransaction implements ServerTransaction {
  abstract readonly isInvite: boolean;
  protected current: ServerTransactionState;
  /** The most recent response sent, as bytes for retransmission ({@link keep}-ed once asleep). */
  protected last: Buffer | string | undefined;
  protected readonly reliable: boolean;
  private readonly route: ResponseRoute;
  private terminatedCallbacks: Array<() => void> | undefined;
  /** The To tag of the final response sent, which an RFC 2543 ACK must carry (§17.2.3); kept by RFC 2543 transactions only. */
  finalToTag: string | undefined;

  /** The request, or undefined while it sleeps as {@link asleep} bytes or once let go of. */
  private req: SipRequest | undefined;
  /** The request as bytes ({@link keep}) while an RFC 2543 transaction waits for retransmissions. */
  private asleep: string | undefined;

  constructor(
    ctx: TransactionContext,
    id: string,
    request: SipRequest,
    readonly flow: Flow,
    initial: ServerTransactionState,
    /**
     * The request is matched by comparing it (RFC 2543, §17.2.3): kept, as bytes, after the final
     * response too. A transaction the stack finds by its branch lets the request go then.
     */
    private readonly matchedByRequest: boolean,
  ) {
    super(ctx, id);
    this.req = request;
    this.current = initial;
    this.reliable = isReliable(flow.protocol);
    this.route = responseRoute(request, flow);
  }

  get state(): ServerTransactionState {
    return this.current;
  }

  /**
   * The request that created the transaction, until the final response is sent; an RFC 2543
   * transaction's for as long as it lives (decoded again from its bytes). Throws when let go of.
   */
  get request(): SipRequest {
    if (this.req === undefined) {
      if (this.asleep === undefined) throw new Error(`server transaction ${this.id} has let go of its request (final response sent)`);
      this.req = parseMessage(kept(this.asleep)) as SipRequest;
    }
    return this.req;
  }

  /**
   * After the final response the transaction only absorbs retransmissions for up to 64*T1
   * (32 s over UDP), and the stack finds those by the branch alone: the request is let go of,
   * which was the largest part of what a waiting transaction held (a call's INVITE, a REGISTER
   * with its credentials). A CANCEL, too, is matched by branch and answered from itself. Only an
   * RFC 2543 transaction keeps its request, as bytes, since it is matched by comparing requests.
   */
  private sleep(): void {
    const req = this.req;
    if (req === undefined) return;
    if (this.matchedByRequest) this.asleep = keep(req.raw ?? serializeMessage(req));
    this.req = undefined;
    if (this.last !== undefined && typeof this.last !== 'string') this.last = keep(this.last);
  }

  /**
   * RFC 6026 §7.1: in Accepted the TU retransmits its 2xx itself and request retransmissions are
   * absorbed, so the last response is never sent again from here: do not keep it for 32 s.
   */
  protected forgetLast(): void {
    this.last = undefined;
  }

  /**
   * Sends a response through the state machine. After termination a 2xx to an INVITE is still
   * sent, statelessly (a proxy forwards a late 2xx that matches no transaction, RFC 3261 §16.7
   * as amended by RFC 6026); anything else is dropped and reported. Throws RangeError for a status
   * outside 100-699.
   */
  respond(response: SipResponse): void {
    if (!(response.status >= 100 && response.status <= 699)) {
      throw new RangeError(`response status ${response.status} is outside 100-699`);
    }
    if (this.current !== 'terminated') this.onTuResponse(response);
    else if (this.isInvite && response.status >= 200 && response.status < 300) this.sendBytes(serializeMessage(response));
    else this.ctx.report(new Error(`${response.status} dropped: server transaction ${this.id} has terminated`), 'respond');
  }

  /** Terminates at once, without telling the TU anything but onTerminated (stack shutdown). */
  shutdown(): void {
    this.finish();
  }

  onTerminated(cb: () => void): void {
    if (this.current === 'terminated') this.runCallback(cb);
    else (this.terminatedCallbacks ??= []).push(cb);
  }

  offTerminated(cb: () => void): void {
    const callbacks = this.terminatedCallbacks;
    if (callbacks === undefined) return;
    const i = callbacks.indexOf(cb);
    if (i >= 0) callbacks.splice(i, 1);
    if (callbacks.length === 0) this.terminatedCallbacks = undefined;
  }

  /** A retransmission of the request that created the transaction arrived (§17.2.3 match). */
  abstract receiveRetransmission(): void;

  /** A matching ACK arrived; true when it must go to the TU (RFC 6026 §7.1, Accepted). */
  receiveAck(): boolean {
    return false;
  }

  protected abstract onTuResponse(response: SipResponse): void;

  /** Sends a response and keeps it as the one to retransmit. */
  protected transmit(response: SipResponse): void {
    const bytes = serializeMessage(response);
    this.last = bytes;
    this.sendBytes(bytes);
    if (response.status >= 200) {
      // Only an RFC 2543 transaction, matched by comparing requests, compares an ACK's To tag.
      if (this.matchedByRequest) {
        try {
          this.finalToTag = response.to.tag;
        } catch {
          this.finalToTag = undefined;
        }
      }
      this.sleep();
    }
  }

  protected resendLast(): void {
    const last = this.last;
    if (last !== undefined) this.sendBytes(typeof last === 'string' ? kept(last) : last);
  }

  /** A response the state machine must discard (§17.2.1, §17.2.2): reported as a TU error. */
  protected discard(response: SipResponse): void {
    this.ctx.report(new Error(`${response.status} dropped: server transaction ${this.id} is ${this.current}`), 'respond');
  }

  private sendBytes(bytes: Buffer): void {
    const { primary, fallback } = this.route;
    let sending = safeSend(this.ctx, bytes, primary);
    if (fallback !== undefined) sending = sending.catch(() => safeSend(this.ctx, bytes, fallback));
    sending.catch((e: unknown) => this.transportError(e));
  }

  /**
   * §17.2.4: a response could not be sent: the TU is told and the transaction terminates. In
   * Accepted (RFC 6026) it stays, so that INVITE retransmissions are still absorbed.
   */
  private transportError(e: unknown): void {
    if (this.current === 'terminated') {
      this.ctx.report(e, `server transaction ${this.id}: send after termination`);
      return;
    }
    if (this.current !== 'accepted') this.finish();
    this.ctx.serverFailed(this, { kind: 'transport', error: asError(e) });
  }

  protected finish(): void {
    if (this.current === 'terminated') return;
    this.current = 'terminated';
    this.stopTimers();
    this.ctx.removed(this);
    const callbacks = this.terminatedCallbacks;
    this.terminatedCallbacks = undefined;
    if (callbacks !== undefined) for (const cb of callbacks) this.runCallback(cb);
  }

  private runCallback(cb: () => void): void {
    try {
      cb();
    } catch (e) {
      this.ctx.report(e, `onTerminated callback of ${this.id}`);
    }
  }
}

/** The automatic 100 Trying of §17.2.1, with the request's Timestamp echoed (§8.2.6.1). */
function trying(request: SipRequest): SipResponse {
  const response = makeResponse(request, 100);
  const timestamp = request.get('timestamp');
  if (timestamp !== undefined) response.append('timestamp', timestamp);
  return response;
}

/** INVITE server transaction (RFC 3261 §17.2.1, RFC 6026 §7.1). */
export class InviteServerTransaction extends ServerTransactionBase {
  readonly isInvite = true;
  private interval = 0;
  /** The automatic 100 Trying's timer, until the TU's first response. */
  private tryingTimer: TimerSlot | undefined;

  constructor(ctx: TransactionContext, id: string, request: SipRequest, flow: Flow, matchedByRequest: boolean) {
    super(ctx, id, request, flow, 'proceeding', matchedByRequest);
    if (ctx.autoTrying !== false) {
      this.tryingTimer = new TimerSlot(ctx, '100 Trying', id);
      this.tryingTimer.start(ctx.autoTrying, () => this.autoTrying());
    }
  }

  /** §17.2.1: the TU sent nothing within 200 ms (configurable): send 100 Trying. */
  private autoTrying(): void {
    if (this.current === 'proceeding' && this.last === undefined) this.transmit(trying(this.request));
  }

  protected onTuResponse(response: SipResponse): void {
    const status = response.status;
    switch (this.current) {
      case 'proceeding':
        // §17.2.1: 1xx are sent and the state stays; 2xx go to Accepted with timer L = 64*T1
        // (RFC 6026 §7.1); 3xx-6xx go to Completed with timer G (unreliable only) and timer H.
        this.tryingTimer?.stop();
        this.tryingTimer = undefined;
        this.transmit(response);
        if (status < 200) return;
        if (status < 300) {
          this.current = 'accepted';
          this.forgetLast();
          this.rest();
          return;
        }
        this.current = 'completed';
        if (!this.reliable) {
          this.interval = this.ctx.timers.T1;
          this.retransmitTimer.start(this.interval, () => this.timerG());
        }
        this.lifetimeTimer.start(sixtyFourT1(this.ctx.timers), () => this.timerH());
        return;
      case 'accepted':
        // RFC 6026 §7.1: the TU's 2xx retransmissions (and other 2xx) are sent; nothing else.
        if (status >= 200 && status < 300) {
          this.transmit(response);
          this.forgetLast();
        } else this.discard(response);
        return;
      case 'completed':
      case 'confirmed':
      case 'trying':
      case 'terminated':
        this.discard(response);
        return;
    }
  }

  /** §17.2.1: timer G fires in Completed: resend the final response, interval min(2G, T2). */
  private timerG(): void {
    switch (this.current) {
      case 'completed':
        this.resendLast();
        this.interval = Math.min(2 * this.interval, this.ctx.timers.T2);
        this.retransmitTimer.start(this.interval, () => this.timerG());
        return;
      default:
        return;
    }
  }

  /** §17.2.1: timer H fires in Completed: no ACK came; terminate and tell the TU. */
  private timerH(): void {
    if (this.current !== 'completed') return;
    this.finish();
    this.ctx.serverFailed(this, { kind: 'no-ack' });
  }

  receiveRetransmission(): void {
    switch (this.current) {
      case 'proceeding':
      case 'completed':
        // §17.2.1: resend the most recent provisional response, or the final response.
        this.resendLast();
        return;
      case 'accepted':
        // RFC 6026 §7.1: absorbed; the TU retransmits its 2xx itself.
        return;
      case 'confirmed':
      case 'trying':
      case 'terminated':
        return;
    }
  }

  override receiveAck(): boolean {
    switch (this.current) {
      case 'completed':
        // §17.2.1: ACK moves to Confirmed: timer G stops, timer I (T4 unreliable, 0 reliable) starts.
        this.stopTimers();
        this.current = 'confirmed';
        this.after(this.reliable ? 0 : this.ctx.timers.T4, () => this.finish());
        return false;
      case 'accepted':
        // RFC 6026 §7.1: an ACK in Accepted is passed to the TU.
        return true;
      case 'proceeding':
      case 'confirmed':
      case 'trying':
      case 'terminated':
        // §17.2.1: Confirmed absorbs ACK retransmissions; an ACK before any final response is stray.
        return false;
    }
  }
}

/** Non-INVITE server transaction (RFC 3261 §17.2.2). */
export class NonInviteServerTransaction extends ServerTransactionBase {
  readonly isInvite = false;

  constructor(ctx: TransactionContext, id: string, request: SipRequest, flow: Flow, matchedByRequest: boolean) {
    super(ctx, id, request, flow, 'trying', matchedByRequest);
  }

  protected onTuResponse(response: SipResponse): void {
    switch (this.current) {
      case 'trying':
      case 'proceeding':
        // §17.2.2: 1xx moves to (or stays in) Proceeding; a final response moves to Completed,
        // where timer J (64*T1 unreliable, 0 reliable) keeps it for request retransmissions.
        this.transmit(response);
        if (response.status < 200) {
          this.current = 'proceeding';
          return;
        }
        this.current = 'completed';
        if (this.reliable) this.finish();
        else this.rest();
        return;
      case 'completed':
      case 'accepted':
      case 'confirmed':
      case 'terminated':
        // §17.2.2: further final responses from the TU are discarded.
        this.discard(response);
        return;
    }
  }

  receiveRetransmission(): void {
    switch (this.current) {
      case 'trying':
        // §17.2.2: retransmissions in Trying are discarded.
        return;
      case 'proceeding':
      case 'completed':
        // §17.2.2: resend the most recent provisional response, or the final response.
        this.resendLast();
        return;
      case 'accepted':
      case 'confirmed':
      case 'terminated':
        return;
    }
  }
}
