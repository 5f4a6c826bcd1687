/**
 * The I-CSCF (3GPP TS 24.229 §5.3): the home network's entry point. It picks the S-CSCF for a
 * REGISTER with the HSS's user authorization (UAR, §5.3.1.2) and finds the S-CSCF serving the
 * callee of any other request with a location query (LIR, §5.3.2.1). It does not stay in the
 * dialog.
 */
import { parseDigestCredentials, type Flow, type ProxyService, type RequestContext, type SipRequest } from '../../sip/index.js';
import { locate, type Hss } from '../hss.js';
import { derivedImpi, impuOf, type HomeDomain } from '../identity.js';

export interface IcscfOptions {
  readonly host: string;
  readonly hss: Hss;
  readonly home: HomeDomain;
  /** The S-CSCF to assign when the HSS has none (a one-entry S-CSCF list), e.g. `sip:scscf.example.com`. */
  readonly defaultScscf: string;
  /** Network peers whose requests it serves (a P-CSCF in another process); by default none. */
  readonly trusted?: TrustedPeer;
}

/**
 * Whether a request that came over the network (not from a service of this process) is from a
 * peer of the IMS core, whose asserted identities may be believed (TS 24.229 §4.4: the trust
 * domain). Requests from anyone else skip the edge's checks and are refused.
 */
export type TrustedPeer = (flow: Flow) => boolean;

export class IcscfService implements ProxyService {
  readonly hosts: readonly string[];

  constructor(private readonly opts: IcscfOptions) {
    this.hosts = [opts.host];
  }

  async onInitialRequest(ctx: RequestContext): Promise<void> {
    // Requests reach the I-CSCF from the edge or the S-CSCF of this process (or a trusted peer).
    // One sent to it straight from anywhere else would skip the edge's identity assertion and
    // carry whatever P-Asserted-Identity its sender wrote.
    if (ctx.flow && !this.opts.trusted?.(ctx.flow)) return ctx.respond(403, 'Forbidden - not a trusted peer');
    ctx.defer();
    if (ctx.request.method === 'REGISTER') return this.register(ctx);
    return this.terminating(ctx);
  }

  private async register(ctx: RequestContext): Promise<void> {
    const req = ctx.request;
    const impu = impuOf(req.to.uri);
    if (!impu || !this.opts.home.isHome(req.to.uri)) return ctx.respond(403, 'Forbidden - not a home domain identity');
    const uaa = await this.opts.hss.userAuthorization(privateIdentityOf(req, impu), impu);
    if (!uaa.ok) return ctx.respond(403, uaa.reason === 'barred' ? 'Forbidden - barred identity' : 'Forbidden');
    ctx.forward({ routes: [routeTo(uaa.scscf ?? this.opts.defaultScscf)] }, { recordRoute: false });
  }

  private async terminating(ctx: RequestContext): Promise<void> {
    const where = await locate(this.opts.hss, this.opts.home, ctx.request.uri);
    if (!where) return ctx.respond(404, 'Not Found');
    // TS 24.229 §5.3.2.1: with no S-CSCF and no services for unregistered users, 480.
    if (where.state === 'NOT_REGISTERED' || !where.scscf) return ctx.respond(480, 'Temporarily Unavailable');
    ctx.forward({ routes: [routeTo(where.scscf)] }, { recordRoute: false });
  }
}

/**
 * The private identity a REGISTER is for: the Digest username when the client sent one, else
 * derived from the public identity (TS 33.203 §7.2A.1 / TS 24.229 §5.1.1.2.1).
 */
export function privateIdentityOf(req: SipRequest, impu: string): string {
  for (const v of req.getAll('authorization')) {
    const creds = parseDigestCredentials(v);
    if (creds?.username) return creds.username;
  }
  return derivedImpi(impu);
}

const ANGLE_BRACKETS = /^<|>$/g;

/** A loose Route value addressing a server URI. */
export function routeTo(server: string): string {
  return `<${server.replace(ANGLE_BRACKETS, '')};lr>`;
}
