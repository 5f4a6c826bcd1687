/**
 * The portal with its HSS and XDMS in other servers (real sockets on 127.0.0.1): numbers are
 * provisioned over the HSS provisioning API and XCAP exactly as the in-process path provisions
 * them, and a failure half way answers an error and leaves neither a half-made subscriber nor
 * a number owned by the account.
 */
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { HssProvisioningClient, startHssServers, type HssServers } from '../../src/hss/index.js';
import { buildPortalServer, RemoteHssSubscribers } from '../../src/portal/index.js';
import { computeHa1 } from '../../src/sip/auth/index.js';
import { StorageError, type PublicIdentity } from '../../src/storage/index.js';
import { MemoryAccountStore, MemoryDocumentStore, MemoryRegistrationStore, MemorySubscriberStore } from '../../src/storage/memory/index.js';
import { buildXdmsServer, defaultSimservs, SIMSERVS_AUID, SIMSERVS_DOCUMENT, XcapClient } from '../../src/xdms/index.js';
import { account, API_KEY, CODE, DOMAIN, numbersUrl, startPortal } from './fixtures.js';

const ALICE = 'alice@example.org';
const IMPU0 = `sip:6505550000@${DOMAIN}`;
const IMPI0 = `6505550000@${DOMAIN}`;
const simservsKey = (impu: string) => ({ auid: SIMSERVS_AUID, xui: impu, name: SIMSERVS_DOCUMENT });
const IFC =
  '<ServiceProfile><InitialFilterCriteria><Priority>0</Priority><ApplicationServer><ServerName>sip:mmtel.example.com</ServerName>' +
  '<DefaultHandling>0</DefaultHandling></ApplicationServer></InitialFilterCriteria></ServiceProfile>';

/** An HSS store whose public identity writes can be made to fail (the HSS then answers 503). */
class FlakyStore extends MemorySubscriberStore {
  failPublicIdentities = false;
  override async createPublicIdentity(identity: PublicIdentity): Promise<void> {
    if (this.failPublicIdentities) throw new StorageError('TW_ERR_STORAGE_UNAVAILABLE', 'disk on fire');
    return super.createPublicIdentity(identity);
  }
}

interface Split {
  readonly app: FastifyInstance;
  readonly hssStore: FlakyStore;
  readonly xdmsStore: MemoryDocumentStore;
  readonly accounts: MemoryAccountStore;
  readonly hss: HssServers;
  readonly xdms: FastifyInstance;
  close(): Promise<void>;
}

async function startSplit(): Promise<Split> {
  const hssStore = new FlakyStore();
  const xdmsStore = new MemoryDocumentStore();
  const hss = await startHssServers({ store: hssStore, bind: '127.0.0.1', homeDomain: DOMAIN, serverName: `sip:scscf.${DOMAIN}`, signallingPort: 0, provisioningPort: 0, apiKey: API_KEY });
  const xdms = await buildXdmsServer({ store: xdmsStore, apiKey: API_KEY });
  await xdms.listen({ host: '127.0.0.1', port: 0 });
  const accounts = new MemoryAccountStore();
  const own = new MemoryDocumentStore();
  const client = new HssProvisioningClient({ url: `http://127.0.0.1:${hss.provisioningPort}`, apiKey: API_KEY, timeoutMs: 2000 });
  const app = await buildPortalServer({
    accounts,
    registrations: new MemoryRegistrationStore(),
    subscribers: new RemoteHssSubscribers(client, own),
    documents: new XcapClient({ url: `http://127.0.0.1:${(xdms.server.address() as AddressInfo).port}`, apiKey: API_KEY, timeoutMs: 2000 }),
    domain: DOMAIN,
    signupCode: CODE,
    apiKey: API_KEY,
    outboundProxy: '192.0.2.1:5060 (UDP or TCP)',
  });
  return {
    app,
    hssStore,
    xdmsStore,
    accounts,
    hss,
    xdms,
    close: async () => {
      await app.close();
      await Promise.allSettled([hss.close(), xdms.close()]);
    },
  };
}

describe('the portal on a remote HSS and XDMS', () => {
  let s: Split;
  let cookie: string;
  const allocate = (payload?: object) => s.app.inject({ method: 'POST', url: numbersUrl(ALICE), headers: { cookie }, ...(payload && { payload }) });

  beforeEach(async () => {
    s = await startSplit();
    cookie = await account(s.app, ALICE);
  });
  afterEach(async () => {
    await s.close();
  });

  it('allocates a number with the same subscriber data and simservs document as the in-process path', async () => {
    const res = await allocate();
    expect(res.statusCode).toBe(201);
    const body = res.json();
    expect(body).toMatchObject({ sip_uri: IMPU0, private_id: IMPI0, sip_password: expect.stringMatching(/^[A-Za-z0-9]{16}$/) });
    expect((await s.hssStore.getPrivateIdentity(IMPI0))?.digest).toEqual([
      { realm: DOMAIN, algorithm: 'MD5', ha1: computeHa1('MD5', IMPI0, DOMAIN, body.sip_password) },
      { realm: DOMAIN, algorithm: 'SHA-256', ha1: computeHa1('SHA-256', IMPI0, DOMAIN, body.sip_password) },
    ]);
    expect(await s.hssStore.publicIdentitiesOf(IMPI0)).toEqual([IMPU0]);
    expect((await s.hssStore.implicitSetOf(IMPU0))?.members).toEqual([{ impu: IMPU0, implicitSetId: expect.any(String), barred: false }]);
    expect((await s.xdmsStore.get(simservsKey(IMPU0)))?.content).toBe(defaultSimservs());

    const local = await startPortal();
    const localCookie = await account(local.app, ALICE);
    await local.app.inject({ method: 'POST', url: numbersUrl(ALICE), headers: { cookie: localCookie } });
    const ifcs = (app: FastifyInstance, c: string) => app.inject({ method: 'GET', url: numbersUrl(ALICE, IMPU0, 'ifcs'), headers: { cookie: c } });
    const [remoteProfile, localProfile] = [await ifcs(s.app, cookie), await ifcs(local.app, localCookie)];
    expect(remoteProfile.statusCode).toBe(200);
    expect(remoteProfile.body).toBe(localProfile.body);
    await local.app.close();
  });

  it('resets the SIP password in the HSS, edits simservs and iFCs there, and deletes the number from both', async () => {
    const first = (await allocate()).json();
    const reset = await s.app.inject({ method: 'POST', url: numbersUrl(ALICE, IMPU0, 'password'), headers: { cookie } });
    const password = reset.json().sip_password as string;
    expect(password).not.toBe(first.sip_password);
    expect((await s.hssStore.getPrivateIdentity(IMPI0))?.digest[0]?.ha1).toBe(computeHa1('MD5', IMPI0, DOMAIN, password));

    const changed = defaultSimservs().replace('<originating-identity-presentation active="true"/>', '<originating-identity-presentation active="false"/>');
    const put = await s.app.inject({ method: 'PUT', url: numbersUrl(ALICE, IMPU0, 'simservs'), headers: { cookie, 'content-type': 'application/xml' }, payload: changed });
    expect(put.statusCode).toBe(200);
    expect((await s.xdmsStore.get(simservsKey(IMPU0)))?.content).toBe(changed);

    const ifcs = (payload: string) =>
      s.app.inject({ method: 'PUT', url: numbersUrl(ALICE, IMPU0, 'ifcs'), headers: { cookie, 'content-type': 'application/xml' }, payload });
    expect((await ifcs(IFC)).statusCode).toBe(200);
    expect((await s.hssStore.implicitSetOf(IMPU0))?.serviceProfile).toContain('sip:mmtel.example.com');
    const bad = await ifcs('<ServiceProfile><InitialFilterCriteria/></ServiceProfile>');
    expect([bad.statusCode, bad.json().field]).toEqual([400, 'body']);

    const del = await s.app.inject({ method: 'DELETE', url: numbersUrl(ALICE, IMPU0), headers: { cookie } });
    expect(del.statusCode).toBe(204);
    expect(await s.hssStore.getPublicIdentity(IMPU0)).toBeUndefined();
    expect(await s.hssStore.getPrivateIdentity(IMPI0)).toBeUndefined();
    expect(await s.xdmsStore.get(simservsKey(IMPU0))).toBeUndefined();
    expect(await s.accounts.numbersOf(ALICE)).toEqual([]);
    expect((await allocate()).json().number).toBe('6505550000');
  });

  it('shares a private identity between two numbers and removes it with the last one', async () => {
    await allocate();
    expect((await allocate({ private_id: IMPI0 })).statusCode).toBe(201);
    const impu1 = `sip:6505550001@${DOMAIN}`;
    expect(await s.hssStore.publicIdentitiesOf(IMPI0)).toEqual([IMPU0, impu1]);
    await s.app.inject({ method: 'DELETE', url: numbersUrl(ALICE, IMPU0), headers: { cookie } });
    expect(await s.hssStore.publicIdentitiesOf(IMPI0)).toEqual([impu1]);
    await s.app.inject({ method: 'DELETE', url: numbersUrl(ALICE, impu1), headers: { cookie } });
    expect(await s.hssStore.getPrivateIdentity(IMPI0)).toBeUndefined();
  });

  it('skips numbers the HSS already has', async () => {
    await s.hssStore.addSubscriber({
      privateIdentity: { impi: IMPI0, digest: [] },
      implicitSet: { id: 'cli', serviceProfile: '<ServiceProfile/>' },
      publicIdentities: [{ impu: IMPU0 }],
    });
    expect((await allocate()).json().number).toBe('6505550001');
  });

  it('shows a number whose bindings are not in the portal\u2019s storage as not registered', async () => {
    await allocate();
    const list = await s.app.inject({ method: 'GET', url: numbersUrl(ALICE), headers: { cookie } });
    expect(list.json().numbers).toEqual([expect.objectContaining({ sip_uri: IMPU0, registered: false, contacts: [] })]);
  });

  it('undoes an allocation the HSS fails half way: 503, no subscriber data, no number; a retry gets the same number', async () => {
    s.hssStore.failPublicIdentities = true;
    const failed = await allocate();
    expect([failed.statusCode, failed.json().code]).toEqual([503, 'TW_ERR_PORTAL_UNAVAILABLE']);
    expect(await s.hssStore.getPrivateIdentity(IMPI0)).toBeUndefined();
    expect((await s.hssStore.listPrivateIdentities({ limit: 10 })).items).toEqual([]);
    expect(await s.accounts.numbersOf(ALICE)).toEqual([]);
    s.hssStore.failPublicIdentities = false;
    expect((await allocate()).json().number).toBe('6505550000');
  });

  it('undoes an allocation when the XDMS is gone: 503, the HSS data removed again, no number', async () => {
    await s.xdms.close();
    const failed = await allocate();
    expect([failed.statusCode, failed.json().code]).toEqual([503, 'TW_ERR_PORTAL_UNAVAILABLE']);
    expect(await s.hssStore.getPublicIdentity(IMPU0)).toBeUndefined();
    expect(await s.hssStore.getPrivateIdentity(IMPI0)).toBeUndefined();
    expect(await s.accounts.numbersOf(ALICE)).toEqual([]);
  });

  it('answers 503 when the HSS is gone, and keeps a number whose deletion failed so a retry finishes it', async () => {
    await allocate();
    await s.hss.close();
    const failed = await allocate();
    expect([failed.statusCode, failed.json().code]).toEqual([503, 'TW_ERR_PORTAL_UNAVAILABLE']);
    expect((await s.accounts.numbersOf(ALICE)).map((n) => n.number)).toEqual(['6505550000']);
    const del = await s.app.inject({ method: 'DELETE', url: numbersUrl(ALICE, IMPU0), headers: { cookie } });
    expect(del.statusCode).toBe(503);
    expect((await s.accounts.numbersOf(ALICE)).map((n) => n.number)).toEqual(['6505550000']);
  });
});
