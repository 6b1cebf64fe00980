import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildFunctions, listFunctions, type BuildReport } from '../../../scripts/build.js';
import { ErrorCode } from '../../../shared/errors.js';

const require = createRequire(import.meta.url);
const tmpRoots: string[] = [];

/** A throw-away project: shared/greet.ts plus one index.ts per function, written under a temp dir. */
function project(functions: Record<string, string>, extra: Record<string, string> = {}): string {
  const root = mkdtempSync(join(tmpdir(), 'byok-build-'));
  tmpRoots.push(root);
  const files: Record<string, string> = {
    'shared/greet.ts': `export function greet(name: string): string { return \`hello \${name}\`; }\n`,
    ...Object.fromEntries(Object.entries(functions).map(([fn, body]) => [`functions/${fn}/index.ts`, body])),
    ...extra,
  };
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(join(root, path, '..'), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  return root;
}

const HANDLER_A = `import { greet } from '../../shared/greet.js';
export const handler = async (event: Buffer): Promise<string> => greet(event.toString());
`;
const HANDLER_B = `import { greet } from '../../shared/greet.js';
export async function handler(): Promise<{ ok: boolean; text: string }> { return { ok: true, text: greet('b') }; }
`;

afterAll(() => {
  for (const root of tmpRoots) rmSync(root, { recursive: true, force: true });
});

describe('buildFunctions on a two-function project', () => {
  let root = '';
  let report: BuildReport;

  beforeAll(async () => {
    root = project({ a: HANDLER_A, b: HANDLER_B });
    report = await buildFunctions({
      absWorkingDir: root,
      outDir: 'dist',
      functionsDir: 'functions',
      budgets: {},
      fixtureSecrets: [],
    });
  });

  it('builds one bundle per function folder, in name order', () => {
    expect(report.bundles.map((b) => b.fn)).toEqual(['a', 'b']);
  });

  it('reports no violation for clean code within budget', () => {
    expect([report.ok, report.violations]).toEqual([true, []]);
  });

  it('writes dist/<fn>/index.js with a linked source map and no source text in the map', () => {
    const js = readFileSync(join(root, 'dist/a/index.js'), 'utf8');
    const map = JSON.parse(readFileSync(join(root, 'dist/a/index.js.map'), 'utf8')) as {
      sourcesContent?: unknown;
      sources: string[];
    };
    expect([
      js.trimEnd().endsWith('//# sourceMappingURL=index.js.map'),
      map.sourcesContent,
      [...map.sources].sort(),
    ]).toEqual([true, undefined, ['../../functions/a/index.ts', '../../shared/greet.ts']]);
  });

  it('emits CommonJS: module.exports, no ESM export statement', () => {
    const js = readFileSync(join(root, 'dist/b/index.js'), 'utf8');
    expect([js.includes('module.exports = __toCommonJS('), /^export /m.test(js)]).toEqual([true, false]);
  });

  it('records the shared module among the metafile inputs', () => {
    expect(report.bundles.find((b) => b.fn === 'a')?.inputs.sort()).toEqual([
      'functions/a/index.ts',
      'shared/greet.ts',
    ]);
  });

  it('loads with require from an empty directory without node_modules and exports handler', async () => {
    const lonely = mkdtempSync(join(tmpdir(), 'byok-lonely-'));
    tmpRoots.push(lonely);
    copyFileSync(join(root, 'dist/a/index.js'), join(lonely, 'index.js'));
    const mod = require(join(lonely, 'index.js')) as { handler: (event: Buffer) => Promise<string> };
    expect(await mod.handler(Buffer.from('fc'))).toBe('hello fc');
  });

  it('gives the second function its own working bundle', async () => {
    const mod = require(join(root, 'dist/b/index.js')) as { handler: () => Promise<unknown> };
    expect(await mod.handler()).toEqual({ ok: true, text: 'hello b' });
  });

  it('measures the bundle size it checks against the budget', () => {
    const a = report.bundles.find((b) => b.fn === 'a');
    expect(a?.bytes).toBe(readFileSync(join(root, 'dist/a/index.js')).length);
  });
});

describe('buildFunctions failures', () => {
  it('fails a bundle over a 1-byte budget', async () => {
    const root = project({ a: HANDLER_A });
    const report = await buildFunctions({ absWorkingDir: root, budgets: { a: 1 }, fixtureSecrets: [] });
    expect([report.ok, report.violations.map((v) => [v.fn, v.kind])]).toEqual([false, [['a', 'over-budget']]]);
  });

  it('fails a bundle that imports test code', async () => {
    const root = project(
      { a: `import { FIXTURE } from '../../test/fixtures/data.js';\nexport const handler = async () => FIXTURE;\n` },
      { 'test/fixtures/data.ts': `export const FIXTURE = 'fixture-value';\n` },
    );
    const report = await buildFunctions({ absWorkingDir: root, budgets: {}, fixtureSecrets: [] });
    expect(report.violations.map((v) => v.detail)).toEqual(['test/fixtures/data.ts (test code)']);
  });

  it('fails a bundle that contains a fixture secret', async () => {
    const root = project({ a: `export const handler = async () => 'whsec-test-5f1c9a7e2b4d8c0e';\n` });
    const report = await buildFunctions({
      absWorkingDir: root,
      budgets: {},
      fixtureSecrets: ['whsec-test-5f1c9a7e2b4d8c0e'],
    });
    expect(report.violations.map((v) => [v.kind, v.detail])).toEqual([
      ['fixture-secret', 'dist/a/index.js contains fixture secret #1 of secrets.txt'],
    ]);
  });

  it('reads the fixture secrets from test/fixtures/secrets.txt by default', async () => {
    const root = project(
      { a: `export const handler = async () => 'project-fixture-secret';\n` },
      { 'test/fixtures/secrets.txt': '# fixed test secrets\nproject-fixture-secret\n' },
    );
    const report = await buildFunctions({ absWorkingDir: root, budgets: {} });
    expect(report.violations.map((v) => v.kind)).toEqual(['fixture-secret']);
  });

  it('throws InvalidInput when there is no function folder', async () => {
    const root = project({});
    await expect(buildFunctions({ absWorkingDir: root })).rejects.toMatchObject({ code: ErrorCode.InvalidInput });
  });

  it('ignores folders without an index.ts', () => {
    const root = project({ a: HANDLER_A }, { 'functions/notes/README.md': 'not a function\n' });
    expect(listFunctions(join(root, 'functions'))).toEqual(['a']);
  });

  it('removes stale files from a previous build of the function', async () => {
    const root = project({ a: HANDLER_A }, { 'dist/a/stale.js': 'old\n' });
    await buildFunctions({ absWorkingDir: root, budgets: {}, fixtureSecrets: [] });
    expect(existsSync(join(root, 'dist/a/stale.js'))).toBe(false);
  });
});
