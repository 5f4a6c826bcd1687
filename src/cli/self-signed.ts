/**
 * A self-signed X.509 v3 certificate (RFC 5280) made with node:crypto alone: an EC P-256 key,
 * a TBSCertificate written by the small DER encoder below (X.690), signed with ECDSA-SHA256
 * (RFC 5758 §3.2). What the all-in-one's TLS and WSS listeners use until an operator configures
 * a real certificate.
 */
import { X509Certificate, createHash, generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import { isIP } from 'node:net';

/** What to certify. */
export interface SelfSignedOptions {
  /** Subject and issuer common name (the home domain). */
  readonly commonName: string;
  /** subjectAltName dNSName entries (RFC 5280 §4.2.1.6); RFC 5922 §7.1 checks the domain here. */
  readonly dnsNames: readonly string[];
  /** subjectAltName iPAddress entries (IPv4 or IPv6 literals). */
  readonly ipAddresses?: readonly string[];
  /** subjectAltName uniformResourceIdentifier entries, e.g. `sip:example.com` (RFC 5922 §7.1). */
  readonly uris?: readonly string[];
  /** Start of validity; default an hour ago, so clocks a little behind accept it. */
  readonly notBefore?: Date;
  /** Days of validity from notBefore; default 825 (the longest some platforms accept for TLS servers). */
  readonly validDays?: number;
}

/** A certificate and its private key, both PEM. */
export interface SelfSigned {
  readonly certPem: string;
  readonly keyPem: string;
}

/** How a certificate is recognised: what browsers and `openssl x509 -fingerprint` show. */
export interface CertificateFingerprints {
  /** SHA-256 of the certificate, colon-separated hex (as `X509Certificate.fingerprint256`). */
  readonly sha256: string;
  /** Base64 SHA-256 of the SubjectPublicKeyInfo: Chromium's `--ignore-certificate-errors-spki-list`, HPKP pins. */
  readonly spkiSha256: string;
}

const DAY_MS = 86_400_000;
export const DEFAULT_VALID_DAYS = 825;

/** Makes a new key pair and a certificate for it, signed by itself. */
export function generateSelfSigned(opts: SelfSignedOptions): SelfSigned {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  const notBefore = opts.notBefore ?? new Date(Date.now() - 3_600_000);
  const notAfter = new Date(notBefore.getTime() + (opts.validDays ?? DEFAULT_VALID_DAYS) * DAY_MS);
  const name = distinguishedName(opts.commonName);
  const tbs = seq(
    explicit(0, integer(Buffer.from([2]))), // v3
    integer(serialNumber()),
    ECDSA_WITH_SHA256,
    name,
    seq(time(notBefore), time(notAfter)),
    name,
    spki,
    explicit(3, seq(...extensions(opts, spki))),
  );
  const signature = sign('sha256', tbs, privateKey);
  const cert = seq(tbs, ECDSA_WITH_SHA256, bitString(signature));
  return { certPem: pem('CERTIFICATE', cert), keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() };
}

/** The fingerprints of a PEM certificate (the first one of a chain). */
export function certificateFingerprints(certPem: string | Buffer): CertificateFingerprints {
  const x509 = new X509Certificate(certPem);
  const spki = x509.publicKey.export({ type: 'spki', format: 'der' });
  return { sha256: x509.fingerprint256, spkiSha256: createHash('sha256').update(spki).digest('base64') };
}

// ---- the extensions (RFC 5280 §4.2) -----------------------------------------------------------

const OID = {
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
  commonName: '2.5.4.3',
  subjectKeyIdentifier: '2.5.29.14',
  keyUsage: '2.5.29.15',
  subjectAltName: '2.5.29.17',
  basicConstraints: '2.5.29.19',
  extKeyUsage: '2.5.29.37',
  serverAuth: '1.3.6.1.5.5.7.3.1',
  clientAuth: '1.3.6.1.5.5.7.3.2',
} as const;

/** AlgorithmIdentifier of ECDSA with SHA-256: no parameters (RFC 5758 §3.2). */
const ECDSA_WITH_SHA256 = seq(oid(OID.ecdsaWithSha256));

function extensions(opts: SelfSignedOptions, spki: Buffer): Buffer[] {
  const names = [
    ...opts.dnsNames.map((d) => tlv(0x82, Buffer.from(d, 'ascii'))),
    ...(opts.ipAddresses ?? []).map((ip) => tlv(0x87, ipBytes(ip))),
    ...(opts.uris ?? []).map((u) => tlv(0x86, Buffer.from(u, 'ascii'))),
  ];
  // A self-signed end-entity certificate: not a CA, signs key exchanges (ECDHE_ECDSA).
  const digitalSignature = Buffer.from([0x07, 0x80]);
  return [
    extension(OID.basicConstraints, true, seq()),
    extension(OID.keyUsage, true, tlv(0x03, digitalSignature)),
    extension(OID.extKeyUsage, false, seq(oid(OID.serverAuth), oid(OID.clientAuth))),
    extension(OID.subjectKeyIdentifier, false, octetString(keyIdentifier(spki))),
    extension(OID.subjectAltName, false, seq(...names)),
  ];
}

function extension(id: string, critical: boolean, value: Buffer): Buffer {
  return seq(oid(id), ...(critical ? [tlv(0x01, Buffer.from([0xff]))] : []), octetString(value));
}

/** RFC 5280 §4.2.1.2 method 1: SHA-1 of the subjectPublicKey BIT STRING's bits. */
function keyIdentifier(spki: Buffer): Buffer {
  const bits = spki.subarray(spki.length - 65); // an uncompressed P-256 point is the SPKI's last 65 bytes
  return createHash('sha1').update(bits).digest();
}

function distinguishedName(commonName: string): Buffer {
  return seq(set(seq(oid(OID.commonName), tlv(0x0c, Buffer.from(commonName, 'utf8')))));
}

/** A positive 16-byte serial (RFC 5280 §4.1.2.2: at most 20 octets). */
function serialNumber(): Buffer {
  const serial = randomBytes(16);
  serial[0] = (serial[0]! & 0x7f) | 0x01;
  return serial;
}

/** UTCTime through 2049, GeneralizedTime after (RFC 5280 §4.1.2.5). */
function time(date: Date): Buffer {
  const iso = date.toISOString().replace(/[-:T]/g, '').slice(0, 14);
  const year = date.getUTCFullYear();
  return year < 2050 ? tlv(0x17, Buffer.from(`${iso.slice(2)}Z`, 'ascii')) : tlv(0x18, Buffer.from(`${iso}Z`, 'ascii'));
}

function ipBytes(ip: string): Buffer {
  const family = isIP(ip);
  if (family === 4) return Buffer.from(ip.split('.').map(Number));
  if (family !== 6) throw new Error(`not an IP address: ${ip}`);
  const v4 = /^(.*:)(\d+\.\d+\.\d+\.\d+)$/.exec(ip);
  const text = v4 ? `${v4[1]}${ipBytes(v4[2]!).readUInt16BE(0).toString(16)}:${ipBytes(v4[2]!).readUInt16BE(2).toString(16)}` : ip;
  const [head = '', tail] = text.split('::');
  const groups = (part: string): string[] => (part === '' ? [] : part.split(':'));
  const left = groups(head);
  const right = tail === undefined ? [] : groups(tail);
  const words = [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right];
  const out = Buffer.alloc(16);
  words.forEach((w, i) => out.writeUInt16BE(parseInt(w, 16), i * 2));
  return out;
}

// ---- DER (X.690 §8, §10) ------------------------------------------------------------------------

function tlv(tag: number, content: Buffer): Buffer {
  const n = content.length;
  let length: Buffer;
  if (n < 0x80) length = Buffer.from([n]);
  else {
    const bytes: number[] = [];
    for (let v = n; v > 0; v >>= 8) bytes.unshift(v & 0xff);
    length = Buffer.from([0x80 | bytes.length, ...bytes]);
  }
  return Buffer.concat([Buffer.from([tag]), length, content]);
}

function seq(...items: Buffer[]): Buffer {
  return tlv(0x30, Buffer.concat(items));
}

function set(...items: Buffer[]): Buffer {
  return tlv(0x31, Buffer.concat(items));
}

function explicit(n: number, content: Buffer): Buffer {
  return tlv(0xa0 | n, content);
}

/** A non-negative INTEGER from its big-endian magnitude. */
function integer(magnitude: Buffer): Buffer {
  return tlv(0x02, magnitude[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), magnitude]) : magnitude);
}

function bitString(bytes: Buffer): Buffer {
  return tlv(0x03, Buffer.concat([Buffer.from([0]), bytes]));
}

function octetString(bytes: Buffer): Buffer {
  return tlv(0x04, bytes);
}

function oid(dotted: string): Buffer {
  const arcs = dotted.split('.').map(Number);
  const out: number[] = [arcs[0]! * 40 + arcs[1]!];
  for (const arc of arcs.slice(2)) {
    const bytes = [arc & 0x7f];
    for (let v = Math.floor(arc / 128); v > 0; v = Math.floor(v / 128)) bytes.unshift((v & 0x7f) | 0x80);
    out.push(...bytes);
  }
  return tlv(0x06, Buffer.from(out));
}

function pem(label: string, der: Buffer): string {
  const lines = der.toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}
