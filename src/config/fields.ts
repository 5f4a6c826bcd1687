/**
 * Every setting of the all-in-one, one entry per leaf key: its value schema, default,
 * description, and the names it has on the command line (`--sip-port`), in the environment
 * (`TIDEWATER_SIP_PORT`) and in the YAML file (`sipPort`). The schema (schema.ts), the loader,
 * the CLI flags and docs/configuration.md are all derived from these entries.
 */
import { isIP } from 'node:net';
import { z } from 'zod';

/** Headings of docs/configuration.md, in order. */
export const CONFIG_SECTIONS = ['General', 'Storage', 'Ports', 'TLS', 'Registration', 'Authentication', 'Portal', 'Service hosts', 'Application servers', 'Cluster', 'Overload', 'Logging'] as const;
export type ConfigSection = (typeof CONFIG_SECTIONS)[number];

/** Digest algorithms the registrar can challenge with (RFC 7616 §3.3, RFC 8760 §2). */
export const DIGEST_ALGORITHMS = ['MD5', 'SHA-256'] as const;
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** Prefix of every environment variable the loader reads. */
export const ENV_PREFIX = 'TIDEWATER_';

/** One leaf setting. */
export interface ConfigField<S extends z.ZodType = z.ZodType> {
  /** Key path, e.g. `registration.minExpires`; also the YAML key path. */
  readonly path: string;
  readonly section: ConfigSection;
  readonly description: string;
  /** Validates a value once read; a value from a flag or variable goes through {@link fromText} first. */
  readonly schema: S;
  /** Absent for a setting derived from others (see {@link defaultText}). */
  readonly default?: z.output<S>;
  /** The default as the docs and `--help` show it. */
  readonly defaultText: string;
  /** What is allowed, completing "must be ...". */
  readonly allowed: string;
  /** Placeholder of the flag's value in `--help`. */
  readonly valueName: string;
  /** Turns the text of a flag or environment variable into the value the schema checks. */
  readonly fromText: (text: string) => unknown;
  /** `--sip-port` */
  readonly flag: string;
  /** `TIDEWATER_SIP_PORT` */
  readonly env: string;
}

type FieldSpec<S extends z.ZodType> = Omit<ConfigField<S>, 'flag' | 'env' | 'defaultText' | 'fromText'> & {
  readonly defaultText?: string;
  readonly fromText?: (text: string) => unknown;
};

/** `registration.minExpires` -> `registration-min-expires`. */
export function kebabOf(path: string): string {
  return path.replace(/\./g, '-').replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

/** `registration.minExpires` -> `TIDEWATER_REGISTRATION_MIN_EXPIRES`. */
export function envOf(path: string): string {
  return ENV_PREFIX + kebabOf(path).replace(/-/g, '_').toUpperCase();
}

function field<S extends z.ZodType>(spec: FieldSpec<S>): ConfigField<S> {
  return {
    ...spec,
    defaultText: spec.defaultText ?? showDefault(spec.default),
    fromText: spec.fromText ?? ((text) => text),
    flag: `--${kebabOf(spec.path)}`,
    env: envOf(spec.path),
  };
}

function showDefault(value: unknown): string {
  return Array.isArray(value) ? value.join(',') : String(value);
}

const INTEGER_TEXT = /^[+-]?\d+$/;
const API_KEY_CHARS = /^[\x21-\x7e]+$/;
const NUMBER_RANGE = /^[0-9]{1,15}-[0-9]{1,15}$/;
/** `first-last`: two numbers of the same length, first <= last. */
const numberRange = () =>
  z
    .string()
    .regex(NUMBER_RANGE)
    .refine((r) => {
      const [a, b] = r.split('-');
      return a!.length === b!.length && a! <= b!;
    });
/** A decimal integer; anything else is left as text for the schema to refuse. */
function integerText(text: string): unknown {
  const trimmed = text.trim();
  return INTEGER_TEXT.test(trimmed) ? Number(trimmed) : text;
}

/** `00, 011` -> `['00', '011']`; an empty item stays, for the schema to refuse. */
function listText(text: string): unknown {
  return text.split(',').map((item) => item.trim());
}

/** `MD5, sha-256` -> `['MD5', 'SHA-256']`; an empty item stays, for the schema to refuse. */
function algorithmsText(text: string): unknown {
  return text.split(',').map((item) => {
    const known = DIGEST_ALGORITHMS.find((a) => a.toLowerCase() === item.trim().toLowerCase());
    return known ?? item.trim();
  });
}

/** A DNS name: letters, digits and hyphens in dot-separated labels of 1 to 63 (RFC 1123 §2.1). */
const HOST_NAME = /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/i;
const hostName = () => z.string().regex(HOST_NAME).transform((s) => s.toLowerCase());
const HOST_ALLOWED = 'a DNS name (letters, digits, hyphens and dots)';

/** An http:// or https:// URL (the address of a service in another process). */
const httpUrl = () =>
  z
    .string()
    .url()
    .refine((u) => /^https?:\/\//i.test(u));
const URL_ALLOWED = 'an http or https URL';

/** A sip: URI naming a host, without user part (a node of the cluster, or a DNS name of several). */
const SIP_NODE_URI = /^sip:(?:\[[0-9a-f:.]+\]|[a-z0-9.-]+)(?::\d{1,5})?(?:;[a-z0-9-]+(?:=[a-z0-9.-]+)?)*$/i;
const sipUri = () => z.string().regex(SIP_NODE_URI);
const SIP_URI_ALLOWED = 'a list of sip: URIs naming a host (sip:host[:port][;transport=udp|tcp])';

/** `10.0.0.7`, `10.0.0.0/24`, `fd00::/64`: an IP address, or a block with a prefix length that fits it. */
function isAddressOrBlock(text: string): boolean {
  const [address, bits, extra] = text.split('/');
  const family = isIP(address ?? '');
  if (family === 0 || extra !== undefined) return false;
  if (bits === undefined) return true;
  const n = Number(bits);
  return /^\d{1,3}$/.test(bits) && n <= (family === 4 ? 32 : 128);
}

/** A postgres:// or postgresql:// URL naming a host (or a socket folder in `?host=`). */
const postgresUrl = () =>
  z.string().refine((text) => {
    const url = parsedUrl(text);
    return url !== undefined && (url.protocol === 'postgres:' || url.protocol === 'postgresql:') && (url.hostname !== '' || url.searchParams.has('host'));
  });

/** A redis:// or rediss:// URL with a host and, at most, a database number as its path. */
const redisUrl = () =>
  z.string().refine((text) => {
    const url = parsedUrl(text);
    return url !== undefined && (url.protocol === 'redis:' || url.protocol === 'rediss:') && url.hostname !== '' && /^(\/\d{0,5})?$/.test(url.pathname);
  });

function parsedUrl(text: string): URL | undefined {
  try {
    return new URL(text);
  } catch {
    return undefined;
  }
}

/** `true`, `yes`, `1` or `false`, `no`, `0` (any case); anything else is left for the schema to refuse. */
function booleanText(text: string): unknown {
  const word = text.trim().toLowerCase();
  if (['true', 'yes', '1'].includes(word)) return true;
  if (['false', 'no', '0'].includes(word)) return false;
  return text;
}

/** A Redis key prefix as the Redis stores accept it (src/storage/redis/keys.ts). */
const REDIS_PREFIX = /^[\x21-\x7a\x7c\x7e]{0,64}$/;

const port = () => z.number().int().min(0).max(65535);
const PORT_ALLOWED = 'a port number from 0 to 65535 (0: any free port)';
const MAX_EXPIRES = 2 ** 31 - 1;
const seconds = () => z.number().int().min(1).max(MAX_EXPIRES);
const SECONDS_ALLOWED = `an integer from 1 to ${MAX_EXPIRES}`;

function portField(path: string, what: string, defaultPort: number) {
  return field({
    path,
    section: 'Ports',
    description: what,
    schema: port(),
    default: defaultPort,
    allowed: PORT_ALLOWED,
    valueName: 'port',
    fromText: integerText,
  });
}

/** A path setting (no NUL); the file itself is read and checked at start-up. */
function pemFileField(path: string, description: string, defaultText: string) {
  return field({
    path,
    section: 'TLS',
    description,
    schema: z.string().min(1).refine((s) => !s.includes('\0')).optional(),
    defaultText,
    allowed: 'a non-empty path to a PEM file',
    valueName: 'file',
  });
}

function expiresField(path: string, description: string, defaultSeconds: number) {
  return field({
    path,
    section: 'Registration',
    description,
    schema: seconds(),
    default: defaultSeconds,
    allowed: SECONDS_ALLOWED,
    valueName: 'seconds',
    fromText: integerText,
  });
}

function serviceHostField(key: 'edge' | 'icscf' | 'scscf' | 'mmtel', role: string, prefix: string, more = '') {
  return field({
    path: `serviceHosts.${key}`,
    section: 'Service hosts',
    description: `Host name that addresses the ${role} in Route headers and Request-URIs.${more}`,
    schema: hostName().optional(),
    defaultText: `${prefix}.<domain>`,
    allowed: HOST_ALLOWED,
    valueName: 'host',
  });
}

/** The settings, by key path. */
export const F = {
  domain: field({
    path: 'domain',
    section: 'General',
    description: 'Home domain: the realm of Digest challenges and the host part of subscribers\u2019 identities.',
    schema: hostName(),
    default: 'example.com',
    allowed: HOST_ALLOWED,
    valueName: 'domain',
  }),
  dataDir: field({
    path: 'dataDir',
    section: 'General',
    description: 'Folder of the SQLite database (tidewater.sqlite) and the nonce key (nonce.key); created if missing. A relative path is taken from the working directory.',
    schema: z.string().min(1).refine((s) => !s.includes('\0')),
    default: './data',
    allowed: 'a non-empty path',
    valueName: 'dir',
  }),
  bind: field({
    path: 'bind',
    section: 'General',
    description: 'Local address every listener binds to: 0.0.0.0 for all IPv4 interfaces, :: for all interfaces.',
    schema: z.string().refine((s) => isIP(s) !== 0),
    default: '0.0.0.0',
    allowed: 'an IPv4 or IPv6 address',
    valueName: 'address',
  }),
  apiKey: field({
    path: 'apiKey',
    section: 'General',
    description:
      'Key the HTTP APIs (HSS, XDMS) require in the NGV-API-Key header. Unless bound to a loopback address, a key is needed: when none is given one is generated at first start, printed once and kept in <dataDir>/api.key.',
    schema: z.string().min(16).max(256).regex(API_KEY_CHARS).optional(),
    defaultText: 'none on loopback, else generated',
    allowed: '16 to 256 printable ASCII characters without spaces',
    valueName: 'key',
  }),
  postgresUrl: field({
    path: 'postgresUrl',
    section: 'Storage',
    description:
      'PostgreSQL database of the subscribers (HSS), the simservs documents (XDMS) and the portal\u2019s accounts, shared by every node: postgres://user:password@host:5432/database. Nodes refuse a database whose schema is not this release\u2019s: run `tidewater migrate` first (the all-in-one migrates it itself). Unset: they are kept in the data folder\u2019s SQLite file.',
    schema: postgresUrl().optional(),
    defaultText: 'none (the data folder)',
    allowed: 'a postgres:// or postgresql:// URL with a host',
    valueName: 'url',
  }),
  redisUrl: field({
    path: 'redisUrl',
    section: 'Storage',
    description:
      'Redis holding the registration bindings and the Digest nonce counts, shared by every node: redis://[user:password@]host:port[/db], rediss:// for TLS. With redisCluster, the seed nodes of a Redis Cluster, comma-separated (a list in YAML). Unset: the bindings are kept in the data folder\u2019s SQLite file (cached in memory); the all-in-one keeps the nonce counts in memory and calls nonces issued before its start stale, other commands keep them in the SQLite file.',
    schema: z.preprocess((v) => (typeof v === 'string' ? listText(v) : v), z.array(redisUrl()).min(1).max(64)).optional(),
    defaultText: 'none (the data folder)',
    allowed: 'a redis:// or rediss:// URL (with redisCluster: a comma-separated list of them)',
    valueName: 'url',
    fromText: listText,
  }),
  redisCluster: field({
    path: 'redisCluster',
    section: 'Storage',
    description: 'Whether redisUrl names the seed nodes of a Redis Cluster rather than one Redis server.',
    schema: z.boolean(),
    default: false,
    allowed: 'true or false',
    valueName: 'bool',
    fromText: booleanText,
  }),
  redisPrefix: field({
    path: 'redisPrefix',
    section: 'Storage',
    description: 'Prefix of every Redis key Tidewater writes, so that several deployments (or tests) can share one Redis. Every node of a deployment must use the same.',
    schema: z.string().regex(REDIS_PREFIX),
    default: 'tw:',
    allowed: 'up to 64 printable ASCII characters without braces or spaces',
    valueName: 'prefix',
  }),
  sipPort: portField('sipPort', 'SIP port of the edge (P-CSCF) for clients, UDP and TCP.', 5060),
  wsPort: portField('wsPort', 'SIP over WebSocket port of the edge (RFC 7118, `sip` subprotocol).', 5062),
  tlsPort: portField('tlsPort', 'SIP over TLS port of the edge for clients (RFC 3261 §26.2, RFC 5630), with the certificate of tlsCert.', 5061),
  wssPort: portField('wssPort', 'SIP over secure WebSocket port of the edge, for browsers (RFC 7118 over TLS, `sip` subprotocol), with the certificate of tlsCert.', 5063),
  tlsCert: pemFileField(
    'tlsCert',
    'PEM file of the certificate (chain) the TLS and WSS listeners present; give tlsKey with it. Without both, a self-signed certificate for the domain (and localhost, 127.0.0.1) is generated at first start and kept in <dataDir>/tls/.',
    'none (self-signed, <dataDir>/tls/cert.pem)',
  ),
  tlsKey: pemFileField('tlsKey', 'PEM file of the unencrypted private key of tlsCert; give tlsCert with it.', 'none (self-signed, <dataDir>/tls/key.pem)'),
  hssPort: portField('hssPort', 'HTTP port of the HSS signalling API (Clearwater Homestead paths).', 8888),
  hssProvisioningPort: portField('hssProvisioningPort', 'HTTP port of the HSS provisioning API (Clearwater Homestead-prov paths).', 8889),
  xdmsPort: portField('xdmsPort', 'HTTP port of the XDMS (XCAP, Ut interface).', 7888),
  portalPort: portField('portalPort', 'HTTP port of the provisioning portal.', 8080),
  metricsPort: portField('metricsPort', 'HTTP port of the Prometheus metrics and health endpoints.', 9090),
  shutdownGraceMs: field({
    path: 'shutdownGraceMs',
    section: 'General',
    description:
      'How long a server stopping on SIGTERM or SIGINT waits, in ms, for the work in flight (requests not yet answered, calls routed through it) before it closes anyway. Meanwhile /health/ready answers 503 and new SIP requests get 503 with Retry-After, so clients and peers go elsewhere; a second signal stops at once. Keep it below the orchestrator\u2019s own limit (Kubernetes: terminationGracePeriodSeconds, 30 s by default).',
    schema: z.number().int().min(0).max(3_600_000),
    default: 10_000,
    allowed: 'an integer from 0 to 3600000',
    valueName: 'ms',
    fromText: integerText,
  }),
  minExpires: expiresField(
    'registration.minExpires',
    'Shortest registration interval accepted, in seconds; a shorter Expires gets 423 Interval Too Brief (RFC 3261 §10.3).',
    60,
  ),
  maxExpires: expiresField(
    'registration.maxExpires',
    'Longest registration interval granted, in seconds; a longer one is shortened to this.',
    3600,
  ),
  defaultExpires: expiresField(
    'registration.defaultExpires',
    'Interval granted to a REGISTER that asks for none, in seconds; from minExpires to maxExpires.',
    600,
  ),
  algorithms: field({
    path: 'auth.algorithms',
    section: 'Authentication',
    description:
      'Digest algorithms offered in a 401 challenge, one challenge each, in this order (many clients take the first); comma-separated on the command line and in the environment.',
    schema: z.array(z.enum(DIGEST_ALGORITHMS)).min(1).refine((list) => new Set(list).size === list.length),
    default: [...DIGEST_ALGORITHMS],
    allowed: `a non-empty list of ${DIGEST_ALGORITHMS.join(', ')} without repeats`,
    valueName: 'list',
    fromText: algorithmsText,
  }),
  nonceLifetime: field({
    path: 'auth.nonceLifetime',
    section: 'Authentication',
    description: 'How long a Digest nonce stays valid, in seconds; an older one gets a new challenge with stale=true (RFC 7616 §3.3).',
    schema: z.number().int().min(1).max(86_400),
    default: 300,
    allowed: 'an integer from 1 to 86400',
    valueName: 'seconds',
    fromText: integerText,
  }),
  hssUrl: field({
    path: 'hssUrl',
    section: 'General',
    description:
      'Signalling API of an HSS in another process (`tidewater hss`), e.g. http://hss.example.net:8888: the core then asks it instead of the subscriber data in the data folder, with apiKey as its NGV-API-Key.',
    schema: httpUrl().optional(),
    defaultText: 'none (the HSS in this process)',
    allowed: URL_ALLOWED,
    valueName: 'url',
  }),
  signupCode: field({
    path: 'signupCode',
    section: 'Portal',
    description: 'Code people must give to sign up on the portal (as Clearwater\u2019s all-in-one, `secret` by default: change it).',
    schema: z.string().min(1).max(256),
    default: 'secret',
    allowed: '1 to 256 characters',
    valueName: 'code',
  }),
  numberPool: field({
    path: 'numberPool',
    section: 'Portal',
    description: 'Numbers the portal gives out, as `first-last` (same number of digits); each becomes sip:<number>@<domain>.',
    schema: numberRange(),
    default: '6505550000-6505559999',
    allowed: 'two numbers of the same length, first <= last, joined by `-`',
    valueName: 'range',
  }),
  pstnPool: field({
    path: 'pstnPool',
    section: 'Portal',
    description: 'Numbers the portal gives out when asked for a PSTN number (`pstn: true`), as `first-last`; without it such requests get 400.',
    schema: numberRange().optional(),
    defaultText: 'none',
    allowed: 'two numbers of the same length, first <= last, joined by `-`',
    valueName: 'range',
  }),
  hssProvisioningUrl: field({
    path: 'hssProvisioningUrl',
    section: 'Portal',
    description:
      'Provisioning API of an HSS in another process (`tidewater hss`), e.g. http://hss.example.net:8889: `tidewater portal` then creates, changes and deletes the subscriber data of its numbers there, with apiKey as its NGV-API-Key, instead of in the data folder. Give xdmsUrl with it.',
    schema: httpUrl().optional(),
    defaultText: 'none (the data folder\u2019s subscriber data)',
    allowed: URL_ALLOWED,
    valueName: 'url',
  }),
  xdmsUrl: field({
    path: 'xdmsUrl',
    section: 'Portal',
    description:
      'XCAP root of an XDMS in another process (`tidewater xdms`), e.g. http://xdms.example.net:7888: `tidewater portal` then reads and writes the simservs documents of its numbers there, with apiKey as its NGV-API-Key, instead of in the data folder (give hssProvisioningUrl with it), and `tidewater mmtel` reads them there.',
    schema: httpUrl().optional(),
    defaultText: 'none (the data folder\u2019s documents)',
    allowed: URL_ALLOWED,
    valueName: 'url',
  }),
  edgeHost: serviceHostField('edge', 'edge (P-CSCF)', 'pcscf'),
  icscfHost: serviceHostField('icscf', 'I-CSCF', 'icscf'),
  scscfHost: serviceHostField('scscf', 'S-CSCF', 'scscf'),
  mmtelHost: serviceHostField(
    'mmtel',
    'MMTel application server',
    'mmtel',
    ' The default iFC of a number added from then on (portal or `tidewater subscriber add`) sends its INVITEs to sip:<this host>.',
  ),
  asTimeoutMs: field({
    path: 'ifc.asTimeoutMs',
    section: 'Application servers',
    description:
      'How long an application server reached over ISC (an iFC of the served user matched) may take, in ms, to answer an INVITE with anything but 100 or to send it back, and to answer a third-party REGISTER; then the iFC\u2019s DefaultHandling applies (continue without it, or fail the request).',
    schema: z.number().int().min(100).max(60_000),
    default: 2000,
    allowed: 'an integer from 100 to 60000',
    valueName: 'ms',
    fromText: integerText,
  }),
  internationalPrefixes: field({
    path: 'mmtel.internationalPrefixes',
    section: 'Application servers',
    description:
      'Prefixes dialled before a country code: the MMTel AS\u2019s outgoing barring of international calls (TS 24.611) counts a number starting with one as international, as it does a `+` number of another country code than mmtel.homeCountryCode; comma-separated on the command line and in the environment (quote them in YAML: [\'00\', \'011\']).',
    schema: z.array(z.string().regex(/^[0-9]{1,8}$/)).max(16).refine((list) => new Set(list).size === list.length),
    default: ['00', '011'],
    allowed: 'a list of up to 16 different prefixes of 1 to 8 digits',
    valueName: 'list',
    fromText: listText,
  }),
  homeCountryCode: field({
    path: 'mmtel.homeCountryCode',
    section: 'Application servers',
    description: 'The home country code, without `+`: a `+` number with another one is international for the MMTel AS\u2019s outgoing barring.',
    schema: z.preprocess((v) => (typeof v === 'number' ? String(v) : v), z.string().regex(/^[1-9][0-9]{0,2}$/)),
    default: '1',
    allowed: '1 to 3 digits, not starting with 0',
    valueName: 'code',
    fromText: (text) => text.trim(),
  }),
  maxDiversions: field({
    path: 'mmtel.maxDiversions',
    section: 'Application servers',
    description:
      'Diversions a call may have gone through (History-Info entries with a `cause`, RFC 7044) before the MMTel AS refuses to divert it again with 480 (TS 24.604 §4.5.2.6.1).',
    schema: z.number().int().min(0).max(20),
    default: 5,
    allowed: 'an integer from 0 to 20',
    valueName: 'count',
    fromText: integerText,
  }),
  coreUris: field({
    path: 'coreUris',
    section: 'Cluster',
    description:
      'Where `tidewater edge` finds the core nodes (I-CSCF and S-CSCF): SIP URIs, comma-separated (a list in YAML), e.g. sip:10.0.0.3:5060;transport=tcp, or a name the RFC 3263 resolver looks up in DNS (NAPTR, SRV, A), e.g. sip:core.example.net. The edge spreads new requests over them and fails over to the next on a transport error, a 503 or silence (docs/cluster.md). Requests naming serviceHosts.icscf or serviceHosts.scscf (REGISTER, the Service-Route) go there.',
    schema: z.preprocess((v) => (typeof v === 'string' ? listText(v) : v), z.array(sipUri()).min(1).max(64)).optional(),
    defaultText: 'none (serviceHosts.icscf and serviceHosts.scscf looked up in DNS)',
    allowed: SIP_URI_ALLOWED,
    valueName: 'uris',
    fromText: listText,
  }),
  mmtelUris: field({
    path: 'mmtelUris',
    section: 'Cluster',
    description:
      'Where `tidewater core` finds the MMTel application servers named serviceHosts.mmtel in the iFCs: SIP URIs or DNS names as for coreUris, comma-separated.',
    schema: z.preprocess((v) => (typeof v === 'string' ? listText(v) : v), z.array(sipUri()).min(1).max(64)).optional(),
    defaultText: 'none (serviceHosts.mmtel looked up in DNS)',
    allowed: SIP_URI_ALLOWED,
    valueName: 'uris',
    fromText: listText,
  }),
  failoverTimeoutMs: field({
    path: 'failoverTimeoutMs',
    section: 'Cluster',
    description:
      'How long an edge or a core waits for any answer (a 100 is enough) from a node it sent a request to before trying the next node of the same name (coreUris, mmtelUris). A node that failed this way, by a transport error or by a 503, is tried last for 30 s. Also the keepalive of the connections a node opens: quiet this long, they are pinged (CRLF, RFC 5626); silent twice this long, they are closed and what waited on them fails over, so a node cut off the network is left as fast as a killed one. Longer than the slowest pause of a loaded node, or a slow request gets processed twice; shorter than clients give up.',
    schema: z.number().int().min(200).max(30_000),
    default: 2000,
    allowed: 'an integer from 200 to 30000',
    valueName: 'ms',
    fromText: integerText,
  }),
  trustedPeers: field({
    path: 'trustedPeers',
    section: 'Cluster',
    description:
      'Addresses (or CIDR blocks, e.g. 10.0.0.0/24) of the nodes `tidewater core` takes initial requests from: the edges and the MMTel application servers of the deployment. Anything else sending the core a request straight (not through an edge) gets 403, since it would skip the edge’s identity checks. Comma-separated.',
    schema: z.preprocess((v) => (typeof v === 'string' ? listText(v) : v), z.array(z.string().refine(isAddressOrBlock)).max(256)),
    default: [],
    defaultText: 'none',
    allowed: 'a list of IPv4 or IPv6 addresses or CIDR blocks',
    valueName: 'list',
    fromText: listText,
  }),
  dnsServers: field({
    path: 'dnsServers',
    section: 'Cluster',
    description:
      'DNS servers the RFC 3263 resolver asks for node names (coreUris, mmtelUris, or the service hosts when those are unset), as address or address:port, comma-separated. Unset: the system’s.',
    schema: z.preprocess((v) => (typeof v === 'string' ? listText(v) : v), z.array(z.string().min(1)).min(1).max(8)).optional(),
    defaultText: 'the system’s',
    allowed: 'a list of addresses, each with an optional :port',
    valueName: 'list',
    fromText: listText,
  }),
  overloadEnabled: field({
    path: 'overload.enabled',
    section: 'Overload',
    description:
      'Whether a SIP process refuses new requests (503 with Retry-After, statelessly) while requests wait longer than overload.targetLatencyMs before it starts on them, so that under more load than it can serve it keeps serving what it can within that time instead of queueing until clients retransmit and everything fails. Requests inside a dialog, ACKs and CANCELs always pass.',
    schema: z.boolean(),
    default: true,
    allowed: 'true or false',
    valueName: 'bool',
    fromText: booleanText,
  }),
  targetLatencyMs: field({
    path: 'overload.targetLatencyMs',
    section: 'Overload',
    description:
      'Longest a new request may wait, in ms, in the receive queue of a SIP process (measured through its UDP listener, event loop included) before the process refuses new ones, once the wait has stayed over it for twice as long (so that a garbage-collection pause refuses nothing). Under overload, an admitted request waits one to three times this long at each pass through the process: a call set-up passes twice (the INVITE, then its answer). Well below T1 (500 ms), after which clients retransmit. The shorter it is, the shorter-lived the state of each admitted call, and the more of the CPU goes to calls rather than to the garbage collector; below about 50 ms, pauses of the garbage collector start to refuse requests under normal load.',
    schema: z.number().int().min(10).max(400),
    default: 50,
    allowed: 'an integer from 10 to 400',
    valueName: 'ms',
    fromText: integerText,
  }),
  logLevel: field({
    path: 'log.level',
    section: 'Logging',
    description: 'Least severe level of the log messages written; `silent` writes none. Passwords are never logged.',
    schema: z.enum(LOG_LEVELS),
    default: 'info',
    allowed: `one of ${LOG_LEVELS.join(', ')}`,
    valueName: 'level',
    fromText: (text) => text.trim().toLowerCase(),
  }),
} as const;

/** Every setting, in the order of the docs. */
export const CONFIG_FIELDS: readonly ConfigField[] = Object.values(F);

/** The setting at `path`, if any. */
export function fieldAt(path: string): ConfigField | undefined {
  return CONFIG_FIELDS.find((f) => f.path === path);
}
