/**
 * The emulator's RSA-2048 wrapping keys come from KMS_EMULATOR_RSA_POOL_FILE when it is set (the
 * suite's global setup writes it once per run, so test processes skip their own keygens); consecutive
 * calls still get different keys, and a broken file is refused naming the variable.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';

const ENV = 'KMS_EMULATOR_RSA_POOL_FILE';
const given = process.env[ENV];
const dir = mkdtempSync(join(tmpdir(), 'emu-rsa-pool-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
afterEach(() => {
  vi.unstubAllEnvs();
});

/** A fresh copy of the module (its pool is per module instance; other files in this worker used theirs). */
const fresh = () => {
  vi.resetModules();
  return import('../../../packages/kms-emulator/src/wrapping-keys.js');
};

describe('KMS_EMULATOR_RSA_POOL_FILE', () => {
  it('is set for the test run, and the pool hands out its pairs in turn', async () => {
    expect(given).toMatch(/emulator-rsa-pool\.json$/);
    const pairs = JSON.parse(readFileSync(given as string, 'utf8')) as Array<{ publicKeyBase64: string }>;
    const { wrappingKeyPairFor } = await fresh();
    const got = [1, 2, 3].map(() => wrappingKeyPairFor('RSA_2048').publicKeyBase64);
    expect(got).toEqual([pairs[0]?.publicKeyBase64, pairs[1]?.publicKeyBase64, pairs[0]?.publicKeyBase64]);
    expect(got[0]).not.toBe(got[1]);
  });

  it('generates its own pairs when unset', async () => {
    vi.stubEnv(ENV, '');
    const pairs = JSON.parse(readFileSync(given as string, 'utf8')) as Array<{ publicKeyBase64: string }>;
    const { wrappingKeyPairFor } = await fresh();
    const own = wrappingKeyPairFor('RSA_2048').publicKeyBase64;
    expect(pairs.map((p) => p.publicKeyBase64)).not.toContain(own);
  });

  it('refuses a file that is not JSON, has one pair, or mismatched halves, naming the variable', async () => {
    const pairs = JSON.parse(readFileSync(given as string, 'utf8')) as Array<Record<string, string>>;
    const [a, b] = pairs as [Record<string, string>, Record<string, string>];
    const cases: Array<[string, string, RegExp]> = [
      ['not-json', '{', /KMS_EMULATOR_RSA_POOL_FILE \(.*not-json\): not a readable JSON file/],
      ['one', JSON.stringify([a]), /must be an array of at least two key pairs/],
      ['swapped', JSON.stringify([a, { ...b, pkcs8DerBase64: a['pkcs8DerBase64'] }]), /\[1\] is not a matching/],
      ['missing', JSON.stringify([a, { publicKeyBase64: 'x' }]), /\[1\] needs publicKeyBase64 and pkcs8DerBase64/],
    ];
    for (const [name, text, message] of cases) {
      const file = join(dir, name);
      writeFileSync(file, text);
      vi.stubEnv(ENV, file);
      const { wrappingKeyPairFor } = await fresh();
      expect(() => wrappingKeyPairFor('RSA_2048'), name).toThrow(message);
    }
  });
});
