/**
 * Shared set-up for the local FC host tests: fixture bundles built with esbuild (CommonJS,
 * node20, as the real build does) into a temp dir, fake credentials, and a host factory.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { startFcHost } from '@byok/fc-local-host';
import type { FcHost, FcHostOptions, FunctionSpec, StsCredentials } from '@byok/fc-local-host';

const FIXTURES = fileURLToPath(new URL('../../fixtures/fc-host/', import.meta.url));

/** The fixture functions, by bundle name. */
export const FIXTURE_NAMES = ['echo', 'fail', 'slow', 'http'] as const;

/** Builds every fixture into `<dir>/<name>/index.js`; returns the dir and a cleanup. */
export async function buildFixtures(): Promise<{ distDir: string; cleanup: () => void }> {
  const distDir = mkdtempSync(join(tmpdir(), 'fc-host-fixtures-'));
  await Promise.all(
    FIXTURE_NAMES.map((name) =>
      build({
        entryPoints: [join(FIXTURES, `${name}.ts`)],
        outfile: join(distDir, name, 'index.js'),
        bundle: true,
        platform: 'node',
        target: 'node20',
        format: 'cjs',
        logLevel: 'silent',
      }),
    ),
  );
  return { distDir, cleanup: () => rmSync(distDir, { recursive: true, force: true }) };
}

/** Path of the fixture s.yaml. */
export const FIXTURE_S_YAML = join(FIXTURES, 's.yaml');

/** The account and region every test host uses. */
export const ACCOUNT_ID = '1234567890123456';
export const REGION = 'cn-hangzhou';

/** A caller allowed to invoke (STS-style, so @alicloud/fc2 sends its token). */
export const INVOKER = {
  accessKeyId: 'STS.invoker-ak',
  accessKeySecret: 'invoker-secret-0123456789',
  securityToken: 'invoker-token-abcdef',
};
/** A caller with a long-term AK (no token). */
export const PLAIN_INVOKER = { accessKeyId: 'LTAI-plain-ak', accessKeySecret: 'plain-secret-9876543210' };

/** STS credentials the functions get in context.credentials; `rotate()` changes them. */
export function fakeStsCredentials(): { get: () => StsCredentials; rotate: () => void } {
  let generation = 1;
  const make = (): StsCredentials => ({
    accessKeyId: `STS.fn-ak-${generation}`,
    accessKeySecret: `fn-secret-${generation}-xyz`,
    securityToken: `fn-token-${generation}-xyz`,
  });
  return {
    get: make,
    rotate: () => {
      generation += 1;
    },
  };
}

/** A function spec for a fixture bundle with test-friendly defaults. */
export function fixtureFunction(
  distDir: string,
  bundle: (typeof FIXTURE_NAMES)[number],
  overrides: Partial<FunctionSpec> & { name: string },
): FunctionSpec {
  return {
    bundleDir: join(distDir, bundle),
    handler: 'index.handler',
    timeoutSeconds: 5,
    memoryMB: 256,
    env: {},
    ...overrides,
  };
}

/** Starts a host on a free port with quiet logs captured in `lines`. */
export async function startTestHost(
  options: Partial<FcHostOptions> & { functions: FunctionSpec[] },
): Promise<{ host: FcHost; lines: string[] }> {
  const lines: string[] = [];
  const host = await startFcHost({
    accountId: ACCOUNT_ID,
    region: REGION,
    credentials: fakeStsCredentials().get,
    invokeCredentials: [INVOKER, PLAIN_INVOKER],
    fireTimers: false,
    log: (line) => lines.push(line),
    ...options,
  });
  return { host, lines };
}

/** Parses an ok invocation's JSON body. */
export function json(body: Buffer): Record<string, unknown> {
  return JSON.parse(body.toString('utf8')) as Record<string, unknown>;
}
