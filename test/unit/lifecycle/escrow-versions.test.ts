/**
 * Stray versions on an escrow secret. The kms-secrets backend writes exactly one version per
 * secret; Secrets Manager keeps at most 10 and drops the oldest (ours). A record with extra
 * versions stays usable for repair, but the plan alerts and verify-escrow fails it, naming the fix.
 * Secrets Manager is the in-memory fake; the key side of KMS is a few values.
 */
import { describe, expect, it } from 'vitest';
import { createKmsSecretsEscrowStore, escrowSecretName } from '../../../shared/escrow/kms-secrets-store.js';
import type { KmsPort } from '../../../shared/kms/port.js';
import { planNow, verifyEscrow } from '../../../shared/lifecycle/engine.js';
import { DEFAULT_POLICY } from '../../../shared/config/index.js';
import { DAY_MS, type KeyView, type Snapshot } from '../../../shared/lifecycle/model.js';
import { strayEscrowVersionsReason } from '../../../shared/lifecycle/plan-alerts.js';
import { planSweep } from '../../../shared/lifecycle/plan.js';
import type { EngineDeps } from '../../../shared/lifecycle/ports.js';
import { systemRandom } from '../../../shared/system.js';
import { FakeSecretsKms } from '../../support/fake-secrets-kms.js';
import { testRecord } from '../escrow/contract.js';

const NOW = Date.UTC(2027, 0, 1);
const policies = { defaults: DEFAULT_POLICY, lineages: {} };

describe('the stray-versions reason', () => {
  it('names the secret, the count, what was written, the 10-version limit, ActionTrail and the deny policy', () => {
    expect(strayEscrowVersionsReason('key-1', 3)).toBe(
      'escrow secret byok-escrow/key-1 has 3 versions, but ' +
        'the orchestrator writes exactly 1: someone else wrote to it. ' +
        'Secrets Manager keeps at most 10 versions and deletes the oldest, which is the escrowed material. ' +
        'Find the writer in ActionTrail (PutSecretValue or UpdateSecretVersionStage on this secret) ' +
        'and attach the escrow deny policy ' +
        '(scripts/deploy/ram-policy-escrow-guard.json) to every principal that can write secrets',
    );
  });

  it('says the next write deletes the escrowed version once there are 10', () => {
    expect(strayEscrowVersionsReason('key-1', 10)).toContain(
      'deletes the oldest, which is the escrowed material (the next write deletes it). ',
    );
  });
});

describe('planSweep: an escrow secret with stray versions', () => {
  const fp = 'kcv1:aaaaaaaaaaaaaaaaaaaaaaaa';
  const key = (over: Partial<KeyView> = {}): KeyView => ({
    keyId: 'k1',
    state: 'Enabled',
    origin: 'EXTERNAL',
    keySpec: 'Aliyun_AES_256',
    creationDateMs: NOW - 10 * DAY_MS,
    materialExpireAtMs: NOW + 20 * DAY_MS,
    managed: true,
    lineage: 'payments',
    generation: 1,
    fingerprint: fp,
    phase: 'ready',
    untaggedMarker: false,
    aliases: ['alias/payments'],
    escrowFingerprint: fp,
    ...over,
  });
  const snap = (k: KeyView, versionCount?: number): Snapshot => ({
    takenAtMs: NOW,
    keys: [k],
    aliases: { 'alias/payments': 'k1' },
    escrow: {
      k1: {
        fingerprint: fp,
        lineage: 'payments',
        generation: 1,
        ...(versionCount === undefined ? {} : { versionCount }),
      },
    },
    escrowUnreadable: [],
    unobservable: [],
    instances: [],
  });

  it('stays quiet for the one version the orchestrator wrote', () => {
    expect(planSweep(snap(key()), policies, NOW).actions).toEqual([]);
  });

  it('warns for 2 to 9 versions, naming the count', () => {
    expect(planSweep(snap(key(), 9), policies, NOW).actions).toEqual([
      {
        kind: 'alert',
        severity: 'warning',
        keyId: 'k1',
        lineage: 'payments',
        reason: strayEscrowVersionsReason('k1', 9),
      },
    ]);
  });

  it('is critical at 10 versions, where the next write drops the escrowed one', () => {
    expect(planSweep(snap(key(), 10), policies, NOW).actions).toMatchObject([
      { kind: 'alert', severity: 'critical', keyId: 'k1' },
    ]);
  });

  it('still re-imports from that record when the material is gone', () => {
    const actions = planSweep(
      snap(key({ state: 'PendingImport', materialExpireAtMs: undefined }), 3),
      policies,
      NOW,
    ).actions;
    expect(actions.map((a) => `${a.kind}:${'keyId' in a ? a.keyId : ''}`)).toEqual(['reimport:k1', 'alert:k1']);
  });
});

describe('observe, plan and verify-escrow over Secrets Manager', () => {
  const record = testRecord(1);
  const keyId = record.keyId;

  /** Engine deps over one managed key whose escrow lives in `secrets`. */
  function engine(secrets: FakeSecretsKms): EngineDeps {
    const keySide: Partial<KmsPort> = {
      listKeys: async () => [keyId],
      listAliases: async () => [{ aliasName: 'alias/payments', keyId }],
      describeKey: async () => ({
        requestId: 'r',
        keyId,
        arn: `acs:kms:cn-hangzhou:1:key/${keyId}`,
        keyState: 'Enabled',
        keySpec: 'Aliyun_AES_256',
        keyUsage: 'ENCRYPT/DECRYPT',
        origin: 'EXTERNAL',
        protectionLevel: 'SOFTWARE',
        description: '',
        creationDateMs: NOW - 10 * DAY_MS,
        materialExpireAtMs: NOW + 20 * DAY_MS,
      }),
      listResourceTags: async () => ({
        'byok:managed': 'true',
        'byok:lineage': 'payments',
        'byok:generation': '1',
        'byok:fingerprint': record.fingerprint,
        'byok:phase': 'ready',
      }),
    };
    const kms = { ...keySide, ...bind(secrets) } as KmsPort;
    return {
      kms,
      escrow: createKmsSecretsEscrowStore({ kms: secrets, encryptionKeyId: 'escrow-cmk' }),
      audit: { record: () => undefined },
      clock: { nowMs: () => NOW },
      random: systemRandom,
      policies,
      leaseKeyId: 'escrow-cmk',
      leaseTtlMs: 15 * 60_000,
      actor: { kind: 'operator', id: 'test' },
      runId: 'run-1',
    };
  }

  async function escrowed(): Promise<FakeSecretsKms> {
    const secrets = new FakeSecretsKms(() => NOW);
    await createKmsSecretsEscrowStore({ kms: secrets, encryptionKeyId: 'escrow-cmk' }).put(testRecord(1));
    return secrets;
  }

  /** Someone writes a version that does not take ACSCurrent (the record still reads back intact). */
  async function strayWrite(secrets: FakeSecretsKms, n: number): Promise<void> {
    await secrets.putSecretValue({
      secretName: escrowSecretName(keyId),
      versionId: `stray-${n}`,
      secretData: 'not escrow',
      versionStages: [`Stray${n}`],
    });
  }

  it('verify-escrow passes a record with only the version the orchestrator wrote', async () => {
    expect(await verifyEscrow(engine(await escrowed()))).toEqual([
      { keyId, lineage: 'payments', ok: true, detail: 'escrow matches the key fingerprint' },
    ]);
  });

  it('verify-escrow fails a record whose secret holds an extra version, naming the count and the fix', async () => {
    const secrets = await escrowed();
    await strayWrite(secrets, 1);
    expect(await verifyEscrow(engine(secrets))).toEqual([
      {
        keyId,
        lineage: 'payments',
        ok: false,
        detail: `escrow matches the key fingerprint, but ${strayEscrowVersionsReason(keyId, 2)}`,
      },
    ]);
  });

  it('the plan alerts on the key and keeps the record in the snapshot (once a read-back counted them)', async () => {
    const secrets = await escrowed();
    await strayWrite(secrets, 1);
    await strayWrite(secrets, 2);
    const alert = { kind: 'alert', severity: 'warning', keyId, lineage: 'payments' };
    // A read-only plan reads metadata only: nothing counted yet.
    const before = await planNow(engine(secrets));
    // The sweep's read-back sample (a period of 1 day: every record) counts them and records the count...
    const sweep = await planNow({ ...engine(secrets), escrowVerifyDays: 1 }, { sweep: true });
    // ...so the read-only plan keeps alerting between read-backs.
    const after = await planNow(engine(secrets));
    expect([before.plan.actions, sweep.snapshot.escrow[keyId]?.fingerprint, sweep.plan.actions]).toEqual([
      [],
      record.fingerprint,
      [{ ...alert, reason: strayEscrowVersionsReason(keyId, 3) }],
    ]);
    expect(after.plan.actions).toEqual([{ ...alert, reason: strayEscrowVersionsReason(keyId, 3) }]);
  });
});

/** The fake's Secrets Manager methods bound to it (so they survive being spread into a KmsPort). */
function bind(fake: FakeSecretsKms): Partial<KmsPort> {
  return {
    createSecret: fake.createSecret.bind(fake),
    getSecretValue: fake.getSecretValue.bind(fake),
    putSecretValue: fake.putSecretValue.bind(fake),
    describeSecret: fake.describeSecret.bind(fake),
    listSecretVersionIds: fake.listSecretVersionIds.bind(fake),
    listSecrets: fake.listSecrets.bind(fake),
    tagResource: fake.tagResource.bind(fake),
  };
}
