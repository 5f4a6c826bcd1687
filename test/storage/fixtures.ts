/** Shared values and helpers of the storage tests. */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Binding } from '../../src/storage/registration-store.js';

/** A fixed wall-clock instant the tests count from (ms since the Unix epoch). */
export const T0 = 1_700_000_000_000;

/** A binding with only the required fields; override any of them. */
export function binding(overrides: Partial<Binding> = {}): Binding {
  return {
    contact: 'sip:alice@192.0.2.10:5060',
    path: [],
    expiresAt: T0 + 3_600_000,
    callId: 'reg-1@192.0.2.10',
    cseq: 1,
    registeredAt: T0,
    ...overrides,
  };
}

/** A binding with every optional field set, as an RFC 5626 WebSocket client registers. */
export function fullBinding(overrides: Partial<Binding> = {}): Binding {
  return {
    contact: 'sip:df7jal23@df7jal23.invalid;transport=ws;ob',
    path: ['sip:Token.Flow1@edge1.example.com;lr;ob', 'sip:edge2.example.com;lr'],
    expiresAt: T0 + 600_000,
    q: 0.7,
    callId: 'ws-reg@df7jal23.invalid',
    cseq: 42,
    instanceId: '<urn:uuid:00000000-0000-1000-8000-000A95A0E128>',
    regId: 1,
    flowId: 'ws:7f00000113c4:1',
    userAgent: 'JsSIP 3.10.0',
    receivedFrom: { address: '198.51.100.7', port: 50612, transport: 'WSS' },
    registeredAt: T0 - 1000,
    ...overrides,
  };
}

/** A temporary directory removed by `cleanup`. */
export function tempDir(prefix = 'tidewater-storage-'): { readonly path: string; cleanup(): void } {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  return { path: dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Every byte of every file in `dir` (database, WAL, shared memory), for searching. */
export function allBytes(dir: string): Buffer {
  return Buffer.concat(readdirSync(dir).map((name) => readFileSync(path.join(dir, name))));
}
