/**
 * XcapClient over real sockets against the XDMS: whole documents with entity-tag conditions as
 * the document store has them, XCAP errors as the StorageErrors the portal understands, the API
 * key sent, and a silent or absent XDMS failing within the timeout.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { StorageError, type DocumentKey } from '../../src/storage/index.js';
import { MemoryDocumentStore } from '../../src/storage/memory/index.js';
import { buildXdmsServer, defaultSimservs, SIMSERVS_AUID, SIMSERVS_DOCUMENT, XcapClient } from '../../src/xdms/index.js';

const KEY = 'xdms-key-0123456789';
const IMPU = 'sip:6505550200@example.com';
const DOC: DocumentKey = { auid: SIMSERVS_AUID, xui: IMPU, name: SIMSERVS_DOCUMENT };

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function codeOf(promise: Promise<unknown>): Promise<string> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(error instanceof StorageError)) throw new Error(`expected a StorageError, got ${String(error)}`);
  return error.code;
}

describe('XcapClient against the XDMS', () => {
  let store: MemoryDocumentStore;
  let app: FastifyInstance;
  let url: string;
  let client: XcapClient;

  beforeEach(async () => {
    store = new MemoryDocumentStore();
    app = await buildXdmsServer({ store, apiKey: KEY });
    await app.listen({ host: '127.0.0.1', port: 0 });
    url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
    client = new XcapClient({ url, apiKey: KEY });
  });
  afterEach(async () => {
    await app.close();
  });

  it('creates, reads, replaces and deletes a document, with the entity tags the XDMS keeps', async () => {
    expect(await client.get(DOC)).toBeUndefined();
    const created = await client.put(DOC, defaultSimservs(), { ifNoneMatch: '*' });
    expect(created).toMatchObject({ ok: true, created: true });
    const read = await client.get(DOC);
    expect(read).toEqual({ ...DOC, content: defaultSimservs(), etag: (await store.get(DOC))!.etag });
    expect(created.ok && created.etag).toBe(read!.etag);

    const changed = defaultSimservs().replace('<originating-identity-presentation active="true"/>', '<originating-identity-presentation active="false"/>');
    const replaced = await client.put(DOC, changed, { ifMatch: read!.etag });
    expect(replaced).toMatchObject({ ok: true, created: false });
    expect((await store.get(DOC))!.content).toBe(changed);
    expect(await client.delete(DOC)).toEqual({ ok: true, deleted: true });
    expect(await store.get(DOC)).toBeUndefined();
    expect(await client.delete(DOC)).toEqual({ ok: true, deleted: false });
  });

  it('reports failed conditions as the store does, with the current entity tag, and writes nothing', async () => {
    await store.put(DOC, defaultSimservs());
    const current = (await store.get(DOC))!.etag;
    expect(await client.put(DOC, defaultSimservs(), { ifNoneMatch: '*' })).toEqual({ ok: false, currentEtag: current });
    expect(await client.put(DOC, defaultSimservs(), { ifMatch: 'stale' })).toEqual({ ok: false, currentEtag: current });
    expect(await client.delete(DOC, { ifMatch: 'stale' })).toEqual({ ok: false, currentEtag: current });
    expect((await store.get(DOC))!.etag).toBe(current);
    await store.delete(DOC);
    expect(await client.delete(DOC, { ifMatch: current })).toEqual({ ok: false });
  });

  it('refuses an invalid document as TW_ERR_STORAGE_INVALID with the XDMS\u2019s reason', async () => {
    const invalid = client.put(DOC, '<simservs xmlns="urn:wrong"/>');
    await expect(invalid).rejects.toThrow(/simservs/);
    expect(await codeOf(client.put(DOC, '<simservs'))).toBe('TW_ERR_STORAGE_INVALID');
    expect(await store.get(DOC)).toBeUndefined();
  });

  it('sends NGV-API-Key: without it the XDMS refuses and the client says to check apiKey', async () => {
    const keyless = new XcapClient({ url });
    await expect(keyless.get(DOC)).rejects.toThrow(/refused the API key \(401\)/);
    expect(await codeOf(keyless.put(DOC, defaultSimservs()))).toBe('TW_ERR_STORAGE_UNAVAILABLE');
    expect(await client.get(DOC)).toBeUndefined();
  });
});

describe('XcapClient when the XDMS cannot be used', () => {
  const servers: Server[] = [];
  afterEach(async () => {
    for (const s of servers.splice(0)) {
      s.closeAllConnections();
      await new Promise((resolve) => s.close(resolve));
    }
  });

  it('reports a 5xx as TW_ERR_STORAGE_UNAVAILABLE naming the XDMS', async () => {
    const failing = createServer((_req, res) => res.writeHead(503, { 'content-type': 'application/json' }).end('{"code":"TW_ERR_XDMS_BUSY","message":"busy"}'));
    servers.push(failing);
    const url = await listen(failing);
    const client = new XcapClient({ url });
    await expect(client.get(DOC)).rejects.toThrow(`the XDMS at ${url} answered GET with 503 (busy)`);
    expect(await codeOf(client.delete(DOC))).toBe('TW_ERR_STORAGE_UNAVAILABLE');
  });

  it('gives up on an XDMS that never answers after the timeout', async () => {
    const silent = createServer(() => undefined);
    servers.push(silent);
    const client = new XcapClient({ url: await listen(silent), timeoutMs: 200 });
    const started = Date.now();
    await expect(client.put(DOC, defaultSimservs())).rejects.toThrow(/did not answer PUT within 200 ms/);
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('reports an XDMS that is not listening as TW_ERR_STORAGE_UNAVAILABLE', async () => {
    const gone = createServer();
    const url = await listen(gone);
    await new Promise((resolve) => gone.close(resolve));
    expect(await codeOf(new XcapClient({ url }).get(DOC))).toBe('TW_ERR_STORAGE_UNAVAILABLE');
  });

  it('refuses a URL that is not http or https', () => {
    expect(() => new XcapClient({ url: 'xdms.example.net:7888' })).toThrow(/XDMS url must be an http:\/\/ or https:\/\/ URL/);
  });
});
