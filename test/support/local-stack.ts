/**
 * E2E support: builds the real function bundles into a temp dir once and starts the local stack
 * (KMS emulator + local FC host from s.yaml) on random ports with a temp state dir.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { buildFunctions } from '../../scripts/build.js';
import { startLocalStack, type LocalStack } from '../../scripts/local/stack.js';

export const ROOT = resolve(import.meta.dirname, '..', '..');

/** Builds every function bundle into `<dir>/dist`; throws with the violations if the build fails. */
export async function buildInto(dir: string): Promise<string> {
  const outDir = join(dir, 'dist');
  const report = await buildFunctions({ absWorkingDir: ROOT, outDir, functionsDir: 'functions' });
  if (!report.ok) throw new Error(`build failed: ${JSON.stringify(report.violations)}`);
  return outDir;
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
  const distDir = await buildInto(dir);
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
