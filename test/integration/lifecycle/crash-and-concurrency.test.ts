/**
 * Crash injection after every provisioning step of onboard and rotate, and two sweeps racing on
 * one lineage. A "crash" is CheckpointAbort thrown from onCheckpoint: the engine stops there
 * without recording an outcome or releasing its lease, as a killed function would.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ErrorCode, OrchestratorError, isOrchestratorError } from '../../../shared/errors.js';
import type { KmsPort } from '../../../shared/kms/port.js';
import { onboard, sweep } from '../../../shared/lifecycle/engine.js';
import { leaseSecretName } from '../../../shared/lifecycle/lease.js';
import { Tag } from '../../../shared/lifecycle/model.js';
import { CheckpointAbort } from '../../../shared/lifecycle/ports.js';
import { startHarness, type Harness } from '../../support/engine-harness.js';

let h: Harness;

const crashAt = (step: string) => async (name: string) => {
  if (name === step) throw new CheckpointAbort(`simulated crash after ${step}`);
};

/** Managed (tagged or marked) keys of a lineage with their tags and states. */
async function lineageKeys(lineage: string) {
  const out: Array<{ keyId: string; generation: string | undefined; state: string; tags: Record<string, string> }> = [];
  for (const id of await h.kms.listKeys()) {
    const meta = await h.kms.describeKey(id);
    if (meta.origin !== 'EXTERNAL') continue;
    const tags = await h.kms.listResourceTags(id);
    const marked = meta.description.includes(`lineage=${lineage} `);
    if (tags[Tag.Lineage] === lineage || marked)
      out.push({ keyId: id, generation: tags[Tag.Generation], state: meta.keyState, tags });
  }
  return out;
}

/** The converged shape: one ready, enabled CMK per generation, every one escrowed under its tagged fingerprint. */
async function expectConverged(lineage: string, generations: number) {
  const keys = await lineageKeys(lineage);
  expect(keys.map((k) => k.generation).sort()).toEqual(Array.from({ length: generations }, (_, i) => String(i + 1)));
  for (const k of keys) {
    expect(k.state).toBe('Enabled');
    expect(k.tags[Tag.Phase]).toBe('ready');
    const rec = await h.escrow.get(k.keyId);
    expect(rec.fingerprint).toBe(k.tags[Tag.Fingerprint]);
  }
  const target = await h.kms.describeKey(`alias/${lineage}`);
  expect(keys.find((k) => k.keyId === target.keyId)?.generation).toBe(String(generations));
  return keys;
}

const onboardSteps = [
  'created',
  'tagged',
  'escrowed',
  'fingerprint-tagged',
  'imported',
  'self-tested',
  'ready',
  'alias-moved',
];
const rotateSteps = [...onboardSteps, 'superseded'];

// Both escrow backends: convergence must not depend on where the material is escrowed.
describe.each(['file', 'kms-secrets'] as const)('escrow backend %s', (escrow) => {
  beforeEach(async () => {
    h = await startHarness({ escrow });
  });
  afterEach(async () => {
    await h?.close();
  });

  describe('a crash after each step converges on the next sweep', () => {
    it.each(onboardSteps)('onboard interrupted after "%s"', async (step) => {
      await expect(onboard(h.deps({ onCheckpoint: crashAt(step) }), { alias: 'alias/crashy' })).rejects.toBeInstanceOf(
        CheckpointAbort,
      );
      h.advanceDays(1); // past the dead run's lease
      const result = await sweep(h.deps());
      expect(result.counts.failed).toBe(0);
      await expectConverged('crashy', 1);
      // And it stays converged: the next sweep has nothing to do.
      expect((await sweep(h.deps())).plan.actions).toEqual([]);
    });

    it.each(rotateSteps)('rotation interrupted after "%s"', async (step) => {
      const first = await onboard(h.deps(), { alias: 'alias/rotor', validityDays: 400 });
      h.advanceDays(365);
      const crashed = sweep(h.deps({ onCheckpoint: crashAt(step) }));
      await expect(crashed).rejects.toBeInstanceOf(CheckpointAbort);
      h.advanceDays(1);
      const result = await sweep(h.deps());
      expect(result.counts.failed).toBe(0);
      const keys = await expectConverged('rotor', 2);
      expect(keys.find((k) => k.keyId === first.keyId)?.tags[Tag.SupersededAt]).toMatch(/^\d+$/);
      expect((await sweep(h.deps())).plan.actions).toEqual([]);
    });
  });

  describe('concurrent runs', () => {
    it('two sweeps started at once on the same lineage rotate exactly once', async () => {
      await onboard(h.deps(), { alias: 'alias/race', validityDays: 400 });
      h.advanceDays(365);
      const [a, b] = await Promise.all([sweep(h.deps()), sweep(h.deps())]);
      const rotations = [...a.results, ...b.results].filter((r) => r.action.kind === 'rotate');
      expect(rotations.map((r) => r.outcome).sort()).toEqual(['ok', 'skipped']);
      await expectConverged('race', 2);
    });

    it('two sweeps at once still rotate exactly once when the lease conflict comes back as another code', async () => {
      await onboard(h.deps(), { alias: 'alias/recoded', validityDays: 400 });
      h.advanceDays(365);
      // The real rejection code of a conflicting conditional write is undocumented: here it is InvalidParameter 400.
      const recode = (action: string) => (err: unknown) => {
        if (!isOrchestratorError(err, ErrorCode.KmsConflict)) throw err;
        throw new OrchestratorError(ErrorCode.KmsInvalidRequest, `KMS ${action} failed: InvalidParameter (HTTP 400)`, {
          details: { action, kmsCode: 'InvalidParameter', httpStatus: 400 },
        });
      };
      // Both runs read the lease before either writes it, so their conditional writes really collide.
      let arrived = 0;
      let bothRead!: () => void;
      const barrier = new Promise<void>((resolve) => (bothRead = resolve));
      const kms: KmsPort = {
        ...h.kms,
        getSecretValue: async (input) => {
          const value = await h.kms.getSecretValue(input);
          if (input.secretName === leaseSecretName('recoded') && input.versionId === undefined && arrived < 2) {
            if (++arrived === 2) bothRead();
            await barrier;
          }
          return value;
        },
        createSecret: (input) => h.kms.createSecret(input).catch(recode('CreateSecret')),
        putSecretValue: (input) => h.kms.putSecretValue(input).catch(recode('PutSecretValue')),
      };
      const [a, b] = await Promise.all([sweep(h.deps({ kms })), sweep(h.deps({ kms }))]);
      const rotations = [...a.results, ...b.results].filter((r) => r.action.kind === 'rotate');
      expect(rotations.map((r) => r.outcome).sort()).toEqual(['ok', 'skipped']);
      await expectConverged('recoded', 2);
    });

    it('two onboards of the same alias at once create one CMK', async () => {
      const results = await Promise.allSettled([
        onboard(h.deps(), { alias: 'alias/twin' }),
        onboard(h.deps(), { alias: 'alias/twin' }),
      ]);
      const fulfilled = results.filter((r) => r.status === 'fulfilled');
      expect(fulfilled.length).toBeGreaterThanOrEqual(1);
      for (const r of results) if (r.status === 'rejected') expect(r.reason).toMatchObject({ code: 'ERR_LEASE_HELD' });
      await expectConverged('twin', 1);
    });
  });
});
