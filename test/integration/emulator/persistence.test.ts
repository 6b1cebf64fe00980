import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startKmsEmulator } from '@byok/kms-emulator';
import { $Kms, expectKmsError, importInto, sdkClient, wrapMaterial } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'kms-emu-persist-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('state file', () => {
  it('survives a restart: keys, material, tokens, aliases, tags, secrets and the clock offset', async () => {
    const stateFile = join(dir, 'nested', 'kms-state.json');
    const first = await startKmsEmulator({ kmsVersion: 1, stateFile });
    const kms1 = sdkClient(first);

    const managed = (await kms1.createKey(new $Kms.CreateKeyRequest({}))).keyMetadata.keyId;
    const managedBlob = (await kms1.encrypt(new $Kms.EncryptRequest({ keyId: managed, plaintext: 'managed data' })))
      .ciphertextBlob;

    const material = randomBytes(32);
    const external = (await kms1.createKey(new $Kms.CreateKeyRequest({ origin: 'EXTERNAL' }))).keyMetadata.keyId;
    const expiry = first.clock.nowUnix() + 60 * 86_400;
    await importInto(kms1, external, material, expiry);
    const externalBlob = (await kms1.encrypt(new $Kms.EncryptRequest({ keyId: external, plaintext: 'byok data' })))
      .ciphertextBlob;
    await kms1.createAlias(new $Kms.CreateAliasRequest({ aliasName: 'alias/persisted', keyId: external }));
    await kms1.tagResource(
      new $Kms.TagResourceRequest({ keyId: external, tags: '[{"TagKey":"byok:gen","TagValue":"1"}]' }),
    );

    // a token issued before the restart, used after it
    const pending = (await kms1.createKey(new $Kms.CreateKeyRequest({ origin: 'EXTERNAL' }))).keyMetadata.keyId;
    const params = await kms1.getParametersForImport(
      new $Kms.GetParametersForImportRequest({
        keyId: pending,
        wrappingAlgorithm: 'RSAES_OAEP_SHA_256',
        wrappingKeySpec: 'RSA_2048',
      }),
    );

    await kms1.createSecret(
      new $Kms.CreateSecretRequest({ secretName: 'escrow/persisted', versionId: 'v1', secretData: 'SECRET-ONE' }),
    );
    await kms1.putSecretValue(
      new $Kms.PutSecretValueRequest({ secretName: 'escrow/persisted', versionId: 'v2', secretData: 'SECRET-TWO' }),
    );

    first.clock.advance(5 * 3600); // less than the 24 h token lifetime
    const clockBefore = first.clock.nowUnix();
    await first.close();

    expect(statSync(stateFile).mode & 0o777).toBe(0o600);
    const text = readFileSync(stateFile, 'utf8');
    expect(text).not.toContain('SECRET-ONE'); // secret data is encrypted under its CMK
    expect(text).not.toContain(params.importToken); // tokens are stored by hash only

    const second = await startKmsEmulator({ kmsVersion: 1, stateFile });
    try {
      const kms2 = sdkClient(second);
      expect(second.clock.nowUnix() - clockBefore).toBeGreaterThanOrEqual(0);
      expect(second.clock.nowUnix() - clockBefore).toBeLessThanOrEqual(5);

      expect((await kms2.decrypt(new $Kms.DecryptRequest({ ciphertextBlob: managedBlob }))).plaintext).toBe(
        'managed data',
      );
      expect((await kms2.decrypt(new $Kms.DecryptRequest({ ciphertextBlob: externalBlob }))).plaintext).toBe(
        'byok data',
      );
      const meta = (await kms2.describeKey(new $Kms.DescribeKeyRequest({ keyId: 'alias/persisted' }))).keyMetadata;
      expect(meta).toMatchObject({ keyId: external, keyState: 'Enabled' });
      expect(Date.parse(meta.materialExpireTime) / 1000).toBe(expiry);
      expect(
        (await kms2.listResourceTags(new $Kms.ListResourceTagsRequest({ keyId: external }))).tags.tag[0],
      ).toMatchObject({
        tagKey: 'byok:gen',
        tagValue: '1',
      });

      // the bound material is still bound (same keyed fingerprint after restart)
      await importInto(kms2, external, material, 0);
      await expectKmsError(
        kms2.importKeyMaterial(
          new $Kms.ImportKeyMaterialRequest({
            keyId: pending,
            importToken: params.importToken,
            encryptedKeyMaterial: wrapMaterial(params.publicKey, randomBytes(16)),
            keyMaterialExpireUnix: 0,
          }),
        ),
        'InvalidKeyMaterial',
        400,
      );
      // the pre-restart token's private key survived: a real unwrap succeeds
      await kms2.importKeyMaterial(
        new $Kms.ImportKeyMaterialRequest({
          keyId: pending,
          importToken: params.importToken,
          encryptedKeyMaterial: wrapMaterial(params.publicKey, randomBytes(32)),
          keyMaterialExpireUnix: 0,
        }),
      );
      expect((await kms2.describeKey(new $Kms.DescribeKeyRequest({ keyId: pending }))).keyMetadata.keyState).toBe(
        'Enabled',
      );

      expect(
        (await kms2.getSecretValue(new $Kms.GetSecretValueRequest({ secretName: 'escrow/persisted' }))).secretData,
      ).toBe('SECRET-TWO');
      expect(
        (
          await kms2.getSecretValue(
            new $Kms.GetSecretValueRequest({ secretName: 'escrow/persisted', versionStage: 'ACSPrevious' }),
          )
        ).secretData,
      ).toBe('SECRET-ONE');
      await expectKmsError(
        kms2.putSecretValue(
          new $Kms.PutSecretValueRequest({ secretName: 'escrow/persisted', versionId: 'v2', secretData: 'changed' }),
        ),
        'Rejected.ResourceExist',
        409,
      );
      // + Secrets Manager service key
      expect((await kms2.listKeys(new $Kms.ListKeysRequest({ pageSize: 100 }))).totalCount).toBe(4);
    } finally {
      await second.close();
    }
    expect(statSync(stateFile).mode & 0o777).toBe(0o600);
  });

  it('refuses to start on a corrupt state file, naming it, and leaves the file untouched', async () => {
    const stateFile = join(dir, 'corrupt.json');
    writeFileSync(stateFile, '{"not":"ours"}');
    await expect(startKmsEmulator({ kmsVersion: 1, stateFile })).rejects.toThrow(stateFile);
    expect(readFileSync(stateFile, 'utf8')).toBe('{"not":"ours"}');
  });

  it('lets startUnix override a restored clock offset', async () => {
    const stateFile = join(dir, 'clock.json');
    const a = await startKmsEmulator({ kmsVersion: 1, stateFile });
    a.clock.advance(1000 * 86_400);
    await a.close();
    const b = await startKmsEmulator({ kmsVersion: 1, stateFile, startUnix: 1_800_000_000 });
    try {
      expect(b.clock.nowUnix() - 1_800_000_000).toBeLessThanOrEqual(2);
    } finally {
      await b.close();
    }
  });
});
