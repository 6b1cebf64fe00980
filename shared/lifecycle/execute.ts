/**
 * The executor: the one path by which KMS state changes, for a sweep's plan and for an operator
 * command's single-lineage plan alike. Lineages are written through a bounded pool
 * (EngineDeps.writeConcurrency; results keep plan order). Per lineage, its actions in plan order
 * under its lease: a decision event per action, the lease taken (and released, or left to expire
 * after a simulated crash), an intent and an outcome event per action with its KMS request ids,
 * and a deadline at 80 % of the lease so no write starts after it could expire; no lineage's lease
 * is taken once the run's own deadline has passed. A failure on one lineage never stops the
 * others (invariant 7); what each action does is in apply.ts.
 */
import type { AuditInput } from '../audit/event.js';
import { ErrorCode, isOrchestratorError } from '../errors.js';
import type { LogFields, Logger } from '../log.js';
import { type AppliedValue, applyAction } from './apply.js';
import { acquireLease, leaseDeadline, leaseDeps, type Lease, type LeaseRead } from './lease.js';
import type { Action, Plan } from './plan.js';
import { CheckpointAbort, type EngineDeps } from './ports.js';
import { RequestLog, checkBudget } from './steps.js';

/** How one action ended. */
export type Outcome = 'ok' | 'failed' | 'skipped' | 'deferred' | 'alerted';

/** One executed action. */
export interface ActionResult {
  action: Action;
  outcome: Outcome;
  detail: string;
  errorCode?: string;
  kmsRequestIds: string[];
}

/** What a sweep did. */
export interface SweepResult {
  planId: string;
  results: ActionResult[];
  counts: Record<Outcome, number>;
  /** True when a critical alert was raised or an action failed: worth paging someone. */
  alertWorthy: boolean;
}

/**
 * One executed action as the engine keeps it: the result, what the action produced, and the error
 * it stopped on (failed, deferred, or the lease refused), for the operator command that asked.
 * Neither extra leaves the engine: results and audit carry only the coded summary.
 */
export interface ActionRun extends ActionResult {
  value?: AppliedValue;
  error?: unknown;
}

/**
 * A stable, secret-free one-line summary of an error for results and audit. An uncoded error is a
 * bug: it becomes "internal error" there, and is logged with its stack (never put in a result).
 */
export function errorSummary(err: unknown, log?: Logger, fields: LogFields = {}): { code: string; message: string } {
  if (isOrchestratorError(err)) return { code: err.code, message: err.message };
  log?.error('internal error', err, fields);
  return { code: ErrorCode.Internal, message: 'internal error' };
}

const keyOf = (a: Action): string | undefined => ('keyId' in a ? a.keyId : undefined);

/**
 * Executes a plan: per lineage, under its lease, each action audited. `leaseReads`: lease records
 * this run has just read (a targeted observe's), from which those lineages' leases are taken
 * without reading them again (acquireLease `earlier`).
 */
export async function executePlan(
  deps: EngineDeps,
  plan: Plan,
  options: { leaseReads?: readonly LeaseRead[] } = {},
): Promise<SweepResult> {
  const runs = await runPlan(deps, plan, options);
  return summarise(
    plan.planId,
    runs.map(({ value: _value, error: _error, ...result }) => result),
  );
}

/**
 * Runs a plan and keeps what each action produced. `announce: false` leaves out the per-action
 * progress line (an operator command: the operator just typed it).
 */
export async function runPlan(
  deps: EngineDeps,
  plan: Plan,
  options: { announce?: boolean; leaseReads?: readonly LeaseRead[] } = {},
): Promise<ActionRun[]> {
  const runs: ActionRun[] = [];
  const audit = async (e: AuditInput): Promise<void> => {
    await deps.audit.record({ planId: plan.planId, ...(plan.actor ? { actor: plan.actor } : {}), ...e });
  };
  for (const a of plan.actions) {
    await audit({ action: a.kind, phase: 'decision', keyId: keyOf(a), lineage: a.lineage, reason: a.reason });
  }
  // Group by lineage, keeping plan order inside a lineage; alerts need no lease.
  const groups = new Map<string, Action[]>();
  for (const a of plan.actions) {
    if (a.kind === 'alert') {
      runs.push({ action: a, outcome: 'alerted', detail: a.reason, kmsRequestIds: [] });
      continue;
    }
    groups.set(a.lineage, [...(groups.get(a.lineage) ?? []), a]);
  }
  const lineages = [...groups];
  const earlier = (lineage: string) => options.leaseReads?.find((r) => r.lineage === lineage);
  const done = await inPool(lineages, writeConcurrencyOf(deps), ([lineage, actions]) =>
    runLineage(deps, lineage, actions, audit, options.announce ?? true, earlier(lineage)),
  );
  for (const r of done) runs.push(...r);
  return runs;
}

/** Lineages written at once when EngineDeps.writeConcurrency is unset. */
export const DEFAULT_WRITE_CONCURRENCY = 4;

/** The pool size: a whole number >= 1 (a bad value falls back to the default). */
function writeConcurrencyOf(deps: EngineDeps): number {
  const n = deps.writeConcurrency;
  return n !== undefined && Number.isInteger(n) && n >= 1 ? n : DEFAULT_WRITE_CONCURRENCY;
}

/**
 * Runs `fn` over `items` with at most `limit` at once and returns the results in item order (so a
 * plan's results keep a deterministic order whatever finishes first). When one run throws (a
 * simulated process death, CheckpointAbort, or a bug), no further item is started; those already
 * running finish, then the first error is rethrown.
 */
async function inPool<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  let failure: { err: unknown } | undefined;
  const worker = async (): Promise<void> => {
    while (failure === undefined && next < items.length) {
      const i = next++;
      try {
        out[i] = await fn(items[i]!);
      } catch (err) {
        failure ??= { err };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failure !== undefined) throw failure.err;
  return out;
}

type Audit = (e: AuditInput) => Promise<void>;

/** The lease and audit wrapper around one lineage's actions. */
async function runLineage(
  deps: EngineDeps,
  lineage: string,
  actions: Action[],
  audit: Audit,
  announce: boolean,
  earlier: LeaseRead | undefined,
): Promise<ActionRun[]> {
  let lease: Lease;
  try {
    checkBudget(deps, `lineage ${lineage}`);
    lease = await acquireLease(leaseDeps(deps), lineage, actions.map((a) => a.kind).join(','), earlier);
  } catch (err) {
    return notLeased(deps, lineage, actions, audit, err);
  }
  const { seq } = lease;
  await audit({
    action: 'lease',
    phase: 'outcome',
    lineage,
    outcome: 'ok',
    reason: `lineage lease ${seq} taken`,
    details: { seq },
  });
  // Every write under the lease stops at its deadline, and every audit event (provisioning steps
  // included) carries the plan id and actor.
  const leased: EngineDeps = {
    ...deps,
    lease,
    audit: { record: audit },
    deadlineMs: Math.min(deps.deadlineMs ?? Infinity, leaseDeadline(lease, deps.leaseTtlMs)),
  };
  const runs: ActionRun[] = [];
  let abandoned = false;
  try {
    for (const a of actions) {
      const run = await runAction(leased, lineage, a, audit, announce);
      runs.push(run);
      if (run.outcome === 'deferred') break; // out of time: the next run resumes
    }
  } catch (err) {
    if (err instanceof CheckpointAbort) abandoned = true; // a simulated process death: no release
    throw err;
  } finally {
    if (!abandoned) await lease.release();
  }
  return runs;
}

/** Every action of a lineage whose lease could not be taken: skipped (held), deferred (no time) or failed. */
async function notLeased(
  deps: EngineDeps,
  lineage: string,
  actions: Action[],
  audit: Audit,
  err: unknown,
): Promise<ActionRun[]> {
  const e = errorSummary(err, deps.log, { lineage, action: 'lease' });
  const outcome: Outcome =
    e.code === ErrorCode.LeaseHeld ? 'skipped' : e.code === ErrorCode.TimeBudgetExhausted ? 'deferred' : 'failed';
  const runs: ActionRun[] = [];
  for (const a of actions) {
    runs.push({ action: a, outcome, detail: e.message, errorCode: e.code, kmsRequestIds: [], error: err });
    const audited = outcome === 'failed' ? 'failed' : 'skipped';
    await audit({
      action: a.kind,
      phase: 'outcome',
      keyId: keyOf(a),
      lineage,
      outcome: audited,
      errorCode: e.code,
      reason: e.message,
    });
  }
  return runs;
}

/** One action under the lease: announced, an intent before, an outcome after (CheckpointAbort passes through). */
async function runAction(
  deps: EngineDeps,
  lineage: string,
  a: Action,
  audit: Audit,
  announce: boolean,
): Promise<ActionRun> {
  const log = new RequestLog();
  const keyId = keyOf(a);
  if (announce) deps.progress?.(`${a.kind} ${lineage}${keyId ? ` ${keyId}` : ''}: ${a.reason}`);
  await audit({ action: a.kind, phase: 'intent', keyId, lineage, reason: a.reason });
  try {
    const r = await applyAction(deps, a, log);
    const audited = r.outcome === 'ok' ? 'ok' : 'skipped';
    await audit({
      action: a.kind,
      phase: 'outcome',
      keyId,
      lineage,
      outcome: audited,
      reason: r.detail,
      kmsRequestIds: log.ids,
    });
    return {
      action: a,
      outcome: r.outcome,
      detail: r.detail,
      kmsRequestIds: log.ids,
      ...(r.value ? { value: r.value } : {}),
    };
  } catch (err) {
    if (err instanceof CheckpointAbort) throw err;
    const e = errorSummary(err, deps.log, { lineage, action: a.kind, ...(keyId ? { keyId } : {}) });
    const outcome: Outcome = e.code === ErrorCode.TimeBudgetExhausted ? 'deferred' : 'failed';
    const audited = outcome === 'failed' ? 'failed' : 'skipped';
    const kmsRequestIds = log.ids;
    await audit({
      action: a.kind,
      phase: 'outcome',
      keyId,
      lineage,
      outcome: audited,
      errorCode: e.code,
      reason: e.message,
      kmsRequestIds,
    });
    return { action: a, outcome, detail: e.message, errorCode: e.code, kmsRequestIds, error: err };
  }
}

function summarise(planId: string, results: ActionResult[]): SweepResult {
  const counts: Record<Outcome, number> = { ok: 0, failed: 0, skipped: 0, deferred: 0, alerted: 0 };
  for (const r of results) counts[r.outcome]++;
  const alertWorthy =
    counts.failed > 0 || results.some((r) => r.action.kind === 'alert' && r.action.severity === 'critical');
  return { planId, results, counts, alertWorthy };
}
