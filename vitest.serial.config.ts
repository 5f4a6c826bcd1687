import { defineConfig } from 'vitest/config';
import { SERIAL_TESTS } from './vitest.config.js';

/** The load tests of vitest.config.ts's SERIAL_TESTS, one file at a time. */
export default defineConfig({
  test: {
    include: SERIAL_TESTS,
    testTimeout: 120_000,
    hookTimeout: 240_000,
    pool: 'forks',
    fileParallelism: false,
    reporters: process.env.CI ? ['verbose'] : ['default'],
  },
});
