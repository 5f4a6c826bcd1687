import { defineConfig } from 'vitest/config';

/**
 * Tests that measure a whole deployment under load (a cluster of processes, 3x overload) get
 * the machine to themselves: they run after the others, one file at a time, from
 * vitest.serial.config.ts (`npm test` runs both). Anything else running beside them would
 * starve their nodes and make a node that is merely slow look dead.
 */
export const SERIAL_TESTS = ['test/e2e/cluster*.test.ts', 'test/e2e/overload.test.ts'];

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    exclude: ['**/node_modules/**', ...SERIAL_TESTS],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    reporters: process.env.CI ? ['verbose'] : ['default'],
  },
});
