/**
 * Every SDK call the product makes, once, through the real KMS adapter against the emulator. This
 * is the check behind the `@alicloud/tea-util` pin in package.json `overrides` (1.4.9: the SDK's
 * 1.4.11 pulls in @darabonba/typescript with lodash, moment, ws, xml2js, socks): if the lighter
 * version broke a request or a response path, one of these calls would fail.
 */
import { createRequire } from 'node:module';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startKmsEmulator, type KmsEmulator } from '@byok/kms-emulator';
import { createAlicloudKms } from '../../../shared/kms/alicloud-adapter.js';
import type { KmsPort } from '../../../shared/kms/port.js';
import { systemRandom } from '../../../shared/system.js';
import { wrapKeyMaterial } from '../../../shared/wrap/index.js';

const AK = { accessKeyId: 'sdk-calls-ak', accessKeySecret: 'sdk-calls-secret-0123456789' };
const INSTANCE = 'kst-hzz65f176a0sdkcall001';
let emu: KmsEmulator;
let kms: KmsPort;

beforeAll(async () => {
  emu = await startKmsEmulator({
    kmsVersion: 3,
    port: 0,
    credentials: [AK],
    instances: [{ id: INSTANCE, type: 'software' }],
    defaultInstanceId: INSTANCE,
  });
  kms = createAlicloudKms({
    endpoint: emu.endpoint,
    protocol: 'http',
    regionId: 'cn-hangzhou',
    credentials: () => AK,
    random: systemRandom,
    nowMs: () => Date.now(),
    retry: { maxAttempts: 1, baseDelayMs: 10, maxDelayMs: 10 },
  });
});
afterAll(async () => {
  await emu?.close();
});

describe('the SDK stack the bundles ship', () => {
  it('resolves @alicloud/tea-util to the pinned 1.4.9 for every SDK package', () => {
    for (const pkg of ['@alicloud/kms20160120', '@alicloud/openapi-client', '@alicloud/rpc-client']) {
      const fromPkg = createRequire(createRequire(import.meta.url).resolve(`${pkg}/package.json`));
      expect({ pkg, version: fromPkg('@alicloud/tea-util/package.json').version }).toEqual({ pkg, version: '1.4.9' });
    }
  });

  it('makes every KmsPort call once through the adapter', async () => {
    const key = await kms.createKey({ origin: 'EXTERNAL', keySpec: 'Aliyun_AES_256', description: 'sdk calls' });
    expect((await kms.describeKey(key.keyId)).keyState).toBe('PendingImport');
    expect(await kms.listKeys()).toContain(key.keyId);

    const params = await kms.getParametersForImport({
      keyId: key.keyId,
      wrappingAlgorithm: 'RSAES_OAEP_SHA_256',
      wrappingKeySpec: 'RSA_2048',
    });
    const encryptedKeyMaterial = wrapKeyMaterial(
      {
        material: randomBytes(32),
        keySpec: 'Aliyun_AES_256',
        publicKeyBase64: params.publicKeyBase64,
        wrappingAlgorithm: 'RSAES_OAEP_SHA_256',
        wrappingKeySpec: 'RSA_2048',
      },
      systemRandom,
    );
    await kms.importKeyMaterial({
      keyId: key.keyId,
      encryptedKeyMaterial,
      importToken: params.importToken,
      keyMaterialExpireUnix: Math.floor(emu.clock.nowUnix()) + 86_400,
    });
    expect((await kms.describeKey(key.keyId)).keyState).toBe('Enabled');

    const other = await kms.createKey({ origin: 'Aliyun_KMS', keySpec: 'Aliyun_AES_256' });
    await kms.createAlias('alias/sdk-calls', key.keyId);
    await kms.updateAlias('alias/sdk-calls', other.keyId);
    expect(await kms.listAliases()).toContainEqual(
      expect.objectContaining({ aliasName: 'alias/sdk-calls', keyId: other.keyId }),
    );

    await kms.tagResource(key.keyId, { 'byok:a': '1', 'byok:b': '2' });
    await kms.untagResource(key.keyId, ['byok:b']);
    expect(await kms.listResourceTags(key.keyId)).toEqual({ 'byok:a': '1' });

    const plaintext = Buffer.from('sdk calls').toString('base64');
    const enc = await kms.encrypt({ keyId: key.keyId, plaintext, encryptionContext: { purpose: 'test' } });
    const dec = await kms.decrypt({ ciphertextBlob: enc.ciphertextBlob, encryptionContext: { purpose: 'test' } });
    expect(dec.plaintext).toBe(plaintext);

    await kms.createSecret({
      secretName: 'sdk-calls-secret',
      versionId: 'v1',
      secretData: 'one',
      encryptionKeyId: other.keyId,
      tags: { 'byok:s': 'x' },
    });
    await kms.putSecretValue({ secretName: 'sdk-calls-secret', versionId: 'v2', secretData: 'two' });
    expect((await kms.getSecretValue({ secretName: 'sdk-calls-secret' })).secretData).toBe('two');
    expect((await kms.describeSecret('sdk-calls-secret')).secretName).toBe('sdk-calls-secret');
    expect((await kms.listSecretVersionIds('sdk-calls-secret')).map((v) => v.versionId).sort()).toEqual(['v1', 'v2']);
    expect((await kms.listSecrets()).map((s) => s.secretName)).toContain('sdk-calls-secret');

    expect((await kms.getKmsInstance(INSTANCE)).instanceId).toBe(INSTANCE);
    await kms.getDefaultKmsInstance();

    await kms.deleteKeyMaterial(key.keyId);
    expect((await kms.describeKey(key.keyId)).keyState).toBe('PendingImport');
  });
});
