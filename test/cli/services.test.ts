/**
 * The HSS and the XDMS each start alone (`tidewater hss`, `tidewater xdms`) on a data folder,
 * serve their APIs, and stop cleanly on SIGTERM.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { startProcess } from '../harness/tools.js';

const CLI = path.resolve(import.meta.dirname, '../../bin/tidewater.js');

async function start(command: string, extra: string[]) {
  const dir = mkdtempSync(path.join(tmpdir(), `tw-${command}-`));
  const proc = await startProcess(process.execPath, [CLI, command, '--data-dir', dir, '--bind', '127.0.0.1', '--metrics-port', '0', ...extra], {
    readyLine: new RegExp(`tidewater ${command} for example.com ready`),
    timeoutMs: 20_000,
  });
  const url = (service: string): string => {
    const m = new RegExp(`listening ${service} http (\\S+):(\\d+)`).exec(proc.stdout);
    if (!m) throw new Error(`no ${service} listener in:\n${proc.stdout}`);
    return `http://${m[1]}:${m[2]}`;
  };
  return { proc, url };
}

describe('services started alone', () => {
  it('runs the HSS alone: provisioning then signalling answer for the same subscriber', async () => {
    const { proc, url } = await start('hss', ['--hss-port', '0', '--hss-provisioning-port', '0']);
    try {
      const impi = encodeURIComponent('6505555001@example.com');
      const put = await fetch(`${url('hss-provisioning')}/private/${impi}`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ plaintext_password: 'pw-5001-secret' }),
      });
      expect(put.status).toBeLessThan(300);
      const got = await fetch(`${url('hss-provisioning')}/private/${impi}`);
      expect(got.status).toBe(200);
      expect(JSON.stringify(await got.json())).not.toContain('pw-5001-secret');
      expect((await fetch(`${url('hss')}/impi/${encodeURIComponent('nobody@example.com')}/av?impu=${encodeURIComponent('sip:nobody@example.com')}`)).status).toBe(404);
    } finally {
      expect(await proc.stop()).toEqual({ code: 0, signal: null });
    }
  });

  it('runs the XDMS alone', async () => {
    const { proc, url } = await start('xdms', ['--xdms-port', '0']);
    try {
      expect((await fetch(`${url('xdms')}/ping`)).status).toBe(200);
      // Like every Tidewater process, it answers the orchestrator's probes on its metrics port.
      expect((await fetch(`${url('metrics')}/health/ready`)).status).toBe(200);
      expect((await fetch(`${url('metrics')}/health/live`)).status).toBe(200);
      const doc = `${url('xdms')}/org.etsi.ngn.simservs/users/${encodeURIComponent('sip:6505555002@example.com')}/simservs.xml`;
      expect((await fetch(doc)).status).toBe(404);
    } finally {
      expect(await proc.stop()).toEqual({ code: 0, signal: null });
    }
  });

  it('runs the portal alone, showing the sign-up page', async () => {
    const { proc, url } = await start('portal', ['--portal-port', '0']);
    try {
      expect((await fetch(`${url('portal')}/ping`)).status).toBe(200);
      const page = await fetch(`${url('portal')}/signup`);
      expect(page.status).toBe(200);
      expect(await page.text()).toMatch(/sign[ -]?up/i);
    } finally {
      expect(await proc.stop()).toEqual({ code: 0, signal: null });
    }
  });
});
