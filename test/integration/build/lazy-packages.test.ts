/**
 * scripts/lazy-packages.ts on real packages of this repository: a bundle that imports them loads none
 * of their side files at `require`, each works through its stub on first use, and `debug` stays off
 * whatever DEBUG says. The bundles run in a child node from a folder with no node_modules.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildSideFiles, disabledDebugPlugin, lazyPackagesPlugin } from '../../../scripts/lazy-packages.js';

const ROOT = resolve(import.meta.dirname, '..', '..', '..');
const OUTPUT = { absWorkingDir: ROOT, platform: 'node', target: 'node20', format: 'cjs', logLevel: 'silent' } as const;

// The entry exports functions that use each package only when called.
const ENTRY = `
import Credential, { Config } from '@alicloud/credentials';
import { parseString } from 'xml2js';
import createDebug from 'debug';
exports.sm3 = (text) => require('sm-crypto-v2').sm3(text);
exports.xml = (text) => new Promise((ok, fail) => parseString(text, (err, out) => (err ? fail(err) : ok(out))));
const config = () => new Config({ type: 'access_key', accessKeyId: 'a', accessKeySecret: 'b' });
exports.credentialType = () => new Credential(config()).getType();
exports.debugEnabled = () => createDebug('httpx:header').enabled;
`;

let out = '';
let sideFiles: string[] = [];

beforeAll(async () => {
  out = mkdtempSync(join(tmpdir(), 'byok-lazy-'));
  const lazy = lazyPackagesPlugin();
  await build({
    ...OUTPUT,
    stdin: { contents: ENTRY, resolveDir: ROOT, loader: 'ts' },
    outfile: join(out, 'index.js'),
    bundle: true,
    plugins: [lazy.plugin, disabledDebugPlugin()],
  });
  await buildSideFiles(lazy.sideFiles(), out, OUTPUT);
  sideFiles = lazy.sideFiles().map((f) => f.file);
}, 60_000);

afterAll(() => {
  if (out) rmSync(out, { recursive: true, force: true });
});

/** Runs `code` in a child node with the bundle as `b`; prints JSON of the lazy files it has loaded. */
function child(code: string): { loaded: string[]; value: unknown } {
  const script = `
    const b = require(${JSON.stringify(join(out, 'index.js'))});
    Promise.resolve((async () => { ${code} })()).then((value) => {
      const names = Object.keys(require.cache).map((f) => f.split('/').pop());
      const loaded = names.filter((f) => f.startsWith('lazy-')).sort();
      process.stdout.write(JSON.stringify({ loaded, value }));
    });`;
  const run = spawnSync(process.execPath, ['-e', script], {
    cwd: out,
    encoding: 'utf8',
    env: { ...process.env, DEBUG: '*' },
  });
  if (run.status !== 0) throw new Error(run.stderr);
  return JSON.parse(run.stdout) as { loaded: string[]; value: unknown };
}

describe('lazy packages in a bundle', () => {
  it('writes one side file per package copy, named by package and version', () => {
    expect(sideFiles.map((f) => f.replace(/@[\d.]+\.js$/, ''))).toEqual([
      'lazy-alicloud-credentials',
      'lazy-sm-crypto-v2',
      'lazy-xml2js',
    ]);
    expect(sideFiles.every((f) => existsSync(join(out, f)))).toBe(true);
  });

  it('loads no side file when the bundle is required', () => {
    expect(child('return Object.keys(b).sort();')).toEqual({
      loaded: [],
      value: ['credentialType', 'debugEnabled', 'sm3', 'xml'],
    });
  });

  it('loads a package on first use, through its stub, and only that one', () => {
    // The GB/T 32905 example: SM3("abc").
    expect(child(`return b.sm3('abc');`)).toEqual({
      loaded: [sideFiles[1]],
      value: '66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0',
    });
    expect(child(`return b.xml('<a><b>1</b></a>');`)).toEqual({ loaded: [sideFiles[2]], value: { a: { b: ['1'] } } });
    expect(child('return b.credentialType();')).toEqual({ loaded: [sideFiles[0]], value: 'access_key' });
  });

  it('keeps debug off even with DEBUG=*', () => {
    expect(child('return b.debugEnabled();').value).toBe(false);
  });

  it('refuses a package whose exports are a function (a stub of getters cannot stand in for it)', async () => {
    const lazy = lazyPackagesPlugin(['debug']);
    const failed = build({
      ...OUTPUT,
      stdin: { contents: `module.exports = require('debug');`, resolveDir: ROOT },
      outfile: join(out, 'refused', 'index.js'),
      bundle: true,
      plugins: [lazy.plugin],
    });
    await expect(failed).rejects.toThrow(/lazy package debug@[\d.]+: its exports are not a plain object/);
    expect(existsSync(join(out, 'refused')) ? readdirSync(join(out, 'refused')) : []).toEqual([]);
  });
});
