/**
 * The kms-secrets escrow backend. The shared EscrowStore contract runs twice: against the KMS
 * emulator through the real KmsPort adapter (the official SDK over HTTP on 127.0.0.1), and against
 * the in-memory Secrets Manager fake (test/support/fake-secrets-kms.ts), which the
 * backend-specific tests below also use for call recording and direct tampering.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { startKmsEmulator } from '@byok/kms-emulator';
import type { KmsEmulator } from '@byok/kms-emulator';
import { ErrorCode, OrchestratorError } from '../../../shared/errors.js';
import { createKmsSecretsEscrowStore, escrowSecretName } from '../../../shared/escrow/kms-secrets-store.js';
import { createAlicloudKms } from '../../../shared/kms/alicloud-adapter.js';
import { systemRandom } from '../../../shared/system.js';
import { FakeSecretsKms } from '../../support/fake-secrets-kms.js';
import { kmsConsole } from '../../support/engine-harness.js';
import { escrowStoreContract, rejection, testMaterial, testRecord } from '../../unit/escrow/contract.js';

const TEST_AK = { accessKeyId: 'escrow-test-ak', accessKeySecret: 'escrow-test-secret-0123456789' };
const emulators: KmsEmulator[] = [];
afterAll(async () => {
  await Promise.all(emulators.map((e) => e.close()));
});

escrowStoreContract('kms-secrets (KMS emulator via the SDK adapter)', async (options) => {
  const emu = await startKmsEmulator({ kmsVersion: 1, port: 0, credentials: [TEST_AK] });
  emulators.push(emu);
  const kms = createAlicloudKms({
    endpoint: emu.endpoint,
    protocol: 'http',
    regionId: 'cn-hangzhou',
    credentials: () => TEST_AK,
    random: systemRandom,
    nowMs: () => Date.now(),
    retry: { maxAttempts: 3, baseDelayMs: 5, maxDelayMs: 20 },
  });
  const escrowCmk = await kms.createKey({ origin: 'Aliyun_KMS', keySpec: 'Aliyun_AES_256', description: 'escrow CMK' });
  const open = async () => createKmsSecretsEscrowStore({ kms, encryptionKeyId: escrowCmk.keyId, ...options });
  return {
    store: await open(),
    reopen: open,
    // Someone with Secrets Manager rights replaces the secret: same name and fingerprint-derived
    // VersionId, material altered. Only the material check can catch this.
    async corruptMaterial(keyId) {
      const secretName = escrowSecretName(keyId);
      const current = await kms.getSecretValue({ secretName });
      const parsed = JSON.parse(current.secretData) as { material: string };
      const flipped = Buffer.from(Buffer.from(parsed.material, 'base64').map((b) => b ^ 0xff)).toString('base64');
      await kmsConsole(emu.endpoint, TEST_AK).deleteSecret(secretName, { force: true });
      await kms.createSecret({
        secretName,
        versionId: current.versionId,
        secretData: JSON.stringify({ ...parsed, material: flipped }),
        encryptionKeyId: escrowCmk.keyId,
      });
    },
    async readBreakGlass(keyId) {
      const value = await kms.getSecretValue({ secretName: escrowSecretName(keyId) });
      return (JSON.parse(value.secretData) as { breakglass?: string }).breakglass;
    },
  };
});

const ESCROW_CMK = '9f8e7d6c-5b4a-4321-8765-0123456789ab';

escrowStoreContract('kms-secrets (fake Secrets Manager)', async (options) => {
  const kms = new FakeSecretsKms();
  const open = async () => createKmsSecretsEscrowStore({ kms, encryptionKeyId: ESCROW_CMK, ...options });
  return {
    store: await open(),
    reopen: open,
    async corruptMaterial(keyId) {
      kms.setSecretData(escrowSecretName(keyId), (data) => {
        const parsed = JSON.parse(data) as { material: string };
        const flipped = Buffer.from(parsed.material, 'base64').map((b) => b ^ 0xff);
        return JSON.stringify({ ...parsed, material: Buffer.from(flipped).toString('base64') });
      });
    },
    async readBreakGlass(keyId) {
      const secret = kms.secrets.get(escrowSecretName(keyId));
      const current = secret?.versions.find((v) => v.stages.includes('ACSCurrent'));
      return current === undefined ? undefined : (JSON.parse(current.secretData) as { breakglass?: string }).breakglass;
    },
  };
});

describe('kms-secrets escrow backend', () => {
  it('creates one secret named byok-escrow/<keyId> under the escrow CMK with the record metadata as tags', async () => {
    const kms = new FakeSecretsKms();
    const store = createKmsSecretsEscrowStore({ kms, encryptionKeyId: ESCROW_CMK });
    await store.put(testRecord(1));
    const secret = kms.secrets.get(`byok-escrow/${testRecord(1).keyId}`);
    expect({
      encryptionKeyId: secret?.encryptionKeyId,
      tags: secret?.tags,
      versions: secret?.versions.map((v) => v.versionId),
    }).toEqual({
      encryptionKeyId: ESCROW_CMK,
      tags: {
        'byok:managed': 'true',
        'byok:key-id': testRecord(1).keyId,
        'byok:lineage': 'alias/payments',
        'byok:generation': String(testRecord(1).generation),
        'byok:fingerprint': testRecord(1).fingerprint,
        'byok:key-spec': testRecord(1).keySpec,
        'byok:created-at': String(testRecord(1).createdAtMs),
      },
      versions: [testRecord(1).fingerprint.replace('kcv1:', 'kcv1-')],
    });
  });

  it('stores SecretData as the versioned JSON record with base64 material', async () => {
    const kms = new FakeSecretsKms();
    await createKmsSecretsEscrowStore({ kms, encryptionKeyId: ESCROW_CMK }).put(testRecord(1));
    const data = kms.secrets.get(escrowSecretName(testRecord(1).keyId))?.versions[0]?.secretData ?? '';
    const r = testRecord(1);
    expect(JSON.parse(data)).toEqual({
      v: 1,
      keyId: r.keyId,
      lineage: r.lineage,
      generation: r.generation,
      keySpec: r.keySpec,
      fingerprint: r.fingerprint,
      createdAtMs: r.createdAtMs,
      material: testMaterial(1).toString('base64'),
    });
  });

  it('never calls PutSecretValue, so no put can move ACSCurrent to other material', async () => {
    const kms = new FakeSecretsKms();
    const store = createKmsSecretsEscrowStore({ kms, encryptionKeyId: ESCROW_CMK });
    await store.put(testRecord(1));
    await store.put(testRecord(1));
    await rejection(store.put(testRecord(1, { materialSeed: 7 })));
    expect(kms.calls).toEqual(['GetSecretValue', 'CreateSecret', 'GetSecretValue', 'GetSecretValue']);
  });

  it(
    'reads a secret whose current version was written out of band ' +
      '(VersionId not from the fingerprint) as EscrowCorrupt',
    async () => {
      const kms = new FakeSecretsKms();
      const store = createKmsSecretsEscrowStore({ kms, encryptionKeyId: ESCROW_CMK });
      await store.put(testRecord(1));
      const name = escrowSecretName(testRecord(1).keyId);
      const data = kms.secrets.get(name)?.versions[0]?.secretData ?? '';
      await kms.putSecretValue({ secretName: name, versionId: 'manual-1', secretData: data });
      expect((await rejection(store.get(testRecord(1).keyId))).code).toBe(ErrorCode.EscrowCorrupt);
    },
  );

  it('reports SecretData that is not JSON as EscrowCorrupt', async () => {
    const kms = new FakeSecretsKms();
    const store = createKmsSecretsEscrowStore({ kms, encryptionKeyId: ESCROW_CMK });
    await store.put(testRecord(1));
    kms.setSecretData(escrowSecretName(testRecord(1).keyId), (d) => d.slice(0, 20));
    expect((await rejection(store.get(testRecord(1).keyId))).code).toBe(ErrorCode.EscrowCorrupt);
  });

  it('maps KMS Forbidden.ResourceNotFound to EscrowNotFound keeping the KMS code and request id', async () => {
    const store = createKmsSecretsEscrowStore({ kms: new FakeSecretsKms(), encryptionKeyId: ESCROW_CMK });
    const err = await rejection(store.get(testRecord(1).keyId));
    expect([err.code, err.details.kmsCode, err.details.requestId]).toEqual([
      ErrorCode.EscrowNotFound,
      'Forbidden.ResourceNotFound',
      '00000000-0000-4000-8000-000000000001',
    ]);
  });

  it('refuses to escrow into a secret scheduled for deletion, asking for RestoreSecret', async () => {
    const kms = new FakeSecretsKms();
    const store = createKmsSecretsEscrowStore({ kms, encryptionKeyId: ESCROW_CMK });
    await store.put(testRecord(1));
    await kms.deleteSecret({ secretName: escrowSecretName(testRecord(1).keyId) });
    const err = await rejection(store.put(testRecord(1)));
    expect([err.code, err.details.kmsCode, /RestoreSecret/.test(err.message)]).toEqual([
      ErrorCode.EscrowConflict,
      'Rejected.ResourceInDeleteWindow',
      true,
    ]);
  });

  it('answers get of a secret scheduled for deletion with EscrowNotFound asking for RestoreSecret', async () => {
    const kms = new FakeSecretsKms();
    const store = createKmsSecretsEscrowStore({ kms, encryptionKeyId: ESCROW_CMK });
    await store.put(testRecord(1));
    await kms.deleteSecret({ secretName: escrowSecretName(testRecord(1).keyId) });
    const err = await rejection(store.get(testRecord(1).keyId));
    expect([err.code, err.details.kmsCode, /RestoreSecret/.test(err.message)]).toEqual([
      ErrorCode.EscrowNotFound,
      'Rejected.ResourceInDeleteWindow',
      true,
    ]);
  });

  it('lists a secret scheduled for deletion as unreadable (EscrowNotFound), not as absent', async () => {
    const kms = new FakeSecretsKms();
    const store = createKmsSecretsEscrowStore({ kms, encryptionKeyId: ESCROW_CMK });
    await store.put(testRecord(1));
    await store.put(testRecord(2));
    await kms.deleteSecret({ secretName: escrowSecretName(testRecord(1).keyId) });
    expect(await store.list()).toMatchObject({
      records: [{ keyId: testRecord(2).keyId }],
      unreadable: [{ keyId: testRecord(1).keyId, code: ErrorCode.EscrowNotFound }],
    });
  });

  it('passes KMS throttling through unchanged and retryable', async () => {
    const kms = new FakeSecretsKms();
    kms.getSecretValue = async () => {
      throw new OrchestratorError(ErrorCode.KmsThrottled, 'KMS GetSecretValue failed: Rejected.Throttling (HTTP 429)', {
        retryable: true,
        details: { kmsCode: 'Rejected.Throttling' },
      });
    };
    const err = await rejection(
      createKmsSecretsEscrowStore({ kms, encryptionKeyId: ESCROW_CMK }).get(testRecord(1).keyId),
    );
    expect([err.code, err.retryable]).toEqual([ErrorCode.KmsThrottled, true]);
  });

  it('lists a record whose secret holds stray versions with its version count, still readable', async () => {
    const kms = new FakeSecretsKms();
    const store = createKmsSecretsEscrowStore({ kms, encryptionKeyId: ESCROW_CMK });
    await store.put(testRecord(1));
    // Versions that do not take ACSCurrent: the escrowed record still reads back intact.
    for (const n of [1, 2])
      await kms.putSecretValue({
        secretName: escrowSecretName(testRecord(1).keyId),
        versionId: `stray-${n}`,
        secretData: 'x',
        versionStages: [`Stray${n}`],
      });
    const listing = await store.list({ deepVerify: () => true });
    expect([listing.records.map((r) => [r.keyId, r.fingerprint, r.versionCount]), listing.unreadable]).toEqual([
      [[testRecord(1).keyId, testRecord(1).fingerprint, 3]],
      [],
    ]);
  });

  it('lists the record without a count when ListSecretVersionIds is refused (the record stays usable)', async () => {
    const kms = new FakeSecretsKms();
    const store = createKmsSecretsEscrowStore({ kms, encryptionKeyId: ESCROW_CMK });
    await store.put(testRecord(1));
    kms.listSecretVersionIds = async () => {
      throw new OrchestratorError(
        ErrorCode.KmsForbidden,
        'KMS ListSecretVersionIds failed: Forbidden.NoPermission (HTTP 403)',
        { details: { kmsCode: 'Forbidden.NoPermission' } },
      );
    };
    const listing = await store.list({ deepVerify: () => true });
    expect([listing.records.map((r) => [r.keyId, r.versionCount]), listing.unreadable]).toEqual([
      [[testRecord(1).keyId, undefined]],
      [],
    ]);
  });

  it('fails the whole listing, retryable, when ListSecretVersionIds is throttled', async () => {
    const kms = new FakeSecretsKms();
    const store = createKmsSecretsEscrowStore({ kms, encryptionKeyId: ESCROW_CMK });
    await store.put(testRecord(1));
    kms.listSecretVersionIds = async () => {
      throw new OrchestratorError(
        ErrorCode.KmsThrottled,
        'KMS ListSecretVersionIds failed: Rejected.Throttling (HTTP 429)',
        { retryable: true, details: { kmsCode: 'Rejected.Throttling' } },
      );
    };
    const err = await rejection(store.list({ deepVerify: () => true }));
    expect([err.code, err.retryable]).toEqual([ErrorCode.KmsThrottled, true]);
  });

  it('ignores secrets outside the byok-escrow/ prefix when listing', async () => {
    const kms = new FakeSecretsKms();
    await kms.createSecret({
      secretName: 'db/password',
      versionId: 'v1',
      secretData: 'x',
      encryptionKeyId: ESCROW_CMK,
    });
    const store = createKmsSecretsEscrowStore({ kms, encryptionKeyId: ESCROW_CMK });
    await store.put(testRecord(1));
    expect((await store.list()).records.map((r) => r.keyId)).toEqual([testRecord(1).keyId]);
  });

  it('requires the escrow CMK id (InvalidConfig)', () => {
    let caught: unknown;
    try {
      createKmsSecretsEscrowStore({ kms: new FakeSecretsKms(), encryptionKeyId: '' });
    } catch (err) {
      caught = err;
    }
    expect([(caught as OrchestratorError).code, (caught as OrchestratorError).details.field]).toEqual([
      ErrorCode.InvalidConfig,
      'encryptionKeyId',
    ]);
  });
});

describe('FakeSecretsKms conditional PutSecretValue', () => {
  it('accepts the same VersionId with the same data and rejects other data with Rejected.ResourceExist', async () => {
    const kms = new FakeSecretsKms();
    await kms.createSecret({ secretName: 's', versionId: 'v1', secretData: 'a', encryptionKeyId: ESCROW_CMK });
    await kms.putSecretValue({ secretName: 's', versionId: 'v1', secretData: 'a' });
    const err = await rejection(kms.putSecretValue({ secretName: 's', versionId: 'v1', secretData: 'b' }));
    expect([err.code, err.details.kmsCode]).toEqual([ErrorCode.KmsConflict, 'Rejected.ResourceExist']);
  });
});
