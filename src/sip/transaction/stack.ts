/**
 * The transaction layer (RFC 3261 §17) with the inbound half of the transport layer in front of
 * it (§18.2.1): every message a transport receives goes to {@link SipStack.receive}, which parses
 * it, stamps the top Via of requests, answers malformed requests, and hands the rest to the
 * matching transaction, a new server transaction, or the transaction user.
 */
import { systemClock, type Clock } from '../clock.js';
import { makeResponse, newTag } from '../message/build.js';
import { SipParseError } from '../message/errors.js';
import { SipRequest, type SipResponse } from '../message/message.js';
import { serializeMessage } from '../message/serialize.js';
import { parseMessage } from '../parser/parse.js';
import type { Flow, InboundMessage, SendTarget } from '../transport/types.js';
import { InviteClientTransaction, NonInviteClientTransaction } from './client.js';
import { RestQueue, safeSend, sixtyFourT1, type TransactionContext } from './context.js';
import { answerToMalformed, isKeepalive, isStreamFramed, stampVia } from './inbound.js';
import { clientKey, legacyCancelMatches, legacyKey, legacyMatches, ownString, responseKey, serverKey } from './matching.js';
import { responseRoute } from './response-route.js';
import { InviteServerTransaction, NonInviteServerTransaction } from './server.js';
import {
  DEFAULT_TIMERS,
  type Admission,
  type ClientTransaction,
  type ClientTransactionHandler,
  type MessageTransport,
  type ServerTransaction,
  type TimerValues,
  type TransactionLayer,
  type TransactionUser,
} from './types.js';

type ClientTx = InviteClientTransaction | NonInviteClientTransaction;
type ServerTx = InviteServerTransaction | NonInviteServerTransaction;

/** What a {@link SipStack} is built from; only `transport` is required. */
export interface SipStackOptions {
  /** Sends bytes; the concrete transport layer, or a fake in tests. */
  transport: MessageTransport;
  /** The UA core or proxy core; may also be given later with {@link SipStack.setUser}. */
  user?: TransactionUser;
  /** Defaults to {@link systemClock}. */
  clock?: Clock;
  /** T1, T2, T4 overrides (RFC 3261 Table 4); validated. */
  timers?: Partial<TimerValues>;
  /**
   * Milliseconds after which an INVITE server transaction sends 100 Trying when the TU has sent
   * nothing (§17.2.1: 200 ms), or false to leave it to the TU. Default 200.
   */
  autoTrying?: number | false;
  /** Errors with nowhere else to go: malformed input, throwing callbacks, failed sends. Default: ignored. */
  onError?: (error: unknown, context: string) => void;
  /**
   * Admission of new work before any state is kept for it (overload control,
   * src/observability/overload.ts): asked for each request that would start a server
   * transaction outside a dialog (not ACK or CANCEL, no To tag). A refusal is answered 503
   * Service Unavailable with Retry-After (RFC 3261 §21.5.4) statelessly (§8.2.7): no transaction,
   * no timer, so that refusing stays cheap and keeps nothing however much is offered. A
   * retransmission of a refused request is asked again. The ACK of a refused INVITE is absorbed
   * (§8.2.7: a stateless UAS ignores ACKs), known by the To tag of the 503.
   */
  admit?: (request: SipRequest) => Admission;
}

/** To tags of stateless refusals start with this, per process: their ACKs are absorbed. */
const REFUSAL_TAG = `rf${newTag()}-`;

/** How many transactions are alive (for metrics and leak tests). */
export interface TransactionCounts {
  readonly client: number;
  readonly server: number;
}

function checkPositive(name: string, v: number | undefined, optional = false): void {
  if (v === undefined && optional) return;
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) {
    throw new RangeError(`timers.${name} must be a positive number of milliseconds, got ${String(v)}`);
  }
}

/** Merges and validates timer values; throws a RangeError naming the bad key. */
export function resolveTimers(overrides: Partial<TimerValues> = {}): Readonly<TimerValues> {
  const t: TimerValues = { ...DEFAULT_TIMERS, ...overrides };
  checkPositive('T1', t.T1);
  checkPositive('T2', t.T2);
  checkPositive('T4', t.T4);
  checkPositive('timerC', t.timerC, true);
  if (t.T2 < t.T1) throw new RangeError(`timers.T2 (${t.T2}) must not be below timers.T1 (${t.T1})`);
  return Object.freeze(t);
}

/**
 * The RFC 3261 §17 transaction layer: client and server transactions in `Map`s keyed by their
 * matching keys (§17.1.3, §17.2.3), all timers on the injected clock. Every entry point is
 * exception-safe: what cannot be handled is reported to `onError`.
 */
export class SipStack implements TransactionLayer {
  readonly timers: Readonly<TimerValues>;
  private user: TransactionUser | undefined;
  private readonly transport: MessageTransport;
  private readonly onError: (error: unknown, context: string) => void;
  private readonly admit: ((request: SipRequest) => Admission) | undefined;
  private readonly ctx: TransactionContext;
  private readonly resting: RestQueue;
  private readonly clients = new Map<string, ClientTx>();
  private readonly servers = new Map<string, ServerTx>();
  /** RFC 2543 server transactions by {@link legacyKey} bucket, and each one's bucket by id. */
  private readonly legacy = new Map<string, ServerTx[]>();
  private readonly legacyBucketOf = new Map<string, string>();
  private legacySeq = 0;

  constructor(options: SipStackOptions) {
    this.timers = resolveTimers(options.timers);
    const autoTrying = options.autoTrying ?? 200;
    if (autoTrying !== false && !(Number.isFinite(autoTrying) && autoTrying >= 0)) {
      throw new RangeError(`autoTrying must be false or a non-negative number of milliseconds, got ${String(autoTrying)}`);
    }
    this.transport = options.transport;
    this.user = options.user;
    this.onError = options.onError ?? (() => undefined);
    this.admit = options.admit;
    const clock = options.clock ?? systemClock;
    this.resting = new RestQueue(clock, sixtyFourT1(this.timers), (e, context) => this.report(e, context));
    this.ctx = {
      clock,
      timers: this.timers,
      autoTrying,
      send: (data, target) => this.transport.send(data, target),
      report: (e, context) => this.report(e, context),
      serverFailed: (tx, failure) => {
        const user = this.user;
        if (user?.onServerTransactionFailure) this.toUser(() => user.onServerTransactionFailure!(tx, failure));
        else this.report(failure.kind === 'transport' ? failure.error : new Error(`no ACK for ${tx.id} (timer H)`), 'server transaction failed');
      },
      removed: (tx) => this.remove(tx as ClientTx | ServerTx),
      rest: (tx) => this.resting.add(tx),
    };
  }

  /**
   * A connection closed (TCP, TLS, WebSocket): the client transactions that sent their request on
   * it and have no final response fail with a transport error at once, so a proxy fails over or
   * answers instead of waiting for timer B (or, after a 100, timer C: minutes). Returns how many.
   */
  flowClosed(flowId: string): number {
    let failed = 0;
    for (const tx of [...this.clients.values()]) if (tx.connectionClosed(flowId)) failed++;
    return failed;
  }

  setUser(user: TransactionUser): void {
    this.user = user;
  }

  get transactionCount(): TransactionCounts {
    return { client: this.clients.size, server: this.servers.size + this.legacyBucketOf.size };
  }

  /**
   * Takes one message from a transport (§18.2.1, §18.1.2): parses it (stream framing for TCP and
   * TLS, whole-message for UDP, WS and WSS), stamps `received`/`rport` on a request's top Via,
   * answers a malformed request statelessly, drops a malformed response, and dispatches the rest.
   * Never throws.
   */
  receive(message: InboundMessage): void {
    try {
      this.dispatch(message);
    } catch (e) {
      this.report(e, 'receive');
    }
  }

  sendRequest(request: SipRequest, target: SendTarget, handler: ClientTransactionHandler): ClientTransaction {
    if (request.method === 'ACK') throw new TypeError('an ACK starts no transaction: send it with sendStateless (§17.1.1.3)');
    const branch = request.topVia?.branch;
    if (branch === undefined) throw new TypeError('a request needs a top Via with a branch to start a transaction (§8.1.1.7)');
    const id = clientKey(branch, request.method);
    if (this.clients.has(id)) throw new Error(`a client transaction for branch ${branch} and ${request.method} already exists`);
    const tx =
      request.method === 'INVITE'
        ? new InviteClientTransaction(this.ctx, id, request, target, handler)
        : new NonInviteClientTransaction(this.ctx, id, request, target, handler);
    this.clients.set(id, tx);
    tx.start();
    return tx;
  }

  sendStateless(message: SipRequest | SipResponse, target: SendTarget): Promise<Flow> {
    try {
      return safeSend(this.ctx, serializeMessage(message), target);
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /**
   * The INVITE server transaction `cancel` refers to (§9.2): the same branch and sent-by with
   * method INVITE (§17.2.3), or for an RFC 2543 branch the same Request-URI, To tag, From tag,
   * Call-ID, CSeq number and top Via.
   */
  findInviteForCancel(cancel: SipRequest): ServerTransaction | undefined {
    const key = serverKey(cancel, 'INVITE');
    const tx =
      key !== undefined
        ? this.servers.get(key)
        : this.legacy.get(legacyKey(cancel))?.find((t) => legacyCancelMatches(t.request, cancel));
    return tx?.isInvite ? tx : undefined;
  }

  /** Terminates every transaction (stops all timers) without telling the TU; for shutdown. */
  close(): void {
    for (const tx of [...this.clients.values()]) tx.terminate();
    const servers = [...this.servers.values(), ...[...this.legacy.values()].flat()];
    for (const tx of servers) tx.shutdown();
    this.resting.clear();
  }

  private dispatch({ data, flow }: InboundMessage): void {
    if (isKeepalive(data)) return;
    let message: SipRequest | SipResponse;
    try {
      message = parseMessage(data, { stream: isStreamFramed(flow.protocol) });
    } catch (e) {
      if (!(e instanceof SipParseError)) throw e;
      this.malformed(e, flow);
      return;
    }
    if (message instanceof SipRequest) {
      stampVia(message, flow.remote);
      this.receiveRequest(message, flow);
    } else this.receiveResponse(message, flow);
  }

  /** A message that failed to parse: a request is answered when possible, a response dropped. */
  private malformed(error: SipParseError, flow: Flow): void {
    const answer = answerToMalformed(error, flow.remote);
    if (answer === undefined) {
      this.report(error, 'malformed message dropped');
      return;
    }
    this.report(error, `malformed request answered with ${answer.response.status}`);
    const { primary } = responseRoute(answer.request, flow);
    this.sendStateless(answer.response, primary).catch((e: unknown) => this.report(e, 'sending the answer to a malformed request'));
  }

  /** §17.2.3: a request goes to its server transaction, else (ACK) to the TU, else starts one. */
  private receiveRequest(request: SipRequest, flow: Flow): void {
    const key = serverKey(request);
    const tx = this.matchServer(request, key);
    if (request.method === 'ACK') {
      // An ACK matching no transaction is the ACK for a 2xx (§17.2.1, §13.2.2.4); in Accepted the
      // transaction passes it up too (RFC 6026 §7.1). One for a stateless refusal ends here.
      if (tx === undefined && request.to.tag?.startsWith(REFUSAL_TAG) === true) return;
      if (tx === undefined || tx.receiveAck()) this.toUser((u) => u.onAck(request, flow));
      return;
    }
    if (tx !== undefined) tx.receiveRetransmission();
    else if (this.admitted(request, flow)) this.startServer(request, flow, key);
  }

  /** Asks {@link SipStackOptions.admit} about a new request outside a dialog; answers a refusal statelessly. */
  private admitted(request: SipRequest, flow: Flow): boolean {
    if (this.admit === undefined || request.method === 'CANCEL' || request.to.tag !== undefined) return true;
    const answer = this.admit(request);
    if (answer.ok) return true;
    const refusal = makeResponse(request, 503, answer.reason ?? 'Service Unavailable', `${REFUSAL_TAG}${newTag()}`);
    refusal.append('retry-after', String(Math.max(0, Math.round(answer.retryAfterSeconds))));
    this.sendStateless(refusal, responseRoute(request, flow).primary).catch((e: unknown) => this.report(e, 'sending a refusal'));
    return false;
  }

  /** `key` is the request's {@link serverKey}: undefined for an RFC 2543 branch. */
  private matchServer(request: SipRequest, key: string | undefined): ServerTx | undefined {
    if (key !== undefined) return this.servers.get(key);
    const bucket = this.legacy.get(legacyKey(request));
    return bucket?.find((tx) => legacyMatches(tx.request, request, tx.finalToTag));
  }

  /** A new request: a server transaction is created and handed to the TU (§17.2). */
  private startServer(request: SipRequest, flow: Flow, key: string | undefined): void {
    const id = ownString(key ?? `${legacyKey(request)} #${++this.legacySeq}`);
    const tx =
      request.method === 'INVITE'
        ? new InviteServerTransaction(this.ctx, id, request, flow, key === undefined)
        : new NonInviteServerTransaction(this.ctx, id, request, flow, key === undefined);
    if (key !== undefined) this.servers.set(id, tx);
    else {
      const bucketKey = legacyKey(request);
      const bucket = this.legacy.get(bucketKey);
      if (bucket) bucket.push(tx);
      else this.legacy.set(bucketKey, [tx]);
      this.legacyBucketOf.set(id, bucketKey);
    }
    const user = this.user;
    let failure: unknown;
    if (user === undefined) failure = new Error('no transaction user: request answered with 500');
    else {
      try {
        user.onRequest(tx);
      } catch (e) {
        failure = e;
      }
    }
    if (failure === undefined) return;
    this.report(failure, 'onRequest');
    // The TU failed before answering: answer for it so the client is not left waiting.
    if (tx.state === 'trying' || tx.state === 'proceeding') tx.respond(makeResponse(request, 500, undefined, newTag()));
  }

  /** §17.1.3: a response goes to its client transaction, or to the TU as a stray response. */
  private receiveResponse(response: SipResponse, flow: Flow): void {
    const key = responseKey(response);
    const tx = key === undefined ? undefined : this.clients.get(key);
    if (tx !== undefined) tx.receiveResponse(response, flow);
    else this.toUser((u) => u.onStrayResponse(response, flow));
  }

  private remove(tx: ClientTx | ServerTx): void {
    if (this.clients.get(tx.id) === tx) {
      this.clients.delete(tx.id);
      return;
    }
    if (this.servers.get(tx.id) === tx) {
      this.servers.delete(tx.id);
      return;
    }
    const bucketKey = this.legacyBucketOf.get(tx.id);
    if (bucketKey === undefined) return;
    this.legacyBucketOf.delete(tx.id);
    const rest = (this.legacy.get(bucketKey) ?? []).filter((t) => t !== tx);
    if (rest.length) this.legacy.set(bucketKey, rest);
    else this.legacy.delete(bucketKey);
  }

  private toUser(fn: (user: TransactionUser) => void): void {
    const user = this.user;
    if (user === undefined) {
      this.report(new Error('no transaction user: message dropped'), 'dispatch');
      return;
    }
    try {
      fn(user);
    } catch (e) {
      this.report(e, 'transaction user');
    }
  }

  private report(error: unknown, context: string): void {
    try {
      this.onError(error, context);
    } catch {
      // A throwing logger must not take the stack down.
    }
  }
}
