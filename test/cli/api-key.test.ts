import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { isLoopback, loadOrCreateApiKey } from '../../src/cli/api-key.js';

describe('the HTTP API key', () => {
  it('is generated once, kept readable by its owner only, and read back on the next start', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'tw-key-'));
    const first = loadOrCreateApiKey(dir);
    expect(first.created).toBe(true);
    expect(first.key.length).toBeGreaterThanOrEqual(16);
    expect(statSync(path.join(dir, 'api.key')).mode & 0o777).toBe(0o600);
    expect(loadOrCreateApiKey(dir)).toEqual({ key: first.key, created: false });
  });

  it('refuses a key file that holds no usable key, naming the file', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'tw-key-'));
    writeFileSync(path.join(dir, 'api.key'), 'short\n');
    expect(() => loadOrCreateApiKey(dir)).toThrow(/api\.key/);
    expect(readFileSync(path.join(dir, 'api.key'), 'utf8')).toBe('short\n');
  });

  it('is not needed on loopback only', () => {
    expect(isLoopback('127.0.0.1')).toBe(true);
    expect(isLoopback('127.1.2.3')).toBe(true);
    expect(isLoopback('::1')).toBe(true);
    expect(isLoopback('0.0.0.0')).toBe(false);
    expect(isLoopback('::')).toBe(false);
    expect(isLoopback('192.0.2.1')).toBe(false);
  });
});
