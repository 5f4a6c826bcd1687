/**
 * Third-party registration (3GPP TS 24.229 §5.4.1.7): after a registration, re-registration or
 * de-registration of an implicit set, whether the UE asked for it or the network did (expiry,
 * failed flow), the S-CSCF sends a REGISTER to each application server whose initial Filter
 * Criterion matches a REGISTER of that kind (TS 29.228 Annex B RegistrationType), once per set:
 *
 *   REGISTER <AS>          From: <S-CSCF>;tag=..  To: <registered identity>
 *   Contact: <S-CSCF>      Expires: the time the set stays registered (0 for a de-registration)
 *
 * with a body when the criterion asks: its ServiceInfo (application/3gpp-ims+xml), the UE's
 * REGISTER and the 200 it got (message/sip), several parts in multipart/mixed. REGISTER is part
 * of the originating session case (TS 23.218 §5.2.1 note 2).
 *
 * An AS that answers with a failure (or not within `asTimeoutMs`) is ignored under
 * SESSION_CONTINUED; under SESSION_TERMINATED the S-CSCF de-registers the whole set
 * (network-initiated, §5.4.1.5), which in turn tells the application servers.
 */
import {
  makeRequest,
  makeResponse,
  newTag,
  randomToken,
  serializeMessage,
  type Clock,
  type RequestContext,
  type SipRequest,
  type SipResponse,
} from '../../sip/index.js';
import { updateRegistration, type RegistrationStore } from '../../storage/index.js';
import {
  DefaultHandling,
  FilterCriteriaCache,
  ifcRequestOf,
  nextMatch,
  RegistrationType,
  SessionCase,
  type ApplicationServer,
  type IfcRequest,
} from '../ifc/index.js';
import type { Hss } from '../hss.js';
import type { RegistrationListener } from './registrar.js';
import { escapeXml } from './reginfo.js';

type ChangeEvent = Parameters<RegistrationListener>[0];

export interface ThirdPartyRegisterOptions {
  readonly hss: Pick<Hss, 'implicitSetOf' | 'serverAssignment'>;
  readonly registrations: RegistrationStore;
  readonly criteria: FilterCriteriaCache;
  /** This S-CSCF's SIP URI (From and Contact), e.g. `sip:scscf.example.com`. */
  readonly scscf: string;
  /** Sends a request this process makes; exactly one final response comes back (the proxy core's originate). */
  readonly send: (request: SipRequest, onResponse: (response: SipResponse) => void) => void;
  /** How long an AS may take to answer, ms. */
  readonly asTimeoutMs: number;
  readonly clock: Clock;
  /** Wall clock, ms (binding expiry times). */
  readonly now?: () => number;
  /** Told when a failed AS made the S-CSCF de-register a set (reg-event, and the ASs again). */
  readonly onChange?: RegistrationListener;
  readonly onError?: (e: unknown) => void;
}

/** The REGISTER of a network-made change: what the SPTs see when no UE REGISTER exists. */
function syntheticRegister(impu: string): IfcRequest {
  return { method: 'REGISTER', requestUri: impu.replace(/^(sips?:)[^@]*@/, '$1'), headerValues: () => [], sdpLines: () => [] };
}

const BOUNDARY = 'tidewater-3pr';

/**
 * A REGISTER's context that remembers the 2xx it is answered with, for IncludeRegisterResponse.
 * A class, not an object of closures made per REGISTER: with thirteen closures and getters
 * around each context, the garbage collector promoted about three times as many bytes out of
 * the young generation on a 401 (measured with --trace-gc-nvp: 2.05 -> 0.67 MB per scavenge at
 * 500 REGISTER/s), and scavenges took twice as long.
 */
class WatchedRegister implements RequestContext {
  constructor(
    private readonly ctx: RequestContext,
    private readonly answers: WeakMap<SipRequest, SipResponse>,
  ) {}

  get request(): SipRequest {
    return this.ctx.request;
  }

  get flow(): RequestContext['flow'] {
    return this.ctx.flow;
  }

  get addressedAs(): string {
    return this.ctx.addressedAs;
  }

  get consumedRoutes(): RequestContext['consumedRoutes'] {
    return this.ctx.consumedRoutes;
  }

  get settled(): boolean {
    return this.ctx.settled;
  }

  forward(...args: Parameters<RequestContext['forward']>): void {
    this.ctx.forward(...args);
  }

  respond(status: number, reason?: string, headers: Array<[string, string]> = [], body?: { type: string; data: Buffer | string }): void {
    if (status < 200 || status >= 300) return this.ctx.respond(status, reason, headers, body);
    const res = makeResponse(this.ctx.request, status, reason, newTag());
    for (const [n, v] of headers) res.append(n, v);
    if (body) res.setBody(body.data, body.type);
    this.respondWith(res);
  }

  respondWith(res: SipResponse): void {
    if (res.status >= 200 && res.status < 300) this.answers.set(this.ctx.request, res);
    this.ctx.respondWith(res);
  }

  defer(): RequestContext {
    this.ctx.defer();
    return this;
  }

  setTimer(name: string, ms: number, cb?: () => void): void {
    this.ctx.setTimer(name, ms, cb);
  }

  cancelTimer(name: string): void {
    this.ctx.cancelTimer(name);
  }

  cancelBranches(reason?: string): void {
    this.ctx.cancelBranches(reason);
  }
}

export class ThirdPartyRegistrar {
  private readonly now: () => number;
  /** The 200 each UE REGISTER got, for IncludeRegisterResponse. */
  private readonly answers = new WeakMap<SipRequest, SipResponse>();
  /** Call-ID and last CSeq per AS and identity: refreshes continue one registration (RFC 3261 §10.2). */
  private readonly dialogs = new Map<string, { callId: string; cseq: number }>();

  constructor(private readonly opts: ThirdPartyRegisterOptions) {
    this.now = opts.now ?? Date.now;
  }

  /** Wraps a REGISTER's context so the 2xx the registrar answers with is remembered. */
  watch = (ctx: RequestContext): RequestContext => new WatchedRegister(ctx, this.answers);

  /** The registrar's (and binding expiry's) change listener. */
  onRegistrationChange: RegistrationListener = (event) => {
    this.notify(event).catch((e: unknown) => this.opts.onError?.(e));
  };

  private registrationType(event: ChangeEvent): RegistrationType | undefined {
    if (event.cause === 'registered') return RegistrationType.INITIAL_REGISTRATION;
    if (event.cause === 'refreshed') return RegistrationType.RE_REGISTRATION;
    // A binding of several that expired or lost its flow leaves the set registered: nothing to tell.
    return event.bindings.length === 0 ? RegistrationType.DE_REGISTRATION : undefined;
  }

  /** Sends the third-party REGISTERs one change calls for; resolves once they are sent. */
  async notify(event: ChangeEvent): Promise<void> {
    const registrationType = this.registrationType(event);
    if (registrationType === undefined) return;
    const set = event.implicitSet ?? (await this.opts.hss.implicitSetOf(event.aor));
    if (!set) return;
    const criteria = this.opts.criteria.get(set.serviceProfile);
    if (!criteria.criteria.length) return;
    const impu = event.register?.impu ?? event.aor;
    const view = event.register ? ifcRequestOf(event.register.request) : syntheticRegister(impu);
    const situation = { sessionCase: SessionCase.ORIGINATING_REGISTERED, registered: true, registrationType };
    const expires = registrationType === RegistrationType.DE_REGISTRATION ? 0 : this.remaining(event);
    for (let i = nextMatch(criteria, view, situation); i >= 0; i = nextMatch(criteria, view, situation, i + 1)) {
      this.send(criteria.criteria[i]!.applicationServer, impu, expires, event);
    }
  }

  /** Seconds the set stays registered: its longest-lived binding. */
  private remaining(event: ChangeEvent): number {
    const until = event.bindings.reduce((m, b) => Math.max(m, b.expiresAt), 0);
    return Math.max(0, Math.ceil((until - this.now()) / 1000));
  }

  private send(as: ApplicationServer, impu: string, expires: number, event: ChangeEvent): void {
    const key = `${as.serverName}\n${impu}`;
    const dialog = this.dialogs.get(key) ?? { callId: `${randomToken(12)}@tidewater`, cseq: 0 };
    dialog.cseq++;
    if (expires === 0) this.dialogs.delete(key);
    else this.dialogs.set(key, dialog);
    const headers: Array<[string, string]> = [
      ['Max-Forwards', '70'],
      ['From', `<${this.opts.scscf}>;tag=${newTag()}`],
      ['To', `<${impu}>`],
      ['Call-ID', dialog.callId],
      ['CSeq', `${dialog.cseq} REGISTER`],
      ['Contact', `<${this.opts.scscf}>`],
      ['Expires', String(expires)],
    ];
    const body = this.body(as, event);
    if (body) headers.push(['Content-Type', body.type]);
    const request = makeRequest('REGISTER', as.serverName, headers, body?.data);
    let settled = false;
    const timer = this.opts.clock.setTimeout(() => finish(undefined), this.opts.asTimeoutMs);
    const finish = (res: SipResponse | undefined): void => {
      if (settled) return;
      settled = true;
      this.opts.clock.clearTimeout(timer);
      const ok = res !== undefined && res.status >= 200 && res.status < 300;
      if (!ok && as.defaultHandling === DefaultHandling.SESSION_TERMINATED && expires > 0) {
        this.deregister(event.aor).catch((e: unknown) => this.opts.onError?.(e));
      }
    };
    try {
      this.opts.send(request, finish);
    } catch (e) {
      this.opts.onError?.(e);
      finish(undefined);
    }
  }

  /** ServiceInfo and the UE's REGISTER and 200, as the criterion asks (one part, or multipart/mixed). */
  private body(as: ApplicationServer, event: ChangeEvent): { type: string; data: Buffer } | undefined {
    const parts: Array<{ type: string; data: Buffer }> = [];
    if (as.serviceInfo !== undefined) {
      const xml = `<?xml version="1.0" encoding="UTF-8"?>\n<ims-3gpp version="1"><service-info>${escapeXml(as.serviceInfo)}</service-info></ims-3gpp>\n`;
      parts.push({ type: 'application/3gpp-ims+xml', data: Buffer.from(xml) });
    }
    const request = event.register?.request;
    if (as.includeRegisterRequest && request) parts.push({ type: 'message/sip', data: serializeMessage(request) });
    const response = request && this.answers.get(request);
    if (as.includeRegisterResponse && response) parts.push({ type: 'message/sip', data: serializeMessage(response) });
    if (parts.length <= 1) return parts[0];
    const chunks: Buffer[] = [];
    for (const p of parts) chunks.push(Buffer.from(`--${BOUNDARY}\r\nContent-Type: ${p.type}\r\n\r\n`), p.data, Buffer.from('\r\n'));
    chunks.push(Buffer.from(`--${BOUNDARY}--\r\n`));
    return { type: `multipart/mixed;boundary=${BOUNDARY}`, data: Buffer.concat(chunks) };
  }

  /** Network-initiated de-registration of the set (TS 24.229 §5.4.1.5) after an AS failed under SESSION_TERMINATED. */
  private async deregister(aor: string): Promise<void> {
    const outcome = await updateRegistration(this.opts.registrations, aor, (current) => (current && current.bindings.length ? { bindings: [] } : undefined));
    if (outcome.status !== 'written') return;
    const assignment = await this.opts.hss.serverAssignment(aor, 'USER_DEREGISTRATION', this.opts.scscf);
    this.opts.onChange?.({ aor, implicitSet: assignment?.implicitSet, bindings: [], cause: 'deregistered' });
  }
}
