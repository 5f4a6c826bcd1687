/** The provisioning API's behaviour, run on every store adapter (see provisioning.test.ts, sqlite.test.ts). */
import type { FastifyInstance } from 'fastify';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildHssProvisioning } from '../../src/hss/index.js';
import type { SubscriberStore } from '../../src/storage/index.js';
import { ALICE, IFC_PROFILE, md5, seed, sha256, type OpenStore, type StoreHandle } from './fixtures.js';

const e = encodeURIComponent;
const xml = { 'content-type': 'application/xml' };
const pubXml = (impu: string, barred = false) =>
  `<PublicIdentity>${barred ? '<BarringIndication>1</BarringIndication>' : ''}<Identity>${impu}</Identity></PublicIdentity>`;

export function provisioningSuite(adapter: string, open: OpenStore): void {
  describe(`HSS provisioning API (${adapter})`, () => {
    let handle: StoreHandle;
    let store: SubscriberStore;
    let app: FastifyInstance;
    const req = (method: 'GET' | 'PUT' | 'POST' | 'DELETE', url: string, payload?: unknown, headers: Record<string, string> = {}) =>
      app.inject({ method, url, headers, ...(payload === undefined ? {} : { payload: payload as string }) });

    beforeEach(async () => {
      handle = await open();
      store = handle.store;
      await seed(store);
      app = await buildHssProvisioning({ store, homeDomain: 'example.com' });
    });
    afterEach(async () => {
      await app.close();
      await handle.close();
    });

    /** Ellis's order: IRS, private identity, link, service profile, public identity, iFCs. */
    async function provisionNumber(impi: string, impu: string) {
      const irsRes = await req('POST', '/irs');
      const irsPath = irsRes.headers.location as string;
      await req('PUT', `/private/${e(impi)}`, { plaintext_password: 'pw-1' });
      await req('PUT', `${irsPath}/private_ids/${e(impi)}`);
      const spRes = await req('POST', `${irsPath}/service_profiles`);
      const spPath = spRes.headers.location as string;
      const pubRes = await req('PUT', `${spPath}/public_ids/${e(impu)}`, pubXml(impu), xml);
      return { irsRes, irsPath, irs: irsPath.split('/')[2]!, spRes, spPath, pubRes };
    }

    describe('/private/<impi>', () => {
      it('PUT with a plaintext password stores MD5 and SHA-256 HA1s, never the password', async () => {
        const res = await req('PUT', '/private/new%40example.com', { plaintext_password: 'hunter2' });
        expect(res.statusCode).toBe(200);
        expect(res.json()).toEqual({ digest_ha1: md5('new@example.com', 'hunter2'), realm: 'example.com' });
        const stored = await store.getPrivateIdentity('new@example.com');
        expect(stored?.digest).toEqual([
          { realm: 'example.com', algorithm: 'MD5', ha1: md5('new@example.com', 'hunter2') },
          { realm: 'example.com', algorithm: 'SHA-256', ha1: sha256('new@example.com', 'hunter2') },
        ]);
        expect(JSON.stringify(stored)).not.toContain('hunter2');
      });

      it('PUT with a digest_ha1 and realm replaces that realm\'s HA1s; GET answers it without a password', async () => {
        const ha1 = md5(ALICE.impi, 'new', 'other.net');
        expect((await req('PUT', `/private/${e(ALICE.impi)}`, { digest_ha1: ha1.toUpperCase(), realm: 'other.net' })).statusCode).toBe(200);
        const get = await req('GET', `/private/${e(ALICE.impi)}`);
        expect(get.json()).toEqual({ digest_ha1: md5(ALICE.impi, ALICE.password), realm: 'example.com' });
        await req('PUT', `/private/${e(ALICE.impi)}`, { digest_ha1: md5(ALICE.impi, 'changed') });
        const realms = (await store.getPrivateIdentity(ALICE.impi))!.digest.map((d) => `${d.realm}/${d.algorithm}`);
        expect(realms).toEqual(['example.com/MD5', 'other.net/MD5']);
      });

      it('PUT answers 400 naming the field for a bad HA1, both or neither credential', async () => {
        const badHa1 = await req('PUT', '/private/x%40example.com', { digest_ha1: 'not-hex' });
        expect(badHa1.statusCode).toBe(400);
        expect(badHa1.json()).toMatchObject({ code: 'TW_ERR_HSS_BAD_REQUEST' });
        expect(badHa1.json().message).toContain('digest_ha1');
        const both = await req('PUT', '/private/x%40example.com', { digest_ha1: md5('x', 'y'), plaintext_password: 'y' });
        expect(both.statusCode).toBe(400);
        expect(both.json().message).toContain('plaintext_password');
        expect((await req('PUT', '/private/x%40example.com', {})).statusCode).toBe(400);
        expect((await req('PUT', '/private/x%40example.com', 'not json', { 'content-type': 'application/json' })).statusCode).toBe(400);
      });

      it('GET and DELETE answer 404 for an unknown identity; DELETE removes it with 204', async () => {
        expect((await req('GET', '/private/nobody%40example.com')).json().code).toBe('TW_ERR_HSS_NOT_FOUND');
        expect((await req('DELETE', '/private/nobody%40example.com')).statusCode).toBe(404);
        expect((await req('DELETE', `/private/${e(ALICE.impi)}`)).statusCode).toBe(204);
        expect(await store.getPrivateIdentity(ALICE.impi)).toBeUndefined();
        expect((await req('GET', `/private/${e(ALICE.impi)}`)).statusCode).toBe(404);
      });
    });

    describe('associated identities', () => {
      it('lists the public identities of a private one and the private identities of a public one', async () => {
        const pubs = await req('GET', `/private/${e(ALICE.impi)}/associated_public_ids`);
        expect(pubs.statusCode).toBe(200);
        expect(pubs.json()).toEqual({ public_ids: [ALICE.impu, ALICE.tel].sort() });
        const privs = await req('GET', `/public/${e(ALICE.tel)}/associated_private_ids`);
        expect(privs.json()).toEqual({ private_ids: [ALICE.impi] });
        expect((await req('GET', '/public/sip%3Anobody%40example.com/associated_private_ids')).statusCode).toBe(404);
        expect((await req('GET', '/private/nobody/associated_public_ids')).statusCode).toBe(404);
      });
    });

    describe('/irs', () => {
      it('provisions a number in Ellis\'s order: the private identity linked before the public one exists', async () => {
        const n = await provisionNumber('erin@example.com', 'sip:erin@example.com');
        expect(n.irsRes.statusCode).toBe(201);
        expect(n.irsPath).toMatch(/^\/irs\/[0-9a-f-]{36}$/);
        expect(n.spRes.statusCode).toBe(201);
        expect(n.spPath).toMatch(/^\/irs\/[0-9a-f-]{36}\/service_profiles\/.+$/);
        expect(n.pubRes.statusCode).toBe(200);
        expect(await store.privateIdentitiesOf('sip:erin@example.com')).toEqual(['erin@example.com']);
        expect((await req('GET', `${n.irsPath}/public_ids`)).json()).toEqual({ public_ids: ['sip:erin@example.com'] });
        expect((await req('GET', `${n.irsPath}/private_ids`)).json()).toEqual({ private_ids: ['erin@example.com'] });
        expect((await store.getImplicitSet(n.irs))!.serviceProfile).not.toContain('PendingPrivateID');
      });

      it('lists a private identity linked to an empty IRS, and unlinks it', async () => {
        const irsPath = (await req('POST', '/irs')).headers.location as string;
        expect((await req('PUT', `${irsPath}/private_ids/${e(ALICE.impi)}`)).statusCode).toBe(200);
        expect((await req('GET', `${irsPath}/private_ids`)).json()).toEqual({ private_ids: [ALICE.impi] });
        expect((await req('DELETE', `${irsPath}/private_ids/${e(ALICE.impi)}`)).statusCode).toBe(204);
        expect((await req('GET', `${irsPath}/private_ids`)).json()).toEqual({ private_ids: [] });
        expect((await req('DELETE', `${irsPath}/private_ids/${e(ALICE.impi)}`)).statusCode).toBe(404);
      });

      it('links a private identity to every public identity already in the IRS', async () => {
        await req('PUT', '/private/frank%40example.com', { plaintext_password: 'x' });
        expect((await req('PUT', `/irs/irs-alice/private_ids/frank%40example.com`)).statusCode).toBe(200);
        expect(await store.publicIdentitiesOf('frank@example.com')).toEqual([ALICE.impu, ALICE.tel].sort());
        expect((await req('GET', '/irs/irs-alice/private_ids')).json()).toEqual({ private_ids: [ALICE.impi, 'frank@example.com'] });
        expect((await req('PUT', `/irs/irs-alice/private_ids/nobody`)).statusCode).toBe(404);
      });

      it('DELETE removes the IRS with its public identities; unknown IRS paths answer 404', async () => {
        const res = await req('DELETE', '/irs/irs-alice');
        expect(res.statusCode).toBe(204);
        expect(await store.getPublicIdentity(ALICE.tel)).toBeUndefined();
        expect(await store.getImplicitSet('irs-alice')).toBeUndefined();
        for (const [method, path] of [
          ['DELETE', '/irs/irs-alice'],
          ['GET', '/irs/irs-alice/public_ids'],
          ['GET', '/irs/irs-alice/private_ids'],
          ['POST', '/irs/irs-alice/service_profiles'],
        ] as const) {
          const r = await req(method, path);
          expect(r.statusCode, `${method} ${path}`).toBe(404);
          expect(r.json().code).toBe('TW_ERR_HSS_NOT_FOUND');
        }
      });
    });

    describe('service profiles and public identities', () => {
      it('a second POST service_profiles answers the same single profile', async () => {
        const a = await req('POST', '/irs/irs-alice/service_profiles');
        const b = await req('POST', '/irs/irs-alice/service_profiles');
        expect(a.headers.location).toBe('/irs/irs-alice/service_profiles/irs-alice');
        expect(b.headers.location).toBe(a.headers.location);
      });

      it('PUT public_ids adds a barred identity to the set, GET reads it, DELETE removes it', async () => {
        const path = `/irs/irs-alice/service_profiles/irs-alice/public_ids/${e('sip:alias@example.com')}`;
        const put = await req('PUT', path, pubXml('sip:alias@example.com', true), xml);
        expect(put.statusCode).toBe(200);
        expect(await store.getPublicIdentity('sip:alias@example.com')).toEqual({ impu: 'sip:alias@example.com', implicitSetId: 'irs-alice', barred: true });
        expect(await store.privateIdentitiesOf('sip:alias@example.com')).toEqual([ALICE.impi]);
        const profile = (await store.getImplicitSet('irs-alice'))!.serviceProfile;
        expect(profile).toContain('<Identity>sip:alias@example.com</Identity>');
        const get = await req('GET', path);
        expect(get.body).toBe(pubXml('sip:alias@example.com', true));
        expect((await req('DELETE', path)).statusCode).toBe(204);
        expect(await store.getPublicIdentity('sip:alias@example.com')).toBeUndefined();
        expect((await store.getImplicitSet('irs-alice'))!.serviceProfile).not.toContain('alias');
        expect((await req('GET', path)).statusCode).toBe(404);
      });

      it('keeps the IRS\'s private identities when its last public identity is removed', async () => {
        const n = await provisionNumber('gina@example.com', 'sip:gina@example.com');
        expect((await req('DELETE', `${n.spPath}/public_ids/${e('sip:gina@example.com')}`)).statusCode).toBe(204);
        expect((await req('GET', `${n.irsPath}/private_ids`)).json()).toEqual({ private_ids: ['gina@example.com'] });
        await req('PUT', `${n.spPath}/public_ids/${e('sip:gina2@example.com')}`, pubXml('sip:gina2@example.com'), xml);
        expect(await store.privateIdentitiesOf('sip:gina2@example.com')).toEqual(['gina@example.com']);
      });

      it('accepts public identities longer than the router\'s default parameter limit', async () => {
        const long = `sip:${'x'.repeat(300)}@example.com`;
        const res = await req('PUT', `/irs/irs-alice/service_profiles/irs-alice/public_ids/${e(long)}`, pubXml(long), xml);
        expect(res.statusCode).toBe(200);
        expect((await req('GET', `/public/${e(long)}/associated_private_ids`)).json()).toEqual({ private_ids: [ALICE.impi] });
      });

      it('refuses a PublicIdentity body that is not XML, has no Identity, or names another identity', async () => {
        const path = `/irs/irs-alice/service_profiles/irs-alice/public_ids/${e('sip:x@example.com')}`;
        const notXml = await req('PUT', path, '<PublicIdentity><Identity>', xml);
        expect(notXml.statusCode).toBe(400);
        expect(notXml.json().code).toBe('TW_ERR_HSS_BAD_XML');
        const noIdentity = await req('PUT', path, '<PublicIdentity/>', xml);
        expect(noIdentity.json().message).toContain('Identity');
        const other = await req('PUT', path, pubXml('sip:y@example.com'), xml);
        expect(other.statusCode).toBe(400);
        expect(other.json().message).toContain('sip:y@example.com');
      });

      it('answers 409 for a public identity of another IRS and 404 for an unknown service profile', async () => {
        const taken = await req('PUT', `/irs/irs-bob/service_profiles/irs-bob/public_ids/${e(ALICE.impu)}`, pubXml(ALICE.impu), xml);
        expect(taken.statusCode).toBe(409);
        expect(taken.json().code).toBe('TW_ERR_HSS_CONFLICT');
        const noSp = await req('PUT', `/irs/irs-bob/service_profiles/other/public_ids/${e('sip:z@example.com')}`, pubXml('sip:z@example.com'), xml);
        expect(noSp.statusCode).toBe(404);
      });
    });

    describe('filter criteria', () => {
      const path = '/irs/irs-alice/service_profiles/irs-alice/filter_criteria';

      it('PUT stores the iFCs with the set\'s identities; GET reads them back', async () => {
        const put = await req('PUT', path, IFC_PROFILE, xml);
        expect(put.statusCode).toBe(200);
        const get = await req('GET', path);
        expect(get.statusCode).toBe(200);
        expect(get.headers['content-type']).toContain('application/xml');
        expect(get.body).toContain('<ServerName>sip:mmtel.example.com</ServerName>');
        expect(get.body).toContain(`<Identity>${ALICE.tel}</Identity>`);
        expect((await store.getImplicitSet('irs-alice'))!.serviceProfile).toContain('<Method>INVITE</Method>');
      });

      it.each([
        ['not well-formed', '<ServiceProfile><InitialFilterCriteria>', 'well-formed'],
        ['another root', '<IMSSubscription/>', 'ServiceProfile'],
        ['a non-integer Priority', IFC_PROFILE.replace('<Priority>0</Priority>', '<Priority>high</Priority>'), 'Priority'],
        ['no Priority', IFC_PROFILE.replace('<Priority>0</Priority>', ''), 'Priority'],
        ['no ApplicationServer', IFC_PROFILE.replace(/<ApplicationServer>[\s\S]*<\/ApplicationServer>/, ''), 'ApplicationServer'],
        ['a ServerName that is not a SIP URI', IFC_PROFILE.replace('sip:mmtel.example.com', 'http://as'), 'ServerName'],
        ['a DefaultHandling of 2', IFC_PROFILE.replace('<DefaultHandling>0</DefaultHandling>', '<DefaultHandling>2</DefaultHandling>'), 'DefaultHandling'],
      ])('PUT refuses a profile with %s, saying why', async (_what, body, reason) => {
        const before = (await store.getImplicitSet('irs-alice'))!.serviceProfile;
        const res = await req('PUT', path, body, xml);
        expect(res.statusCode).toBe(400);
        expect(res.json().code).toBe('TW_ERR_HSS_BAD_XML');
        expect(res.json().message).toContain(reason);
        expect((await store.getImplicitSet('irs-alice'))!.serviceProfile).toBe(before);
      });

      it('refuses a body whose entities point outside the document', async () => {
        const body = '<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><ServiceProfile>&e;</ServiceProfile>';
        const res = await req('PUT', path, body, xml);
        expect(res.statusCode).toBe(400);
        expect(res.json().code).toBe('TW_ERR_HSS_BAD_XML');
      });

      it('answers 404 for an unknown IRS or service profile', async () => {
        expect((await req('GET', '/irs/nope/service_profiles/nope/filter_criteria')).statusCode).toBe(404);
        expect((await req('PUT', '/irs/irs-alice/service_profiles/nope/filter_criteria', IFC_PROFILE, xml)).statusCode).toBe(404);
      });
    });
  });
}
