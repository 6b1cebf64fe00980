/**
 * Vitest global setup (once per `vitest run`, in the main process, before the test workers start):
 * a run dir (BYOK_TEST_RUN_DIR) the workers share, removed when the run ends, holding
 * - the KMS emulator's two RSA-2048 wrapping key pairs, generated once and named in
 *   KMS_EMULATOR_RSA_POOL_FILE (packages/kms-emulator/src/wrapping-keys.ts), which the workers and the
 *   processes they spawn inherit. Without it every test process with an emulator paid two RSA-2048
 *   keygens (0.2-0.7 s each on a 2-core machine). The pairs still come from Node's keygen (a CSPRNG),
 *   fresh for every run; consecutive GetParametersForImport calls in one process still get different keys;
 * - the function bundles, built once by the first file that needs them (local-stack.ts sharedBuild).
 */
import { generateKeyPair } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

/** The run dir's variable. */
export const RUN_DIR_ENV = 'BYOK_TEST_RUN_DIR';
const POOL_ENV = 'KMS_EMULATOR_RSA_POOL_FILE';

async function rsa2048Pair(): Promise<{ publicKeyBase64: string; pkcs8DerBase64: string }> {
  const { publicKey, privateKey } = await promisify(generateKeyPair)('rsa', {
    modulusLength: 2048,
    publicExponent: 0x10001,
  });
  return {
    publicKeyBase64: publicKey.export({ format: 'der', type: 'spki' }).toString('base64'),
    pkcs8DerBase64: privateKey.export({ format: 'der', type: 'pkcs8' }).toString('base64'),
  };
}

export default async function setup(): Promise<() => Promise<void>> {
  const dir = await mkdtemp(join(tmpdir(), 'byok-vitest-'));
  process.env[RUN_DIR_ENV] = dir;
  // A pool file given from outside (a caller's own) wins.
  if (!process.env[POOL_ENV]) {
    const file = join(dir, 'emulator-rsa-pool.json');
    await writeFile(file, JSON.stringify(await Promise.all([rsa2048Pair(), rsa2048Pair()])), { mode: 0o600 });
    process.env[POOL_ENV] = file;
  }
  return async () => {
    await rm(dir, { recursive: true, force: true });
  };
}
