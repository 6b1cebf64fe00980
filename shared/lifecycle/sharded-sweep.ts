/**
 * A sweep past one function's limits: the coordinator (the timer invocation) counts lineages
 * cheaply (their aliases), decides whether one function can sweep them within its deadline (shard.ts planShards),
 * and if not starts the shard ledger and invokes `sweep` asynchronously once per shard. A shard
 * sweeps only its lineages (sweep.ts `shard`), under the same per-lineage leases as any run,
 * reports to the ledger (shard-ledger.ts), and the shard whose report completes the set writes the
 * one summary (audit event `sweep-summary` and a log line) and tells the alert notifier once, with
 * every shard's alerts merged. FC retries a failed async shard (docs/fc-runtime.md §11); a retried
 * shard replaces its report.
 */
import type { Alert } from '../alerts/model.js';
import { deriveAlerts } from '../alerts/model.js';
import { summaryOf, type AlertSummary } from '../alerts/notifier.js';
import type { AsyncInvoker } from '../fc/invoke.js';
import { parseLineage } from '../lineage.js';
import type { SweepResult } from './execute.js';
import type { Plan } from './plan.js';
import type { EngineDeps } from './ports.js';
import {
  MAX_ALERTS_PER_SHARD,
  MAX_UNSURE_PER_SHARD,
  openShardLedger,
  recordShard,
  summariseLedger,
  type RecordOutcome,
  type ShardLedgerDeps,
  type ShardReport,
} from './shard-ledger.js';
import { planShards, shardEvent, type ShardEvent, type ShardPlan, type SweepEstimateInput } from './shard.js';
import { sweep } from './sweep.js';

/** KMS calls per lineage a sweep is estimated at (observe ~1 per healthy key, writes amortised; inferred). */
export const ESTIMATED_CALLS_PER_LINEAGE = 1.2;
/** Latency assumed for the estimate before this instance has seen a call complete, ms (inferred). */
export const ESTIMATE_LATENCY_MS = 50;

/**
 * The lineages in the account, cheaply: the names behind its `alias/<lineage>` aliases (ListAliases
 * pages, nothing decrypted). The coordinator only needs their number, an upper bound is fine: an
 * alias of someone else's key counts too, and a lineage with no alias yet (an onboard in progress)
 * is still swept, by the shard its name hashes to.
 */
export async function listLineages(deps: Pick<EngineDeps, 'kms'>): Promise<string[]> {
  const names = new Set<string>();
  for (const a of await deps.kms.listAliases()) {
    try {
      names.add(parseLineage(a.aliasName));
    } catch {
      // Not one of ours (an alias name that is no lineage): nothing to sweep.
    }
  }
  return [...names].sort();
}

/** How the coordinator sizes the sweep. */
export interface ShardingInput {
  /** Lineages per shard at most (BYOK_SWEEP_SHARD_LINEAGES). */
  shardLineages: number;
  /** Shards FC runs at once (BYOK_SWEEP_PARALLEL_SHARDS = the sweep's reservedConcurrency). */
  parallelShards: number;
  /** Time one function has for its writes (deadline - now), ms. */
  budgetMs: number;
  /** The KMS client's pacing now: latency seen, calls in flight, rate of the key-read group. */
  pacing: Omit<SweepEstimateInput, 'lineages' | 'callsPerLineage'>;
}

/** What the coordinator decided and did. */
export type CoordinatorOutcome =
  | { kind: 'single'; lineages: number; plan: ShardPlan }
  | {
      kind: 'sharded';
      lineages: number;
      plan: ShardPlan;
      runId: string;
      invoked: number;
      /** The previous sharded run, when some of its shards never reported (worth a warning). */
      incomplete?: { runId: string; missing: number[] };
    };

/** Decides, and when the sweep needs shards, starts the ledger and invokes them (see the module comment). */
export async function coordinateSweep(
  deps: EngineDeps,
  input: ShardingInput & {
    invoker: AsyncInvoker;
    /** This function's name: the shards are invocations of it. */
    functionName: string;
    triggerKey: string;
  },
): Promise<CoordinatorOutcome> {
  const lineages = await listLineages(deps);
  const plan = planShards({
    estimate: { lineages: lineages.length, callsPerLineage: ESTIMATED_CALLS_PER_LINEAGE, ...input.pacing },
    shardLineages: input.shardLineages,
    budgetMs: input.budgetMs,
  });
  if (plan.count <= 1) return { kind: 'single', lineages: lineages.length, plan };
  const startedAtMs = deps.clock.nowMs();
  const { incomplete } = await openShardLedger(ledgerDeps(deps), { runId: deps.runId, count: plan.count, startedAtMs });
  if (incomplete) {
    // Its lineages are swept again now; the shards that failed after FC's retries went to the
    // async failure destination (s.yaml) too.
    await deps.audit.record({
      action: 'sweep-shards-missing',
      phase: 'outcome',
      outcome: 'failed',
      reason: 'shards of the previous sharded sweep never reported',
      details: { previousRunId: incomplete.runId, missing: incomplete.missing.join(',').slice(0, 200) },
    });
  }
  for (let index = 0; index < plan.count; index++) {
    const event = shardEvent(deps.runId, input.triggerKey, { index, count: plan.count }, input.parallelShards);
    await input.invoker.invokeAsync(input.functionName, JSON.stringify(event));
  }
  await deps.audit.record({
    action: 'sweep-sharded',
    phase: 'decision',
    reason: plan.reason,
    details: {
      lineages: lineages.length,
      shards: plan.count,
      shardLineages: input.shardLineages,
      parallelShards: input.parallelShards,
      qpsScale: 1 / Math.min(plan.count, input.parallelShards),
      estimateMs: Math.round(plan.estimate.totalMs),
      budgetMs: Math.round(input.budgetMs),
      qpsBound: plan.qpsBound,
    },
  });
  return {
    kind: 'sharded',
    lineages: lineages.length,
    plan,
    runId: deps.runId,
    invoked: plan.count,
    ...(incomplete ? { incomplete } : {}),
  };
}

/** The one summary of a completed sharded sweep. */
export interface ShardedSummary extends ReturnType<typeof summariseLedger> {
  runId: string;
}

/** What one shard did. */
export interface ShardOutcome {
  result: SweepResult & { plan: Plan };
  report: ShardReport;
  recorded: RecordOutcome;
  /** Set on the shard whose report completed the set: it wrote the summary. */
  summary?: ShardedSummary;
}

/** Runs shard `event` of a sharded sweep (see the module comment). */
export async function sweepShard(deps: EngineDeps, event: ShardEvent): Promise<ShardOutcome> {
  const shard = { index: event.index, count: event.count };
  const result = await sweep(deps, { shard });
  const { snapshot } = result;
  const nowMs = deps.clock.nowMs();
  const alerts = deriveAlerts(snapshot, result.results, nowMs);
  const lineages = new Set<string>();
  for (const k of snapshot.keys) if (k.managed && k.lineage) lineages.add(k.lineage);
  for (const e of Object.values(snapshot.escrow)) if (e.lineage) lineages.add(e.lineage);
  const s = summaryOf(snapshot, result.results, alerts, nowMs);
  const unsure = [
    ...new Set(
      result.results.filter((r) => r.outcome === 'skipped' || r.outcome === 'deferred').map((r) => r.action.lineage),
    ),
  ].filter((l): l is string => l !== undefined);
  const report: ShardReport = {
    lineages: lineages.size,
    counts: result.counts,
    alertWorthy: result.alertWorthy,
    alerts: alerts.slice(0, MAX_ALERTS_PER_SHARD),
    alertsOmitted: Math.max(0, alerts.length - MAX_ALERTS_PER_SHARD),
    unsure: unsure.slice(0, MAX_UNSURE_PER_SHARD),
    unsureOmitted: Math.max(0, unsure.length - MAX_UNSURE_PER_SHARD),
    ...(s.minDaysLeft === undefined ? {} : { minDaysLeft: s.minDaysLeft }),
    unusableKeys: s.unusableKeys.length,
    finishedAtMs: nowMs,
  };
  const recorded = await recordShard(ledgerDeps(deps), { runId: event.runId, index: event.index, report });
  const { snapshot: _s, ...rest } = result;
  if (recorded.kind !== 'recorded' || !recorded.complete) return { result: rest, report, recorded };
  const summary: ShardedSummary = { runId: event.runId, ...summariseLedger(recorded.state) };
  await deps.audit.record({
    action: 'sweep-summary',
    phase: 'outcome',
    outcome: summary.counts.failed ? 'failed' : 'ok',
    details: {
      coordinatorRunId: event.runId,
      shards: summary.shards,
      lineages: summary.lineages,
      durationMs: summary.durationMs,
      alertWorthy: summary.alertWorthy,
      ...Object.fromEntries(Object.entries(summary.counts).map(([k, n]) => [`count.${k}`, n])),
    },
  });
  const merged: Alert[] = Object.values(recorded.state.done).flatMap((r) => r.alerts);
  const all: AlertSummary = {
    counts: summary.counts,
    critical: merged.filter((a) => a.severity === 'critical').length,
    warning: merged.filter((a) => a.severity === 'warning').length,
    unusableKeys: [],
    ...(summary.minDaysLeft === undefined ? {} : { minDaysLeft: summary.minDaysLeft }),
  };
  // An open alert missing from `merged` has recovered, unless some shard left alerts out (then none
  // is closed this run) or its lineage's actions did not all run (as a whole sweep decides).
  const keepOpen = summary.alertsOmitted > 0 || summary.unsure === undefined ? undefined : new Set(summary.unsure);
  await deps.alerts?.afterAlerts({
    alerts: merged,
    summary: all,
    nowMs: deps.clock.nowMs(),
    mayRecover: (lineage) => keepOpen !== undefined && !(lineage !== undefined && keepOpen.has(lineage)),
  });
  return { result: rest, report, recorded, summary };
}

function ledgerDeps(deps: EngineDeps): ShardLedgerDeps {
  return {
    kms: deps.kms,
    encryptionKeyId: deps.leaseKeyId,
    ...(deps.instances?.escrow === undefined ? {} : { dkmsInstanceId: deps.instances.escrow }),
  };
}
