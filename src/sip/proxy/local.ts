import { SipRequest, type SipResponse } from '../message/message.js';
import type { Flow } from '../transport/types.js';
import type {
  ClientTransaction,
  ClientTransactionHandler,
  ClientTransactionState,
  ServerTransaction,
  ServerTransactionState,
} from '../transaction/types.js';

let serial = 0;

/** Both ends of every hop's flow (shared: a flow's endpoints are never changed). */
const IN_PROCESS = Object.freeze({ address: 'local', port: 0 });

/**
 * Stands in for a request let go of once nothing reads it any more: a hop's after its final
 * response, a released proxy transaction's.
 */
export const RELEASED_REQUEST = new SipRequest('RELEASED', 'sip:released.invalid', [], Buffer.alloc(0));

/**
 * A hop between two services hosted in the same process: the forwarding side sees a client
 * transaction, the receiving side a server transaction, and no socket or serialization lies
 * between them. Responses are delivered on the microtask queue so deep service chains do not
 * grow the stack.
 */
export class LocalHop implements ServerTransaction, ClientTransaction {
  readonly id: string;
  readonly flow: Flow;
  readonly isInvite: boolean;
  private serverState: ServerTransactionState;
  private terminatedCbs: Array<() => void> = [];
  /** Called when the forwarding side gives up on the hop (CANCEL or termination). */
  onCancel: (() => void) | undefined;
  private req: SipRequest;

  constructor(
    request: SipRequest,
    private handler: ClientTransactionHandler,
  ) {
    this.req = request;
    this.id = `local:${++serial}`;
    this.flow = { id: this.id, protocol: 'TCP', local: IN_PROCESS, remote: IN_PROCESS };
    this.isInvite = request.method === 'INVITE';
    this.serverState = this.isInvite ? 'proceeding' : 'trying';
  }

  /**
   * The request, until the hop has its final response. After that nothing reads it, but the hop
   * lives on as long as the transaction that forwards a 2xx retransmission back through it (an
   * INVITE over UDP: RFC 6026's 32 s), and with it each hop's request of a whole call.
   */
  get request(): SipRequest {
    return this.req;
  }

  get state(): ServerTransactionState & ClientTransactionState {
    return this.serverState === 'accepted' || this.serverState === 'completed' || this.serverState === 'terminated'
      ? (this.serverState as ServerTransactionState & ClientTransactionState)
      : 'proceeding';
  }

  respond(response: SipResponse): void {
    const st = this.serverState;
    const retransmitted2xx = st === 'accepted' && response.status >= 200 && response.status < 300;
    if ((st === 'completed' || st === 'terminated' || st === 'accepted') && !retransmitted2xx) return;
    const copy = response.clone();
    queueMicrotask(() => this.handler.onResponse(copy, this));
    if (response.status < 200 || retransmitted2xx) return;
    this.finish(this.isInvite && response.status < 300 ? 'accepted' : 'completed');
  }

  onTerminated(cb: () => void): void {
    if (this.serverState === 'terminated') cb();
    else this.terminatedCbs.push(cb);
  }

  offTerminated(cb: () => void): void {
    const i = this.terminatedCbs.indexOf(cb);
    if (i >= 0) this.terminatedCbs.splice(i, 1);
  }

  terminate(): void {
    this.onCancel?.();
    this.finish('terminated');
  }

  handOver(handler: ClientTransactionHandler): void {
    this.handler = handler;
  }

  private finish(state: ServerTransactionState): void {
    this.serverState = state;
    this.req = RELEASED_REQUEST;
    const cbs = this.terminatedCbs;
    this.terminatedCbs = [];
    for (const cb of cbs) cb();
  }

  static isLocal(flow: Flow | undefined): boolean {
    return flow !== undefined && flow.id.startsWith('local:');
  }
}
