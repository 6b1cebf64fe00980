import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

/**
 * The longest files, started first. A clean clone (CI) has no timing cache, so vitest would run files
 * in glob order and a long file starting late would leave one core idle at the end; the list keeps
 * the suite's tail short. Order: longest first (seconds measured on the 2-core CI machine).
 */
const SLOW_FIRST = [
  'test/integration/lifecycle/scenario-800-days.test.ts', // ~17 s
  'test/e2e/sharded-sweep.test.ts', // ~10 s (3000 lineages)
  'test/integration/local/start-terminal.test.ts', // ~8 s, mostly waiting on the demo clock
  'test/integration/lifecycle/crash-and-concurrency.test.ts', // ~6 s
  'test/integration/local/state-dir.test.ts', // ~6 s
  'test/integration/emulator/cli.test.ts', // ~5 s
  'test/integration/kms/pacing-qps.test.ts', // ~5 s, mostly paced waiting
  'test/integration/soak/soak.test.ts', // ~5 s
  'test/integration/cli/report.test.ts', // ~4 s (Chromium)
  'test/integration/escrow/kms-secrets-store.test.ts', // ~3 s
  'test/e2e/functions.test.ts', // ~3 s
  'test/integration/fc-host/timers.test.ts', // ~3 s, mostly timers
  'test/integration/lifecycle/observe-calls.test.ts', // ~2.5 s
  'test/integration/fc-host/runtime.test.ts', // ~2.5 s, mostly timeouts
  'test/integration/lifecycle/targeted.test.ts', // ~2.5 s
];

class SlowFirstSequencer extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files);
    const rank = (f: TestSpecification) => {
      const i = SLOW_FIRST.findIndex((slow) => f.moduleId.replaceAll('\\', '/').endsWith(slow));
      return i === -1 ? SLOW_FIRST.length : i;
    };
    return sorted
      .map((f, i) => ({ f, i }))
      .sort((a, b) => rank(a.f) - rank(b.f) || a.i - b.i)
      .map(({ f }) => f);
  }
}

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Generates the KMS emulator's RSA wrapping keys once per run instead of once per test process.
    globalSetup: ['test/support/global-setup.ts'],
    // Integration tests start real HTTP servers on 127.0.0.1 and generate RSA keys; 2-core CI.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    sequence: { sequencer: SlowFirstSequencer },
    // One worker process runs many test files, reusing the modules they share (the SDK, the emulator,
    // the engine) instead of a fresh process and import per file: about half the suite's import time.
    // Test files clean up what they change (vi.stubEnv/unstubAllEnvs, servers, temp dirs); a file that
    // needs fresh module state takes it with vi.resetModules() and a dynamic import.
    isolate: false,
    // One worker more than cores (vitest's default is cores - 1: one worker on a 2-core CI machine).
    // With one per core the cores idle while files wait on child processes (CLIs, Chromium), demo
    // clocks, timers and paced calls; a third file fills that time. Measured on 2 cores over the ten
    // longest files: 2 workers 30 s, 3 workers 24 s, 4 workers 26 s.
    maxWorkers: availableParallelism() + 1,
    // Under CI (CI=true) also write a JSON summary that .ci/run turns into a closing line.
    reporters: process.env.CI ? ['default', ['json', { outputFile: '.ci/test-results.json' }]] : ['default'],
  },
});
