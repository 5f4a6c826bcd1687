/**
 * The S-CSCF registrar (3GPP TS 24.229 §5.4.1, RFC 3261 §10.3): Digest authentication with the
 * HSS's credentials (MAR), server assignment (SAR), bindings of the whole implicit registration
 * set kept under its default identity, and the 200 with Contact, Path, Service-Route (RFC 3608)
 * and P-Associated-URI (RFC 7315 §4.1).
 */
import {
  computeHa1,
  digestAlgorithmInfo,
  parseDigestCredentials,
  type DigestCredentials,
  type DigestVerifier,
  type RequestContext,
  type SipRequest,
} from '../../sip/index.js';
import { updateRegistration, type Binding, type DigestHa1, type ImplicitSet, type RegistrationStore } from '../../storage/index.js';
import type { Hss } from '../hss.js';
import { derivedImpi, impuOf, type HomeDomain } from '../identity.js';
import { applyChanges, contactValues, registerIntent, type ExpiryLimits, type RegisterContext } from './bindings.js';

export type ChallengeAlgorithm = 'MD5' | 'SHA-256';

/** Why bindings of an implicit set changed, for reg-event (RFC 3680 §5.1). */
export type RegistrationChange = 'registered' | 'refreshed' | 'deregistered' | 'expired' | 'flow-failed';

/** Tells listeners (reg-event) the bindings of a set changed. */
export type RegistrationListener = (event: {
  readonly aor: string;
  readonly implicitSet: ImplicitSet | undefined;
  readonly bindings: readonly Binding[];
  readonly cause: RegistrationChange;
  /** The REGISTER that made the change and the identity its To named; absent for network-made changes. */
  readonly register?: { readonly request: SipRequest; readonly impu: string };
}) => void;

export interface RegistrarOptions {
  readonly home: HomeDomain;
  /** Digest realm; the home domain. */
  readonly realm: string;
  readonly hss: Hss;
  readonly registrations: RegistrationStore;
  readonly verifier: DigestVerifier;
  /** Challenge order (MD5 first: many clients take the first challenge they see). */
  readonly algorithms: readonly ChallengeAlgorithm[];
  readonly limits: ExpiryLimits;
  /** This S-CSCF's name as the HSS records it, e.g. `sip:scscf.example.com`. */
  readonly scscf: string;
  /** The Service-Route value given to registered users, e.g. `<sip:orig@scscf.example.com;lr>`. */
  readonly serviceRoute: string;
  /** The edge flow a Path names, stored with the binding so a failed flow removes it. */
  readonly flowOfPath?: (pathUris: readonly string[]) => string | undefined;
  readonly onChange?: RegistrationListener;
  /**
   * Short-lived passwords that also authenticate `impi` registering `impu` at `now` (the portal's
   * softphone tokens, src/portal/softphone-token.ts), tried only after the stored HA1 did not
   * match: the Digest exchange, nonce and nonce-count checks stay the same.
   */
  readonly tokenPasswords?: (impi: string, impu: string, now: number) => readonly string[];
  /** Wall clock, ms. */
  readonly now?: () => number;
}

export class Registrar {
  private readonly now: () => number;

  constructor(private readonly opts: RegistrarOptions) {
    this.now = opts.now ?? Date.now;
  }

  async register(ctx: RequestContext): Promise<void> {
    ctx.defer();
    const req = ctx.request;
    const impu = impuOf(req.to.uri);
    if (!impu || !this.opts.home.isHome(req.to.uri)) return ctx.respond(403, 'Forbidden - not a home domain identity');
    const creds = this.credentials(req);
    const impi = creds?.username ?? derivedImpi(impu);
    const av = await this.opts.hss.authVector(impi, impu);
    if (!av.ok) return ctx.respond(403, 'Forbidden');
    if (!creds) return this.challenge(ctx, av.digest, false);
    const verdict = await this.verify(req, creds, av.digest, impu);
    if (verdict === 'forbidden') return ctx.respond(403, 'Forbidden');
    if (verdict !== 'ok') return this.challenge(ctx, av.digest, verdict === 'stale');
    return this.bind(ctx, impu);
  }

  /** The Digest credentials for our realm (RFC 3261 §22.4), if any. */
  private credentials(req: SipRequest): DigestCredentials | undefined {
    for (const v of req.getAll('authorization')) {
      const c = parseDigestCredentials(v);
      if (c && c.realm === this.opts.realm) return c;
    }
    return undefined;
  }

  /** 401 with one challenge per configured algorithm the subscriber has an HA1 for (RFC 8760 §2.4). */
  private challenge(ctx: RequestContext, digest: readonly DigestHa1[], stale: boolean): void {
    const realm = this.opts.realm;
    const offered = this.opts.algorithms.filter((a) => digest.some((d) => d.algorithm === a && d.realm === realm));
    if (!offered.length) return ctx.respond(403, 'Forbidden - no credentials for this realm');
    const challenges = this.opts.verifier.challenges(offered.map((algorithm) => ({ realm, algorithm, stale, qop: 'auth' as const })));
    ctx.respond(401, 'Unauthorized', challenges.map((c): [string, string] => ['WWW-Authenticate', c]));
  }

  /**
   * 'ok'; 'forbidden' for a wrong password (TS 24.229 §5.4.1.2.2: 403); 'stale' for an expired
   * nonce with a correct digest; 'retry' (a fresh challenge) for anything else: an unknown
   * nonce, a replayed nonce-count, a missing directive. A response that does not match the
   * stored HA1 is checked against the HA1s of the IMPI's live softphone tokens, if any; the
   * verifier records a nonce-count only for a matching response, so these extra checks neither
   * burn counts nor let a replay through.
   */
  private async verify(req: SipRequest, creds: DigestCredentials, digest: readonly DigestHa1[], impu: string): Promise<'ok' | 'forbidden' | 'stale' | 'retry'> {
    const info = digestAlgorithmInfo(creds.algorithm ?? 'MD5');
    const stored = info && digest.find((d) => d.algorithm === info.hash && d.realm === this.opts.realm);
    if (!info || !stored || !this.opts.algorithms.includes(info.hash as ChallengeAlgorithm)) return 'retry';
    const check = (ha1: string) =>
      this.opts.verifier.verify({ credentials: creds, method: req.method, ha1, algorithm: stored.algorithm, realm: this.opts.realm, body: req.body });
    let result = await check(stored.ha1);
    if (!result.ok && result.reason === 'bad-response' && this.opts.tokenPasswords && creds.username !== undefined) {
      for (const token of this.opts.tokenPasswords(creds.username, impu, this.now())) {
        result = await check(computeHa1(info.hash, creds.username, this.opts.realm, token));
        if (result.ok || result.reason !== 'bad-response') break;
      }
    }
    if (result.ok) return 'ok';
    if (result.reason === 'bad-response') return 'forbidden';
    return result.reason === 'stale' ? 'stale' : 'retry';
  }

  /** RFC 3261 §10.3 steps 6-8 on the set's bindings, then SAR and the 200. */
  private async bind(ctx: RequestContext, impu: string): Promise<void> {
    const req = ctx.request;
    const intent = registerIntent(req, this.opts.limits);
    if (intent.kind === 'invalid') return ctx.respond(400, `Bad Request - ${intent.reason}`);
    if (intent.kind === 'too-brief') return ctx.respond(423, 'Interval Too Brief', [['Min-Expires', String(this.opts.limits.minExpires)]]);
    const where = await this.opts.hss.locationInfo(impu);
    if (!where) return ctx.respond(403, 'Forbidden');
    const aor = where.defaultImpu;
    const now = this.now();
    const regCtx = this.registerContext(req, ctx, now);
    let outOfOrder = false;
    let before = 0;
    const outcome = await updateRegistration(this.opts.registrations, aor, (current) => {
      outOfOrder = false;
      before = current ? current.bindings.filter((b) => b.expiresAt > now).length : 0;
      if (intent.kind === 'fetch') return undefined;
      if (intent.kind === 'remove-all') return current ? { bindings: [] } : undefined;
      const applied = applyChanges(current?.bindings ?? [], intent.changes, regCtx);
      if (!applied.ok) {
        outOfOrder = true;
        return undefined;
      }
      if (!current && applied.bindings.length === 0) return undefined;
      return { bindings: applied.bindings };
    });
    if (outOfOrder) return ctx.respond(500, 'Server Internal Error - REGISTER out of order', [['Retry-After', '1']]);
    if (outcome.status === 'contended') return ctx.respond(500, 'Server Internal Error - try again', [['Retry-After', '1']]);
    const bindings = (outcome.status === 'written' ? outcome.bindings : (outcome.record?.bindings ?? [])).filter((b) => b.expiresAt > now);
    const type = bindings.length === 0 ? 'USER_DEREGISTRATION' : before === 0 ? 'REGISTRATION' : 'RE_REGISTRATION';
    const assignment = bindings.length === 0 && before === 0 ? undefined : await this.opts.hss.serverAssignment(aor, type, this.opts.scscf);
    this.respondOk(ctx, bindings, assignment?.implicitSet, now, impu);
    if (outcome.status === 'written') {
      const cause = bindings.length === 0 ? 'deregistered' : before === 0 ? 'registered' : 'refreshed';
      this.opts.onChange?.({ aor, implicitSet: assignment?.implicitSet, bindings, cause, register: { request: req, impu } });
    }
  }

  private registerContext(req: SipRequest, ctx: RequestContext, now: number): RegisterContext {
    const path = req.has('path') ? req.nameAddrs('path').map((p) => p.uri.toString()) : [];
    const flowId = this.opts.flowOfPath?.(path) ?? ctx.flow?.id;
    const ua = req.get('user-agent');
    return { now, callId: req.callId, cseq: req.cseq.seq, path, ...(flowId ? { flowId } : {}), ...(ua ? { userAgent: ua } : {}) };
  }

  /** The 200 (RFC 3261 §10.3 step 8); public GRUUs of the registered AoR for a client that supports them (RFC 5627 §5.3). */
  private respondOk(ctx: RequestContext, bindings: readonly Binding[], set: ImplicitSet | undefined, now: number, impu: string): void {
    const req = ctx.request;
    const headers: Array<[string, string]> = [];
    const gruuAor = req.getAll('supported').some((o) => o.trim().toLowerCase() === 'gruu') ? impu : undefined;
    for (const c of contactValues(bindings, now, gruuAor)) headers.push(['Contact', c]);
    for (const p of req.getAll('path')) headers.push(['Path', p]);
    if (bindings.length) {
      headers.push(['Service-Route', this.opts.serviceRoute]);
      const identities = set ? set.members.filter((m) => !m.barred).map((m) => `<${m.impu}>`) : [];
      if (identities.length) headers.push(['P-Associated-URI', identities.join(', ')]);
    }
    if (req.has('path')) headers.push(['Supported', 'path']);
    headers.push(['Date', new Date(now).toUTCString()]);
    ctx.respond(200, 'OK', headers);
  }
}
