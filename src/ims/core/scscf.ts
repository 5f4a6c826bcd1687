/**
 * The S-CSCF (3GPP TS 24.229 §5.4): registrar for its users, and router of their requests in
 * the originating session case (reached by the Service-Route it handed out, whose user part is
 * `orig`) and the terminating one (reached from the I-CSCF), where a request is forked to every
 * live contact of the callee's implicit set over the stored Path (RFC 3327).
 */
import { parseUri, type ProxyService, type RequestContext, type Uri } from '../../sip/index.js';
import type { RegistrationStore } from '../../storage/index.js';
import { locate, type Hss, type LocationInfo } from '../hss.js';
import type { HomeDomain } from '../identity.js';
import { gruuInstance, isInstance, liveTargets } from './bindings.js';
import { routeTo } from './icscf.js';
import type { Registrar } from './registrar.js';

/** The part of the reg-event notifier the S-CSCF hands SUBSCRIBEs to. */
export interface RegEventHandler {
  handleSubscribe(ctx: RequestContext): Promise<void>;
  handleInDialog(ctx: RequestContext): Promise<void>;
}

export interface ScscfOptions {
  readonly host: string;
  readonly home: HomeDomain;
  readonly hss: Hss;
  readonly registrations: RegistrationStore;
  readonly registrar: Registrar;
  /** Where terminating requests for home users go: the I-CSCF, e.g. `sip:icscf.example.com`. */
  readonly icscf: string;
  /**
   * This S-CSCF's name as the HSS records it (`sip:scscf.example.com`): a callee registered here
   * is served terminating at once, without the round trip through the I-CSCF.
   */
  readonly name?: string;
  readonly regEvent?: RegEventHandler;
  /** Wall clock, ms. */
  readonly now?: () => number;
}

/** The user part of the Service-Route that marks the originating session case. */
export const ORIG_USER = 'orig';

export class ScscfService implements ProxyService {
  readonly hosts: readonly string[];
  private readonly now: () => number;

  constructor(private readonly opts: ScscfOptions) {
    this.hosts = [opts.host];
    this.now = opts.now ?? Date.now;
  }

  onInitialRequest(ctx: RequestContext): Promise<void> | void {
    const req = ctx.request;
    if (req.method === 'REGISTER') return this.opts.registrar.register(ctx);
    if (req.method === 'SUBSCRIBE' && this.opts.regEvent && isRegEvent(req.get('event'))) return this.opts.regEvent.handleSubscribe(ctx);
    if (isOriginating(ctx.consumedRoutes, this.opts.host)) return this.originating(ctx);
    return this.terminating(ctx);
  }

  onInDialogRequest(ctx: RequestContext): Promise<void> | void {
    const req = ctx.request;
    if (this.opts.regEvent && req.method === 'SUBSCRIBE' && isRegEvent(req.get('event'))) return this.opts.regEvent.handleInDialog(ctx);
    ctx.forward();
  }

  /**
   * TS 24.229 §5.4.3.2: the served user is the asserted identity the edge put in; a barred one
   * may not originate. A home-domain callee goes to the I-CSCF for its terminating S-CSCF.
   */
  private async originating(ctx: RequestContext): Promise<void> {
    ctx.defer();
    const req = ctx.request;
    const pai = req.has('p-asserted-identity') ? req.nameAddrs('p-asserted-identity')[0] : undefined;
    if (!pai) return ctx.respond(403, 'Forbidden - no asserted identity');
    const served = await this.firstKnown(pai.uri);
    if (!served) return ctx.respond(403, 'Forbidden - unknown served user');
    if (served.barred) return ctx.respond(403, 'Forbidden - barred identity');
    if (!this.opts.home.isHome(req.uri)) return ctx.forward({}, { recordRoute: false });
    if (this.opts.name !== undefined) {
      // The I-CSCF would ask the HSS where the callee is served (LIR) and route back here.
      const callee = await this.firstKnown(req.uri);
      if (callee?.state === 'REGISTERED' && callee.scscf === this.opts.name) return this.serveCallee(ctx, callee);
    }
    ctx.forward({ routes: [routeTo(this.opts.icscf)] }, { recordRoute: false });
  }

  /** TS 24.229 §5.4.3.3: fork to the callee's live contacts, 480 when it has none. */
  private async terminating(ctx: RequestContext): Promise<void> {
    ctx.defer();
    const callee = await this.firstKnown(ctx.request.uri);
    if (!callee) return ctx.respond(404, 'Not Found');
    return this.serveCallee(ctx, callee);
  }

  /**
   * Forks to the callee's live contacts; a Request-URI that is a public GRUU (RFC 5627 §5.5)
   * reaches only the contacts of its instance, the most recently refreshed first (RFC 5626 §5.3),
   * and gets 480 when that instance has none.
   */
  private async serveCallee(ctx: RequestContext, callee: LocationInfo): Promise<void> {
    const record = await this.opts.registrations.get(callee.defaultImpu);
    let targets = liveTargets(record?.bindings ?? [], this.now());
    const instance = gruuInstance(ctx.request.uri);
    if (instance === null) return ctx.respond(404, 'Not Found - unknown GRUU');
    if (instance !== undefined) targets = targets.filter((b) => isInstance(b, instance)).sort((a, b) => b.expiresAt - a.expiresAt);
    if (!targets.length) return ctx.respond(480, 'Temporarily Unavailable');
    ctx.forward(
      targets.map((b) => ({ uri: parseUri(b.contact), routes: [...b.path] })),
      { recordRoute: false, ...(instance !== undefined ? { mode: 'sequential' as const } : {}) },
    );
  }

  private firstKnown(uri: Uri): Promise<LocationInfo | undefined> {
    return locate(this.opts.hss, this.opts.home, uri);
  }
}

function isOriginating(consumed: readonly Uri[], host: string): boolean {
  const h = host.toLowerCase();
  return consumed.some((u) => u.kind === 'sip' && u.user === ORIG_USER && u.host.toLowerCase() === h);
}

function isRegEvent(event: string | undefined): boolean {
  if (!event) return false;
  const semi = event.indexOf(';');
  return (semi < 0 ? event : event.slice(0, semi)).trim().toLowerCase() === 'reg';
}
