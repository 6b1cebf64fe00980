/**
 * `sweep`: the timer-triggered main loop. bytes -> timer event -> config -> deps -> observe ->
 * plan -> execute -> summary. Timer invocations are asynchronous and retried by FC
 * (docs/fc-runtime.md §3.1), so a run is safe to repeat: every write re-checks its
 * precondition, lineages are leased, and a delivery already completed on this instance is
 * acknowledged without running again (keyed by triggerName + triggerTime).
 * A failure on one key is reported in the result, not thrown: throwing would make FC retry the
 * whole sweep. Only a run that could not even observe the account throws (and is retried).
 *
 * Past one function's limits (docs/fc-runtime.md §11, README "Limits"): when the lineages cannot be
 * swept within this invocation's deadline, or there are more than BYOK_SWEEP_SHARD_LINEAGES, the
 * timer invocation becomes a coordinator (shared/lifecycle/sharded-sweep.ts): it invokes this same
 * function asynchronously once per shard, with a shard event instead of a timer event. A shard runs
 * at 1/shards of the QPS share; the shard that completes the set writes the summary.
 * Logs: one JSON line per run (`fn`, `requestId`, `runId`, `triggerName`, `triggerTime`), and the
 * failure with its stack when a run throws an uncoded error.
 */
import {
  credentialsOf,
  decodeJson,
  decodeTimerEvent,
  deadlineFor,
  invocationClock,
  logFailure,
} from '../../shared/fc/adapter.js';
import { type AsyncInvoker, createFcAsyncInvoker, fcInvokeEndpoint } from '../../shared/fc/invoke.js';
import { createFunctionRuntime } from '../../shared/fc/runtime.js';
import type { FcContext } from '../../shared/fc/types.js';
import { sweep } from '../../shared/lifecycle/engine.js';
import { parseShardEvent, type ShardEvent } from '../../shared/lifecycle/shard.js';
import { ESTIMATE_LATENCY_MS, coordinateSweep, sweepShard } from '../../shared/lifecycle/sharded-sweep.js';
import type { Logger } from '../../shared/log.js';
import { systemClock } from '../../shared/system.js';

const runtime = createFunctionRuntime(process.env);
const completed = new Map<string, unknown>();

/** FC entry point. */
export async function handler(event: Buffer, context: FcContext): Promise<unknown> {
  const log = runtime.logger(context);
  try {
    const shard = parseShardEvent(decodeJson(event));
    return shard ? await runShard(shard, context, log) : await run(event, context, log);
  } catch (err) {
    logFailure(log, 'sweep failed', err);
    throw err;
  }
}

async function run(event: Buffer, context: FcContext, log: Logger): Promise<unknown> {
  const timer = decodeTimerEvent(event);
  const trigger = { triggerName: timer.triggerName, triggerTime: timer.triggerTime };
  const triggerKey = `${timer.triggerName}@${timer.triggerTime}`;
  const done = completed.get(triggerKey);
  if (done) {
    log.info('timer delivery already completed on this instance: acknowledged', trigger);
    return { duplicate: true, triggerKey, ...(done as object) };
  }
  const clock = await invocationClock(systemClock, process.env.BYOK_LOCAL_TIME_URL);
  const instance = await runtime.instance(context);
  instance.pacer?.setScale(1); // this instance may have served a shard before
  const deadlineMs = deadlineFor(context, clock.nowMs(), clock.rate);
  const deps = await runtime.deps(context, {
    actor: { kind: 'timer', id: triggerKey },
    runId: `sweep-${context.requestId}`,
    clock,
    deadlineMs,
  });
  let result: Awaited<ReturnType<typeof sweep>>;
  try {
    const pacer = instance.pacer;
    const pacing = pacer?.state();
    const coordinated = await coordinateSweep(deps, {
      shardLineages: runtime.config(context).sweep.shardLineages,
      parallelShards: runtime.config(context).sweep.parallelShards,
      // The deadline is on the engine clock, which may run fast (local stack); the budget is real ms.
      budgetMs: (deadlineMs - clock.nowMs()) / Math.max(1, clock.rate ?? 1),
      pacing: {
        latencyMs: pacing?.latencyMs ?? ESTIMATE_LATENCY_MS,
        concurrency: pacing?.concurrency ?? 4,
        ratePerSecond: pacer?.rateFor('DescribeKey') ?? Number.POSITIVE_INFINITY,
      },
      invoker: lazyInvoker(context),
      functionName: context.function.name,
      triggerKey,
    });
    if (coordinated.kind === 'sharded') {
      const { plan, lineages, runId } = coordinated;
      const summary = { triggerKey, sharded: true, runId, lineages, shards: plan.count, reason: plan.reason };
      completed.set(triggerKey, summary);
      deps.log.info('sweep sharded', {
        ...trigger,
        lineages,
        shards: plan.count,
        reason: plan.reason,
        estimateMs: Math.round(plan.estimate.totalMs),
        qpsBound: plan.qpsBound,
      });
      if (coordinated.incomplete)
        deps.log.warn('sweep: shards of the previous sharded sweep never reported', {
          previousRunId: coordinated.incomplete.runId,
          missing: coordinated.incomplete.missing.join(','),
        });
      if (plan.qpsBound)
        deps.log.warn('sweep: the account QPS share cannot carry every lineage within one function timeout', {
          lineages,
          qpsBoundMs: Math.round(plan.estimate.qpsBoundMs),
        });
      return summary;
    }
    result = await sweep(deps);
  } finally {
    await deps.close();
  }
  const summary = {
    triggerKey,
    planId: result.planId,
    counts: result.counts,
    alertWorthy: result.alertWorthy,
    results: result.results.map((r) => ({
      kind: r.action.kind,
      lineage: r.action.lineage,
      keyId: 'keyId' in r.action ? r.action.keyId : undefined,
      outcome: r.outcome,
      detail: r.detail,
      errorCode: r.errorCode,
    })),
  };
  completed.set(triggerKey, { planId: summary.planId, counts: summary.counts });
  if (completed.size > 1000) completed.delete(completed.keys().next().value as string);
  const level = result.alertWorthy ? 'warn' : 'info';
  const counts = result.counts;
  deps.log[level]('sweep done', { ...trigger, planId: result.planId, alertWorthy: result.alertWorthy, ...counts });
  return summary;
}

/**
 * The FC async invoker of this invocation, built on first use (only a coordinator invokes):
 * BYOK_FC_ENDPOINT (the local host) or FC's data-plane endpoint of the function's account and region.
 */
function lazyInvoker(context: FcContext): AsyncInvoker {
  let invoker: AsyncInvoker | undefined;
  return {
    invokeAsync(functionName, payload) {
      invoker ??= createFcAsyncInvoker({
        endpoint: fcInvokeEndpoint(process.env.BYOK_FC_ENDPOINT, context.accountId ?? '', context.region ?? ''),
        region: context.region ?? '',
        credentials: () => credentialsOf(context),
      });
      return invoker.invokeAsync(functionName, payload);
    },
  };
}

/** One shard of a sharded sweep (an async invocation from the coordinator). */
async function runShard(event: ShardEvent, context: FcContext, log: Logger): Promise<unknown> {
  const clock = await invocationClock(systemClock, process.env.BYOK_LOCAL_TIME_URL);
  const instance = await runtime.instance(context);
  // The shards run at once and share the account's QPS: each takes its part of the share.
  instance.pacer?.setScale(event.qpsScale);
  const shard = `${event.index + 1}/${event.count}`;
  const deps = await runtime.deps(context, {
    actor: { kind: 'timer', id: event.triggerKey },
    runId: `${event.runId}-shard-${event.index}`,
    clock,
    deadlineMs: deadlineFor(context, clock.nowMs(), clock.rate),
  });
  try {
    const out = await sweepShard(deps, event);
    const level = out.report.alertWorthy ? 'warn' : 'info';
    deps.log[level]('sweep shard done', {
      coordinatorRunId: event.runId,
      shard,
      lineages: out.report.lineages,
      recorded: out.recorded.kind,
      ...out.result.counts,
    });
    if (out.recorded.kind === 'other-run')
      log.warn('sweep shard: a newer sharded sweep replaced this run; report not recorded', { shard });
    if (out.summary) {
      const s = out.summary;
      deps.log[s.alertWorthy ? 'warn' : 'info']('sweep summary', {
        coordinatorRunId: s.runId,
        triggerKey: event.triggerKey,
        shards: s.shards,
        lineages: s.lineages,
        durationMs: s.durationMs,
        alertWorthy: s.alertWorthy,
        ...s.counts,
      });
    }
    return { shard, lineages: out.report.lineages, counts: out.result.counts, summarised: out.summary !== undefined };
  } finally {
    await deps.close();
  }
}
