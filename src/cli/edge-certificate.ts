/**
 * The certificate of the edge's TLS and WSS listeners (issue 5): the one configured with
 * tlsCert and tlsKey, or a self-signed one for the home domain generated at first start and kept
 * in `<dataDir>/tls/` (cert.pem, and key.pem with mode 0600), reused by later starts while it
 * still fits (same domain, not about to expire, key matching).
 */
import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ConfigError, type AllInOneConfig } from '../config/index.js';
import { certificateFingerprints, generateSelfSigned, type CertificateFingerprints } from './self-signed.js';

/** Folder of the generated certificate in the data folder, and its files. */
export const TLS_DIR = 'tls';
export const CERT_FILE = 'cert.pem';
export const KEY_FILE = 'key.pem';
/** A kept self-signed certificate this close to its end is replaced at start. */
const RENEW_BEFORE_MS = 30 * 86_400_000;

/** Where the certificate came from. */
export type CertificateOrigin = 'configured' | 'generated' | 'kept';

/** The edge's certificate chain and key (PEM), and how to recognise it. */
export interface EdgeCertificate extends CertificateFingerprints {
  readonly cert: string;
  readonly key: string;
  readonly origin: CertificateOrigin;
  /** The certificate file: tlsCert, or `<dataDir>/tls/cert.pem`. */
  readonly certFile: string;
  /** Why a new self-signed certificate was made (`none yet`, `expired`, ...); generated only. */
  readonly reason?: string;
  /** Subject alternative names, as Node prints them (`DNS:example.com, IP Address:127.0.0.1`). */
  readonly names: string;
  /** End of validity (ISO 8601). */
  readonly validTo: string;
}

/**
 * The configured certificate, checked (readable PEM, key matching); else the data folder's
 * self-signed one, made when missing or no longer fit. Throws {@link ConfigError} naming
 * tlsCert or tlsKey for a configured pair that cannot be used.
 */
export function edgeCertificate(config: AllInOneConfig, now: Date = new Date()): EdgeCertificate {
  if (config.tlsCert !== undefined && config.tlsKey !== undefined) return configured(config.tlsCert, config.tlsKey);
  return selfSigned(config.dataDir, config.domain, now);
}

/** The lines the ready output shows about the certificate: where it is, and its fingerprints. */
export function certificateLines(c: EdgeCertificate): string[] {
  const what =
    c.origin === 'configured'
      ? `configured: ${c.certFile}`
      : `self-signed, ${c.origin === 'generated' ? `generated now (${c.reason ?? 'none yet'})` : 'kept from an earlier start'}: ${c.certFile}`;
  return [
    `tls certificate ${what}, for ${c.names}, valid to ${c.validTo}`,
    `tls certificate sha256 ${c.sha256}`,
    `tls certificate spki sha256 ${c.spkiSha256} (chromium --ignore-certificate-errors-spki-list=${c.spkiSha256})`,
  ];
}

function configured(certFile: string, keyFile: string): EdgeCertificate {
  const cert = readPem('tlsCert', certFile);
  const key = readPem('tlsKey', keyFile);
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(cert);
  } catch (e) {
    throw new ConfigError([`config: tlsCert ${certFile} is not a PEM certificate: ${(e as Error).message}`]);
  }
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(key);
  } catch (e) {
    throw new ConfigError([`config: tlsKey ${keyFile} is not an unencrypted PEM private key: ${(e as Error).message}`]);
  }
  if (!x509.checkPrivateKey(privateKey)) {
    throw new ConfigError([`config: tlsKey ${keyFile} is not the key of the certificate in tlsCert ${certFile}`]);
  }
  return describe(cert, key, x509, 'configured', certFile);
}

function readPem(keyName: string, file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const why = err.code === 'ENOENT' ? 'no such file' : err.code === 'EACCES' ? 'permission denied' : err.message;
    throw new ConfigError([`config: ${keyName} ${file} cannot be read: ${why}`]);
  }
}

function selfSigned(dataDir: string, domain: string, now: Date): EdgeCertificate {
  const dir = path.join(dataDir, TLS_DIR);
  const certFile = path.join(dir, CERT_FILE);
  const keyFile = path.join(dir, KEY_FILE);
  const kept = keptCertificate(certFile, keyFile, domain, now);
  if (kept.ok) return describe(kept.cert, kept.key, kept.x509, 'kept', certFile);
  const made = generateSelfSigned({
    commonName: domain,
    dnsNames: [...new Set([domain, 'localhost'])],
    ipAddresses: ['127.0.0.1', '::1'],
    uris: [`sip:${domain}`],
    notBefore: new Date(now.getTime() - 3_600_000),
  });
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  writeAtomically(keyFile, made.keyPem, 0o600);
  writeAtomically(certFile, made.certPem, 0o644);
  return { ...describe(made.certPem, made.keyPem, new X509Certificate(made.certPem), 'generated', certFile), reason: kept.reason };
}

type Kept = { ok: true; cert: string; key: string; x509: X509Certificate } | { ok: false; reason: string };

/** The data folder's certificate if it is still fit for `domain`, else why not. */
function keptCertificate(certFile: string, keyFile: string, domain: string, now: Date): Kept {
  let cert: string;
  let key: string;
  try {
    cert = readFileSync(certFile, 'utf8');
    key = readFileSync(keyFile, 'utf8');
  } catch {
    return { ok: false, reason: 'none yet' };
  }
  try {
    const x509 = new X509Certificate(cert);
    if (!x509.checkPrivateKey(createPrivateKey(key))) return { ok: false, reason: 'the kept key did not match' };
    if (x509.checkHost(domain, { wildcards: false }) === undefined) return { ok: false, reason: 'the kept one was for another domain' };
    if (new Date(x509.validTo).getTime() - now.getTime() < RENEW_BEFORE_MS) return { ok: false, reason: 'the kept one expires soon' };
    return { ok: true, cert, key, x509 };
  } catch {
    return { ok: false, reason: 'the kept one was unreadable' };
  }
}

function describe(cert: string, key: string, x509: X509Certificate, origin: CertificateOrigin, certFile: string): EdgeCertificate {
  return {
    cert,
    key,
    origin,
    certFile,
    names: x509.subjectAltName ?? x509.subject.replace(/\n/g, ', '),
    validTo: new Date(x509.validTo).toISOString(),
    ...certificateFingerprints(cert),
  };
}

function writeAtomically(file: string, text: string, mode: number): void {
  const temp = `${file}.${process.pid}.tmp`;
  writeFileSync(temp, text, { mode });
  renameSync(temp, file);
}
