import { makeRequest, makeResponse, newTag } from '../message/build.js';
import type { SipRequest, SipResponse } from '../message/message.js';
import type { Uri } from '../message/uri.js';
import { SipParseError } from '../message/errors.js';
import { lowerAscii } from '../message/chars.js';
import { BRANCH_COOKIE, Via } from '../message/via.js';
import { systemClock, type Clock } from '../clock.js';
import type {
  Admission,
  ClientTransaction,
  ClientTransactionHandler,
  ServerTransaction,
  TransactionLayer,
  TransactionUser,
} from '../transaction/types.js';
import type { Flow, TransportProtocol } from '../transport/types.js';
import { ServiceRequestContext } from './context.js';
import { NextHops, type NextHopHandler, type OnAttempt } from './failover.js';
import { TargetHealth } from './health.js';
import { LocalHop } from './local.js';
import { PROCESS_TOKEN, routeUri } from './proxy-transaction.js';
import type { ForwardTarget, ProxyService } from './service.js';
import { numericTarget, uriProtocol, viaTarget, type TargetResolver } from './targets.js';

/** One address this proxy listens on, as written into Via and Record-Route. */
export interface ProxyListener {
  protocol: TransportProtocol;
  host: string;
  port: number;
}

export interface ProxyCoreOptions {
  transactions: TransactionLayer;
  /** Defaults to the system clock. */
  clock?: Clock;
  listeners: ProxyListener[];
  /** Other host names (domains, service names) that address this proxy itself. */
  aliases?: string[];
  services?: ProxyService[];
  /** The service for requests addressed to no service host (e.g. static routing). */
  defaultService?: ProxyService;
  /** Record-Route dialog-creating requests (§16.6 step 4); default true. */
  recordRoute?: boolean;
  /** Timer C for INVITE branches in ms (§16.6 step 11, > 3 minutes); default 180 s. */
  timerC?: number;
  /** Resolves host names (RFC 3263); IP addresses never need it. */
  resolve?: TargetResolver;
  /**
   * When a host name resolves to several targets, how long an attempt may go without any response
   * (not even 100 Trying) before the request moves to the next target (RFC 3263 §4.3); default
   * 1000 ms. A transport error or a 503 moves it at once.
   */
  failoverTimeoutMs?: number;
  /**
   * Which resolved targets failed lately; they are tried after the others. Default a table of
   * the core's own with a 30 s quarantine; pass the table given to `peerSetResolver` so that its
   * round robin also passes over them.
   */
  health?: TargetHealth;
  /** Finds a flow by id, to learn its protocol when a target names a flow. */
  lookupFlow?: (flowId: string) => Flow | undefined;
  /**
   * The flow a request must leave on, from the Route values this proxy consumed: an edge proxy
   * puts a flow token in its Record-Route and Path entries (RFC 5626 §5.3), and a dialog's ACKs
   * and the requests this process originates go back over that flow. `arrival` is the flow the
   * request came in on (undefined for one made here); a flow equal to it is never the answer.
   */
  flowOfRoutes?: (consumed: readonly Uri[], arrival: Flow | undefined) => string | undefined;
  /** Extensions this proxy supports, for Proxy-Require (§16.3 step 5). */
  supported?: string[];
  /**
   * Answer 100 Trying at once to every request (not only INVITE) arriving over a reliable
   * transport from the network. RFC 4320 §4.1 allows it there (no retransmission to absorb), and
   * it tells an upstream proxy failing over on silence (a cluster edge) that this node has the
   * request, so a slow lookup does not get the request processed twice.
   */
  tryingForReliableNonInvite?: boolean;
  /**
   * Admission of new work: asked for each initial request that arrives from the network (not
   * ACK, CANCEL, in-dialog requests or hops between services of this process, whose work is
   * already admitted). A refusal is answered 503 Service Unavailable with Retry-After
   * (RFC 3261 §21.5.4), before any service sees the request: overload control, and a node that
   * is draining before it stops.
   */
  admit?: (request: SipRequest, consumed: readonly Uri[]) => Admission;
  onError?: (error: unknown) => void;
}

/** The answer of {@link ProxyCoreOptions.admit} (defined with the transaction layer, whose `admit` answers the same). */
export type { Admission };

const DIALOG_CREATING = new Set(['INVITE', 'SUBSCRIBE', 'REFER', 'NOTIFY']);

/**
 * The stateful proxy core (RFC 3261 §16) and the host of the services built on it: it validates
 * requests (§16.3), pre-processes Route (§16.4), hands each request to the service its Route or
 * Request-URI addresses, and forwards, forks and answers for them.
 */
export class ProxyCore implements TransactionUser {
  readonly clock: Clock;
  readonly recordRoute: boolean;
  readonly timerC: number;
  readonly health: TargetHealth;
  private readonly tx: TransactionLayer;
  private readonly nextHops: NextHops;
  private readonly byProtocol = new Map<TransportProtocol, ProxyListener>();
  private readonly localHosts = new Set<string>();
  private readonly serviceByHost = new Map<string, ProxyService>();
  /**
   * The context of each INVITE's server transaction until its final response, for CANCEL. A
   * WeakMap, not a Map: a handful of INVITEs are in flight at a time, so a Map's table would grow
   * and shrink with nearly every call, and V8 links each table it replaces to the next one (for
   * iterators), so that once a table has lived long enough to be promoted, the chain behind it
   * kept every later call's contexts through the young generation's collections until the next
   * full one: 14 KB per call promoted with four in-process hops, 26 KB with eight
   * (`HOPS=n tsx bench/proxy-inproc.bench.ts`).
   */
  private readonly contexts = new WeakMap<ServerTransaction, ServiceRequestContext>();
  private readonly supported: Set<string>;
  private dialogSerial = 0;

  constructor(private readonly opts: ProxyCoreOptions) {
    this.tx = opts.transactions;
    this.clock = opts.clock ?? systemClock;
    this.recordRoute = opts.recordRoute ?? true;
    this.timerC = opts.timerC ?? 180_000;
    this.supported = new Set(opts.supported ?? []);
    this.health = opts.health ?? new TargetHealth({ clock: this.clock });
    this.nextHops = new NextHops({
      transactions: this.tx,
      clock: this.clock,
      health: this.health,
      timeoutMs: opts.failoverTimeoutMs ?? 1000,
      via: (protocol, branch) => this.viaFor(protocol, branch),
      sendCancel: (request, tx) => this.sendCancel(request, tx),
      onError: (e) => this.reportError(e),
    });
    for (const l of opts.listeners) {
      if (!this.byProtocol.has(l.protocol)) this.byProtocol.set(l.protocol, l);
      this.localHosts.add(`${l.host.toLowerCase()}:${l.port}`);
    }
    for (const a of opts.aliases ?? []) this.localHosts.add(a.toLowerCase());
    for (const s of opts.services ?? []) for (const h of s.hosts) this.serviceByHost.set(h.toLowerCase(), s);
  }

  reportError(e: unknown): void {
    this.opts.onError?.(e);
  }

  /** True when `uri` addresses this proxy: one of its listeners, aliases or service hosts. */
  isLocal(uri: Uri): boolean {
    if (uri.kind !== 'sip') return false;
    const host = lowerAscii(uri.host);
    if (this.serviceByHost.has(host) || this.localHosts.has(host)) return true;
    if (uri.port === null) {
      const dflt = uri.scheme === 'sips' || uri.transport === 'tls' ? 5061 : 5060;
      return this.localHosts.has(`${host}:${dflt}`);
    }
    return this.localHosts.has(`${host}:${uri.port}`);
  }

  private isServiceHost(uri: Uri): boolean {
    return uri.kind === 'sip' && this.serviceByHost.has(lowerAscii(uri.host));
  }

  // ---- TransactionUser ---------------------------------------------------------------------

  onRequest(server: ServerTransaction): void {
    try {
      this.dispatch(server);
    } catch (e) {
      if (!(e instanceof SipParseError)) this.reportError(e);
      if (server.state !== 'terminated') server.respond(failureResponse(server.request, e, newTag()));
    }
  }

  onAck(ack: SipRequest, flow: Flow): void {
    try {
      const { request, consumed } = this.preprocessRoute(ack);
      const flowId = consumed.length ? this.opts.flowOfRoutes?.(consumed, flow) : undefined;
      const fwd = this.prepareForward(request, flowId ? { flowId } : {}, false, `${BRANCH_COOKIE}${ackBranch(request)}`);
      const hop = flowId ? undefined : this.nextHopUri(fwd);
      const target = flowId ? { flowId } : hop && numericTarget(hop);
      if (target) void this.tx.sendStateless(fwd, target).catch((e: unknown) => this.reportError(e));
      else if (hop && this.opts.resolve && hop.kind === 'sip') {
        void this.opts.resolve(hop).then((t) => (t.length ? this.tx.sendStateless(fwd, this.health.order(t)[0]!) : undefined)).catch((e: unknown) => this.reportError(e));
      }
    } catch (e) {
      this.reportError(e);
    }
  }

  onStrayResponse(response: SipResponse, _flow: Flow): void {
    try {
      const top = response.topVia;
      if (top && this.isOwnVia(top)) this.relayResponse(response);
    } catch (e) {
      this.reportError(e);
    }
  }

  /**
   * Forwards a response statelessly by its Via (§16.7 step 3 and §18.2.2 without a
   * transaction; RFC 6026 §8.4 for a 2xx retransmission): every Via of this process on top
   * comes off, since each hop between services here put one on, and it goes where the first
   * other Via says (its received and rport, RFC 3581).
   */
  relayResponse(response: SipResponse): void {
    try {
      let top = response.topVia;
      while (top && this.isOwnVia(top)) {
        response.popVia();
        top = response.topVia;
      }
      const target = top && viaTarget(top);
      if (target) void this.tx.sendStateless(response, target).catch((e: unknown) => this.reportError(e));
    } catch (e) {
      this.reportError(e);
    }
  }

  // ---- request handling ----------------------------------------------------------------------

  private dispatch(server: ServerTransaction): void {
    const req = server.request;
    if (req.method === 'CANCEL') return this.onCancel(server);
    const reject = this.validate(req);
    if (reject) return server.respond(reject);
    const { request, consumed } = this.preprocessRoute(req);
    const inDialog = request.to.tag !== undefined;
    // §16.3 step 4: loops are detected on requests outside a dialog; one inside a dialog follows
    // its Route set, and its branch needs only to be unique.
    const hash = inDialog ? `d${PROCESS_TOKEN}${(++this.dialogSerial).toString(36)}` : loopHash(req);
    // A hop between services of this process is bounded by Max-Forwards; reading every Via of a
    // request that has crossed several services, on every such hop, is what loop checks cost.
    if (!inDialog && !LocalHop.isLocal(server.flow) && this.isLoop(req, hash)) return server.respond(makeResponse(req, 482, undefined, newTag()));
    if (!inDialog && this.opts.admit && !LocalHop.isLocal(server.flow)) {
      const admission = this.opts.admit(request, consumed);
      if (!admission.ok) return server.respond(unavailable(req, admission));
    }
    const addressed = this.addressedService(request, consumed);
    const ctx = new ServiceRequestContext(this, server, request, addressed.host, consumed, addressed.service, hash);
    // A CANCEL can come while the service is still deciding (a lookup in flight): it must find
    // the request from now on, not only once forwarded (§16.10).
    if (request.method === 'INVITE') this.track(server, ctx);
    if (!LocalHop.isLocal(server.flow)) {
      if (request.method === 'INVITE') server.respond(makeResponse(req, 100));
      else if (this.opts.tryingForReliableNonInvite && server.flow.protocol !== 'UDP' && request.method !== 'ACK') server.respond(makeResponse(req, 100));
    }
    const done = this.runService(ctx, addressed.service, inDialog);
    if (done instanceof Promise) done.catch((e: unknown) => this.serviceFailed(ctx, e));
  }

  private runService(ctx: ServiceRequestContext, service: ProxyService | undefined, inDialog: boolean): void | Promise<void> {
    if (!service) return this.defaultRoute(ctx, inDialog);
    if (inDialog) return service.onInDialogRequest ? service.onInDialogRequest(ctx) : ctx.forward();
    return service.onInitialRequest(ctx);
  }

  private serviceFailed(ctx: ServiceRequestContext, e: unknown): void {
    if (!(e instanceof SipParseError)) this.reportError(e);
    if (!ctx.settled) ctx.respondWith(failureResponse(ctx.request, e, ctx.toTag));
  }

  private defaultRoute(ctx: ServiceRequestContext, inDialog: boolean): void {
    const r = ctx.request;
    if (!r.has('route') && this.isLocal(r.uri) && !this.isServiceHost(r.uri)) {
      // Addressed to this proxy itself, which is no user agent (§16.4).
      if (inDialog) return ctx.respond(481);
      return r.method === 'OPTIONS' ? ctx.respond(200) : ctx.respond(404);
    }
    ctx.forward();
  }

  /** §16.3 steps 1-6: scheme, Max-Forwards, Proxy-Require. Loop detection is separate. */
  private validate(req: SipRequest): SipResponse | undefined {
    const kind = req.uri.kind;
    if (kind === 'absolute') return makeResponse(req, 416, undefined, newTag());
    if (req.maxForwards === 0) return makeResponse(req, 483, undefined, newTag());
    const pr = req.getAll('proxy-require').filter((o) => o && !this.supported.has(o));
    if (pr.length) {
      const res = makeResponse(req, 420, undefined, newTag());
      res.append('unsupported', pr.join(', '));
      return res;
    }
    return undefined;
  }

  /** §16.3 step 4: the request carries our Via with the branch we would compute again. */
  private isLoop(req: SipRequest, hash: string): boolean {
    const prefix = `${BRANCH_COOKIE}${hash}.`;
    for (const v of req.vias) if (v.branch?.startsWith(prefix) && this.isOwnVia(v)) return true;
    return false;
  }

  private isOwnVia(v: Via): boolean {
    return this.localHosts.has(`${lowerAscii(v.host)}:${v.port ?? 5060}`);
  }

  /**
   * §16.4: undo a strict router's rewrite (our Record-Route value in the Request-URI) and remove
   * the Route values that address this proxy. Works on a copy; returns what was removed.
   */
  private preprocessRoute(req: SipRequest): { request: SipRequest; consumed: Uri[] } {
    const consumed: Uri[] = [];
    let request = req;
    const uri = req.uri;
    if (uri.kind === 'sip' && uri.params.has('lr') && this.isLocal(uri) && req.has('route')) {
      request = req.clone();
      const routes = request.getAll('route');
      const last = routes.pop()!;
      request.remove('route');
      for (const r of routes) request.append('route', r);
      consumed.push(uri);
      request.uri = routeUri(last);
    }
    for (;;) {
      const top = request.topRoute;
      if (!top || !this.isLocal(top.uri)) break;
      if (request === req) request = req.clone();
      consumed.push(top.uri);
      request.popFirstValue('route');
    }
    return { request, consumed };
  }

  private addressedService(req: SipRequest, consumed: Uri[]): { service: ProxyService | undefined; host: string } {
    for (const u of consumed) {
      if (u.kind !== 'sip') continue;
      const s = this.serviceByHost.get(lowerAscii(u.host));
      if (s) return { service: s, host: u.host };
    }
    const uri = req.uri;
    if (uri.kind === 'sip' && !req.has('route')) {
      const s = this.serviceByHost.get(lowerAscii(uri.host));
      if (s) return { service: s, host: uri.host };
    }
    return { service: this.opts.defaultService, host: '' };
  }

  private onCancel(server: ServerTransaction): void {
    const invite = this.tx.findInviteForCancel(server.request);
    if (!invite) return server.respond(makeResponse(server.request, 481, undefined, newTag()));
    const ctx = this.contexts.get(invite);
    // §16.10: a CANCEL matching a transaction is answered 200 even when the INVITE already has its
    // final response (then there is nothing left to cancel).
    server.respond(makeResponse(server.request, 200, undefined, ctx ? ctx.toTag : newTag()));
    ctx?.cancelled();
  }

  /** Remembers the context of an INVITE's server transaction until its final response (for CANCEL). */
  track(server: ServerTransaction, ctx: ServiceRequestContext): void {
    const known = this.contexts.get(server);
    if (known === ctx) return;
    if (known !== undefined) server.offTerminated(known.forget);
    this.contexts.set(server, ctx);
    server.onTerminated(ctx.forget);
  }

  /** Forgets the context of `server` (its proxy transaction is done), and the callback that would have. */
  untrack(server: ServerTransaction): void {
    const ctx = this.contexts.get(server);
    if (ctx === undefined) return;
    this.contexts.delete(server);
    server.offTerminated(ctx.forget);
  }

  /** Called by a context's {@link ServiceRequestContext.forget}: its server transaction terminated. */
  forgetContext(server: ServerTransaction, ctx: ServiceRequestContext): void {
    if (this.contexts.get(server) === ctx) this.contexts.delete(server);
  }

  /**
   * The handler of a proxy transaction's client transactions once it has its final response and
   * has let go of everything (ProxyTransaction.maybeRelease): a 2xx retransmission is forwarded
   * statelessly by its Via (RFC 6026 §8.4), anything else was already answered. One for the core.
   */
  readonly afterRelease: ClientTransactionHandler = {
    onResponse: (response) => {
      if (response.status >= 200 && response.status < 300) this.relayResponse(response);
    },
    onTimeout() {},
    onTransportError() {},
  };

  // ---- forwarding ------------------------------------------------------------------------------

  /** §16.6 steps 1-8: the copy of the request to send to one target. */
  prepareForward(
    original: SipRequest,
    target: ForwardTarget,
    recordRoute: boolean,
    branch: string,
    inbound?: TransportProtocol,
    recordRouteUser?: string,
  ): SipRequest {
    const req = original.clone();
    if (target.uri) req.uri = target.uri;
    if (target.routes?.length) {
      const existing = req.getAll('route');
      req.remove('route');
      for (const r of [...target.routes.map((u) => (u.startsWith('<') ? u : `<${u}>`)), ...existing]) req.append('route', r);
    }
    if (target.headers) for (const [n, v] of target.headers) req.append(n, v);
    const mf = req.maxForwards;
    req.set('max-forwards', String(mf === undefined ? 70 : mf - 1));
    const protocol = this.outboundProtocol(req, target);
    if (recordRoute && DIALOG_CREATING.has(req.method) && req.to.tag === undefined) this.addRecordRoute(req, this.listenerFor(protocol), inbound, recordRouteUser);
    req.pushVia(this.viaFor(protocol, branch));
    return req;
  }

  /** This proxy's Via for a request it sends over `protocol` (§16.6 step 8; rport on UDP, RFC 3581). */
  private viaFor(protocol: TransportProtocol, branch: string): Via {
    const out = this.listenerFor(protocol);
    const via = new Via(protocol, out.host, out.port);
    via.params.set('branch', branch.startsWith(BRANCH_COOKIE) ? branch : `${BRANCH_COOKIE}${branch}`);
    if (protocol === 'UDP') via.params.set('rport');
    return via;
  }

  /**
   * Record-Route (§16.6 step 4); when the request changes transport on its way through, two
   * entries, the inbound side's below the outbound side's, so each side reaches this proxy over
   * its own transport (RFC 5658 §4).
   */
  private addRecordRoute(req: SipRequest, out: ProxyListener, inbound?: TransportProtocol, user?: string): void {
    if (inbound !== undefined && inbound !== out.protocol) {
      const inListener = this.byProtocol.get(inbound);
      if (inListener) req.prepend('record-route', `<${listenerUri(inListener, user)}>`);
    }
    req.prepend('record-route', `<${listenerUri(out, user)}>`);
  }

  private listenerFor(protocol: TransportProtocol): ProxyListener {
    const l = this.byProtocol.get(protocol) ?? this.opts.listeners[0];
    if (!l) throw new Error('the proxy has no listener');
    return l;
  }

  private outboundProtocol(req: SipRequest, target: ForwardTarget): TransportProtocol {
    if (target.flowId) {
      const flow = this.opts.lookupFlow?.(target.flowId);
      if (flow) return flow.protocol;
    }
    const hop = this.nextHopUri(req);
    return (hop?.kind === 'sip' && uriProtocol(hop)) || 'UDP';
  }

  /** The URI that decides the next hop: the top Route (loose routing, §16.6 step 6), else the Request-URI. */
  nextHopUri(req: SipRequest): Uri | undefined {
    return req.topRoute?.uri ?? req.uri;
  }

  /**
   * Sends a prepared request statefully, over a socket or to a service in this process. A host
   * name is resolved, and the request fails over across its targets (see {@link NextHops}):
   * `onTx` is told of each client transaction it goes out in.
   */
  send(req: SipRequest, target: ForwardTarget, handler: NextHopHandler, onTx: OnAttempt): void {
    if (target.flowId) return onTx(this.tx.sendRequest(req, { flowId: target.flowId }, handler), req);
    const hop = this.nextHopUri(req);
    if (!hop || hop.kind !== 'sip') return handler.failBranchStart(undefined, 416, 'Unsupported URI Scheme');
    if (this.isLocal(hop)) {
      if (this.isServiceHost(hop)) return onTx(this.localHop(req, handler), req);
      return handler.failBranchStart(undefined, 482, 'Loop Detected');
    }
    const direct = numericTarget(hop);
    if (direct) return onTx(this.tx.sendRequest(req, direct, handler), req);
    if (!this.opts.resolve) return handler.failBranchStart(undefined, 503, 'No route to host');
    this.opts.resolve(hop).then(
      (targets) => this.nextHops.send(req, uriProtocol(hop) ?? 'UDP', targets, handler, onTx),
      (e: unknown) => {
        this.reportError(e);
        handler.failBranchStart(undefined, 503, 'Next hop not resolvable');
      },
    );
  }

  /**
   * Sends a request this process makes itself (a NOTIFY, a third-party REGISTER): Route values
   * addressing this proxy are consumed, a Via is added, and it goes to a service in this process,
   * over the flow given or found by `flowOfRoutes`, or to the next hop. Exactly one final
   * response reaches `onResponse`: received, or made here (408 timeout, 503 unreachable).
   */
  originate(request: SipRequest, onResponse: (response: SipResponse) => void, flowId?: string): void {
    const { request: req, consumed } = this.preprocessRoute(request);
    const flow = flowId ?? (consumed.length ? this.opts.flowOfRoutes?.(consumed, undefined) : undefined);
    const target: ForwardTarget = flow ? { flowId: flow } : {};
    const branch = `${PROCESS_TOKEN}o${(++this.dialogSerial).toString(36)}`;
    const out = this.prepareForward(req, target, false, branch);
    let done = false;
    const finish = (res: SipResponse): void => {
      if (done || res.status < 200) return;
      done = true;
      try {
        onResponse(res);
      } catch (e) {
        this.reportError(e);
      }
    };
    const made = (status: number, reason?: string): void => finish(makeResponse(out, status, reason));
    const handler = {
      onResponse: (res: SipResponse): void => {
        res.popVia();
        finish(res);
      },
      onTimeout: () => made(408),
      onTransportError: () => made(503, 'Next hop unreachable'),
      failBranchStart: (_tx: ClientTransaction | undefined, status: number, reason: string) => made(status, reason),
    };
    this.send(out, target, handler, () => {});
  }

  private localHop(req: SipRequest, handler: ClientTransactionHandler): ClientTransaction {
    const hop = new LocalHop(req, handler);
    hop.onCancel = () => this.contexts.get(hop)?.cancelled();
    queueMicrotask(() => this.onRequest(hop));
    return hop;
  }

  /** §9.1: a CANCEL for a branch, sent where the INVITE went. */
  sendCancel(branchRequest: SipRequest, branchTx: ClientTransaction): void {
    if (branchTx instanceof LocalHop) return this.contexts.get(branchTx)?.cancelled();
    const top = branchRequest.topVia!;
    const headers: Array<[string, string]> = [
      ['Via', top.toString()],
      ['Max-Forwards', '70'],
      ['From', branchRequest.get('from')!],
      ['To', branchRequest.get('to')!],
      ['Call-ID', branchRequest.callId],
      ['CSeq', `${branchRequest.cseq.seq} CANCEL`],
    ];
    for (const r of branchRequest.getAll('route')) headers.push(['Route', r]);
    const cancel = makeRequest('CANCEL', branchRequest.uriString, headers);
    const flow = branchTx.flow;
    if (!flow) return;
    this.tx.sendRequest(cancel, { flowId: flow.id }, IGNORE_RESPONSES);
  }
}

/**
 * The answer to a request whose handling threw: a header the service needed was malformed
 * (a 400 saying which, RFC 3261 §21.4.1); an error that names its SIP status (`sipStatus`: a
 * store or HSS unreachable, 503 with Retry-After; timed out, 504); anything else, 500.
 */
function failureResponse(req: SipRequest, e: unknown, toTag: string): SipResponse {
  if (e instanceof SipParseError) return makeResponse(req, e.status, `${e.status === 400 ? 'Bad Request - ' : ''}${e.reasonPhrase}`, toTag);
  const status = (e as { sipStatus?: unknown } | null)?.sipStatus;
  if (status === 503) {
    // A store or server this service needs is gone for now (RFC 3261 §21.5.4): come back later.
    const res = makeResponse(req, 503, 'Service Unavailable - a store it needs is unreachable', toTag);
    res.append('retry-after', String(UNAVAILABLE_RETRY_AFTER_SECONDS));
    return res;
  }
  if (status === 504) return makeResponse(req, 504, 'Server Time-out', toTag);
  return makeResponse(req, 500, 'Server Internal Error', toTag);
}

/** Retry-After of a 503 for a store that is unreachable: stores restart within seconds. */
const UNAVAILABLE_RETRY_AFTER_SECONDS = 2;

const IGNORE_RESPONSES: ClientTransactionHandler = {
  onResponse() {},
  onTimeout() {},
  onTransportError() {},
};

/** The URI of a listener as written into Record-Route and Path. */
export function listenerUri(l: ProxyListener, user?: string): string {
  const host = l.host.includes(':') && !l.host.startsWith('[') ? `[${l.host}]` : l.host;
  const transport = l.protocol === 'UDP' ? '' : `;transport=${l.protocol.toLowerCase()}`;
  return `sip:${user ? `${user}@` : ''}${host}:${l.port}${transport};lr`;
}

/**
 * The loop-detection part of a branch (§16.6 step 8): a hash of the fields a spiral changes but a
 * loop does not: Request-URI, From and To tags, Call-ID, CSeq number, Route and Proxy-Require.
 */
export function loopHash(req: SipRequest): string {
  let h = fnv1a(0x811c9dc5, req.uriString);
  h = fnv1a(h, req.from.tag ?? '');
  h = fnv1a(h, req.to.tag ?? '');
  h = fnv1a(h, req.callId);
  h = Math.imul(h ^ req.cseq.seq, 0x01000193);
  for (const line of req.headers) if (line.name === 'route') h = fnv1a(h, line.value);
  // 31 bits: a small integer, which V8 turns into text in a fast path (a full 32-bit value is a
  // heap number, converted by a runtime call five times dearer).
  return (h >>> 1).toString(36);
}

/**
 * The branch of a forwarded 2xx ACK: derived from the ACK's own top Via branch, so a retransmitted
 * ACK gets the same branch (a stateless forward must be deterministic, §16.11).
 */
function ackBranch(ack: SipRequest): string {
  return `${(fnv1a(0x811c9dc5, ack.topVia?.branch ?? ack.callId) >>> 0).toString(36)}.a`;
}

/** FNV-1a over a string's char codes, then a separator, continuing from `h`. */
function fnv1a(h: number, s: string): number {
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return Math.imul(h ^ 0x7c, 0x01000193);
}

/** 503 with Retry-After for a request the node does not take now. */
function unavailable(req: SipRequest, refusal: Extract<Admission, { ok: false }>): SipResponse {
  const res = makeResponse(req, 503, refusal.reason ?? 'Service Unavailable', newTag());
  res.append('retry-after', String(Math.max(0, Math.round(refusal.retryAfterSeconds))));
  return res;
}
