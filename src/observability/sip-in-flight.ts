/**
 * What a SIP node has in flight, for a graceful stop (lifecycle.ts): the work that would break
 * if the process went away now.
 *
 * - a server transaction not yet answered finally (RFC 3261 §17.2: Trying or Proceeding): a
 *   request someone waits for, a REGISTER being checked, an INVITE ringing;
 * - a client transaction with no final response yet (§17.1: Calling, Trying or Proceeding): a
 *   request forwarded or sent by this node (a NOTIFY, a third-party REGISTER);
 * - a call this node is in the route set of: an initial INVITE it saw answered 2xx, whose ACK
 *   it then relayed (so it Record-Routed the dialog), until a BYE for it passes. A 2xx whose ACK
 *   does not come within {@link SipInFlightOptions.ackWaitMs} means the dialog does not route
 *   through here (an application server that does not Record-Route): not in flight.
 *
 * What is left of a finished transaction (the Completed, Confirmed and Accepted states, whose
 * timers absorb retransmissions for up to 32 s, RFC 6026 §7.1) is not in flight: a peer that
 * retransmits to a stopped node gets its answer from the failover target or times out as it
 * would have anyway.
 *
 * Counting works by standing between the layers: {@link SipInFlight.user} wraps the proxy
 * core as the stack's transaction user, {@link SipInFlight.layer} wraps the stack as the core's
 * transaction layer. Everything it keeps is bounded and swept as requests pass, and every
 * {@link SWEEP_EVERY_MS} by a timer that holds it only weakly, so an idle node lets go of what it
 * answered (before, the last 10 s of a burst stayed held until the next request came).
 */
import type {
  ClientTransaction,
  ClientTransactionHandler,
  ServerTransaction,
  SipRequest,
  SipResponse,
  TransactionLayer,
  TransactionUser,
} from '../sip/index.js';
import { ownString } from '../storage/kept-strings.js';
import type { WorkCounts } from './lifecycle.js';

export interface SipInFlightOptions {
  /** How long an answered call waits for its ACK to pass here before it is let go, ms; default 4000 (T2). */
  readonly ackWaitMs?: number;
  /** A call with no in-dialog request through here for this long is forgotten (its BYE went elsewhere), ms; default 2 h. */
  readonly callIdleMs?: number;
  /** Calls remembered at most; the oldest is forgotten first. Default 100 000. */
  readonly maxCalls?: number;
  /** Default `Date.now`. */
  readonly now?: () => number;
}

interface Call {
  /** The ACK passed here: the dialog routes through this node. */
  confirmed: boolean;
  /** When answered, then when an in-dialog request last passed. */
  seen: number;
}

const PENDING_SERVER = new Set(['trying', 'proceeding']);
const PENDING_CLIENT = new Set(['calling', 'trying', 'proceeding']);
/** Shortest time between two sweeps of what finished without telling. */
const SWEEP_EVERY_MS = 10_000;

export class SipInFlight {
  private readonly servers = new Set<ServerTransaction>();
  private readonly clients = new Set<ClientTransaction>();
  /** By Call-ID, oldest first. */
  private readonly calls = new Map<string, Call>();
  private readonly ackWaitMs: number;
  private readonly callIdleMs: number;
  private readonly maxCalls: number;
  private readonly now: () => number;
  private lastSweep: number;

  constructor(opts: SipInFlightOptions = {}) {
    this.ackWaitMs = opts.ackWaitMs ?? 4000;
    this.callIdleMs = opts.callIdleMs ?? 2 * 3600_000;
    this.maxCalls = opts.maxCalls ?? 100_000;
    this.now = opts.now ?? Date.now;
    this.lastSweep = this.now();
    const self = new WeakRef(this);
    const timer: NodeJS.Timeout = setInterval(() => {
      const inFlight = self.deref();
      if (inFlight === undefined) clearInterval(timer);
      else inFlight.sweep(false);
    }, SWEEP_EVERY_MS);
    timer.unref();
  }

  /** The work in flight now. */
  counts(): WorkCounts {
    this.sweep(true);
    let server = 0;
    let client = 0;
    for (const tx of this.servers) if (PENDING_SERVER.has(tx.state)) server++;
    for (const tx of this.clients) if (PENDING_CLIENT.has(tx.state)) client++;
    return { call: this.calls.size, 'server transaction': server, 'client transaction': client };
  }

  /** The transaction user to give the stack in place of `inner` (the proxy core). */
  user(inner: TransactionUser): TransactionUser {
    const user: TransactionUser = {
      onRequest: (tx) => {
        this.serverStarted(tx);
        inner.onRequest(tx);
      },
      onAck: (ack, flow) => {
        this.acked(ack);
        inner.onAck(ack, flow);
      },
      onStrayResponse: (response, flow) => inner.onStrayResponse(response, flow),
    };
    if (inner.onServerTransactionFailure) user.onServerTransactionFailure = (tx, failure) => inner.onServerTransactionFailure!(tx, failure);
    return user;
  }

  /** The transaction layer to give the proxy core in place of `inner` (the stack). */
  layer(inner: TransactionLayer): TransactionLayer {
    return {
      sendRequest: (request, target, handler) => {
        const tx = inner.sendRequest(request, target, this.watch(request, handler));
        if (PENDING_CLIENT.has(tx.state)) this.clients.add(tx);
        this.sweep(false);
        return tx;
      },
      sendStateless: (message, target) => inner.sendStateless(message, target),
      findInviteForCancel: (cancel) => inner.findInviteForCancel(cancel),
      get timers() {
        return inner.timers;
      },
    };
  }

  private serverStarted(tx: ServerTransaction): void {
    // Let go of by a sweep once answered: no callback on each transaction, which would keep a
    // closure on it for as long as it absorbs retransmissions (32 s over UDP).
    this.servers.add(tx);
    this.sweep(false);
    const request = tx.request;
    if (request.to.tag === undefined) return;
    const call = this.calls.get(request.callId);
    if (call === undefined) return;
    // §15.1.2: the BYE ends the call; its own transaction is in flight until answered.
    if (request.method === 'BYE') this.calls.delete(request.callId);
    else call.seen = this.now();
  }

  /** An ACK for a 2xx (§13.2.2.4) relayed here: the dialog routes through this node. */
  private acked(ack: SipRequest): void {
    const call = this.calls.get(ack.callId);
    if (call === undefined) return;
    call.confirmed = true;
    call.seen = this.now();
  }

  /**
   * The handler of a client transaction, which lets it go at its final response. It keeps only
   * the Call-ID of an initial INVITE, not the request: the transaction holds its handler for the
   * 32 s of RFC 6026's timers, and the request is what it lets go of then.
   */
  private watch(request: SipRequest, handler: ClientTransactionHandler): ClientTransactionHandler {
    // A copy: the Call-ID as parsed is a view of the whole INVITE's text, which the handler
    // would keep for those 32 s.
    const inviteCallId = request.method === 'INVITE' && request.to.tag === undefined ? ownString(request.callId) : undefined;
    return {
      onResponse: (response: SipResponse, tx: ClientTransaction) => {
        if (response.status >= 200) {
          this.clients.delete(tx);
          if (inviteCallId !== undefined && response.status < 300) this.answered(inviteCallId);
        }
        handler.onResponse(response, tx);
      },
      onTimeout: (tx) => {
        this.clients.delete(tx);
        handler.onTimeout(tx);
      },
      onTransportError: (error, tx) => {
        this.clients.delete(tx);
        handler.onTransportError(error, tx);
      },
    };
  }

  private answered(callId: string): void {
    if (this.calls.has(callId)) return;
    this.calls.set(callId, { confirmed: false, seen: this.now() });
    if (this.calls.size > this.maxCalls) {
      // The oldest sixteenth at once: a Map's deleted entries stay as holes until V8 rebuilds
      // its table, and finding the front steps over each of them.
      let n = Math.max(1, this.maxCalls >> 4);
      for (const k of this.calls.keys()) {
        this.calls.delete(k);
        if (--n === 0) break;
      }
    }
  }

  /** Lets go of calls that are over by time and of transactions that finished without a callback. */
  private sweep(always: boolean): void {
    const now = this.now();
    if (!always && now - this.lastSweep < SWEEP_EVERY_MS) return;
    this.lastSweep = now;
    for (const [id, call] of this.calls) {
      if (now - call.seen > (call.confirmed ? this.callIdleMs : this.ackWaitMs)) this.calls.delete(id);
    }
    for (const tx of this.clients) if (!PENDING_CLIENT.has(tx.state)) this.clients.delete(tx);
    for (const tx of this.servers) if (!PENDING_SERVER.has(tx.state)) this.servers.delete(tx);
  }
}
