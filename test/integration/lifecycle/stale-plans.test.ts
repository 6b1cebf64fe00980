/**
 * Stale plans (issue 8 §4): a plan is taken, KMS changes behind it (revoke, disable, schedule
 * deletion, a swapped fingerprint, a renewal or rotation by another run, a passed deadline, a moved
 * alias, a CMK left by a dead run), and the OLD plan is executed. The planner would not plan these
 * actions on the new state, so only the executor's fresh checks (apply.ts, steps.ts, provision.ts)
 * stand between the stale plan and an unsafe write: each test here provokes one of them, and
 * scripts/mutation-check.ts proves each test fails when its guard is removed.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { KeyState } from '../../../shared/kms/port.js';
import { executePlan, onboard, planNow, rotateNow } from '../../../shared/lifecycle/engine.js';
import { observe } from '../../../shared/lifecycle/observe.js';
import { acquireLease, leaseDeps } from '../../../shared/lifecycle/lease.js';
import { Hold, Phase, Tag, describeMarker } from '../../../shared/lifecycle/model.js';
import type { Action, ActionKind, Plan } from '../../../shared/lifecycle/plan.js';
import { startHarness, type Harness } from '../../support/engine-harness.js';

let h: Harness;
beforeEach(async () => {
  h = await startHarness();
});
afterEach(async () => {
  await h?.close();
});

/** A plan taken now, narrowed to its one action of `kind` (the action is asserted to be there). */
async function planOf(kind: ActionKind, keyId?: string): Promise<{ plan: Plan; action: Action }> {
  const { plan } = await planNow(h.deps());
  const actions = plan.actions.filter(
    (a) => a.kind === kind && (keyId === undefined || ('keyId' in a && a.keyId === keyId)),
  );
  expect(actions).toHaveLength(1);
  return { plan: { ...plan, actions }, action: actions[0] as Action };
}

/** Executes the (old) plan and returns its one result. */
async function execute(plan: Plan, over: Parameters<Harness['deps']>[0] = {}) {
  const result = await executePlan(h.deps(over), plan);
  expect(result.results).toHaveLength(1);
  const [only] = result.results;
  if (!only) throw new Error('no result');
  return only;
}

const stateOf = async (keyId: string) => (await h.kms.describeKey(keyId)).keyState;
async function expiryOf(keyId: string): Promise<number> {
  const expiry = (await h.kms.describeKey(keyId)).materialExpireAtMs;
  expect(expiry).toBeTypeOf('number');
  return expiry as number;
}
const aliasTarget = async (lineage: string) => (await h.kms.describeKey(`alias/${lineage}`)).keyId;
const tagsOf = (keyId: string) => h.kms.listResourceTags(keyId);

/**
 * A CMK as a run that died right after CreateKey leaves it: the marker, no tags, no material, and in
 * the lineage's lease record the CreateKey it was about to send, its answer never recorded (the
 * lease itself has long expired: released here so the plan can take it).
 */
async function orphanCmk(lineage: string, generation: number): Promise<string> {
  const lease = await acquireLease(leaseDeps(h.deps()), lineage, 'a run that died');
  await lease.noteCreatedKey({ generation });
  await lease.release();
  const created = await h.kms.createKey({
    origin: 'EXTERNAL',
    keySpec: 'Aliyun_AES_256',
    description: describeMarker(lineage, generation),
    ...(h.instances.keys ? { dkmsInstanceId: h.instances.keys } : {}),
  });
  return created.keyId;
}

/** Non-PendingDeletion keys of a lineage's generation. */
async function generationKeys(lineage: string, generation: number): Promise<string[]> {
  // Every key of the account read in full (no mirror): authoritative, as the check needs.
  const { keys } = await observe({ kms: h.kms, escrow: h.escrow, nowMs: h.nowMs, useMirror: false });
  return keys
    .filter((k) => k.managed && k.lineage === lineage && k.generation === generation)
    .filter((k) => k.state !== KeyState.PendingDeletion)
    .map((k) => k.keyId);
}

describe('a stale re-import', () => {
  /** A key whose material was deleted out of band, and the re-import planned for it. */
  async function lapsed(lineage: string) {
    const { keyId } = await onboard(h.deps(), { alias: `alias/${lineage}` });
    await h.kms.deleteKeyMaterial(keyId);
    return { keyId, ...(await planOf('reimport', keyId)) };
  }

  it('is skipped when the key was revoked behind the plan (hold check)', async () => {
    const { keyId, plan } = await lapsed('stale-revoked');
    await h.kms.tagResource(keyId, { [Tag.Hold]: Hold.Revoked });
    const r = await execute(plan);
    expect(r.outcome).toBe('skipped');
    expect(r.detail).toMatch(/held \(revoked\)/);
    expect(await stateOf(keyId)).toBe(KeyState.PendingImport);
  });

  it('is skipped when another run re-imported first (state check)', async () => {
    const { keyId, plan } = await lapsed('stale-reimported');
    expect((await execute(plan)).outcome).toBe('ok');
    const expiry = await expiryOf(keyId);
    h.emu.clock.advance(60);
    const r = await execute(plan);
    expect(r.outcome).toBe('skipped');
    expect(r.detail).toMatch(/nothing to re-import/);
    expect(await expiryOf(keyId)).toBe(expiry);
  });

  it('is skipped when the key was scheduled for deletion (PendingDeletion check)', async () => {
    const { keyId, plan } = await lapsed('stale-deleted');
    await h.console.scheduleKeyDeletion(keyId, 7);
    const r = await execute(plan);
    expect(r.outcome).toBe('skipped');
    expect(r.detail).toMatch(/PendingDeletion: never imported into/);
    expect(await stateOf(keyId)).toBe(KeyState.PendingDeletion);
  });

  it('fails without importing when the key names other material than the escrow (fingerprint check)', async () => {
    const { keyId, plan } = await lapsed('stale-swapped');
    await h.kms.tagResource(keyId, { [Tag.Fingerprint]: 'f'.repeat(64) });
    const r = await execute(plan);
    expect(r.outcome).toBe('failed');
    expect(r.errorCode).toBe('ERR_ESCROW_MISMATCH');
    expect(await stateOf(keyId)).toBe(KeyState.PendingImport);
  });
});

describe('a stale renewal', () => {
  async function due(lineage: string) {
    const { keyId } = await onboard(h.deps(), { alias: `alias/${lineage}` });
    h.advanceDays(25); // inside the 7-day renew window of the 30-day default validity
    return { keyId, ...(await planOf('renew', keyId)) };
  }

  it('is skipped when another run renewed first (no second renewal)', async () => {
    const { keyId, plan } = await due('stale-renewed');
    expect((await execute(plan)).outcome).toBe('ok');
    const expiry = await expiryOf(keyId);
    h.emu.clock.advance(3600);
    const r = await execute(plan);
    expect(r.outcome).toBe('skipped');
    expect(r.detail).toMatch(/already renewed/);
    expect(await expiryOf(keyId)).toBe(expiry);
  });

  it('is skipped when the key was disabled behind the plan', async () => {
    const { keyId, plan } = await due('stale-disabled');
    const expiry = await expiryOf(keyId);
    await h.console.disableKey(keyId);
    const r = await execute(plan);
    expect(r.outcome).toBe('skipped');
    expect(r.detail).toMatch(/Disabled now: not renewed/);
    expect(await expiryOf(keyId)).toBe(expiry);
  });

  it('is skipped when the generation was retired behind the plan', async () => {
    const { keyId, plan } = await due('stale-retired');
    const expiry = await expiryOf(keyId);
    await h.kms.tagResource(keyId, { [Tag.Phase]: Phase.Retired });
    const r = await execute(plan);
    expect(r.outcome).toBe('skipped');
    expect(r.detail).toMatch(/retired/);
    expect(await expiryOf(keyId)).toBe(expiry);
  });

  it('writes nothing once the deadline has passed (time-budget check)', async () => {
    const { keyId, plan } = await due('stale-deadline');
    const expiry = await expiryOf(keyId);
    const r = await execute(plan, { deadlineMs: h.nowMs() - 1 });
    expect(r.outcome).toBe('deferred');
    expect(r.errorCode).toBe('ERR_TIME_BUDGET_EXHAUSTED');
    expect(await expiryOf(keyId)).toBe(expiry);
  });
});

describe('a stale rotation', () => {
  /** A lineage due for rotation, and the rotation planned from generation 1 to 2. */
  async function due(lineage: string) {
    const { keyId } = await onboard(h.deps(), { alias: `alias/${lineage}`, validityDays: 400 });
    h.advanceDays(365);
    const planned = await planOf('rotate');
    expect(planned.action).toMatchObject({ fromKeyId: keyId, nextGeneration: 2 });
    return { keyId, ...planned };
  }

  it('is skipped when the alias moved on behind the plan (no alias roll-back)', async () => {
    const { plan } = await due('stale-rotated');
    await rotateNow(h.deps(), 'alias/stale-rotated');
    const third = await rotateNow(h.deps(), 'alias/stale-rotated');
    const r = await execute(plan);
    expect(r.outcome).toBe('skipped');
    expect(r.detail).toMatch(/alias already moved/);
    expect(await aliasTarget('stale-rotated')).toBe(third.keyId);
  });

  it('finishes the CMK a dead run created for the generation instead of creating a second', async () => {
    const { plan } = await due('stale-orphan');
    const orphan = await orphanCmk('stale-orphan', 2);
    expect((await execute(plan)).outcome).toBe('ok');
    expect(await generationKeys('stale-orphan', 2)).toEqual([orphan]);
    expect(await aliasTarget('stale-orphan')).toBe(orphan);
  });

  it('does not reuse a CMK of the generation that is PendingDeletion', async () => {
    const { plan } = await due('stale-orphan-deleted');
    const orphan = await orphanCmk('stale-orphan-deleted', 2);
    await h.console.scheduleKeyDeletion(orphan, 7);
    expect((await execute(plan)).outcome).toBe('ok');
    const [fresh] = await generationKeys('stale-orphan-deleted', 2);
    expect(fresh).not.toBe(orphan);
    expect(await aliasTarget('stale-orphan-deleted')).toBe(fresh);
    expect(await stateOf(orphan)).toBe(KeyState.PendingDeletion);
  });

  it('stops when the generation already has two CMKs', async () => {
    const { keyId, plan } = await due('stale-twins');
    const twins = [await orphanCmk('stale-twins', 2), await orphanCmk('stale-twins', 2)];
    const r = await execute(plan);
    expect(r.outcome).toBe('failed');
    expect(r.detail).toMatch(/2 CMKs for generation 2/);
    expect(await aliasTarget('stale-twins')).toBe(keyId);
    for (const id of twins) expect(await stateOf(id)).toBe(KeyState.PendingImport);
  });

  it('never imports into a CMK of the generation that was revoked meanwhile (assertProvisionable)', async () => {
    const { keyId, plan } = await due('stale-held');
    const orphan = await orphanCmk('stale-held', 2);
    await h.kms.tagResource(orphan, { [Tag.Hold]: Hold.Revoked });
    const r = await execute(plan);
    expect(r.outcome).toBe('failed');
    expect(r.detail).toMatch(/provisioning stopped/);
    expect(await stateOf(orphan)).toBe(KeyState.PendingImport);
    expect(await aliasTarget('stale-held')).toBe(keyId);
  });

  it('never moves the alias onto a key disabled after its self-test (check before the alias move)', async () => {
    const { keyId, plan } = await due('stale-late-disable');
    const onCheckpoint = async (name: string, at: { keyId?: string }) => {
      if (name === 'ready' && at.keyId) await h.console.disableKey(at.keyId);
    };
    const r = await execute(plan, { onCheckpoint });
    expect(r.outcome).toBe('failed');
    expect(r.detail).toMatch(/the alias is not moved onto it/);
    expect(await aliasTarget('stale-late-disable')).toBe(keyId);
  });
});

describe('other stale actions', () => {
  it('a retirement is skipped when the alias points at the key again', async () => {
    const first = await onboard(h.deps(), { alias: 'alias/stale-retire' });
    await rotateNow(h.deps(), 'alias/stale-retire');
    const action: Action = {
      kind: 'retire',
      keyId: first.keyId,
      lineage: 'stale-retire',
      generation: 1,
      reason: 'old',
    };
    const plan: Plan = { planId: 'stale-retire', createdAtMs: h.nowMs(), actions: [action] };
    await h.kms.updateAlias('alias/stale-retire', first.keyId);
    const r = await execute(plan);
    expect(r.outcome).toBe('skipped');
    expect((await tagsOf(first.keyId))[Tag.Phase]).toBe(Phase.Ready);
  });

  it('a hold is skipped when the operator re-enabled the key behind the plan', async () => {
    const { keyId } = await onboard(h.deps(), { alias: 'alias/stale-hold' });
    await h.console.disableKey(keyId);
    const { plan } = await planOf('hold', keyId);
    await h.console.enableKey(keyId);
    const r = await execute(plan);
    expect(r.outcome).toBe('skipped');
    expect((await tagsOf(keyId))[Tag.Hold]).toBeUndefined();
  });
});
