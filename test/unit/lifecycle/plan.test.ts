import { describe, expect, it } from 'vitest';
import { DEFAULT_POLICY } from '../../../shared/config/index.js';
import { DAY_MS, type KeyView, type Policies, type Snapshot } from '../../../shared/lifecycle/model.js';
import { planSweep, type Action } from '../../../shared/lifecycle/plan.js';
import { planRevival } from '../../../shared/lifecycle/plan-keys.js';

const NOW = Date.UTC(2027, 0, 1, 0, 0, 0);
const policies: Policies = { defaults: DEFAULT_POLICY, lineages: { short: { validityDays: 10, renewBeforeDays: 3 } } };

/** A ready, healthy generation-1 key of lineage `payments`, created 100 days ago, 20 days of material left. */
function key(over: Partial<KeyView> = {}): KeyView {
  return {
    keyId: 'k1',
    state: 'Enabled',
    origin: 'EXTERNAL',
    keySpec: 'Aliyun_AES_256',
    creationDateMs: NOW - 100 * DAY_MS,
    materialExpireAtMs: NOW + 20 * DAY_MS,
    managed: true,
    lineage: 'payments',
    generation: 1,
    fingerprint: 'kcv1:aaaaaaaaaaaaaaaaaaaaaaaa',
    phase: 'ready',
    untaggedMarker: false,
    aliases: ['alias/payments'],
    escrowFingerprint: 'kcv1:aaaaaaaaaaaaaaaaaaaaaaaa',
    ...over,
  };
}

function snap(
  keys: KeyView[],
  aliases: Record<string, string> = { 'alias/payments': 'k1' },
  escrowUnreadable: string[] = [],
): Snapshot {
  const escrow: Snapshot['escrow'] = {};
  for (const k of keys)
    if (k.escrowFingerprint)
      escrow[k.keyId] = { fingerprint: k.escrowFingerprint, lineage: k.lineage ?? '', generation: k.generation ?? 0 };
  return { takenAtMs: NOW, keys, aliases, escrow, escrowUnreadable, unobservable: [], instances: [] };
}

/** The resolved policy a renewal or re-import of `payments` carries (the defaults). */
const resolved = {
  validityDays: 30,
  renewBeforeDays: 7,
  wrappingAlgorithm: 'RSAES_OAEP_SHA_256',
  keySpec: 'Aliyun_AES_256',
} as const;

/** The defaults with an explicit 90-day retention of previous generations. */
const retain90: Policies = { defaults: { ...DEFAULT_POLICY, retainPreviousDays: 90 }, lineages: {} };

const kinds = (actions: Action[]) => actions.map((a) => `${a.kind}:${'keyId' in a ? a.keyId : a.lineage}`);

describe('planSweep: renewal', () => {
  it('does nothing for a healthy key outside the renew window', () => {
    expect(planSweep(snap([key()]), policies, NOW).actions).toEqual([]);
  });

  it('renews exactly when 7 days or less of material are left', () => {
    const at7 = planSweep(snap([key({ materialExpireAtMs: NOW + 7 * DAY_MS })]), policies, NOW).actions;
    expect(at7).toEqual([
      {
        kind: 'renew',
        keyId: 'k1',
        lineage: 'payments',
        generation: 1,
        expiresAtMs: NOW + 7 * DAY_MS,
        policy: resolved,
        reason: 'material expires in 7 d (renew 7 d before)',
      },
    ]);
    const justOutside = planSweep(snap([key({ materialExpireAtMs: NOW + 7 * DAY_MS + 1 })]), policies, NOW).actions;
    expect(justOutside).toEqual([]);
  });

  it('uses the lineage override of the policy (validity 10, renew 3 days before)', () => {
    const k = key({ lineage: 'short', aliases: ['alias/short'], materialExpireAtMs: NOW + 3 * DAY_MS });
    const actions = planSweep(snap([k], { 'alias/short': 'k1' }), policies, NOW).actions;
    expect(actions).toMatchObject([{ kind: 'renew', policy: { validityDays: 10, renewBeforeDays: 3 } }]);
    expect(
      planSweep(snap([{ ...k, materialExpireAtMs: NOW + 4 * DAY_MS }], { 'alias/short': 'k1' }), policies, NOW).actions,
    ).toEqual([]);
  });

  it('uses the validity-days tag written by onboard over the configured policy', () => {
    const actions = planSweep(
      snap([key({ validityDaysOverride: 14, materialExpireAtMs: NOW + DAY_MS })]),
      policies,
      NOW,
    ).actions;
    expect(actions).toMatchObject([{ kind: 'renew', policy: { validityDays: 14, validityDaysOverride: 14 } }]);
  });

  it('never renews material that never expires', () => {
    expect(planSweep(snap([key({ materialExpireAtMs: undefined })]), policies, NOW).actions).toEqual([]);
  });

  it('orders renewals by nearest expiry and re-imports before renewals', () => {
    const keys = [
      key({ keyId: 'k1', materialExpireAtMs: NOW + 5 * DAY_MS }),
      key({
        keyId: 'k2',
        generation: 2,
        lineage: 'orders',
        aliases: ['alias/orders'],
        materialExpireAtMs: NOW + 1 * DAY_MS,
      }),
      key({
        keyId: 'k3',
        lineage: 'billing',
        aliases: ['alias/billing'],
        state: 'PendingImport',
        materialExpireAtMs: undefined,
      }),
    ];
    const plan = planSweep(
      snap(keys, { 'alias/payments': 'k1', 'alias/orders': 'k2', 'alias/billing': 'k3' }),
      policies,
      NOW,
    );
    expect(kinds(plan.actions)).toEqual(['reimport:k3', 'renew:k2', 'renew:k1']);
  });
});

describe('planSweep: availability', () => {
  it('re-imports a managed key found PendingImport when escrow matches its fingerprint', () => {
    const actions = planSweep(
      snap([key({ state: 'PendingImport', materialExpireAtMs: undefined })]),
      policies,
      NOW,
    ).actions;
    expect(actions).toEqual([
      {
        kind: 'reimport',
        keyId: 'k1',
        lineage: 'payments',
        generation: 1,
        policy: resolved,
        reason: 'material deleted or expired (PendingImport)',
      },
    ]);
  });

  it('alerts instead of re-importing when escrow is missing', () => {
    const actions = planSweep(
      snap([key({ state: 'PendingImport', materialExpireAtMs: undefined, escrowFingerprint: undefined })]),
      policies,
      NOW,
    ).actions;
    expect(actions).toMatchObject([{ kind: 'alert', severity: 'critical', keyId: 'k1' }]);
  });

  it('alerts instead of re-importing when escrow holds other material', () => {
    const actions = planSweep(
      snap([key({ state: 'PendingImport', escrowFingerprint: 'kcv1:bbbbbbbbbbbbbbbbbbbbbbbb' })]),
      policies,
      NOW,
    ).actions;
    expect(actions).toMatchObject([
      { kind: 'alert', severity: 'critical', reason: 'material gone and escrow holds different material' },
    ]);
  });

  it('leaves a revoked key down', () => {
    expect(planSweep(snap([key({ state: 'PendingImport', hold: 'revoked' })]), policies, NOW).actions).toEqual([]);
  });

  it('records an operator disable as a hold and never re-enables', () => {
    const actions = planSweep(snap([key({ state: 'Disabled' })]), policies, NOW).actions;
    expect(actions).toMatchObject([{ kind: 'hold', keyId: 'k1', hold: 'disabled' }]);
    expect(planSweep(snap([key({ state: 'Disabled', hold: 'disabled' })]), policies, NOW).actions).toEqual([]);
  });

  it('does not re-import a held key whose material expired while disabled', () => {
    expect(
      planSweep(snap([key({ state: 'PendingImport', hold: 'disabled', materialExpireAtMs: undefined })]), policies, NOW)
        .actions,
    ).toEqual([]);
  });

  it('releases the hold once an operator re-enables the key', () => {
    expect(kinds(planSweep(snap([key({ hold: 'disabled' })]), policies, NOW).actions)).toEqual(['release-hold:k1']);
  });

  it('alerts on PendingDeletion and touches nothing', () => {
    const actions = planSweep(
      snap([key({ state: 'PendingDeletion', deleteDateMs: NOW + 7 * DAY_MS, materialExpireAtMs: NOW + DAY_MS })]),
      policies,
      NOW,
    ).actions;
    expect(actions).toEqual([
      {
        kind: 'alert',
        severity: 'critical',
        keyId: 'k1',
        lineage: 'payments',
        reason: 'scheduled for deletion on 2027-01-08T00:00:00.000Z; not touched (cancel by hand if unintended)',
      },
    ]);
  });

  it('alerts when a ready key has no escrow record', () => {
    expect(planSweep(snap([key({ escrowFingerprint: undefined })]), policies, NOW).actions).toMatchObject([
      {
        kind: 'alert',
        severity: 'critical',
        reason: 'escrow record missing: the key cannot be restored if its material is lost',
      },
    ]);
  });

  it('alerts when the escrow record is unreadable', () => {
    expect(planSweep(snap([key()], undefined, ['k1']), policies, NOW).actions).toMatchObject([
      { kind: 'alert', severity: 'critical' },
    ]);
  });

  it('ignores unmanaged EXTERNAL keys', () => {
    const foreign = key({
      keyId: 'x1',
      managed: false,
      lineage: undefined,
      generation: undefined,
      phase: undefined,
      state: 'PendingImport',
      aliases: [],
    });
    expect(planSweep(snap([key(), foreign]), policies, NOW).actions).toEqual([]);
  });
});

describe('planSweep: rotation and retention', () => {
  it('rotates the current generation at exactly 365 days of age', () => {
    const at = planSweep(snap([key({ creationDateMs: NOW - 365 * DAY_MS })]), policies, NOW).actions;
    expect(at).toEqual([
      {
        kind: 'rotate',
        lineage: 'payments',
        fromKeyId: 'k1',
        nextGeneration: 2,
        policy: resolved,
        reason: 'generation 1 is 365 d old (rotate after 365 d)',
      },
    ]);
    expect(planSweep(snap([key({ creationDateMs: NOW - 365 * DAY_MS + 1 })]), policies, NOW).actions).toEqual([]);
  });

  it('never rotates when rotateAfterDays is 0', () => {
    const p: Policies = { defaults: { ...DEFAULT_POLICY, rotateAfterDays: 0 }, lineages: {} };
    expect(planSweep(snap([key({ creationDateMs: NOW - 5000 * DAY_MS })]), p, NOW).actions).toEqual([]);
  });

  it('keeps renewing the previous generation during retention', () => {
    const old = key({
      keyId: 'k1',
      aliases: [],
      supersededAtMs: NOW - 10 * DAY_MS,
      materialExpireAtMs: NOW + 2 * DAY_MS,
    });
    const cur = key({ keyId: 'k2', generation: 2, creationDateMs: NOW - 10 * DAY_MS });
    expect(kinds(planSweep(snap([old, cur], { 'alias/payments': 'k2' }), policies, NOW).actions)).toEqual(['renew:k1']);
  });

  it('retires the previous generation after a configured 90 days of retention and stops renewing it', () => {
    const old = key({
      keyId: 'k1',
      aliases: [],
      supersededAtMs: NOW - 90 * DAY_MS,
      materialExpireAtMs: NOW + 30 * DAY_MS,
    });
    const cur = key({ keyId: 'k2', generation: 2, creationDateMs: NOW - 90 * DAY_MS });
    expect(kinds(planSweep(snap([old, cur], { 'alias/payments': 'k2' }), retain90, NOW).actions)).toEqual([
      'retire:k1',
    ]);
    const retired = { ...old, phase: 'retired' as const, materialExpireAtMs: NOW + DAY_MS };
    expect(planSweep(snap([retired, cur], { 'alias/payments': 'k2' }), retain90, NOW).actions).toEqual([]);
  });

  it('by default keeps renewing a previous generation for as long as it exists (no retention lapse)', () => {
    const old = key({
      keyId: 'k1',
      aliases: [],
      supersededAtMs: NOW - 3000 * DAY_MS,
      materialExpireAtMs: NOW + 2 * DAY_MS,
    });
    const cur = key({ keyId: 'k2', generation: 2, creationDateMs: NOW - 10 * DAY_MS });
    expect(kinds(planSweep(snap([old, cur], { 'alias/payments': 'k2' }), policies, NOW).actions)).toEqual(['renew:k1']);
    const lapsed = { ...old, state: 'PendingImport' as const, materialExpireAtMs: undefined };
    expect(kinds(planSweep(snap([lapsed, cur], { 'alias/payments': 'k2' }), policies, NOW).actions)).toEqual([
      'reimport:k1',
    ]);
  });

  it('retires a generation past its retention without renewing or re-importing it one last time', () => {
    const old = key({
      keyId: 'k1',
      aliases: [],
      supersededAtMs: NOW - 100 * DAY_MS,
      materialExpireAtMs: NOW + 2 * DAY_MS,
    });
    const cur = key({ keyId: 'k2', generation: 2, creationDateMs: NOW - 100 * DAY_MS });
    const aliases = { 'alias/payments': 'k2' };
    expect(kinds(planSweep(snap([old, cur], aliases), retain90, NOW).actions)).toEqual(['retire:k1']);
    const lapsed = { ...old, state: 'PendingImport' as const, materialExpireAtMs: undefined };
    expect(kinds(planSweep(snap([lapsed, cur], aliases), retain90, NOW).actions)).toEqual(['retire:k1']);
  });

  it('does not re-import a retired generation whose material lapsed', () => {
    const retired = key({
      keyId: 'k1',
      aliases: [],
      phase: 'retired',
      state: 'PendingImport',
      supersededAtMs: NOW - 200 * DAY_MS,
    });
    const cur = key({ keyId: 'k2', generation: 2 });
    expect(planSweep(snap([retired, cur], { 'alias/payments': 'k2' }), policies, NOW).actions).toEqual([]);
  });
});

describe('planSweep: interrupted runs and drift', () => {
  it('resumes a CMK that carries our marker but no tags, and does not rotate meanwhile', () => {
    const cur = key({ creationDateMs: NOW - 400 * DAY_MS });
    const orphan = key({
      keyId: 'k2',
      generation: 2,
      untaggedMarker: true,
      phase: undefined,
      state: 'PendingImport',
      materialExpireAtMs: undefined,
      fingerprint: undefined,
      escrowFingerprint: undefined,
      aliases: [],
    });
    expect(kinds(planSweep(snap([cur, orphan]), policies, NOW).actions)).toEqual(['resume:k2']);
  });

  it('resumes an alias move interrupted after the new generation became ready', () => {
    const cur = key();
    const next = key({ keyId: 'k2', generation: 2, aliases: [], creationDateMs: NOW });
    expect(kinds(planSweep(snap([cur, next]), policies, NOW).actions)).toEqual(['resume:k2']);
  });

  it('reports an alias moved back by hand as drift instead of fighting it', () => {
    const old = key({ supersededAtMs: NOW - DAY_MS });
    const next = key({ keyId: 'k2', generation: 2, aliases: [], creationDateMs: NOW - DAY_MS });
    const actions = planSweep(snap([old, next]), policies, NOW).actions;
    expect(kinds(actions)).toEqual(['alert:k1']);
    expect(actions[0]).toMatchObject({ severity: 'warning' });
  });

  it('alerts on a key that failed its self-test and blocks rotation', () => {
    const cur = key({ creationDateMs: NOW - 400 * DAY_MS });
    const failed = key({ keyId: 'k2', generation: 2, phase: 'failed-self-test', aliases: [] });
    expect(kinds(planSweep(snap([cur, failed]), policies, NOW).actions)).toEqual(['alert:k2']);
  });
});

describe('planSweep: the plan value', () => {
  it('is JSON-serialisable and its id depends only on its content and time', () => {
    const s = snap([key({ materialExpireAtMs: NOW + DAY_MS })]);
    const a = planSweep(s, policies, NOW);
    expect(JSON.parse(JSON.stringify(a))).toEqual(a);
    expect(planSweep(s, policies, NOW).planId).toBe(a.planId);
    expect(planSweep(s, policies, NOW + 1).planId).not.toBe(a.planId);
  });
});

describe('planSweep: finishing an interrupted rotation', () => {
  it('marks the generation the alias left as superseded when a crash skipped that step', () => {
    const old = key({ aliases: [] });
    const cur = key({ keyId: 'k2', generation: 2, creationDateMs: NOW - DAY_MS });
    const actions = planSweep(snap([old, cur], { 'alias/payments': 'k2' }), policies, NOW).actions;
    expect(actions).toEqual([
      {
        kind: 'supersede',
        keyId: 'k1',
        lineage: 'payments',
        generation: 1,
        reason: 'alias moved to generation 2; retention starts now',
      },
    ]);
  });
});

describe('planRevival: a dormant generation on demand', () => {
  const dormant = key({
    keyId: 'k1',
    aliases: [],
    phase: 'retired',
    state: 'PendingImport',
    materialExpireAtMs: undefined,
    supersededAtMs: NOW - 200 * DAY_MS,
  });
  const cur = key({ keyId: 'k2', generation: 2 });
  const aliases = { 'alias/payments': 'k2' };

  it('re-imports a retired generation in PendingImport for reviveValidityDays, marked as a revival', () => {
    expect(planRevival(dormant, snap([dormant, cur], aliases), policies)).toEqual({
      kind: 'reimport',
      keyId: 'k1',
      lineage: 'payments',
      generation: 1,
      policy: { ...resolved, validityDays: 7 },
      revive: true,
      reason: 'revive on demand: a read was refused (Rejected.PendingImport); valid 7 d, then lapses again',
    });
  });

  it('revives nothing that is held, not retired, still Enabled or without its own escrow', () => {
    const s = (k: KeyView) => snap([k, cur], aliases);
    expect(planRevival({ ...dormant, hold: 'revoked' }, s({ ...dormant, hold: 'revoked' }), policies)).toBeUndefined();
    const ready = { ...dormant, phase: 'ready' as const };
    expect(planRevival(ready, s(ready), policies)).toBeUndefined();
    const enabled = { ...dormant, state: 'Enabled' as const };
    expect(planRevival(enabled, s(enabled), policies)).toBeUndefined();
    const other = { ...dormant, escrowFingerprint: 'kcv1:bbbbbbbbbbbbbbbbbbbbbbbb' };
    expect(planRevival(other, s(other), policies)).toBeUndefined();
  });
});
