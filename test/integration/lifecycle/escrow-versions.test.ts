/**
 * Secrets Manager keeps at most 10 versions of a secret and drops the oldest. The orchestrator
 * writes exactly one version per escrow secret, so a stray write is the first step towards losing
 * the escrowed material: observe (through the plan, once a periodic read-back counted the versions)
 * and verify-escrow must say so, over HTTP against the emulator.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { escrowSecretName } from '../../../shared/escrow/kms-secrets-store.js';
import { onboard, planNow, verifyEscrow } from '../../../shared/lifecycle/engine.js';
import { startHarness, type Harness } from '../../support/engine-harness.js';

let h: Harness;
let keyId: string;
beforeAll(async () => {
  h = await startHarness({ escrow: 'kms-secrets' });
  ({ keyId } = await onboard(h.deps(), { alias: 'alias/versions' }));
  // A stray writer adds a version without moving ACSCurrent (the escrow itself still reads fine).
  await h.kms.putSecretValue({
    secretName: escrowSecretName(keyId),
    versionId: 'stray-1',
    secretData: 'not escrow',
    versionStages: ['stray'],
  });
});
afterAll(async () => {
  await h?.close();
});

describe('an escrow secret with versions the orchestrator did not write', () => {
  it('makes the plan raise an alert naming the secret, the count and the fix', async () => {
    // A read-only plan reads metadata only; a sweep's periodic read-back counts the versions (due
    // here: a period of one day, the day after the record was written) and records the count.
    expect((await planNow(h.deps())).plan.actions).toEqual([]);
    h.advanceDays(1);
    await planNow(h.deps({ escrowVerifyDays: 1 }), { sweep: true });
    const { plan } = await planNow(h.deps());
    const alert = plan.actions.find((a) => a.kind === 'alert' && a.keyId === keyId);
    expect(alert).toMatchObject({ kind: 'alert', severity: 'warning' });
    expect(alert && 'reason' in alert ? alert.reason : '').toMatch(
      new RegExp(
        `^escrow secret byok-escrow/${keyId} has 2 versions, but ` +
          `the orchestrator writes exactly 1: someone else wrote to it\\.`,
      ),
    );
  });

  it('makes verify-escrow report the record as not ok', async () => {
    const rows = await verifyEscrow(h.deps());
    expect(rows.find((r) => r.keyId === keyId)).toMatchObject({
      ok: false,
      detail: expect.stringContaining('has 2 versions'),
    });
  });

  it('still uses the record for repairs: the escrow is read back intact', async () => {
    const rec = await h.escrow.get(keyId);
    expect(rec.keyId).toBe(keyId);
    rec.material.fill(0);
  });
});
