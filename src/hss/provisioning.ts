/**
 * The HSS provisioning API (Clearwater's Homestead-prov paths and shapes, docs/hss-api.md):
 * private identities with their Digest HA1, implicit registration sets (IRS), their service
 * profile with public identities and initial Filter Criteria (TS 29.228 Annex B).
 */
import type { FastifyInstance, FastifyPluginAsync } from 'fastify';
import type { SubscriberStore } from '../storage/index.js';
import { ERROR_RESPONSES, IDENTITY_PARAM, acceptXmlBodies, installCommon } from './http.js';
import { Provisioner, type PrivateBody } from './provisioner.js';

export interface HssProvisioningOptions {
  readonly store: SubscriberStore;
  /** The home domain: the realm of credentials PUT without one. */
  readonly homeDomain: string;
  /** When set, every request needs `NGV-API-Key` equal to it. */
  readonly apiKey?: string;
}

const NO_CONTROL = '^[^\\x00-\\x1f\\x7f]+$';
const param = (...names: string[]) =>
  ({ type: 'object', properties: Object.fromEntries(names.map((n) => [n, IDENTITY_PARAM])), required: names }) as const;
const list = (key: string) => ({ type: 'object', properties: { [key]: { type: 'array', items: { type: 'string' } } }, required: [key] }) as const;
const privateAnswer = { type: 'object', properties: { digest_ha1: { type: 'string' }, realm: { type: 'string' } } } as const;
const xmlAnswer = { type: 'string' } as const;
const xmlBody = { type: 'string', minLength: 1 } as const;
const empty = { type: 'null' } as const;

type Irs = { irs: string };
type Sp = Irs & { sp: string };

const xml = 'application/xml';

/** The HSS provisioning API as a fastify plugin (encapsulated: its error handler and key check apply to it alone). */
export const hssProvisioningPlugin: FastifyPluginAsync<HssProvisioningOptions> = async (app, opts) => {
  const prov = new Provisioner(opts.store, opts.homeDomain);
  installCommon(app, opts.apiKey);
  acceptXmlBodies(app);
  privateRoutes(app, prov);
  irsRoutes(app, prov);
  serviceProfileRoutes(app, prov);
};

/** `/private/<impi>` and the associated-identity lists. */
function privateRoutes(app: FastifyInstance, prov: Provisioner): void {
  app.put<{ Params: { impi: string }; Body: PrivateBody }>('/private/:impi', {
    schema: {
      params: param('impi'),
      body: {
        type: 'object',
        properties: {
          digest_ha1: { type: 'string', pattern: '^[0-9a-fA-F]{32}$' },
          plaintext_password: { type: 'string', minLength: 1, maxLength: 1024 },
          realm: { type: 'string', minLength: 1, maxLength: 255, pattern: NO_CONTROL },
        },
      },
      response: { 200: privateAnswer, ...ERROR_RESPONSES },
    },
    handler: (req) => prov.putPrivate(req.params.impi, req.body),
  });
  app.get<{ Params: { impi: string } }>('/private/:impi', {
    schema: { params: param('impi'), response: { 200: privateAnswer, ...ERROR_RESPONSES } },
    handler: (req) => prov.getPrivate(req.params.impi),
  });
  app.delete<{ Params: { impi: string } }>('/private/:impi', {
    schema: { params: param('impi'), response: { 204: empty, ...ERROR_RESPONSES } },
    handler: async (req, reply) => reply.code(204).send(await prov.deletePrivate(req.params.impi)),
  });
  app.get<{ Params: { impi: string } }>('/private/:impi/associated_public_ids', {
    schema: { params: param('impi'), response: { 200: list('public_ids'), ...ERROR_RESPONSES } },
    handler: async (req) => ({ public_ids: await prov.associatedPublicIds(req.params.impi) }),
  });
  app.get<{ Params: { impu: string } }>('/public/:impu/associated_private_ids', {
    schema: { params: param('impu'), response: { 200: list('private_ids'), ...ERROR_RESPONSES } },
    handler: async (req) => ({ private_ids: await prov.associatedPrivateIds(req.params.impu) }),
  });
}

/** `/irs` and the IRS's identity lists. */
function irsRoutes(app: FastifyInstance, prov: Provisioner): void {
  app.post('/irs', {
    schema: { response: { 201: empty, ...ERROR_RESPONSES } },
    handler: async (_req, reply) => reply.code(201).header('location', `/irs/${await prov.createIrs()}`).send(),
  });
  app.delete<{ Params: Irs }>('/irs/:irs', {
    schema: { params: param('irs'), response: { 204: empty, ...ERROR_RESPONSES } },
    handler: async (req, reply) => reply.code(204).send(await prov.deleteIrs(req.params.irs)),
  });
  app.get<{ Params: Irs }>('/irs/:irs/public_ids', {
    schema: { params: param('irs'), response: { 200: list('public_ids'), ...ERROR_RESPONSES } },
    handler: async (req) => ({ public_ids: await prov.publicIds(req.params.irs) }),
  });
  app.get<{ Params: Irs }>('/irs/:irs/private_ids', {
    schema: { params: param('irs'), response: { 200: list('private_ids'), ...ERROR_RESPONSES } },
    handler: async (req) => ({ private_ids: await prov.privateIds(req.params.irs) }),
  });
  app.put<{ Params: Irs & { impi: string } }>('/irs/:irs/private_ids/:impi', {
    schema: { params: param('irs', 'impi'), response: { 200: empty, ...ERROR_RESPONSES } },
    handler: async (req, reply) => reply.code(200).send(await prov.linkPrivate(req.params.irs, req.params.impi)),
  });
  app.delete<{ Params: Irs & { impi: string } }>('/irs/:irs/private_ids/:impi', {
    schema: { params: param('irs', 'impi'), response: { 204: empty, ...ERROR_RESPONSES } },
    handler: async (req, reply) => reply.code(204).send(await prov.unlinkPrivate(req.params.irs, req.params.impi)),
  });
}

/** The IRS's service profile: its public identities and filter criteria. */
function serviceProfileRoutes(app: FastifyInstance, prov: Provisioner): void {
  app.post<{ Params: Irs }>('/irs/:irs/service_profiles', {
    schema: { params: param('irs'), response: { 201: empty, ...ERROR_RESPONSES } },
    handler: async (req, reply) => {
      const sp = await prov.createServiceProfile(req.params.irs);
      return reply.code(201).header('location', `/irs/${encodeURIComponent(req.params.irs)}/service_profiles/${encodeURIComponent(sp)}`).send();
    },
  });
  const publicIdPath = '/irs/:irs/service_profiles/:sp/public_ids/:impu';
  app.put<{ Params: Sp & { impu: string }; Body: string }>(publicIdPath, {
    schema: { params: param('irs', 'sp', 'impu'), body: xmlBody, response: { 200: xmlAnswer, ...ERROR_RESPONSES } },
    handler: async (req, reply) => reply.type(xml).send(await prov.putPublicId(req.params.irs, req.params.sp, req.params.impu, req.body)),
  });
  app.get<{ Params: Sp & { impu: string } }>(publicIdPath, {
    schema: { params: param('irs', 'sp', 'impu'), response: { 200: xmlAnswer, ...ERROR_RESPONSES } },
    handler: async (req, reply) => reply.type(xml).send(await prov.getPublicId(req.params.irs, req.params.sp, req.params.impu)),
  });
  app.delete<{ Params: Sp & { impu: string } }>(publicIdPath, {
    schema: { params: param('irs', 'sp', 'impu'), response: { 204: empty, ...ERROR_RESPONSES } },
    handler: async (req, reply) => reply.code(204).send(await prov.deletePublicId(req.params.irs, req.params.sp, req.params.impu)),
  });
  const filterPath = '/irs/:irs/service_profiles/:sp/filter_criteria';
  app.put<{ Params: Sp; Body: string }>(filterPath, {
    schema: { params: param('irs', 'sp'), body: xmlBody, response: { 200: xmlAnswer, ...ERROR_RESPONSES } },
    handler: async (req, reply) => reply.type(xml).send(await prov.putFilterCriteria(req.params.irs, req.params.sp, req.body)),
  });
  app.get<{ Params: Sp }>(filterPath, {
    schema: { params: param('irs', 'sp'), response: { 200: xmlAnswer, ...ERROR_RESPONSES } },
    handler: async (req, reply) => reply.type(xml).send(await prov.getFilterCriteria(req.params.irs, req.params.sp)),
  });
}
