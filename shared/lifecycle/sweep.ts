/**
 * The sweep: observe (read-only) -> plan (pure) -> execute (under each lineage's lease). Also the
 * dry run (planNow) and a webhook's targeted check of one key's or alias's lineage.
 */
import { executePlan, type SweepResult } from './execute.js';
import type { LeaseRead } from './lease.js';
import type { Snapshot } from './model.js';
import { engineObserveOptions, observe } from './observe.js';
import { observeTarget } from './observe-target.js';
import { planRevival } from './plan-keys.js';
import { planIdOf, planSweep, type Plan } from './plan.js';
import type { EngineDeps } from './ports.js';
import { shardFilter, type ShardSpec } from './shard.js';

/**
 * Observe the account (read-only; `sweep`: also the escrow read-backs that are due and metadata
 * writes, engineObserveOptions, which tells `planned` the plans it confirms on).
 */
export function snapshotOf(
  deps: EngineDeps,
  mode: { sweep?: boolean; shard?: ShardSpec } = {},
  planned?: (snapshot: Snapshot, plan: Plan) => void,
): Promise<Snapshot> {
  return observe({
    kms: deps.kms,
    escrow: deps.escrow,
    nowMs: () => deps.clock.nowMs(),
    ...(deps.kmsConcurrency === undefined ? {} : { concurrency: deps.kmsConcurrency }),
    // A shard of a sharded sweep observes only its lineages (shard.ts).
    ...(mode.shard === undefined ? {} : { lineageFilter: shardFilter(mode.shard) }),
    ...(deps.instances === undefined ? {} : { instances: deps.instances }),
    ...(deps.log === undefined ? {} : { log: deps.log }),
    ...engineObserveOptions(deps, mode, planned),
  });
}

/** A dry run: what the next sweep would do (a sweep passes `{ sweep: true }`). */
export async function planNow(
  deps: EngineDeps,
  mode: { sweep?: boolean; shard?: ShardSpec } = {},
): Promise<{ snapshot: Snapshot; plan: Plan }> {
  const confirmed: { snapshot?: Snapshot; plan?: Plan } = {};
  const snapshot = await snapshotOf(deps, mode, (s, plan) => Object.assign(confirmed, { snapshot: s, plan }));
  // Observe's last confirmation planned this very snapshot (then found nothing more to confirm):
  // planning is pure, so that plan stands (one planning pass over the account fewer per sweep).
  if (confirmed.snapshot === snapshot && confirmed.plan !== undefined) return { snapshot, plan: confirmed.plan };
  return { snapshot, plan: planSweep(snapshot, deps.policies, deps.clock.nowMs()) };
}

/**
 * The main loop body: observe, plan, execute (optionally one lineage's actions only, or one shard's
 * lineages: `shard`, for a shard of a sharded sweep; its alerts are the summarising shard's business,
 * functions/sweep/index.ts, so a shard returns its snapshot instead of telling the notifier).
 */
export async function sweep(
  deps: EngineDeps,
  options: { lineage?: string; shard?: ShardSpec } = {},
): Promise<SweepResult & { plan: Plan; snapshot: Snapshot }> {
  const shard = options.shard;
  let { snapshot, plan } = await planNow(deps, { sweep: true, ...(shard === undefined ? {} : { shard }) });
  if (options.lineage) plan = { ...plan, actions: plan.actions.filter((a) => a.lineage === options.lineage) };
  if (shard) {
    const mine = shardFilter(shard);
    plan = { ...plan, actions: plan.actions.filter((a) => mine(a.lineage ?? '')) };
  }
  const result = await executePlan(deps, plan);
  const nowMs = deps.clock.nowMs();
  if (!shard) await deps.alerts?.afterRun({ snapshot, results: result.results, nowMs, ...opt(options.lineage) });
  return { ...result, plan, snapshot };
}

/**
 * What a webhook-targeted check of one key's or alias's lineage would do (read-only). Reads only
 * that lineage (observe-target.ts: the key, its alias, its generations and their escrow), never
 * the account, and plans it as a sweep would: the plan is the sweep's, restricted to the lineage
 * (plus a revival when asked for one).
 */
export async function planTarget(
  deps: EngineDeps,
  target: { keyId?: string; alias?: string; revive?: boolean },
): Promise<{ snapshot: Snapshot; plan: Plan; lineage?: string; leaseRead?: LeaseRead }> {
  const { snapshot, lineage, key, leaseRead } = await observeTarget(deps, target);
  const nowMs = deps.clock.nowMs();
  const actions = lineage ? planSweep(snapshot, deps.policies, nowMs).actions.filter((a) => a.lineage === lineage) : [];
  // A read refused on a dormant generation (webhook): revive it, with the bounded revive validity.
  const revival = target.revive && key ? planRevival(key, snapshot, deps.policies) : undefined;
  if (revival) actions.push(revival);
  const plan: Plan = { planId: planIdOf(actions, nowMs), createdAtMs: nowMs, actions };
  return { snapshot, plan, ...opt(lineage), ...(leaseRead ? { leaseRead } : {}) };
}

/** Plans (planTarget) and executes for one key's or alias's lineage only (webhook-targeted checks). */
export async function checkTarget(
  deps: EngineDeps,
  target: { keyId?: string; alias?: string; revive?: boolean },
): Promise<SweepResult & { plan: Plan; lineage?: string }> {
  const { snapshot, plan, lineage, leaseRead } = await planTarget(deps, target);
  // The lease record the targeted observe read is the lease take's read (1 call fewer per repair;
  // safe, the take being a conditional write on the version it names: lease.ts, LeaseRead).
  const result = await executePlan(deps, plan, leaseRead ? { leaseReads: [leaseRead] } : {});
  if (lineage) await deps.alerts?.afterRun({ snapshot, results: result.results, nowMs: deps.clock.nowMs(), lineage });
  return { ...result, plan, ...opt(lineage) };
}

const opt = (lineage: string | undefined) => (lineage === undefined ? {} : { lineage });
