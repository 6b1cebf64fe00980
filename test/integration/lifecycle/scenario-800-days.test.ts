/**
 * The long-run scenario of issue #3: two lineages, the emulator clock advanced day by day for 800
 * days, a sweep every day. Asserts the invariants every day, not just at the end. `payments` runs
 * on the defaults (previous generations are kept alive for as long as they exist); `orders` sets an
 * explicit 60-day retention, after which a previous generation is retired (and not renewed first).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { onboard, sweep } from '../../../shared/lifecycle/engine.js';
import { DEFAULT_POLICY } from '../../../shared/config/index.js';
import { DAY_MS, Tag } from '../../../shared/lifecycle/model.js';
import { startHarness, type Harness } from '../../support/engine-harness.js';

const DAYS = 800;
let h: Harness;

beforeAll(async () => {
  h = await startHarness({
    policies: {
      defaults: DEFAULT_POLICY, // validity 30, renew 7 before, rotate 365, retain forever (0)
      lineages: { orders: { validityDays: 10, renewBeforeDays: 3, rotateAfterDays: 180, retainPreviousDays: 60 } },
    },
  });
});
afterAll(async () => {
  await h?.close();
});

interface Probe {
  keyId: string;
  lineage: string;
  ciphertextBlob: string;
  plaintext: string;
}

describe(`${DAYS} days of daily sweeps`, () => {
  it('keeps every managed key usable, renews inside the window, rotates ' +
    'on schedule, and old ciphertexts decrypt through retention', async () => {
    const renewBefore: Record<string, number> = { payments: 7, orders: 3 };
    const onboardedAt = h.nowMs();
    await onboard(h.deps(), { alias: 'alias/payments' });
    await onboard(h.deps(), { alias: 'alias/orders' });
    const probes: Probe[] = [];
    const seenGenerations: Record<string, Map<string, number>> = { payments: new Map(), orders: new Map() };
    const rotationsOnDay: Array<{ lineage: string; day: number; generation: number }> = [];
    let renewals = 0;
    const retirements: Array<{ day: number; generation: number }> = [];

    const encryptProbe = async (lineage: string) => {
      const plaintext = Buffer.from(`${lineage}@${h.nowMs()}`).toString('base64');
      const enc = await h.kms.encrypt({ keyId: `alias/${lineage}`, plaintext });
      probes.push({ keyId: enc.keyId, lineage, ciphertextBlob: enc.ciphertextBlob, plaintext });
    };
    await encryptProbe('payments');
    await encryptProbe('orders');

    // The checks read the account's truth from the emulator in process (every key's state, material
    // expiry and tags, as DescribeKey and ListResourceTags would answer): 800 days of them over HTTP
    // were three quarters of this test's calls. The engine under test still goes through the SDK.
    const account = () => h.emu.inspectKeys().sort((a, b) => a.keyId.localeCompare(b.keyId));

    for (let day = 1; day <= DAYS; day++) {
      h.advanceDays(1);
      const now = h.nowMs();
      // Before the sweep: no managed key is PendingImport unless held or retired.
      const live = (t: Record<string, string>) =>
        t[Tag.Managed] === 'true' && t[Tag.Phase] !== 'retired' && !t[Tag.Hold];
      for (const key of account().filter((k) => live(k.tags))) {
        expect({ day, id: key.keyId, state: key.state }).toEqual({ day, id: key.keyId, state: 'Enabled' });
      }

      const result = await sweep(h.deps());
      expect(
        result.counts.failed,
        `day ${day}: ${JSON.stringify(result.results.filter((r) => r.outcome === 'failed'))}`,
      ).toBe(0);
      const retiredNow = new Set(
        result.results.filter((r) => r.action.kind === 'retire').map((r) => (r.action as { keyId: string }).keyId),
      );
      for (const r of result.results) {
        // A generation past its retention is retired, never renewed or re-imported one last time.
        const keyId = (r.action as { keyId?: string }).keyId;
        if ((r.action.kind === 'renew' || r.action.kind === 'reimport') && keyId !== undefined)
          expect(retiredNow.has(keyId), `day ${day}: ${r.action.kind} and retire of ${keyId}`).toBe(false);
        if (r.action.kind === 'retire') {
          expect(r.action.lineage, `day ${day}: default policy retired ${keyId}`).toBe('orders');
          retirements.push({ day, generation: r.action.generation });
        }
        if (r.action.kind === 'renew' && r.outcome === 'ok') {
          renewals++;
          // Renewed inside the window: never earlier than renewBeforeDays before expiry.
          expect(r.action.expiresAtMs! - now).toBeLessThanOrEqual(renewBefore[r.action.lineage]! * DAY_MS);
          expect(r.action.expiresAtMs! - now).toBeGreaterThan(0);
        }
        if (r.action.kind === 'rotate' && r.outcome === 'ok') {
          rotationsOnDay.push({ lineage: r.action.lineage, day, generation: r.action.nextGeneration! });
          await encryptProbe(r.action.lineage);
        }
      }

      // After the sweep: every active managed key has more than its renew window left.
      const keys = account();
      const active = (t: Record<string, string>) => t[Tag.Managed] === 'true' && t[Tag.Phase] !== 'retired';
      for (const { keyId, tags, state, materialExpireUnix } of keys.filter((k) => active(k.tags))) {
        const lineage = tags[Tag.Lineage]!;
        seenGenerations[lineage]!.set(keyId, Number(tags[Tag.Generation]));
        const left = (materialExpireUnix ?? 0) * 1000 - now;
        expect({ day, keyId, state }).toEqual({ day, keyId, state: 'Enabled' });
        expect(left, `day ${day} ${lineage} gen ${tags[Tag.Generation]}`).toBeGreaterThan(
          renewBefore[lineage]! * DAY_MS,
        );
      }

      // Weekly: every ciphertext whose generation is not retired still decrypts.
      if (day % 7 === 0 || day === DAYS) {
        const tagsOf = new Map(keys.map((k) => [k.keyId, k.tags]));
        for (const p of probes) {
          if (tagsOf.get(p.keyId)?.[Tag.Phase] === 'retired') continue;
          expect((await h.kms.decrypt({ ciphertextBlob: p.ciphertextBlob })).plaintext).toBe(p.plaintext);
        }
      }
    }

    // Rotation at 365 days for payments (twice in 800 days), every 180 days for orders.
    expect(rotationsOnDay.filter((r) => r.lineage === 'payments')).toEqual([
      { lineage: 'payments', day: 365, generation: 2 },
      { lineage: 'payments', day: 730, generation: 3 },
    ]);
    expect(rotationsOnDay.filter((r) => r.lineage === 'orders').map((r) => r.day)).toEqual([180, 360, 540, 720]);
    const payments = await h.kms.describeKey('alias/payments');
    expect(await h.kms.listResourceTags(payments.keyId)).toMatchObject({ [Tag.Generation]: '3', [Tag.Phase]: 'ready' });
    // Default policy: every payments ciphertext, of every generation, still decrypts; nothing retired.
    for (const p of probes.filter((x) => x.lineage === 'payments')) {
      expect((await h.kms.listResourceTags(p.keyId))[Tag.Phase]).toBe('ready');
      expect((await h.kms.decrypt({ ciphertextBlob: p.ciphertextBlob })).plaintext).toBe(p.plaintext);
    }
    // Explicit 60-day retention: orders generations 1-4 retired 60 days after each rotation.
    expect(retirements).toEqual([
      { day: 240, generation: 1 },
      { day: 420, generation: 2 },
      { day: 600, generation: 3 },
      { day: 780, generation: 4 },
    ]);
    // Exactly one CMK per generation.
    expect([...seenGenerations.payments!.values()].sort()).toEqual([1, 2, 3]);
    expect([...seenGenerations.orders!.values()].sort()).toEqual([1, 2, 3, 4, 5]);
    expect(renewals).toBeGreaterThan(40);
    // The emulator clock also moves with real time, so at least 800 days passed.
    expect(h.nowMs() - onboardedAt).toBeGreaterThanOrEqual(DAYS * DAY_MS);
    expect(h.nowMs() - onboardedAt).toBeLessThan((DAYS + 1) * DAY_MS);
  }, 600_000);
});
