/**
 * {@link Hss} over the HSS signalling API, for a core whose HSS runs in another process. It
 * reads the Clearwater fields plus the Tidewater ones (`digests`, `default-impu`, `barred`,
 * reg-data as JSON) so it answers exactly as {@link LocalHss} does for the same data, except
 * that IMS-AKA keys never leave the HSS: `authVector` carries Digest HA1s only.
 */
import type { AuthVectorLookup, DigestHa1, ImplicitSet, RegistrationState } from '../storage/index.js';
import type { Hss, LocationInfo, ServerAssignment, ServerAssignmentType, UserAuthorization } from '../ims/hss.js';
import { HttpClient, HttpClientError } from '../http/client.js';
import { HssError, type HssErrorCode } from './errors.js';
import { API_KEY_HEADER } from './http.js';

export interface HttpHssOptions {
  /** Base URL of the signalling API, e.g. `http://hss.example.net:8888`. */
  readonly url: string;
  readonly apiKey?: string;
  /** How long one request may take; default 2000 ms. */
  readonly timeoutMs?: number;
}

interface Answer {
  readonly status: number;
  readonly body: Record<string, unknown>;
}

const REQTYPE: Readonly<Record<ServerAssignmentType, string>> = {
  REGISTRATION: 'reg',
  RE_REGISTRATION: 'reg',
  USER_DEREGISTRATION: 'dereg-user',
  TIMEOUT_DEREGISTRATION: 'dereg-timeout',
};
const STATES: ReadonlySet<unknown> = new Set<RegistrationState>(['REGISTERED', 'UNREGISTERED', 'NOT_REGISTERED']);

const enc = encodeURIComponent;

export class HttpHss implements Hss {
  private readonly base: string;
  private readonly timeoutMs: number;
  private readonly http: HttpClient;

  constructor(private readonly opts: HttpHssOptions) {
    let url: URL;
    try {
      url = new URL(opts.url);
    } catch {
      throw new Error(`HSS url must be an http:// or https:// URL, got ${opts.url}`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`HSS url must be an http:// or https:// URL, got ${opts.url}`);
    this.base = url.href.replace(/\/+$/, '');
    this.timeoutMs = opts.timeoutMs ?? 2000;
    this.http = new HttpClient({ base: this.base, timeoutMs: this.timeoutMs });
  }

  async userAuthorization(impi: string, impu: string): Promise<UserAuthorization> {
    const a = await this.request('GET', `/impi/${enc(impi)}/registration-status?impu=${enc(impu)}&auth-type=REG`);
    if (a.status === 200) return typeof a.body.scscf === 'string' ? { ok: true, scscf: a.body.scscf } : { ok: true };
    const code = this.errorCode(a, [404, 403]);
    if (code === 'TW_ERR_HSS_IDENTITY_BARRED') return { ok: false, reason: 'barred' };
    if (code === 'TW_ERR_HSS_IDENTITIES_DONT_MATCH') return { ok: false, reason: 'identities-dont-match' };
    return { ok: false, reason: 'unknown-user' };
  }

  async authVector(impi: string, impu: string): Promise<AuthVectorLookup> {
    const a = await this.request('GET', `/impi/${enc(impi)}/av/digest?impu=${enc(impu)}`);
    if (a.status === 200) return { ok: true, impi: this.str(a.body.impi, 'impi'), digest: this.digests(a.body.digests) };
    const code = this.errorCode(a, [404, 403]);
    if (code === 'TW_ERR_HSS_NO_DIGEST') return { ok: true, impi, digest: [] };
    if (code === 'TW_ERR_HSS_IDENTITIES_DONT_MATCH') return { ok: false, reason: 'identities-dont-match' };
    if (code === 'TW_ERR_HSS_USER_UNKNOWN') return { ok: false, reason: 'unknown-public-identity' };
    return { ok: false, reason: 'unknown-private-identity' };
  }

  async serverAssignment(impu: string, type: ServerAssignmentType, scscf: string): Promise<ServerAssignment | undefined> {
    const body = { reqtype: REQTYPE[type], ...(type === 'REGISTRATION' || type === 'RE_REGISTRATION' ? { server_name: scscf } : {}) };
    const a = await this.request('PUT', `/impu/${enc(impu)}/reg-data`, body);
    const implicitSet = this.regData(a);
    return implicitSet ? { implicitSet } : undefined;
  }

  async implicitSetOf(impu: string): Promise<ImplicitSet | undefined> {
    return this.regData(await this.request('GET', `/impu/${enc(impu)}/reg-data`));
  }

  async locationInfo(impu: string): Promise<LocationInfo | undefined> {
    const a = await this.request('GET', `/impu/${enc(impu)}/location`);
    if (a.status !== 200) {
      this.errorCode(a, [404]);
      return undefined;
    }
    const state = a.body['registration-state'];
    if (!STATES.has(state)) throw this.badAnswer(`registration-state ${String(state)}`);
    return {
      state: state as RegistrationState,
      ...(typeof a.body.scscf === 'string' ? { scscf: a.body.scscf } : {}),
      defaultImpu: this.str(a.body['default-impu'], 'default-impu'),
      barred: a.body.barred === true,
    };
  }

  private regData(a: Answer): ImplicitSet | undefined {
    if (a.status !== 200) {
      this.errorCode(a, [404]);
      return undefined;
    }
    const set = a.body['implicit-set'] as Record<string, unknown> | undefined;
    if (typeof set !== 'object' || set === null || !Array.isArray(set.members)) throw this.badAnswer('reg-data without implicit-set');
    const id = this.str(set.id, 'implicit-set id');
    return {
      id,
      serviceProfile: this.str(set['service-profile'], 'service-profile'),
      members: set.members.map((m: { impu?: unknown; barred?: unknown }) => ({ impu: this.str(m.impu, 'member impu'), implicitSetId: id, barred: m.barred === true })),
    };
  }

  private digests(value: unknown): DigestHa1[] {
    if (!Array.isArray(value)) throw this.badAnswer('av without digests');
    return value.map((d: Record<string, unknown>) => ({
      realm: this.str(d.realm, 'realm'),
      algorithm: this.str(d.algorithm, 'algorithm') as DigestHa1['algorithm'],
      ha1: this.str(d.ha1, 'ha1'),
    }));
  }

  /** The registry code of an expected error answer; anything else is a bad answer. */
  private errorCode(a: Answer, expected: readonly number[]): HssErrorCode | undefined {
    if (a.status === 503) throw new HssError('TW_ERR_HSS_UNAVAILABLE', `the HSS at ${this.base} is unavailable: ${String(a.body.message ?? '')}`);
    if (!expected.includes(a.status)) throw this.badAnswer(`status ${a.status} (${String(a.body.code ?? '')} ${String(a.body.message ?? '')})`);
    return typeof a.body.code === 'string' ? (a.body.code as HssErrorCode) : undefined;
  }

  private str(value: unknown, what: string): string {
    if (typeof value !== 'string') throw this.badAnswer(`missing ${what}`);
    return value;
  }

  private badAnswer(detail: string): HssError {
    return new HssError('TW_ERR_HSS_BAD_ANSWER', `the HSS at ${this.base} answered unexpectedly: ${detail}`);
  }

  private failure(error: unknown, method: string, path: string): HssError {
    if (error instanceof HssError) return error;
    if (error instanceof HttpClientError && error.kind === 'timeout') {
      return new HssError('TW_ERR_HSS_TIMEOUT', `the HSS at ${this.base} did not answer ${method} ${path.split('?')[0]} within ${this.timeoutMs} ms`, { cause: error });
    }
    if (error instanceof SyntaxError) return new HssError('TW_ERR_HSS_BAD_ANSWER', `the HSS at ${this.base} answered without JSON`, { cause: error });
    const detail = error instanceof Error ? error.message : String(error);
    return new HssError('TW_ERR_HSS_UNAVAILABLE', `cannot reach the HSS at ${this.base}: ${detail}`, { cause: error });
  }

  private async request(method: 'GET' | 'PUT', path: string, body?: unknown): Promise<Answer> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (this.opts.apiKey !== undefined) headers[API_KEY_HEADER] = this.opts.apiKey;
    if (body !== undefined) headers['content-type'] = 'application/json';
    let status: number;
    let parsed: unknown;
    try {
      const answer = await this.http.request(method, path, headers, body !== undefined ? JSON.stringify(body) : undefined);
      status = answer.status;
      if (status === 401) throw new HssError('TW_ERR_HSS_UNAUTHORIZED', `the HSS at ${this.base} refused the API key (401)`);
      parsed = JSON.parse(answer.text);
    } catch (error) {
      throw this.failure(error, method, path);
    }
    if (typeof parsed !== 'object' || parsed === null) throw this.badAnswer(`status ${status} with a non-object body`);
    return { status, body: parsed as Record<string, unknown> };
  }
}
