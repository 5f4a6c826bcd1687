/** The XDMS over HTTP (RFC 4825): documents, node selectors, entity tags, XCAP errors. */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { MemoryDocumentStore } from '../../src/storage/memory/document-store.js';
import { defaultSimservs, parseSimservs } from '../../src/xdms/simservs.js';
import { provisionDefaultDocument } from '../../src/xdms/provision.js';
import { buildXdmsServer } from '../../src/xdms/xcap.js';

const IMPU = 'sip:6505550001@example.com';
const DOC = `/org.etsi.ngn.simservs/users/${encodeURIComponent(IMPU)}/simservs.xml`;
const CDIV = `${DOC}/~~/simservs/communication-diversion`;
const RULE = (id: string) => `${CDIV}/cp:ruleset/cp:rule%5B@id=%22${id}%22%5D`;
const SIMSERVS = { 'content-type': 'application/simservs+xml' };
const ELEMENT = { 'content-type': 'application/xcap-el+xml' };
const ATTRIBUTE = { 'content-type': 'application/xcap-att+xml' };
const CP = 'xmlns:cp="urn:ietf:params:xml:ns:common-policy"';

function rule(id: string, condition: string, target: string): string {
  return `<cp:rule id="${id}" ${CP}><cp:conditions>${condition}</cp:conditions><cp:actions><forward-to><target>${target}</target></forward-to></cp:actions></cp:rule>`;
}

describe('XDMS (XCAP)', () => {
  let store: MemoryDocumentStore;
  let app: FastifyInstance;
  beforeEach(async () => {
    store = new MemoryDocumentStore();
    app = await buildXdmsServer({ store });
  });
  afterEach(async () => {
    await app.close();
  });

  const put = (url: string, payload: string, headers: Record<string, string> = SIMSERVS) => app.inject({ method: 'PUT', url, payload, headers });
  const get = (url: string, headers: Record<string, string> = {}) => app.inject({ method: 'GET', url, headers });

  it('answers /ping', async () => {
    const res = await get('/ping');
    expect(res.statusCode).toBe(200);
    expect(res.body).toBe('OK');
  });

  it('creates, reads, replaces and deletes a whole document, with a new ETag on every write', async () => {
    expect((await get(DOC)).statusCode).toBe(404);
    const created = await put(DOC, defaultSimservs());
    expect(created.statusCode).toBe(201);
    const etag1 = created.headers.etag as string;
    expect(etag1).toMatch(/^"[^"]+"$/);
    const read = await get(DOC);
    expect(read.statusCode).toBe(200);
    expect(read.headers['content-type']).toContain('application/simservs+xml');
    expect(read.headers.etag).toBe(etag1);
    expect(read.body).toBe(defaultSimservs());
    const replaced = await put(DOC, defaultSimservs().replace('<NoReplyTimer>30', '<NoReplyTimer>60'));
    expect(replaced.statusCode).toBe(200);
    expect(replaced.headers.etag).not.toBe(etag1);
    expect(parseSimservs((await get(DOC)).body).cdiv?.noReplyTimer).toBe(60);
    expect((await app.inject({ method: 'DELETE', url: DOC })).statusCode).toBe(204);
    expect((await get(DOC)).statusCode).toBe(404);
    expect((await app.inject({ method: 'DELETE', url: DOC })).statusCode).toBe(404);
  });

  it('refuses an invalid document with 409 and an XCAP error body naming the problem, keeping the old one', async () => {
    await put(DOC, defaultSimservs());
    const res = await put(DOC, defaultSimservs().replace('<NoReplyTimer>30', '<NoReplyTimer>2'));
    expect(res.statusCode).toBe(409);
    expect(res.headers['content-type']).toContain('application/xcap-error+xml');
    expect(res.body).toContain('<xcap-error xmlns="urn:ietf:params:xml:ns:xcap-error">');
    expect(res.body).toMatch(/<schema-validation-error phrase="\/simservs\/communication-diversion\/NoReplyTimer: must be a whole number of seconds from 5 to 180/);
    expect(parseSimservs((await get(DOC)).body).cdiv?.noReplyTimer).toBe(30);
    const broken = await put(DOC, '<simservs><unclosed></simservs>');
    expect(broken.statusCode).toBe(409);
    expect(broken.body).toContain('<not-well-formed');
    const dtd = await put(DOC, '<!DOCTYPE simservs [<!ENTITY a "aaaa">]><simservs/>');
    expect(dtd.body).toContain('<not-well-formed');
    const latin1 = await app.inject({ method: 'PUT', url: DOC, payload: Buffer.from([0x3c, 0x61, 0xe9, 0x3e]), headers: SIMSERVS });
    expect(latin1.body).toContain('<not-utf-8');
  });

  it('honours If-Match and If-None-Match on the whole document', async () => {
    const first = await put(DOC, defaultSimservs(), { ...SIMSERVS, 'if-none-match': '*' });
    expect(first.statusCode).toBe(201);
    const again = await put(DOC, defaultSimservs(), { ...SIMSERVS, 'if-none-match': '*' });
    expect(again.statusCode).toBe(412);
    expect(again.json()).toMatchObject({ code: 'TW_ERR_XDMS_PRECONDITION_FAILED' });
    expect(again.headers.etag).toBe(first.headers.etag);
    const stale = await put(DOC, defaultSimservs(), { ...SIMSERVS, 'if-match': '"not-the-tag"' });
    expect(stale.statusCode).toBe(412);
    const fresh = await put(DOC, defaultSimservs(), { ...SIMSERVS, 'if-match': first.headers.etag as string });
    expect(fresh.statusCode).toBe(200);
    expect((await app.inject({ method: 'DELETE', url: DOC, headers: { 'if-match': first.headers.etag as string } })).statusCode).toBe(412);
    expect((await get(DOC, { 'if-none-match': fresh.headers.etag as string })).statusCode).toBe(304);
    expect((await put(`/org.etsi.ngn.simservs/users/${encodeURIComponent('sip:new@example.com')}/simservs.xml`, defaultSimservs(), { ...SIMSERVS, 'if-match': '*' })).statusCode).toBe(412);
  });

  it('reads one diversion rule by id, replaces it, and the whole document reflects the change', async () => {
    await provisionDefaultDocument(store, IMPU);
    const created = await put(RULE('cfb'), rule('cfb', '<busy/>', 'sip:voicemail@example.com'), ELEMENT);
    expect(created.statusCode).toBe(201);
    await put(RULE('cfnr'), rule('cfnr', '<no-answer/>', 'tel:+16505550100'), ELEMENT);
    const read = await get(RULE('cfb'));
    expect(read.statusCode).toBe(200);
    expect(read.headers['content-type']).toContain('application/xcap-el+xml');
    expect(read.headers.etag).toBeDefined();
    expect(read.body).toContain('sip:voicemail@example.com');
    expect(read.body).not.toContain('cfnr');
    const replaced = await put(RULE('cfb'), rule('cfb', '<busy/>', 'sip:assistant@example.com'), { ...ELEMENT, 'if-match': read.headers.etag as string });
    expect(replaced.statusCode).toBe(200);
    expect(replaced.headers.etag).not.toBe(read.headers.etag);
    const rules = parseSimservs((await get(DOC)).body).cdiv?.rules;
    expect(rules?.map((r) => [r.id, r.conditions, r.target])).toEqual([
      ['cfb', ['busy'], 'sip:assistant@example.com'],
      ['cfnr', ['no-answer'], 'tel:+16505550100'],
    ]);
    expect((await get(`${CDIV}/cp:ruleset/cp:rule%5B2%5D`)).body).toContain('cfnr');
    expect((await app.inject({ method: 'DELETE', url: RULE('cfb') })).statusCode).toBe(200);
    expect((await get(RULE('cfb'))).statusCode).toBe(404);
    expect(parseSimservs((await get(DOC)).body).cdiv?.rules.map((r) => r.id)).toEqual(['cfnr']);
  });

  it('refuses an element put that would make the document invalid, or that is not one element', async () => {
    await provisionDefaultDocument(store, IMPU);
    const bad = await put(RULE('cfb'), rule('cfb', '<busy/>', 'not-a-uri'), ELEMENT);
    expect(bad.statusCode).toBe(409);
    expect(bad.body).toContain('<schema-validation-error');
    expect(bad.body).toContain('target: must be a SIP or tel URI');
    const two = await put(RULE('cfb'), `${rule('cfb', '<busy/>', 'sip:a@b')}${rule('x', '<busy/>', 'sip:a@b')}`, ELEMENT);
    expect(two.body).toContain('<not-xml-frag');
    const mismatch = await put(RULE('cfb'), rule('other', '<busy/>', 'sip:a@b'), ELEMENT);
    expect(mismatch.body).toContain('<cannot-insert');
    const orphan = await put(`${DOC}/~~/simservs/communication-waiting/cp:ruleset/cp:rule%5B@id=%22a%22%5D`, rule('a', '<busy/>', 'sip:a@b'), ELEMENT);
    expect(orphan.statusCode).toBe(409);
    expect(orphan.body).toMatch(/<no-parent [^>]*><ancestor>http:\/\/[^<]+\/simservs.xml\/~~\/simservs<\/ancestor><\/no-parent>/);
    const wrongType = await put(RULE('cfb'), rule('cfb', '<busy/>', 'sip:a@b'), SIMSERVS);
    expect(wrongType.statusCode).toBe(415);
    expect((await get(DOC)).body).toBe(defaultSimservs());
  });

  it('reads and writes an attribute through an attribute selector', async () => {
    await provisionDefaultDocument(store, IMPU);
    const active = await get(`${CDIV}/@active`);
    expect(active.statusCode).toBe(200);
    expect(active.headers['content-type']).toContain('application/xcap-att+xml');
    expect(active.body).toBe('true');
    expect((await put(`${CDIV}/@active`, 'false', ATTRIBUTE)).statusCode).toBe(200);
    expect(parseSimservs((await get(DOC)).body).cdiv?.active).toBe(false);
    const invalid = await put(`${CDIV}/@active`, 'sometimes', ATTRIBUTE);
    expect(invalid.statusCode).toBe(409);
    expect(invalid.body).toContain('communication-diversion/@active: must be true or false');
    expect((await get(`${CDIV}/@nonexistent`)).statusCode).toBe(404);
    expect((await app.inject({ method: 'DELETE', url: `${CDIV}/@active` })).statusCode).toBe(200);
    expect(parseSimservs((await get(DOC)).body).cdiv?.active).toBe(true); // active defaults to true
  });

  it('honours If-None-Match: * on a node as "only if the node does not exist"', async () => {
    await provisionDefaultDocument(store, IMPU);
    const first = await put(RULE('cfu'), rule('cfu', '', 'sip:a@example.com'), { ...ELEMENT, 'if-none-match': '*' });
    expect(first.statusCode).toBe(201);
    const second = await put(RULE('cfu'), rule('cfu', '', 'sip:b@example.com'), { ...ELEMENT, 'if-none-match': '*' });
    expect(second.statusCode).toBe(412);
  });

  it('answers 404 for a missing document or node and 400 for a selector that does not parse', async () => {
    expect((await get(RULE('x'))).statusCode).toBe(404);
    await provisionDefaultDocument(store, IMPU);
    expect((await get(RULE('x'))).statusCode).toBe(404);
    expect((await get(`/org.etsi.ngn.simservs/users/${encodeURIComponent(IMPU)}/other.xml`)).statusCode).toBe(404);
    const bad = await get(`${CDIV}/cp:ruleset%5B`);
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toMatchObject({ code: 'TW_ERR_XDMS_BAD_REQUEST' });
    expect((await get(`${CDIV}/zz:ruleset`)).statusCode).toBe(400);
    expect((await get('/org.etsi.ngn.simservs/users/alice/simservs.xml')).statusCode).toBe(400);
  });

  it('provisions the default document once and never overwrites a user\'s settings', async () => {
    expect((await provisionDefaultDocument(store, IMPU)).created).toBe(true);
    await put(`${CDIV}/NoReplyTimer`, '<NoReplyTimer xmlns="http://uri.etsi.org/ngn/params/xml/simservs/xcap">90</NoReplyTimer>', ELEMENT);
    expect((await provisionDefaultDocument(store, IMPU)).created).toBe(false);
    expect(parseSimservs((await get(DOC)).body).cdiv?.noReplyTimer).toBe(90);
  });
});

describe('XDMS API key', () => {
  it('requires NGV-API-Key when configured, except for /ping', async () => {
    const app = await buildXdmsServer({ store: new MemoryDocumentStore(), apiKey: 's3cret-key' });
    try {
      expect((await app.inject({ url: '/ping' })).statusCode).toBe(200);
      const missing = await app.inject({ url: DOC });
      expect(missing.statusCode).toBe(401);
      expect(missing.json()).toMatchObject({ code: 'TW_ERR_XDMS_UNAUTHORIZED' });
      expect((await app.inject({ url: DOC, headers: { 'ngv-api-key': 'wrong' } })).statusCode).toBe(401);
      expect((await app.inject({ url: DOC, headers: { 'ngv-api-key': 's3cret-key' } })).statusCode).toBe(404);
    } finally {
      await app.close();
    }
  });
});

describe('XDMS over a real socket', () => {
  it('serves a document PUT and GET over HTTP on 127.0.0.1', async () => {
    const app = await buildXdmsServer({ store: new MemoryDocumentStore() });
    try {
      await app.listen({ host: '127.0.0.1', port: 0 });
      const address = app.server.address();
      if (typeof address !== 'object' || address === null) throw new Error('no address');
      const base = `http://127.0.0.1:${address.port}`;
      const created = await fetch(`${base}${DOC}`, { method: 'PUT', body: defaultSimservs(), headers: SIMSERVS });
      expect(created.status).toBe(201);
      const etag = created.headers.get('etag');
      const read = await fetch(`${base}${CDIV}/NoReplyTimer`);
      expect(read.status).toBe(200);
      expect(read.headers.get('etag')).toBe(etag);
      expect(await read.text()).toContain('>30</NoReplyTimer>');
      const invalid = await fetch(`${base}${DOC}`, { method: 'PUT', body: '<simservs/>', headers: SIMSERVS });
      expect(invalid.status).toBe(409);
      expect(await invalid.text()).toContain('<schema-validation-error');
    } finally {
      await app.close();
    }
  });
});
