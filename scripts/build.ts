/**
 * `npm run build`: one esbuild bundle per function folder (`functions/<fn>/index.ts` ->
 * `dist/<fn>/index.js`), the code package `s.yaml` deploys for each function. Prints a size table and
 * exits 1 when a bundle is over budget, pulls in test code, or contains a fixture secret or a
 * private key (checks in scripts/build-checks.ts).
 *
 * Output choices:
 * - CommonJS, platform node, target node20: FC's nodejs20 runtime loads `index.js` as CJS and calls
 *   `exports.handler` (docs/fc-runtime.md §2.2).
 * - Not minified: the code stays readable in the FC console and in stack traces. Measured here on a
 *   bundle of the KMS adapter + @alicloud/kms20160120 (Node 20): 1.5 MB plain vs 0.65 MB minified,
 *   and `require` took 77-126 ms vs 81-109 ms, i.e. no difference above noise; a cold start is
 *   dominated by code download and runtime start, so readable code is worth more on call.
 * - Linked external source map (`index.js.map`, no `sourcesContent`, so it stays small and carries no
 *   source text) used by NODE_OPTIONS=--enable-source-maps in s.yaml.
 * - Legal comments linked into `index.js.LEGAL.txt` (shipped with the bundle, not in it).
 * - Rarely used packages (SM2, XML, credential providers) in side files beside index.js, required on
 *   first use (scripts/lazy-packages.ts): a cold start neither parses nor runs them. The function's
 *   code package is the whole `dist/<fn>` folder (s.yaml `code`).
 */
import { existsSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { ErrorCode, OrchestratorError } from '../shared/errors.js';
import {
  BUNDLE_BUDGETS,
  DEFAULT_BUNDLE_BUDGET_BYTES,
  checkBundleInputs,
  checkBundleSize,
  checkBundleText,
  formatSizeTable,
  parseFixtureSecrets,
  type BundleViolation,
  type SizeRow,
} from './build-checks.js';
import { measureColdStarts } from './cold-start.js';
import { buildSideFiles, disabledDebugPlugin, lazyPackagesPlugin } from './lazy-packages.js';

/** Options of one build. Paths may be relative to `absWorkingDir`. */
export interface BuildFunctionsOptions {
  /** Where `<fn>/index.js` goes (default `dist`). */
  outDir?: string;
  /** Where the `<fn>/index.ts` folders are (default `functions`). */
  functionsDir?: string;
  /** Per-function budgets in bytes for index.js; others get DEFAULT_BUNDLE_BUDGET_BYTES. */
  budgets?: Readonly<Record<string, number>>;
  /** Root for relative paths and metafile input names (default: the current directory). */
  absWorkingDir?: string;
  /** Strings that must not appear in any output; default: `test/fixtures/secrets.txt` under the root. */
  fixtureSecrets?: readonly string[];
}

/** What was built for one function. */
export interface BuiltBundle extends SizeRow {
  outFile: string;
  /** esbuild metafile input paths, relative to the root (index.js and its side files). */
  inputs: string[];
  /** Side files beside index.js, required on first use (scripts/lazy-packages.ts). */
  sideFiles: { file: string; package: string; bytes: number }[];
}

/** Result of a build: every bundle and every violation (empty when the build is acceptable). */
export interface BuildReport {
  bundles: BuiltBundle[];
  violations: BundleViolation[];
  ok: boolean;
}

/** Names of the function folders (those with an index.ts), sorted. */
export function listFunctions(functionsDir: string): string[] {
  if (!existsSync(functionsDir)) return [];
  return readdirSync(functionsDir, { withFileTypes: true })
    .filter((d) => d.isDirectory() && existsSync(join(functionsDir, d.name, 'index.ts')))
    .map((d) => d.name)
    .sort();
}

function defaultFixtureSecrets(root: string): string[] {
  const file = join(root, 'test', 'fixtures', 'secrets.txt');
  return existsSync(file) ? parseFixtureSecrets(readFileSync(file, 'utf8')) : [];
}

/** Bundles every function folder and runs the bundle checks; throws only when there is nothing to build. */
export async function buildFunctions(options: BuildFunctionsOptions = {}): Promise<BuildReport> {
  const root = resolve(options.absWorkingDir ?? process.cwd());
  const functionsDir = resolve(root, options.functionsDir ?? 'functions');
  const outDir = resolve(root, options.outDir ?? 'dist');
  const budgets = options.budgets ?? BUNDLE_BUDGETS;
  const secrets = options.fixtureSecrets ?? defaultFixtureSecrets(root);

  const names = listFunctions(functionsDir);
  if (names.length === 0) {
    throw new OrchestratorError(
      ErrorCode.InvalidInput,
      `no functions to build: ${relative(root, functionsDir) || '.'} has no <function>/index.ts folders`,
      { details: { field: 'functionsDir' } },
    );
  }

  const bundles: BuiltBundle[] = [];
  const violations: BundleViolation[] = [];
  for (const fn of names) {
    const fnOut = join(outDir, fn);
    rmSync(fnOut, { recursive: true, force: true });
    const output = {
      absWorkingDir: root,
      platform: 'node',
      target: 'node20',
      format: 'cjs',
      sourcemap: true,
      sourcesContent: false,
      minify: false,
      legalComments: 'linked',
      define: { 'process.env.NODE_ENV': '"production"' },
      logLevel: 'silent',
    } as const;
    const lazy = lazyPackagesPlugin();
    const result = await build({
      ...output,
      entryPoints: { index: join(functionsDir, fn, 'index.ts') },
      outdir: fnOut,
      bundle: true,
      metafile: true,
      plugins: [lazy.plugin, disabledDebugPlugin()],
    });
    const side = lazy.sideFiles();
    const sideMetafiles = await buildSideFiles(side, fnOut, output);
    const outFile = join(fnOut, 'index.js');
    const inputs = [...Object.keys(result.metafile.inputs), ...sideMetafiles.flatMap((m) => Object.keys(m.inputs))];
    const bytes = statSync(outFile).size;
    const sideFiles = side.map((f) => ({
      file: f.file,
      package: f.package,
      bytes: statSync(join(fnOut, f.file)).size,
    }));
    const mapFile = `${outFile}.map`;
    const mapBytes = existsSync(mapFile) ? statSync(mapFile).size : 0;
    const budgetBytes = budgets[fn] ?? DEFAULT_BUNDLE_BUDGET_BYTES;

    violations.push(...checkBundleInputs(fn, inputs), ...checkBundleSize(fn, bytes, budgetBytes));
    for (const written of [result.metafile, ...sideMetafiles].flatMap((m) => Object.keys(m.outputs))) {
      const path = resolve(root, written);
      violations.push(...checkBundleText(fn, relative(root, path), readFileSync(path, 'utf8'), secrets));
    }
    bundles.push({ fn, outFile, inputs, bytes, mapBytes, budgetBytes, sideFiles });
  }
  return { bundles, violations, ok: violations.length === 0 };
}

async function main(): Promise<number> {
  try {
    const report = await buildFunctions();
    // Cold start: median `require` of each bundle over bare `node -e 0`, interleaved runs
    // (BUILD_COLD_START_RUNS=0 skips it).
    const runs = Number(process.env['BUILD_COLD_START_RUNS'] ?? '7');
    if (report.ok && Number.isInteger(runs) && runs > 0) {
      const cold = measureColdStarts(
        report.bundles.map((b) => b.outFile),
        runs,
      );
      cold.bundles.forEach((c, i) => {
        report.bundles[i]!.coldStartOverheadMs = Math.max(0, c.overheadMs);
        report.bundles[i]!.coldStartRequireMs = c.requireMs;
      });
      process.stdout.write(`${formatSizeTable(report.bundles)}\n`);
      process.stdout.write(
        `cold start: node -e "require(index.js)" over bare node -e 0 (${cold.bareMs.toFixed(0)} ms), `,
      );
      process.stdout.write(`and the require call itself timed inside; medians of ${cold.runs} interleaved runs\n`);
    } else {
      process.stdout.write(`${formatSizeTable(report.bundles)}\n`);
    }
    for (const v of report.violations) process.stderr.write(`build: ${v.fn}: ${v.kind}: ${v.detail}\n`);
    if (!report.ok) process.stderr.write(`build: FAILED with ${report.violations.length} violation(s)\n`);
    return report.ok ? 0 : 1;
  } catch (err) {
    process.stderr.write(`build: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
}

const invokedDirectly = process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (invokedDirectly) {
  void main().then((code) => {
    process.exitCode = code;
  });
}
