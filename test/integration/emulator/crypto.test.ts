import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startKmsEmulator } from '@byok/kms-emulator';
import type { KmsEmulator } from '@byok/kms-emulator';
import { $Kms, expectKmsError, sdkClient, signedCall } from './helpers.js';
import type Client from '@alicloud/kms20160120';

let emu: KmsEmulator;
let kms: Client;
let keyId: string;

beforeAll(async () => {
  emu = await startKmsEmulator({ kmsVersion: 1, port: 0 });
  kms = sdkClient(emu);
  keyId = (await kms.createKey(new $Kms.CreateKeyRequest({}))).keyMetadata.keyId;
  await kms.createAlias(new $Kms.CreateAliasRequest({ aliasName: 'alias/crypto', keyId }));
});
afterAll(() => emu.close());

const encrypt = (fields: Record<string, unknown>) => kms.encrypt(new $Kms.EncryptRequest(fields));
const decrypt = (fields: Record<string, unknown>) => kms.decrypt(new $Kms.DecryptRequest(fields));
const newKey = async () => (await kms.createKey(new $Kms.CreateKeyRequest({}))).keyMetadata.keyId;

describe('Encrypt / Decrypt', () => {
  it('round-trips a plaintext string and names the key and version', async () => {
    const enc = await encrypt({ keyId, plaintext: 'aGVsbG8gd29ybGQ=' });
    const raw = Buffer.from(enc.ciphertextBlob, 'base64');
    expect(raw.subarray(0, 36).toString('ascii')).toBe(enc.keyVersionId);
    const dec = await decrypt({ ciphertextBlob: enc.ciphertextBlob });
    expect(dec).toMatchObject({ plaintext: 'aGVsbG8gd29ybGQ=', keyId, keyVersionId: enc.keyVersionId });
  });

  it('accepts an alias and returns the real KeyId', async () => {
    const enc = await encrypt({ keyId: 'alias/crypto', plaintext: 'x' });
    expect(enc.keyId).toBe(keyId);
  });

  it('binds the flattened EncryptionContext (v1.2.0 form), key order irrelevant', async () => {
    const enc = await encrypt({ keyId, plaintext: 'ctx', encryptionContext: { tenant: 't1', purpose: 'escrow' } });
    expect(
      (await decrypt({ ciphertextBlob: enc.ciphertextBlob, encryptionContext: { purpose: 'escrow', tenant: 't1' } }))
        .plaintext,
    ).toBe('ctx');
    await expectKmsError(
      decrypt({ ciphertextBlob: enc.ciphertextBlob, encryptionContext: { tenant: 't2', purpose: 'escrow' } }),
      'InvalidParameter',
      400,
    );
    await expectKmsError(decrypt({ ciphertextBlob: enc.ciphertextBlob }), 'InvalidParameter', 400);
  });

  it('accepts the EncryptionContext as a JSON string (current SDKs) interchangeably', async () => {
    const enc = await encrypt({ keyId, plaintext: 'json ctx', encryptionContext: { a: '1', b: '2' } });
    const res = await signedCall(emu, 'Decrypt', {
      CiphertextBlob: enc.ciphertextBlob,
      EncryptionContext: '{"b":"2","a":"1"}',
    });
    expect(res.status).toBe(200);
    expect(res.body['Plaintext']).toBe('json ctx');
    const bad = await signedCall(emu, 'Decrypt', { CiphertextBlob: enc.ciphertextBlob, EncryptionContext: '{"a":1}' });
    expect(bad.status).toBe(400);
    expect(bad.body['Code']).toBe('InvalidParameter');
  });

  it('refuses plaintext over 6 KB and a tampered or malformed blob with InvalidParameter', async () => {
    await expectKmsError(encrypt({ keyId, plaintext: 'x'.repeat(6 * 1024 + 1) }), 'InvalidParameter', 400);
    const blob = Buffer.from((await encrypt({ keyId, plaintext: 'tamper' })).ciphertextBlob, 'base64');
    blob[blob.length - 1]! ^= 1;
    await expectKmsError(decrypt({ ciphertextBlob: blob.toString('base64') }), 'InvalidParameter', 400);
    await expectKmsError(decrypt({ ciphertextBlob: 'AAAA' }), 'InvalidParameter', 400);
    await expectKmsError(decrypt({ ciphertextBlob: '%%%' }), 'InvalidParameter', 400);
  });

  it('answers Forbidden.KeyNotFound for a blob naming an unknown key version', async () => {
    const blob = Buffer.from((await encrypt({ keyId, plaintext: 'x' })).ciphertextBlob, 'base64');
    Buffer.from('00000000-0000-4000-8000-000000000000', 'ascii').copy(blob, 0);
    await expectKmsError(decrypt({ ciphertextBlob: blob.toString('base64') }), 'Forbidden.KeyNotFound', 404);
  });

  it('refuses a Disabled key with Rejected.Disabled 409 for Encrypt, Decrypt and GenerateDataKey', async () => {
    const id = await newKey();
    const blob = (await encrypt({ keyId: id, plaintext: 'before' })).ciphertextBlob;
    await kms.disableKey(new $Kms.DisableKeyRequest({ keyId: id }));
    await expectKmsError(encrypt({ keyId: id, plaintext: 'x' }), 'Rejected.Disabled', 409);
    await expectKmsError(decrypt({ ciphertextBlob: blob }), 'Rejected.Disabled', 409);
    await expectKmsError(kms.generateDataKey(new $Kms.GenerateDataKeyRequest({ keyId: id })), 'Rejected.Disabled', 409);
    await kms.enableKey(new $Kms.EnableKeyRequest({ keyId: id }));
    expect((await decrypt({ ciphertextBlob: blob })).plaintext).toBe('before');
  });

  it('refuses a PendingDeletion key with Rejected.PendingDeletion 409', async () => {
    const id = await newKey();
    const blob = (await encrypt({ keyId: id, plaintext: 'x' })).ciphertextBlob;
    await kms.scheduleKeyDeletion(new $Kms.ScheduleKeyDeletionRequest({ keyId: id, pendingWindowInDays: 7 }));
    await expectKmsError(decrypt({ ciphertextBlob: blob }), 'Rejected.PendingDeletion', 409);
    await expectKmsError(
      kms.generateDataKey(new $Kms.GenerateDataKeyRequest({ keyId: id })),
      'Rejected.PendingDeletion',
      409,
    );
  });

  it('refuses an asymmetric key with UnsupportedOperation', async () => {
    const id = (await kms.createKey(new $Kms.CreateKeyRequest({ keySpec: 'RSA_2048', keyUsage: 'ENCRYPT/DECRYPT' })))
      .keyMetadata.keyId;
    await expectKmsError(encrypt({ keyId: id, plaintext: 'x' }), 'UnsupportedOperation', 400);
  });
});

describe('GenerateDataKey', () => {
  const gdk = (fields: Record<string, unknown>) =>
    kms.generateDataKey(new $Kms.GenerateDataKeyRequest({ keyId, ...fields }));

  it('returns a 32-byte data key by default whose blob decrypts to the same Plaintext', async () => {
    const res = await gdk({});
    expect(Buffer.from(res.plaintext, 'base64')).toHaveLength(32);
    expect(res.keyId).toBe(keyId);
    expect((await decrypt({ ciphertextBlob: res.ciphertextBlob })).plaintext).toBe(res.plaintext);
  });

  it('honours KeySpec AES_128 and lets NumberOfBytes win over KeySpec', async () => {
    expect(Buffer.from((await gdk({ keySpec: 'AES_128' })).plaintext, 'base64')).toHaveLength(16);
    expect(Buffer.from((await gdk({ keySpec: 'AES_128', numberOfBytes: 48 })).plaintext, 'base64')).toHaveLength(48);
  });

  it('binds an EncryptionContext and works through an alias', async () => {
    const res = await gdk({ keyId: 'alias/crypto', encryptionContext: { file: 'a.bin' } });
    expect(res.keyId).toBe(keyId);
    expect(
      (await decrypt({ ciphertextBlob: res.ciphertextBlob, encryptionContext: { file: 'a.bin' } })).plaintext,
    ).toBe(res.plaintext);
  });

  it('refuses an invalid KeySpec or NumberOfBytes with InvalidParameter', async () => {
    const body = await expectKmsError(gdk({ keySpec: 'AES_512' }), 'InvalidParameter', 400);
    expect(body['Message']).toContain('KeySpec');
    await expectKmsError(gdk({ numberOfBytes: 1025 }), 'InvalidParameter', 400);
    await expectKmsError(gdk({ numberOfBytes: 0 }), 'InvalidParameter', 400);
  });

  it('GenerateDataKeyWithoutPlaintext returns only the blob', async () => {
    const res = await kms.generateDataKeyWithoutPlaintext(new $Kms.GenerateDataKeyWithoutPlaintextRequest({ keyId }));
    expect(Buffer.from((await decrypt({ ciphertextBlob: res.ciphertextBlob })).plaintext, 'base64')).toHaveLength(32);
    const raw = await signedCall(emu, 'GenerateDataKeyWithoutPlaintext', { KeyId: keyId });
    expect(Object.keys(raw.body).sort()).toEqual(['CiphertextBlob', 'KeyId', 'KeyVersionId', 'RequestId']);
  });
});
