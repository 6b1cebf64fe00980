/**
 * The exact alert messages people receive, against the emulator (issue 9 §1): renewal failing
 * inside the renew window, a PendingImport key that cannot be repaired, escrow missing or corrupt,
 * a KMS instance near its end date, a key scheduled for deletion, drift (alias moved by hand,
 * unmanaged EXTERNAL keys); de-duplication, re-sending on schedule, and the recovery notice.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  type AlertNotice,
  type AlertReport,
  createAlertNotifier,
  kmsAlertStateStore,
  ALERT_STATE_SECRET,
} from '../../../shared/alerts/index.js';
import { ESCROW_SECRET_PREFIX } from '../../../shared/escrow/kms-secrets-store.js';
import { onboard, sweep } from '../../../shared/lifecycle/engine.js';
import type { EngineDeps } from '../../../shared/lifecycle/ports.js';
import { silentLogger } from '../../../shared/log.js';
import { ESCROW_INSTANCE, KEYS_INSTANCE, startHarness, type Harness } from '../../support/engine-harness.js';

const HOUR = 3_600_000;
let h: Harness;
let now: number;
let reports: AlertReport[];

beforeEach(async () => {
  h = await startHarness({ escrow: 'kms-secrets' });
  now = Math.floor(h.nowMs() / 1000) * 1000;
  reports = [];
});
afterEach(async () => {
  await h?.close();
});

/** Engine deps with a frozen clock (so the messages' times are exact) and the real KMS-backed state. */
function deps(over: Partial<EngineDeps> = {}): EngineDeps {
  const alerts = createAlertNotifier({
    store: kmsAlertStateStore({ kms: h.kms, encryptionKeyId: h.escrowKeyId, dkmsInstanceId: ESCROW_INSTANCE }),
    sinks: [{ name: 'capture', deliver: async (r) => void reports.push(r) }],
    resendMs: { critical: 24 * HOUR, warning: 168 * HOUR },
    log: silentLogger,
  });
  return h.deps({ clock: { nowMs: () => now }, alerts, ...over });
}

function advanceDays(days: number): void {
  h.advanceDays(days);
  now += days * 86_400_000;
}

/** The texts of the notices the last run sent. */
async function sweepTexts(over: Partial<EngineDeps> = {}): Promise<string[]> {
  reports = [];
  await sweep(deps(over));
  return reports.flatMap((r) => r.notices.map((n: AlertNotice) => n.text));
}

const iso = (ms: number) => new Date(ms).toISOString();

describe('alert messages (exact)', () => {
  it('material expiring within the renew window while renewal fails; recovery when it works', async () => {
    const { keyId } = await onboard(deps(), { alias: 'alias/payments' });
    advanceDays(25);
    h.emu.faults.inject({ kind: 'error5xx', actions: ['GetParametersForImport'] });
    const since = now;
    const cause =
      `ERR_KMS_UNAVAILABLE: KMS GetParametersForImport failed: ` +
      `ServiceUnavailableTemporary (HTTP 503) for key ${keyId}`;
    expect(await sweepTexts()).toEqual([
      `[CRITICAL] key ${keyId} (lineage payments): material expires in 5 d and renewal failed ` +
        `(${cause}) (since ${iso(since)}). Fix: npm run ops -- renew ${keyId}`,
    ]);
    // Not every sweep: the next one an hour later says nothing; 24 h after the first it reminds.
    now += HOUR;
    expect(await sweepTexts()).toEqual([]);
    now += 23 * HOUR;
    expect(await sweepTexts()).toEqual([
      `[CRITICAL] still open key ${keyId} (lineage payments): material expires in 4 d and renewal ` +
        `failed (${cause}) (since ${iso(since)}). Fix: npm run ops -- renew ${keyId}`,
    ]);
    h.emu.faults.inject({ kind: 'reset' });
    expect(await sweepTexts()).toEqual([
      `[RESOLVED] key ${keyId} (lineage payments): material expires in 4 d and renewal failed ` +
        `(${cause}) (open since ${iso(since)}); nothing to do`,
    ]);
    const state = JSON.parse((await h.kms.getSecretValue({ secretName: ALERT_STATE_SECRET })).secretData);
    expect(state.open).toEqual({});
  });

  it('a managed key PendingImport that cannot be repaired (no escrow)', async () => {
    const { keyId } = await onboard(deps(), { alias: 'alias/payments' });
    await h.kms.deleteKeyMaterial(keyId);
    await h.console.deleteSecret(`${ESCROW_SECRET_PREFIX}${keyId}`, { force: true });
    expect(await sweepTexts()).toEqual([
      `[CRITICAL] key ${keyId} (lineage payments): material gone and no escrow record: data under ` +
        `this key is unreadable (since ${iso(now)}). Fix: bring the escrow record back ` +
        `(README "On call: from page to fix"), then npm run ops -- reimport ${keyId}`,
    ]);
  });

  it('escrow missing, and escrow corrupt', async () => {
    const a = await onboard(deps(), { alias: 'alias/payments' });
    const b = await onboard(deps(), { alias: 'alias/billing' });
    await h.console.deleteSecret(`${ESCROW_SECRET_PREFIX}${a.keyId}`, { force: true });
    await h.kms.putSecretValue({
      secretName: `${ESCROW_SECRET_PREFIX}${b.keyId}`,
      versionId: 'corrupt-1',
      secretData: '{"not":"escrow"}',
    });
    // A missing record shows in the listing at once; a corrupt one in its periodic read-back (here
    // due every day: BYOK_ESCROW_VERIFY_DAYS=1, the day after the record was written).
    advanceDays(1);
    expect((await sweepTexts({ escrowVerifyDays: 1 })).sort()).toEqual(
      [
        `[CRITICAL] key ${a.keyId} (lineage payments): escrow record missing: the key cannot be ` +
          `restored if its material is lost (since ${iso(now)}). Fix: npm run ops -- verify-escrow`,
        `[CRITICAL] key ${b.keyId} (lineage billing): escrow record exists but fails verification ` +
          `(corrupt or sealed under another master key) (since ${iso(now)}). Fix: npm run ops -- ` +
          `verify-escrow`,
      ].sort(),
    );
  });

  it('a KMS instance near its end date', async () => {
    const end = Math.floor(now / 1000) + 5 * 86_400 + 3600;
    h.emu.instances.upsert({ id: KEYS_INSTANCE, type: 'software', endUnix: end });
    expect(await sweepTexts()).toEqual([
      `[CRITICAL] KMS instance ${KEYS_INSTANCE} (holds the managed keys) expires on ` +
        `${iso(end * 1000)}, in 5 d: renew it, or every key and secret in it becomes unusable ` +
        `(Rejected.Unavailable) and KMS releases it 15 days later (since ${iso(now)}). Fix: npm run ` +
        `ops -- doctor`,
    ]);
  });

  it('a key scheduled for deletion', async () => {
    const { keyId } = await onboard(deps(), { alias: 'alias/payments' });
    await h.console.scheduleKeyDeletion(keyId, 7);
    const deleteDate = (await h.kms.describeKey(keyId)).deleteDateMs;
    expect(await sweepTexts()).toEqual([
      `[CRITICAL] key ${keyId} (lineage payments): scheduled for deletion on ${iso(deleteDate!)}; not ` +
        `touched (cancel by hand if unintended) (since ${iso(now)}). Fix: npm run ops -- status`,
    ]);
  });

  it('drift: an alias moved by hand, and an unmanaged EXTERNAL key', async () => {
    await onboard(deps(), { alias: 'alias/payments' });
    const other = await onboard(deps(), { alias: 'alias/billing' });
    await h.kms.updateAlias('alias/payments', other.keyId);
    const stray = await h.kms.createKey({
      origin: 'EXTERNAL',
      keySpec: 'Aliyun_AES_256',
      description: 'imported by hand',
      dkmsInstanceId: KEYS_INSTANCE,
    });
    const texts = await sweepTexts();
    expect(texts).toContain(
      `[WARNING] key ${other.keyId} (lineage payments): drift: alias/payments points at a key that is ` +
        `not part of the lineage (since ${iso(now)}). Fix: npm run ops -- status`,
    );
    expect(texts).toContain(
      `[WARNING] key ${stray.keyId}: drift: unmanaged EXTERNAL key: nobody renews its material; adopt ` +
        `it or make sure its owner does (since ${iso(now)}). Fix: npm run ops -- status`,
    );
  });
});
