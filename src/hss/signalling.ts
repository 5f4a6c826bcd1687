/**
 * The HSS signalling API (Clearwater's Homestead paths and shapes, docs/hss-api.md): what an
 * I-CSCF and S-CSCF ask over HTTP instead of Diameter Cx (3GPP TS 29.228 §6.1, §6.3).
 * Answered by an {@link Hss} (the in-process {@link LocalHss} by default) and the store.
 */
import type { FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { generateAkaVector } from '../sip/auth/index.js';
import type { ImplicitSet, RegistrationState, SubscriberStore } from '../storage/index.js';
import type { Hss } from '../ims/hss.js';
import { LocalHss } from '../ims/hss-local.js';
import { HssError } from './errors.js';
import { ERROR_RESPONSES, IDENTITY_PARAM, installCommon } from './http.js';
import { publishedProfile, regDataXml } from './xml.js';
import { applyRegDataChange, REQ_TYPES, type ReqType } from './reg-data.js';

export interface HssSignallingOptions {
  readonly store: SubscriberStore;
  /** Answers UAR, LIR and SAR; default a {@link LocalHss} on `store`. */
  readonly hss?: Hss;
  /** The home realm: whose MD5 HA1 `/av` answers first. */
  readonly realm: string;
  /** S-CSCF URI used when a `reg` or `call` PUT names no `server_name`. */
  readonly serverName?: string;
  /** When set, every request needs `NGV-API-Key` equal to it. */
  readonly apiKey?: string;
}

/** DIAMETER_SUCCESS and the TS 29.229 §6.2 codes the answers carry. */
const RC = { SUCCESS: 2001, FIRST_REGISTRATION: 2001, SUBSEQUENT_REGISTRATION: 2002, UNREGISTERED_SERVICE: 2003, IDENTITY_NOT_REGISTERED: 5003 } as const;
const NO_CAPABILITIES = { 'mandatory-capabilities': [], 'optional-capabilities': [] };

const impiParams = { type: 'object', properties: { impi: IDENTITY_PARAM }, required: ['impi'] } as const;
const impuParams = { type: 'object', properties: { impu: IDENTITY_PARAM }, required: ['impu'] } as const;
const capabilities = { type: 'array', items: { type: 'integer' } } as const;
const cxAnswer = {
  type: 'object',
  properties: {
    'result-code': { type: 'integer' },
    scscf: { type: 'string' },
    'mandatory-capabilities': capabilities,
    'optional-capabilities': capabilities,
    'registration-state': { type: 'string' },
    'default-impu': { type: 'string' },
    barred: { type: 'boolean' },
  },
  required: ['result-code'],
} as const;
const ha1Entry = { type: 'object', properties: { realm: { type: 'string' }, algorithm: { type: 'string' }, ha1: { type: 'string' } } } as const;
const avAnswer = {
  type: 'object',
  properties: {
    digest: { type: 'object', properties: { ha1: { type: 'string' }, qop: { type: 'string' }, realm: { type: 'string' } } },
    aka: {
      type: 'object',
      properties: { challenge: { type: 'string' }, response: { type: 'string' }, crypt_key: { type: 'string' }, integrity_key: { type: 'string' } },
    },
    impi: { type: 'string' },
    digests: { type: 'array', items: ha1Entry },
  },
} as const;
const member = { type: 'object', properties: { impu: { type: 'string' }, barred: { type: 'boolean' } } } as const;
const regDataJson = {
  type: 'object',
  properties: {
    'registration-state': { type: 'string' },
    scscf: { type: 'string' },
    'implicit-set': {
      type: 'object',
      properties: { id: { type: 'string' }, 'service-profile': { type: 'string' }, members: { type: 'array', items: member } },
    },
  },
} as const;

type AvKind = 'any' | 'digest' | 'aka';

/** The HSS signalling API as a fastify plugin (encapsulated: its error handler and key check apply to it alone). */
export const hssSignallingPlugin: FastifyPluginAsync<HssSignallingOptions> = async (app, opts) => {
  const deps: Deps = { ...opts, hss: opts.hss ?? new LocalHss(opts.store) };
  installCommon(app, opts.apiKey);
  authVectorRoutes(app, deps);
  cxRoutes(app, deps);
  regDataRoutes(app, deps);
};

type Deps = HssSignallingOptions & { readonly hss: Hss };

/** MAR: `/impi/<impi>/av`, `/av/digest`, `/av/aka`. */
function authVectorRoutes(app: FastifyInstance, { store, realm }: Deps): void {
  const avRoute = (kind: AvKind) => ({
    schema: {
      params: impiParams,
      querystring: { type: 'object', properties: { impu: IDENTITY_PARAM, autn: { type: 'string' } } },
      response: { 200: avAnswer, ...ERROR_RESPONSES },
    },
    handler: (req: FastifyRequest<{ Params: { impi: string }; Querystring: { impu?: string } }>) =>
      authVector(store, realm, req.params.impi, req.query.impu, kind),
  });
  app.get('/impi/:impi/av', avRoute('any'));
  app.get('/impi/:impi/av/digest', avRoute('digest'));
  app.get('/impi/:impi/av/aka', avRoute('aka'));
}

/** UAR and LIR. */
function cxRoutes(app: FastifyInstance, { hss }: Deps): void {
  app.get<{ Params: { impi: string }; Querystring: { impu: string; 'auth-type'?: 'REG' | 'DEREG' | 'CAPAB' } }>('/impi/:impi/registration-status', {
    schema: {
      params: impiParams,
      querystring: {
        type: 'object',
        properties: { impu: IDENTITY_PARAM, 'auth-type': { type: 'string', enum: ['REG', 'DEREG', 'CAPAB'] }, 'visited-network': { type: 'string' } },
        required: ['impu'],
      },
      response: { 200: cxAnswer, ...ERROR_RESPONSES },
    },
    handler: (req) => registrationStatus(hss, req.params.impi, req.query.impu, req.query['auth-type'] ?? 'REG'),
  });

  app.get<{ Params: { impu: string }; Querystring: { originating?: boolean; 'auth-type'?: 'CAPAB' } }>('/impu/:impu/location', {
    schema: {
      params: impuParams,
      querystring: { type: 'object', properties: { originating: { type: 'boolean' }, 'auth-type': { type: 'string', enum: ['CAPAB'] } } },
      response: { 200: cxAnswer, ...ERROR_RESPONSES },
    },
    handler: (req) => location(hss, req.params.impu, req.query.originating === true, req.query['auth-type'] === 'CAPAB'),
  });
}

/** `/impu/<impu>/reg-data`: the registration state and subscription, and SAR. */
function regDataRoutes(app: FastifyInstance, { store, hss, serverName: defaultServerName }: Deps): void {
  const regDataSchema = { params: impuParams, response: { 200: regDataJson, ...ERROR_RESPONSES } };
  app.get<{ Params: { impu: string } }>('/impu/:impu/reg-data', {
    schema: regDataSchema,
    handler: (req, reply) => sendRegData(store, req, reply, req.params.impu, undefined),
  });
  app.put<{ Params: { impu: string }; Querystring: { private_id?: string }; Body: { reqtype: ReqType; server_name?: string } }>('/impu/:impu/reg-data', {
    schema: {
      ...regDataSchema,
      querystring: { type: 'object', properties: { private_id: IDENTITY_PARAM } },
      body: {
        type: 'object',
        properties: { reqtype: { type: 'string', enum: [...REQ_TYPES] }, server_name: { type: 'string', pattern: '^sips?:\\S+$' } },
        required: ['reqtype'],
      },
    },
    handler: async (req, reply) => {
      const { impu } = req.params;
      const privateId = req.query.private_id;
      if (privateId !== undefined) {
        const check = await store.registrationCheck(privateId, impu);
        if (!check) throw unknownUser(impu);
        if (!check.linked) throw new HssError('TW_ERR_HSS_IDENTITIES_DONT_MATCH', `private_id ${privateId} may not register ${impu}`);
      }
      const serverName = req.body.server_name ?? defaultServerName;
      await applyRegDataChange({ store, hss }, impu, req.body.reqtype, serverName);
      return sendRegData(store, req, reply, impu, privateId);
    },
  });
}

function unknownUser(impu: string): HssError {
  return new HssError('TW_ERR_HSS_USER_UNKNOWN', `unknown public identity ${impu}`);
}

/** MAR (TS 29.228 §6.3): the Digest HA1s, or a fresh AKA vector (TS 33.102 §6.3.2). */
async function authVector(store: SubscriberStore, realm: string, impi: string, impu: string | undefined, kind: AvKind) {
  const found = impu === undefined ? await privateOnly(store, impi) : await store.authVector(impi, impu);
  if (!found.ok) {
    if (found.reason === 'identities-dont-match') throw new HssError('TW_ERR_HSS_IDENTITIES_DONT_MATCH', `${impi} may not authenticate ${impu}`);
    if (found.reason === 'unknown-public-identity') throw unknownUser(impu ?? '');
    throw new HssError('TW_ERR_HSS_UNKNOWN_PRIVATE_IDENTITY', `unknown private identity ${impi}`);
  }
  const useAka = kind === 'aka' || (kind === 'any' && found.digest.length === 0 && found.aka !== undefined);
  if (useAka) {
    if (!found.aka) throw new HssError('TW_ERR_HSS_NO_AKA', `${impi} has no IMS-AKA keys`);
    const sqn = await store.nextAkaSqn(impi);
    const sqnBytes = Buffer.alloc(6);
    sqnBytes.writeUIntBE(sqn, 0, 6);
    const v = generateAkaVector({ keys: { k: found.aka.k, opc: found.aka.opc }, sqn: sqnBytes, amf: found.aka.amf });
    return { aka: { challenge: v.nonce, response: v.xres.toString('hex'), crypt_key: v.ck.toString('hex'), integrity_key: v.ik.toString('hex') } };
  }
  if (found.digest.length === 0) throw new HssError('TW_ERR_HSS_NO_DIGEST', `${impi} has no Digest credentials`);
  const md5 = found.digest.filter((d) => d.algorithm === 'MD5');
  const main = md5.find((d) => d.realm === realm) ?? md5[0];
  const digests = found.digest.map((d) => ({ realm: d.realm, algorithm: d.algorithm, ha1: d.ha1 }));
  return { ...(main ? { digest: { ha1: main.ha1, qop: 'auth', realm: main.realm } } : {}), impi: found.impi, digests };
}

async function privateOnly(store: SubscriberStore, impi: string) {
  const identity = await store.getPrivateIdentity(impi);
  if (!identity) return { ok: false as const, reason: 'unknown-private-identity' as const };
  return { ok: true as const, impi, digest: [...identity.digest], ...(identity.aka ? { aka: identity.aka } : {}) };
}

/** UAR (TS 29.228 §6.1.1; result codes TS 29.229 §6.2.1). */
async function registrationStatus(hss: Hss, impi: string, impu: string, authType: 'REG' | 'DEREG' | 'CAPAB') {
  const uaa = await hss.userAuthorization(impi, impu);
  if (!uaa.ok) {
    if (uaa.reason === 'unknown-user') throw unknownUser(impu);
    if (uaa.reason === 'barred') throw new HssError('TW_ERR_HSS_IDENTITY_BARRED', `every identity of ${impu}'s implicit set is barred`);
    throw new HssError('TW_ERR_HSS_IDENTITIES_DONT_MATCH', `${impi} may not register ${impu}`);
  }
  if (authType === 'CAPAB') return { 'result-code': RC.SUCCESS, ...NO_CAPABILITIES };
  if (authType === 'DEREG') {
    return uaa.scscf ? { 'result-code': RC.SUCCESS, scscf: uaa.scscf } : { 'result-code': RC.IDENTITY_NOT_REGISTERED };
  }
  return uaa.scscf ? { 'result-code': RC.SUBSEQUENT_REGISTRATION, scscf: uaa.scscf } : { 'result-code': RC.FIRST_REGISTRATION, ...NO_CAPABILITIES };
}

/** LIR (TS 29.228 §6.1.4), plus the set's default identity and barring (Tidewater fields). */
async function location(hss: Hss, impu: string, originating: boolean, capabilities: boolean) {
  const where = await hss.locationInfo(impu);
  if (!where) throw unknownUser(impu);
  const extra = { 'registration-state': where.state, 'default-impu': where.defaultImpu, barred: where.barred };
  if (capabilities) return { 'result-code': RC.SUCCESS, ...NO_CAPABILITIES, ...extra };
  if (where.scscf && where.state !== 'NOT_REGISTERED') return { 'result-code': RC.SUCCESS, scscf: where.scscf, ...extra };
  if (originating) return { 'result-code': RC.UNREGISTERED_SERVICE, ...NO_CAPABILITIES, ...extra };
  return { 'result-code': RC.IDENTITY_NOT_REGISTERED, ...extra };
}

function wantsJson(req: FastifyRequest): boolean {
  return (req.headers.accept ?? '').includes('application/json');
}

/** The reg-data answer: ClearwaterRegData XML, or JSON for a client that asks for it. */
async function sendRegData(store: SubscriberStore, req: FastifyRequest, reply: FastifyReply, impu: string, privateId: string | undefined) {
  const current = await store.implicitSetStateOf(impu);
  if (!current) throw unknownUser(impu);
  const { implicitSet: set, registration: reg } = current;
  const state: RegistrationState = reg.state;
  if (wantsJson(req)) return reply.send(regDataAsJson(set, state, reg.scscf));
  const impi = privateId ?? (await store.privateIdentitiesOf(impu))[0];
  return reply.type('application/xml').send(regDataXml(state, impi, publishedProfile(set.serviceProfile, set.members)));
}

function regDataAsJson(set: ImplicitSet, state: RegistrationState, scscf: string | undefined) {
  return {
    'registration-state': state,
    ...(scscf ? { scscf } : {}),
    'implicit-set': { id: set.id, 'service-profile': set.serviceProfile, members: set.members.map((m) => ({ impu: m.impu, barred: m.barred })) },
  };
}
