/**
 * A RequestContext stand-in for unit tests of IMS services: records the outcome the service
 * chose instead of driving a proxy core (the proxy core has its own tests).
 */
import type { RegistrarOptions } from '../../src/ims/core/registrar.js';
import type { Hss } from '../../src/ims/hss.js';
import { HomeDomain } from '../../src/ims/identity.js';
import {
  DigestVerifier,
  makeResponse,
  NonceManager,
  parseMessage,
  SipRequest,
  type ForwardOptions,
  type ForwardTarget,
  type Flow,
  type RequestContext,
  type SipResponse,
  type Uri,
} from '../../src/sip/index.js';
import type { RegistrationStore } from '../../src/storage/index.js';
import { MemoryNonceCountStore } from '../../src/storage/memory/index.js';

export interface Outcome {
  kind: 'respond' | 'forward';
  response?: SipResponse;
  targets?: ForwardTarget[];
  options?: ForwardOptions;
}

export class RecordingContext implements RequestContext {
  outcome: Outcome | undefined;
  settled = false;
  private done!: () => void;
  readonly finished = new Promise<void>((r) => (this.done = r));

  constructor(
    readonly request: SipRequest,
    readonly flow: Flow | undefined = undefined,
    readonly consumedRoutes: readonly Uri[] = [],
    readonly addressedAs = '',
  ) {}

  forward(targets: ForwardTarget | ForwardTarget[] = {}, options: ForwardOptions = {}): void {
    this.settle({ kind: 'forward', targets: Array.isArray(targets) ? targets : [targets], options });
  }

  respond(status: number, reason?: string, headers: Array<[string, string]> = [], body?: { type: string; data: Buffer | string }): void {
    const res = makeResponse(this.request, status, reason, 'ttag');
    for (const [n, v] of headers) res.append(n, v);
    if (body) res.setBody(body.data, body.type);
    this.respondWith(res);
  }

  respondWith(response: SipResponse): void {
    if (response.status < 200) return;
    this.settle({ kind: 'respond', response });
  }

  defer(): RequestContext {
    return this;
  }

  setTimer(): void {}
  cancelTimer(): void {}
  cancelBranches(): void {}

  private settle(o: Outcome): void {
    if (this.settled) throw new Error('second outcome');
    this.settled = true;
    this.outcome = o;
    this.done();
  }

  /** The final response the service answered with (fails the test if it forwarded). */
  get response(): SipResponse {
    if (this.outcome?.kind !== 'respond') throw new Error(`expected a response, got ${this.outcome?.kind}`);
    return this.outcome.response!;
  }
}

/** A request from text lines (CRLF added, Content-Length computed). */
export function request(lines: string[], body = ''): SipRequest {
  const text = `${lines.join('\r\n')}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
  const m = parseMessage(Buffer.from(text));
  if (!(m instanceof SipRequest)) throw new Error('not a request');
  return m;
}

/** Runs a service hook and waits for its outcome. */
export async function run(ctx: RecordingContext, hook: (ctx: RequestContext) => void | Promise<void>): Promise<RecordingContext> {
  await hook(ctx);
  await ctx.finished;
  return ctx;
}

/**
 * The options of a {@link Registrar} for example.com as the registrar tests build it: Digest
 * with nonces keyed by a fixed key and an in-memory nonce-count store on the test's clock,
 * 60-3600 s registrations (600 by default), the usual S-CSCF name and Service-Route. `overrides`
 * replace any of them.
 */
export function registrarOptions(
  deps: { readonly hss: Hss; readonly registrations: RegistrationStore; readonly now: () => number },
  overrides: Partial<RegistrarOptions> = {},
): RegistrarOptions {
  const clock = { now: deps.now };
  return {
    home: new HomeDomain('example.com'),
    realm: 'example.com',
    hss: deps.hss,
    registrations: deps.registrations,
    verifier: new DigestVerifier({
      nonces: new NonceManager({ key: Buffer.alloc(32, 7), clock, lifetimeSeconds: 300 }),
      nonceCounts: new MemoryNonceCountStore({ clock }),
    }),
    algorithms: ['MD5', 'SHA-256'],
    limits: { minExpires: 60, maxExpires: 3600, defaultExpires: 600 },
    scscf: 'sip:scscf.example.com',
    serviceRoute: '<sip:orig@scscf.example.com;lr>',
    now: deps.now,
    ...overrides,
  };
}
