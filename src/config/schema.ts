/**
 * The all-in-one's configuration schema, assembled from the settings of fields.ts. Parsing an
 * object fills every default, derives the service host names from the domain and checks the
 * rules that involve several keys; loadConfig (load.ts) feeds it the merged file, environment
 * and flags and turns its issues into messages naming each key and where its value came from.
 */
import { z } from 'zod';
import { F, type ConfigField } from './fields.js';

/** The field's schema with its default applied when the key is absent. */
function withDefault<S extends z.ZodType>(f: ConfigField<S>) {
  if (f.default === undefined) throw new Error(`${f.path} has no default`);
  return f.schema.default(f.default as never);
}

/** A key-level problem found by a rule over several keys; `related` keys are named in the message. */
function crossIssue(ctx: z.RefinementCtx, path: string[], input: unknown, message: string, related: string[]): void {
  ctx.addIssue({ code: 'custom', path, input, message, params: { related } });
}

const registration = z
  .object({
    minExpires: withDefault(F.minExpires),
    maxExpires: withDefault(F.maxExpires),
    defaultExpires: withDefault(F.defaultExpires),
  })
  .strict()
  .prefault({})
  .superRefine((r, ctx) => {
    if (r.maxExpires < r.minExpires) {
      crossIssue(ctx, ['maxExpires'], r.maxExpires, 'must be at least registration.minExpires', ['registration.minExpires']);
    } else if (r.defaultExpires < r.minExpires || r.defaultExpires > r.maxExpires) {
      crossIssue(ctx, ['defaultExpires'], r.defaultExpires, 'must be from registration.minExpires to registration.maxExpires', [
        'registration.minExpires',
        'registration.maxExpires',
      ]);
    }
  });

const auth = z
  .object({ algorithms: withDefault(F.algorithms), nonceLifetime: withDefault(F.nonceLifetime) })
  .strict()
  .prefault({});

const serviceHosts = z
  .object({ edge: F.edgeHost.schema, icscf: F.icscfHost.schema, scscf: F.scscfHost.schema, mmtel: F.mmtelHost.schema })
  .strict()
  .prefault({});

const ifc = z.object({ asTimeoutMs: withDefault(F.asTimeoutMs) }).strict().prefault({});

const mmtel = z
  .object({
    internationalPrefixes: withDefault(F.internationalPrefixes),
    homeCountryCode: withDefault(F.homeCountryCode),
    maxDiversions: withDefault(F.maxDiversions),
  })
  .strict()
  .prefault({});

const overload = z.object({ enabled: withDefault(F.overloadEnabled), targetLatencyMs: withDefault(F.targetLatencyMs) }).strict().prefault({});

const log = z.object({ level: withDefault(F.logLevel) }).strict().prefault({});

/** Several Redis URLs are the seed nodes of a Redis Cluster, which has only database 0. */
function redisRules(c: { redisUrl?: string[] | undefined; redisCluster: boolean }, ctx: z.RefinementCtx): void {
  if (c.redisUrl === undefined) return;
  if (!c.redisCluster && c.redisUrl.length > 1) {
    crossIssue(ctx, ['redisUrl'], c.redisUrl, 'must be one URL unless redisCluster is true (several URLs are the seed nodes of a Redis Cluster)', ['redisCluster']);
  } else if (c.redisCluster && c.redisUrl.some((u) => /^\/\d/.test(new URL(u).pathname))) {
    crossIssue(ctx, ['redisUrl'], c.redisUrl, 'must not name a database with redisCluster true (a Redis Cluster has only database 0)', ['redisCluster']);
  }
}

/** Keys of the TCP listeners, which may not share a port (0, any free port, excepted). */
const TCP_PORT_KEYS = ['sipPort', 'wsPort', 'tlsPort', 'wssPort', 'hssPort', 'hssProvisioningPort', 'xdmsPort', 'portalPort', 'metricsPort'] as const;

/**
 * The all-in-one's configuration. `allInOneConfigSchema.parse({})` gives the defaults; tests
 * pass only what they change, e.g. `parse({ dataDir, sipPort: 0 })`.
 */
export const allInOneConfigSchema = z
  .object({
    domain: withDefault(F.domain),
    dataDir: withDefault(F.dataDir),
    bind: withDefault(F.bind),
    postgresUrl: F.postgresUrl.schema,
    redisUrl: F.redisUrl.schema,
    redisCluster: withDefault(F.redisCluster),
    redisPrefix: withDefault(F.redisPrefix),
    sipPort: withDefault(F.sipPort),
    wsPort: withDefault(F.wsPort),
    tlsPort: withDefault(F.tlsPort),
    wssPort: withDefault(F.wssPort),
    tlsCert: F.tlsCert.schema,
    tlsKey: F.tlsKey.schema,
    hssPort: withDefault(F.hssPort),
    hssProvisioningPort: withDefault(F.hssProvisioningPort),
    apiKey: F.apiKey.schema,
    hssUrl: F.hssUrl.schema,
    xdmsPort: withDefault(F.xdmsPort),
    portalPort: withDefault(F.portalPort),
    metricsPort: withDefault(F.metricsPort),
    shutdownGraceMs: withDefault(F.shutdownGraceMs),
    registration,
    auth,
    signupCode: withDefault(F.signupCode),
    numberPool: withDefault(F.numberPool),
    pstnPool: F.pstnPool.schema,
    hssProvisioningUrl: F.hssProvisioningUrl.schema,
    xdmsUrl: F.xdmsUrl.schema,
    coreUris: F.coreUris.schema,
    mmtelUris: F.mmtelUris.schema,
    failoverTimeoutMs: withDefault(F.failoverTimeoutMs),
    trustedPeers: withDefault(F.trustedPeers),
    dnsServers: F.dnsServers.schema,
    serviceHosts,
    ifc,
    mmtel,
    overload,
    log,
  })
  .strict()
  .superRefine((c, ctx) => {
    TCP_PORT_KEYS.forEach((key, i) => {
      const earlier = TCP_PORT_KEYS.slice(0, i).find((other) => c[other] === c[key] && c[key] !== 0);
      if (earlier) crossIssue(ctx, [key], c[key], `must differ from ${earlier} (both are TCP listeners)`, [earlier]);
    });
    // A certificate without its key (or the reverse) cannot serve TLS: name the one missing.
    if ((c.tlsCert === undefined) !== (c.tlsKey === undefined)) {
      const [missing, given] = c.tlsCert === undefined ? (['tlsCert', 'tlsKey'] as const) : (['tlsKey', 'tlsCert'] as const);
      crossIssue(ctx, [missing], undefined, `must be given with ${given} (both or neither)`, [given]);
    }
    redisRules(c, ctx);
  })
  .transform((c) => ({
    ...c,
    serviceHosts: {
      edge: c.serviceHosts.edge ?? `pcscf.${c.domain}`,
      icscf: c.serviceHosts.icscf ?? `icscf.${c.domain}`,
      scscf: c.serviceHosts.scscf ?? `scscf.${c.domain}`,
      mmtel: c.serviceHosts.mmtel ?? `mmtel.${c.domain}`,
    },
  }));

/** A validated all-in-one configuration, every default filled in. */
export type AllInOneConfig = z.output<typeof allInOneConfigSchema>;

/** What {@link allInOneConfigSchema} accepts: any key may be left out. */
export type AllInOneConfigInput = z.input<typeof allInOneConfigSchema>;

/** The default configuration. */
export function defaultConfig(): AllInOneConfig {
  return allInOneConfigSchema.parse({});
}
