/**
 * Sharded sweeps (pure): which shard a lineage belongs to, how many shards a sweep needs, and the
 * shard event a coordinator sends. A sweep that cannot finish its lineages within one function's
 * timeout becomes a coordinator that invokes `sweep` asynchronously once per shard
 * (functions/sweep/index.ts); each shard observes, plans and writes only its own lineages, under the
 * same per-lineage leases as any other run. README "Limits" and docs/fc-runtime.md §11 give the numbers.
 */
import { ErrorCode, OrchestratorError } from '../errors.js';

/** One shard of a sharded sweep: `index` in [0, count). */
export interface ShardSpec {
  index: number;
  count: number;
}

/** Most shards one sweep fans out to (FC async invocations per coordinator run; inferred safe bound). */
export const MAX_SHARDS = 100;

/**
 * FNV-1a (32 bit) of the UTF-8 bytes of `text`: a fixed, well-known hash, so every shard of every
 * instance (and any later version of this code) puts a lineage in the same shard.
 */
export function fnv1a32(text: string): number {
  let h = 0x811c9dc5;
  for (const byte of Buffer.from(text, 'utf8')) {
    h ^= byte;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/** The shard of `lineage` among `count` (deterministic, uniform over names). */
export function shardOf(lineage: string, count: number): number {
  if (!Number.isInteger(count) || count < 1) throw new RangeError('count must be an integer >= 1');
  return fnv1a32(lineage) % count;
}

/**
 * The lineage filter of `shard` (observe's `lineageFilter`, and the plan's actions): a lineage is in
 * exactly one shard; '' (a key with no lineage marker: unmanaged, or not yet tagged) is shard 0's, so
 * such keys are read and reported once.
 */
export function shardFilter(shard: ShardSpec): (lineage: string) => boolean {
  return (lineage) => (lineage === '' ? shard.index === 0 : shardOf(lineage, shard.count) === shard.index);
}

/** What the size of a sweep is estimated from. */
export interface SweepEstimateInput {
  lineages: number;
  /** KMS calls per lineage (observe + the plan's writes, averaged). */
  callsPerLineage: number;
  /** Observed (or assumed) latency of one call, ms. */
  latencyMs: number;
  /** Calls in flight. */
  concurrency: number;
  /** Paced rate of the busiest quota group the sweep uses, requests/s (Infinity = unpaced). */
  ratePerSecond: number;
}

/**
 * Time a sweep needs: calls x the slower of latency / concurrency and 1 / rate. The first term is
 * what one function instance can do; the second is the account's QPS share, which sharding does
 * not raise (the shards split it).
 */
export function estimateSweepMs(e: SweepEstimateInput): {
  latencyBoundMs: number;
  qpsBoundMs: number;
  totalMs: number;
} {
  const calls = e.lineages * e.callsPerLineage;
  const latencyBoundMs = (calls * e.latencyMs) / Math.max(1, e.concurrency);
  const qpsBoundMs = Number.isFinite(e.ratePerSecond) ? (calls * 1000) / e.ratePerSecond : 0;
  return { latencyBoundMs, qpsBoundMs, totalMs: Math.max(latencyBoundMs, qpsBoundMs) };
}

/** The shard decision of a sweep. */
export interface ShardPlan {
  /** 1 = run as one sweep. */
  count: number;
  /** Why (for the log line). */
  reason: 'fits' | 'shard-size' | 'deadline';
  /** True when even sharded the account's QPS share cannot carry the sweep within the budget. */
  qpsBound: boolean;
  estimate: ReturnType<typeof estimateSweepMs>;
}

/**
 * How many shards a sweep of `estimate.lineages` needs: enough that no shard has more than
 * `shardLineages` lineages, and enough that the latency-bound part of each shard fits `budgetMs`
 * (the function timeout minus a margin). Capped at MAX_SHARDS. The QPS-bound part cannot be sharded
 * away: shards share the account's QPS, so `qpsBound` reports a sweep too large for one timeout
 * at the configured share (lineages past it are deferred by the deadline to the next sweep).
 */
export function planShards(input: {
  estimate: SweepEstimateInput;
  shardLineages: number;
  budgetMs: number;
}): ShardPlan {
  const { estimate: e, shardLineages, budgetMs } = input;
  const estimate = estimateSweepMs(e);
  const bySize = Math.ceil(e.lineages / Math.max(1, shardLineages));
  const byDeadline = budgetMs > 0 ? Math.ceil(estimate.latencyBoundMs / budgetMs) : 1;
  const count = Math.min(MAX_SHARDS, Math.max(1, bySize, byDeadline));
  const reason = count === 1 ? 'fits' : bySize >= byDeadline ? 'shard-size' : 'deadline';
  return { count, reason, qpsBound: estimate.qpsBoundMs > budgetMs, estimate };
}

/** The event a coordinator sends each shard (JSON; FC async payloads are at most 128 KB). */
export interface ShardEvent {
  byok: 'sweep-shard';
  v: 1;
  /** The coordinator's run id (the shards' ledger key). */
  runId: string;
  /** The timer delivery that started the sweep. */
  triggerKey: string;
  index: number;
  count: number;
  /** Fraction (0-1] of the configured QPS share this shard may use: 1 / the shards that run at once. */
  qpsScale: number;
}

/**
 * Builds the event of shard `index`. `parallel`: shards FC runs at once (the sweep's reserved
 * concurrency; the rest wait in FC's async queue), which split the QPS share between them.
 */
export function shardEvent(runId: string, triggerKey: string, shard: ShardSpec, parallel = shard.count): ShardEvent {
  const qpsScale = 1 / Math.max(1, Math.min(shard.count, parallel));
  return { byok: 'sweep-shard', v: 1, runId, triggerKey, index: shard.index, count: shard.count, qpsScale };
}

/** A shard event when `value` is one, else undefined; a malformed one is an InvalidInput naming the field. */
export function parseShardEvent(value: unknown): ShardEvent | undefined {
  if (typeof value !== 'object' || value === null || (value as { byok?: unknown }).byok !== 'sweep-shard')
    return undefined;
  const v = value as Record<string, unknown>;
  const bad = (field: string, rule: string) =>
    new OrchestratorError(ErrorCode.InvalidInput, `shard event ${field}: ${rule}`, { details: { field } });
  if (v['v'] !== 1) throw bad('v', 'must be 1');
  for (const f of ['runId', 'triggerKey'] as const) {
    if (typeof v[f] !== 'string' || v[f] === '' || (v[f] as string).length > 200)
      throw bad(f, 'must be 1-200 characters');
  }
  const count = v['count'];
  const index = v['index'];
  if (!Number.isInteger(count) || (count as number) < 1 || (count as number) > MAX_SHARDS)
    throw bad('count', `must be a whole number from 1 to ${MAX_SHARDS}`);
  if (!Number.isInteger(index) || (index as number) < 0 || (index as number) >= (count as number))
    throw bad('index', 'must be a whole number from 0 to count - 1');
  const qpsScale = v['qpsScale'];
  if (typeof qpsScale !== 'number' || !(qpsScale > 0 && qpsScale <= 1)) throw bad('qpsScale', 'must be in (0, 1]');
  return {
    byok: 'sweep-shard',
    v: 1,
    runId: v['runId'] as string,
    triggerKey: v['triggerKey'] as string,
    index: index as number,
    count: count as number,
    qpsScale,
  };
}
