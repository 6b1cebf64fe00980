/**
 * The executor writes lineages through a bounded pool (issue 10): several lineages at once, never
 * more than EngineDeps.writeConcurrency, each lineage's actions in order under its own lease, the
 * results in a deterministic order; and a renewal costs as few calls as the API allows.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { KmsPort } from '../../../shared/kms/port.js';
import { executePlan, onboard, planNow } from '../../../shared/lifecycle/engine.js';
import { leaseSecretName } from '../../../shared/lifecycle/lease.js';
import type { Plan } from '../../../shared/lifecycle/plan.js';
import { CheckpointAbort } from '../../../shared/lifecycle/ports.js';
import { startHarness, type Harness } from '../../support/engine-harness.js';

let h: Harness;
beforeEach(async () => {
  h = await startHarness();
});
afterEach(async () => {
  await h?.close();
});

const LINEAGES = ['l-a', 'l-b', 'l-c', 'l-d', 'l-e', 'l-f', 'l-g'];

/** A KmsPort that counts calls by method and measures how many lineages import at once (slowed down). */
function observed(kms: KmsPort, delayMs: number) {
  const calls = new Map<string, number>();
  let inFlight = 0;
  let maxInFlight = 0;
  const wrapped = new Proxy(kms, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver);
      if (typeof v !== 'function' || typeof prop !== 'string') return v;
      return async (...args: unknown[]) => {
        calls.set(prop, (calls.get(prop) ?? 0) + 1);
        if (prop !== 'importKeyMaterial') return (v as (...a: unknown[]) => Promise<unknown>).apply(target, args);
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        try {
          await new Promise((r) => setTimeout(r, delayMs));
          return await (v as (...a: unknown[]) => Promise<unknown>).apply(target, args);
        } finally {
          inFlight--;
        }
      };
    },
  });
  return { kms: wrapped, calls, maxInFlight: () => maxInFlight };
}

/** The order results come in: alerts first (plan order), then each lineage's actions, lineages by first appearance. */
function expectedOrder(plan: Plan): string[] {
  const label = (a: Plan['actions'][number]) => `${a.kind}:${a.lineage ?? ''}`;
  const alerts = plan.actions.filter((a) => a.kind === 'alert').map(label);
  const byLineage = new Map<string, string[]>();
  for (const a of plan.actions) {
    if (a.kind === 'alert') continue;
    byLineage.set(a.lineage, [...(byLineage.get(a.lineage) ?? []), label(a)]);
  }
  return [...alerts, ...[...byLineage.values()].flat()];
}

async function renewalDue(): Promise<Plan> {
  for (const l of LINEAGES) await onboard(h.deps(), { alias: `alias/${l}` });
  h.advanceDays(25); // inside every key's renew window (DEFAULT_POLICY: 30-day validity, renew 7 days before)
  const { plan } = await planNow(h.deps());
  expect(plan.actions.filter((a) => a.kind === 'renew')).toHaveLength(LINEAGES.length);
  return plan;
}

describe('the executor pool', () => {
  it('renews several lineages at once, never more than writeConcurrency, results in plan order', async () => {
    const plan = await renewalDue();
    const o = observed(h.kms, 30);
    const result = await executePlan(h.deps({ kms: o.kms, writeConcurrency: 3 }), plan);
    expect(result.counts).toMatchObject({ ok: LINEAGES.length, failed: 0 });
    expect(o.maxInFlight()).toBe(3);
    expect(result.results.map((r) => `${r.action.kind}:${r.action.lineage ?? ''}`)).toEqual(expectedOrder(plan));
    // Each lineage's intent precedes its outcome, and its lease was taken before and released after.
    for (const l of LINEAGES) {
      const mine = h.audit.filter((e) => e.lineage === l && e.planId === plan.planId).map((e) => e.phase);
      expect(mine.indexOf('intent')).toBeLessThan(mine.lastIndexOf('outcome'));
    }
  });

  it('a renewal is 7 KMS calls with the file escrow: lease 2, fresh read 2, import 2, release 1', async () => {
    const plan = await renewalDue();
    const o = observed(h.kms, 0);
    const result = await executePlan(h.deps({ kms: o.kms }), plan);
    expect(result.counts.ok).toBe(LINEAGES.length);
    const perRenewal = Object.fromEntries([...o.calls].map(([k, n]) => [k, n / LINEAGES.length]));
    // The file escrow backend: the escrow read is local (no KMS call).
    expect(perRenewal).toEqual({
      getSecretValue: 1,
      putSecretValue: 2,
      describeKey: 1,
      listResourceTags: 1,
      getParametersForImport: 1,
      importKeyMaterial: 1,
    });
  });

  it('with writeConcurrency 1 the lineages run one at a time', async () => {
    const plan = await renewalDue();
    const o = observed(h.kms, 10);
    await executePlan(h.deps({ kms: o.kms, writeConcurrency: 1 }), plan);
    expect(o.maxInFlight()).toBe(1);
  });

  it('starts no further lineage after a simulated process death, and leaves the dead lineage leased', async () => {
    const plan = await renewalDue();
    let imports = 0;
    const dying = new Proxy(h.kms, {
      get(target, prop, receiver) {
        const v = Reflect.get(target, prop, receiver);
        if (prop !== 'importKeyMaterial') return v;
        return async (...args: unknown[]) => {
          if (++imports === 1) throw new CheckpointAbort('simulated crash during the first import');
          return (v as (...a: unknown[]) => Promise<unknown>).apply(target, args);
        };
      },
    });
    await expect(executePlan(h.deps({ kms: dying, writeConcurrency: 2 }), plan)).rejects.toBeInstanceOf(
      CheckpointAbort,
    );
    const taken = h.audit.filter((e) => e.planId === plan.planId && e.action === 'lease' && e.outcome === 'ok');
    expect(taken).toHaveLength(2); // the dead lineage and the one running beside it; nothing after
    const held = await Promise.all(
      LINEAGES.map(async (l) => {
        const secret = await h.kms.getSecretValue({ secretName: leaseSecretName(l) });
        return (JSON.parse(secret.secretData) as { holder: string | null }).holder !== null;
      }),
    );
    expect(held.filter(Boolean)).toHaveLength(1);
  });

  it('defers every lineage not started before the deadline', async () => {
    const plan = await renewalDue();
    const result = await executePlan(h.deps({ deadlineMs: h.nowMs() - 1, writeConcurrency: 4 }), plan);
    expect(result.counts).toMatchObject({ ok: 0, deferred: LINEAGES.length });
  });
});
