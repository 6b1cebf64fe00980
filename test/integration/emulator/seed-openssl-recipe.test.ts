/**
 * The user's source document (docs/import-key-material.md, "Use OpenSSL to encrypt key
 * material") run AS WRITTEN against the emulator's GetParametersForImport output, then imported
 * through the official SDK. The recipe's `-oaep` is OAEP with SHA-1, i.e. RSAES_OAEP_SHA_1.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startKmsEmulator, type KmsEmulator } from '@byok/kms-emulator';
import { $Kms, sdkClient } from './helpers.js';

const SOFTWARE_INSTANCE = 'kst-hzz65f176a0seed0001';
/**
 * The recipe's SDK calls send no DKMSInstanceId. On KMS 1.0 the key lands in the shared KMS; on
 * KMS 3.0 an account migrated from 1.0 has a default instance, where such a key lands (and crypto
 * works there, unlike on the region's default key).
 */
const MODELS = [
  { name: 'KMS 1.0 (shared KMS)', options: { kmsVersion: 1 as const } },
  {
    name: 'KMS 3.0 (default software instance)',
    options: {
      kmsVersion: 3 as const,
      instances: [{ id: SOFTWARE_INSTANCE, type: 'software' as const }],
      defaultInstanceId: SOFTWARE_INSTANCE,
    },
  },
];

/** The four commands of the seed document, verbatim, run in `dir` through a shell. */
const SEED_COMMANDS = [
  'openssl rand -out KeyMaterial.bin 32',
  'openssl enc -d -base64 -A -in PublicKey_base64.txt -out PublicKey.bin',
  'openssl rsautl -encrypt -in KeyMaterial.bin -oaep -inkey ' +
    'PublicKey.bin  -keyform DER  -pubin -out EncryptedKeyMaterial.bin',
  'openssl enc -e -base64 -A -in EncryptedKeyMaterial.bin -out EncryptedKeyMaterial_base64.txt',
];

describe.each(MODELS)("the seed document's OpenSSL recipe on $name", ({ options }) => {
  let emu: KmsEmulator;
  let dir: string;
  beforeAll(async () => {
    emu = await startKmsEmulator({ port: 0, ...options });
    dir = mkdtempSync(join(tmpdir(), 'seed-recipe-'));
  });
  afterAll(async () => {
    await emu?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it(
    'produces EncryptedKeyMaterial the emulator imports, ' + 'and the same material re-imports after deletion',
    async () => {
      const kms = sdkClient(emu);
      const key = await kms.createKey(new $Kms.CreateKeyRequest({ origin: 'EXTERNAL', description: 'External key' }));
      const keyId = key.keyMetadata.keyId;
      const params = await kms.getParametersForImport(
        new $Kms.GetParametersForImportRequest({
          keyId,
          wrappingAlgorithm: 'RSAES_OAEP_SHA_1',
          wrappingKeySpec: 'RSA_2048',
        }),
      );
      writeFileSync(join(dir, 'PublicKey_base64.txt'), params.publicKey);
      for (const cmd of SEED_COMMANDS) execFileSync('sh', ['-c', cmd], { cwd: dir, stdio: 'pipe' });
      const encryptedKeyMaterial = readFileSync(join(dir, 'EncryptedKeyMaterial_base64.txt'), 'utf8');

      await kms.importKeyMaterial(
        new $Kms.ImportKeyMaterialRequest({
          keyId,
          encryptedKeyMaterial,
          importToken: params.importToken,
          keyMaterialExpireUnix: 0,
        }),
      );
      expect((await kms.describeKey(new $Kms.DescribeKeyRequest({ keyId }))).keyMetadata.keyState).toBe('Enabled');
      const plaintext = Buffer.from('hello byok').toString('base64');
      const enc = await kms.encrypt(new $Kms.EncryptRequest({ keyId, plaintext }));

      // The same wrapped material (the token is reusable for 24 h) restores the key after deletion.
      await kms.deleteKeyMaterial(new $Kms.DeleteKeyMaterialRequest({ keyId }));
      await kms.importKeyMaterial(
        new $Kms.ImportKeyMaterialRequest({
          keyId,
          encryptedKeyMaterial,
          importToken: params.importToken,
          keyMaterialExpireUnix: 0,
        }),
      );
      expect((await kms.decrypt(new $Kms.DecryptRequest({ ciphertextBlob: enc.ciphertextBlob }))).plaintext).toBe(
        plaintext,
      );
    },
  );
});
