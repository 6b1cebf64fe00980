/**
 * E2E support: builds the real function bundles once per test run (into the run's temp dir, shared by
 * every file that runs them) and starts the local stack (KMS emulator + local FC host from s.yaml) on
 * random ports with a temp state dir.
 */
import { rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { buildFunctions } from '../../scripts/build.js';
import { startLocalStack, type LocalStack } from '../../scripts/local/stack.js';
import { RUN_DIR_ENV } from './global-setup.js';
import { sharedInRun } from './run-shared.js';

export const ROOT = resolve(import.meta.dirname, '..', '..');

/** What a shared build left: its directory and, per function, the esbuild input paths (relative to ROOT). */
export interface SharedBuild {
  distDir: string;
  inputs: Record<string, string[]>;
}

/** Builds every function bundle into `outDir`; throws with the violations if the build fails. */
async function buildOnce(outDir: string): Promise<SharedBuild> {
  const report = await buildFunctions({ absWorkingDir: ROOT, outDir, functionsDir: 'functions' });
  if (!report.ok) throw new Error(`build failed: ${JSON.stringify(report.violations)}`);
  return { distDir: outDir, inputs: Object.fromEntries(report.bundles.map((b) => [b.fn, b.inputs])) };
}

/**
 * The function bundles of this source tree, built once per test run (run-shared.ts: the first
 * caller, in any worker, builds into the run dir of test/support/global-setup.ts; the others wait
 * for its `build.json`). The bundles are only read, never changed, by the files that share them
 * (test/integration/build/build.test.ts checks the build itself). Outside a run dir: a private build.
 */
export function sharedBuild(): Promise<SharedBuild> {
  return sharedInRun('build', async () => {
    const runDir = process.env[RUN_DIR_ENV];
    if (runDir) return buildOnce(join(runDir, 'dist'));
    const dir = await mkdtemp(join(tmpdir(), 'byok-build-'));
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
    return buildOnce(join(dir, 'dist'));
  });
}

/** A local stack over freshly built bundles; `lines` collects every log line. */
export async function startE2eStack(): Promise<{
  stack: LocalStack;
  dir: string;
  distDir: string;
  lines: string[];
  close(): Promise<void>;
}> {
  const dir = await mkdtemp(join(tmpdir(), 'byok-e2e-'));
  const { distDir } = await sharedBuild();
  const lines: string[] = [];
  const stack = await startLocalStack({
    stateDir: join(dir, 'state'),
    distDir,
    sYamlPath: join(ROOT, 's.yaml'),
    kmsPort: 0,
    fcPort: 0,
    fireTimers: false,
    log: (l) => lines.push(l),
  });
  return {
    stack,
    dir,
    distDir,
    lines,
    close: async () => {
      await stack.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
