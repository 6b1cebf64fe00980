import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Integration tests start real HTTP servers on 127.0.0.1 and generate RSA keys; 2-core CI.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Use every core: vitest's default is cores - 1, i.e. one worker on a 2-core CI machine.
    maxWorkers: availableParallelism(),
    // Under CI (CI=true) also write a JSON summary that .ci/run turns into a closing line.
    reporters: process.env.CI ? ['default', ['json', { outputFile: '.ci/test-results.json' }]] : ['default'],
  },
});
