import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startKmsEmulator } from '@byok/kms-emulator';
import type { KmsEmulator } from '@byok/kms-emulator';
import { $Kms, REQUEST_ID_RE, expectKmsError, externalKeyWithMaterial, sdkClient } from './helpers.js';
import type Client from '@alicloud/kms20160120';

let emu: KmsEmulator;
let kms: Client;

beforeAll(async () => {
  emu = await startKmsEmulator({ kmsVersion: 1, port: 0 });
  kms = sdkClient(emu);
});
afterAll(() => emu.close());

const createKey = (fields: Record<string, unknown> = {}) => kms.createKey(new $Kms.CreateKeyRequest(fields));
const describeKey = (keyId: string) => kms.describeKey(new $Kms.DescribeKeyRequest({ keyId }));
const ISO_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;

describe('CreateKey / DescribeKey', () => {
  it('creates an Aliyun_KMS AES-256 key Enabled by default with documented metadata', async () => {
    const res = await createKey({ description: 'escrow key' });
    expect(res.requestId).toMatch(REQUEST_ID_RE);
    const m = res.keyMetadata;
    expect(m).toMatchObject({
      keySpec: 'Aliyun_AES_256',
      keyState: 'Enabled',
      keyUsage: 'ENCRYPT/DECRYPT',
      origin: 'Aliyun_KMS',
      protectionLevel: 'SOFTWARE',
      description: 'escrow key',
      deleteDate: '',
      materialExpireTime: '',
      automaticRotation: 'Disabled',
      creator: '1234567890123456',
      arn: `acs:kms:cn-hangzhou:1234567890123456:key/${m.keyId}`,
    });
    expect(m.keyId).toMatch(REQUEST_ID_RE);
    expect(m.primaryKeyVersion).toMatch(REQUEST_ID_RE);
    expect(m.creationDate).toMatch(ISO_RE);
  });

  it('creates EXTERNAL keys in PendingImport', async () => {
    const res = await createKey({ origin: 'EXTERNAL', protectionLevel: 'HSM' });
    expect(res.keyMetadata).toMatchObject({ origin: 'EXTERNAL', keyState: 'PendingImport', protectionLevel: 'HSM' });
  });

  it('reports rotation settings in seconds when automatic rotation is enabled', async () => {
    const res = await createKey({ enableAutomaticRotation: true, rotationInterval: '365d' });
    expect(res.keyMetadata).toMatchObject({ automaticRotation: 'Enabled', rotationInterval: '31536000s' });
    expect(res.keyMetadata.nextRotationDate).toMatch(ISO_RE);
  });

  it('refuses an unknown Origin, KeySpec or a rotating EXTERNAL key with InvalidParameter', async () => {
    await expectKmsError(createKey({ origin: 'external' }), 'InvalidParameter', 400);
    await expectKmsError(createKey({ keySpec: 'AES_999' }), 'InvalidParameter', 400);
    await expectKmsError(
      createKey({ origin: 'EXTERNAL', enableAutomaticRotation: true, rotationInterval: '30d' }),
      'InvalidParameter',
      400,
    );
    await expectKmsError(
      createKey({ origin: 'EXTERNAL', keySpec: 'RSA_2048', keyUsage: 'SIGN/VERIFY' }),
      'InvalidParameter',
      400,
    );
  });

  it('describes a key by id, by alias and by ARN, always returning the real KeyId', async () => {
    const { keyMetadata } = await createKey();
    await kms.createAlias(new $Kms.CreateAliasRequest({ aliasName: 'alias/describe-me', keyId: keyMetadata.keyId }));
    for (const ref of [keyMetadata.keyId, 'alias/describe-me', keyMetadata.arn]) {
      expect((await describeKey(ref)).keyMetadata.keyId).toBe(keyMetadata.keyId);
    }
  });

  it('answers Forbidden.KeyNotFound 404 and Forbidden.AliasNotFound 404 for unknown references', async () => {
    const body = await expectKmsError(
      describeKey('00000000-0000-4000-8000-000000000000'),
      'Forbidden.KeyNotFound',
      404,
    );
    expect(body).toMatchObject({ Message: 'The specified Key is not found.', HostId: 'kms.cn-hangzhou.aliyuncs.com' });
    expect(body['RequestId']).toMatch(REQUEST_ID_RE);
    expect(body['Recommend']).toContain('Forbidden.KeyNotFound');
    await expectKmsError(describeKey('alias/nope'), 'Forbidden.AliasNotFound', 404);
  });

  it('requires KeyId with MissingParameter 400', async () => {
    await expectKmsError(describeKey(''), 'MissingParameter', 400);
  });
});

describe('ListKeys', () => {
  it('pages through every key with TotalCount', async () => {
    const emu2 = await startKmsEmulator({ kmsVersion: 1 });
    try {
      const c = sdkClient(emu2);
      const ids: string[] = [];
      for (let i = 0; i < 3; i += 1) ids.push((await c.createKey(new $Kms.CreateKeyRequest({}))).keyMetadata.keyId);
      const p1 = await c.listKeys(new $Kms.ListKeysRequest({ pageNumber: 1, pageSize: 2 }));
      const p2 = await c.listKeys(new $Kms.ListKeysRequest({ pageNumber: 2, pageSize: 2 }));
      expect(p1).toMatchObject({ totalCount: 3, pageNumber: 1, pageSize: 2 });
      expect([...p1.keys.key, ...p2.keys.key].map((k) => k.keyId)).toEqual(ids);
      expect(p1.keys.key[0]!.keyArn).toBe(`acs:kms:cn-hangzhou:1234567890123456:key/${ids[0]}`);
      const empty = await c.listKeys(new $Kms.ListKeysRequest({ pageNumber: 3, pageSize: 2 }));
      expect(empty.keys.key).toEqual([]);
      await expectKmsError(c.listKeys(new $Kms.ListKeysRequest({ pageSize: 101 })), 'InvalidParameter', 400);
    } finally {
      await emu2.close();
    }
  });
});

describe('EnableKey / DisableKey', () => {
  it('disables and re-enables a key (idempotently)', async () => {
    const keyId = (await createKey()).keyMetadata.keyId;
    await kms.disableKey(new $Kms.DisableKeyRequest({ keyId }));
    await kms.disableKey(new $Kms.DisableKeyRequest({ keyId }));
    expect((await describeKey(keyId)).keyMetadata.keyState).toBe('Disabled');
    await kms.enableKey(new $Kms.EnableKeyRequest({ keyId }));
    expect((await describeKey(keyId)).keyMetadata.keyState).toBe('Enabled');
  });

  it('refuses PendingImport keys with Rejected.StateModifiedFailed 409', async () => {
    const keyId = (await createKey({ origin: 'EXTERNAL' })).keyMetadata.keyId;
    await expectKmsError(kms.enableKey(new $Kms.EnableKeyRequest({ keyId })), 'Rejected.StateModifiedFailed', 409);
    await expectKmsError(kms.disableKey(new $Kms.DisableKeyRequest({ keyId })), 'Rejected.StateModifiedFailed', 409);
  });

  it('refuses an alias where only a key ID is documented (Unsupported.Alias)', async () => {
    const keyId = (await createKey()).keyMetadata.keyId;
    await kms.createAlias(new $Kms.CreateAliasRequest({ aliasName: 'alias/no-enable-by-alias', keyId }));
    await expectKmsError(
      kms.enableKey(new $Kms.EnableKeyRequest({ keyId: 'alias/no-enable-by-alias' })),
      'Unsupported.Alias',
      400,
    );
  });
});

describe('ScheduleKeyDeletion / CancelKeyDeletion', () => {
  const schedule = (keyId: string, pendingWindowInDays = 7) =>
    kms.scheduleKeyDeletion(new $Kms.ScheduleKeyDeletionRequest({ keyId, pendingWindowInDays }));
  const cancel = (keyId: string) => kms.cancelKeyDeletion(new $Kms.CancelKeyDeletionRequest({ keyId }));

  it('schedules deletion with DeleteDate = now + window and refuses a second schedule', async () => {
    const keyId = (await createKey()).keyMetadata.keyId;
    const before = emu.clock.nowUnix();
    await schedule(keyId, 10);
    const m = (await describeKey(keyId)).keyMetadata;
    expect(m.keyState).toBe('PendingDeletion');
    const deleteUnix = Date.parse(m.deleteDate) / 1000;
    expect(deleteUnix - before).toBeGreaterThanOrEqual(10 * 86_400);
    expect(deleteUnix - before).toBeLessThanOrEqual(10 * 86_400 + 5);
    await expectKmsError(schedule(keyId), 'Rejected.StateModifiedFailed', 409);
  });

  it('refuses windows outside 7-366 days with InvalidParameter', async () => {
    const keyId = (await createKey()).keyMetadata.keyId;
    await expectKmsError(schedule(keyId, 6), 'InvalidParameter', 400);
    await expectKmsError(schedule(keyId, 367), 'InvalidParameter', 400);
  });

  it('gates a PendingDeletion key per the state matrix', async () => {
    const keyId = (await createKey()).keyMetadata.keyId;
    await schedule(keyId);
    await expectKmsError(kms.enableKey(new $Kms.EnableKeyRequest({ keyId })), 'Rejected.StateModifiedFailed', 409);
    await expectKmsError(
      kms.encrypt(new $Kms.EncryptRequest({ keyId, plaintext: 'x' })),
      'Rejected.PendingDeletion',
      409,
    );
    await expectKmsError(
      kms.createAlias(new $Kms.CreateAliasRequest({ aliasName: 'alias/to-deleted', keyId })),
      'Rejected.StateModifiedFailed',
      409,
    );
    expect((await describeKey(keyId)).keyMetadata.keyState).toBe('PendingDeletion');
  });

  it('cancels deletion back to Enabled, and refuses cancelling a key that is not PendingDeletion', async () => {
    const keyId = (await createKey()).keyMetadata.keyId;
    await expectKmsError(cancel(keyId), 'Rejected.StateModifiedFailed', 409);
    await schedule(keyId);
    await cancel(keyId);
    expect((await describeKey(keyId)).keyMetadata).toMatchObject({ keyState: 'Enabled', deleteDate: '' });
  });

  it('cancels an EXTERNAL key without material back to PendingImport (inferred)', async () => {
    const keyId = (await createKey({ origin: 'EXTERNAL' })).keyMetadata.keyId;
    await schedule(keyId);
    await cancel(keyId);
    expect((await describeKey(keyId)).keyMetadata.keyState).toBe('PendingImport');
  });

  it('deletes the key once the window has passed on the emulator clock', async () => {
    const { keyId } = await externalKeyWithMaterial(kms);
    await kms.createAlias(new $Kms.CreateAliasRequest({ aliasName: 'alias/doomed', keyId }));
    const blob = (await kms.encrypt(new $Kms.EncryptRequest({ keyId, plaintext: 'bye' }))).ciphertextBlob;
    await schedule(keyId, 7);
    emu.clock.advance(7 * 86_400 - 60);
    expect((await describeKey(keyId)).keyMetadata.keyState).toBe('PendingDeletion');
    emu.clock.advance(120);
    await expectKmsError(describeKey(keyId), 'Forbidden.KeyNotFound', 404);
    await expectKmsError(describeKey('alias/doomed'), 'Forbidden.AliasNotFound', 404);
    await expectKmsError(kms.decrypt(new $Kms.DecryptRequest({ ciphertextBlob: blob })), 'Forbidden.KeyNotFound', 404);
    const listed = await kms.listKeys(new $Kms.ListKeysRequest({ pageSize: 100 }));
    expect(listed.keys.key.map((k) => k.keyId)).not.toContain(keyId);
  });
});
