/**
 * `tidewater subscriber add|list|show|remove`: provisioning the HSS data straight in its store,
 * whether or not a server is running: the PostgreSQL database of `postgresUrl`, else the data
 * folder's SQLite file (WAL mode lets both write); the bindings shown and removed are those of
 * Redis with `redisUrl`, else of the data folder (storage.ts). Only HA1 values are stored (RFC
 * 7616 §3.4.2): the password is hashed here and forgotten; a generated one is printed once.
 */
import { provisionDefaultDocument, removeDocument } from '../xdms/index.js';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import path from 'node:path';
import type { AllInOneConfig } from '../config/index.js';
import { newServiceProfile } from '../portal/subscribers.js';
import { computeHa1 } from '../sip/auth/index.js';
import { StorageError, type DigestHa1, type ImplicitSet, type NewSubscriber, type PrivateIdentity, type SubscriberStore } from '../storage/index.js';
import { CliError, type Output } from './output.js';
import { generatePassword, identitiesOf, impuOf } from './identities.js';
import { DATABASE_FILE, describePostgresUrl, openStores, type OpenedStores, type OpenStoresOptions, type StoreName } from './storage.js';

/** What every subscriber command gets. */
export interface SubscriberContext {
  readonly config: AllInOneConfig;
  readonly out: Output;
}

/** HA1 algorithms stored for every subscriber, whatever the challenge list, so it can change later. */
const STORED_ALGORITHMS = ['MD5', 'SHA-256'] as const;
const PAGE = 500;

/** True when the subscribers are in the data folder and it has no database yet. */
function noSqliteSubscribers(config: AllInOneConfig): boolean {
  return config.postgresUrl === undefined && !existsSync(path.join(config.dataDir, DATABASE_FILE));
}

/** Where the subscribers are, for messages: the data folder or the PostgreSQL database. */
export function subscriberStoreName(config: AllInOneConfig): string {
  return config.postgresUrl === undefined ? config.dataDir : `the PostgreSQL database at ${describePostgresUrl(config.postgresUrl)}`;
}

/** Runs `work` on the stores `want`; a command that only reads does not create the data folder's database. */
export async function withStores<K extends StoreName, T>(
  config: AllInOneConfig,
  want: readonly K[],
  work: (stores: OpenedStores<K>) => Promise<T>,
  create = false,
  options: OpenStoresOptions = {},
): Promise<T> {
  if (!create && noSqliteSubscribers(config)) {
    throw new CliError(`no subscribers in ${config.dataDir} (no ${DATABASE_FILE} there); add one with: tidewater subscriber add 6505550001`);
  }
  const stores = await openStores(config, want, options);
  try {
    return await work(stores);
  } finally {
    await stores.close();
  }
}

/**
 * A subscriber as `subscriber add` and `subscriber import` provision it: the HA1s of `password`
 * for the home realm (MD5 and SHA-256), a new implicit set with the default service profile
 * (its iFC sends INVITEs to the MMTel AS, INTERFACES.md), and the public identities `impus`.
 */
export function newSubscriberOf(config: AllInOneConfig, impi: string, impus: readonly string[], password: string): NewSubscriber {
  const { domain } = config;
  const digest: DigestHa1[] = STORED_ALGORITHMS.map((algorithm) => ({ realm: domain, algorithm, ha1: computeHa1(algorithm, impi, domain, password) }));
  return {
    privateIdentity: { impi, digest },
    implicitSet: { id: randomUUID(), serviceProfile: newServiceProfile(impus, config.serviceHosts.mmtel) },
    publicIdentities: impus.map((impu) => ({ impu })),
  };
}

export interface AddOptions {
  readonly password?: string;
  readonly also?: readonly string[];
}

/** `subscriber add`: a new IMPI with HA1s, a new implicit set, its IMPUs. */
export async function addSubscriber(ctx: SubscriberContext, arg: string, options: AddOptions): Promise<void> {
  const { domain } = ctx.config;
  const { impu, impi } = identitiesOf(arg, domain);
  const impus = [...new Set([impu, ...(options.also ?? []).map((a) => impuOf(a, domain))])];
  if (options.password === '') throw new CliError('--password must not be empty (leave it out to get a generated one)');
  const password = options.password ?? generatePassword();
  await withStores(ctx.config, ['subscribers', 'documents'], async ({ subscribers, documents }) => {
    await refuseExisting(subscribers, impi, impus);
    try {
      await subscribers.addSubscriber(newSubscriberOf(ctx.config, impi, impus, password));
    } catch (error) {
      if (error instanceof StorageError && error.code === 'TW_ERR_STORAGE_EXISTS') {
        throw new CliError(`subscriber ${impu} already exists (${error.message})`);
      }
      throw error;
    }
    // Every number starts with the default service settings (INTERFACES.md, XDMS).
    for (const i of impus) await provisionDefaultDocument(documents, i);
  }, true);
  ctx.out.line(`added subscriber ${impu}`);
  ctx.out.line(`  public identity:   ${impus.join(', ')}`);
  ctx.out.line(`  username (IMPI):   ${impi}`);
  ctx.out.line(`  domain and realm:  ${domain}`);
  ctx.out.line(options.password === undefined ? `  password:          ${password}   (generated; shown only this once)` : '  password:          as given (only its HA1 is stored)');
  ctx.out.line(`  outbound proxy:    ${outboundProxy(ctx.config)}`);
}

async function refuseExisting(subscribers: SubscriberStore, impi: string, impus: readonly string[]): Promise<void> {
  if (await subscribers.getPrivateIdentity(impi)) {
    throw new CliError(`subscriber ${impi} already exists; remove it first with: tidewater subscriber remove ${impus[0]}`);
  }
  for (const impu of impus) {
    if (await subscribers.getPublicIdentity(impu)) {
      throw new CliError(`public identity ${impu} already exists; remove it first with: tidewater subscriber remove ${impu}`);
    }
  }
}

/** Where a softphone should send its requests: this machine's address and the SIP port. */
export function outboundProxy(config: AllInOneConfig): string {
  const port = config.sipPort === 0 ? '<the SIP port printed at start-up>' : String(config.sipPort);
  if (config.bind !== '0.0.0.0' && config.bind !== '::') {
    return `${config.bind.includes(':') ? `[${config.bind}]` : config.bind}:${port} (UDP or TCP)`;
  }
  const external = Object.values(networkInterfaces())
    .flat()
    .find((a) => a !== undefined && a.family === 'IPv4' && !a.internal);
  return `${external?.address ?? '127.0.0.1'}:${port} (UDP or TCP; this machine's address)`;
}

/** `subscriber list`: one line per public identity with its IMPI and registration state. */
export async function listSubscribers(ctx: SubscriberContext): Promise<void> {
  if (noSqliteSubscribers(ctx.config)) {
    ctx.out.line(`no subscribers in ${ctx.config.dataDir}; add one with: tidewater subscriber add 6505550001`);
    return;
  }
  await withStores(ctx.config, ['subscribers'], async ({ subscribers }) => {
    const rows: string[][] = [];
    let after: string | undefined;
    do {
      const page = await subscribers.listPublicIdentities(after === undefined ? { limit: PAGE } : { after, limit: PAGE });
      for (const p of page.items) {
        const impis = await subscribers.privateIdentitiesOf(p.impu);
        const state = await subscribers.getRegistrationState(p.impu);
        rows.push([p.impu, impis.join(',') || '-', state?.state ?? 'NOT_REGISTERED']);
      }
      after = page.next;
    } while (after !== undefined);
    if (rows.length === 0) {
      ctx.out.line(`no subscribers in ${subscriberStoreName(ctx.config)}; add one with: tidewater subscriber add 6505550001`);
      return;
    }
    printTable(ctx.out, [['IMPU', 'IMPI', 'STATE'], ...rows]);
  });
}

function printTable(out: Output, rows: readonly string[][]): void {
  const widths = rows[0]!.map((_, col) => Math.max(...rows.map((r) => r[col]!.length)));
  for (const row of rows) out.line(row.map((cell, col) => (col === row.length - 1 ? cell : cell.padEnd(widths[col]!))).join('  '));
}

async function findSet(subscribers: SubscriberStore, arg: string, domain: string): Promise<{ impu: string; set: ImplicitSet }> {
  const impu = impuOf(arg, domain);
  const set = await subscribers.implicitSetOf(impu);
  if (!set) throw new CliError(`no subscriber ${impu}; see tidewater subscriber list`);
  return { impu, set };
}

/** The IMPIs of a set's members, sorted. */
async function privateIdentitiesOfSet(subscribers: SubscriberStore, set: ImplicitSet): Promise<string[]> {
  const impis = new Set<string>();
  for (const m of set.members) for (const impi of await subscribers.privateIdentitiesOf(m.impu)) impis.add(impi);
  return [...impis].sort();
}

/** `Digest HA1 (MD5 for realm example.com, ...)`: which credentials exist, never their values. */
function describeCredentials(identity: PrivateIdentity | undefined): string {
  const kinds: string[] = [];
  if (identity?.digest.length) kinds.push(`Digest HA1 (${identity.digest.map((d) => `${d.algorithm} for realm ${d.realm}`).join(', ')})`);
  if (identity?.aka) kinds.push('AKA keys');
  return kinds.join(', ') || 'none';
}

/** `subscriber show`: identities, barring, registration state, S-CSCF and contacts; never an HA1. */
export async function showSubscriber(ctx: SubscriberContext, arg: string): Promise<void> {
  await withStores(ctx.config, ['subscribers', 'registrations'], async ({ subscribers, registrations }) => {
    const { impu, set } = await findSet(subscribers, arg, ctx.config.domain);
    const impis = await privateIdentitiesOfSet(subscribers, set);
    const state = await subscribers.getRegistrationState(impu);
    ctx.out.line(`public identity:     ${impu}`);
    ctx.out.line(`username (IMPI):     ${impis.join(', ') || '-'}`);
    for (const impi of impis) ctx.out.line(`credentials:         ${impi}: ${describeCredentials(await subscribers.getPrivateIdentity(impi))}`);
    ctx.out.line(`implicit set:        ${set.id}`);
    for (const m of set.members) ctx.out.line(`  ${m.impu}${m.barred ? '  (barred)' : ''}`);
    ctx.out.line(`registration state:  ${state?.state ?? 'NOT_REGISTERED'}`);
    ctx.out.line(`assigned S-CSCF:     ${state?.scscf ?? '-'}`);
    const now = Date.now();
    for (const m of set.members) {
      const record = await registrations.get(m.impu);
      for (const b of record?.bindings ?? []) {
        if (b.expiresAt <= now) continue;
        ctx.out.line(`contact:             ${m.impu} -> ${b.contact} (expires in ${Math.ceil((b.expiresAt - now) / 1000)} s)`);
      }
    }
  });
}

/** `subscriber remove`: the set's IMPUs and their bindings, the set, and IMPIs left with no IMPU. */
export async function removeSubscriber(ctx: SubscriberContext, arg: string): Promise<void> {
  await withStores(ctx.config, ['subscribers', 'registrations', 'documents'], async ({ subscribers, registrations, documents }) => {
    const { set } = await findSet(subscribers, arg, ctx.config.domain);
    const impis = await privateIdentitiesOfSet(subscribers, set);
    for (const m of set.members) {
      await subscribers.deletePublicIdentity(m.impu);
      await removeDocument(documents, m.impu);
      const record = await registrations.get(m.impu);
      if (record) await registrations.delete(m.impu, record.version);
    }
    await subscribers.deleteImplicitSet(set.id);
    const removed: string[] = [];
    for (const impi of impis) {
      if ((await subscribers.publicIdentitiesOf(impi)).length > 0) continue;
      if (await subscribers.deletePrivateIdentity(impi)) removed.push(impi);
    }
    ctx.out.line(`removed ${set.members.map((m) => m.impu).join(', ')}${removed.length ? ` and private identity ${removed.join(', ')}` : ''}`);
  });
}
