/**
 * HssProvisioningClient over real sockets against the provisioning API: Ellis's order of calls
 * builds a subscriber the signalling side sees, HTTP errors come back as the StorageErrors the
 * portal understands, the API key is sent, and a silent or absent HSS fails within the timeout.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { HssProvisioningClient, startHssServers, type HssServers } from '../../src/hss/index.js';
import { StorageError, type PrivateIdentity } from '../../src/storage/index.js';
import { MemorySubscriberStore } from '../../src/storage/memory/index.js';
import { ALICE, md5, REALM, seed, sha256 } from './fixtures.js';

const KEY = 'provisioning-key-0123';
const IMPI = '6505550100@example.com';
const IMPU = 'sip:6505550100@example.com';
const IFC =
  '<ServiceProfile><InitialFilterCriteria><Priority>1</Priority><TriggerPoint><ConditionTypeCNF>0</ConditionTypeCNF>' +
  '<SPT><ConditionNegated>0</ConditionNegated><Group>0</Group><Method>INVITE</Method></SPT></TriggerPoint>' +
  '<ApplicationServer><ServerName>sip:mmtel.example.com</ServerName><DefaultHandling>0</DefaultHandling></ApplicationServer></InitialFilterCriteria></ServiceProfile>';

/** The code of the StorageError `promise` rejects with. */
async function codeOf(promise: Promise<unknown>): Promise<string> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(error instanceof StorageError)) throw new Error(`expected a StorageError, got ${String(error)}`);
  return error.code;
}

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

describe('HssProvisioningClient against the provisioning API', () => {
  let store: MemorySubscriberStore;
  let hss: HssServers;
  let client: HssProvisioningClient;
  let url: string;

  beforeEach(async () => {
    store = new MemorySubscriberStore();
    await seed(store);
    hss = await startHssServers({ store, bind: '127.0.0.1', homeDomain: REALM, serverName: 'sip:scscf.example.com', signallingPort: 0, provisioningPort: 0, apiKey: KEY });
    url = `http://127.0.0.1:${hss.provisioningPort}`;
    client = new HssProvisioningClient({ url, apiKey: KEY });
  });
  afterEach(async () => {
    await hss.close();
  });

  it('provisions a subscriber in Ellis\u2019s order: IRS, private identity, link, service profile, public identity', async () => {
    const irs = await client.createIrs();
    const answer = await client.putPrivate(IMPI, { plaintext_password: 'sip-secret-0100', realm: REALM });
    expect(answer).toEqual({ digest_ha1: md5(IMPI, 'sip-secret-0100'), realm: REALM });
    await client.linkPrivate(irs, IMPI);
    const sp = await client.createServiceProfile(irs);
    expect(await client.putPublicId(irs, sp, IMPU)).toContain(`<Identity>${IMPU}</Identity>`);

    const stored = (await store.getPrivateIdentity(IMPI)) as PrivateIdentity;
    expect(stored.digest).toEqual([
      { realm: REALM, algorithm: 'MD5', ha1: md5(IMPI, 'sip-secret-0100') },
      { realm: REALM, algorithm: 'SHA-256', ha1: sha256(IMPI, 'sip-secret-0100') },
    ]);
    expect(await store.publicIdentitiesOf(IMPI)).toEqual([IMPU]);
    expect(await client.associatedPrivateIds(IMPU)).toEqual([IMPI]);
    expect(await client.associatedPublicIds(IMPI)).toEqual([IMPU]);
    expect(await client.publicIds(irs)).toEqual([IMPU]);
    expect(await client.privateIds(irs)).toEqual([IMPI]);
    expect(await client.getPrivate(IMPI)).toEqual(answer);
    expect(await client.getPublicId(irs, sp, IMPU)).toContain(IMPU);
  });

  it('reads and replaces filter criteria, and refuses an invalid profile as TW_ERR_STORAGE_INVALID with the HSS\u2019s reason', async () => {
    const irs = await client.createIrs();
    const sp = await client.createServiceProfile(irs);
    await client.putPublicId(irs, sp, IMPU);
    expect(await client.putFilterCriteria(irs, sp, IFC)).toContain('sip:mmtel.example.com');
    expect(await client.getFilterCriteria(irs, sp)).toContain('<Priority>1</Priority>');
    const bad = client.putFilterCriteria(irs, sp, '<ServiceProfile><InitialFilterCriteria><Priority>x</Priority></InitialFilterCriteria></ServiceProfile>');
    await expect(bad).rejects.toThrow(/Priority must be a non-negative integer/);
    expect(await codeOf(client.putFilterCriteria(irs, sp, '<nope'))).toBe('TW_ERR_STORAGE_INVALID');
  });

  it('answers undefined or false for what does not exist, NOT_FOUND where something was needed, EXISTS for a conflict', async () => {
    expect(await client.getPrivate('nobody@example.com')).toBeUndefined();
    expect(await client.associatedPublicIds('nobody@example.com')).toBeUndefined();
    expect(await client.associatedPrivateIds('sip:nobody@example.com')).toBeUndefined();
    expect(await client.publicIds('no-such-irs')).toBeUndefined();
    expect(await client.deletePrivate('nobody@example.com')).toBe(false);
    expect(await client.deleteIrs('no-such-irs')).toBe(false);
    expect(await codeOf(client.linkPrivate('no-such-irs', ALICE.impi))).toBe('TW_ERR_STORAGE_NOT_FOUND');
    expect(await codeOf(client.getFilterCriteria('no-such-irs', 'no-such-irs'))).toBe('TW_ERR_STORAGE_NOT_FOUND');
    const irs = await client.createIrs();
    const sp = await client.createServiceProfile(irs);
    expect(await codeOf(client.putPublicId(irs, sp, ALICE.impu))).toBe('TW_ERR_STORAGE_EXISTS'); // Alice's IMPU is in her own IRS
  });

  it('deletes an IRS with its public identity, then the private identity', async () => {
    const irs = await client.createIrs();
    await client.putPrivate(IMPI, { plaintext_password: 'sip-secret-0100' });
    await client.linkPrivate(irs, IMPI);
    await client.putPublicId(irs, await client.createServiceProfile(irs), IMPU);
    expect(await client.deleteIrs(irs)).toBe(true);
    expect(await client.associatedPrivateIds(IMPU)).toBeUndefined();
    expect(await client.associatedPublicIds(IMPI)).toEqual([]);
    expect(await client.deletePrivate(IMPI)).toBe(true);
    expect(await store.getPrivateIdentity(IMPI)).toBeUndefined();
  });

  it('sends NGV-API-Key: without it, or with a wrong one, the HSS refuses and the client says to check apiKey', async () => {
    for (const other of [new HssProvisioningClient({ url }), new HssProvisioningClient({ url, apiKey: `${KEY}x` })]) {
      const failing = other.getPrivate(ALICE.impi);
      await expect(failing).rejects.toThrow(/refused the API key \(401/);
      expect(await codeOf(other.getPrivate(ALICE.impi))).toBe('TW_ERR_STORAGE_UNAVAILABLE');
    }
    expect(await client.getPrivate(ALICE.impi)).toEqual({ digest_ha1: md5(ALICE.impi, ALICE.password), realm: REALM });
  });
});

describe('HssProvisioningClient when the HSS cannot be used', () => {
  const servers: Server[] = [];
  afterEach(async () => {
    for (const s of servers.splice(0)) {
      s.closeAllConnections();
      await new Promise((resolve) => s.close(resolve));
    }
  });

  it('reports a 5xx of the HSS (its store failing) as TW_ERR_STORAGE_UNAVAILABLE naming the HSS', async () => {
    class FailingStore extends MemorySubscriberStore {
      override async getPrivateIdentity(): Promise<PrivateIdentity | undefined> {
        throw new StorageError('TW_ERR_STORAGE_UNAVAILABLE', 'disk on fire');
      }
    }
    const hss = await startHssServers({ store: new FailingStore(), bind: '127.0.0.1', homeDomain: REALM, serverName: 'sip:scscf.example.com', signallingPort: 0, provisioningPort: 0 });
    try {
      const client = new HssProvisioningClient({ url: `http://127.0.0.1:${hss.provisioningPort}` });
      await expect(client.getPrivate(ALICE.impi)).rejects.toThrow(new RegExp(`the HSS at http://127.0.0.1:${hss.provisioningPort} answered GET .* with 503`));
      expect(await codeOf(client.getPrivate(ALICE.impi))).toBe('TW_ERR_STORAGE_UNAVAILABLE');
    } finally {
      await hss.close();
    }
  });

  it('gives up on an HSS that never answers after the timeout', async () => {
    const silent = createServer(() => undefined);
    servers.push(silent);
    const client = new HssProvisioningClient({ url: await listen(silent), timeoutMs: 200 });
    const started = Date.now();
    await expect(client.createIrs()).rejects.toThrow(/did not answer POST \/irs within 200 ms/);
    expect(Date.now() - started).toBeLessThan(2000);
    expect(await codeOf(client.getPrivate(IMPI))).toBe('TW_ERR_STORAGE_UNAVAILABLE');
  });

  it('reports an HSS that is not listening as TW_ERR_STORAGE_UNAVAILABLE at once', async () => {
    const gone = createServer();
    const url = await listen(gone);
    await new Promise((resolve) => gone.close(resolve));
    const client = new HssProvisioningClient({ url, timeoutMs: 5000 });
    const started = Date.now();
    await expect(client.associatedPublicIds(IMPI)).rejects.toThrow(/cannot be reached/);
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('refuses a URL that is not http or https', () => {
    expect(() => new HssProvisioningClient({ url: 'ftp://hss.example.net' })).toThrow(/HSS provisioning url must be an http:\/\/ or https:\/\/ URL/);
  });
});
