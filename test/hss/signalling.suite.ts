/** The signalling API's behaviour, run on every store adapter (see signalling.test.ts, sqlite.test.ts). */
import type { FastifyInstance } from 'fastify';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DOMParser } from '@xmldom/xmldom';
import { decodeAkaNonce } from '../../src/sip/auth/index.js';
import { buildHssSignalling } from '../../src/hss/index.js';
import type { SubscriberStore } from '../../src/storage/index.js';
import { AKA, ALICE, BOB, CAROL, SCSCF, md5, seed, sha256, type OpenStore, type StoreHandle } from './fixtures.js';

const e = encodeURIComponent;

export function signallingSuite(adapter: string, open: OpenStore): void {
  describe(`HSS signalling API (${adapter})`, () => {
    let handle: StoreHandle;
    let store: SubscriberStore;
    let app: FastifyInstance;
    const get = (url: string, headers: Record<string, string> = {}) => app.inject({ method: 'GET', url, headers });
    const put = (url: string, payload: unknown, headers: Record<string, string> = {}) => app.inject({ method: 'PUT', url, payload: payload as object, headers });

    beforeEach(async () => {
      handle = await open();
      store = handle.store;
      await seed(store);
      app = await buildHssSignalling({ store, realm: 'example.com' });
    });
    afterEach(async () => {
      await app.close();
      await handle.close();
    });

    describe('GET /impi/<impi>/av', () => {
      it('answers the MD5 HA1 of the home realm in Clearwater shape, plus every HA1', async () => {
        for (const path of ['av', 'av/digest']) {
          const res = await get(`/impi/${e(ALICE.impi)}/${path}?impu=${e(ALICE.impu)}`);
          expect(res.statusCode).toBe(200);
          expect(res.json()).toEqual({
            digest: { ha1: md5(ALICE.impi, ALICE.password), qop: 'auth', realm: 'example.com' },
            impi: ALICE.impi,
            digests: [
              { realm: 'example.com', algorithm: 'MD5', ha1: md5(ALICE.impi, ALICE.password) },
              { realm: 'example.com', algorithm: 'SHA-256', ha1: sha256(ALICE.impi, ALICE.password) },
            ],
          });
        }
      });

      it('accepts identities with raw @ and : in the path and without an impu', async () => {
        const res = await get(`/impi/${ALICE.impi}/av`);
        expect(res.statusCode).toBe(200);
        expect(res.json().digest.ha1).toBe(md5(ALICE.impi, ALICE.password));
      });

      it('answers 404 for an unknown private or public identity', async () => {
        const a = await get(`/impi/nobody%40example.com/av?impu=${e(ALICE.impu)}`);
        expect(a.statusCode).toBe(404);
        expect(a.json()).toMatchObject({ code: 'TW_ERR_HSS_UNKNOWN_PRIVATE_IDENTITY', 'result-code': 5001 });
        const b = await get(`/impi/${e(ALICE.impi)}/av?impu=${e('sip:nobody@example.com')}`);
        expect(b.statusCode).toBe(404);
        expect(b.json().code).toBe('TW_ERR_HSS_USER_UNKNOWN');
      });

      it('answers 403 when the private identity may not register the public one', async () => {
        const res = await get(`/impi/${e(BOB.impi)}/av?impu=${e(ALICE.impu)}`);
        expect(res.statusCode).toBe(403);
        expect(res.json()).toMatchObject({ code: 'TW_ERR_HSS_IDENTITIES_DONT_MATCH', 'result-code': 5002 });
      });

      it('answers 404 for /av/aka when the subscriber has no AKA keys, and for /av/digest without HA1s', async () => {
        const a = await get(`/impi/${e(ALICE.impi)}/av/aka?impu=${e(ALICE.impu)}`);
        expect(a.statusCode).toBe(404);
        expect(a.json().code).toBe('TW_ERR_HSS_NO_AKA');
        const b = await get(`/impi/${e(AKA.impi)}/av/digest?impu=${e(AKA.impu)}`);
        expect(b.statusCode).toBe(404);
        expect(b.json().code).toBe('TW_ERR_HSS_NO_DIGEST');
      });

      it('generates a fresh AKA vector with a new SQN each time (base64 nonce, hex keys)', async () => {
        const first = await get(`/impi/${e(AKA.impi)}/av/aka?impu=${e(AKA.impu)}`);
        expect(first.statusCode).toBe(200);
        const aka = first.json().aka;
        expect(aka.response).toMatch(/^[0-9a-f]{16}$/);
        expect(aka.crypt_key).toMatch(/^[0-9a-f]{32}$/);
        expect(aka.integrity_key).toMatch(/^[0-9a-f]{32}$/);
        expect(decodeAkaNonce(aka.challenge)?.autn).toHaveLength(16);
        const second = (await get(`/impi/${e(AKA.impi)}/av?impu=${e(AKA.impu)}`)).json().aka;
        expect(second.challenge).not.toBe(aka.challenge);
        expect((await store.getPrivateIdentity(AKA.impi))?.aka?.sqn).toBe(2);
      });
    });

    describe('GET /impi/<impi>/registration-status', () => {
      const uar = (impi: string, impu: string, type?: string) =>
        get(`/impi/${e(impi)}/registration-status?impu=${e(impu)}${type ? `&auth-type=${type}` : ''}`);

      it('answers 2001 with empty capabilities for a first registration, 2002 and the S-CSCF after', async () => {
        expect((await uar(ALICE.impi, ALICE.impu)).json()).toEqual({ 'result-code': 2001, 'mandatory-capabilities': [], 'optional-capabilities': [] });
        await put(`/impu/${e(ALICE.impu)}/reg-data`, { reqtype: 'reg', server_name: SCSCF });
        const res = await uar(ALICE.impi, ALICE.tel, 'REG');
        expect(res.statusCode).toBe(200);
        expect(res.json()).toEqual({ 'result-code': 2002, scscf: SCSCF });
      });

      it('answers DEREG with the S-CSCF, or 5003 when not registered', async () => {
        expect((await uar(ALICE.impi, ALICE.impu, 'DEREG')).json()).toEqual({ 'result-code': 5003 });
        await put(`/impu/${e(ALICE.impu)}/reg-data`, { reqtype: 'reg', server_name: SCSCF });
        expect((await uar(ALICE.impi, ALICE.impu, 'DEREG')).json()).toEqual({ 'result-code': 2001, scscf: SCSCF });
      });

      it('answers CAPAB with empty capability lists', async () => {
        expect((await uar(ALICE.impi, ALICE.impu, 'CAPAB')).json()).toEqual({ 'result-code': 2001, 'mandatory-capabilities': [], 'optional-capabilities': [] });
      });

      it('answers 403 when identities do not match or the set is barred, 404 when unknown', async () => {
        const mismatch = await uar(BOB.impi, ALICE.impu);
        expect(mismatch.statusCode).toBe(403);
        expect(mismatch.json().code).toBe('TW_ERR_HSS_IDENTITIES_DONT_MATCH');
        const barred = await uar(CAROL.impi, CAROL.impu);
        expect(barred.statusCode).toBe(403);
        expect(barred.json().code).toBe('TW_ERR_HSS_IDENTITY_BARRED');
        const unknown = await uar(ALICE.impi, 'sip:nobody@example.com');
        expect(unknown.statusCode).toBe(404);
        expect(unknown.json()).toMatchObject({ code: 'TW_ERR_HSS_USER_UNKNOWN', 'result-code': 5001 });
      });

      it('answers 400 naming the parameter for a missing impu or a bad auth-type', async () => {
        const missing = await get(`/impi/${e(ALICE.impi)}/registration-status`);
        expect(missing.statusCode).toBe(400);
        expect(missing.json()).toMatchObject({ code: 'TW_ERR_HSS_BAD_REQUEST' });
        expect(missing.json().message).toContain('impu');
        const badType = await uar(ALICE.impi, ALICE.impu, 'BOGUS');
        expect(badType.statusCode).toBe(400);
        expect(badType.json().message).toContain('auth-type');
      });
    });

    describe('GET /impu/<impu>/location', () => {
      it('answers the S-CSCF of a registered identity with its default identity', async () => {
        await put(`/impu/${e(ALICE.impu)}/reg-data`, { reqtype: 'reg', server_name: SCSCF });
        const res = await get(`/impu/${e(ALICE.tel)}/location`);
        expect(res.statusCode).toBe(200);
        expect(res.json()).toEqual({ 'result-code': 2001, scscf: SCSCF, 'registration-state': 'REGISTERED', 'default-impu': ALICE.impu, barred: false });
      });

      it('answers 5003 for a not registered identity, 2003 with capabilities when originating', async () => {
        expect((await get(`/impu/${e(ALICE.impu)}/location`)).json()).toMatchObject({ 'result-code': 5003, 'registration-state': 'NOT_REGISTERED' });
        const orig = await get(`/impu/${e(ALICE.impu)}/location?originating=true`);
        expect(orig.json()).toMatchObject({ 'result-code': 2003, 'mandatory-capabilities': [], 'optional-capabilities': [] });
        const capab = await get(`/impu/${e(ALICE.impu)}/location?auth-type=CAPAB`);
        expect(capab.json()).toMatchObject({ 'result-code': 2001, 'mandatory-capabilities': [], 'optional-capabilities': [] });
      });

      it('answers 404 for an unknown identity', async () => {
        const res = await get(`/impu/${e('sip:nobody@example.com')}/location`);
        expect(res.statusCode).toBe(404);
        expect(res.json().code).toBe('TW_ERR_HSS_USER_UNKNOWN');
      });
    });

    describe('/impu/<impu>/reg-data', () => {
      const xmlOf = (body: string) => new DOMParser().parseFromString(body, 'text/xml');
      const stateOf = (body: string) => xmlOf(body).getElementsByTagName('RegistrationState')[0]?.textContent;

      it('GET answers ClearwaterRegData with the IMS subscription of the set', async () => {
        const res = await get(`/impu/${e(ALICE.tel)}/reg-data`);
        expect(res.statusCode).toBe(200);
        expect(res.headers['content-type']).toContain('application/xml');
        const doc = xmlOf(res.body);
        expect(doc.documentElement?.nodeName).toBe('ClearwaterRegData');
        expect(stateOf(res.body)).toBe('NOT_REGISTERED');
        expect(doc.getElementsByTagName('PrivateID')[0]?.textContent).toBe(ALICE.impi);
        const ids = Array.from(doc.getElementsByTagName('Identity')).map((n) => n.textContent);
        expect(ids).toEqual([ALICE.impu, ALICE.tel]);
        expect(doc.getElementsByTagName('ChargingAddresses')).toHaveLength(1);
      });

      it('PUT reg registers the whole set at the S-CSCF, dereg-user de-registers it', async () => {
        const reg = await put(`/impu/${e(ALICE.impu)}/reg-data?private_id=${e(ALICE.impi)}`, { reqtype: 'reg', server_name: SCSCF });
        expect(reg.statusCode).toBe(200);
        expect(stateOf(reg.body)).toBe('REGISTERED');
        expect(await store.getRegistrationState(ALICE.tel)).toMatchObject({ state: 'REGISTERED', scscf: SCSCF });
        const dereg = await put(`/impu/${e(ALICE.impu)}/reg-data`, { reqtype: 'dereg-user' });
        expect(stateOf(dereg.body)).toBe('NOT_REGISTERED');
        expect((await store.getRegistrationState(ALICE.impu))?.state).toBe('NOT_REGISTERED');
      });

      it('PUT call gives unregistered service; dereg-auth-failure changes nothing', async () => {
        const call = await put(`/impu/${e(ALICE.impu)}/reg-data`, { reqtype: 'call', server_name: SCSCF });
        expect(stateOf(call.body)).toBe('UNREGISTERED');
        const fail = await put(`/impu/${e(ALICE.impu)}/reg-data`, { reqtype: 'dereg-auth-failure' });
        expect(stateOf(fail.body)).toBe('UNREGISTERED');
        for (const reqtype of ['dereg-timeout', 'dereg-admin']) {
          await put(`/impu/${e(ALICE.impu)}/reg-data`, { reqtype: 'reg', server_name: SCSCF });
          expect(stateOf((await put(`/impu/${e(ALICE.impu)}/reg-data`, { reqtype })).body)).toBe('NOT_REGISTERED');
        }
      });

      it('answers JSON with the implicit set to a client that asks for it', async () => {
        const res = await get(`/impu/${e(ALICE.impu)}/reg-data`, { accept: 'application/json' });
        expect(res.json()).toEqual({
          'registration-state': 'NOT_REGISTERED',
          'implicit-set': {
            id: 'irs-alice',
            'service-profile': (await store.getImplicitSet('irs-alice'))!.serviceProfile,
            members: [{ impu: ALICE.impu, barred: false }, { impu: ALICE.tel, barred: false }],
          },
        });
      });

      it('answers 400 naming the field for a bad reqtype, a missing one, or a reg without server_name', async () => {
        const bad = await put(`/impu/${e(ALICE.impu)}/reg-data`, { reqtype: 'register' });
        expect(bad.statusCode).toBe(400);
        expect(bad.json().code).toBe('TW_ERR_HSS_BAD_REQUEST');
        expect(bad.json().message).toContain('reqtype');
        expect((await put(`/impu/${e(ALICE.impu)}/reg-data`, {})).json().message).toContain('reqtype');
        const noServer = await put(`/impu/${e(ALICE.impu)}/reg-data`, { reqtype: 'reg' });
        expect(noServer.statusCode).toBe(400);
        expect(noServer.json().message).toContain('server_name');
      });

      it('answers 404 for an unknown identity and 403 for a private_id that may not register it', async () => {
        expect((await get(`/impu/${e('sip:nobody@example.com')}/reg-data`)).statusCode).toBe(404);
        expect((await put(`/impu/${e('sip:nobody@example.com')}/reg-data`, { reqtype: 'reg', server_name: SCSCF })).statusCode).toBe(404);
        const unknownWithPrivate = await put(`/impu/${e('sip:nobody@example.com')}/reg-data?private_id=${e(ALICE.impi)}`, { reqtype: 'reg', server_name: SCSCF });
        expect(unknownWithPrivate.statusCode).toBe(404);
        expect(unknownWithPrivate.json().code).toBe('TW_ERR_HSS_USER_UNKNOWN');
        const mismatch = await put(`/impu/${e(ALICE.impu)}/reg-data?private_id=${e(BOB.impi)}`, { reqtype: 'reg', server_name: SCSCF });
        expect(mismatch.statusCode).toBe(403);
      });
    });

    it('answers 404 with a coded error for an unknown path', async () => {
      const res = await get('/nothing/here');
      expect(res.statusCode).toBe(404);
      expect(res.json().code).toBe('TW_ERR_HSS_NOT_FOUND');
    });
  });
}
