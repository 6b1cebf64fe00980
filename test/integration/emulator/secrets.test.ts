import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startKmsEmulator } from '@byok/kms-emulator';
import type { KmsEmulator } from '@byok/kms-emulator';
import { $Kms, expectKmsError, sdkClient } from './helpers.js';
import type Client from '@alicloud/kms20160120';

let emu: KmsEmulator;
let kms: Client;
let cmk: string;

beforeAll(async () => {
  emu = await startKmsEmulator({ kmsVersion: 1, port: 0 });
  kms = sdkClient(emu);
  cmk = (await kms.createKey(new $Kms.CreateKeyRequest({ description: 'escrow CMK' }))).keyMetadata.keyId;
});
afterAll(() => emu.close());

let counter = 0;
const uniqueName = (prefix = 'escrow/test') => {
  counter += 1;
  return `${prefix}-${counter}`;
};
const createSecret = (fields: Record<string, unknown>) =>
  kms.createSecret(new $Kms.CreateSecretRequest({ versionId: 'v1', encryptionKeyId: cmk, ...fields }));
const getValue = (fields: Record<string, unknown>) => kms.getSecretValue(new $Kms.GetSecretValueRequest(fields));
const putValue = (fields: Record<string, unknown>) => kms.putSecretValue(new $Kms.PutSecretValueRequest(fields));
const deleteSecret = (fields: Record<string, unknown>) => kms.deleteSecret(new $Kms.DeleteSecretRequest(fields));

describe('CreateSecret / GetSecretValue', () => {
  it('round-trips a 30 KB secret sent in the URL', async () => {
    const secretName = uniqueName();
    const data = randomBytes(15_360).toString('hex'); // 30720 characters, the documented maximum
    const created = await createSecret({ secretName, secretData: data });
    expect(created).toMatchObject({
      secretName,
      versionId: 'v1',
      arn: `acs:kms:cn-hangzhou:1234567890123456:secret/${secretName}`,
    });
    const got = await getValue({ secretName });
    expect(got.secretData).toBe(data);
    expect(got).toMatchObject({
      versionId: 'v1',
      secretDataType: 'text',
      versionStages: { versionStage: ['ACSCurrent'] },
    });
  });

  it('refuses SecretData over 30720 bytes with InvalidParameter', async () => {
    await expectKmsError(
      createSecret({ secretName: uniqueName(), secretData: 'x'.repeat(30_721) }),
      'InvalidParameter',
      400,
    );
  });

  it('accepts binary data only as base64', async () => {
    const secretName = uniqueName();
    const data = randomBytes(64).toString('base64');
    await createSecret({ secretName, secretData: data, secretDataType: 'binary' });
    expect(await getValue({ secretName })).toMatchObject({ secretData: data, secretDataType: 'binary' });
    await expectKmsError(
      createSecret({ secretName: uniqueName(), secretData: 'not base64!', secretDataType: 'binary' }),
      'InvalidParameter',
      400,
    );
  });

  it('refuses an existing name with Rejected.ResourceExist 409', async () => {
    const secretName = uniqueName();
    await createSecret({ secretName, secretData: 'a' });
    await expectKmsError(createSecret({ secretName, secretData: 'b' }), 'Rejected.ResourceExist', 409);
  });

  it('refuses invalid names and unknown secrets', async () => {
    await expectKmsError(createSecret({ secretName: 'acs/reserved', secretData: 'a' }), 'InvalidParameter', 400);
    await expectKmsError(getValue({ secretName: 'no-such-secret' }), 'Forbidden.ResourceNotFound', 403);
  });

  it(
    'encrypts under the EncryptionKeyId CMK: a disabled CMK ' + 'makes GetSecretValue fail with Rejected.Disabled',
    async () => {
      const keyId = (await kms.createKey(new $Kms.CreateKeyRequest({}))).keyMetadata.keyId;
      const secretName = uniqueName();
      await createSecret({ secretName, secretData: 'sealed', encryptionKeyId: keyId });
      await kms.disableKey(new $Kms.DisableKeyRequest({ keyId }));
      await expectKmsError(getValue({ secretName }), 'Rejected.Disabled', 409);
      await expectKmsError(putValue({ secretName, versionId: 'v2', secretData: 'new' }), 'Rejected.Disabled', 409);
      await kms.enableKey(new $Kms.EnableKeyRequest({ keyId }));
      expect((await getValue({ secretName })).secretData).toBe('sealed');
    },
  );

  it('refuses a CMK that is not Enabled at creation (Rejected.PendingImport for an empty EXTERNAL key)', async () => {
    const keyId = (await kms.createKey(new $Kms.CreateKeyRequest({ origin: 'EXTERNAL' }))).keyMetadata.keyId;
    await expectKmsError(
      createSecret({ secretName: uniqueName(), secretData: 'x', encryptionKeyId: keyId }),
      'Rejected.PendingImport',
      409,
    );
  });

  it('uses a service-created CMK when EncryptionKeyId is omitted', async () => {
    const secretName = uniqueName();
    await kms.createSecret(new $Kms.CreateSecretRequest({ secretName, versionId: 'v1', secretData: 'default key' }));
    const d = await kms.describeSecret(new $Kms.DescribeSecretRequest({ secretName }));
    expect(d.encryptionKeyId).not.toBe(cmk);
    expect((await getValue({ secretName })).secretData).toBe('default key');
  });
});

describe('PutSecretValue (the conditional write)', () => {
  it('adds versions, moving ACSCurrent and ACSPrevious', async () => {
    const secretName = uniqueName();
    await createSecret({ secretName, secretData: 'one' });
    const put = await putValue({ secretName, versionId: 'v2', secretData: 'two' });
    expect(put).toMatchObject({ secretName, versionId: 'v2', versionStages: { versionStage: ['ACSCurrent'] } });
    await putValue({ secretName, versionId: 'v3', secretData: 'three' });
    expect((await getValue({ secretName })).secretData).toBe('three');
    expect(await getValue({ secretName, versionStage: 'ACSPrevious' })).toMatchObject({
      versionId: 'v2',
      secretData: 'two',
    });
    expect(await getValue({ secretName, versionId: 'v1' })).toMatchObject({
      secretData: 'one',
      versionStages: { versionStage: [] },
    });
    await expectKmsError(getValue({ secretName, versionId: 'v9' }), 'Forbidden.ResourceNotFound', 403);
    await expectKmsError(
      getValue({ secretName, versionId: 'v1', versionStage: 'ACSCurrent' }),
      'Forbidden.ResourceNotFound',
      403,
    );
  });

  it('is idempotent for the same VersionId and identical data, without moving stages', async () => {
    const secretName = uniqueName();
    await createSecret({ secretName, secretData: 'one' });
    await putValue({ secretName, versionId: 'v2', secretData: 'two' });
    await putValue({ secretName, versionId: 'v3', secretData: 'three' });
    const again = await putValue({ secretName, versionId: 'v2', secretData: 'two' });
    expect(again.versionStages.versionStage).toEqual(['ACSPrevious']);
    expect((await getValue({ secretName })).versionId).toBe('v3');
  });

  it('refuses the same VersionId with different data with Rejected.ResourceExist 409', async () => {
    const secretName = uniqueName();
    await createSecret({ secretName, secretData: 'one' });
    await expectKmsError(putValue({ secretName, versionId: 'v1', secretData: 'other' }), 'Rejected.ResourceExist', 409);
    await expectKmsError(
      putValue({ secretName, versionId: 'v1', secretData: 'b25l', secretDataType: 'binary' }),
      'Rejected.ResourceExist',
      409,
    );
    expect((await getValue({ secretName })).secretData).toBe('one');
  });

  it('lets exactly one of many concurrent writers of a VersionId win (lease semantics)', async () => {
    const secretName = uniqueName('lease');
    await createSecret({ secretName, secretData: 'free' });
    const writers = Array.from({ length: 12 }, (_, i) =>
      sdkClient(emu).putSecretValue(
        new $Kms.PutSecretValueRequest({ secretName, versionId: 'lease-epoch-2', secretData: `holder-${i}` }),
      ),
    );
    const results = await Promise.allSettled(writers);
    const won = results.filter((r) => r.status === 'fulfilled');
    const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(won).toHaveLength(1);
    expect(lost.map((r) => (r.reason as { data: { Code: string } }).data.Code)).toEqual(
      Array(11).fill('Rejected.ResourceExist'),
    );
    const holder = (await getValue({ secretName, versionId: 'lease-epoch-2' })).secretData;
    expect(holder).toMatch(/^holder-\d+$/);
  });

  it('honours explicit VersionStages in both documented forms', async () => {
    const secretName = uniqueName();
    await createSecret({ secretName, secretData: 'one' });
    await putValue({ secretName, versionId: 'next', secretData: 'pending', versionStages: '["ACSNext"]' });
    expect((await getValue({ secretName })).versionId).toBe('v1');
    expect((await getValue({ secretName, versionStage: 'ACSNext' })).secretData).toBe('pending');
    await putValue({
      secretName,
      versionId: 'cur',
      secretData: 'now',
      versionStages: '{"VersionStage":["ACSCurrent"]}',
    });
    expect((await getValue({ secretName })).versionId).toBe('cur');
  });

  it('keeps at most 10 versions', async () => {
    const secretName = uniqueName();
    await createSecret({ secretName, secretData: 'v1' });
    for (let i = 2; i <= 12; i += 1) await putValue({ secretName, versionId: `v${i}`, secretData: `v${i}` });
    const ids = await kms.listSecretVersionIds(
      new $Kms.ListSecretVersionIdsRequest({ secretName, includeDeprecated: 'true', pageSize: 100 }),
    );
    expect(ids.totalCount).toBe(10);
    expect(ids.versionIds.versionId.map((v) => v.versionId)).not.toContain('v1');
    expect((await getValue({ secretName })).versionId).toBe('v12');
  });
});

describe('DescribeSecret / ListSecrets / tags', () => {
  it('describes metadata without data, with tags on request', async () => {
    const secretName = uniqueName();
    await createSecret({
      secretName,
      secretData: 'hidden',
      description: 'escrow of gen 1',
      tags: JSON.stringify([{ TagKey: 'byok:lineage', TagValue: 'payments' }]),
    });
    const plain = await kms.describeSecret(new $Kms.DescribeSecretRequest({ secretName }));
    expect(plain).toMatchObject({ secretName, encryptionKeyId: cmk, description: 'escrow of gen 1' });
    expect(plain.tags).toBeUndefined();
    expect(JSON.stringify(plain)).not.toContain('hidden');
    const withTags = await kms.describeSecret(new $Kms.DescribeSecretRequest({ secretName, fetchTags: 'true' }));
    expect(withTags.tags.tag).toEqual([{ tagKey: 'byok:lineage', tagValue: 'payments' }]);
    await kms.tagResource(new $Kms.TagResourceRequest({ secretName, tags: '[{"TagKey":"extra","TagValue":"1"}]' }));
    await kms.untagResource(new $Kms.UntagResourceRequest({ secretName, tagKeys: '["byok:lineage"]' }));
    const after = await kms.describeSecret(new $Kms.DescribeSecretRequest({ secretName, fetchTags: 'true' }));
    expect(after.tags.tag).toEqual([{ tagKey: 'extra', tagValue: '1' }]);
  });

  it('pages ListSecrets and includes tags with FetchTags', async () => {
    const emu2 = await startKmsEmulator({ kmsVersion: 1 });
    try {
      const c = sdkClient(emu2);
      for (const name of ['s-a', 's-b', 's-c']) {
        await c.createSecret(
          new $Kms.CreateSecretRequest({
            secretName: name,
            versionId: 'v1',
            secretData: 'x',
            tags: '[{"TagKey":"t","TagValue":"v"}]',
          }),
        );
      }
      const p1 = await c.listSecrets(new $Kms.ListSecretsRequest({ pageSize: 2, pageNumber: 1, fetchTags: 'true' }));
      const p2 = await c.listSecrets(new $Kms.ListSecretsRequest({ pageSize: 2, pageNumber: 2 }));
      expect(p1).toMatchObject({ totalCount: 3, pageNumber: 1, pageSize: 2 });
      expect([...p1.secretList.secret, ...p2.secretList.secret].map((s) => s.secretName)).toEqual([
        's-a',
        's-b',
        's-c',
      ]);
      expect(p1.secretList.secret[0]!.tags.tag).toEqual([{ tagKey: 't', tagValue: 'v' }]);
      expect(p2.secretList.secret[0]!.tags).toBeUndefined();
    } finally {
      await emu2.close();
    }
  });
});

describe('DeleteSecret / RestoreSecret', () => {
  it('schedules deletion within a recovery window and restores it', async () => {
    const secretName = uniqueName();
    await createSecret({ secretName, secretData: 'keep me' });
    const before = emu.clock.nowUnix();
    const del = await deleteSecret({ secretName, recoveryWindowInDays: '7' });
    expect(Date.parse(del.plannedDeleteTime) / 1000 - before).toBeGreaterThanOrEqual(7 * 86_400);
    await expectKmsError(getValue({ secretName }), 'Rejected.ResourceInDeleteWindow', 409);
    await expectKmsError(createSecret({ secretName, secretData: 'x' }), 'Rejected.ResourceInDeleteWindow', 409);
    const described = await kms.describeSecret(new $Kms.DescribeSecretRequest({ secretName }));
    expect(described.plannedDeleteTime).toBe(del.plannedDeleteTime);
    await kms.restoreSecret(new $Kms.RestoreSecretRequest({ secretName }));
    expect((await getValue({ secretName })).secretData).toBe('keep me');
  });

  it('purges the secret once the recovery window passes on the emulator clock', async () => {
    const secretName = uniqueName();
    await createSecret({ secretName, secretData: 'gone soon' });
    await deleteSecret({ secretName, recoveryWindowInDays: '7' });
    emu.clock.advance(7 * 86_400 + 1);
    await expectKmsError(
      kms.restoreSecret(new $Kms.RestoreSecretRequest({ secretName })),
      'Forbidden.ResourceNotFound',
      403,
    );
  });

  it('force-deletes without recovery; the name can be created again', async () => {
    const secretName = uniqueName();
    await createSecret({ secretName, secretData: 'old' });
    await deleteSecret({ secretName, forceDeleteWithoutRecovery: 'true' });
    await expectKmsError(
      kms.restoreSecret(new $Kms.RestoreSecretRequest({ secretName })),
      'Forbidden.ResourceNotFound',
      403,
    );
    await createSecret({ secretName, secretData: 'new' });
    expect((await getValue({ secretName })).secretData).toBe('new');
  });

  it('refuses an out-of-range recovery window and a bad boolean with InvalidParameter', async () => {
    const secretName = uniqueName();
    await createSecret({ secretName, secretData: 'x' });
    await expectKmsError(deleteSecret({ secretName, recoveryWindowInDays: '3' }), 'InvalidParameter', 400);
    await expectKmsError(deleteSecret({ secretName, forceDeleteWithoutRecovery: 'yes' }), 'InvalidParameter', 400);
  });
});
