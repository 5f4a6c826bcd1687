/**
 * The MMTel application server (3GPP TS 24.173 services on the ISC interface, TS 24.229 §5.7):
 * a proxy AS (§5.7.4) that the S-CSCF reaches by the host name in its Route, with
 * P-Served-User (RFC 5502) saying whom it serves and in which session case. For each request it
 * reads the served user's simservs document and then:
 *
 * - terminating: incoming barring and anonymous communication rejection (TS 24.611, 603),
 *   privacy towards the callee (TS 24.607), then communication diversion (TS 24.604):
 *   unconditional and not registered (`regstate=unreg`) at once, busy, not registered (480),
 *   not reachable (408, 5xx) and no reply (NoReplyTimer, then the pending branch is cancelled)
 *   from the responses; each with 181 to the caller and History-Info on the diverted request;
 * - originating: outgoing barring (all, international; 603), then identity restriction (OIR);
 *   for a diverting user's originating services (`orig-cdiv`) only the barring.
 *
 * It never stays in the dialog (no Record-Route). A request goes back the way the S-CSCF asked:
 * the Route values below this AS's own, whether still in the request (an S-CSCF in another
 * process) or consumed with it by a core hosting both (TS 24.229 §5.7.4: the AS keeps the Route
 * set). A diverted request goes the same way with its new Request-URI; the S-CSCF treats it as
 * originating CDIV. Requests other than INVITE and MESSAGE, and requests without a session case,
 * pass through unchanged. Timers run on the proxy core's clock.
 */
import { makeResponse, newTag, type NameAddr, type ProxyService, type RequestContext, type ResponseContext, type SipRequest, type Uri } from '../../sip/index.js';
import type { DiversionRule, SimservsSettings } from '../../xdms/simservs.js';
import { HomeDomain } from '../identity.js';
import { barring } from './barring.js';
import {
  DEFAULT_NO_REPLY_SECONDS,
  diversionCount,
  diversionRule,
  historyOf,
  planDiversion,
  responseEvent,
  type DiversionEvent,
  type DiversionPlan,
} from './diversion.js';
import { restrictionWanted, withholdIdentity } from './privacy.js';
import {
  callerAnonymous,
  callerUri,
  identityRestricted,
  isInternational,
  offeredMedia,
  servedUserOf,
  type NumberPlan,
  type ServedUser,
} from './request-facts.js';
import { SimservsReader, type SimservsDocuments } from './settings.js';

export interface MmtelOptions {
  /** The host name the S-CSCF's Route addresses this AS by, e.g. `mmtel.example.com`. */
  readonly host: string;
  /** The home domain: a number's document is that of `sip:<number>@<domain>`. */
  readonly domain: string;
  /** Where simservs documents are read: the XDMS's store, or an XCAP client of a remote XDMS. */
  readonly documents: SimservsDocuments;
  /** Prefixes of an international number; default `00` and `011`. */
  readonly internationalPrefixes?: readonly string[];
  /** The home country code without `+`; default `1`. */
  readonly homeCountryCode?: string;
  /** Diversions a communication may have gone through before this one is refused; default 5. */
  readonly maxDiversions?: number;
  /** Failures that do not reach a caller as such (a store that fails, a response hook that throws). */
  readonly onError?: (error: unknown) => void;
}

const SERVICED_METHODS: ReadonlySet<string> = new Set(['INVITE', 'MESSAGE']);
const NO_REPLY_TIMER = 'mmtel-no-reply';

/** A terminating INVITE this AS may still divert, or an originating one whose From it changed. */
interface Call {
  readonly ctx: RequestContext;
  readonly served: ServedUser;
  readonly settings: SimservsSettings;
  /** Route values to forward with (the S-CSCF's, when the core consumed them with this AS's). */
  readonly routes: readonly string[];
  readonly requestUri: Uri;
  readonly media: ReadonlySet<string> | undefined;
  readonly history: readonly NameAddr[];
  /** OIR: the caller's From, put back into responses. */
  originalFrom?: string;
  noReplyFired: boolean;
  /** Diverted, answered, failed or cancelled: responses pass through untouched. */
  over: boolean;
}

export class MmtelService implements ProxyService {
  readonly hosts: readonly string[];
  private readonly hostSet: ReadonlySet<string>;
  private readonly home: HomeDomain;
  private readonly reader: SimservsReader;
  private readonly plan: NumberPlan;
  private readonly maxDiversions: number;
  private readonly calls = new WeakMap<SipRequest, Call>();

  constructor(private readonly opts: MmtelOptions) {
    if (!opts.host) throw new Error('mmtel: host must name the AS, e.g. mmtel.example.com');
    if (!opts.domain) throw new Error('mmtel: domain must be the home domain');
    const maxDiversions = opts.maxDiversions ?? 5;
    if (!Number.isInteger(maxDiversions) || maxDiversions < 0) throw new Error(`mmtel: maxDiversions must be a whole number >= 0, got ${maxDiversions}`);
    const homeCountryCode = opts.homeCountryCode ?? '1';
    if (!/^[1-9][0-9]{0,2}$/.test(homeCountryCode)) throw new Error(`mmtel: homeCountryCode must be 1 to 3 digits without +, got ${homeCountryCode}`);
    const internationalPrefixes = opts.internationalPrefixes ?? ['00', '011'];
    for (const p of internationalPrefixes) if (!/^[0-9]+$/.test(p)) throw new Error(`mmtel: internationalPrefixes must be digits, got ${p}`);
    this.hosts = [opts.host];
    this.hostSet = new Set([opts.host.toLowerCase()]);
    this.home = new HomeDomain(opts.domain);
    this.reader = new SimservsReader(opts.documents, this.home);
    this.plan = { internationalPrefixes, homeCountryCode };
    this.maxDiversions = maxDiversions;
  }

  async onInitialRequest(ctx: RequestContext): Promise<void> {
    const req = ctx.request;
    const routes = onwardRoutes(ctx, this.hostSet);
    const served = SERVICED_METHODS.has(req.method) ? servedUserOf(req) : undefined;
    if (!served) return forward(ctx, routes);
    ctx.defer();
    let settings: SimservsSettings | undefined;
    try {
      settings = await this.reader.settingsOf(served.uri);
    } catch (e) {
      // The S-CSCF's DefaultHandling decides: continue without this AS, or fail the request.
      this.report(e);
      return ctx.settled ? undefined : ctx.respond(500, 'Server Internal Error - service settings unavailable');
    }
    // The caller may have cancelled while the document was read (the core answered 487).
    if (ctx.settled) return;
    if (served.sessionCase === 'orig') return this.originating(ctx, routes, served, settings ?? {});
    return this.terminating(ctx, routes, served, settings ?? {});
  }

  onResponse(rctx: ResponseContext): void {
    const call = this.calls.get(rctx.request);
    if (!call) return;
    try {
      this.response(call, rctx);
    } catch (e) {
      this.report(e);
    }
  }

  onCancel(ctx: RequestContext): void {
    const call = this.calls.get(ctx.request);
    if (call) call.over = true;
  }

  /** TS 24.611 OCB, then TS 24.607 OIR. */
  private originating(ctx: RequestContext, routes: readonly string[], served: ServedUser, settings: SimservsSettings): void {
    const req = ctx.request;
    const facts = { anonymous: false, international: isInternational(req.uri, this.plan), diverted: false, media: offeredMedia(req) };
    if (barring(settings.ocb, facts).barred) return ctx.respond(603, 'Decline - outgoing communication barred');
    if (served.originatingCdiv || !restrictionWanted(req, settings.oir)) return forward(ctx, routes);
    const call = this.newCall(ctx, routes, served, settings);
    call.originalFrom = withholdIdentity(req);
    this.calls.set(req, call);
    forward(ctx, routes);
  }

  /** TS 24.611 ICB/ACR, TS 24.607 privacy towards the callee, TS 24.604 diversion. */
  private terminating(ctx: RequestContext, routes: readonly string[], served: ServedUser, settings: SimservsSettings): void {
    const req = ctx.request;
    const call = this.newCall(ctx, routes, served, settings);
    const facts = {
      anonymous: callerAnonymous(req),
      international: isInternational(callerUri(req), this.plan),
      diverted: diversionCount(call.history) > 0,
      media: call.media,
    };
    const icb = barring(settings.icb, facts);
    if (icb.barred) {
      const acr = icb.rule.conditions.includes('anonymous');
      return ctx.respond(603, acr ? 'Decline - anonymous communication rejected' : 'Decline - incoming communication barred');
    }
    if (identityRestricted(req) || settings.oip?.active === false) req.remove('p-asserted-identity');
    const cdiv = settings.cdiv;
    if (req.method !== 'INVITE' || !cdiv?.active) return forward(ctx, routes);
    const unconditional = diversionRule(cdiv, 'unconditional', call.media);
    if (unconditional) return this.divertNow(call, unconditional, 'unconditional');
    const unregistered = served.registered ? undefined : diversionRule(cdiv, 'not-registered', call.media);
    if (unregistered) return this.divertNow(call, unregistered, 'not-registered');
    this.calls.set(req, call);
    if (diversionRule(cdiv, 'no-answer', call.media)) {
      ctx.setTimer(NO_REPLY_TIMER, (cdiv.noReplyTimer ?? DEFAULT_NO_REPLY_SECONDS) * 1000, () => this.noReply(call));
    }
    forward(ctx, routes);
  }

  private newCall(ctx: RequestContext, routes: readonly string[], served: ServedUser, settings: SimservsSettings): Call {
    const req = ctx.request;
    return {
      ctx,
      served,
      settings,
      routes,
      requestUri: req.uri.clone(),
      media: offeredMedia(req),
      history: historyOf(req),
      noReplyFired: false,
      over: false,
    };
  }

  /** Unconditional and not-registered diversion: the request never reaches the served user. */
  private divertNow(call: Call, rule: DiversionRule, event: DiversionEvent): void {
    const { ctx } = call;
    call.over = true;
    const plan = this.planFor(call, rule, event);
    if (!plan.ok) return ctx.respond(480, plan.reason);
    setHistory(ctx.request, plan.history);
    this.notifyCaller(call, rule, plan.history);
    ctx.forward({ uri: plan.target, ...(call.routes.length ? { routes: [...call.routes] } : {}) }, { recordRoute: false });
  }

  /** TS 24.604 §4.5.2.6.2: no answer within NoReplyTimer: cancel the branch; its final response diverts. */
  private noReply(call: Call): void {
    if (call.over) return;
    call.noReplyFired = true;
    call.ctx.cancelBranches();
  }

  private response(call: Call, rctx: ResponseContext): void {
    const res = rctx.response;
    if (call.originalFrom !== undefined) {
      // RFC 3323 §5: the caller sees its own From in the responses to its request.
      res.set('from', call.originalFrom);
      return rctx.replace(res);
    }
    if (res.status < 200 || call.over) return;
    this.finish(call);
    const event = responseEvent(res.status, call.noReplyFired);
    const rule = event && diversionRule(call.settings.cdiv, event, call.media);
    if (!event || !rule) return;
    const plan = this.planFor(call, rule, event);
    if (!plan.ok) return rctx.replace(makeResponse(rctx.request, 480, plan.reason, newTag()));
    setHistory(rctx.request, plan.history);
    this.notifyCaller(call, rule, plan.history);
    rctx.forward({ uri: plan.target, ...(call.routes.length ? { routes: [...call.routes] } : {}) }, { recordRoute: false });
  }

  private finish(call: Call): void {
    call.over = true;
    call.ctx.cancelTimer(NO_REPLY_TIMER);
  }

  private planFor(call: Call, rule: DiversionRule, event: DiversionEvent): DiversionPlan {
    return planDiversion({
      requestUri: call.requestUri,
      servedUser: call.served.uri,
      history: call.history,
      rule,
      event,
      maxDiversions: this.maxDiversions,
      home: this.home,
    });
  }

  /** TS 24.604 §4.5.2.6.1: 181 to the caller unless the rule says `notify-caller` false. */
  private notifyCaller(call: Call, rule: DiversionRule, history: readonly string[]): void {
    const options = rule.options ?? {};
    if (options['notify-caller'] === false) return;
    const reveal = options['reveal-served-user-identity-to-caller'] !== false && options['reveal-identity-to-caller'] !== false;
    call.ctx.respond(181, undefined, reveal ? history.map((h): [string, string] => ['History-Info', h]) : []);
  }

  private report(e: unknown): void {
    try {
      this.opts.onError?.(e);
    } catch {
      // a failing error hook must not break the call
    }
  }
}

/**
 * The Route values to forward with: those the core consumed after this AS's own (the S-CSCF's,
 * when one process hosts both); none when only this AS's was consumed (the rest are still in the
 * request).
 */
export function onwardRoutes(ctx: RequestContext, hosts: ReadonlySet<string>): string[] {
  const consumed = ctx.consumedRoutes;
  const mine = consumed.findIndex((u) => u.kind === 'sip' && hosts.has(u.host.toLowerCase()));
  return mine < 0 ? [] : consumed.slice(mine + 1).map((u) => `<${u.toString()}>`);
}

function forward(ctx: RequestContext, routes: readonly string[]): void {
  ctx.forward(routes.length ? { routes: [...routes] } : {}, { recordRoute: false });
}

function setHistory(req: SipRequest, history: readonly string[]): void {
  req.remove('history-info');
  for (const h of history) req.append('history-info', h);
}
