/** docs/hss-api.md documents every coded error of the registry, with its status. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { HSS_ERRORS } from '../../src/hss/index.js';

describe('docs/hss-api.md', () => {
  const doc = readFileSync(new URL('../../docs/hss-api.md', import.meta.url), 'utf8');

  it('lists every TW_ERR_HSS_* code with its HTTP status', () => {
    for (const [code, { status }] of Object.entries(HSS_ERRORS)) {
      const row = doc.split('\n').find((line) => line.startsWith(`| \`${code}\` |`));
      expect(row, `${code} missing from the error table`).toBeDefined();
      expect(row, `${code} documented with the wrong status`).toContain(`| ${status} |`);
    }
  });

  it('lists no code the registry does not have', () => {
    const documented = [...doc.matchAll(/`(TW_ERR_HSS_[A-Z_]+)`/g)].map((m) => m[1]!);
    expect(documented.filter((code) => !(code in HSS_ERRORS))).toEqual([]);
  });
});
