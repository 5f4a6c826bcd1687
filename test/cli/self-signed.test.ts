/** The self-signed certificate generator (node:crypto and a DER writer, no openssl). */
import { X509Certificate, createHash, createPrivateKey, generateKeyPairSync } from 'node:crypto';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import tls from 'node:tls';
import { describe, expect, it } from 'vitest';
import { certificateFingerprints, generateSelfSigned } from '../../src/cli/self-signed.js';

const NOW = new Date('2030-06-01T12:00:00Z');

describe('a self-signed certificate', () => {
  const made = generateSelfSigned({
    commonName: 'ims.test',
    dnsNames: ['ims.test', 'localhost'],
    ipAddresses: ['127.0.0.1', '::1', '2001:db8::7'],
    uris: ['sip:ims.test'],
    notBefore: NOW,
    validDays: 10,
  });
  const x509 = new X509Certificate(made.certPem);

  it('names the domain as subject and issuer, with the asked-for alternative names', () => {
    expect(x509.subject).toBe('CN=ims.test');
    expect(x509.issuer).toBe('CN=ims.test');
    expect(x509.subjectAltName).toBe(
      'DNS:ims.test, DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1, IP Address:2001:DB8:0:0:0:0:0:7, URI:sip:ims.test',
    );
    expect(x509.checkHost('ims.test')).toBe('ims.test');
    expect(x509.checkHost('other.test')).toBeUndefined();
    expect(x509.checkIP('127.0.0.1')).toBe('127.0.0.1');
  });

  it('is valid from notBefore for the days asked', () => {
    expect(new Date(x509.validFrom).toISOString()).toBe(NOW.toISOString());
    expect(new Date(x509.validTo).getTime() - NOW.getTime()).toBe(10 * 86_400_000);
  });

  it('is signed by its own key, an EC P-256 key in PKCS#8 PEM, and is not a CA', () => {
    const key = createPrivateKey(made.keyPem);
    expect(made.keyPem).toMatch(/^-----BEGIN PRIVATE KEY-----\n/);
    expect(key.asymmetricKeyType).toBe('ec');
    expect(key.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    expect(x509.checkPrivateKey(key)).toBe(true);
    expect(x509.verify(x509.publicKey)).toBe(true);
    expect(x509.ca).toBe(false);
    expect(x509.keyUsage).toEqual(['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2']);
    expect(x509.checkPrivateKey(generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey)).toBe(false);
  });

  it('gets a new key and serial each time', () => {
    const again = generateSelfSigned({ commonName: 'ims.test', dnsNames: ['ims.test'] });
    const other = new X509Certificate(again.certPem);
    expect(other.serialNumber).not.toBe(x509.serialNumber);
    expect(again.keyPem).not.toBe(made.keyPem);
  });

  it('uses GeneralizedTime for dates from 2050 on (RFC 5280 §4.1.2.5)', () => {
    const late = new X509Certificate(generateSelfSigned({ commonName: 'ims.test', dnsNames: ['ims.test'], notBefore: new Date('2049-12-31T00:00:00Z'), validDays: 2 }).certPem);
    expect(new Date(late.validFrom).toISOString()).toBe('2049-12-31T00:00:00.000Z');
    expect(new Date(late.validTo).toISOString()).toBe('2050-01-02T00:00:00.000Z');
  });

  it('has the fingerprints browsers show: SHA-256 of the certificate, base64 SHA-256 of the SPKI', () => {
    const fp = certificateFingerprints(made.certPem);
    expect(fp.sha256).toBe(x509.fingerprint256);
    const der = Buffer.from(made.certPem.replace(/-----[^-]+-----|\s/g, ''), 'base64');
    expect(fp.sha256.replace(/:/g, '').toLowerCase()).toBe(createHash('sha256').update(der).digest('hex'));
    const spki = x509.publicKey.export({ type: 'spki', format: 'der' });
    expect(Buffer.from(fp.spkiSha256, 'base64')).toEqual(createHash('sha256').update(spki).digest());
  });

  it('serves TLS that a client trusting only this certificate verifies, by name and by 127.0.0.1', async () => {
    const current = generateSelfSigned({ commonName: 'ims.test', dnsNames: ['ims.test', 'localhost'], ipAddresses: ['127.0.0.1'] });
    const server = tls.createServer({ cert: current.certPem, key: current.keyPem }, (socket) => socket.end('ok'));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as AddressInfo;
    try {
      for (const servername of ['ims.test', 'localhost', undefined]) {
        const socket = tls.connect({ host: '127.0.0.1', port, ca: current.certPem, ...(servername ? { servername } : {}) });
        await once(socket, 'secureConnect');
        expect(socket.authorized).toBe(true);
        socket.destroy();
      }
      const wrong = tls.connect({ host: '127.0.0.1', port, ca: current.certPem, servername: 'example.org' });
      const [error] = (await once(wrong, 'error')) as [NodeJS.ErrnoException];
      expect(error.code).toBe('ERR_TLS_CERT_ALTNAME_INVALID');
    } finally {
      server.close();
    }
  });
});
