/**
 * The key the HTTP APIs require when they listen beyond loopback (issue 4): given in the
 * configuration, or generated at first start and kept in `<dataDir>/api.key` (mode 0600).
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import path from 'node:path';
import type { AllInOneConfig } from '../config/index.js';

export const API_KEY_FILE = 'api.key';

/** True for 127.0.0.0/8 and ::1: only this machine can reach a listener bound there. */
export function isLoopback(address: string): boolean {
  if (isIP(address) === 4) return address.startsWith('127.');
  return address === '::1';
}

/** The stored key, or a new one written there (`created` says which). */
export function loadOrCreateApiKey(dataDir: string): { key: string; created: boolean } {
  const file = path.join(dataDir, API_KEY_FILE);
  const fresh = randomBytes(24).toString('base64url');
  try {
    writeFileSync(file, `${fresh}\n`, { mode: 0o600, flag: 'wx' });
    return { key: fresh, created: true };
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
  }
  const key = readFileSync(file, 'utf8').trim();
  if (key.length < 16) throw new Error(`${file} holds no usable API key; remove it to have a new one generated`);
  return { key, created: false };
}

/** The API key the HTTP services require, if any, and what to tell the operator about it. */
export function apiAccess(config: AllInOneConfig): { key: string | undefined; notices: string[] } {
  if (config.apiKey !== undefined) return { key: config.apiKey, notices: [] };
  if (isLoopback(config.bind)) return { key: undefined, notices: [] };
  const { key, created } = loadOrCreateApiKey(config.dataDir);
  const where = `${config.dataDir}/${API_KEY_FILE}`;
  return { key, notices: [created ? `API key (NGV-API-Key header), generated and kept in ${where}: ${key}` : `API key: as kept in ${where}`] };
}

