import type { SipRequest, SipResponse } from '../message/message.js';
import type { Flow, SendTarget } from '../transport/types.js';

/** RFC 3261 §17 timer base values in milliseconds (Table 4). */
export interface TimerValues {
  /** RTT estimate, default 500 ms. */
  T1: number;
  /** Maximum retransmit interval for non-INVITE requests and INVITE responses, default 4 s. */
  T2: number;
  /** Maximum time a message remains in the network, default 5 s. */
  T4: number;
  /** Timer C of a proxy's INVITE client transaction (§16.6 step 11), default 180 s. */
  timerC?: number;
}

export const DEFAULT_TIMERS: Readonly<TimerValues> = { T1: 500, T2: 4000, T4: 5000, timerC: 180_000 };

export type ServerTransactionState = 'trying' | 'proceeding' | 'accepted' | 'completed' | 'confirmed' | 'terminated';
export type ClientTransactionState = 'calling' | 'trying' | 'proceeding' | 'accepted' | 'completed' | 'terminated';

/** A server transaction (RFC 3261 §17.2, with RFC 6026's Accepted state for INVITE). */
export interface ServerTransaction {
  readonly id: string;
  /**
   * The request. Read it before sending the final response: a transaction then waits out its
   * retransmission timers (up to 32 s over UDP) without it, and the stack's throw when it is
   * read after that (RFC 2543 transactions, matched by comparing requests, keep it).
   */
  readonly request: SipRequest;
  /** The flow the request arrived on; responses go back over it (§18.2.2, RFC 3581 §4). */
  readonly flow: Flow;
  readonly isInvite: boolean;
  readonly state: ServerTransactionState;
  /** Sends a response (the Via/From/To/Call-ID/CSeq copied by the caller, see makeResponse). */
  respond(response: SipResponse): void;
  /** Called once when the transaction terminates. */
  onTerminated(cb: () => void): void;
  /**
   * Added: forgets a callback given to {@link onTerminated} (the same function). A proxy that is
   * done with a transaction lets go of its callback, which would otherwise stay with the
   * transaction for as long as it absorbs retransmissions (32 s over UDP).
   */
  offTerminated(cb: () => void): void;
}

export interface ClientTransactionHandler {
  /** Every response matched to the transaction, provisional and final (2xx retransmissions
   *  of an INVITE in RFC 6026's Accepted state too). */
  onResponse(response: SipResponse, tx: ClientTransaction): void;
  /** Timer B or F fired (or timer C for a proxy): no final response came. */
  onTimeout(tx: ClientTransaction): void;
  /** The request could not be sent (connection refused, unreachable, flow gone). */
  onTransportError(error: Error, tx: ClientTransaction): void;
}

/** A client transaction (RFC 3261 §17.1). */
export interface ClientTransaction {
  readonly id: string;
  /** The request, until the final response arrives; reading it after that throws. */
  readonly request: SipRequest;
  readonly isInvite: boolean;
  readonly state: ClientTransactionState;
  /** The flow the request went out on, once sent. */
  readonly flow: Flow | undefined;
  /** Stops retransmitting and terminates without waiting for more responses. */
  terminate(): void;
  /**
   * Added: from now on the responses, timeouts and transport errors of the transaction go to
   * `handler`. A proxy transaction that has its final response hands its client transactions a
   * small shared handler for the 2xx retransmissions RFC 6026 still brings, so that nothing of
   * it stays alive with them for their 32 s.
   */
  handOver(handler: ClientTransactionHandler): void;
}

/** What the transaction user (a UA core or the proxy core) receives from the transaction layer. */
export interface TransactionUser {
  /** A new request other than ACK (CANCEL included) with its new server transaction. */
  onRequest(tx: ServerTransaction): void;
  /** An ACK that matched no server transaction: the ACK for a 2xx (§17.2.1, §13.2.2.4); also one
   *  matching an INVITE server transaction in RFC 6026's Accepted state (RFC 6026 §7.1). */
  onAck(ack: SipRequest, flow: Flow): void;
  /** A response that matched no client transaction (2xx retransmissions a proxy forwards
   *  statelessly, §16.7 / RFC 6026 §8.4). */
  onStrayResponse(response: SipResponse, flow: Flow): void;
  /**
   * Added: a server transaction failed (§17.2.1 timer H: no ACK for a 3xx-6xx; §17.2.4: a response
   * could not be sent). Optional; without it the failure is only reported to `onError`.
   */
  onServerTransactionFailure?(tx: ServerTransaction, failure: ServerTransactionFailure): void;
}

/** Added: why a server transaction failed (see {@link TransactionUser.onServerTransactionFailure}). */
export type ServerTransactionFailure =
  | { readonly kind: 'no-ack' }
  | { readonly kind: 'transport'; readonly error: Error };

/**
 * Whether a node takes on a new request: the proxy core's `admit` (draining) and the stack's
 * (overload control). A refusal is answered 503 Service Unavailable with Retry-After
 * (RFC 3261 §21.5.4) and `reason` as its reason phrase.
 */
export type Admission = { readonly ok: true } | { readonly ok: false; readonly retryAfterSeconds: number; readonly reason?: string };

/**
 * Added: what the transaction layer needs from the transport layer below it (RFC 3261 §18):
 * send bytes to a target and learn the flow they went out on. Inbound messages are pushed into
 * the layer with `SipStack.receive`.
 */
export interface MessageTransport {
  send(data: Buffer, target: SendTarget): Promise<Flow>;
}

/** The transaction layer's surface used by the proxy core and user agents. */
export interface TransactionLayer {
  /** Starts a client transaction: adds nothing to the request (the caller pushes its Via with a
   *  fresh branch first) and sends it to `target`. */
  sendRequest(request: SipRequest, target: SendTarget, handler: ClientTransactionHandler): ClientTransaction;
  /** Sends a message outside any transaction (a 2xx ACK, a stateless forward). */
  sendStateless(message: SipRequest | SipResponse, target: SendTarget): Promise<Flow>;
  /** The INVITE server transaction a CANCEL refers to (§9.2), if any. */
  findInviteForCancel(cancel: SipRequest): ServerTransaction | undefined;
  readonly timers: Readonly<TimerValues>;
}
