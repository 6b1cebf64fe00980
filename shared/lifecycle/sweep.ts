/**
 * The sweep: observe (read-only) -> plan (pure) -> execute (under each lineage's lease). Also the
 * dry run (planNow) and a webhook's targeted check of one key's or alias's lineage.
 */
import { parseLineage } from '../lineage.js';
import { executePlan, type SweepResult } from './execute.js';
import type { Snapshot } from './model.js';
import { observe } from './observe.js';
import { planRevival } from './plan-keys.js';
import { planIdOf, planSweep, type Plan } from './plan.js';
import type { EngineDeps } from './ports.js';

/** Observe the account (read-only). */
export function snapshotOf(deps: EngineDeps): Promise<Snapshot> {
  return observe({
    kms: deps.kms,
    escrow: deps.escrow,
    nowMs: () => deps.clock.nowMs(),
    ...(deps.instances === undefined ? {} : { instances: deps.instances }),
    ...(deps.log === undefined ? {} : { log: deps.log }),
  });
}

/** A dry run: what the next sweep would do. */
export async function planNow(deps: EngineDeps): Promise<{ snapshot: Snapshot; plan: Plan }> {
  const snapshot = await snapshotOf(deps);
  return { snapshot, plan: planSweep(snapshot, deps.policies, deps.clock.nowMs()) };
}

/** The main loop body: observe, plan, execute (optionally one lineage's actions only). */
export async function sweep(
  deps: EngineDeps,
  options: { lineage?: string } = {},
): Promise<SweepResult & { plan: Plan }> {
  let { snapshot, plan } = await planNow(deps);
  if (options.lineage) plan = { ...plan, actions: plan.actions.filter((a) => a.lineage === options.lineage) };
  const result = await executePlan(deps, plan);
  const nowMs = deps.clock.nowMs();
  await deps.alerts?.afterRun({ snapshot, results: result.results, nowMs, ...opt(options.lineage) });
  return { ...result, plan };
}

/** Plans and executes for one key's or alias's lineage only (webhook-targeted checks). */
export async function checkTarget(
  deps: EngineDeps,
  target: { keyId?: string; alias?: string; revive?: boolean },
): Promise<SweepResult & { plan: Plan; lineage?: string }> {
  const { snapshot, plan: full } = await planNow(deps);
  const key = snapshot.keys.find((k) => k.keyId === target.keyId);
  const lineage = target.alias ? parseLineage(target.alias) : key?.lineage;
  let plan: Plan = { ...full, actions: lineage ? full.actions.filter((a) => a.lineage === lineage) : [] };
  // A read refused on a dormant generation (webhook): revive it, with the bounded revive validity.
  const revival = target.revive && key ? planRevival(key, snapshot, deps.policies) : undefined;
  if (revival) {
    const actions = [...plan.actions, revival];
    plan = { ...plan, actions, planId: planIdOf(actions, plan.createdAtMs) };
  }
  const result = await executePlan(deps, plan);
  if (lineage) await deps.alerts?.afterRun({ snapshot, results: result.results, nowMs: deps.clock.nowMs(), lineage });
  return { ...result, plan, lineage };
}

const opt = (lineage: string | undefined) => (lineage === undefined ? {} : { lineage });
