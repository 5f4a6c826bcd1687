/** HttpHss over a real socket against the signalling plugin: the same answers as LocalHss. */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildHssSignalling, HssError, HttpHss } from '../../src/hss/index.js';
import { LocalHss } from '../../src/ims/hss-local.js';
import type { Hss } from '../../src/ims/hss.js';
import { MemorySubscriberStore } from '../../src/storage/memory/index.js';
import { AKA, ALICE, BOB, CAROL, SCSCF, seed } from './fixtures.js';

const NOBODY = 'sip:nobody@example.com';

async function listening(app: FastifyInstance): Promise<string> {
  await app.listen({ host: '127.0.0.1', port: 0 });
  return `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
}

describe('HttpHss against the signalling API over HTTP', () => {
  let localStore: MemorySubscriberStore;
  let remoteStore: MemorySubscriberStore;
  let app: FastifyInstance;
  let local: Hss;
  let remote: HttpHss;

  beforeEach(async () => {
    localStore = new MemorySubscriberStore();
    remoteStore = new MemorySubscriberStore();
    await seed(localStore);
    await seed(remoteStore);
    app = await buildHssSignalling({ store: remoteStore, realm: 'example.com', apiKey: 'k3y' });
    local = new LocalHss(localStore);
    remote = new HttpHss({ url: await listening(app), apiKey: 'k3y' });
  });
  afterEach(async () => {
    await app.close();
  });

  /** Asks both the same question and expects the same answer. */
  async function same<T>(ask: (hss: Hss) => Promise<T>): Promise<T> {
    const [a, b] = await Promise.all([ask(local), ask(remote)]);
    expect(b).toEqual(a);
    return b;
  }

  it('answers UAR like LocalHss: unknown, mismatch, barred, first and subsequent registration', async () => {
    await same((h) => h.userAuthorization(ALICE.impi, NOBODY));
    await same((h) => h.userAuthorization('nobody@example.com', ALICE.impu));
    expect(await same((h) => h.userAuthorization(BOB.impi, ALICE.impu))).toEqual({ ok: false, reason: 'identities-dont-match' });
    expect(await same((h) => h.userAuthorization(CAROL.impi, CAROL.impu))).toEqual({ ok: false, reason: 'barred' });
    expect(await same((h) => h.userAuthorization(ALICE.impi, ALICE.tel))).toEqual({ ok: true });
    await same((h) => h.serverAssignment(ALICE.impu, 'REGISTRATION', SCSCF));
    expect(await same((h) => h.userAuthorization(ALICE.impi, ALICE.tel))).toEqual({ ok: true, scscf: SCSCF });
  });

  it('answers MAR like LocalHss for Digest subscribers and every failure', async () => {
    const av = await same((h) => h.authVector(ALICE.impi, ALICE.tel));
    expect(av.ok && av.digest.map((d) => d.algorithm)).toEqual(['MD5', 'SHA-256']);
    await same((h) => h.authVector(BOB.impi, ALICE.impu));
    await same((h) => h.authVector('nobody@example.com', ALICE.impu));
    await same((h) => h.authVector(ALICE.impi, NOBODY));
  });

  it('never hands AKA keys over HTTP: an AKA-only subscriber gets no Digest credentials', async () => {
    const av = await remote.authVector(AKA.impi, AKA.impu);
    expect(av).toEqual({ ok: true, impi: AKA.impi, digest: [] });
  });

  it('answers SAR, LIR and the implicit set like LocalHss through a registration and de-registration', async () => {
    await same((h) => h.locationInfo(ALICE.tel));
    await same((h) => h.implicitSetOf(ALICE.tel));
    const reg = await same((h) => h.serverAssignment(ALICE.tel, 'REGISTRATION', SCSCF));
    expect(reg?.implicitSet.members.map((m) => m.impu)).toEqual([ALICE.impu, ALICE.tel]);
    await same((h) => h.serverAssignment(ALICE.tel, 'RE_REGISTRATION', SCSCF));
    expect(await same((h) => h.locationInfo(ALICE.tel))).toEqual({ state: 'REGISTERED', scscf: SCSCF, defaultImpu: ALICE.impu, barred: false });
    await same((h) => h.locationInfo(CAROL.impu));
    await same((h) => h.serverAssignment(ALICE.impu, 'TIMEOUT_DEREGISTRATION', SCSCF));
    await same((h) => h.serverAssignment(ALICE.impu, 'USER_DEREGISTRATION', SCSCF));
    expect((await remote.locationInfo(ALICE.impu))?.state).toBe('NOT_REGISTERED');
    await same((h) => h.serverAssignment(NOBODY, 'REGISTRATION', SCSCF));
    await same((h) => h.locationInfo(NOBODY));
    await same((h) => h.implicitSetOf(NOBODY));
  });

  it('encodes identities with characters that mean something in a URL', async () => {
    await localStore.addSubscriber({
      privateIdentity: { impi: 'odd+us#er%@example.com', digest: [] },
      implicitSet: { id: 'irs-odd', serviceProfile: '<ServiceProfile/>' },
      publicIdentities: [{ impu: 'sip:odd+user;x=1?y/z@example.com' }, { impu: 'tel:+16505550002;phone-context=+1' }],
    });
    await remoteStore.addSubscriber({
      privateIdentity: { impi: 'odd+us#er%@example.com', digest: [] },
      implicitSet: { id: 'irs-odd', serviceProfile: '<ServiceProfile/>' },
      publicIdentities: [{ impu: 'sip:odd+user;x=1?y/z@example.com' }, { impu: 'tel:+16505550002;phone-context=+1' }],
    });
    expect(await same((h) => h.userAuthorization('odd+us#er%@example.com', 'tel:+16505550002;phone-context=+1'))).toEqual({ ok: true });
    expect(await same((h) => h.locationInfo('tel:+16505550002;phone-context=+1'))).toMatchObject({ defaultImpu: 'sip:odd+user;x=1?y/z@example.com' });
  });

  it('fails with TW_ERR_HSS_UNAUTHORIZED when the API key is wrong', async () => {
    const wrong = new HttpHss({ url: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`, apiKey: 'nope' });
    await expect(wrong.locationInfo(ALICE.impu)).rejects.toMatchObject({ code: 'TW_ERR_HSS_UNAUTHORIZED' });
  });
});

describe('HttpHss failures', () => {
  let server: Server | undefined;
  afterEach(async () => {
    server?.closeAllConnections();
    await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
    server = undefined;
  });

  async function serve(handler: Parameters<typeof createServer>[1]): Promise<string> {
    server = createServer(handler);
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  it('reports TW_ERR_HSS_TIMEOUT when the HSS does not answer in time', async () => {
    const url = await serve(() => {});
    const hss = new HttpHss({ url, timeoutMs: 100 });
    const error = await hss.locationInfo(ALICE.impu).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HssError);
    expect(error).toMatchObject({ code: 'TW_ERR_HSS_TIMEOUT' });
    expect((error as Error).message).toContain('within 100 ms');
  });

  it('reports TW_ERR_HSS_UNAVAILABLE when nothing listens', async () => {
    const url = await serve(() => {});
    await new Promise((resolve) => server!.close(resolve));
    server = undefined;
    await expect(new HttpHss({ url }).userAuthorization(ALICE.impi, ALICE.impu)).rejects.toMatchObject({ code: 'TW_ERR_HSS_UNAVAILABLE' });
  });

  it('reports TW_ERR_HSS_BAD_ANSWER for an answer that is not the API', async () => {
    const url = await serve((_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end('<html>hello</html>'));
    await expect(new HttpHss({ url }).implicitSetOf(ALICE.impu)).rejects.toMatchObject({ code: 'TW_ERR_HSS_BAD_ANSWER' });
    const url2 = await serve((_req, res) => res.writeHead(500, { 'content-type': 'application/json' }).end('{"code":"X","message":"boom"}'));
    await expect(new HttpHss({ url: url2 }).locationInfo(ALICE.impu)).rejects.toMatchObject({ code: 'TW_ERR_HSS_BAD_ANSWER' });
  });

  it('refuses a URL that is not http or https', () => {
    expect(() => new HttpHss({ url: 'ftp://hss' })).toThrow(/http:\/\/ or https:\/\//);
    expect(() => new HttpHss({ url: 'not a url' })).toThrow(/HSS url/);
  });
});
