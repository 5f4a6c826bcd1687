/** docs/portal.md documents every coded error of the registry, with its status. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { PORTAL_ERRORS } from '../../src/portal/index.js';

describe('docs/portal.md', () => {
  const doc = readFileSync(new URL('../../docs/portal.md', import.meta.url), 'utf8');

  it('lists every TW_ERR_PORTAL_* code with its HTTP status', () => {
    for (const [code, { status }] of Object.entries(PORTAL_ERRORS)) {
      const row = doc.split('\n').find((line) => line.startsWith(`| \`${code}\` |`));
      expect(row, `${code} missing from the error table`).toBeDefined();
      expect(row, `${code} documented with the wrong status`).toContain(`| ${status} |`);
    }
  });

  it('lists no code the registry does not have', () => {
    const documented = [...doc.matchAll(/`(TW_ERR_PORTAL_[A-Z_]+)`/g)].map((m) => m[1]!);
    expect(documented.filter((code) => !(code in PORTAL_ERRORS))).toEqual([]);
  });
});
