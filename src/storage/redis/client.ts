/**
 * Connecting to Redis (one server or a Redis Cluster) so that a dead or hung Redis fails
 * requests fast with TW_ERR_STORAGE_UNAVAILABLE instead of queueing them:
 *
 * - `enableOfflineQueue: false`: while not connected, a command is refused at once; nothing
 *   waits in an unbounded queue for a Redis that may never come back.
 * - `maxRetriesPerRequest: 0` and `autoResendUnfulfilledCommands: false`: commands in flight
 *   when the connection drops are rejected, never sent a second time after reconnecting (a
 *   compare-and-set resent after it was applied would look like a conflict with itself).
 * - `commandTimeout`: a Redis that accepts the connection but stops answering fails each
 *   command after that long.
 * - Reconnection goes on in the background with a capped backoff, so the stores recover by
 *   themselves once Redis is back; the callers answer 503 in the meantime.
 */
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import { StorageError, asStorageError } from '../errors.js';
import type { RedisClient } from './scripts.js';

/** How the stores connect. */
export interface RedisConnectionOptions {
  /** Treat the URL(s) as seed nodes of a Redis Cluster (ioredis `Cluster`). Default false. */
  readonly cluster?: boolean;
  /** Time for one command before it fails; default 2000 ms. */
  readonly commandTimeoutMs?: number;
  /** Time for a TCP connection and the ready check; default 2000 ms. */
  readonly connectTimeoutMs?: number;
  /** Longest pause between reconnection attempts; default 1000 ms. */
  readonly maxReconnectDelayMs?: number;
  /**
   * Told of each connection error (for a log line or a metric; reconnection goes on by
   * itself). The requests affected fail with TW_ERR_STORAGE_UNAVAILABLE either way.
   */
  readonly onError?: (error: Error) => void;
}

const DEFAULT_COMMAND_TIMEOUT_MS = 2000;
const DEFAULT_CONNECT_TIMEOUT_MS = 2000;
const DEFAULT_MAX_RECONNECT_DELAY_MS = 1000;

/** Runs `fn`, turning any failure into a {@link StorageError} (UNAVAILABLE unless it is one). */
export async function guard<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    throw asStorageError(`Redis ${what}`, error);
  }
}

/** `host:port` of a URL, without credentials, for messages. */
export function describeUrl(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.hostname}:${parsed.port || '6379'}`;
  } catch {
    return '(unparsable URL)';
  }
}

function parseUrl(url: string): URL {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new StorageError('TW_ERR_STORAGE_INVALID', 'redis url is not a URL (expected redis://host:port)');
  }
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') {
    throw new StorageError('TW_ERR_STORAGE_INVALID', `redis url must start with redis:// or rediss://, got ${parsed.protocol}//`);
  }
  return parsed;
}

/** `host` and `port` of a parsed URL (IPv6 literals without their brackets). */
function endpoint(url: URL): { host: string; port: number } {
  return { host: url.hostname.replace(/^\[(.*)\]$/, '$1'), port: Number(url.port || 6379) };
}

function positive(value: number | undefined, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new StorageError('TW_ERR_STORAGE_INVALID', `redis ${name} must be a positive integer (ms), got ${value}`);
  }
  return value;
}

function baseOptions(options: RedisConnectionOptions): RedisOptions {
  const maxDelay = positive(options.maxReconnectDelayMs, 'maxReconnectDelayMs', DEFAULT_MAX_RECONNECT_DELAY_MS);
  return {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    commandTimeout: positive(options.commandTimeoutMs, 'commandTimeoutMs', DEFAULT_COMMAND_TIMEOUT_MS),
    connectTimeout: positive(options.connectTimeoutMs, 'connectTimeoutMs', DEFAULT_CONNECT_TIMEOUT_MS),
    retryStrategy: (times) => Math.min(50 * 2 ** Math.min(times, 10), maxDelay),
  };
}

function credentials(url: URL): RedisOptions {
  const out: RedisOptions = {};
  if (url.username) out.username = decodeURIComponent(url.username);
  if (url.password) out.password = decodeURIComponent(url.password);
  if (url.protocol === 'rediss:') out.tls = { servername: url.hostname };
  return out;
}

/** Creates the client (not yet connected) for `urls`. */
export function createClient(urls: readonly string[], options: RedisConnectionOptions): RedisClient {
  if (urls.length === 0) throw new StorageError('TW_ERR_STORAGE_INVALID', 'redis url: at least one is needed');
  const parsed = urls.map(parseUrl);
  const base = baseOptions(options);
  if (!options.cluster) {
    if (parsed.length > 1) throw new StorageError('TW_ERR_STORAGE_INVALID', 'redis url: several URLs need the cluster option');
    const url = parsed[0]!;
    const db = url.pathname.length > 1 ? Number(url.pathname.slice(1)) : 0;
    if (!Number.isSafeInteger(db) || db < 0) throw new StorageError('TW_ERR_STORAGE_INVALID', 'redis url: the path must be a database number');
    return new Redis({ ...base, ...credentials(url), ...endpoint(url), db });
  }
  if (parsed.some((url) => url.pathname.length > 1)) {
    throw new StorageError('TW_ERR_STORAGE_INVALID', 'redis url: a Redis Cluster has only database 0, so no path is allowed');
  }
  const { retryStrategy, enableOfflineQueue, lazyConnect, ...redisOptions } = base;
  const clusterOptions: ClusterOptions = {
    lazyConnect,
    enableOfflineQueue,
    clusterRetryStrategy: retryStrategy,
    redisOptions: { ...redisOptions, ...credentials(parsed[0]!) },
    slotsRefreshTimeout: base.connectTimeout,
  };
  return new Cluster(parsed.map(endpoint), clusterOptions);
}

/**
 * Connects `client`, rejecting with TW_ERR_STORAGE_UNAVAILABLE (and leaving it disconnected)
 * when Redis cannot be reached or does not get ready within the connect timeout.
 */
export async function connectClient(client: RedisClient, where: string, options: RedisConnectionOptions): Promise<void> {
  const timeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`not ready within ${timeoutMs} ms`)), timeoutMs);
  });
  // Without a listener ioredis would print every connection error to the console.
  const onError = options.onError;
  client.on('error', (error: Error) => onError?.(error));
  try {
    await Promise.race([client.connect(), timeout]);
  } catch (error) {
    client.disconnect();
    throw asStorageError(`connecting to ${where}`, error);
  } finally {
    clearTimeout(timer);
  }
}
