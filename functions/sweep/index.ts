/**
 * `sweep`: the timer-triggered main loop. bytes -> timer event -> config -> deps -> observe ->
 * plan -> execute -> summary. Timer invocations are asynchronous and retried by FC
 * (docs/fc-runtime.md §3.1), so a run is safe to repeat: every write re-checks its
 * precondition, lineages are leased, and a delivery already completed on this instance is
 * acknowledged without running again (keyed by triggerName + triggerTime).
 * A failure on one key is reported in the result, not thrown: throwing would make FC retry the
 * whole sweep. Only a run that could not even observe the account throws (and is retried).
 * Logs: one JSON line per run (`fn`, `requestId`, `runId`, `triggerName`, `triggerTime`), and the
 * failure with its stack when a run throws an uncoded error.
 */
import { decodeTimerEvent, deadlineFor, invocationClock, logFailure } from '../../shared/fc/adapter.js';
import { createFunctionRuntime } from '../../shared/fc/runtime.js';
import type { FcContext } from '../../shared/fc/types.js';
import { sweep } from '../../shared/lifecycle/engine.js';
import type { Logger } from '../../shared/log.js';
import { systemClock } from '../../shared/system.js';

const runtime = createFunctionRuntime(process.env);
const completed = new Map<string, unknown>();

/** FC entry point. */
export async function handler(event: Buffer, context: FcContext): Promise<unknown> {
  const log = runtime.logger(context);
  try {
    return await run(event, context, log);
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
  const deps = await runtime.deps(context, {
    actor: { kind: 'timer', id: triggerKey },
    runId: `sweep-${context.requestId}`,
    clock,
    deadlineMs: deadlineFor(context, clock.nowMs()),
  });
  let result: Awaited<ReturnType<typeof sweep>>;
  try {
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
