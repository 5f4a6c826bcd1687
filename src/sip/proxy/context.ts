import { makeResponse, newTag } from '../message/build.js';
import type { SipRequest, SipResponse } from '../message/message.js';
import type { Uri } from '../message/uri.js';
import type { TimerHandle } from '../clock.js';
import type { ServerTransaction } from '../transaction/types.js';
import type { Flow } from '../transport/types.js';
import type { ProxyCore } from './core.js';
import { LocalHop } from './local.js';
import { ProxyTransaction } from './proxy-transaction.js';
import type { ForwardOptions, ForwardTarget, ProxyService, RequestContext } from './service.js';

/** The per-request object a service works with (see {@link RequestContext}). */
export class ServiceRequestContext implements RequestContext {
  private outcome: 'none' | 'deferred' | 'done' = 'none';
  /**
   * A CANCEL ended the request before the service chose an outcome (it was still looking
   * something up): 487 went to the caller, and whatever the service decides afterwards is dropped.
   */
  private cancelledFirst = false;
  /** The service's named timers, made with the first (most requests set none). */
  private timers: Map<string, TimerHandle> | undefined;
  proxyTx: ProxyTransaction | undefined;
  readonly flow: Flow | undefined;

  constructor(
    private readonly core: ProxyCore,
    readonly server: ServerTransaction,
    readonly request: SipRequest,
    readonly addressedAs: string,
    /** Route values this proxy removed because they addressed it (§16.4), top first. */
    readonly consumedRoutes: readonly Uri[],
    readonly service: ProxyService | undefined,
    private readonly loopHash: string,
  ) {
    this.flow = LocalHop.isLocal(server.flow) ? undefined : server.flow;
  }

  private tag: string | undefined;
  private forgetFn: (() => void) | undefined;

  /** Drops this context from the core once its server transaction terminates (see ProxyCore.track); made once. */
  get forget(): () => void {
    return (this.forgetFn ??= () => this.core.forgetContext(this.server, this));
  }

  /** The To tag of every response this proxy itself makes for the request (made when first needed). */
  get toTag(): string {
    return (this.tag ??= newTag());
  }

  get settled(): boolean {
    return this.outcome === 'done';
  }

  private settle(): void {
    if (this.outcome === 'done') throw new Error('this request already has an outcome (forward or respond)');
    this.outcome = 'done';
  }

  forward(targets: ForwardTarget | ForwardTarget[] = {}, options: ForwardOptions = {}): void {
    if (this.cancelledFirst) return;
    this.settle();
    const list = Array.isArray(targets) ? targets : [targets];
    this.proxyTx = new ProxyTransaction(this.core, this.server, this.request, this.service, this.loopHash, options, this);
    this.proxyTx.start(list, options);
  }

  respond(status: number, reason?: string, headers: Array<[string, string]> = [], body?: { type: string; data: Buffer | string }): void {
    const res = makeResponse(this.request, status, reason, status > 100 ? this.toTag : undefined);
    for (const [n, v] of headers) res.append(n, v);
    if (body) res.setBody(body.data, body.type);
    this.respondWith(res);
  }

  respondWith(response: SipResponse): void {
    if (this.cancelledFirst) return;
    if (response.status >= 200) this.settle();
    this.server.respond(response);
    if (response.status >= 200) {
      this.clearTimers();
      // Answered here: nothing left for a CANCEL to reach.
      if (!this.proxyTx) this.core.untrack(this.server);
    }
  }

  defer(): RequestContext {
    if (this.outcome === 'none') this.outcome = 'deferred';
    return this;
  }

  setTimer(name: string, ms: number, cb?: () => void): void {
    this.cancelTimer(name);
    const timers = (this.timers ??= new Map());
    timers.set(
      name,
      this.core.clock.setTimeout(() => {
        timers.delete(name);
        try {
          if (cb) cb();
          else this.service?.onTimer?.(this, name);
        } catch (e) {
          this.core.reportError(e);
        }
      }, ms),
    );
  }

  cancelTimer(name: string): void {
    const t = this.timers?.get(name);
    if (t) {
      this.core.clock.clearTimeout(t);
      this.timers!.delete(name);
    }
  }

  clearTimers(): void {
    if (this.timers === undefined) return;
    for (const t of this.timers.values()) this.core.clock.clearTimeout(t);
    this.timers.clear();
  }

  cancelBranches(): void {
    this.proxyTx?.cancelPending();
  }

  /** An upstream CANCEL arrived for this request (§16.10). */
  cancelled(): void {
    this.clearTimers();
    try {
      this.service?.onCancel?.(this);
    } catch (e) {
      this.core.reportError(e);
    }
    if (this.proxyTx) this.proxyTx.cancel();
    else if (this.outcome !== 'done') {
      this.outcome = 'done';
      this.cancelledFirst = true;
      this.server.respond(makeResponse(this.request, 487, undefined, this.toTag));
    }
  }
}
