/**
 * Loading the configuration: defaults < YAML file < environment < flags, each value validated
 * with a message that names its key and where the value came from.
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { CONFIG_FIELDS, ENV_PREFIX, fieldAt, type ConfigField } from './fields.js';
import { allInOneConfigSchema, type AllInOneConfig } from './schema.js';

/** The environment variable naming the YAML file when no `file` is given. */
export const CONFIG_FILE_ENV = `${ENV_PREFIX}CONFIG`;

/** Where a value came from. */
export type ConfigSource =
  | { readonly kind: 'default' }
  | { readonly kind: 'file'; readonly file: string }
  | { readonly kind: 'env'; readonly name: string }
  | { readonly kind: 'flag'; readonly name: string };

/** A flag value: text as typed, or an already typed value from a programmatic caller. */
export type FlagValue = string | number | boolean | readonly string[];

export interface LoadConfigOptions {
  /** YAML file; default `$TIDEWATER_CONFIG`, else none. */
  readonly file?: string;
  /** The environment; `TIDEWATER_<KEY>` variables are read. An empty variable counts as unset. */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Flag values by key path (`sipPort`, `registration.minExpires`); undefined entries are ignored. */
  readonly flags?: Readonly<Record<string, FlagValue | undefined>>;
}

/** A configuration that cannot be used; `problems` has one line per bad key, each starting `config: `. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';

  constructor(readonly problems: readonly string[]) {
    super(problems.join('\n'));
  }
}

/** A value as given, before the schema: the raw text or YAML value, and what the schema checks. */
interface Given {
  readonly source: ConfigSource;
  readonly raw: unknown;
  readonly value: unknown;
}

/** Loads, merges and validates the configuration; throws {@link ConfigError}. */
export function loadConfig(options: LoadConfigOptions): AllInOneConfig {
  const given = new Map<string, Given>();
  const file = options.file ?? nonEmpty(options.env[CONFIG_FILE_ENV]);
  if (file !== undefined) {
    for (const [path, raw] of readConfigFile(file)) given.set(path, { source: { kind: 'file', file }, raw, value: raw });
  }
  for (const f of CONFIG_FIELDS) {
    const text = nonEmpty(options.env[f.env]);
    if (text !== undefined) given.set(f.path, { source: { kind: 'env', name: f.env }, raw: text, value: f.fromText(text) });
  }
  for (const [path, raw] of Object.entries(options.flags ?? {})) {
    if (raw === undefined) continue;
    const f = fieldAt(path);
    if (!f) throw new ConfigError([`config: unknown key ${path} given as a flag`]);
    given.set(path, { source: { kind: 'flag', name: f.flag }, raw, value: typeof raw === 'string' ? f.fromText(raw) : raw });
  }
  return validate(given);
}

function nonEmpty(text: string | undefined): string | undefined {
  return text === undefined || text === '' ? undefined : text;
}

/** `(from TIDEWATER_SIP_PORT)`, `(from --sip-port)`, `(from config file tw.yaml)`, `(default)`. */
export function describeSource(source: ConfigSource): string {
  switch (source.kind) {
    case 'default':
      return '(default)';
    case 'file':
      return `(from config file ${source.file})`;
    case 'env':
    case 'flag':
      return `(from ${source.name})`;
  }
}

function validate(given: ReadonlyMap<string, Given>): AllInOneConfig {
  const input: Record<string, unknown> = {};
  for (const [path, g] of given) setPath(input, path, g.value);
  const result = allInOneConfigSchema.safeParse(input);
  if (result.success) return result.data;
  const defaults = allInOneConfigSchema.parse({}) as unknown as Record<string, unknown>;
  const problems = result.error.issues.map((issue) => {
    const path = issue.path.map(String);
    const f = leafOf(path);
    if (!f) return `config: ${path.join('.') || 'the configuration'} ${issue.message}`;
    const g = given.get(f.path);
    const where = describeSource(g?.source ?? { kind: 'default' });
    const got = `got ${show(g ? g.raw : getPath(defaults, f.path))}`;
    const crossKeys = issue.code === 'custom' ? (issue.params?.related as string[] | undefined) : undefined;
    if (crossKeys === undefined) return `config: ${f.path} ${where} must be ${f.allowed}, ${got}`;
    const related = crossKeys.map((p) => {
      const r = given.get(p);
      return `${p} is ${show(r ? r.value : getPath(defaults, p))} ${describeSource(r?.source ?? { kind: 'default' })}`;
    });
    return `config: ${f.path} ${where} ${issue.message}, ${got}${related.length ? `; ${related.join(', ')}` : ''}`;
  });
  throw new ConfigError([...new Set(problems)]);
}

/** The setting an issue path falls under: `['auth', 'algorithms', 1]` -> auth.algorithms. */
function leafOf(path: readonly string[]): ConfigField | undefined {
  for (let n = path.length; n > 0; n--) {
    const f = fieldAt(path.slice(0, n).join('.'));
    if (f) return f;
  }
  return undefined;
}

function show(value: unknown): string {
  return value === undefined ? 'nothing' : JSON.stringify(hideSecrets(value));
}

/** `user:password@` of a URL-like text, which an error message must not repeat. */
const URL_CREDENTIALS = /(\/\/)[^/@\s]*@/g;

/** The value with the credentials of any URL in it replaced, so messages never show a password. */
function hideSecrets(value: unknown): unknown {
  if (typeof value === 'string') return value.replace(URL_CREDENTIALS, '$1***@');
  if (Array.isArray(value)) return value.map(hideSecrets);
  return value;
}

function setPath(target: Record<string, unknown>, path: string, value: unknown): void {
  const keys = path.split('.');
  let node = target;
  for (const key of keys.slice(0, -1)) {
    const next = (node[key] ??= {}) as Record<string, unknown>;
    node = next;
  }
  node[keys[keys.length - 1]!] = value;
}

function getPath(source: Record<string, unknown>, path: string): unknown {
  let node: unknown = source;
  for (const key of path.split('.')) node = (node as Record<string, unknown> | undefined)?.[key];
  return node;
}

/** The YAML file's settings as (key path, value) pairs; throws for unreadable files and unknown keys. */
export function readConfigFile(file: string): [string, unknown][] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (error as Error).message;
    throw new ConfigError([`config: cannot read config file ${file}: ${reason}`]);
  }
  let document: unknown;
  try {
    document = parseYaml(text);
  } catch (error) {
    const first = (error as Error).message.split('\n')[0];
    throw new ConfigError([`config: config file ${file} is not valid YAML: ${first}`]);
  }
  if (document === null || document === undefined) return [];
  const pairs: [string, unknown][] = [];
  const problems: string[] = [];
  flatten(document, '', file, pairs, problems);
  if (problems.length > 0) throw new ConfigError(problems);
  return pairs;
}

/** Key paths of the sections (`registration`) and the settings under them. */
const SECTION_KEYS: ReadonlyMap<string, readonly string[]> = (() => {
  const sections = new Map<string, string[]>([['', []]]);
  for (const f of CONFIG_FIELDS) {
    const keys = f.path.split('.');
    for (let n = 1; n <= keys.length; n++) {
      const parent = keys.slice(0, n - 1).join('.');
      const child = keys.slice(0, n).join('.');
      const list = sections.get(parent) ?? [];
      if (!list.includes(child)) list.push(child);
      sections.set(parent, list);
      if (n < keys.length && !sections.has(child)) sections.set(child, []);
    }
  }
  return sections;
})();

function flatten(node: unknown, prefix: string, file: string, pairs: [string, unknown][], problems: string[]): void {
  const allowed = SECTION_KEYS.get(prefix) ?? [];
  if (typeof node !== 'object' || node === null || Array.isArray(node)) {
    const what = prefix === '' ? 'the top level' : prefix;
    problems.push(`config: ${what} (from config file ${file}) must be a mapping with keys ${allowed.map((k) => k.slice(prefix.length ? prefix.length + 1 : 0)).join(', ')}, got ${show(node)}`);
    return;
  }
  for (const [key, value] of Object.entries(node)) {
    const path = prefix === '' ? key : `${prefix}.${key}`;
    if (!allowed.includes(path)) {
      problems.push(`config: unknown key ${path} in config file ${file}${suggestion(path, allowed)}`);
    } else if (SECTION_KEYS.has(path)) {
      flatten(value, path, file, pairs, problems);
    } else {
      pairs.push([path, value]);
    }
  }
}

/** ` (did you mean sipPort?)` for a key close to a known one. */
function suggestion(path: string, allowed: readonly string[]): string {
  const squash = (s: string) => s.toLowerCase().replace(/[-_]/g, '');
  const best = allowed
    .map((candidate) => ({ candidate, d: distance(squash(path), squash(candidate)) }))
    .sort((a, b) => a.d - b.d)[0];
  return best && best.d <= 2 ? ` (did you mean ${best.candidate}?)` : `; known keys here: ${allowed.join(', ')}`;
}

/** Levenshtein distance. */
function distance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row.push(Math.min(previous[j]! + 1, row[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1)));
    }
    previous = row;
  }
  return previous[b.length]!;
}
