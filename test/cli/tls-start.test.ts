/** `tidewater all-in-one` refuses to start with a TLS certificate it cannot use, naming the setting. */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { generateSelfSigned } from '../../src/cli/self-signed.js';
import { tempDataDir, tidewater } from './run-cli.js';

/** Every listener on port 0: a start that got past the certificate would not collide with anything. */
const ANY_PORTS = ['--bind', '127.0.0.1', ...['sip', 'ws', 'tls', 'wss', 'hss', 'hss-provisioning', 'xdms', 'portal', 'metrics'].flatMap((p) => [`--${p}-port`, '0'])];

describe('all-in-one start-up with tlsCert and tlsKey', () => {
  it('stops naming tlsKey when only a certificate is given', async () => {
    const result = await tidewater(['all-in-one', '--data-dir', tempDataDir(), ...ANY_PORTS, '--tls-cert', 'edge.pem']);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe('tidewater: config: tlsKey (default) must be given with tlsCert (both or neither), got nothing; tlsCert is "edge.pem" (from --tls-cert)\n');
  });

  it('stops naming tlsCert when its file cannot be read, and tlsKey when its file is no key', async () => {
    const dataDir = tempDataDir();
    const missing = path.join(path.dirname(dataDir), 'missing.pem');
    const unreadable = await tidewater(['all-in-one', '--data-dir', dataDir, ...ANY_PORTS, '--tls-cert', missing, '--tls-key', missing]);
    expect(unreadable.code).toBe(1);
    expect(unreadable.stderr).toBe(`tidewater: config: tlsCert ${missing} cannot be read: no such file\n`);
    expect(unreadable.stdout).not.toMatch(/ready/);

    const certFile = path.join(path.dirname(dataDir), 'cert.pem');
    const keyFile = path.join(path.dirname(dataDir), 'key.pem');
    writeFileSync(certFile, generateSelfSigned({ commonName: 'example.com', dnsNames: ['example.com'] }).certPem);
    writeFileSync(keyFile, '-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n');
    const invalid = await tidewater(['all-in-one', '--data-dir', dataDir, ...ANY_PORTS, '--tls-cert', certFile, '--tls-key', keyFile]);
    expect(invalid.code).toBe(1);
    expect(invalid.stderr).toMatch(new RegExp(`^tidewater: config: tlsKey ${keyFile} is not an unencrypted PEM private key: `));
  });
});
