/** Every XDMS error code is documented in docs/xdms-api.md with its status. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { XDMS_ERRORS } from '../../src/xdms/errors.js';

describe('XDMS error registry', () => {
  it('docs/xdms-api.md lists every code with its HTTP status and XCAP element', () => {
    const doc = readFileSync(new URL('../../docs/xdms-api.md', import.meta.url), 'utf8');
    for (const [code, entry] of Object.entries(XDMS_ERRORS) as [string, { status: number; xcap?: string }][]) {
      const row = doc.split('\n').find((line) => line.startsWith(`| \`${code}\``));
      expect(row, code).toBeDefined();
      expect(row).toContain(`| ${entry.status} |`);
      if (entry.xcap) expect(row).toContain(`\`${entry.xcap}\``);
    }
  });
});
