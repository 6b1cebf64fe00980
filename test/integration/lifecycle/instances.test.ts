/**
 * KMS 3.0 instances end to end: where the engine puts keys and secrets, what the self-test does
 * when an instance refuses crypto through the shared gateway, and what a sweep does when the keys'
 * instance is released. The emulator models the instances; the product talks to it over HTTP.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { ErrorCode, OrchestratorError } from '../../../shared/errors.js';
import { escrowSecretName } from '../../../shared/escrow/kms-secrets-store.js';
import { onboard, sweep } from '../../../shared/lifecycle/engine.js';
import { leaseSecretName } from '../../../shared/lifecycle/lease.js';
import { Phase, Tag } from '../../../shared/lifecycle/model.js';
import { ESCROW_INSTANCE, KEYS_INSTANCE, startHarness, type Harness } from '../../support/engine-harness.js';

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

async function harness(): Promise<Harness> {
  h = await startHarness({ escrow: 'kms-secrets' });
  return h;
}

async function caught(promise: Promise<unknown>): Promise<OrchestratorError> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(OrchestratorError);
    return err as OrchestratorError;
  }
  throw new Error('expected the call to fail');
}

describe('placement', () => {
  it('creates managed keys in the keys instance and escrow and lease secrets in the escrow instance', async () => {
    const t = await harness();
    const { keyId } = await onboard(t.deps(), { alias: 'alias/placed' });
    expect((await t.kms.describeKey(keyId)).dkmsInstanceId).toBe(KEYS_INSTANCE);
    expect((await t.kms.describeKey(t.escrowKeyId)).dkmsInstanceId).toBe(ESCROW_INSTANCE);
    expect((await t.kms.describeSecret(escrowSecretName(keyId))).dkmsInstanceId).toBe(ESCROW_INSTANCE);
    expect((await t.kms.describeSecret(leaseSecretName('placed'))).dkmsInstanceId).toBe(ESCROW_INSTANCE);
  });

  it('stops provisioning with ERR_INSTANCE_MISMATCH when a key is not where the configuration says', async () => {
    const t = await harness();
    // The configuration names the escrow instance for keys: the read-back after CreateKey compares.
    const deps = t.deps({ instances: { keys: KEYS_INSTANCE, escrow: ESCROW_INSTANCE } });
    const wrongPlace = {
      ...deps,
      kms: {
        ...deps.kms,
        createKey: (input: Parameters<typeof deps.kms.createKey>[0]) =>
          deps.kms.createKey({ ...input, dkmsInstanceId: ESCROW_INSTANCE }),
      },
    };
    const err = await caught(onboard(wrongPlace, { alias: 'alias/misplaced' }));
    expect(err.code).toBe(ErrorCode.InstanceMismatch);
    expect(err.message).toMatch(
      new RegExp(`is in ${ESCROW_INSTANCE}, not in ${KEYS_INSTANCE} as configured; provisioning stopped$`),
    );
    await expect(t.kms.describeKey('alias/misplaced')).rejects.toMatchObject({ code: ErrorCode.KmsNotFound });
  });
});

describe('self-test through the shared gateway', () => {
  it('refuses with ERR_INSTANCE_CRYPTO_DENIED naming the instance setting, and does not create the alias', async () => {
    const t = await harness();
    t.emu.instances.upsert({ id: KEYS_INSTANCE, type: 'software', sharedGateway: false });
    const err = await caught(onboard(t.deps(), { alias: 'alias/no-gateway' }));
    expect(err.code).toBe(ErrorCode.InstanceCryptoDenied);
    expect(err.message).toContain(`in KMS instance ${KEYS_INSTANCE} was refused`);
    expect(err.message).toContain(`Turn on Internet access (shared gateway) for ${KEYS_INSTANCE}`);
    expect(err.message).toContain('the alias was not moved');
    await expect(t.kms.describeKey('alias/no-gateway')).rejects.toMatchObject({ code: ErrorCode.KmsNotFound });
    // The key is not marked as a failed self-test: the key is fine, the access path is not.
    const keyId = err.details.keyId as string;
    expect((await t.kms.listResourceTags(keyId))[Tag.Phase]).toBe(Phase.Provisioning);
  });

  it('finishes the onboarding on the next sweep once the instance allows shared-gateway access', async () => {
    const t = await harness();
    t.emu.instances.upsert({ id: KEYS_INSTANCE, type: 'software', sharedGateway: false });
    const err = await caught(onboard(t.deps(), { alias: 'alias/gateway-later' }));
    t.emu.instances.upsert({ id: KEYS_INSTANCE, type: 'software', sharedGateway: true });
    await sweep(t.deps());
    expect((await t.kms.describeKey('alias/gateway-later')).keyId).toBe(err.details.keyId);
  });

  it('keeps the alias on the old generation when a rotation cannot self-test', async () => {
    const t = await harness();
    const first = await onboard(t.deps(), { alias: 'alias/rotating', validityDays: 400 });
    t.emu.instances.upsert({ id: KEYS_INSTANCE, type: 'software', sharedGateway: false });
    t.advanceDays(365);
    const r = await sweep(t.deps());
    const rotate = r.results.find((x) => x.action.kind === 'rotate');
    expect(rotate).toMatchObject({ outcome: 'failed', errorCode: ErrorCode.InstanceCryptoDenied });
    expect((await t.kms.describeKey('alias/rotating')).keyId).toBe(first.keyId);
  });
});

describe('the keys instance is released', () => {
  it('makes the sweep alert loudly while the escrow in the other instance stays readable', async () => {
    const t = await harness();
    const { keyId } = await onboard(t.deps(), { alias: 'alias/released' });
    t.emu.instances.release(KEYS_INSTANCE);
    const r = await sweep(t.deps());
    // Nothing is silently dropped: the sweep says, critically, that the lineage's keys are gone.
    const alerts = r.results.filter((x) => x.outcome === 'alerted' || x.outcome === 'failed');
    expect(alerts.length).toBeGreaterThan(0);
    expect(JSON.stringify(r.results)).toContain(KEYS_INSTANCE);
    expect(JSON.stringify(r.results)).toContain(keyId);
    // The escrow lives in the other instance: the material is still there to restore from.
    const rec = await t.escrow.get(keyId);
    expect(rec.keyId).toBe(keyId);
    expect(rec.material).toHaveLength(32);
    rec.material.fill(0);
  });
});
