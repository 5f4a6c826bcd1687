/**
 * The portal, the HSS and the XDMS as three processes (`tidewater portal`, `tidewater hss`,
 * `tidewater xdms`), each on its own data folder so nothing is shared through SQLite: the portal
 * reaches the other two by URL (`--hss-provisioning-url`, `--xdms-url`) with the API key all
 * three are given. Everything is checked over real HTTP: what the portal provisions is read back
 * from the HSS provisioning API and over XCAP.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { computeHa1 } from '../../src/sip/auth/index.js';
import { defaultSettings, defaultSimservs, parseSimservs, serializeSimservs } from '../../src/xdms/index.js';
import { startProcess, type RunningProcess } from '../harness/tools.js';

const CLI = path.resolve(import.meta.dirname, '../../bin/tidewater.js');
const KEY = 'split-api-key-0123456789';
const DOMAIN = 'example.com';
const EMAIL = 'dana@example.net';
const CFU_TARGET = `sip:6505559999@${DOMAIN}`;
const enc = encodeURIComponent;

const running: RunningProcess[] = [];
let hss: RunningProcess;
let hssUrl = '';
let xdmsUrl = '';
let portalUrl = '';
let cookie = '';

/** Starts `tidewater <command>` on a fresh data folder of its own, on loopback. */
async function start(command: string, extra: string[]): Promise<RunningProcess> {
  const dir = mkdtempSync(path.join(tmpdir(), `tw-split-${command}-`));
  const proc = await startProcess(process.execPath, [CLI, command, '--data-dir', dir, '--bind', '127.0.0.1', '--api-key', KEY, '--metrics-port', '0', ...extra], {
    readyLine: new RegExp(`tidewater ${command} for ${DOMAIN} ready`),
    timeoutMs: 20_000,
  });
  running.push(proc);
  return proc;
}

function listener(proc: RunningProcess, service: string): string {
  const m = new RegExp(`listening ${service} http (\\S+):(\\d+)`).exec(proc.stdout);
  if (!m) throw new Error(`no ${service} listener in:\n${proc.stdout}`);
  return `http://${m[1]}:${m[2]}`;
}

function withKey(init: RequestInit = {}): RequestInit {
  return { ...init, headers: { ...(init.headers as Record<string, string>), 'ngv-api-key': KEY } };
}

/** A portal request with the session cookie (JSON bodies, as the REST API wants them). */
function portal(method: string, url: string, body?: string, type = 'application/json'): Promise<Response> {
  const headers: Record<string, string> = { cookie };
  if (body !== undefined) headers['content-type'] = type;
  return fetch(`${portalUrl}${url}`, { method, headers, ...(body !== undefined && { body }) });
}

const numbersPath = (impu?: string, suffix = '') => `/accounts/${enc(EMAIL)}/numbers/${impu === undefined ? '' : `${enc(impu)}/${suffix}`}`;
const xcapPath = (impu: string) => `${xdmsUrl}/org.etsi.ngn.simservs/users/${enc(impu)}/simservs.xml`;

beforeAll(async () => {
  hss = await start('hss', ['--hss-port', '0', '--hss-provisioning-port', '0']);
  hssUrl = listener(hss, 'hss-provisioning');
  xdmsUrl = listener(await start('xdms', ['--xdms-port', '0']), 'xdms');
  const p = await start('portal', ['--portal-port', '0', '--hss-provisioning-url', hssUrl, '--xdms-url', xdmsUrl]);
  portalUrl = listener(p, 'portal');
}, 60_000);

afterAll(async () => {
  for (const proc of running.splice(0)) await proc.stop();
});

describe('the portal, the HSS and the XDMS in three processes', () => {
  let number: { sip_uri: string; private_id: string; sip_password: string };

  it('signs up and logs in', async () => {
    const signup = await fetch(`${portalUrl}/accounts/`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'ngv-signup-code': 'secret' },
      body: JSON.stringify({ email: EMAIL, password: 'portal password 1', full_name: 'Dana Example' }),
    });
    expect(signup.status).toBe(201);
    const login = await fetch(`${portalUrl}/session/`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: EMAIL, password: 'portal password 1' }),
    });
    expect(login.status).toBe(201);
    cookie = login.headers.getSetCookie().find((c) => c.startsWith('tw_session='))!.split(';')[0]!;
  });

  it('allocates a number whose identities and simservs document the HSS and the XDMS serve', async () => {
    const res = await portal('POST', numbersPath());
    expect(res.status).toBe(201);
    number = (await res.json()) as typeof number;
    expect(number.sip_password).toMatch(/^[A-Za-z0-9]{16}$/);
    expect(number.private_id).toBe(`6505550000@${DOMAIN}`);

    const priv = await fetch(`${hssUrl}/private/${enc(number.private_id)}`, withKey());
    expect(priv.status).toBe(200);
    expect(await priv.json()).toEqual({ digest_ha1: computeHa1('MD5', number.private_id, DOMAIN, number.sip_password), realm: DOMAIN });
    const publics = await fetch(`${hssUrl}/private/${enc(number.private_id)}/associated_public_ids`, withKey());
    expect(await publics.json()).toEqual({ public_ids: [number.sip_uri] });
    const privates = await fetch(`${hssUrl}/public/${enc(number.sip_uri)}/associated_private_ids`, withKey());
    expect(await privates.json()).toEqual({ private_ids: [number.private_id] });

    const doc = await fetch(xcapPath(number.sip_uri), withKey());
    expect(doc.status).toBe(200);
    expect(await doc.text()).toBe(defaultSimservs());

    const listed = await portal('GET', numbersPath());
    expect(((await listed.json()) as { numbers: unknown[] }).numbers).toEqual([
      expect.objectContaining({ sip_uri: number.sip_uri, registered: false, contacts: [] }),
    ]);
  });

  it('sets call forwarding unconditional through the portal, and the XDMS serves it over XCAP', async () => {
    const settings = defaultSettings();
    const cdiv = { active: true, noReplyTimer: 30, rules: [{ id: 'cfu', deactivated: false, media: [], extraConditions: [], conditions: [], target: CFU_TARGET }] };
    const put = await portal('PUT', numbersPath(number.sip_uri, 'simservs'), serializeSimservs({ ...settings, cdiv }), 'application/xml');
    expect(put.status).toBe(200);
    const doc = await fetch(xcapPath(number.sip_uri), withKey());
    const rules = parseSimservs(await doc.text()).cdiv?.rules ?? [];
    expect(rules.map((r) => [r.conditions, r.target])).toEqual([[[], CFU_TARGET]]);
  });

  it('resets the SIP password and the HSS digest changes to the new one', async () => {
    const res = await portal('POST', numbersPath(number.sip_uri, 'password'));
    expect(res.status).toBe(200);
    const { sip_password: fresh } = (await res.json()) as { sip_password: string };
    expect(fresh).not.toBe(number.sip_password);
    const priv = await fetch(`${hssUrl}/private/${enc(number.private_id)}`, withKey());
    expect(((await priv.json()) as { digest_ha1: string }).digest_ha1).toBe(computeHa1('MD5', number.private_id, DOMAIN, fresh));
  });

  it('deletes the number from the HSS and the XDMS', async () => {
    expect((await portal('DELETE', numbersPath(number.sip_uri))).status).toBe(204);
    expect((await fetch(`${hssUrl}/public/${enc(number.sip_uri)}/associated_private_ids`, withKey())).status).toBe(404);
    expect((await fetch(`${hssUrl}/private/${enc(number.private_id)}`, withKey())).status).toBe(404);
    expect((await fetch(xcapPath(number.sip_uri), withKey())).status).toBe(404);
    expect(((await (await portal('GET', numbersPath())).json()) as { numbers: unknown[] }).numbers).toEqual([]);
  });

  it('with the HSS stopped, answers an allocation with a 503 at once and gives the account no number', async () => {
    await hss.stop();
    const started = Date.now();
    const res = await portal('POST', numbersPath());
    expect(Date.now() - started).toBeLessThan(5000);
    expect(res.status).toBe(503);
    expect(await res.json()).toMatchObject({ code: 'TW_ERR_PORTAL_UNAVAILABLE', error: true });
    expect(((await (await portal('GET', numbersPath())).json()) as { numbers: unknown[] }).numbers).toEqual([]);
  });
});

describe('tidewater portal with only one of the two URLs', () => {
  it('refuses to start, naming the missing key', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'tw-split-half-'));
    const proc = await startProcess(process.execPath, [CLI, 'portal', '--data-dir', dir, '--bind', '127.0.0.1', '--portal-port', '0', '--hss-provisioning-url', 'http://127.0.0.1:9'], {
      timeoutMs: 20_000,
    });
    running.push(proc);
    expect(await proc.exited).toEqual({ code: 1, signal: null });
    expect(proc.stderr).toMatch(/config: xdmsUrl \(--xdms-url, TIDEWATER_XDMS_URL\) is needed with hssProvisioningUrl/);
  });
});
