/**
 * The KMS 3.0 model of the emulator (docs/kms-3-instances.md): the default CMK, instances and their
 * keys and secrets, the shared-gateway switch, expiry and release, the instance actions, Filters,
 * the admin routes and persistence; plus the KMS 1.0 flag and the other fixes of the same issue
 * (alias length, Secrets Manager throttling, the 10-version cap).
 *
 * The official SDK (v1.2.0) sends what it can; DKMSInstanceId, Filters and the new actions go as
 * raw requests signed with the SDK's own signer (helpers.ts `signedCall`).
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startKmsEmulator } from '@byok/kms-emulator';
import type { KmsEmulator, KmsEmulatorOptions } from '@byok/kms-emulator';
import { INSTANCE_ID_RE } from '../../../packages/kms-emulator/src/instances.js';
import { systemRandom } from '../../../shared/system.js';
import { wrapKeyMaterial } from '../../../shared/wrap/index.js';
import { $Kms, expectKmsError, rawCall, sdkClient, signedCall } from './helpers.js';

// Ids shaped like real ones: kst- + region code + 8 hex digits + 10 letters/digits.
const SOFT = 'kst-hzz65f176a0softaaaa01';
const HARD = 'kst-hzz65f176a0hardaaaa01';
const CLOSED = 'kst-hzz65f176a0closedaa01';
const OTHER = 'kst-hzz65f176a0otheraaa01';
const UNKNOWN = 'kst-hzz65f176a0nobodyaa01';
const INSTANCE_KEY_ID_RE = /^key-hzz[0-9a-f]{8}[0-9a-z]{10}$/;
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const DAY = 86_400;

const dir = mkdtempSync(join(tmpdir(), 'kms-emu-instances-'));
const started: KmsEmulator[] = [];
afterAll(async () => {
  await Promise.all(started.map((e) => e.close()));
  rmSync(dir, { recursive: true, force: true });
});

async function start(options: KmsEmulatorOptions = {}): Promise<KmsEmulator> {
  const emu = await startKmsEmulator({ port: 0, ...options });
  started.push(emu);
  return emu;
}

/** A raw signed call that must succeed; returns the JSON body. */
async function api(
  emu: KmsEmulator,
  action: string,
  params: Record<string, string> = {},
): Promise<Record<string, unknown>> {
  const res = await signedCall(emu, action, params);
  expect(res.status, `${action}: ${res.text}`).toBe(200);
  return res.body;
}

/** A raw signed call that must fail with `code` and HTTP `status`; returns the body. */
async function apiError(
  emu: KmsEmulator,
  action: string,
  params: Record<string, string>,
  code: string,
  status: number,
): Promise<Record<string, unknown>> {
  const res = await signedCall(emu, action, params);
  expect([res.status, res.body['Code']], `${action}: ${res.text}`).toEqual([status, code]);
  return res.body;
}

const meta = (body: Record<string, unknown>) => body['KeyMetadata'] as Record<string, string>;
const createKeyIn = async (emu: KmsEmulator, instanceId: string, params: Record<string, string> = {}) =>
  meta(await api(emu, 'CreateKey', { DKMSInstanceId: instanceId, ...params }));
const describeKey = async (emu: KmsEmulator, keyId: string) => meta(await api(emu, 'DescribeKey', { KeyId: keyId }));
const encrypt = async (emu: KmsEmulator, keyId: string, plaintext = 'hello') =>
  (await api(emu, 'Encrypt', { KeyId: keyId, Plaintext: plaintext }))['CiphertextBlob'] as string;
const listKeyIds = async (emu: KmsEmulator, filters?: unknown): Promise<string[]> => {
  const body = await api(emu, 'ListKeys', {
    PageSize: '100',
    ...(filters === undefined ? {} : { Filters: JSON.stringify(filters) }),
  });
  return ((body['Keys'] as { Key: Array<{ KeyId: string }> }).Key ?? []).map((k) => k.KeyId).sort();
};

describe('the default CMK (KMS 3.0 without DKMSInstanceId)', () => {
  it(
    'allows one default key per region, refuses a second with ' +
      'Rejected.LimitExceeded 400, and refuses client-side crypto on it',
    async () => {
      const emu = await start();
      const kms = sdkClient(emu);
      await expectKmsError(
        kms.createKey(new $Kms.CreateKeyRequest({ keySpec: 'Aliyun_SM4' })),
        'InvalidParameter',
        400,
      );
      const first = (await kms.createKey(new $Kms.CreateKeyRequest({ description: 'the default key' }))).keyMetadata;
      expect(first.keyId).toMatch(UUID_RE); // documented: default keys keep UUIDs
      const described = await describeKey(emu, first.keyId);
      expect(described['DKMSInstanceId']).toBe('');
      expect(described['KeyState']).toBe('Enabled');
      const body = await expectKmsError(kms.createKey(new $Kms.CreateKeyRequest({})), 'Rejected.LimitExceeded', 400);
      expect(body['Message']).toContain('default key');
      await expectKmsError(
        kms.createKey(new $Kms.CreateKeyRequest({ origin: 'EXTERNAL' })),
        'Rejected.LimitExceeded',
        400,
      );
      await expectKmsError(
        kms.encrypt(new $Kms.EncryptRequest({ keyId: first.keyId, plaintext: 'x' })),
        'UnsupportedOperation',
        400,
      );
      await expectKmsError(
        kms.generateDataKey(new $Kms.GenerateDataKeyRequest({ keyId: first.keyId })),
        'UnsupportedOperation',
        400,
      );
      expect(await listKeyIds(emu)).toEqual([first.keyId]);
      expect(await api(emu, 'GetDefaultKmsInstance')).toMatchObject({ DefaultKmsInstanceId: '' });
    },
  );

  it('lands keys and secrets in the default instance when one is configured, any number of them', async () => {
    const emu = await start({
      instances: [
        { id: SOFT, type: 'software' },
        { id: OTHER, type: 'software' },
      ],
      defaultInstanceId: SOFT,
    });
    const kms = sdkClient(emu);
    const keys: string[] = [];
    for (let i = 0; i < 3; i += 1) keys.push((await kms.createKey(new $Kms.CreateKeyRequest({}))).keyMetadata.keyId);
    for (const keyId of keys) {
      expect(keyId).toMatch(INSTANCE_KEY_ID_RE);
      expect(await describeKey(emu, keyId)).toMatchObject({ DKMSInstanceId: SOFT, ProtectionLevel: 'SOFTWARE' });
    }
    const explicit = await createKeyIn(emu, OTHER);
    expect(explicit['DKMSInstanceId']).toBe(OTHER);
    expect(await api(emu, 'GetDefaultKmsInstance')).toMatchObject({ DefaultKmsInstanceId: SOFT });
    // a secret without DKMSInstanceId goes to the default instance too, so it needs a key there
    await kms.createSecret(
      new $Kms.CreateSecretRequest({
        secretName: 'in-default',
        versionId: 'v1',
        secretData: 'd',
        encryptionKeyId: keys[0],
      }),
    );
    expect(await api(emu, 'DescribeSecret', { SecretName: 'in-default' })).toMatchObject({
      DKMSInstanceId: SOFT,
      EncryptionKeyId: keys[0],
    });
    await expectKmsError(
      kms.createSecret(
        new $Kms.CreateSecretRequest({
          secretName: 'wrong-key',
          versionId: 'v1',
          secretData: 'd',
          encryptionKeyId: explicit['KeyId'],
        }),
      ),
      'InvalidParameter',
      400,
    );
  });
});

describe('keys in instances', () => {
  let emu: KmsEmulator;
  beforeAll(async () => {
    emu = await start({
      instances: [
        { id: SOFT, type: 'software' },
        { id: HARD, type: 'hardware' },
        { id: CLOSED, type: 'software' },
      ],
    });
    emu.instances.release(CLOSED);
  });

  it('refuses an unknown, a released or a malformed instance with Forbidden.DKMSInstanceNotFound 403', async () => {
    const body = await apiError(emu, 'CreateKey', { DKMSInstanceId: UNKNOWN }, 'Forbidden.DKMSInstanceNotFound', 403);
    expect(body['Message']).toBe('The specified DKMS Instance is not found.');
    await apiError(emu, 'CreateKey', { DKMSInstanceId: CLOSED }, 'Forbidden.DKMSInstanceNotFound', 403);
    await apiError(emu, 'CreateKey', { DKMSInstanceId: 'not-an-instance' }, 'Forbidden.DKMSInstanceNotFound', 403);
  });

  it(
    'reports DKMSInstanceId, a key-… id and the ProtectionLevel of ' +
      'the instance type (ProtectionLevel sent is ignored)',
    async () => {
      const hard = await createKeyIn(emu, HARD, { ProtectionLevel: 'SOFTWARE' });
      const soft = await createKeyIn(emu, SOFT, { ProtectionLevel: 'HSM' });
      expect(hard).toMatchObject({ DKMSInstanceId: HARD, ProtectionLevel: 'HSM', KeyState: 'Enabled' });
      expect(soft).toMatchObject({ DKMSInstanceId: SOFT, ProtectionLevel: 'SOFTWARE' });
      expect(hard['KeyId']).toMatch(INSTANCE_KEY_ID_RE);
      expect(hard['Arn']).toBe(`acs:kms:cn-hangzhou:1234567890123456:key/${hard['KeyId']}`);
      // the v1.2.0 SDK reads the same key; its model has no DKMSInstanceId but sees the level
      const viaSdk = await sdkClient(emu).describeKey(new $Kms.DescribeKeyRequest({ keyId: hard['KeyId'] }));
      expect(viaSdk.keyMetadata).toMatchObject({ keyId: hard['KeyId'], protectionLevel: 'HSM' });
      expect(await describeKey(emu, soft['KeyId']!)).toMatchObject({
        DKMSInstanceId: SOFT,
        ProtectionLevel: 'SOFTWARE',
      });
    },
  );

  it('accepts KeyStorageMechanism only for hardware instances', async () => {
    expect(await createKeyIn(emu, HARD, { KeyStorageMechanism: 'HsmEncryptedDatabase' })).toMatchObject({
      DKMSInstanceId: HARD,
    });
    await apiError(
      emu,
      'CreateKey',
      { DKMSInstanceId: SOFT, KeyStorageMechanism: 'HsmInternal' },
      'InvalidParameter',
      400,
    );
    await apiError(emu, 'CreateKey', { DKMSInstanceId: HARD, KeyStorageMechanism: 'Vault' }, 'InvalidParameter', 400);
  });

  it(
    'issues SM2 wrapping keys (EC_SM2/SM2PKE) for EXTERNAL keys ' +
      'of a hardware instance only, and really unwraps them',
    async () => {
      const kms = sdkClient(emu);
      const hard = await createKeyIn(emu, HARD, { Origin: 'EXTERNAL', KeySpec: 'Aliyun_SM4' });
      const soft = await createKeyIn(emu, SOFT, { Origin: 'EXTERNAL', KeySpec: 'Aliyun_SM4' });
      const params = (keyId: string) =>
        kms.getParametersForImport(
          new $Kms.GetParametersForImportRequest({ keyId, wrappingAlgorithm: 'SM2PKE', wrappingKeySpec: 'EC_SM2' }),
        );
      await expectKmsError(params(soft['KeyId']!), 'InvalidParameter', 400);
      const p = await params(hard['KeyId']!);
      const material = randomBytes(16);
      const encryptedKeyMaterial = wrapKeyMaterial(
        {
          material,
          keySpec: 'Aliyun_SM4',
          publicKeyBase64: p.publicKey,
          wrappingAlgorithm: 'SM2PKE',
          wrappingKeySpec: 'EC_SM2',
        },
        systemRandom,
      );
      await kms.importKeyMaterial(
        new $Kms.ImportKeyMaterialRequest({
          keyId: hard['KeyId'],
          importToken: p.importToken,
          encryptedKeyMaterial,
          keyMaterialExpireUnix: 0,
        }),
      );
      expect((await describeKey(emu, hard['KeyId']!))['KeyState']).toBe('Enabled');
      const blob = await encrypt(emu, hard['KeyId']!, 'sm4 data');
      expect((await api(emu, 'Decrypt', { CiphertextBlob: blob }))['Plaintext']).toBe('sm4 data');
    },
  );

  it('enforces the instance key quota (KeyNum 1000) with Rejected.ShareQuotaExceedLimit 400', async () => {
    const quota = await start({ instances: [{ id: SOFT, type: 'software' }] });
    const body = await api(quota, 'GetKmsInstance', { KmsInstanceId: SOFT });
    expect((body['KmsInstance'] as Record<string, unknown>)['KeyNum']).toBe(1000);
    // 998 keys cloned in the emulator's state (seeding is not an API call: no quota there), then
    // the 1000th through the API still fits and the 1001st does not.
    await createKeyIn(quota, SOFT, { Description: 'quota-template' });
    quota.seed.cloneTemplate({ token: 'quota-template', clones: Array.from({ length: 998 }, () => ({ replace: [] })) });
    expect((await api(quota, 'ListKeys', { PageSize: '1' }))['TotalCount']).toBe(999);
    await createKeyIn(quota, SOFT);
    await apiError(quota, 'CreateKey', { DKMSInstanceId: SOFT }, 'Rejected.ShareQuotaExceedLimit', 400);
    expect((await api(quota, 'ListKeys', { PageSize: '1' }))['TotalCount']).toBe(1000);
  });

  it('takes the key and secret quantities per instance (KeyNum/SecretNum), enforced at those values', async () => {
    const stateFile = join(dir, 'quota-state.json');
    const emu = await start({
      stateFile,
      instances: [
        { id: SOFT, type: 'software', keyQuota: 3, secretQuota: 2 },
        { id: OTHER, type: 'software' },
      ],
    });
    const numbers = async (e: KmsEmulator, id: string) => {
      const got = (await api(e, 'GetKmsInstance', { KmsInstanceId: id }))['KmsInstance'] as Record<string, unknown>;
      return [got['KeyNum'], got['SecretNum']];
    };
    expect(await numbers(emu, SOFT)).toEqual([3, '2']);
    expect(await numbers(emu, OTHER)).toEqual([1000, '1000']);
    const keys: string[] = [];
    for (let i = 0; i < 3; i++) keys.push((await createKeyIn(emu, SOFT))['KeyId']!);
    await apiError(emu, 'CreateKey', { DKMSInstanceId: SOFT }, 'Rejected.ShareQuotaExceedLimit', 400);
    await createKeyIn(emu, OTHER); // another instance's quota is its own
    const secret = (name: string) => ({
      SecretName: name,
      VersionId: 'v1',
      SecretData: `data of ${name}`,
      DKMSInstanceId: SOFT,
      EncryptionKeyId: keys[0]!,
    });
    await api(emu, 'CreateSecret', secret('quota-1'));
    await api(emu, 'CreateSecret', secret('quota-2'));
    await apiError(emu, 'CreateSecret', secret('quota-3'), 'Rejected.ShareQuotaExceedLimit', 400);
    expect(emu.instances.list().find((i) => i.id === SOFT)).toMatchObject({
      keyQuota: 3,
      secretQuota: 2,
      keyCount: 3,
      secretCount: 2,
    });

    // A bigger spec (an upgrade): one more key fits; the secret quantity given before is kept.
    emu.instances.upsert({ id: SOFT, type: 'software', keyQuota: 4 });
    expect(await numbers(emu, SOFT)).toEqual([4, '2']);
    await createKeyIn(emu, SOFT);
    await apiError(emu, 'CreateKey', { DKMSInstanceId: SOFT }, 'Rejected.ShareQuotaExceedLimit', 400);
    await apiError(emu, 'CreateSecret', secret('quota-3'), 'Rejected.ShareQuotaExceedLimit', 400);

    // The quantities persist with the instance: a restart without them keeps them.
    await emu.close();
    const again = await start({ stateFile, instances: [{ id: SOFT, type: 'software' }] });
    expect(await numbers(again, SOFT)).toEqual([4, '2']);
    await apiError(again, 'CreateKey', { DKMSInstanceId: SOFT }, 'Rejected.ShareQuotaExceedLimit', 400);
  });
});

describe('secrets in instances', () => {
  let emu: KmsEmulator;
  let softKey: string;
  let otherKey: string;
  beforeAll(async () => {
    emu = await start({
      instances: [
        { id: SOFT, type: 'software' },
        { id: OTHER, type: 'software' },
      ],
    });
    softKey = (await createKeyIn(emu, SOFT))['KeyId']!;
    otherKey = (await createKeyIn(emu, OTHER))['KeyId']!;
  });
  const create = (name: string, params: Record<string, string>) =>
    signedCall(emu, 'CreateSecret', { SecretName: name, VersionId: 'v1', SecretData: `data of ${name}`, ...params });

  it('accepts a key of the same instance and reports the instance in DescribeSecret', async () => {
    expect((await create('same', { DKMSInstanceId: SOFT, EncryptionKeyId: softKey })).status).toBe(200);
    expect(await api(emu, 'DescribeSecret', { SecretName: 'same' })).toMatchObject({
      DKMSInstanceId: SOFT,
      EncryptionKeyId: softKey,
    });
    const value = await sdkClient(emu).getSecretValue(new $Kms.GetSecretValueRequest({ secretName: 'same' }));
    expect(value.secretData).toBe('data of same');
  });

  it('refuses a key of another instance (or outside any) with InvalidParameter 400', async () => {
    for (const [name, params] of [
      ['other-instance', { DKMSInstanceId: SOFT, EncryptionKeyId: otherKey }],
      ['no-instance', { EncryptionKeyId: softKey }],
    ] as const) {
      const res = await create(name, params);
      expect([res.status, res.body['Code']]).toEqual([400, 'InvalidParameter']);
      expect(res.body['Message']).toContain('EncryptionKeyId');
    }
    const missing = await create('no-key', { DKMSInstanceId: SOFT });
    expect([missing.status, missing.body['Code']]).toEqual([400, 'MissingParameter']);
    const unknown = await create('unknown-instance', { DKMSInstanceId: UNKNOWN, EncryptionKeyId: softKey });
    expect([unknown.status, unknown.body['Code']]).toEqual([403, 'Forbidden.DKMSInstanceNotFound']);
    const names = (await api(emu, 'ListSecrets'))['SecretList'] as { Secret: Array<{ SecretName: string }> };
    expect(names.Secret.map((s) => s.SecretName)).toEqual(['same']);
  });

  it('filters ListSecrets by DKMSInstanceId (and other documented keys)', async () => {
    await create('other-1', {
      DKMSInstanceId: OTHER,
      EncryptionKeyId: otherKey,
      Tags: '[{"TagKey":"team","TagValue":"blue"}]',
    });
    await create('other-2', { DKMSInstanceId: OTHER, EncryptionKeyId: otherKey });
    const names = async (filters: unknown) =>
      (
        (await api(emu, 'ListSecrets', { Filters: JSON.stringify(filters) }))['SecretList'] as {
          Secret: Array<{ SecretName: string }>;
        }
      ).Secret.map((s) => s.SecretName);
    expect(await names([{ Key: 'DKMSInstanceId', Values: [OTHER] }])).toEqual(['other-1', 'other-2']);
    expect(await names([{ Key: 'DKMSInstanceId', Values: [SOFT] }])).toEqual(['same']);
    expect(
      await names([
        { Key: 'DKMSInstanceId', Values: [OTHER] },
        { Key: 'TagKey', Values: ['team'] },
      ]),
    ).toEqual(['other-1']);
    expect(
      await names([
        { Key: 'DKMSInstanceId', Values: [OTHER, SOFT] },
        { Key: 'SecretName', Values: ['same', 'other-2'] },
      ]),
    ).toEqual(['same', 'other-2']);
    await apiError(
      emu,
      'ListSecrets',
      { Filters: '[{"Key":"KeyState","Values":["Enabled"]}]' },
      'InvalidParameter',
      400,
    );
  });
});

describe('the shared gateway (Internet access) switch', () => {
  it(
    'refuses crypto on keys of an instance without it ' +
      '(Forbidden.NoPermission 403); management and secrets still work',
    async () => {
      const emu = await start({
        instances: [
          { id: SOFT, type: 'software' },
          { id: OTHER, type: 'software', sharedGateway: false },
        ],
      });
      const kms = sdkClient(emu);
      const open = (await createKeyIn(emu, SOFT))['KeyId']!;
      const closed = (await createKeyIn(emu, OTHER))['KeyId']!;
      // with the shared gateway: works through the SDK
      const blob = (await kms.encrypt(new $Kms.EncryptRequest({ keyId: open, plaintext: 'open data' }))).ciphertextBlob;
      expect((await kms.decrypt(new $Kms.DecryptRequest({ ciphertextBlob: blob }))).plaintext).toBe('open data');
      expect((await kms.generateDataKey(new $Kms.GenerateDataKeyRequest({ keyId: open }))).keyId).toBe(open);
      // without it: every crypto action is refused
      const body = await expectKmsError(
        kms.encrypt(new $Kms.EncryptRequest({ keyId: closed, plaintext: 'x' })),
        'Forbidden.NoPermission',
        403,
      );
      expect(body['Message']).toContain('Internet access');
      await expectKmsError(
        kms.generateDataKey(new $Kms.GenerateDataKeyRequest({ keyId: closed })),
        'Forbidden.NoPermission',
        403,
      );
      await expectKmsError(
        kms.generateDataKeyWithoutPlaintext(new $Kms.GenerateDataKeyWithoutPlaintextRequest({ keyId: closed })),
        'Forbidden.NoPermission',
        403,
      );
      // management still goes through the shared endpoint
      expect((await kms.describeKey(new $Kms.DescribeKeyRequest({ keyId: closed }))).keyMetadata.keyState).toBe(
        'Enabled',
      );
      await kms.disableKey(new $Kms.DisableKeyRequest({ keyId: closed }));
      await kms.enableKey(new $Kms.EnableKeyRequest({ keyId: closed }));
      // secrets are not gated (documented)
      await api(emu, 'CreateSecret', {
        SecretName: 'vpc-only',
        VersionId: 'v1',
        SecretData: 'secret',
        DKMSInstanceId: OTHER,
        EncryptionKeyId: closed,
      });
      expect((await kms.getSecretValue(new $Kms.GetSecretValueRequest({ secretName: 'vpc-only' }))).secretData).toBe(
        'secret',
      );
      // switching it on (and off again) in-process applies at once, Decrypt included
      emu.instances.upsert({ id: OTHER, type: 'software', sharedGateway: true });
      const closedBlob = (await kms.encrypt(new $Kms.EncryptRequest({ keyId: closed, plaintext: 'later' })))
        .ciphertextBlob;
      emu.instances.upsert({ id: OTHER, type: 'software', sharedGateway: false });
      await expectKmsError(
        kms.decrypt(new $Kms.DecryptRequest({ ciphertextBlob: closedBlob })),
        'Forbidden.NoPermission',
        403,
      );
      expect((await kms.decrypt(new $Kms.DecryptRequest({ ciphertextBlob: blob }))).plaintext).toBe('open data');
    },
  );
});

describe('instance lifecycle: release and expiry', () => {
  it('releasing an instance makes its keys, aliases and secrets unusable; another instance is untouched', async () => {
    const emu = await start({
      instances: [
        { id: SOFT, type: 'software' },
        { id: OTHER, type: 'hardware' },
      ],
    });
    const kms = sdkClient(emu);
    const gone = (await createKeyIn(emu, SOFT))['KeyId']!;
    const kept = (await createKeyIn(emu, OTHER))['KeyId']!;
    await kms.createAlias(new $Kms.CreateAliasRequest({ aliasName: 'alias/gone', keyId: gone }));
    const goneBlob = await encrypt(emu, gone, 'gone data');
    const keptBlob = await encrypt(emu, kept, 'kept data');
    await api(emu, 'CreateSecret', {
      SecretName: 'gone-secret',
      VersionId: 'v1',
      SecretData: 'g',
      DKMSInstanceId: SOFT,
      EncryptionKeyId: gone,
    });
    await api(emu, 'CreateSecret', {
      SecretName: 'kept-secret',
      VersionId: 'v1',
      SecretData: 'k',
      DKMSInstanceId: OTHER,
      EncryptionKeyId: kept,
    });

    const released = emu.instances.release(SOFT);
    expect(released).toMatchObject({ id: SOFT, condition: 'released', keyCount: 0, secretCount: 0 });

    await expectKmsError(kms.describeKey(new $Kms.DescribeKeyRequest({ keyId: gone })), 'Forbidden.KeyNotFound', 404);
    await expectKmsError(
      kms.encrypt(new $Kms.EncryptRequest({ keyId: gone, plaintext: 'x' })),
      'Forbidden.KeyNotFound',
      404,
    );
    await expectKmsError(
      kms.decrypt(new $Kms.DecryptRequest({ ciphertextBlob: goneBlob })),
      'Forbidden.KeyNotFound',
      404,
    );
    await expectKmsError(
      kms.describeKey(new $Kms.DescribeKeyRequest({ keyId: 'alias/gone' })),
      'Forbidden.AliasNotFound',
      404,
    );
    await expectKmsError(
      kms.getSecretValue(new $Kms.GetSecretValueRequest({ secretName: 'gone-secret' })),
      'Forbidden.ResourceNotFound',
      403,
    );
    await apiError(emu, 'CreateKey', { DKMSInstanceId: SOFT }, 'Forbidden.DKMSInstanceNotFound', 403);
    await apiError(emu, 'GetKmsInstance', { KmsInstanceId: SOFT }, 'Forbidden.DKMSInstanceNotFound', 403);
    expect(await listKeyIds(emu)).toEqual([kept]);

    expect((await kms.decrypt(new $Kms.DecryptRequest({ ciphertextBlob: keptBlob }))).plaintext).toBe('kept data');
    expect((await kms.getSecretValue(new $Kms.GetSecretValueRequest({ secretName: 'kept-secret' }))).secretData).toBe(
      'k',
    );
    const list = (await api(emu, 'ListKmsInstances'))['KmsInstances'] as {
      KmsInstance: Array<{ KmsInstanceId: string }>;
    };
    expect(list.KmsInstance.map((i) => i.KmsInstanceId)).toEqual([OTHER]);
    expect(() => emu.instances.upsert({ id: SOFT, type: 'software' })).toThrow(/released/);
    expect(emu.instances.release(SOFT).condition).toBe('released'); // idempotent
  });

  it(
    'after the end date keys report Unavailable and answer Rejected.Unavailable ' +
      '409; renewal restores them; 15 days later the instance is released',
    async () => {
      const emu = await start({
        instances: [
          { id: SOFT, type: 'software' },
          { id: OTHER, type: 'software' },
        ],
      });
      const kms = sdkClient(emu);
      const now = emu.clock.nowUnix();
      const endUnix = now + 10 * DAY;
      expect(emu.instances.upsert({ id: SOFT, type: 'software', endUnix })).toMatchObject({
        endUnix,
        condition: 'active',
      });
      const instanceView = async () =>
        (await api(emu, 'GetKmsInstance', { KmsInstanceId: SOFT }))['KmsInstance'] as Record<string, unknown>;
      expect(await instanceView()).toMatchObject({
        EndDate: new Date(endUnix * 1000).toISOString().replace('.000Z', 'Z'),
        SaleStatus: 'Normal',
      });
      const keyId = (await createKeyIn(emu, SOFT))['KeyId']!;
      const keptKey = (await createKeyIn(emu, OTHER))['KeyId']!;
      const blob = await encrypt(emu, keyId, 'before expiry');
      await api(emu, 'CreateSecret', {
        SecretName: 'expiring',
        VersionId: 'v1',
        SecretData: 's',
        DKMSInstanceId: SOFT,
        EncryptionKeyId: keyId,
      });

      emu.clock.advance(10 * DAY + 1);
      expect((await describeKey(emu, keyId))['KeyState']).toBe('Unavailable');
      expect(await listKeyIds(emu, [{ Key: 'KeyState', Values: ['Unavailable'] }])).toEqual([keyId]);
      const body = await expectKmsError(
        kms.encrypt(new $Kms.EncryptRequest({ keyId, plaintext: 'x' })),
        'Rejected.Unavailable',
        409,
      );
      expect(body['Message']).toBe('The request was rejected because the key state is Unavailable.');
      await expectKmsError(kms.decrypt(new $Kms.DecryptRequest({ ciphertextBlob: blob })), 'Rejected.Unavailable', 409);
      await expectKmsError(kms.disableKey(new $Kms.DisableKeyRequest({ keyId })), 'Rejected.Unavailable', 409);
      await expectKmsError(
        kms.getSecretValue(new $Kms.GetSecretValueRequest({ secretName: 'expiring' })),
        'Rejected.Unavailable',
        409,
      );
      await expectKmsError(
        kms.putSecretValue(
          new $Kms.PutSecretValueRequest({ secretName: 'expiring', versionId: 'v2', secretData: 'n' }),
        ),
        'Rejected.Unavailable',
        409,
      );
      await apiError(emu, 'CreateKey', { DKMSInstanceId: SOFT }, 'Forbidden.DKMSInstanceStateInvalid', 403);
      expect(await instanceView()).toMatchObject({ SaleStatus: 'Expired', Status: 'Connected' });
      expect(await encrypt(emu, keptKey)).toBeTruthy(); // the other instance is fine

      // renewal (a later end date) restores everything
      emu.instances.upsert({ id: SOFT, type: 'software', endUnix: emu.clock.nowUnix() + 30 * DAY });
      expect((await describeKey(emu, keyId))['KeyState']).toBe('Enabled');
      expect((await kms.decrypt(new $Kms.DecryptRequest({ ciphertextBlob: blob }))).plaintext).toBe('before expiry');
      expect((await kms.getSecretValue(new $Kms.GetSecretValueRequest({ secretName: 'expiring' }))).secretData).toBe(
        's',
      );

      // not renewed: released 15 days after the end date
      emu.clock.advance(30 * DAY + 14 * DAY);
      expect((await describeKey(emu, keyId))['KeyState']).toBe('Unavailable');
      emu.clock.advance(1 * DAY);
      await expectKmsError(kms.describeKey(new $Kms.DescribeKeyRequest({ keyId })), 'Forbidden.KeyNotFound', 404);
      expect(emu.instances.list().find((i) => i.id === SOFT)).toMatchObject({ condition: 'released', keyCount: 0 });
    },
  );
});

describe('GetKmsInstance / ListKmsInstances / GetDefaultKmsInstance', () => {
  it('answers the documented shapes', async () => {
    const ids = Array.from({ length: 23 }, (_, i) => `kst-bjj65f176a0list${String(i).padStart(6, '0')}`);
    const emu = await start({
      region: 'cn-beijing',
      accountId: '1540355698840001',
      instances: ids.map((id, i) => ({ id, type: i % 2 === 0 ? 'software' : 'hardware', endUnix: 1_900_000_000 })),
      defaultInstanceId: ids[1]!,
    });
    await createKeyIn(emu, ids[0]!);
    const got = await api(emu, 'GetKmsInstance', { KmsInstanceId: ids[0]! });
    expect(got['RequestId']).toBeTruthy();
    const instance = got['KmsInstance'] as Record<string, unknown>;
    expect(instance).toMatchObject({
      InstanceId: ids[0],
      InstanceName: ids[0],
      Status: 'Connected',
      EndDate: '2030-03-17T17:46:40Z',
      ChargeType: 'PREPAY',
      ProductType: 'kms_ddi_public_cn',
      ProductVersion: '3',
      SaleStatus: 'Normal',
      Spec: 1000,
      KeyNum: 1000,
      SecretNum: '1000',
      VpcNum: 1,
      VswitchIds: [],
      ZoneIds: [],
      BindVpcs: { BindVpc: [] },
      DeletionProtection: false,
    });
    for (const field of ['StartDate', 'CreateTime'])
      expect(instance[field]).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
    expect(instance).not.toHaveProperty('KmsInstanceId');
    await apiError(emu, 'GetKmsInstance', {}, 'MissingParameter', 400);
    await apiError(
      emu,
      'GetKmsInstance',
      { KmsInstanceId: 'kst-bjj65f176a0nothere0001' },
      'Forbidden.DKMSInstanceNotFound',
      403,
    );

    const page1 = await api(emu, 'ListKmsInstances');
    expect(page1).toMatchObject({ PageNumber: 1, PageSize: 20, TotalCount: 23 });
    const items = (page1['KmsInstances'] as { KmsInstance: Array<Record<string, string>> }).KmsInstance;
    expect(items).toHaveLength(20);
    expect(items[0]).toEqual({
      KmsInstanceId: ids[0],
      KmsInstanceArn: `acs:kms:cn-beijing:1540355698840001:keystore/${ids[0]}`,
    });
    const page2 = await api(emu, 'ListKmsInstances', { PageNumber: '2' });
    expect(
      (page2['KmsInstances'] as { KmsInstance: Array<Record<string, string>> }).KmsInstance.map((i) => i.KmsInstanceId),
    ).toEqual(ids.slice(20));
    await apiError(emu, 'ListKmsInstances', { PageSize: '101' }, 'InvalidParameter', 400);

    expect(await api(emu, 'GetDefaultKmsInstance')).toMatchObject({ DefaultKmsInstanceId: ids[1] });
  });
});

describe('ListKeys Filters', () => {
  it('filters by DKMSInstanceId and the other documented keys (AND across keys, OR within values)', async () => {
    const emu = await start({
      instances: [
        { id: SOFT, type: 'software' },
        { id: HARD, type: 'hardware' },
      ],
    });
    const kms = sdkClient(emu);
    const soft1 = (await createKeyIn(emu, SOFT))['KeyId']!;
    const soft2 = (await createKeyIn(emu, SOFT, { Origin: 'EXTERNAL' }))['KeyId']!;
    const hard = (await createKeyIn(emu, HARD))['KeyId']!;
    const dflt = (await kms.createKey(new $Kms.CreateKeyRequest({}))).keyMetadata.keyId;
    await kms.createAlias(new $Kms.CreateAliasRequest({ aliasName: 'alias/soft-one', keyId: soft1 }));
    await kms.tagResource(new $Kms.TagResourceRequest({ keyId: hard, tags: '[{"TagKey":"tier","TagValue":"gold"}]' }));
    await kms.disableKey(new $Kms.DisableKeyRequest({ keyId: soft1 }));

    expect(await listKeyIds(emu)).toEqual([soft1, soft2, hard, dflt].sort());
    expect(await listKeyIds(emu, [{ Key: 'DKMSInstanceId', Values: [SOFT] }])).toEqual([soft1, soft2].sort());
    expect(await listKeyIds(emu, [{ Key: 'DKMSInstanceId', Values: [SOFT, HARD] }])).toEqual(
      [soft1, soft2, hard].sort(),
    );
    expect(
      await listKeyIds(emu, [
        { Key: 'DKMSInstanceId', Values: [SOFT] },
        { Key: 'KeyState', Values: ['Enabled'] },
      ]),
    ).toEqual([]);
    expect(
      await listKeyIds(emu, [
        { Key: 'KeyState', Values: ['Disabled'] },
        { Key: 'KeyState', Values: ['PendingImport'] },
      ]),
    ).toEqual([soft1, soft2].sort());
    expect(await listKeyIds(emu, [{ Key: 'ProtectionLevel', Values: ['HSM'] }])).toEqual([hard]);
    expect(await listKeyIds(emu, [{ Key: 'AliasName', Values: ['alias/soft-one'] }])).toEqual([soft1]);
    expect(
      await listKeyIds(emu, [
        { Key: 'TagKey', Values: ['tier'] },
        { Key: 'TagValue', Values: ['gold'] },
      ]),
    ).toEqual([hard]);
    expect(await listKeyIds(emu, [{ Key: 'keyId', Values: [dflt] }])).toEqual([dflt]);
    expect(
      await listKeyIds(emu, [
        { Key: 'CreatorType', Values: ['User'] },
        { Key: 'Creator', Values: ['1234567890123456'] },
      ]),
    ).toHaveLength(4);
    const paged = await api(emu, 'ListKeys', {
      PageSize: '1',
      Filters: JSON.stringify([{ Key: 'DKMSInstanceId', Values: [SOFT] }]),
    });
    expect(paged).toMatchObject({ TotalCount: 2, PageSize: 1 });

    for (const bad of [
      'not json',
      '{"Key":"KeyState"}',
      '[{"Key":"Colour","Values":["red"]}]',
      '[{"Key":"KeyState","Values":"Enabled"}]',
      JSON.stringify(Array.from({ length: 11 }, () => ({ Key: 'KeyState', Values: ['Enabled'] }))),
      JSON.stringify([{ Key: 'KeyState', Values: Array.from({ length: 11 }, () => 'Enabled') }]),
    ]) {
      const body = await apiError(emu, 'ListKeys', { Filters: bad }, 'InvalidParameter', 400);
      expect(body['Message']).toContain('Filters');
    }
  });
});

describe('admin API: /__emulator/instances', () => {
  let emu: KmsEmulator;
  beforeAll(async () => {
    emu = await start({ admin: true });
  });
  const admin = (method: string, route: string, json?: unknown) =>
    rawCall(emu, { method, path: `/__emulator/${route}`, json });

  it('creates, updates, lists and releases instances; GET state lists them', async () => {
    const created = await admin('POST', 'instances', {
      id: HARD,
      type: 'hardware',
      sharedGateway: false,
      endDate: '2031-01-02T03:04:05Z',
    });
    expect(created.status).toBe(200);
    expect(created.body['instance']).toMatchObject({
      id: HARD,
      type: 'hardware',
      sharedGateway: false,
      condition: 'active',
      endUnix: Date.parse('2031-01-02T03:04:05Z') / 1000,
      endDate: '2031-01-02T03:04:05Z',
      keyCount: 0,
    });
    const keyId = (await createKeyIn(emu, HARD))['KeyId']!;
    expect(await describeKey(emu, keyId)).toMatchObject({ ProtectionLevel: 'HSM', DKMSInstanceId: HARD });
    await apiError(emu, 'Encrypt', { KeyId: keyId, Plaintext: 'x' }, 'Forbidden.NoPermission', 403);

    const updated = await admin('POST', 'instances', { id: HARD, type: 'hardware', sharedGateway: true });
    expect(updated.body['instance']).toMatchObject({
      sharedGateway: true,
      endDate: '2031-01-02T03:04:05Z',
      keyCount: 1,
    });
    await encrypt(emu, keyId);

    const state = await admin('GET', 'state');
    expect(state.body['kmsVersion']).toBe(3);
    expect(state.body['instances']).toEqual([
      expect.objectContaining({ id: HARD, type: 'hardware', sharedGateway: true, keyCount: 1 }),
    ]);
    expect((state.body['keys'] as Array<Record<string, unknown>>).find((k) => k['keyId'] === keyId)).toMatchObject({
      dkmsInstanceId: HARD,
    });
    expect((await admin('GET', 'instances')).body['instances']).toHaveLength(1);

    const deleted = await admin('DELETE', `instances/${HARD}`);
    expect(deleted.status).toBe(200);
    expect(deleted.body['instance']).toMatchObject({ id: HARD, condition: 'released', keyCount: 0 });
    await apiError(emu, 'DescribeKey', { KeyId: keyId }, 'Forbidden.KeyNotFound', 404);
    expect(emu.instances.list()).toEqual([expect.objectContaining({ id: HARD, condition: 'released' })]);
  });

  it.each([
    [{ id: 'kst-short', type: 'software' }, 'KMS instance id'],
    [{ id: SOFT, type: 'cloud' }, '"type"'],
    [{ id: SOFT, type: 'software', sharedGateway: 'yes' }, '"sharedGateway"'],
    [{ id: SOFT, type: 'software', endDate: 'next year' }, '"endDate"'],
    [{ id: SOFT, type: 'software', keyQuota: 0 }, '"keyQuota"'],
    [{ id: SOFT, type: 'software', secretQuota: 2.5 }, '"secretQuota"'],
    [{ id: SOFT, type: 'software', colour: 'red' }, 'unknown field'],
    [[SOFT], 'JSON object'],
  ])('refuses %j with 400 and a reason', async (body, reason) => {
    const res = await admin('POST', 'instances', body);
    expect(res.status).toBe(400);
    expect(res.body['error']).toContain(reason);
  });

  it(
    'refuses changing the type of an instance, answers 404 for an unknown ' +
      'one, 400 for a malformed id and 405 for other methods',
    async () => {
      expect((await admin('POST', 'instances', { id: SOFT, type: 'software' })).status).toBe(200);
      const changed = await admin('POST', 'instances', { id: SOFT, type: 'hardware' });
      expect([changed.status, changed.body['error']]).toEqual([
        400,
        `instance ${SOFT} is a software instance; its type cannot change`,
      ]);
      expect((await admin('DELETE', `instances/${UNKNOWN}`)).status).toBe(404);
      expect((await admin('DELETE', 'instances/kst-bad')).status).toBe(400);
      expect((await admin('PUT', `instances/${SOFT}`, {})).status).toBe(405);
      expect((await admin('PATCH', 'instances', {})).status).toBe(405);
    },
  );

  it('refuses instances on a KMS 1.0 emulator', async () => {
    const v1 = await start({ admin: true, kmsVersion: 1 });
    const res = await rawCall(v1, {
      method: 'POST',
      path: '/__emulator/instances',
      json: { id: SOFT, type: 'software' },
    });
    expect(res.status).toBe(400);
    expect(res.body['error']).toContain('kmsVersion 3');
    expect((await rawCall(v1, { method: 'GET', path: '/__emulator/state' })).body).toMatchObject({
      kmsVersion: 1,
      instances: [],
    });
  });
});

describe('start-up options', () => {
  it('validates instance ids, duplicates, the default instance and the KMS version with clear errors', async () => {
    await expect(startKmsEmulator({ instances: [{ id: 'kst-123', type: 'software' }] })).rejects.toThrow(
      /KMS instance id like kst-/,
    );
    await expect(
      startKmsEmulator({
        instances: [
          { id: SOFT, type: 'software' },
          { id: SOFT, type: 'hardware' },
        ],
      }),
    ).rejects.toThrow(/declared twice/);
    await expect(
      startKmsEmulator({ instances: [{ id: SOFT, type: 'software' }], defaultInstanceId: OTHER }),
    ).rejects.toThrow(/defaultInstanceId/);
    await expect(startKmsEmulator({ kmsVersion: 1, instances: [{ id: SOFT, type: 'software' }] })).rejects.toThrow(
      /kmsVersion 3/,
    );
    await expect(startKmsEmulator({ kmsVersion: 2 as 3 })).rejects.toThrow(/kmsVersion must be 1 or 3/);
    expect(INSTANCE_ID_RE.test('kst-bjj62d8f5e0sgtx8habcd')).toBe(true); // the documented example, unmasked
  });
});

describe('KMS 1.0 (kmsVersion: 1)', () => {
  it(
    'keeps the shared model: many keys without instances, no ' + 'DKMSInstanceId field, every instance id unknown',
    async () => {
      const emu = await start({ kmsVersion: 1 });
      const kms = sdkClient(emu);
      const a = (await kms.createKey(new $Kms.CreateKeyRequest({}))).keyMetadata.keyId;
      const b = (await kms.createKey(new $Kms.CreateKeyRequest({}))).keyMetadata.keyId;
      expect([a, b].every((id) => UUID_RE.test(id))).toBe(true);
      expect(await describeKey(emu, a)).not.toHaveProperty('DKMSInstanceId');
      expect(await encrypt(emu, a)).toBeTruthy(); // no default-key restriction in KMS 1.0
      await apiError(emu, 'CreateKey', { DKMSInstanceId: SOFT }, 'Forbidden.DKMSInstanceNotFound', 403);
      await apiError(
        emu,
        'CreateSecret',
        { SecretName: 's', VersionId: 'v1', SecretData: 'd', DKMSInstanceId: SOFT },
        'Forbidden.DKMSInstanceNotFound',
        403,
      );
      expect(await api(emu, 'ListKmsInstances')).toMatchObject({ TotalCount: 0, KmsInstances: { KmsInstance: [] } });
      expect(await api(emu, 'GetDefaultKmsInstance')).toMatchObject({ DefaultKmsInstanceId: '' });
      await apiError(emu, 'GetKmsInstance', { KmsInstanceId: SOFT }, 'Forbidden.DKMSInstanceNotFound', 403);
      expect(() => emu.instances.upsert({ id: SOFT, type: 'software' })).toThrow(/kmsVersion 3/);
      expect(emu.instances.list()).toEqual([]);
    },
  );
});

describe('persistence of instances', () => {
  it('keeps instances, their keys and secrets, end dates and releases across a restart', async () => {
    const stateFile = join(dir, 'v3-state.json');
    const first = await startKmsEmulator({
      stateFile,
      instances: [
        { id: SOFT, type: 'software', endUnix: 1_950_000_000 },
        { id: HARD, type: 'hardware', sharedGateway: false },
        { id: CLOSED, type: 'software' },
      ],
    });
    const keyId = (await createKeyIn(first, SOFT))['KeyId']!;
    const blob = await encrypt(first, keyId, 'persisted');
    await api(first, 'CreateSecret', {
      SecretName: 'kept',
      VersionId: 'v1',
      SecretData: 'kept data',
      DKMSInstanceId: SOFT,
      EncryptionKeyId: keyId,
    });
    first.instances.release(CLOSED);
    await first.close();
    const doc = JSON.parse(readFileSync(stateFile, 'utf8')) as Record<string, unknown>;
    expect(doc).toMatchObject({ version: 2, kmsVersion: 3 });
    expect((doc['instances'] as unknown[]).length).toBe(3);

    // restarted without declaring anything: everything comes back from the file
    const second = await start({ stateFile });
    expect(
      second.instances.list().map((i) => [i.id, i.type, i.sharedGateway, i.condition, i.endUnix === 1_950_000_000]),
    ).toEqual([
      [SOFT, 'software', true, 'active', true],
      [HARD, 'hardware', false, 'active', false],
      [CLOSED, 'software', true, 'released', false],
    ]);
    expect(await describeKey(second, keyId)).toMatchObject({ DKMSInstanceId: SOFT, KeyState: 'Enabled' });
    expect((await api(second, 'Decrypt', { CiphertextBlob: blob }))['Plaintext']).toBe('persisted');
    expect(await api(second, 'DescribeSecret', { SecretName: 'kept' })).toMatchObject({ DKMSInstanceId: SOFT });
    await apiError(second, 'CreateKey', { DKMSInstanceId: CLOSED }, 'Forbidden.DKMSInstanceNotFound', 403);
    await second.close();

    // a KMS 1.0 start on a file with instances is refused, naming the reason
    await expect(startKmsEmulator({ stateFile, kmsVersion: 1 })).rejects.toThrow(/holds KMS 3.0 instances/);
  });

  it('still loads a version-1 state file (KMS 1.0, no instances), also as KMS 3.0', async () => {
    const stateFile = join(dir, 'v1-state.json');
    const old = await startKmsEmulator({ stateFile, kmsVersion: 1 });
    const kms = sdkClient(old);
    const keys: string[] = [];
    for (let i = 0; i < 2; i += 1) keys.push((await kms.createKey(new $Kms.CreateKeyRequest({}))).keyMetadata.keyId);
    const blob = await encrypt(old, keys[0]!, 'from KMS 1.0');
    await old.close();
    // rewrite it exactly as the previous emulator version wrote it
    const doc = JSON.parse(readFileSync(stateFile, 'utf8')) as Record<string, unknown>;
    doc['version'] = 1;
    delete doc['kmsVersion'];
    delete doc['instances'];
    writeFileSync(stateFile, JSON.stringify(doc), { mode: 0o600 });

    const asV1 = await start({ stateFile, kmsVersion: 1 });
    expect((await api(asV1, 'Decrypt', { CiphertextBlob: blob }))['Plaintext']).toBe('from KMS 1.0');
    await asV1.close();

    writeFileSync(stateFile, JSON.stringify(doc), { mode: 0o600 });
    const asV3 = await start({ stateFile, instances: [{ id: SOFT, type: 'software' }] });
    // the KMS 1.0 keys keep working (they are not the default CMK) and report no instance
    expect(await describeKey(asV3, keys[1]!)).toMatchObject({ DKMSInstanceId: '', KeyState: 'Enabled' });
    expect((await api(asV3, 'Decrypt', { CiphertextBlob: blob }))['Plaintext']).toBe('from KMS 1.0');
    expect((await createKeyIn(asV3, SOFT))['DKMSInstanceId']).toBe(SOFT);
    await asV3.close();
    expect(JSON.parse(readFileSync(stateFile, 'utf8'))).toMatchObject({ version: 2, kmsVersion: 3 });
  });
});

describe('other fixes of the KMS 3.0 issue', () => {
  let emu: KmsEmulator;
  let keyId: string;
  beforeAll(async () => {
    // the default instance lets the v1.2.0 SDK (no DKMSInstanceId) create secrets in the instance
    emu = await start({ instances: [{ id: SOFT, type: 'software' }], defaultInstanceId: SOFT });
    keyId = (await createKeyIn(emu, SOFT))['KeyId']!;
  });
  afterEach(() => {
    emu.faults.reset();
    emu.faults.setQpsLimit(0);
  });

  it('limits alias names to 255 characters including "alias/"', async () => {
    const kms = sdkClient(emu);
    const longest = `alias/${'a'.repeat(249)}`;
    expect(longest).toHaveLength(255);
    await kms.createAlias(new $Kms.CreateAliasRequest({ aliasName: longest, keyId }));
    expect((await describeKey(emu, longest))['KeyId']).toBe(keyId);
    const body = await expectKmsError(
      kms.createAlias(new $Kms.CreateAliasRequest({ aliasName: `${longest}b`, keyId })),
      'InvalidParameter',
      400,
    );
    expect(body['Message']).toContain('AliasName');
  });

  it('throttles Secrets Manager actions with Rejected.Throttling 429 and key actions with Throttling 400', async () => {
    const kms = sdkClient(emu);
    await kms.createSecret(
      new $Kms.CreateSecretRequest({
        secretName: 'throttled',
        versionId: 'v1',
        secretData: 'd',
        encryptionKeyId: keyId,
      }),
    );
    emu.faults.inject({ kind: 'throttle', actions: ['GetSecretValue', 'Encrypt'], count: 2 });
    const body = await expectKmsError(
      kms.getSecretValue(new $Kms.GetSecretValueRequest({ secretName: 'throttled' })),
      'Rejected.Throttling',
      429,
    );
    expect(body['Message']).toBe('The QPS upper limit is exceeded.');
    await expectKmsError(kms.encrypt(new $Kms.EncryptRequest({ keyId, plaintext: 'x' })), 'Throttling', 400);
    expect((await kms.getSecretValue(new $Kms.GetSecretValueRequest({ secretName: 'throttled' }))).secretData).toBe(
      'd',
    );

    emu.faults.setQpsLimit(1);
    const results = await Promise.allSettled([
      ...Array.from({ length: 4 }, () =>
        kms.describeSecret(new $Kms.DescribeSecretRequest({ secretName: 'throttled' })),
      ),
      ...Array.from({ length: 4 }, () => kms.describeKey(new $Kms.DescribeKeyRequest({ keyId }))),
    ]);
    const codes = results.map((r) =>
      r.status === 'fulfilled' ? 'ok' : (r.reason as { data: { Code: string } }).data.Code,
    );
    expect(codes.filter((c) => c !== 'ok').length).toBeGreaterThanOrEqual(6); // burst 1
    for (const [i, code] of codes.entries())
      if (code !== 'ok') expect(code).toBe(i < 4 ? 'Rejected.Throttling' : 'Throttling');
  });

  it('keeps at most 10 versions per secret, dropping the earliest even when it is ACSPrevious', async () => {
    const kms = sdkClient(emu);
    const put = (versionId: string, versionStages?: string) =>
      kms.putSecretValue(
        new $Kms.PutSecretValueRequest({
          secretName: 'capped',
          versionId,
          secretData: versionId,
          ...(versionStages ? { versionStages } : {}),
        }),
      );
    await kms.createSecret(
      new $Kms.CreateSecretRequest({ secretName: 'capped', versionId: 'v1', secretData: 'v1', encryptionKeyId: keyId }),
    );
    await put('v2'); // v2 ACSCurrent, v1 ACSPrevious
    for (let i = 3; i <= 11; i += 1) await put(`v${i}`, '["ACSNext"]'); // v3..v10 end unstaged
    const versions = async () =>
      (
        await kms.listSecretVersionIds(
          new $Kms.ListSecretVersionIdsRequest({ secretName: 'capped', includeDeprecated: 'true', pageSize: 100 }),
        )
      ).versionIds.versionId.map((v) => v.versionId);
    expect(await versions()).toEqual(['v2', 'v3', 'v4', 'v5', 'v6', 'v7', 'v8', 'v9', 'v10', 'v11']);
    await expectKmsError(
      kms.getSecretValue(new $Kms.GetSecretValueRequest({ secretName: 'capped', versionStage: 'ACSPrevious' })),
      'Forbidden.ResourceNotFound',
      403,
    );
    // the ACSCurrent version is never dropped, even when it is the earliest
    await put('v12', '["ACSNext"]');
    await put('v13', '["ACSNext"]');
    expect(await versions()).toEqual(['v2', 'v5', 'v6', 'v7', 'v8', 'v9', 'v10', 'v11', 'v12', 'v13']);
    expect((await kms.getSecretValue(new $Kms.GetSecretValueRequest({ secretName: 'capped' }))).versionId).toBe('v2');
  });
});
