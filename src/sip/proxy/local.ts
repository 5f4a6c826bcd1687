import type { SipRequest, SipResponse } from '../message/message.js';
import type { Flow } from '../transport/types.js';
import type {
  ClientTransaction,
  ClientTransactionHandler,
  ClientTransactionState,
  ServerTransaction,
  ServerTransactionState,
} from '../transaction/types.js';

let serial = 0;

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

  constructor(
    readonly request: SipRequest,
    private readonly handler: ClientTransactionHandler,
  ) {
    this.id = `local:${++serial}`;
    this.flow = { id: this.id, protocol: 'TCP', local: { address: 'local', port: 0 }, remote: { address: 'local', port: 0 } };
    this.isInvite = request.method === 'INVITE';
    this.serverState = this.isInvite ? 'proceeding' : 'trying';
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

  terminate(): void {
    this.onCancel?.();
    this.finish('terminated');
  }

  private finish(state: ServerTransactionState): void {
    this.serverState = state;
    const cbs = this.terminatedCbs;
    this.terminatedCbs = [];
    for (const cb of cbs) cb();
  }

  static isLocal(flow: Flow | undefined): boolean {
    return flow !== undefined && flow.id.startsWith('local:');
  }
}
