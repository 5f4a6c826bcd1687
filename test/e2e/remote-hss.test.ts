/**
 * The core with its HSS in another process: `tidewater hss` serves the subscriber data of one
 * data folder, and an all-in-one configured with `hssUrl` authenticates and registers against it
 * over the HSS signalling API (UAR, MAR, SAR, LIR over HTTP).
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runImsSipp, startAllInOne, tidewaterCli, type AllInOne } from '../harness/ims.js';
import { requireTool, startProcess, type RunningProcess } from '../harness/tools.js';

const CLI = path.resolve(import.meta.dirname, '../../bin/tidewater.js');
const hssDir = mkdtempSync(path.join(tmpdir(), 'tw-remote-hss-'));
let hss: RunningProcess;
let core: AllInOne;

beforeAll(async () => {
  requireTool('sipp', 'sip-tester');
  hss = await startProcess(process.execPath, [CLI, 'hss', '--data-dir', hssDir, '--bind', '127.0.0.1', '--hss-port', '0', '--hss-provisioning-port', '0', '--metrics-port', '0'], {
    readyLine: /tidewater hss for example.com ready/,
    timeoutMs: 20_000,
  });
  const m = /listening hss http (\S+):(\d+)/.exec(hss.stdout);
  if (!m) throw new Error(`no hss listener in:\n${hss.stdout}`);
  core = await startAllInOne({ config: { hssUrl: `http://${m[1]}:${m[2]}` } });
});
afterAll(async () => {
  await core?.dispose();
  await hss?.stop();
});

describe('the core with a remote HSS', () => {
  it('registers a subscriber provisioned only in the HSS process, and records the registration there', async () => {
    await tidewaterCli(['subscriber', 'add', '6505556001', '--password', 'pw-6001-secret', '--data-dir', hssDir]);
    const reg = await runImsSipp(core, { number: '6505556001', password: 'pw-6001-secret' }, 'ims-register', {});
    expect(reg.exitCode, reg.log).toBe(0);
    const shown = await tidewaterCli(['subscriber', 'show', '6505556001', '--data-dir', hssDir]);
    expect(shown).toMatch(/registration state:\s+REGISTERED/);
    expect(shown).toContain('sip:scscf.example.com');
  });

  it('refuses a wrong password with 403 through the remote HSS', async () => {
    await tidewaterCli(['subscriber', 'add', '6505556002', '--password', 'pw-6002-secret', '--data-dir', hssDir]);
    const reg = await runImsSipp(core, { number: '6505556002', password: 'wrong-password' }, 'ims-register-wrong-password', {});
    expect(reg.exitCode, reg.log).toBe(0);
  });
});
