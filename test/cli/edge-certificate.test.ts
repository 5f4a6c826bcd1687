/** The edge's certificate: configured (checked at start-up), else self-signed and kept in the data folder. */
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { certificateLines, edgeCertificate } from '../../src/cli/edge-certificate.js';
import { generateSelfSigned } from '../../src/cli/self-signed.js';
import { ConfigError, allInOneConfigSchema, type AllInOneConfigInput } from '../../src/config/index.js';

const dir = (): string => mkdtempSync(path.join(tmpdir(), 'tw-cert-'));
const config = (input: AllInOneConfigInput) => allInOneConfigSchema.parse(input);

function problems(run: () => unknown): readonly string[] {
  try {
    run();
  } catch (e) {
    if (e instanceof ConfigError) return e.problems;
    throw e;
  }
  return [];
}

describe('the edge certificate without tlsCert and tlsKey', () => {
  it('is generated at first start for the domain, localhost and 127.0.0.1, key file mode 0600', () => {
    const dataDir = dir();
    const c = edgeCertificate(config({ dataDir, domain: 'ims.test' }));
    expect(c.origin).toBe('generated');
    expect(c.certFile).toBe(path.join(dataDir, 'tls', 'cert.pem'));
    expect(readFileSync(c.certFile, 'utf8')).toBe(c.cert);
    expect(readFileSync(path.join(dataDir, 'tls', 'key.pem'), 'utf8')).toBe(c.key);
    expect(statSync(path.join(dataDir, 'tls', 'key.pem')).mode & 0o777).toBe(0o600);
    const x509 = new X509Certificate(c.cert);
    expect(x509.subjectAltName).toContain('DNS:ims.test, DNS:localhost, IP Address:127.0.0.1');
    expect(c.sha256).toBe(x509.fingerprint256);
  });

  it('is kept for later starts, and replaced when the domain changes or it nears its end', () => {
    const dataDir = dir();
    const first = edgeCertificate(config({ dataDir, domain: 'ims.test' }));
    const second = edgeCertificate(config({ dataDir, domain: 'ims.test' }));
    expect(second.origin).toBe('kept');
    expect(second.sha256).toBe(first.sha256);
    const moved = edgeCertificate(config({ dataDir, domain: 'other.test' }));
    expect([moved.origin, moved.reason]).toEqual(['generated', 'the kept one was for another domain']);
    expect(new X509Certificate(moved.cert).checkHost('other.test')).toBe('other.test');
    const later = edgeCertificate(config({ dataDir, domain: 'other.test' }), new Date(Date.now() + 820 * 86_400_000));
    expect([later.origin, later.reason]).toEqual(['generated', 'the kept one expires soon']);
  });

  it('is replaced when the kept files are damaged', () => {
    const dataDir = dir();
    edgeCertificate(config({ dataDir }));
    writeFileSync(path.join(dataDir, 'tls', 'cert.pem'), 'garbage');
    const again = edgeCertificate(config({ dataDir }));
    expect([again.origin, again.reason]).toEqual(['generated', 'the kept one was unreadable']);
  });

  it('is printed with its file, its SHA-256 fingerprint and the SPKI hash Chromium takes', () => {
    const c = edgeCertificate(config({ dataDir: dir() }));
    const lines = certificateLines(c);
    expect(lines[0]).toMatch(/^tls certificate self-signed, generated now \(none yet\): .*\/tls\/cert\.pem, for DNS:example\.com, /);
    expect(lines[1]).toBe(`tls certificate sha256 ${c.sha256}`);
    expect(lines[2]).toBe(`tls certificate spki sha256 ${c.spkiSha256} (chromium --ignore-certificate-errors-spki-list=${c.spkiSha256})`);
  });
});

describe('a configured tlsCert and tlsKey', () => {
  function pair(): { certFile: string; keyFile: string; dataDir: string } {
    const dataDir = dir();
    const made = generateSelfSigned({ commonName: 'sbc.ims.test', dnsNames: ['sbc.ims.test'] });
    const certFile = path.join(dataDir, 'edge.crt');
    const keyFile = path.join(dataDir, 'edge.key');
    writeFileSync(certFile, made.certPem);
    writeFileSync(keyFile, made.keyPem, { mode: 0o600 });
    return { certFile, keyFile, dataDir };
  }

  it('are used as they are, and no certificate is generated', () => {
    const { certFile, keyFile, dataDir } = pair();
    const c = edgeCertificate(config({ dataDir, tlsCert: certFile, tlsKey: keyFile }));
    expect(c.origin).toBe('configured');
    expect(c.cert).toBe(readFileSync(certFile, 'utf8'));
    expect(certificateLines(c)[0]).toMatch(new RegExp(`^tls certificate configured: ${certFile}, for DNS:sbc\\.ims\\.test, valid to `));
    expect(() => statSync(path.join(dataDir, 'tls'))).toThrow();
  });

  it('stop the start naming the key when a file cannot be read', () => {
    const { certFile, keyFile, dataDir } = pair();
    const missing = path.join(dataDir, 'missing.pem');
    expect(problems(() => edgeCertificate(config({ dataDir, tlsCert: missing, tlsKey: keyFile })))).toEqual([
      `config: tlsCert ${missing} cannot be read: no such file`,
    ]);
    expect(problems(() => edgeCertificate(config({ dataDir, tlsCert: certFile, tlsKey: missing })))).toEqual([
      `config: tlsKey ${missing} cannot be read: no such file`,
    ]);
  });

  it('stop the start naming the key for a file that is not PEM, or a key of another certificate', () => {
    const { certFile, keyFile, dataDir } = pair();
    const other = pair();
    const junk = path.join(dataDir, 'junk.pem');
    writeFileSync(junk, 'not a certificate\n');
    expect(problems(() => edgeCertificate(config({ dataDir, tlsCert: junk, tlsKey: keyFile })))[0]).toMatch(
      new RegExp(`^config: tlsCert ${junk} is not a PEM certificate: `),
    );
    expect(problems(() => edgeCertificate(config({ dataDir, tlsCert: certFile, tlsKey: junk })))[0]).toMatch(
      new RegExp(`^config: tlsKey ${junk} is not an unencrypted PEM private key: `),
    );
    expect(problems(() => edgeCertificate(config({ dataDir, tlsCert: certFile, tlsKey: other.keyFile })))).toEqual([
      `config: tlsKey ${other.keyFile} is not the key of the certificate in tlsCert ${certFile}`,
    ]);
  });
});
