import { createPublicKey, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startKmsEmulator } from '@byok/kms-emulator';
import { systemRandom } from '../../../shared/system.js';
import { wrapKeyMaterial } from '../../../shared/wrap/index.js';
import type { KmsEmulator } from '@byok/kms-emulator';
import { $Kms, expectKmsError, importInto, sdkClient, wrapMaterial } from './helpers.js';
import type Client from '@alicloud/kms20160120';

let emu: KmsEmulator;
let kms: Client;

beforeAll(async () => {
  emu = await startKmsEmulator({ kmsVersion: 1, port: 0 });
  kms = sdkClient(emu);
});
afterAll(() => emu.close());

const newExternalKey = async (fields: Record<string, unknown> = {}): Promise<string> =>
  (await kms.createKey(new $Kms.CreateKeyRequest({ origin: 'EXTERNAL', ...fields }))).keyMetadata.keyId;
const params = (keyId: string, wrappingAlgorithm = 'RSAES_OAEP_SHA_256', wrappingKeySpec = 'RSA_2048') =>
  kms.getParametersForImport(new $Kms.GetParametersForImportRequest({ keyId, wrappingAlgorithm, wrappingKeySpec }));
const importMaterial = (keyId: string, importToken: string, encryptedKeyMaterial: string, keyMaterialExpireUnix = 0) =>
  kms.importKeyMaterial(
    new $Kms.ImportKeyMaterialRequest({ keyId, importToken, encryptedKeyMaterial, keyMaterialExpireUnix }),
  );
const describe_ = async (keyId: string) => (await kms.describeKey(new $Kms.DescribeKeyRequest({ keyId }))).keyMetadata;
const encrypt = (keyId: string, plaintext: string) => kms.encrypt(new $Kms.EncryptRequest({ keyId, plaintext }));
const decrypt = (ciphertextBlob: string) => kms.decrypt(new $Kms.DecryptRequest({ ciphertextBlob }));
const deleteMaterial = (keyId: string) => kms.deleteKeyMaterial(new $Kms.DeleteKeyMaterialRequest({ keyId }));

describe('GetParametersForImport', () => {
  it('returns a DER SPKI RSA-2048 public key and a token valid 24 h, fresh on every call', async () => {
    const keyId = await newExternalKey();
    const before = emu.clock.nowUnix();
    const res = await params(keyId);
    const again = await params(keyId);
    expect(again.publicKey).not.toBe(res.publicKey);
    expect(again.importToken).not.toBe(res.importToken);
    expect(res.keyId).toBe(keyId);
    const pub = createPublicKey({ key: Buffer.from(res.publicKey, 'base64'), format: 'der', type: 'spki' });
    expect(pub.asymmetricKeyDetails?.modulusLength).toBe(2048);
    expect(res.importToken.length).toBeGreaterThan(64);
    const expires = Date.parse(res.tokenExpireTime) / 1000;
    expect(expires - before).toBeGreaterThanOrEqual(86_400);
    expect(expires - before).toBeLessThanOrEqual(86_402);
  });

  it('refuses a non-EXTERNAL key with Unsupported.Origin', async () => {
    const keyId = (await kms.createKey(new $Kms.CreateKeyRequest({}))).keyMetadata.keyId;
    await expectKmsError(params(keyId), 'Unsupported.Origin', 400);
  });

  it('refuses an algorithm that does not fit the spec, and EC_SM2 for SOFTWARE keys', async () => {
    const keyId = await newExternalKey();
    await expectKmsError(params(keyId, 'SM2PKE', 'RSA_2048'), 'InvalidParameter', 400);
    await expectKmsError(params(keyId, 'RSAES_OAEP_SHA_256', 'RSA_4096'), 'InvalidParameter', 400);
    await expectKmsError(params(keyId, 'SM2PKE', 'EC_SM2'), 'InvalidParameter', 400);
  });

  it('issues an SM2 key for HSM keys and really unwraps SM2PKE (client side: shared/wrap)', async () => {
    const keyId = await newExternalKey({ protectionLevel: 'HSM', keySpec: 'Aliyun_SM4' });
    const res = await params(keyId, 'SM2PKE', 'EC_SM2');
    const wrap = (material: Buffer) =>
      wrapKeyMaterial(
        {
          material,
          keySpec: 'Aliyun_SM4',
          publicKeyBase64: res.publicKey,
          wrappingAlgorithm: 'SM2PKE',
          wrappingKeySpec: 'EC_SM2',
        },
        systemRandom,
      );
    const material = randomBytes(16);
    await importMaterial(keyId, res.importToken, wrap(material));
    expect((await describe_(keyId)).keyState).toBe('Enabled');
    await importMaterial(keyId, res.importToken, wrap(material)); // same material again: fine
    await expectKmsError(importMaterial(keyId, res.importToken, wrap(randomBytes(16))), 'InvalidKeyMaterial', 400);
  });

  it('is allowed while PendingDeletion (ImportKeyMaterial is not)', async () => {
    const keyId = await newExternalKey();
    await kms.scheduleKeyDeletion(new $Kms.ScheduleKeyDeletionRequest({ keyId, pendingWindowInDays: 7 }));
    const p = await params(keyId);
    await expectKmsError(
      importMaterial(keyId, p.importToken, wrapMaterial(p.publicKey, randomBytes(32))),
      'Rejected.StateModifiedFailed',
      409,
    );
  });
});

describe('the EXTERNAL key lifecycle', () => {
  it(
    'import -> encrypt -> delete material -> decrypt refused ' + '-> same material again -> old ciphertext decrypts',
    async () => {
      const keyId = await newExternalKey();
      const material = randomBytes(32);
      const p = await params(keyId);
      const expiry = emu.clock.nowUnix() + 30 * 86_400;
      await importMaterial(keyId, p.importToken, wrapMaterial(p.publicKey, material), expiry);
      const m = await describe_(keyId);
      expect(m.keyState).toBe('Enabled');
      expect(Date.parse(m.materialExpireTime) / 1000).toBe(expiry);

      const blob = (await encrypt(keyId, 'customer data')).ciphertextBlob;
      await deleteMaterial(keyId);
      expect(await describe_(keyId)).toMatchObject({ keyState: 'PendingImport', materialExpireTime: '' });
      await expectKmsError(decrypt(blob), 'Rejected.PendingImport', 409);
      await expectKmsError(encrypt(keyId, 'x'), 'Rejected.PendingImport', 409);

      // the token is reusable within its 24 h (documented); re-import the same material, never expiring
      await importMaterial(keyId, p.importToken, wrapMaterial(p.publicKey, material), 0);
      expect(await describe_(keyId)).toMatchObject({ keyState: 'Enabled', materialExpireTime: '' });
      expect((await decrypt(blob)).plaintext).toBe('customer data');
    },
  );

  it('refuses different material after the first import (InvalidKeyMaterial), even after deletion', async () => {
    const keyId = await newExternalKey();
    const p = await params(keyId);
    await importMaterial(keyId, p.importToken, wrapMaterial(p.publicKey, randomBytes(32)));
    await expectKmsError(
      importMaterial(keyId, p.importToken, wrapMaterial(p.publicKey, randomBytes(32))),
      'InvalidKeyMaterial',
      400,
    );
    await deleteMaterial(keyId);
    await expectKmsError(
      importMaterial(keyId, p.importToken, wrapMaterial(p.publicKey, randomBytes(32))),
      'InvalidKeyMaterial',
      400,
    );
    expect((await describe_(keyId)).keyState).toBe('PendingImport');
  });

  it('refuses material of the wrong length and undecryptable wrapping with InvalidKeyMaterial', async () => {
    const keyId = await newExternalKey();
    const p = await params(keyId);
    await expectKmsError(
      importMaterial(keyId, p.importToken, wrapMaterial(p.publicKey, randomBytes(16))),
      'InvalidKeyMaterial',
      400,
    );
    await expectKmsError(
      importMaterial(keyId, p.importToken, randomBytes(256).toString('base64')),
      'InvalidKeyMaterial',
      400,
    );
    await expectKmsError(importMaterial(keyId, p.importToken, 'not base64!!'), 'InvalidKeyMaterial', 400);
    // wrapped with OAEP-SHA1 while the token says OAEP-SHA256
    await expectKmsError(
      importMaterial(keyId, p.importToken, wrapMaterial(p.publicKey, randomBytes(32), 'RSAES_OAEP_SHA_1')),
      'InvalidKeyMaterial',
      400,
    );
    expect((await describe_(keyId)).keyState).toBe('PendingImport');
  });

  it('accepts 16-byte material for Aliyun_SM4 keys', async () => {
    const keyId = await newExternalKey({ keySpec: 'Aliyun_SM4' });
    await importInto(kms, keyId, randomBytes(16));
    expect((await describe_(keyId)).keyState).toBe('Enabled');
    const blob = (await encrypt(keyId, 'sm4 data')).ciphertextBlob;
    expect((await decrypt(blob)).plaintext).toBe('sm4 data');
  });

  it.each(['RSAES_OAEP_SHA_1', 'RSAES_PKCS1_V1_5'] as const)('really unwraps %s', async (algorithm) => {
    const keyId = await newExternalKey();
    const p = await params(keyId, algorithm);
    await importMaterial(keyId, p.importToken, wrapMaterial(p.publicKey, randomBytes(32), algorithm));
    expect((await describe_(keyId)).keyState).toBe('Enabled');
  });

  it("refuses another key's token with InvalidImportToken", async () => {
    const a = await newExternalKey();
    const b = await newExternalKey();
    const pa = await params(a);
    await expectKmsError(
      importMaterial(b, pa.importToken, wrapMaterial(pa.publicKey, randomBytes(32))),
      'InvalidImportToken',
      400,
    );
    await expectKmsError(
      importMaterial(b, 'bm90LWEtdG9rZW4=', wrapMaterial(pa.publicKey, randomBytes(32))),
      'InvalidImportToken',
      400,
    );
  });

  it('refuses a token older than 24 h with ExpiredImportToken', async () => {
    const keyId = await newExternalKey();
    const p = await params(keyId);
    emu.clock.advance(24 * 3600 + 1);
    await expectKmsError(
      importMaterial(keyId, p.importToken, wrapMaterial(p.publicKey, randomBytes(32))),
      'ExpiredImportToken',
      400,
    );
    expect((await describe_(keyId)).keyState).toBe('PendingImport');
  });

  it('refuses KeyMaterialExpireUnix in the past with InvalidParameter', async () => {
    const keyId = await newExternalKey();
    // parameter validation comes before the token is even looked at
    for (const past of [emu.clock.nowUnix() - 10, 1]) {
      await expectKmsError(importMaterial(keyId, 'any-token', 'AAAA', past), 'InvalidParameter', 400);
    }
  });

  it('expires material on the emulator clock: key -> PendingImport, material dropped', async () => {
    const keyId = await newExternalKey();
    const material = randomBytes(32);
    const expiry = emu.clock.nowUnix() + 3600;
    await importInto(kms, keyId, material, expiry);
    const blob = (await encrypt(keyId, 'short-lived')).ciphertextBlob;
    emu.clock.advance(3600 - 30);
    expect((await describe_(keyId)).keyState).toBe('Enabled');
    emu.clock.advance(60);
    expect(await describe_(keyId)).toMatchObject({ keyState: 'PendingImport', materialExpireTime: '' });
    await expectKmsError(decrypt(blob), 'Rejected.PendingImport', 409);
    await importInto(kms, keyId, material, emu.clock.nowUnix() + 3600);
    expect((await decrypt(blob)).plaintext).toBe('short-lived');
  });

  it('re-importing the same material resets the expiry', async () => {
    const keyId = await newExternalKey();
    const material = randomBytes(32);
    await importInto(kms, keyId, material, emu.clock.nowUnix() + 3600);
    const later = emu.clock.nowUnix() + 90 * 86_400;
    await importInto(kms, keyId, material, later);
    expect(Date.parse((await describe_(keyId)).materialExpireTime) / 1000).toBe(later);
  });

  it('DeleteKeyMaterial keeps a PendingDeletion key in PendingDeletion', async () => {
    const keyId = await newExternalKey();
    await importInto(kms, keyId, randomBytes(32));
    await kms.scheduleKeyDeletion(new $Kms.ScheduleKeyDeletionRequest({ keyId, pendingWindowInDays: 30 }));
    const deleteDate = (await describe_(keyId)).deleteDate;
    await deleteMaterial(keyId);
    expect(await describe_(keyId)).toMatchObject({ keyState: 'PendingDeletion', deleteDate });
    await kms.cancelKeyDeletion(new $Kms.CancelKeyDeletionRequest({ keyId }));
    expect((await describe_(keyId)).keyState).toBe('PendingImport');
  });

  it('DeleteKeyMaterial turns a Disabled key into PendingImport; re-import makes it Enabled (inferred)', async () => {
    const keyId = await newExternalKey();
    const material = randomBytes(32);
    await importInto(kms, keyId, material);
    await kms.disableKey(new $Kms.DisableKeyRequest({ keyId }));
    await deleteMaterial(keyId);
    expect((await describe_(keyId)).keyState).toBe('PendingImport');
    await importInto(kms, keyId, material);
    expect((await describe_(keyId)).keyState).toBe('Enabled');
  });

  it('refuses DeleteKeyMaterial on an Aliyun_KMS key with Unsupported.Origin', async () => {
    const keyId = (await kms.createKey(new $Kms.CreateKeyRequest({}))).keyMetadata.keyId;
    await expectKmsError(deleteMaterial(keyId), 'Unsupported.Origin', 400);
  });

  it('keeps two CMKs with the same material independent', async () => {
    const material = randomBytes(32);
    const a = await newExternalKey();
    const b = await newExternalKey();
    await importInto(kms, a, material);
    await importInto(kms, b, material);
    const blob = (await encrypt(a, 'only for A')).ciphertextBlob;
    const decrypted = await decrypt(blob);
    expect(decrypted.keyId).toBe(a);
    await kms.disableKey(new $Kms.DisableKeyRequest({ keyId: a }));
    await expectKmsError(decrypt(blob), 'Rejected.Disabled', 409);
  });
});
