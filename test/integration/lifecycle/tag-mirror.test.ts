/**
 * The key-tag mirror on escrow secrets (issue 10, docs/design.md "Observe") over HTTP against the
 * emulator: it says what the keys' own tags say, a stale mirror never hides a renewal, and tags
 * edited by hand are found by the reconcile within its period. Plus the rules themselves, with values.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DEFAULT_POLICY } from '../../../shared/config/index.js';
import type { KeyMetadata } from '../../../shared/kms/port.js';
import { onboard, sweep } from '../../../shared/lifecycle/engine.js';
import { DAY_MS, Tag, describeMarker, type KeyView, type Snapshot } from '../../../shared/lifecycle/model.js';
import { keysToConfirm, mirrorUsable, observe } from '../../../shared/lifecycle/observe.js';
import type { Plan } from '../../../shared/lifecycle/plan.js';
import { planNow } from '../../../shared/lifecycle/sweep.js';
import { startHarness, type Harness } from '../../support/engine-harness.js';

let h: Harness;
beforeEach(async () => {
  h = await startHarness({ escrow: 'kms-secrets' });
});
afterEach(async () => {
  await h?.close();
});

const period = 4;
const deps = () => h.deps({ escrowVerifyDays: period, tagReconcileDays: period });

/** A snapshot from every key's own tags (no mirror), for comparison. */
const truth = () => observe({ kms: h.kms, escrow: h.escrow, nowMs: h.nowMs, useMirror: false });

describe('the key-tag mirror', () => {
  it('gives the same snapshot as the keys own tags, after onboarding and a rotation', async () => {
    await onboard(deps(), { alias: 'alias/mirror-a' });
    await onboard(deps(), { alias: 'alias/mirror-b' });
    const { rotateNow } = await import('../../../shared/lifecycle/engine.js');
    await rotateNow(deps(), 'alias/mirror-b'); // ready tag on gen 2, superseded-at on gen 1: both mirrored
    await sweep(deps());
    const mirrored = await observe({ kms: h.kms, escrow: h.escrow, nowMs: h.nowMs });
    expect(mirrored.keys).toEqual((await truth()).keys);
    expect(mirrored.keys.filter((k) => k.supersededAtMs !== undefined)).toHaveLength(1);
  });

  it('never lets a stale mirror hide a renewal: keys inside the renew window are read in full', async () => {
    const { keyId } = await onboard(deps(), { alias: 'alias/stale' });
    const tags = await h.kms.listResourceTags(keyId);
    // A mirror that says the key is held (as if a restore's mirror write had been lost).
    await h.escrow.mirrorKeyTags!(keyId, { ...tags, [Tag.Hold]: 'disabled' }, h.nowMs());
    const before = (await h.kms.describeKey(keyId)).materialExpireAtMs!;
    h.advanceDays(24); // inside the 7-day renew window of a 30-day validity
    const result = await sweep(deps());
    expect(result.plan.actions.map((a) => a.kind)).toEqual(['renew']);
    expect((await h.kms.describeKey(keyId)).materialExpireAtMs!).toBeGreaterThan(before);
  });

  it('ends when a key the plan needs confirmed cannot have its tags read: reported, not retried forever', async () => {
    // Found by the soak: a mirrored key inside its renew window whose ListResourceTags keeps failing
    // kept the confirm loop of observe() spinning, so the sweep never ended.
    // The soak's reproduction: one lineage on a 20-day validity override, sweeps every 3 days.
    await onboard(h.deps(), { alias: 'alias/unreadable-tags', validityDays: 20 });
    await onboard(h.deps(), { alias: 'alias/readable' });
    for (let i = 0; i < 5; i++) {
      h.advanceDays(3);
      await sweep(h.deps());
    }
    h.advanceDays(9);
    h.emu.faults.inject({ kind: 'throttle', rate: 1, actions: ['ListResourceTags'] });
    let timer: NodeJS.Timeout | undefined;
    const stuck = new Promise<'stuck'>((resolve) => {
      timer = setTimeout(() => resolve('stuck'), 15_000);
    });
    const result = await Promise.race([sweep(h.deps()), stuck]);
    clearTimeout(timer);
    h.emu.faults.reset();
    expect(result).not.toBe('stuck');
    if (result === 'stuck') return;
    const unreadable = result.snapshot.unobservable.map((u) => u.keyId);
    expect(unreadable.length).toBeGreaterThan(0);
    for (const keyId of unreadable)
      expect(result.plan.actions.some((a) => a.kind === 'alert' && 'keyId' in a && a.keyId === keyId)).toBe(true);
  });

  it('never lets a stale mirror that plans nothing hide a renewal (previous generation mirrored retired)', async () => {
    const { rotateNow } = await import('../../../shared/lifecycle/engine.js');
    const { keyId: previous } = await onboard(deps(), { alias: 'alias/stale-prev' });
    // Ten days apart: the current generation is far from its renew window when the previous one is in it.
    h.advanceDays(10);
    await rotateNow(deps(), 'alias/stale-prev');
    const tags = await h.kms.listResourceTags(previous);
    // Renewed forever (retainPreviousDays 0), but its mirror says retired: on the mirror alone, the
    // plan would leave it to lapse.
    await h.escrow.mirrorKeyTags!(previous, { ...tags, [Tag.Phase]: 'retired' }, h.nowMs());
    const before = (await h.kms.describeKey(previous)).materialExpireAtMs!;
    h.advanceDays(14);
    // A reconcile period longer than the test: only the renew-window rule reads the key's own tags.
    const result = await sweep(h.deps({ escrowVerifyDays: period, tagReconcileDays: 366 }));
    expect(result.plan.actions.map((a) => [a.kind, 'keyId' in a ? a.keyId : ''])).toEqual([['renew', previous]]);
    expect((await h.kms.describeKey(previous)).materialExpireAtMs!).toBeGreaterThan(before);
  });

  it('finds a tag edited by hand on the key within the reconcile period, and repairs the mirror', async () => {
    const { keyId } = await onboard(deps(), { alias: 'alias/edited' });
    await sweep(deps());
    // By hand (bypassing the tool, so the mirror is not updated): an operator's hold.
    await h.kms.tagResource(keyId, { [Tag.Hold]: 'revoked' });
    const seen: boolean[] = [];
    for (let day = 1; day <= period; day++) {
      h.advanceDays(1);
      const { snapshot } = await planNow(deps(), { sweep: true });
      seen.push(snapshot.keys.find((k) => k.keyId === keyId)?.hold === 'revoked');
    }
    expect(seen[period - 1]).toBe(true);
    // Once seen, the mirror says so too: a read-only snapshot from the mirror agrees with the key.
    const mirrored = await observe({ kms: h.kms, escrow: h.escrow, nowMs: h.nowMs });
    expect(mirrored.keys.find((k) => k.keyId === keyId)?.hold).toBe('revoked');
    expect(seen.indexOf(true)).toBeGreaterThanOrEqual(0);
    for (const s of seen.slice(seen.indexOf(true))) expect(s).toBe(true);
  });
});

describe('the mirror rules (pure)', () => {
  const NOW = Date.UTC(2027, 0, 1);
  const meta = (over: Partial<KeyMetadata> = {}): KeyMetadata => ({
    keyId: 'k1',
    arn: 'acs:kms:cn-hangzhou:1:key/k1',
    keyState: 'Enabled',
    keySpec: 'Aliyun_AES_256',
    keyUsage: 'ENCRYPT/DECRYPT',
    origin: 'EXTERNAL',
    protectionLevel: 'SOFTWARE',
    description: describeMarker('payments', 2),
    creationDateMs: NOW - 10 * DAY_MS,
    materialExpireAtMs: NOW + 20 * DAY_MS,
    ...over,
  });
  const mirror = (over: Record<string, string> = {}) => ({
    [Tag.Managed]: 'true',
    [Tag.Lineage]: 'payments',
    [Tag.Generation]: '2',
    [Tag.Phase]: 'ready',
    ...over,
  });

  it('uses a mirror only for a steady key whose CreateKey marker it agrees with', () => {
    expect([
      mirrorUsable(meta(), mirror()),
      mirrorUsable(meta({ description: '' }), mirror()), // adopted: no marker to compare
      mirrorUsable(meta(), mirror({ [Tag.Generation]: '3' })),
      mirrorUsable(meta(), mirror({ [Tag.Lineage]: 'orders' })),
      mirrorUsable(meta({ keyState: 'Disabled' }), mirror()),
      mirrorUsable(meta({ keyState: 'PendingDeletion' }), mirror()),
      mirrorUsable(meta({ keyState: 'PendingImport' }), mirror()),
      mirrorUsable(meta({ keyState: 'PendingImport' }), mirror({ [Tag.Phase]: 'retired' })),
    ]).toEqual([true, true, false, false, false, false, false, true]);
  });

  it('confirms every key of a lineage with an action, and every key near its renew window', () => {
    const view = (keyId: string, lineage: string, daysLeft: number): KeyView => ({
      keyId,
      state: 'Enabled',
      origin: 'EXTERNAL',
      keySpec: 'Aliyun_AES_256',
      creationDateMs: NOW - 10 * DAY_MS,
      materialExpireAtMs: NOW + daysLeft * DAY_MS,
      managed: true,
      lineage,
      generation: 1,
      phase: 'ready',
      untaggedMarker: false,
      aliases: [],
    });
    const snapshot: Snapshot = {
      takenAtMs: NOW,
      keys: [view('a1', 'a', 20), view('a2', 'a', 20), view('b1', 'b', 7.5), view('c1', 'c', 20)],
      aliases: {},
      escrow: {},
      escrowUnreadable: [],
      unobservable: [],
      instances: [],
    };
    const plan: Plan = {
      planId: 'p',
      createdAtMs: NOW,
      actions: [{ kind: 'alert', severity: 'warning', keyId: 'a2', lineage: 'a', reason: 'x' }],
    };
    const policies = { defaults: DEFAULT_POLICY, lineages: {} };
    // b1: 7.5 days left, renew window 7 days (+1 day margin); c1: nothing to do.
    expect(keysToConfirm(snapshot, plan, policies, NOW)).toEqual(['a1', 'a2', 'b1']);
  });
});
