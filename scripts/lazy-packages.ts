/**
 * Packages a function bundle carries but needs rarely or never, kept out of `index.js`: each goes to
 * a side file beside it (`lazy-<name>@<version>.js`, bundled with its own dependencies) and
 * `index.js` gets a stub in its place whose exports are getters that `require` the side file on
 * first use. Code in a side file is neither parsed nor run at a cold start, unless it is used.
 *
 * Why these three (measured with `npm run bench` / `npm run build`, cold-start column):
 * - `sm-crypto-v2` (with @noble/curves, @noble/hashes, @noble/ciphers, ~165 KiB): SM2 wrapping, only
 *   when an SM2 wrapping algorithm is configured (shared/wrap/sm2.ts requires it on first use).
 * - `xml2js` (with sax and xmlbuilder, ~220 KiB; two versions in the tree): XML response bodies,
 *   required at load by `@alicloud/tea-xml` and `@alicloud/rpc-util` but used only for an XML
 *   answer; KMS and FC answer JSON (docs/kms-api.md §2).
 * - `@alicloud/credentials` (~120 KiB and ~8 ms of module code): required at load by both SDK
 *   clients, used only when a client is given an access key instead of a credential object; the
 *   product always hands them one (shared/kms/static-credential.ts), so a function never loads it.
 *
 * Nothing changes for code that uses them: the stub has every export name the package has (read from
 * the package at build time), `__esModule` where the package sets it, and each read goes to the real
 * module. A package whose exports are a function cannot be stubbed this way and fails the build.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { type BuildOptions, type Plugin, build } from 'esbuild';

/** The packages kept in side files, and why a function rarely needs them. */
export const LAZY_PACKAGES: readonly { name: string; why: string }[] = [
  { name: 'sm-crypto-v2', why: 'SM2 wrapping: only when an SM2 wrapping algorithm is configured' },
  { name: 'xml2js', why: 'XML response bodies: KMS and FC answer JSON' },
  { name: '@alicloud/credentials', why: 'credential providers: the SDK clients are handed a static credential' },
];

/** One side file of a bundle. */
export interface SideFile {
  /** Package name and version, e.g. `xml2js@0.4.23`. */
  package: string;
  /** File name beside index.js. */
  file: string;
  /** Absolute path of the package's entry file it was built from. */
  entry: string;
}

const NAMESPACE = 'byok-lazy-stub';

/** The package directory and version of a resolved entry file (walks up to its package.json with that name). */
function packageOf(entry: string, name: string): { dir: string; version: string } {
  let dir = dirname(entry);
  for (;;) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === name) return { dir, version: pkg.version ?? '0.0.0' };
    } catch {
      // no package.json here: keep walking
    }
    const up = dirname(dir);
    if (up === dir) throw new Error(`lazy package ${name}: no package.json above ${entry}`);
    dir = up;
  }
}

/** The stub's source: getters over the side file's exports. */
export function stubSource(sideFile: string, exportNames: readonly string[], esModule: boolean): string {
  const props = exportNames.map(
    (k) => `  ${JSON.stringify(k)}: { enumerable: true, get: () => load()[${JSON.stringify(k)}] },`,
  );
  return [
    `// ${sideFile}, loaded on first use (scripts/lazy-packages.ts).`,
    'let loaded;',
    `const load = () => (loaded ??= require(${JSON.stringify(`./${sideFile}`)}));`,
    'module.exports = Object.defineProperties({}, {',
    ...(esModule ? ['  __esModule: { value: true },'] : []),
    ...props,
    '});',
    '',
  ].join('\n');
}

/**
 * An esbuild plugin that replaces the lazy packages with stubs, and collects the side files to build
 * (call `buildSideFiles` after the main build).
 */
export function lazyPackagesPlugin(names: readonly string[] = LAZY_PACKAGES.map((p) => p.name)): {
  plugin: Plugin;
  sideFiles: () => SideFile[];
} {
  const byEntry = new Map<string, SideFile>();
  const plugin: Plugin = {
    name: 'byok-lazy-packages',
    setup(b) {
      b.onResolve({ filter: /.*/ }, async (args) => {
        if (args.namespace === NAMESPACE) {
          return args.path.startsWith('./lazy-') ? { path: args.path, external: true } : undefined;
        }
        if (!names.includes(args.path) || args.pluginData === NAMESPACE) return undefined;
        // Where the importer's own resolution leads: nested copies of a package stay apart.
        const real = await b.resolve(args.path, {
          resolveDir: args.resolveDir,
          kind: args.kind,
          importer: args.importer,
          pluginData: NAMESPACE,
        });
        if (real.errors.length > 0 || real.external) return undefined;
        let side = byEntry.get(real.path);
        if (!side) {
          const { version } = packageOf(real.path, args.path);
          const pkg = `${args.path}@${version}`;
          side = { package: pkg, file: `lazy-${pkg.replace(/^@/, '').replace(/\//g, '-')}.js`, entry: real.path };
          byEntry.set(real.path, side);
        }
        return { path: real.path, namespace: NAMESPACE, pluginData: side };
      });
      b.onLoad({ filter: /.*/, namespace: NAMESPACE }, (args) => {
        const side = args.pluginData as SideFile;
        const real = createRequire(side.entry)(side.entry) as unknown;
        if (typeof real !== 'object' || real === null) {
          return { errors: [{ text: `lazy package ${side.package}: its exports are not a plain object` }] };
        }
        const names = Object.getOwnPropertyNames(real).filter((k) => k !== '__esModule');
        const esModule = (real as { __esModule?: unknown }).__esModule === true;
        return { contents: stubSource(side.file, names, esModule), loader: 'js', resolveDir: dirname(side.entry) };
      });
    },
  };
  return { plugin, sideFiles: () => [...byEntry.values()].sort((a, b) => a.file.localeCompare(b.file)) };
}

/** Builds each side file into `outDir` with the main build's output options; returns the metafiles. */
export async function buildSideFiles(
  sideFiles: readonly SideFile[],
  outDir: string,
  options: Pick<BuildOptions, 'absWorkingDir' | 'platform' | 'target' | 'format' | 'sourcemap' | 'define'> &
    Pick<BuildOptions, 'sourcesContent' | 'minify' | 'legalComments' | 'logLevel'>,
): Promise<NonNullable<Awaited<ReturnType<typeof build>>['metafile']>[]> {
  const metafiles = [];
  for (const side of sideFiles) {
    const result = await build({
      ...options,
      stdin: { contents: `module.exports = require(${JSON.stringify(side.entry)});\n`, resolveDir: outDir },
      outfile: join(outDir, side.file),
      bundle: true,
      metafile: true,
      plugins: [disabledDebugPlugin()],
    });
    metafiles.push(result.metafile);
  }
  return metafiles;
}

/**
 * `debug`, as httpx (under both SDK clients) uses it: `require('debug')('httpx:header')`, then
 * `if (d.enabled) d(...)`. In a function bundle it is replaced by a logger that is never enabled:
 * with `DEBUG=httpx:*` the real one writes every request's headers to stderr, i.e. the request
 * signature and the STS security token, and the product's rule is that no secret reaches a log.
 * (It also spares a cold start the package's terminal and colour probing.)
 */
export const DISABLED_DEBUG_SOURCE = [
  '// debug, never enabled in a function bundle (scripts/lazy-packages.ts: no request headers in logs).',
  'const off = () => undefined;',
  'const createDebug = () => Object.assign(() => undefined, { enabled: false, extend: createDebug, log: off });',
  'module.exports = Object.assign(createDebug, { enable: off, disable: () => "", enabled: () => false });',
  '',
].join('\n');

/** An esbuild plugin that bundles DISABLED_DEBUG_SOURCE in place of every `debug` import. */
export function disabledDebugPlugin(): Plugin {
  return {
    name: 'byok-disabled-debug',
    setup(b) {
      b.onResolve({ filter: /^debug$/ }, () => ({ path: 'debug', namespace: 'byok-disabled-debug' }));
      b.onLoad({ filter: /.*/, namespace: 'byok-disabled-debug' }, () => ({
        contents: DISABLED_DEBUG_SOURCE,
        loader: 'js',
      }));
    },
  };
}
