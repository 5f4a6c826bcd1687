/** A portal on memory stores with a fake clock, and helpers to drive it through inject(). */
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { buildPortalServer, type PortalOptions } from '../../src/portal/index.js';
import { MemoryAccountStore, MemoryDocumentStore, MemoryRegistrationStore, MemorySubscriberStore } from '../../src/storage/memory/index.js';

export const DOMAIN = 'example.com';
export const API_KEY = 'operator-key-0123456789';
export const CODE = 'secret';
export const T0 = 1_700_000_000_000;

export interface TestPortal {
  readonly app: FastifyInstance;
  readonly accounts: MemoryAccountStore;
  readonly subscribers: MemorySubscriberStore;
  readonly registrations: MemoryRegistrationStore;
  readonly documents: MemoryDocumentStore;
  readonly clock: { now: number };
  readonly changed: string[];
}

export async function startPortal(overrides: Partial<PortalOptions> = {}): Promise<TestPortal> {
  const clock = { now: T0 };
  const changed: string[] = [];
  const stores = {
    accounts: new MemoryAccountStore(),
    subscribers: new MemorySubscriberStore(),
    registrations: new MemoryRegistrationStore(),
    documents: new MemoryDocumentStore(),
  };
  const app = await buildPortalServer({
    ...stores,
    domain: DOMAIN,
    signupCode: CODE,
    apiKey: API_KEY,
    outboundProxy: '192.0.2.1:5060 (UDP or TCP)',
    now: () => clock.now,
    onSubscriberChanged: (impi) => changed.push(impi),
    ...overrides,
  });
  return { app, ...stores, clock, changed };
}

/** The `name=value` of a Set-Cookie answer, for a Cookie header. */
export function cookieOf(res: LightMyRequestResponse, name = 'tw_session'): string {
  const all = ([] as string[]).concat(res.headers['set-cookie'] ?? []);
  const line = all.find((c) => c.startsWith(`${name}=`));
  if (!line) throw new Error(`no ${name} cookie in ${JSON.stringify(all)}`);
  return line.split(';')[0]!;
}

export function signup(app: FastifyInstance, email: string, extra: Record<string, unknown> = {}): Promise<LightMyRequestResponse> {
  return app.inject({ method: 'POST', url: '/accounts/', payload: { email, password: 'correct horse', full_name: 'Test User', signup_code: CODE, ...extra } });
}

/** Signs up and logs in; resolves the session Cookie header value. */
export async function account(app: FastifyInstance, email: string): Promise<string> {
  const made = await signup(app, email);
  if (made.statusCode !== 201) throw new Error(`signup failed: ${made.body}`);
  const res = await app.inject({ method: 'POST', url: '/session/', payload: { email, password: 'correct horse' } });
  return cookieOf(res);
}

export function numbersUrl(email: string, impu?: string, suffix = ''): string {
  const base = `/accounts/${encodeURIComponent(email)}/numbers/`;
  return impu === undefined ? base : `${base}${encodeURIComponent(impu)}/${suffix}`;
}
