/**
 * The all-in-one's HSS over HTTP: a subscriber provisioned through the Homestead-prov paths can
 * register with SIPp at once, and the signalling API answers for it; with an API key configured,
 * requests without it are refused.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runImsSipp, startAllInOne, type AllInOne } from '../harness/ims.js';
import { requireTool } from '../harness/tools.js';

const KEY = 'test-api-key-0123456789';
let core: AllInOne;
let prov: string;
let sig: string;

function listener(service: string): string {
  const m = new RegExp(`listening ${service} http (\\S+):(\\d+)`).exec(core.output());
  if (!m) throw new Error(`no ${service} listener in:\n${core.output()}`);
  return `http://${m[1] === '0.0.0.0' ? '127.0.0.1' : m[1]}:${m[2]}`;
}

beforeAll(async () => {
  requireTool('sipp', 'sip-tester');
  core = await startAllInOne({ config: { apiKey: KEY } });
  prov = listener('hss-provisioning');
  sig = listener('hss');
});
afterAll(async () => {
  await core?.dispose();
});

const headers = { 'NGV-API-Key': KEY };

async function call(method: string, url: string, body?: string, type = 'application/json'): Promise<Response> {
  return fetch(url, { method, headers: { ...headers, ...(body === undefined ? {} : { 'content-type': type }) }, ...(body === undefined ? {} : { body }) });
}

describe('the all-in-one HSS over HTTP', () => {
  it('refuses a request without the API key with 401', async () => {
    const res = await fetch(`${sig}/impi/${encodeURIComponent('nobody@example.com')}/av?impu=${encodeURIComponent('sip:nobody@example.com')}`);
    expect(res.status).toBe(401);
  });

  it('provisions a subscriber through the provisioning API that then registers with Digest', async () => {
    const number = '6505554001';
    const impi = `${number}@example.com`;
    const impu = `sip:${number}@example.com`;
    const irs = await call('POST', `${prov}/irs`);
    expect(irs.status).toBe(201);
    const irsPath = irs.headers.get('location')!;
    const sp = await call('POST', `${prov}${irsPath}/service_profiles`);
    expect(sp.status).toBe(201);
    const spPath = sp.headers.get('location')!;
    const pub = await call('PUT', `${prov}${spPath}/public_ids/${encodeURIComponent(impu)}`, `<PublicIdentity><Identity>${impu}</Identity></PublicIdentity>`, 'application/xml');
    expect(pub.status).toBeLessThan(300);
    expect((await call('PUT', `${prov}/private/${encodeURIComponent(impi)}`, JSON.stringify({ plaintext_password: 'pw-4001-secret' }))).status).toBeLessThan(300);
    expect((await call('PUT', `${prov}${irsPath}/private_ids/${encodeURIComponent(impi)}`)).status).toBeLessThan(300);

    const av = await call('GET', `${sig}/impi/${encodeURIComponent(impi)}/av?impu=${encodeURIComponent(impu)}`);
    expect(av.status).toBe(200);
    expect(((await av.json()) as { digest: { realm: string } }).digest.realm).toBe('example.com');

    const reg = await runImsSipp(core, { number, password: 'pw-4001-secret' }, 'ims-register', {});
    expect(reg.exitCode, reg.log).toBe(0);
    const location = await call('GET', `${sig}/impu/${encodeURIComponent(impu)}/location`);
    expect(((await location.json()) as { scscf?: string }).scscf).toBe('sip:scscf.example.com');
  });
});
