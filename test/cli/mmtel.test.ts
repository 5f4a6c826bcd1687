/**
 * `tidewater mmtel`: the MMTel application server alone (issue 6), reached over ISC by an S-CSCF
 * in another process (here a UDP socket of the test speaking for it). It reads the served user's
 * simservs from the data folder, or from an XDMS at xdmsUrl, bars with 603, and proxies along the
 * Route set it was given.
 */
import { createSocket, type Socket } from 'node:dgram';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/cli/storage.js';
import { defaultSettings, serializeSimservs, SIMSERVS_AUID, SIMSERVS_DOCUMENT } from '../../src/xdms/index.js';
import { startProcess, type RunningProcess } from '../harness/tools.js';
import { tempDataDir, tidewater } from './run-cli.js';

const CLI = path.resolve(import.meta.dirname, '../../bin/tidewater.js');
const DOMAIN = 'example.com';
const BARRED = 'sip:6505557001@example.com';
const FREE = 'sip:6505557002@example.com';
/** Outgoing barring of every call (TS 24.611): the default document's allow-all rule replaced. */
const OCB_ALL = serializeSimservs({
  ...defaultSettings(),
  ocb: { active: true, rules: [{ id: 'all', deactivated: false, media: [], extraConditions: [], conditions: [], allow: false }] },
});

const running: RunningProcess[] = [];
const sockets: Socket[] = [];

afterEach(async () => {
  for (const s of sockets.splice(0)) s.close();
  for (const p of running.splice(0)) expect(await p.stop()).toEqual({ code: 0, signal: null });
});

/**
 * A free metrics port, and no drain on stop: the stand-in S-CSCF leaves an INVITE unanswered,
 * which a draining node would wait the whole grace period for.
 */
const MMTEL_TEST_ARGS = ['--metrics-port', '0', '--shutdown-grace-ms', '0'];

async function start(command: string, args: string[]): Promise<RunningProcess> {
  const proc = await startProcess(process.execPath, [CLI, command, '--bind', '127.0.0.1', ...args], {
    readyLine: new RegExp(`tidewater ${command} for ${DOMAIN} ready`),
    timeoutMs: 20_000,
  });
  running.push(proc);
  return proc;
}

function listenerPort(proc: RunningProcess, service: string, protocol: string): number {
  const m = new RegExp(`listening ${service} ${protocol} 127\\.0\\.0\\.1:(\\d+)`).exec(proc.stdout);
  if (!m) throw new Error(`no ${service} ${protocol} listener in:\n${proc.stdout}`);
  return Number(m[1]);
}

/** A UDP socket speaking for the S-CSCF: sends requests and collects what comes back. */
async function scscfSocket(): Promise<{ port: number; send(text: string, port: number): void; next(match: RegExp): Promise<string> }> {
  const socket = createSocket('udp4');
  sockets.push(socket);
  const inbox: string[] = [];
  const waiters: Array<() => void> = [];
  socket.on('message', (m) => {
    inbox.push(m.toString('utf8'));
    waiters.splice(0).forEach((w) => w());
  });
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const port = socket.address().port;
  const next = async (match: RegExp): Promise<string> => {
    const deadline = Date.now() + 5000;
    for (;;) {
      const i = inbox.findIndex((m) => match.test(m.split('\r\n')[0] ?? ''));
      if (i >= 0) return inbox.splice(i, 1)[0]!;
      if (Date.now() > deadline) throw new Error(`nothing matching ${match} arrived; got:\n${inbox.join('\n---\n')}`);
      await new Promise<void>((r) => {
        waiters.push(r);
        setTimeout(r, 100);
      });
    }
  };
  return { port, send: (text, to) => socket.send(Buffer.from(text), to, '127.0.0.1'), next };
}

/** An INVITE as an S-CSCF sends it over ISC (TS 24.229 §5.4.3.2): Route to the AS then back, P-Served-User. */
function iscInvite(from: string, routes: string[], ownPort: number): string {
  const sdp = 'v=0\r\no=a 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n';
  return [
    `INVITE sip:6505557999@${DOMAIN} SIP/2.0`,
    `Via: SIP/2.0/UDP 127.0.0.1:${ownPort};branch=z9hG4bK-isc-${Math.random().toString(36).slice(2)};rport`,
    'Max-Forwards: 70',
    ...routes.map((r) => `Route: ${r}`),
    `From: <${from}>;tag=caller1`,
    `To: <sip:6505557999@${DOMAIN}>`,
    `Call-ID: mmtel-alone-${Math.random().toString(36).slice(2)}@127.0.0.1`,
    'CSeq: 1 INVITE',
    `P-Asserted-Identity: <${from}>`,
    `P-Served-User: <${from}>;sescase=orig;regstate=reg`,
    `Contact: <sip:caller@127.0.0.1:${ownPort}>`,
    'Content-Type: application/sdp',
    `Content-Length: ${Buffer.byteLength(sdp)}`,
    '',
    sdp,
  ].join('\r\n');
}

function header(text: string, name: string): string[] {
  return text
    .split('\r\n\r\n')[0]!
    .split('\r\n')
    .filter((l) => l.toLowerCase().startsWith(`${name.toLowerCase()}:`))
    .map((l) => l.slice(name.length + 1).trim());
}

describe('the default iFC of a number added on the command line', () => {
  it('sends INVITEs to the MMTel AS of serviceHosts.mmtel, DefaultHandling continue', async () => {
    const dataDir = tempDataDir();
    const added = await tidewater(['subscriber', 'add', '6505557100', '--password', 'pw-7100-secret', '--data-dir', dataDir], {
      TIDEWATER_SERVICE_HOSTS_MMTEL: 'as1.mmtel.example.net',
    });
    expect(added.code, added.stderr).toBe(0);
    const stores = openDatabase(dataDir);
    try {
      const profile = (await stores.subscribers.implicitSetOf('sip:6505557100@example.com'))?.serviceProfile ?? '';
      expect(profile).toContain('<Identity>sip:6505557100@example.com</Identity>');
      expect(profile).toMatch(
        /<InitialFilterCriteria><Priority>0<\/Priority><TriggerPoint>.*<Method>INVITE<\/Method>.*<ServerName>sip:as1\.mmtel\.example\.net<\/ServerName><DefaultHandling>0<\/DefaultHandling>/,
      );
    } finally {
      stores.close();
    }
  });
});

describe('tidewater mmtel', () => {
  it('starts alone on the data folder, prints its SIP listeners, bars with 603 and proxies an unbarred call along its Route set', async () => {
    const dataDir = mkdtempSync(path.join(tmpdir(), 'tw-mmtel-'));
    const stores = openDatabase(dataDir);
    await stores.documents.put({ auid: SIMSERVS_AUID, xui: BARRED, name: SIMSERVS_DOCUMENT }, OCB_ALL);
    stores.close();
    const mmtel = await start('mmtel', ['--data-dir', dataDir, '--sip-port', '0', ...MMTEL_TEST_ARGS]);
    const port = listenerPort(mmtel, 'sip', 'udp');
    expect(listenerPort(mmtel, 'sip', 'tcp')).toBe(port);
    const scscf = await scscfSocket();
    const back = `<sip:odi-token1@127.0.0.1:${scscf.port};lr>`;

    scscf.send(iscInvite(BARRED, [`<sip:127.0.0.1:${port};lr>`, back], scscf.port), port);
    const refused = await scscf.next(/^SIP\/2\.0 [2-6]\d\d /);
    expect(refused.split('\r\n')[0]).toBe('SIP/2.0 603 Decline - outgoing communication barred');

    scscf.send(iscInvite(FREE, [`<sip:mmtel.${DOMAIN};lr>`, back], scscf.port), port);
    const proxied = await scscf.next(/^INVITE /);
    expect(header(proxied, 'Route')).toEqual([back]);
    expect(header(proxied, 'P-Served-User')).toEqual([`<${FREE}>;sescase=orig;regstate=reg`]);
    expect(header(proxied, 'Via')).toHaveLength(2);
  });

  it('reads the simservs documents of an XDMS at xdmsUrl', async () => {
    const xdms = await start('xdms', ['--data-dir', mkdtempSync(path.join(tmpdir(), 'tw-xdms-')), '--xdms-port', '0']);
    const xdmsUrl = `http://127.0.0.1:${listenerPort(xdms, 'xdms', 'http')}`;
    const put = await fetch(`${xdmsUrl}/${SIMSERVS_AUID}/users/${encodeURIComponent(BARRED)}/${SIMSERVS_DOCUMENT}`, {
      method: 'PUT',
      headers: { 'content-type': 'application/simservs+xml' },
      body: OCB_ALL,
    });
    expect(put.status).toBe(201);
    const mmtel = await start('mmtel', ['--data-dir', mkdtempSync(path.join(tmpdir(), 'tw-mmtel-')), '--sip-port', '0', '--xdms-url', xdmsUrl, ...MMTEL_TEST_ARGS]);
    const port = listenerPort(mmtel, 'sip', 'udp');
    const scscf = await scscfSocket();
    scscf.send(iscInvite(BARRED, [`<sip:127.0.0.1:${port};lr>`, `<sip:odi-token2@127.0.0.1:${scscf.port};lr>`], scscf.port), port);
    expect((await scscf.next(/^SIP\/2\.0 [2-6]\d\d /)).split('\r\n')[0]).toBe('SIP/2.0 603 Decline - outgoing communication barred');
  });
});
