/**
 * Observe at about one KMS call per healthy key (issue 10), counted by action from the emulator's
 * request log (official SDK over HTTP, kms-secrets escrow): a healthy sweep DescribeKeys each key,
 * reads escrow and key tags from ListSecrets pages, and reads a key's own tags or decrypts a record
 * only for the day's samples. Read-only commands decrypt nothing. A record corrupted on purpose is
 * still found within the verification period, and the alert stays.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { escrowSecretName } from '../../../shared/escrow/kms-secrets-store.js';
import { onboard, status, sweep } from '../../../shared/lifecycle/engine.js';
import { planNow } from '../../../shared/lifecycle/sweep.js';
import { startHarness, type Harness } from '../../support/engine-harness.js';

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

/** A harness whose emulator log is counted by action (`kms-emulator POST / <Action> <status> ...`). */
async function countedHarness() {
  const lines: string[] = [];
  h = await startHarness({ escrow: 'kms-secrets', emulatorLog: (line) => lines.push(line) });
  const counts = (): Record<string, number> => {
    const out: Record<string, number> = {};
    for (const line of lines) {
      const m = /^kms-emulator \S+ \/ ([A-Za-z]+) \d+ /.exec(line);
      if (m) out[m[1]!] = (out[m[1]!] ?? 0) + 1;
    }
    return out;
  };
  return { h, counts, reset: () => (lines.length = 0) };
}

/**
 * `n` lineages: one onboarded through the engine, the others its key, alias, escrow record and tags
 * cloned in the emulator's state under new names and key ids (as pacing-qps and the sharded sweep do).
 * The sweeps below see what `n` onboardings leave, without paying for them; which day a key's
 * read-back or reconcile falls on derives from its key id, so clones spread like onboarded keys.
 */
async function onboardMany(harness: Harness, n: number): Promise<string[]> {
  const first = await onboard(harness.deps(), { alias: 'alias/calls-000' });
  const names = Array.from({ length: n - 1 }, (_, i) => `calls-${String(i + 1).padStart(3, '0')}`);
  const cloned = harness.emu.seed.cloneTemplate({
    token: 'calls-000',
    clones: names.map((name) => ({ replace: [['calls-000', name] as const] })),
  });
  expect(cloned.templateKeyIds).toEqual([first.keyId]);
  return [first.keyId, ...cloned.keyIds.map((ids) => ids[first.keyId] as string)].sort();
}

const total = (c: Record<string, number>) => Object.values(c).reduce((a, b) => a + b, 0);
/** Calls that do not grow per key: pages of the three listings and the configured instances. */
const fixed = (c: Record<string, number>) =>
  (c['ListKeys'] ?? 0) + (c['ListAliases'] ?? 0) + (c['ListSecrets'] ?? 0) + (c['GetKmsInstance'] ?? 0);

describe('a healthy sweep costs about one call per managed key', () => {
  for (const n of [30, 90]) {
    it(`N=${n}: one DescribeKey per key; tags and escrow from listings; checks only when due`, async () => {
      const { h, counts, reset } = await countedHarness();
      await onboardMany(h, n);
      const period = 7;
      const deps = () => h.deps({ escrowVerifyDays: period, tagReconcileDays: period });
      await sweep(deps()); // the first sweep of the day: that day's read-backs and reconciles
      reset();
      const result = await sweep(deps()); // a later sweep the same day: nothing is due
      const later = counts();
      // Every sweep of one period, one a day: read-backs and reconciles spread over the days.
      let periodCalls = 0;
      let periodFixed = 0;
      for (let day = 1; day <= period; day++) {
        h.advanceDays(1);
        reset();
        await sweep(deps());
        periodCalls += total(counts());
        periodFixed += fixed(counts());
      }
      const perKeyLater = (total(later) - fixed(later)) / n;
      const perKeyPeriod = (periodCalls - periodFixed) / (n * period);
      // The measured figures, for the report.
      console.log(
        `N=${n}: later sweep of the day ${total(later)} calls, ` +
          `${perKeyLater.toFixed(3)}/key + ${fixed(later)} fixed; ` +
          `first sweep of each day over ${period} days: ${perKeyPeriod.toFixed(3)}/key + ` +
          `${(periodFixed / period).toFixed(1)} fixed; ${JSON.stringify(later)}`,
      );
      expect(result.plan.actions).toEqual([]);
      expect({
        DescribeKey: later['DescribeKey'],
        GetSecretValue: later['GetSecretValue'] ?? 0,
        ListSecretVersionIds: later['ListSecretVersionIds'] ?? 0,
        ListResourceTags: later['ListResourceTags'] ?? 0,
        TagResource: later['TagResource'] ?? 0,
      }).toEqual({
        DescribeKey: n + 1, // + the escrow CMK (listed by ListKeys, described, not EXTERNAL)
        GetSecretValue: 0,
        ListSecretVersionIds: 0,
        ListResourceTags: 0,
        TagResource: 0,
      });
      expect(total(later)).toBeLessThanOrEqual(1.05 * n + fixed(later));
      // Pages really are pages: 100 secrets or keys a page, not one call per key.
      expect(later['ListSecrets']).toBeLessThanOrEqual(Math.ceil((n + 1) / 100) + 1);
      // Over a period, each key's escrow read back (3 calls) and tags reconciled (2 calls) about once.
      expect(perKeyPeriod).toBeLessThanOrEqual(1.05 + (6 * 1.3) / period);
    });
  }

  it('status and plan decrypt nothing and write nothing', async () => {
    const { h, counts, reset } = await countedHarness();
    await onboardMany(h, 12);
    const deps = () => h.deps({ escrowVerifyDays: 7, tagReconcileDays: 7 });
    await sweep(deps());
    h.advanceDays(3); // some read-backs and reconciles are due again: a read-only command must not do them
    reset();
    await planNow(deps());
    const rows = (await status(deps())).rows;
    const c = counts();
    expect([rows.filter((r) => r.escrowOk).length, c['GetSecretValue'] ?? 0, c['ListSecretVersionIds'] ?? 0]).toEqual([
      12, 0, 0,
    ]);
    expect([c['TagResource'] ?? 0, c['CreateSecret'] ?? 0, c['PutSecretValue'] ?? 0]).toEqual([0, 0, 0]);
  });
});

describe('the periodic read-back', () => {
  it('finds every record corrupted on purpose within the period, alerts, and keeps alerting', async () => {
    const { h } = await countedHarness();
    const keyIds = await onboardMany(h, 8);
    const period = 4;
    const deps = () => h.deps({ escrowVerifyDays: period, tagReconcileDays: period });
    await sweep(deps());
    // Out of band, on every record: a new current version with other data (its VersionId does not
    // derive from a fingerprint). Each record has its own phase day; each must be found in time.
    for (const keyId of keyIds)
      await h.kms.putSecretValue({ secretName: escrowSecretName(keyId), versionId: 'tampered-1', secretData: '{}' });
    const alerted = (actions: Array<{ kind: string; keyId?: string; severity?: string }>) =>
      keyIds.filter((id) => actions.some((a) => a.kind === 'alert' && a.keyId === id && a.severity === 'critical'));
    // One sweep a day on each of the `period` days after the corruption.
    const days: string[][] = [];
    for (let day = 1; day <= period; day++) {
      h.advanceDays(1);
      days.push(alerted((await sweep(deps())).plan.actions));
    }
    // Found within the period (some before its last day: the read-backs are spread) ...
    expect(days[period - 1]).toEqual(keyIds);
    expect(days[0]!.length).toBeLessThan(keyIds.length);
    // ... and, once found, alerted by every later sweep and by a read-only plan (no flapping).
    for (let d = 1; d < period; d++) expect(days[d]).toEqual(expect.arrayContaining(days[d - 1]!));
    expect(alerted((await planNow(deps())).plan.actions)).toEqual(keyIds);
  });
});
