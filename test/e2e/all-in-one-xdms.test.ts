/**
 * The all-in-one serves each number's service settings over XCAP (the Ut interface), starting
 * from the default simservs document when the number is added.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAllInOne, type AllInOne } from '../harness/ims.js';

let core: AllInOne;
let xcap: string;

beforeAll(async () => {
  core = await startAllInOne();
  const m = /listening xdms http (\S+):(\d+)/.exec(core.output());
  if (!m) throw new Error(`no xdms listener line in:\n${core.output()}`);
  xcap = `http://${m[1]}:${m[2]}`;
});
afterAll(async () => {
  await core?.dispose();
});

const docUrl = (impu: string): string => `${xcap}/org.etsi.ngn.simservs/users/${encodeURIComponent(impu)}/simservs.xml`;

describe('the all-in-one XDMS', () => {
  it('gives a new number the default simservs document, and takes a changed one back', async () => {
    await core.addSubscriber('6505553001', 'pw-3001-secret');
    const url = docUrl('sip:6505553001@example.com');
    const got = await fetch(url);
    expect(got.status).toBe(200);
    const doc = await got.text();
    expect(doc).toContain('http://uri.etsi.org/ngn/params/xml/simservs/xcap');
    expect(doc).toContain('communication-diversion');
    const changed = doc.replace('<NoReplyTimer>30</NoReplyTimer>', '<NoReplyTimer>20</NoReplyTimer>');
    expect(changed).not.toBe(doc);
    const put = await fetch(url, { method: 'PUT', body: changed, headers: { 'content-type': 'application/simservs+xml', 'if-match': got.headers.get('etag')! } });
    expect(put.status).toBe(200);
    expect(await (await fetch(url)).text()).toContain('<NoReplyTimer>20</NoReplyTimer>');
  });

  it('refuses an invalid document with 409 and keeps the stored one', async () => {
    await core.addSubscriber('6505553002', 'pw-3002-secret');
    const url = docUrl('sip:6505553002@example.com');
    const put = await fetch(url, { method: 'PUT', body: '<simservs xmlns="urn:wrong"/>', headers: { 'content-type': 'application/simservs+xml' } });
    expect(put.status).toBe(409);
    expect(await put.text()).toContain('xcap-error');
    expect((await fetch(url)).status).toBe(200);
  });
});
