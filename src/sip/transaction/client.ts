/**
 * Client transactions (RFC 3261 §17.1): the INVITE machine of §17.1.1 with the Accepted state of
 * RFC 6026 §7.2, and the non-INVITE machine of §17.1.2. Each state machine is a `switch` over the
 * state; timers run on the injected clock.
 */
import type { SipRequest, SipResponse } from '../message/message.js';
import { serializeMessage } from '../message/serialize.js';
import { isReliable, type Flow, type SendTarget } from '../transport/types.js';
import { ackForNon2xx } from './ack.js';
import { TimedTransaction, asError, keep, kept, safeSend, sixtyFourT1, type TransactionContext } from './context.js';
import type { ClientTransaction, ClientTransactionHandler, ClientTransactionState } from './types.js';

/** The bytes of a request after its final response (nothing: it is sent no more). */
const NO_BYTES = Buffer.alloc(0);
/** The target of a request that has gone out: later sends use its flow (see {@link ClientTransactionBase.destination}). */
const SENT: SendTarget = { flowId: 'sent' };
/** Timer D on unreliable transports: at least 32 s (§17.1.1.2, Table 4). */
const TIMER_D_MIN = 32_000;

/** What the two client machines share: sending, retransmitting, reporting and terminating. */
abstract class ClientTransactionBase extends TimedTransaction implements ClientTransaction {
  abstract readonly isInvite: boolean;
  protected current: ClientTransactionState;
  private sentOn: Flow | undefined;
  /** The request as bytes, serialized once for the first send and every retransmission. */
  protected bytes: Buffer;
  /** A final response reached the TU: a later transport failure is logged, not reported to it. */
  private finalDelivered = false;

  /** The request, until the final response (then let go of, see {@link sleep}). */
  private req: SipRequest | undefined;

  constructor(
    ctx: TransactionContext,
    id: string,
    request: SipRequest,
    /** Where the request goes, until it has gone out on a flow (then {@link destination} is that flow). */
    private target: SendTarget,
    protected handler: ClientTransactionHandler,
    initial: ClientTransactionState,
  ) {
    super(ctx, id);
    this.req = request;
    this.current = initial;
    this.bytes = serializeMessage(request);
  }

  get state(): ClientTransactionState {
    return this.current;
  }

  get flow(): Flow | undefined {
    return this.sentOn;
  }

  /**
   * The request, until the final response. Throws after that: Accepted and Completed only absorb
   * response retransmissions, and nothing of the request is kept for them (see {@link sleep}).
   */
  get request(): SipRequest {
    if (this.req === undefined) throw new Error(`client transaction ${this.id} has let go of its request (final response received)`);
    return this.req;
  }

  /**
   * Accepted or Completed only absorb response retransmissions, matched by the key the stack
   * holds, and the request is sent no more: neither it nor its bytes are kept. For an INVITE
   * over UDP that is RFC 6026's 32 s, and a call's INVITE was the largest thing a waiting
   * transaction held.
   */
  protected sleep(): void {
    this.req = undefined;
    this.bytes = NO_BYTES;
  }

  /** Sends the request and starts timer B or F (64*T1, §17.1.1.2, §17.1.2.2). */
  start(): void {
    this.lifetimeTimer.start(sixtyFourT1(this.ctx.timers), () => this.onTimeout());
    safeSend(this.ctx, this.bytes, this.target).then(
      (flow) => {
        if (this.current === 'terminated') return;
        if (this.sentOn === undefined) {
          this.sentOn = flow;
          // Each later send goes over the flow: the target (an address object of its own) goes.
          this.target = SENT;
        }
        try {
          this.onFirstSent(flow);
        } catch (e) {
          this.ctx.report(e, `client transaction ${this.id}`);
        }
      },
      (e: unknown) => this.transportError(e),
    );
  }

  /** Stops retransmitting and terminates without waiting for more responses. */
  terminate(): void {
    this.finish();
  }

  handOver(handler: ClientTransactionHandler): void {
    this.handler = handler;
  }

  /**
   * The connection the request went out on closed before the final response: nothing can come
   * back on it (a response over a stream comes on the request's connection, §18.2.2), so this is
   * a transport error now rather than a timer B or C later. True when it applied.
   */
  connectionClosed(flowId: string): boolean {
    if (this.current === 'terminated' || this.sentOn?.id !== flowId || this.finalDelivered) return false;
    this.transportError(new Error(`connection ${flowId} closed before the final response`));
    return true;
  }

  /** Handles a response matched to this transaction (§17.1.3). */
  abstract receiveResponse(response: SipResponse, flow: Flow): void;

  /** The first transmission went out on `flow`: start retransmitting if it is unreliable. */
  protected abstract onFirstSent(flow: Flow): void;

  /** Timer B or F fired. */
  protected abstract onTimeout(): void;

  /** Where later messages of the transaction go: the flow of the request once known. */
  protected get destination(): SendTarget {
    return this.sentOn !== undefined ? { flowId: this.sentOn.id } : this.target;
  }

  /** Whether the transaction runs over a reliable transport; `via` is the flow a response came on. */
  protected reliable(via: Flow): boolean {
    return isReliable((this.sentOn ?? via).protocol);
  }

  protected send(bytes: Buffer): void {
    safeSend(this.ctx, bytes, this.destination).catch((e: unknown) => this.transportError(e));
  }

  protected deliver(response: SipResponse, final: boolean): void {
    if (final) this.finalDelivered = true;
    this.notify(() => this.handler.onResponse(response, this));
  }

  protected timedOut(): void {
    this.finish();
    this.notify(() => this.handler.onTimeout(this));
  }

  /**
   * A send failed (§17.1.1.2, §17.1.2.2 "transport error"): the transaction terminates and the TU
   * is told, unless it already has the final response, in which case the failure is only logged.
   */
  protected transportError(e: unknown): void {
    if (this.current === 'terminated') return;
    this.finish();
    if (this.finalDelivered) this.ctx.report(e, `client transaction ${this.id}: send after the final response`);
    else this.notify(() => this.handler.onTransportError(asError(e), this));
  }

  protected finish(): void {
    if (this.current === 'terminated') return;
    this.current = 'terminated';
    this.stopTimers();
    this.ctx.removed(this);
  }

  private notify(fn: () => void): void {
    try {
      fn();
    } catch (e) {
      this.ctx.report(e, `transaction user (client transaction ${this.id})`);
    }
  }
}

/** INVITE client transaction (RFC 3261 §17.1.1, RFC 6026 §7.2). */
export class InviteClientTransaction extends ClientTransactionBase {
  readonly isInvite = true;
  private interval = 0;
  /** The ACK of a non-2xx final response ({@link keep}-ed), built once and sent again for each retransmission of it. */
  private ack: string | undefined;

  constructor(ctx: TransactionContext, id: string, request: SipRequest, target: SendTarget, handler: ClientTransactionHandler) {
    super(ctx, id, request, target, handler, 'calling');
  }

  /** §17.1.1.2: timer A (T1) runs only on unreliable transports. */
  protected onFirstSent(flow: Flow): void {
    if (this.current !== 'calling' || isReliable(flow.protocol)) return;
    this.interval = this.ctx.timers.T1;
    this.retransmitTimer.start(this.interval, () => this.timerA());
  }

  /** §17.1.1.2: timer A fires in Calling: retransmit, double the interval (no T2 cap for INVITE). */
  private timerA(): void {
    switch (this.current) {
      case 'calling':
        this.send(this.bytes);
        this.interval *= 2;
        this.retransmitTimer.start(this.interval, () => this.timerA());
        return;
      default:
        return;
    }
  }

  /** §17.1.1.2: timer B fires in Calling: tell the TU of the timeout and terminate. */
  protected onTimeout(): void {
    if (this.current === 'calling') this.timedOut();
  }

  receiveResponse(response: SipResponse, flow: Flow): void {
    const status = response.status;
    switch (this.current) {
      case 'calling':
      case 'proceeding':
        // §17.1.1.2: any response stops timer A; 1xx moves Calling to Proceeding (timer B no
        // longer applies), 2xx goes to Accepted (RFC 6026 §7.2), 3xx-6xx to Completed.
        this.retransmitSlot?.stop();
        if (status < 200) {
          if (this.current === 'calling') this.lifetimeSlot?.stop();
          this.current = 'proceeding';
          this.deliver(response, false);
        } else if (status < 300) this.accept(response);
        else this.complete(response, flow);
        return;
      case 'accepted':
        // RFC 6026 §7.2: every 2xx (retransmission or another fork's) goes to the TU; others are dropped.
        if (status >= 200 && status < 300) this.deliver(response, true);
        return;
      case 'completed':
        // §17.1.1.2: a retransmitted final response is answered with the same ACK, not passed up.
        if (status >= 300 && this.ack !== undefined) this.send(kept(this.ack));
        return;
      case 'trying':
      case 'terminated':
        return;
    }
  }

  /** RFC 6026 §7.2: 2xx in Calling or Proceeding: Accepted, timer M = 64*T1. */
  private accept(response: SipResponse): void {
    this.current = 'accepted';
    this.rest();
    this.deliver(response, true);
    this.sleep();
  }

  /**
   * §17.1.1.2: 3xx-6xx in Calling or Proceeding: send the ACK (§17.1.1.3) to the same flow, pass
   * the response up, and wait timer D (at least 32 s unreliable, 0 reliable) for retransmissions.
   */
  private complete(response: SipResponse, flow: Flow): void {
    this.lifetimeSlot?.stop();
    this.current = 'completed';
    const ack = serializeMessage(ackForNon2xx(this.request, response));
    this.ack = keep(ack);
    this.send(ack);
    this.sleep();
    const timerD = this.reliable(flow) ? 0 : Math.max(TIMER_D_MIN, sixtyFourT1(this.ctx.timers));
    this.deliver(response, true);
    if (this.current === 'completed') this.after(timerD, () => this.finish());
  }
}

/** Non-INVITE client transaction (RFC 3261 §17.1.2). */
export class NonInviteClientTransaction extends ClientTransactionBase {
  readonly isInvite = false;
  private interval = 0;

  constructor(ctx: TransactionContext, id: string, request: SipRequest, target: SendTarget, handler: ClientTransactionHandler) {
    super(ctx, id, request, target, handler, 'trying');
  }

  /** §17.1.2.2: timer E (T1) runs only on unreliable transports. */
  protected onFirstSent(flow: Flow): void {
    if ((this.current !== 'trying' && this.current !== 'proceeding') || isReliable(flow.protocol)) return;
    this.interval = this.ctx.timers.T1;
    this.retransmitTimer.start(this.interval, () => this.timerE());
  }

  /** §17.1.2.2: timer E: retransmit; next interval min(2E, T2) in Trying, T2 in Proceeding. */
  private timerE(): void {
    const { T2 } = this.ctx.timers;
    switch (this.current) {
      case 'trying':
        this.send(this.bytes);
        this.interval = Math.min(2 * this.interval, T2);
        this.retransmitTimer.start(this.interval, () => this.timerE());
        return;
      case 'proceeding':
        this.send(this.bytes);
        this.interval = T2;
        this.retransmitTimer.start(T2, () => this.timerE());
        return;
      default:
        return;
    }
  }

  /** §17.1.2.2: timer F fires in Trying or Proceeding: tell the TU of the timeout and terminate. */
  protected onTimeout(): void {
    if (this.current === 'trying' || this.current === 'proceeding') this.timedOut();
  }

  receiveResponse(response: SipResponse, flow: Flow): void {
    switch (this.current) {
      case 'trying':
      case 'proceeding':
        // §17.1.2.2: 1xx moves to (or stays in) Proceeding; a final response goes to Completed,
        // where timer K (T4 unreliable, 0 reliable) absorbs retransmissions.
        if (response.status < 200) {
          this.current = 'proceeding';
          this.deliver(response, false);
          return;
        }
        this.stopTimers();
        this.current = 'completed';
        this.deliver(response, true);
        this.sleep();
        if (this.current === 'completed') this.after(this.reliable(flow) ? 0 : this.ctx.timers.T4, () => this.finish());
        return;
      case 'completed':
      case 'calling':
      case 'accepted':
      case 'terminated':
        return;
    }
  }
}
