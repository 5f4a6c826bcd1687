/**
 * A client of the HSS provisioning API (Clearwater's Homestead-prov paths, docs/hss-api.md), for
 * a portal whose HSS runs in another process (`tidewater hss`), as Ellis spoke to Homestead-prov.
 *
 * Failures are {@link StorageError}s, as the subscriber store's are, so a caller treats a remote
 * HSS and a store in this process alike: 400 (and 413, 415) is TW_ERR_STORAGE_INVALID with the
 * HSS's message, 404 TW_ERR_STORAGE_NOT_FOUND, 409 TW_ERR_STORAGE_EXISTS; a refused API key, a
 * 5xx, an answer this client does not understand, no answer within the timeout or no connection
 * at all are TW_ERR_STORAGE_UNAVAILABLE, whose message names the HSS's URL. Lookups resolve
 * undefined and deletes false for a 404, as the store's do.
 */
import { StorageError } from '../storage/index.js';
import { API_KEY_HEADER } from './http.js';
import type { PrivateAnswer, PrivateBody } from './provisioner.js';
import { escapeXml } from './xml.js';

export type { PrivateAnswer, PrivateBody } from './provisioner.js';

export interface HssProvisioningClientOptions {
  /** Base URL of the provisioning API, e.g. `http://hss.example.net:8889`. */
  readonly url: string;
  /** Sent as `NGV-API-Key` when set. */
  readonly apiKey?: string;
  /** How long one request may take, answer included; default 5000 ms. */
  readonly timeoutMs?: number;
}

interface Answer {
  readonly status: number;
  readonly text: string;
  readonly location: string | null;
}

type Method = 'GET' | 'PUT' | 'POST' | 'DELETE';

const enc = encodeURIComponent;
const JSON_TYPE = 'application/json';
const XML_TYPE = 'application/xml';

/** A service's base URL without trailing slashes; an Error naming `what` unless http(s). */
function baseUrlOf(url: string, what: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new Error(`${what} must be an http:// or https:// URL, got ${url}`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new Error(`${what} must be an http:// or https:// URL, got ${url}`);
  return parsed.href.replace(/\/+$/, '');
}

export class HssProvisioningClient {
  private readonly base: string;
  private readonly timeoutMs: number;

  constructor(private readonly opts: HssProvisioningClientOptions) {
    this.base = baseUrlOf(opts.url, 'HSS provisioning url');
    this.timeoutMs = opts.timeoutMs ?? 5000;
  }

  /** Creates or replaces the credentials of `impi` for a realm; the HSS turns a password into HA1s and drops it. */
  async putPrivate(impi: string, body: PrivateBody): Promise<PrivateAnswer> {
    return this.json(await this.expect('PUT', `/private/${enc(impi)}`, [200], { type: JSON_TYPE, text: JSON.stringify(body) }));
  }

  /** The MD5 HA1 of the home realm (or the first), or undefined when the IMPI is unknown. */
  async getPrivate(impi: string): Promise<PrivateAnswer | undefined> {
    const a = await this.lookup('GET', `/private/${enc(impi)}`);
    return a && this.json(a);
  }

  async deletePrivate(impi: string): Promise<boolean> {
    return (await this.lookup('DELETE', `/private/${enc(impi)}`, [204])) !== undefined;
  }

  /** The IMPUs `impi` may register; undefined when the IMPI is unknown. */
  async associatedPublicIds(impi: string): Promise<string[] | undefined> {
    return this.list(await this.lookup('GET', `/private/${enc(impi)}/associated_public_ids`), 'public_ids');
  }

  /** The IMPIs that may register `impu`; undefined when the IMPU is unknown. */
  async associatedPrivateIds(impu: string): Promise<string[] | undefined> {
    return this.list(await this.lookup('GET', `/public/${enc(impu)}/associated_private_ids`), 'private_ids');
  }

  /** A new, empty implicit registration set; its id. */
  async createIrs(): Promise<string> {
    return this.locationId(await this.expect('POST', '/irs', [201]), 'POST /irs');
  }

  /** Deletes the IRS with its public identities (their IMPIs stay); false when it did not exist. */
  async deleteIrs(irs: string): Promise<boolean> {
    return (await this.lookup('DELETE', `/irs/${enc(irs)}`, [204])) !== undefined;
  }

  /** The IRS's public identities in set order; undefined when the IRS is unknown. */
  async publicIds(irs: string): Promise<string[] | undefined> {
    return this.list(await this.lookup('GET', `/irs/${enc(irs)}/public_ids`), 'public_ids');
  }

  async privateIds(irs: string): Promise<string[] | undefined> {
    return this.list(await this.lookup('GET', `/irs/${enc(irs)}/private_ids`), 'private_ids');
  }

  /** Lets `impi` register every identity of the IRS, present and future. */
  async linkPrivate(irs: string, impi: string): Promise<void> {
    await this.expect('PUT', `/irs/${enc(irs)}/private_ids/${enc(impi)}`, [200]);
  }

  async unlinkPrivate(irs: string, impi: string): Promise<boolean> {
    return (await this.lookup('DELETE', `/irs/${enc(irs)}/private_ids/${enc(impi)}`, [204])) !== undefined;
  }

  /** The IRS's service profile (created when it has none); its id. */
  async createServiceProfile(irs: string): Promise<string> {
    return this.locationId(await this.expect('POST', `/irs/${enc(irs)}/service_profiles`, [201]), 'POST service_profiles');
  }

  /** Adds `impu` to the IRS (or changes its barring); resolves the PublicIdentity XML the HSS answers. */
  async putPublicId(irs: string, sp: string, impu: string, options: { barred?: boolean } = {}): Promise<string> {
    const barring = options.barred ? '<BarringIndication>1</BarringIndication>' : '';
    const text = `<PublicIdentity>${barring}<Identity>${escapeXml(impu)}</Identity></PublicIdentity>`;
    return (await this.expect('PUT', this.publicIdPath(irs, sp, impu), [200], { type: XML_TYPE, text })).text;
  }

  async getPublicId(irs: string, sp: string, impu: string): Promise<string | undefined> {
    return (await this.lookup('GET', this.publicIdPath(irs, sp, impu)))?.text;
  }

  async deletePublicId(irs: string, sp: string, impu: string): Promise<boolean> {
    return (await this.lookup('DELETE', this.publicIdPath(irs, sp, impu), [204])) !== undefined;
  }

  /** The profile's `ServiceProfile` XML with its InitialFilterCriteria; TW_ERR_STORAGE_NOT_FOUND for an unknown IRS. */
  async getFilterCriteria(irs: string, sp: string): Promise<string> {
    return (await this.expect('GET', this.filterPath(irs, sp), [200])).text;
  }

  /** Replaces the filter criteria (validated by the HSS: TW_ERR_STORAGE_INVALID with its reason); the stored profile. */
  async putFilterCriteria(irs: string, sp: string, serviceProfile: string): Promise<string> {
    return (await this.expect('PUT', this.filterPath(irs, sp), [200], { type: XML_TYPE, text: serviceProfile })).text;
  }

  private publicIdPath(irs: string, sp: string, impu: string): string {
    return `/irs/${enc(irs)}/service_profiles/${enc(sp)}/public_ids/${enc(impu)}`;
  }

  private filterPath(irs: string, sp: string): string {
    return `/irs/${enc(irs)}/service_profiles/${enc(sp)}/filter_criteria`;
  }

  /** The answer when its status is one of `ok`, undefined for a 404; any other status throws. */
  private async lookup(method: Method, path: string, ok: readonly number[] = [200]): Promise<Answer | undefined> {
    const a = await this.request(method, path);
    if (a.status === 404) return undefined;
    return this.check(a, method, path, ok);
  }

  private async expect(method: Method, path: string, ok: readonly number[], body?: { type: string; text: string }): Promise<Answer> {
    return this.check(await this.request(method, path, body), method, path, ok);
  }

  private check(a: Answer, method: Method, path: string, ok: readonly number[]): Answer {
    if (ok.includes(a.status)) return a;
    const error = this.errorBody(a.text);
    const reason = error.message ?? `${method} ${path} answered ${a.status}`;
    if (a.status === 400 || a.status === 413 || a.status === 415) throw new StorageError('TW_ERR_STORAGE_INVALID', reason);
    if (a.status === 404) throw new StorageError('TW_ERR_STORAGE_NOT_FOUND', reason);
    if (a.status === 409) throw new StorageError('TW_ERR_STORAGE_EXISTS', reason);
    if (a.status === 401) throw this.unavailable(`refused the API key (401 ${error.code ?? ''}): check apiKey`);
    throw this.unavailable(`answered ${method} ${path} with ${a.status} ${error.code ?? ''} ${error.message ?? ''}`.trim());
  }

  private errorBody(text: string): { code?: string; message?: string } {
    try {
      const body = JSON.parse(text) as { code?: unknown; message?: unknown };
      return {
        ...(typeof body.code === 'string' && { code: body.code }),
        ...(typeof body.message === 'string' && { message: body.message }),
      };
    } catch {
      return {};
    }
  }

  private json<T>(a: Answer): T {
    try {
      return JSON.parse(a.text) as T;
    } catch {
      throw this.unavailable(`answered ${a.status} without JSON`);
    }
  }

  private list(a: Answer | undefined, key: string): string[] | undefined {
    if (!a) return undefined;
    const value = this.json<Record<string, unknown>>(a)[key];
    if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) throw this.unavailable(`answered without a ${key} list`);
    return value as string[];
  }

  /** The last path segment of the answer's Location (`/irs/<id>`, `.../service_profiles/<sp>`). */
  private locationId(a: Answer, what: string): string {
    const segment = a.location ? new URL(a.location, `${this.base}/`).pathname.split('/').pop() : undefined;
    if (!segment) throw this.unavailable(`answered ${what} without a Location`);
    return decodeURIComponent(segment);
  }

  private unavailable(detail: string, cause?: unknown): StorageError {
    return new StorageError('TW_ERR_STORAGE_UNAVAILABLE', `the HSS at ${this.base} ${detail}`, cause);
  }

  private async request(method: Method, path: string, body?: { type: string; text: string }): Promise<Answer> {
    const headers: Record<string, string> = { accept: `${JSON_TYPE}, ${XML_TYPE}` };
    if (this.opts.apiKey !== undefined) headers[API_KEY_HEADER] = this.opts.apiKey;
    if (body) headers['content-type'] = body.type;
    try {
      const response = await fetch(this.base + path, {
        method,
        headers,
        ...(body && { body: body.text }),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
      return { status: response.status, text: await response.text(), location: response.headers.get('location') };
    } catch (error) {
      const name = error instanceof Error ? error.name : '';
      if (name === 'TimeoutError' || name === 'AbortError') throw this.unavailable(`did not answer ${method} ${path} within ${this.timeoutMs} ms`, error);
      const detail = error instanceof Error && error.cause instanceof Error ? error.cause.message : String(error);
      throw this.unavailable(`cannot be reached (${method} ${path}): ${detail}`, error);
    }
  }
}
