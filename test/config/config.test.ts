import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  CONFIG_FIELDS,
  ConfigError,
  allInOneConfigSchema,
  defaultConfig,
  loadConfig,
  renderConfigDoc,
  type LoadConfigOptions,
} from '../../src/config/index.js';

function yamlFile(text: string): string {
  const file = path.join(mkdtempSync(path.join(tmpdir(), 'tw-config-')), 'tidewater.yaml');
  writeFileSync(file, text);
  return file;
}

/** The problems loadConfig reports, or [] when it accepts the options. */
function problemsOf(options: LoadConfigOptions): readonly string[] {
  try {
    loadConfig(options);
    return [];
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
}

describe('configuration defaults', () => {
  it('are the documented all-in-one defaults, with service hosts derived from the domain', () => {
    expect(loadConfig({ env: {} })).toEqual({
      domain: 'example.com',
      dataDir: './data',
      bind: '0.0.0.0',
      redisCluster: false,
      redisPrefix: 'tw:',
      sipPort: 5060,
      wsPort: 5062,
      tlsPort: 5061,
      wssPort: 5063,
      hssPort: 8888,
      hssProvisioningPort: 8889,
      xdmsPort: 7888,
      portalPort: 8080,
      metricsPort: 9090,
      shutdownGraceMs: 10000,
      registration: { minExpires: 60, maxExpires: 3600, defaultExpires: 600 },
      auth: { algorithms: ['MD5', 'SHA-256'], nonceLifetime: 300 },
      signupCode: 'secret',
      numberPool: '6505550000-6505559999',
      serviceHosts: { edge: 'pcscf.example.com', icscf: 'icscf.example.com', scscf: 'scscf.example.com', mmtel: 'mmtel.example.com' },
      ifc: { asTimeoutMs: 2000 },
      mmtel: { internationalPrefixes: ['00', '011'], homeCountryCode: '1', maxDiversions: 5 },
      failoverTimeoutMs: 2000,
      trustedPeers: [],
      overload: { enabled: true, targetLatencyMs: 50 },
      log: { level: 'info' },
    });
  });

  it('derive the service hosts from a configured domain unless overridden', () => {
    const config = loadConfig({ env: { TIDEWATER_DOMAIN: 'ims.test', TIDEWATER_SERVICE_HOSTS_SCSCF: 'sprout.ims.test' } });
    expect(config.serviceHosts).toEqual({ edge: 'pcscf.ims.test', icscf: 'icscf.ims.test', scscf: 'sprout.ims.test', mmtel: 'mmtel.ims.test' });
  });

  it('every setting of the field table is a key of the parsed configuration, and the other way round', () => {
    const leaves = (o: object, prefix = ''): string[] =>
      Object.entries(o).flatMap(([k, v]) =>
        typeof v === 'object' && v !== null && !Array.isArray(v) ? leaves(v as object, `${prefix}${k}.`) : [`${prefix}${k}`],
      );
    // apiKey, pstnPool, hssUrl, hssProvisioningUrl and xdmsUrl have no default: no key on
    // loopback, else one generated at start (src/cli/api-key.ts); no PSTN numbers unless a range
    // is given; the HSS and the XDMS of this process (or of the data folder).
    // tlsCert and tlsKey neither: a self-signed certificate is made in the data folder.
    // postgresUrl and redisUrl neither: every store is in the data folder.
    // coreUris, mmtelUris and dnsServers neither: the service hosts are looked up in the system's DNS.
    const unsetByDefault = ['apiKey', 'pstnPool', 'hssUrl', 'hssProvisioningUrl', 'xdmsUrl', 'tlsCert', 'tlsKey', 'postgresUrl', 'redisUrl', 'coreUris', 'mmtelUris', 'dnsServers'];
    const withDefaults = CONFIG_FIELDS.filter((f) => !unsetByDefault.includes(f.path)).map((f) => f.path);
    expect(leaves(defaultConfig()).sort()).toEqual(withDefaults.sort());
    expect(loadConfig({ env: { TIDEWATER_API_KEY: 'k'.repeat(20) } }).apiKey).toBe('k'.repeat(20));
    expect(() => loadConfig({ env: { TIDEWATER_NUMBER_POOL: '6505559999-6505550000' } })).toThrow(/numberPool \(from TIDEWATER_NUMBER_POOL\)/);
  });
});

describe('configuration precedence', () => {
  const file = () => yamlFile('sipPort: 6000\nwsPort: 6002\nhssPort: 6888\nregistration:\n  maxExpires: 7200\n');

  it('a file overrides the defaults', () => {
    const config = loadConfig({ file: file(), env: {} });
    expect([config.sipPort, config.wsPort, config.hssPort, config.registration.maxExpires]).toEqual([6000, 6002, 6888, 7200]);
    expect(config.xdmsPort).toBe(7888);
  });

  it('the environment overrides the file, flags override both', () => {
    const config = loadConfig({
      file: file(),
      env: { TIDEWATER_WS_PORT: '7002', TIDEWATER_HSS_PORT: '7888', TIDEWATER_XDMS_PORT: '7999' },
      flags: { hssPort: '8000' },
    });
    expect([config.sipPort, config.wsPort, config.hssPort, config.xdmsPort]).toEqual([6000, 7002, 8000, 7999]);
  });

  it('reads the portal\u2019s HSS provisioning and XDMS URLs from the file, the environment and flags', () => {
    const file = yamlFile('hssProvisioningUrl: http://hss.example.net:8889\nxdmsUrl: http://xdms.example.net:7888\n');
    const fromFile = loadConfig({ file, env: {} });
    expect([fromFile.hssProvisioningUrl, fromFile.xdmsUrl]).toEqual(['http://hss.example.net:8889', 'http://xdms.example.net:7888']);
    const overridden = loadConfig({ file, env: { TIDEWATER_XDMS_URL: 'https://xdms.test/' }, flags: { hssProvisioningUrl: 'http://127.0.0.1:18889' } });
    expect([overridden.hssProvisioningUrl, overridden.xdmsUrl]).toEqual(['http://127.0.0.1:18889', 'https://xdms.test/']);
  });

  it('reads the MMTel AS\u2019s number plan and diversion limit from the file, the environment and flags', () => {
    const file = yamlFile("mmtel:\n  internationalPrefixes: ['00']\n  homeCountryCode: 44\n  maxDiversions: 3\n");
    expect(loadConfig({ file, env: {} }).mmtel).toEqual({ internationalPrefixes: ['00'], homeCountryCode: '44', maxDiversions: 3 });
    const overridden = loadConfig({ file, env: { TIDEWATER_MMTEL_INTERNATIONAL_PREFIXES: '00, 011, 010' }, flags: { 'mmtel.homeCountryCode': '33' } });
    expect(overridden.mmtel).toEqual({ internationalPrefixes: ['00', '011', '010'], homeCountryCode: '33', maxDiversions: 3 });
  });

  it('takes the file from TIDEWATER_CONFIG when none is given', () => {
    expect(loadConfig({ env: { TIDEWATER_CONFIG: file() } }).sipPort).toBe(6000);
  });

  it('treats an empty environment variable as unset', () => {
    expect(loadConfig({ env: { TIDEWATER_SIP_PORT: '' } }).sipPort).toBe(5060);
  });

  it('reads the algorithm list comma-separated and in any case, keeping its order', () => {
    expect(loadConfig({ env: { TIDEWATER_AUTH_ALGORITHMS: 'sha-256, md5' } }).auth.algorithms).toEqual(['SHA-256', 'MD5']);
    expect(loadConfig({ env: {}, flags: { 'auth.algorithms': 'SHA-256' } }).auth.algorithms).toEqual(['SHA-256']);
  });

  it('reads the grace period of a graceful stop in ms, 0 (stop at once) included, and refuses a negative one', () => {
    expect(loadConfig({ env: { TIDEWATER_SHUTDOWN_GRACE_MS: '0' } }).shutdownGraceMs).toBe(0);
    expect(loadConfig({ env: {}, flags: { shutdownGraceMs: '25000' } }).shutdownGraceMs).toBe(25_000);
    expect(problemsOf({ env: { TIDEWATER_SHUTDOWN_GRACE_MS: '-1' } })).toEqual([
      'config: shutdownGraceMs (from TIDEWATER_SHUTDOWN_GRACE_MS) must be an integer from 0 to 3600000, got "-1"',
    ]);
  });

  it('accepts port 0 (any free port) and an IPv6 bind address', () => {
    const config = loadConfig({ env: { TIDEWATER_BIND: '::1' }, flags: { sipPort: '0', wsPort: '0' } });
    expect([config.bind, config.sipPort, config.wsPort]).toEqual(['::1', 0, 0]);
  });
});

describe('the storage keys', () => {
  it('read the PostgreSQL and Redis URLs from the file, the environment and flags', () => {
    const file = yamlFile('postgresUrl: postgres://tw:secret@db.example.net:5432/tidewater\nredisUrl: redis://redis.example.net:6379/2\nredisPrefix: "ims1:"\n');
    const fromFile = loadConfig({ file, env: {} });
    expect([fromFile.postgresUrl, fromFile.redisUrl, fromFile.redisCluster, fromFile.redisPrefix]).toEqual([
      'postgres://tw:secret@db.example.net:5432/tidewater',
      ['redis://redis.example.net:6379/2'],
      false,
      'ims1:',
    ]);
    const overridden = loadConfig({ file, env: { TIDEWATER_REDIS_URL: 'redis://10.0.0.5:6379' }, flags: { postgresUrl: 'postgresql://10.0.0.7/tw' } });
    expect([overridden.postgresUrl, overridden.redisUrl]).toEqual(['postgresql://10.0.0.7/tw', ['redis://10.0.0.5:6379']]);
  });

  it('never repeat the password of a URL they refuse', () => {
    const problems = problemsOf({ env: { TIDEWATER_POSTGRES_URL: 'mysql://tw:s3cret-pw@db.example.net/tw' } });
    expect(problems).toEqual(['config: postgresUrl (from TIDEWATER_POSTGRES_URL) must be a postgres:// or postgresql:// URL with a host, got "mysql://***@db.example.net/tw"']);
    expect(problemsOf({ env: { TIDEWATER_REDIS_URL: 'http://:s3cret-pw@10.0.0.5:6379' } }).join('\n')).not.toContain('s3cret-pw');
  });

  it('take the seed nodes of a Redis Cluster as a comma-separated list or a YAML list', () => {
    const fromEnv = loadConfig({ env: { TIDEWATER_REDIS_URL: 'redis://10.0.0.5:7000, redis://10.0.0.6:7000', TIDEWATER_REDIS_CLUSTER: 'yes' } });
    expect([fromEnv.redisUrl, fromEnv.redisCluster]).toEqual([['redis://10.0.0.5:7000', 'redis://10.0.0.6:7000'], true]);
    const file = yamlFile('redisCluster: true\nredisUrl:\n  - redis://10.0.0.5:7000\n  - rediss://10.0.0.6:7000\n');
    expect(loadConfig({ file, env: {} }).redisUrl).toEqual(['redis://10.0.0.5:7000', 'rediss://10.0.0.6:7000']);
  });

  it.each([
    ['TIDEWATER_POSTGRES_URL', 'mysql://db/tw', 'postgresUrl', 'a postgres:// or postgresql:// URL with a host'],
    ['TIDEWATER_POSTGRES_URL', 'postgres:///tw', 'postgresUrl', 'a postgres:// or postgresql:// URL with a host'],
    ['TIDEWATER_REDIS_URL', 'http://10.0.0.5:6379', 'redisUrl', 'a redis:// or rediss:// URL'],
    ['TIDEWATER_REDIS_URL', 'redis://10.0.0.5:6379/x', 'redisUrl', 'a redis:// or rediss:// URL'],
    ['TIDEWATER_REDIS_CLUSTER', 'maybe', 'redisCluster', 'true or false'],
    ['TIDEWATER_REDIS_PREFIX', 'tw{1}:', 'redisPrefix', 'up to 64 printable ASCII characters without braces or spaces'],
  ])('refuse %s=%s, naming the key', (env, value, key, allowed) => {
    expect(problemsOf({ env: { [env]: value } })).toEqual([`config: ${key} (from ${env}) must be ${allowed}${allowed.endsWith('URL') ? ' (with redisCluster: a comma-separated list of them)' : ''}, got "${value}"`]);
  });

  it('refuse several Redis URLs without redisCluster, and a database number with it', () => {
    expect(problemsOf({ env: { TIDEWATER_REDIS_URL: 'redis://a:7000,redis://b:7000' } })).toEqual([
      'config: redisUrl (from TIDEWATER_REDIS_URL) must be one URL unless redisCluster is true (several URLs are the seed nodes of a Redis Cluster), ' +
        'got "redis://a:7000,redis://b:7000"; redisCluster is false (default)',
    ]);
    expect(problemsOf({ env: {}, flags: { redisUrl: 'redis://a:7000/1', redisCluster: 'true' } })).toEqual([
      'config: redisUrl (from --redis-url) must not name a database with redisCluster true (a Redis Cluster has only database 0), ' +
        'got "redis://a:7000/1"; redisCluster is true (from --redis-cluster)',
    ]);
  });
});

describe('configuration errors name the key and where the value came from', () => {
  it('an environment variable', () => {
    expect(problemsOf({ env: { TIDEWATER_REGISTRATION_MIN_EXPIRES: 'x' } })).toEqual([
      'config: registration.minExpires (from TIDEWATER_REGISTRATION_MIN_EXPIRES) must be an integer from 1 to 2147483647, got "x"',
    ]);
  });

  it('a flag', () => {
    expect(problemsOf({ env: {}, flags: { sipPort: '70000' } })).toEqual([
      'config: sipPort (from --sip-port) must be a port number from 0 to 65535 (0: any free port), got "70000"',
    ]);
  });

  it('a file value of the wrong type', () => {
    const file = yamlFile('metricsPort: "9091"\n');
    expect(problemsOf({ file, env: {} })).toEqual([
      `config: metricsPort (from config file ${file}) must be a port number from 0 to 65535 (0: any free port), got "9091"`,
    ]);
  });

  it.each([
    ['TIDEWATER_BIND', '999.1.1.1', 'bind', 'an IPv4 or IPv6 address'],
    ['TIDEWATER_DOMAIN', 'exa mple.com', 'domain', 'a DNS name'],
    ['TIDEWATER_LOG_LEVEL', 'verbose', 'log.level', 'one of fatal, error, warn, info, debug, trace, silent'],
    ['TIDEWATER_AUTH_ALGORITHMS', 'MD5,SHA-1', 'auth.algorithms', 'a non-empty list of MD5, SHA-256'],
    ['TIDEWATER_AUTH_ALGORITHMS', 'MD5,md5', 'auth.algorithms', 'a non-empty list of MD5, SHA-256 without repeats'],
    ['TIDEWATER_AUTH_NONCE_LIFETIME', '0', 'auth.nonceLifetime', 'an integer from 1 to 86400'],
    ['TIDEWATER_REGISTRATION_MAX_EXPIRES', '1.5', 'registration.maxExpires', 'an integer'],
    ['TIDEWATER_SERVICE_HOSTS_EDGE', 'pcscf_1', 'serviceHosts.edge', 'a DNS name'],
    ['TIDEWATER_SERVICE_HOSTS_MMTEL', 'mmtel as', 'serviceHosts.mmtel', 'a DNS name'],
    ['TIDEWATER_MMTEL_INTERNATIONAL_PREFIXES', '00,+1', 'mmtel.internationalPrefixes', 'a list of up to 16 different prefixes of 1 to 8 digits'],
    ['TIDEWATER_MMTEL_INTERNATIONAL_PREFIXES', '00,00', 'mmtel.internationalPrefixes', 'a list of up to 16 different prefixes'],
    ['TIDEWATER_MMTEL_HOME_COUNTRY_CODE', '+1', 'mmtel.homeCountryCode', '1 to 3 digits, not starting with 0'],
    ['TIDEWATER_MMTEL_MAX_DIVERSIONS', '21', 'mmtel.maxDiversions', 'an integer from 0 to 20'],
    ['TIDEWATER_OVERLOAD_ENABLED', 'maybe', 'overload.enabled', 'true or false'],
    ['TIDEWATER_OVERLOAD_TARGET_LATENCY_MS', '500', 'overload.targetLatencyMs', 'an integer from 10 to 400'],
  ])('%s=%s', (env, value, key, allowed) => {
    const problems = problemsOf({ env: { [env]: value } });
    expect(problems).toHaveLength(1);
    expect(problems[0]).toContain(`config: ${key} (from ${env}) must be ${allowed}`);
    expect(problems[0]).toContain(`got "${value}"`);
  });

  it('an empty algorithm list', () => {
    expect(problemsOf({ env: {}, flags: { 'auth.algorithms': ',' } })[0]).toMatch(/^config: auth\.algorithms \(from --auth-algorithms\) must be a non-empty list/);
    const file = yamlFile('auth:\n  algorithms: []\n');
    expect(problemsOf({ file, env: {} })[0]).toMatch(/^config: auth\.algorithms \(from config file .*\) must be a non-empty list/);
  });

  it('registration intervals out of order, naming both keys and their sources', () => {
    expect(problemsOf({ env: { TIDEWATER_REGISTRATION_MIN_EXPIRES: '700' } })).toEqual([
      'config: registration.defaultExpires (default) must be from registration.minExpires to registration.maxExpires, got 600; ' +
        'registration.minExpires is 700 (from TIDEWATER_REGISTRATION_MIN_EXPIRES), registration.maxExpires is 3600 (default)',
    ]);
    expect(problemsOf({ env: {}, flags: { 'registration.maxExpires': '30' } })[0]).toBe(
      'config: registration.maxExpires (from --registration-max-expires) must be at least registration.minExpires, got "30"; ' +
        'registration.minExpires is 60 (default)',
    );
  });

  it('a service URL that is not http or https, from a flag, the environment or the file', () => {
    expect(problemsOf({ env: {}, flags: { hssProvisioningUrl: 'hss:8889' } })).toEqual([
      'config: hssProvisioningUrl (from --hss-provisioning-url) must be an http or https URL, got "hss:8889"',
    ]);
    expect(problemsOf({ env: { TIDEWATER_XDMS_URL: 'ftp://xdms.example.net/' } })).toEqual([
      'config: xdmsUrl (from TIDEWATER_XDMS_URL) must be an http or https URL, got "ftp://xdms.example.net/"',
    ]);
    const file = yamlFile('xdmsUrl: 7888\n');
    expect(problemsOf({ file, env: {} })).toEqual([`config: xdmsUrl (from config file ${file}) must be an http or https URL, got 7888`]);
  });

  it('two TCP listeners on one port', () => {
    expect(problemsOf({ env: { TIDEWATER_PORTAL_PORT: '9090' } })).toEqual([
      'config: metricsPort (default) must differ from portalPort (both are TCP listeners), got 9090; portalPort is 9090 (from TIDEWATER_PORTAL_PORT)',
    ]);
  });

  it('reports every bad key at once', () => {
    expect(problemsOf({ env: { TIDEWATER_SIP_PORT: 'a', TIDEWATER_WS_PORT: 'b' } })).toHaveLength(2);
  });

  it('an unknown flag key', () => {
    expect(problemsOf({ env: {}, flags: { sipProt: '1' } })).toEqual(['config: unknown key sipProt given as a flag']);
  });
});

describe('the YAML file', () => {
  it('refuses unknown keys, at the top and in sections, suggesting the closest', () => {
    const file = yamlFile('domian: a.b\nregistration:\n  minExpire: 3\nsip_port: 5\nbogus: 1\n');
    expect(problemsOf({ file, env: {} })).toEqual([
      `config: unknown key domian in config file ${file} (did you mean domain?)`,
      `config: unknown key registration.minExpire in config file ${file} (did you mean registration.minExpires?)`,
      `config: unknown key sip_port in config file ${file} (did you mean sipPort?)`,
      expect.stringMatching(new RegExp(`^config: unknown key bogus in config file ${file}; known keys here: domain, dataDir, `)),
    ]);
  });

  it('refuses a section that is not a mapping', () => {
    const file = yamlFile('log: debug\n');
    expect(problemsOf({ file, env: {} })).toEqual([`config: log (from config file ${file}) must be a mapping with keys level, got "debug"`]);
  });

  it('refuses a file that is not YAML, or missing', () => {
    const bad = yamlFile('sipPort: [\n');
    expect(problemsOf({ file: bad, env: {} })[0]).toMatch(new RegExp(`^config: config file ${bad} is not valid YAML: `));
    expect(problemsOf({ file: '/nonexistent/tw.yaml', env: {} })).toEqual(['config: cannot read config file /nonexistent/tw.yaml: no such file']);
  });

  it('accepts an empty file as all defaults', () => {
    expect(loadConfig({ file: yamlFile(''), env: {} })).toEqual(defaultConfig());
  });

  it('the schema refuses unknown keys from programmatic callers too', () => {
    expect(allInOneConfigSchema.safeParse({ registration: { minExpire: 3 } }).success).toBe(false);
  });
});

describe('docs/configuration.md', () => {
  it('is what the schema renders (run `npm run docs:config` after changing src/config)', () => {
    const committed = readFileSync(new URL('../../docs/configuration.md', import.meta.url), 'utf8');
    expect(committed, 'docs/configuration.md is out of date: run `npm run docs:config`').toBe(renderConfigDoc());
  });

  it('lists every key with its flag, environment variable and default', () => {
    const doc = renderConfigDoc();
    for (const f of CONFIG_FIELDS) expect(doc).toContain(`| \`${f.path}\` | \`${f.flag} <${f.valueName}>\` | \`${f.env}\` | \`${f.defaultText}\` |`);
  });
});
