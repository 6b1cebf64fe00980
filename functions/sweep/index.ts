/**
 * `sweep`: the timer-triggered main loop. bytes -> timer event -> config -> deps -> observe ->
 * plan -> execute -> summary. Timer invocations are asynchronous and retried by FC
 * (docs/fc-runtime.md §3.1), so a run is safe to repeat: every write re-checks its
 * precondition, lineages are leased, and a delivery already completed on this instance is
 * acknowledged without running again (keyed by triggerName + triggerTime).
 * A failure on one key is reported in the result, not thrown: throwing would make FC retry the
 * whole sweep. Only a run that could not even observe the account throws (and is retried).
 */
import { createFunctionRuntime } from '../../shared/fc/runtime.js';
import { decodeTimerEvent, deadlineFor, invocationClock } from '../../shared/fc/adapter.js';
import type { FcContext } from '../../shared/fc/types.js';
import { sweep } from '../../shared/lifecycle/engine.js';
import { systemClock } from '../../shared/system.js';

const runtime = createFunctionRuntime(process.env);
const completed = new Map<string, unknown>();

/** FC entry point. */
export async function handler(event: Buffer, context: FcContext): Promise<unknown> {
  const timer = decodeTimerEvent(event);
  const triggerKey = `${timer.triggerName}@${timer.triggerTime}`;
  const done = completed.get(triggerKey);
  if (done) return { duplicate: true, triggerKey, ...(done as object) };
  const clock = await invocationClock(systemClock, process.env.BYOK_LOCAL_TIME_URL);
  const deps = await runtime.deps(context, {
    actor: { kind: 'timer', id: triggerKey },
    runId: `sweep-${context.requestId}`,
    clock,
    deadlineMs: deadlineFor(context, clock.nowMs()),
  });
  const result = await sweep(deps);
  const summary = {
    triggerKey,
    planId: result.planId,
    counts: result.counts,
    alertWorthy: result.alertWorthy,
    results: result.results.map((r) => ({ kind: r.action.kind, lineage: r.action.lineage, keyId: 'keyId' in r.action ? r.action.keyId : undefined, outcome: r.outcome, detail: r.detail, errorCode: r.errorCode })),
  };
  completed.set(triggerKey, { planId: summary.planId, counts: summary.counts });
  if (completed.size > 1000) completed.delete(completed.keys().next().value as string);
  return summary;
}
