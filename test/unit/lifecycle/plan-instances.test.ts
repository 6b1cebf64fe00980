/**
 * The planner on KMS 3.0 instances: a lapsing instance is the same cliff as lapsing material, so
 * the sweep alerts on it (warning from 30 days before the end date, critical from 7 days, or when
 * the instance is not Connected or cannot be read). Exact times, as the rest of the planner tests.
 */
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../../shared/errors.js';
import { DEFAULT_POLICY } from '../../../shared/config/index.js';
import { DAY_MS, type InstanceView, type Snapshot } from '../../../shared/lifecycle/model.js';
import { planInstances } from '../../../shared/lifecycle/plan-alerts.js';
import { planSweep } from '../../../shared/lifecycle/plan.js';

const NOW = Date.UTC(2027, 0, 1, 0, 0, 0);
const ID = 'kst-hzz65f176a0keys0001';
const RENEW =
  'renew it, or every key and secret in it becomes unusable (Rejected.Unavailable) and KMS releases it 15 days later';

const instance = (over: Partial<InstanceView> = {}): InstanceView => ({
  instanceId: ID,
  roles: ['keys'],
  status: 'Connected',
  endDateMs: NOW + 365 * DAY_MS,
  ...over,
});
const iso = (ms: number) => new Date(ms).toISOString();

describe('planInstances: end date', () => {
  it.each([
    ['31 days left', NOW + 31 * DAY_MS],
    ['30 days and 1 ms left', NOW + 30 * DAY_MS + 1],
  ])('stays quiet with %s', (_label, endDateMs) => {
    expect(planInstances([instance({ endDateMs })], NOW)).toEqual([]);
  });

  it.each([
    ['exactly 30 days left', NOW + 30 * DAY_MS, 'warning', 30],
    ['8 days left', NOW + 8 * DAY_MS, 'warning', 8],
    ['7 days and 1 ms left', NOW + 7 * DAY_MS + 1, 'warning', 7],
    ['exactly 7 days left', NOW + 7 * DAY_MS, 'critical', 7],
    ['1 ms left', NOW + 1, 'critical', 0],
  ] as const)('alerts with %s: %s', (_label, endDateMs, severity, days) => {
    expect(planInstances([instance({ endDateMs })], NOW)).toEqual([
      {
        kind: 'alert',
        severity,
        instanceId: ID,
        reason: `KMS instance ${ID} (holds the managed keys) expires on ${iso(endDateMs)}, in ${days} d: ${RENEW}`,
      },
    ]);
  });

  it.each([
    ['at the end date itself', NOW],
    ['a day after it', NOW - DAY_MS],
  ])('calls the instance expired %s (critical)', (_label, endDateMs) => {
    expect(planInstances([instance({ endDateMs })], NOW)).toEqual([
      {
        kind: 'alert',
        severity: 'critical',
        instanceId: ID,
        reason:
          `KMS instance ${ID} (holds the managed keys) expired on ${iso(endDateMs)}: renew ` +
          `it now; its keys and secrets answer Rejected.Unavailable and KMS releases it 15 days after expiry`,
      },
    ]);
  });

  it('stays quiet for a Connected instance without an end date (pay-as-you-go)', () => {
    expect(planInstances([instance({ endDateMs: undefined })], NOW)).toEqual([]);
  });
});

describe('planInstances: status', () => {
  it.each(['Uninitialized', 'Connecting', 'Disconnected', 'Error'])(
    'is critical for an instance that is %s',
    (status) => {
      expect(planInstances([instance({ status })], NOW)).toEqual([
        {
          kind: 'alert',
          severity: 'critical',
          instanceId: ID,
          reason:
            `KMS instance ${ID} (holds the managed keys) ` +
            `is ${status}, not Connected: its keys and secrets may be unusable`,
        },
      ]);
    },
  );

  it('raises one critical alert naming both problems when a Disconnected instance also ends in 20 days', () => {
    const endDateMs = NOW + 20 * DAY_MS;
    expect(planInstances([instance({ status: 'Disconnected', endDateMs })], NOW)).toEqual([
      {
        kind: 'alert',
        severity: 'critical',
        instanceId: ID,
        reason:
          `KMS instance ${ID} (holds the managed keys) is Disconnected, not Connected: ` +
          `its keys and secrets may be unusable; it expires on ${iso(endDateMs)}, in 20 d: ${RENEW}`,
      },
    ]);
  });

  it('names both roles when the keys and the escrow share the instance', () => {
    const [alert] = planInstances([instance({ roles: ['escrow', 'keys'], endDateMs: NOW + 10 * DAY_MS })], NOW);
    expect(alert?.reason).toMatch(
      /^KMS instance \S+ \(holds the escrow and lease secrets and the managed keys\) expires on /,
    );
  });
});

describe('planInstances: an instance that cannot be read', () => {
  const GONE =
    'it may have lapsed or been released, which makes every key and secret in it unusable; check it in the KMS console';

  it.each([
    [
      'released (Forbidden.DKMSInstanceNotFound)',
      { code: ErrorCode.KmsForbidden, kmsCode: 'Forbidden.DKMSInstanceNotFound' },
      'Forbidden.DKMSInstanceNotFound',
    ],
    [
      'expired (Rejected.Unavailable)',
      { code: ErrorCode.KmsRejectedState, kmsCode: 'Rejected.Unavailable' },
      'Rejected.Unavailable',
    ],
    ['not found', { code: ErrorCode.KmsNotFound }, ErrorCode.KmsNotFound],
  ])('is critical when it is %s', (_label, readError, shown) => {
    expect(planInstances([{ instanceId: ID, roles: ['escrow'], readError }], NOW)).toEqual([
      {
        kind: 'alert',
        severity: 'critical',
        instanceId: ID,
        reason: `KMS instance ${ID} (holds the escrow and lease secrets) cannot be read (${shown}): ${GONE}`,
      },
    ]);
  });

  it.each([
    ['a RAM deny', { code: ErrorCode.KmsForbidden, kmsCode: 'Forbidden.NoPermission' }, 'Forbidden.NoPermission'],
    ['throttling after retries', { code: ErrorCode.KmsThrottled }, ErrorCode.KmsThrottled],
  ])('warns (a monitoring gap, not a lapse) on %s', (_label, readError, shown) => {
    expect(planInstances([{ instanceId: ID, roles: ['keys'], readError }], NOW)).toEqual([
      {
        kind: 'alert',
        severity: 'warning',
        instanceId: ID,
        reason:
          `KMS instance ${ID} (holds the managed keys) could not be checked (${shown}): ` +
          `its status and end date are unknown; the function role needs kms:GetKmsInstance on it`,
      },
    ]);
  });
});

describe('planSweep with instances', () => {
  const policies = { defaults: DEFAULT_POLICY, lineages: {} };
  const base: Snapshot = {
    takenAtMs: NOW,
    keys: [],
    aliases: {},
    escrow: {},
    escrowUnreadable: [],
    unobservable: [],
    instances: [],
  };

  it('adds the instance alert to the sweep plan', () => {
    const plan = planSweep({ ...base, instances: [instance({ endDateMs: NOW + 5 * DAY_MS })] }, policies, NOW);
    expect(plan.actions).toMatchObject([{ kind: 'alert', severity: 'critical', instanceId: ID }]);
  });

  it('names the escrowed keys KMS no longer lists when the keys instance is gone', () => {
    const snapshot: Snapshot = {
      ...base,
      escrow: { 'key-gone-1': { fingerprint: 'kcv1:aaaaaaaaaaaaaaaaaaaaaaaa', lineage: 'payments', generation: 2 } },
      instances: [
        {
          instanceId: ID,
          roles: ['keys'],
          readError: { code: ErrorCode.KmsForbidden, kmsCode: 'Forbidden.DKMSInstanceNotFound' },
        },
      ],
    };
    const [alert] = planSweep(snapshot, policies, NOW).actions;
    expect(alert?.reason).toMatch(
      /; it probably held these keys, which KMS no longer lists and whose material escrow /,
    );
    expect(alert?.reason).toMatch(/ still holds: key-gone-1 \(alias\/payments generation 2\)$/);
  });
});
