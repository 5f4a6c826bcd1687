/**
 * A client of the XDMS (XCAP, RFC 4825; Clearwater's Homer paths, docs/xdms-api.md) for a portal
 * whose XDMS runs in another process (`tidewater xdms`). It reads and writes whole documents with
 * the get/put/delete of the {@link DocumentStore} contract, entity-tag conditions going over as
 * If-Match / If-None-Match (RFC 9110 §13.1), so code written for the store works on it unchanged.
 *
 * Failures are {@link StorageError}s, as the store's are: 400, 409 (an XCAP schema or
 * constraint failure, RFC 4825 §11), 413 and 415 are TW_ERR_STORAGE_INVALID with the server's
 * reason; a refused API key, a 5xx, no answer within the timeout or no connection are
 * TW_ERR_STORAGE_UNAVAILABLE, whose message names the XDMS's URL. A failed precondition (412) is
 * a {@link ConditionFailed}, as in the store.
 */
import type { DeleteResult, DocumentKey, DocumentStore, PutResult, StoredDocument, WriteCondition } from '../storage/document-store.js';
import { HttpClient, HttpClientError } from '../http/client.js';
import { StorageError } from '../storage/errors.js';
import { SIMSERVS_MEDIA_TYPE } from './simservs.js';

export interface XcapClientOptions {
  /** The XCAP root, e.g. `http://xdms.example.net:7888`. */
  readonly url: string;
  /** Sent as `NGV-API-Key` when set. */
  readonly apiKey?: string;
  /** How long one request may take, answer included; default 5000 ms. */
  readonly timeoutMs?: number;
}

/** The part of the document store a whole-document XCAP client offers. */
export type XcapDocuments = Pick<DocumentStore, 'get' | 'put' | 'delete'>;

type Method = 'GET' | 'PUT' | 'DELETE';

interface Answer {
  readonly status: number;
  readonly text: string;
  /** The entity tag without quotes, if the answer had one. */
  readonly etag?: string;
}

const enc = encodeURIComponent;
const ENTITIES: Readonly<Record<string, string>> = { quot: '"', apos: "'", lt: '<', gt: '>', amp: '&' };

function quoted(etag: string): string {
  return etag === '*' ? '*' : `"${etag}"`;
}

/** `"abc"` -> `abc`; weak tags (`W/"..."`) are not strong validators and are dropped (RFC 9110 §8.8.3). */
function unquoted(header: string | null): string | undefined {
  const m = header === null ? null : /^\s*"([^"]*)"\s*$/.exec(header);
  return m ? m[1] : undefined;
}

export class XcapClient implements XcapDocuments {
  private readonly base: string;
  private readonly timeoutMs: number;
  private readonly http: HttpClient;

  constructor(private readonly opts: XcapClientOptions) {
    let url: URL | undefined;
    try {
      url = new URL(opts.url);
    } catch {
      url = undefined;
    }
    if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) throw new Error(`XDMS url must be an http:// or https:// URL, got ${opts.url}`);
    this.base = url.href.replace(/\/+$/, '');
    this.timeoutMs = opts.timeoutMs ?? 5000;
    this.http = new HttpClient({ base: this.base, timeoutMs: this.timeoutMs });
  }

  /** The document with its entity tag, or undefined (404). */
  async get(key: DocumentKey): Promise<StoredDocument | undefined> {
    const a = await this.request('GET', key);
    if (a.status === 404) return undefined;
    if (a.status !== 200) throw this.failure(a, 'GET');
    if (a.etag === undefined) throw this.unavailable('answered a document without an entity tag');
    return { auid: key.auid, xui: key.xui, name: key.name, content: a.text, etag: a.etag };
  }

  /** Creates or replaces the document when `condition` holds. */
  async put(key: DocumentKey, content: string, condition: WriteCondition = {}): Promise<PutResult> {
    const a = await this.request('PUT', key, condition, content);
    if (a.status === 412) return a.etag === undefined ? { ok: false } : { ok: false, currentEtag: a.etag };
    if (a.status !== 200 && a.status !== 201) throw this.failure(a, 'PUT');
    if (a.etag === undefined) throw this.unavailable('answered a write without an entity tag');
    return { ok: true, etag: a.etag, created: a.status === 201 };
  }

  /** Deletes the document when `condition` holds; `deleted: false` when there was none. */
  async delete(key: DocumentKey, condition: Pick<WriteCondition, 'ifMatch'> = {}): Promise<DeleteResult> {
    const a = await this.request('DELETE', key, condition);
    if (a.status === 204 || a.status === 200) return { ok: true, deleted: true };
    if (a.status === 404) return condition.ifMatch === undefined ? { ok: true, deleted: false } : { ok: false };
    if (a.status === 412) return a.etag === undefined ? { ok: false } : { ok: false, currentEtag: a.etag };
    throw this.failure(a, 'DELETE');
  }

  private failure(a: Answer, method: Method): StorageError {
    const reason = this.reasonOf(a.text);
    if (a.status === 400 || a.status === 409 || a.status === 413 || a.status === 415) {
      return new StorageError('TW_ERR_STORAGE_INVALID', reason ?? `the XDMS refused the document (${a.status})`);
    }
    if (a.status === 401) return this.unavailable('refused the API key (401): check apiKey');
    return this.unavailable(`answered ${method} with ${a.status}${reason ? ` (${reason})` : ''}`);
  }

  /** The `message` of a JSON error, or the text of an XCAP error document (RFC 4825 §11). */
  private reasonOf(text: string): string | undefined {
    try {
      const body = JSON.parse(text) as { message?: unknown };
      if (typeof body.message === 'string') return body.message;
    } catch {
      // not JSON: an XCAP error document, or nothing
    }
    const phrase = /phrase="([^"]*)"/.exec(text)?.[1];
    if (phrase !== undefined) return phrase.replace(/&(quot|apos|lt|gt|amp);/g, (_m, name: string) => ENTITIES[name]!);
    return text.trim() === '' ? undefined : text.trim().slice(0, 500);
  }

  private unavailable(detail: string, cause?: unknown): StorageError {
    return new StorageError('TW_ERR_STORAGE_UNAVAILABLE', `the XDMS at ${this.base} ${detail}`, cause);
  }

  private async request(method: Method, key: DocumentKey, condition: WriteCondition = {}, content?: string): Promise<Answer> {
    const headers: Record<string, string> = {};
    if (this.opts.apiKey !== undefined) headers['ngv-api-key'] = this.opts.apiKey;
    if (condition.ifMatch !== undefined) headers['if-match'] = quoted(condition.ifMatch);
    if (condition.ifNoneMatch !== undefined) headers['if-none-match'] = '*';
    if (content !== undefined) headers['content-type'] = SIMSERVS_MEDIA_TYPE;
    const path = `/${enc(key.auid)}/users/${enc(key.xui)}/${enc(key.name)}`;
    try {
      const answer = await this.http.request(method, path, headers, content);
      const tag = answer.headers.etag;
      const etag = unquoted(Array.isArray(tag) ? tag[0] : tag ?? null);
      return { status: answer.status, text: answer.text, ...(etag !== undefined && { etag }) };
    } catch (error) {
      if (error instanceof HttpClientError && error.kind === 'timeout') throw this.unavailable(`did not answer ${method} within ${this.timeoutMs} ms`, error);
      const detail = error instanceof Error ? error.message : String(error);
      throw this.unavailable(`cannot be reached (${method}): ${detail}`, error);
    }
  }
}
