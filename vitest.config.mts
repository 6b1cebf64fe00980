import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Generates the KMS emulator's RSA wrapping keys once per run instead of once per test process.
    globalSetup: ['test/support/global-setup.ts'],
    // Integration tests start real HTTP servers on 127.0.0.1 and generate RSA keys; 2-core CI.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // One worker process runs many test files, reusing the modules they share (the SDK, the emulator,
    // the engine) instead of a fresh process and import per file: about half the suite's import time.
    // Test files clean up what they change (vi.stubEnv/unstubAllEnvs, servers, temp dirs); a file that
    // needs fresh module state takes it with vi.resetModules() and a dynamic import.
    isolate: false,
    // Use every core: vitest's default is cores - 1, i.e. one worker on a 2-core CI machine.
    maxWorkers: availableParallelism(),
    // Under CI (CI=true) also write a JSON summary that .ci/run turns into a closing line.
    reporters: process.env.CI ? ['default', ['json', { outputFile: '.ci/test-results.json' }]] : ['default'],
  },
});
