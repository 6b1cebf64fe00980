/**
 * The ledger of a sharded sweep: where async shards report, so the shard that completes the set
 * (the last to finish) writes the one summary line and tells the alert notifier once. Async
 * invocations return nothing to the coordinator (docs/fc-runtime.md §11), so the shards meet here.
 *
 * It is one Secrets Manager secret, `byok-sweep/shards`, next to the lease and alert-state secrets
 * (escrow instance, lease CMK), written like them: each change a PutSecretValue with VersionId
 * `shards-<seq>`, so of two shards that read the same state one write wins and the other reads
 * again and retries (the lease's conditional write, shared/lifecycle/lease.ts). Exactly one write
 * completes the set, and that writer summarises. The content is not sensitive (counts, a run id).
 * A coordinator starting a new sharded run replaces the record: shards of an older run that finish
 * later find another run id and record nothing (their audit events and log lines stand).
 */
import type { Alert } from '../alerts/model.js';
import { ErrorCode, OrchestratorError, isOrchestratorError } from '../errors.js';
import type { KmsPort } from '../kms/port.js';

/** Secret name of the ledger. */
export const SHARD_LEDGER_SECRET = 'byok-sweep/shards';

/** What one shard reports (compact: a ledger of 100 shards stays a few KB). */
export interface ShardReport {
  /** Lineages the shard observed. */
  lineages: number;
  /** Action outcomes: ok, failed, skipped, deferred, alerted. */
  counts: Record<string, number>;
  alertWorthy: boolean;
  /** Alerts the shard found for its lineages (the notifier's input), at most MAX_ALERTS_PER_SHARD. */
  alerts: Alert[];
  /** Alerts left out past that bound (counted: the summary then closes no open alert). */
  alertsOmitted: number;
  /**
   * Lineages some action of which did not run (another run's lease, the deadline): their open
   * alerts are not taken as recovered. At most MAX_UNSURE_PER_SHARD; `unsureOmitted` past that.
   */
  unsure: string[];
  unsureOmitted: number;
  /** Least days of material left among the shard's usable keys. */
  minDaysLeft?: number;
  /** Managed keys of the shard that cannot decrypt now. */
  unusableKeys: number;
  finishedAtMs: number;
}

/**
 * Alerts one shard may carry into the ledger: the secret's value must stay small (SDK 1.2.0 sends
 * SecretData in the URL, docs/kms-api.md §7). With 100 shards the ledger stays under ~64 KB only if
 * most shards carry few; recordShard drops a report's alerts (counted) when the ledger would pass
 * MAX_LEDGER_CHARS.
 */
export const MAX_ALERTS_PER_SHARD = 10;
/** Unsure lineages one shard may carry. */
export const MAX_UNSURE_PER_SHARD = 20;
/** Largest ledger value written (characters of JSON). */
export const MAX_LEDGER_CHARS = 24_000;

/** The ledger's content. */
export interface ShardLedgerState {
  v: 1;
  seq: number;
  runId: string;
  count: number;
  startedAtMs: number;
  /** Reports by shard index. */
  done: Record<string, ShardReport>;
  /** Index of the shard whose report completed the set (it summarises). */
  completedBy?: number;
}

/** What the ledger needs. */
export interface ShardLedgerDeps {
  kms: Pick<KmsPort, 'createSecret' | 'getSecretValue' | 'putSecretValue'>;
  encryptionKeyId: string;
  dkmsInstanceId?: string;
}

/** Conditional writes tried before giving up (every shard may be writing at once). */
const MAX_ATTEMPTS = 2 * 100 + 10;

function parse(data: string): ShardLedgerState {
  const s = JSON.parse(data) as ShardLedgerState;
  if (s && s.v === 1 && Number.isInteger(s.seq) && typeof s.done === 'object' && s.done) return s;
  throw new OrchestratorError(ErrorCode.InvalidInput, `${SHARD_LEDGER_SECRET}: unexpected format`, {
    details: { field: SHARD_LEDGER_SECRET },
  });
}

async function load(deps: ShardLedgerDeps): Promise<ShardLedgerState | undefined> {
  try {
    return parse((await deps.kms.getSecretValue({ secretName: SHARD_LEDGER_SECRET })).secretData);
  } catch (err) {
    if (isOrchestratorError(err, ErrorCode.KmsNotFound)) return undefined;
    throw err;
  }
}

/** Writes `next` (seq one above what was read); false when another writer got there first. */
async function save(deps: ShardLedgerDeps, next: ShardLedgerState): Promise<boolean> {
  const versionId = `shards-${next.seq}`;
  const secretData = JSON.stringify(next);
  try {
    if (next.seq === 1) {
      await deps.kms.createSecret({
        secretName: SHARD_LEDGER_SECRET,
        versionId,
        secretData,
        encryptionKeyId: deps.encryptionKeyId,
        description: 'BYOK orchestrator: reports of the shards of the current sharded sweep; not sensitive',
        ...(deps.dkmsInstanceId === undefined ? {} : { dkmsInstanceId: deps.dkmsInstanceId }),
      });
    } else {
      await deps.kms.putSecretValue({ secretName: SHARD_LEDGER_SECRET, versionId, secretData });
    }
    return true;
  } catch (err) {
    // Refused (or the answer lost): read back. Ours current = it landed; a seq at or past ours = lost.
    const now = await deps.kms.getSecretValue({ secretName: SHARD_LEDGER_SECRET }).catch(() => undefined);
    if (now?.versionId === versionId && now.secretData === secretData) return true;
    const seq = now === undefined ? undefined : parse(now.secretData).seq;
    if (seq !== undefined && seq >= next.seq) return false;
    throw err;
  }
}

/**
 * Starts the ledger of a sharded run (the coordinator, before it invokes the shards). Returns the
 * run it replaced when that one never completed: shards that did not report (failed after FC's
 * retries, or still running), for the coordinator to report.
 */
export async function openShardLedger(
  deps: ShardLedgerDeps,
  run: { runId: string; count: number; startedAtMs: number },
): Promise<{ incomplete?: { runId: string; missing: number[] } }> {
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const current = await load(deps);
    const next: ShardLedgerState = { v: 1, seq: (current?.seq ?? 0) + 1, ...run, done: {} };
    if (await save(deps, next)) {
      if (current === undefined || current.completedBy !== undefined) return {};
      const missing = Array.from({ length: current.count }, (_, i) => i).filter((i) => !(String(i) in current.done));
      return missing.length === 0 ? {} : { incomplete: { runId: current.runId, missing } };
    }
  }
  throw contended();
}

/** What recording a report found. */
export type RecordOutcome =
  | { kind: 'recorded'; complete: false }
  /** This report completed the set: the caller summarises `state`. */
  | { kind: 'recorded'; complete: true; state: ShardLedgerState }
  /** The ledger belongs to another run (a newer coordinator replaced it): nothing recorded. */
  | { kind: 'other-run'; runId: string | undefined };

/** Records shard `index`'s report; a repeat (FC retried the shard) replaces its earlier report. */
export async function recordShard(
  deps: ShardLedgerDeps,
  report: { runId: string; index: number; report: ShardReport },
): Promise<RecordOutcome> {
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const current = await load(deps);
    if (current === undefined || current.runId !== report.runId) return { kind: 'other-run', runId: current?.runId };
    let done = { ...current.done, [String(report.index)]: report.report };
    if (JSON.stringify(done).length > MAX_LEDGER_CHARS) {
      // Too big for one secret value: keep the counts, drop this report's alerts and lineages (counted).
      const r = report.report;
      const lean: ShardReport = {
        ...r,
        alerts: [],
        alertsOmitted: r.alertsOmitted + r.alerts.length,
        unsure: [],
        unsureOmitted: r.unsureOmitted + r.unsure.length,
      };
      done = { ...current.done, [String(report.index)]: lean };
    }
    const complete = Object.keys(done).length >= current.count && current.completedBy === undefined;
    const next: ShardLedgerState = {
      ...current,
      seq: current.seq + 1,
      done,
      ...(complete ? { completedBy: report.index } : {}),
    };
    if (await save(deps, next))
      return complete ? { kind: 'recorded', complete, state: next } : { kind: 'recorded', complete: false };
  }
  throw contended();
}

/** The sums of a complete ledger (the one summary line). */
export function summariseLedger(state: ShardLedgerState): {
  shards: number;
  lineages: number;
  counts: Record<string, number>;
  alertWorthy: boolean;
  alertsOmitted: number;
  /** Lineages whose open alerts must not be closed; `undefined` = too many to list: close none. */
  unsure: string[] | undefined;
  minDaysLeft?: number;
  unusableKeys: number;
  durationMs: number;
} {
  const counts: Record<string, number> = {};
  let lineages = 0;
  let alertWorthy = false;
  let alertsOmitted = 0;
  let unsure: string[] | undefined = [];
  let unusableKeys = 0;
  let minDaysLeft: number | undefined;
  let lastMs = state.startedAtMs;
  for (const r of Object.values(state.done)) {
    lineages += r.lineages;
    unusableKeys += r.unusableKeys;
    if (r.minDaysLeft !== undefined) minDaysLeft = Math.min(minDaysLeft ?? r.minDaysLeft, r.minDaysLeft);
    alertWorthy ||= r.alertWorthy;
    alertsOmitted += r.alertsOmitted;
    unsure = unsure === undefined || r.unsureOmitted > 0 ? undefined : [...unsure, ...r.unsure];
    lastMs = Math.max(lastMs, r.finishedAtMs);
    for (const [k, n] of Object.entries(r.counts)) counts[k] = (counts[k] ?? 0) + n;
  }
  return {
    shards: state.count,
    lineages,
    counts,
    alertWorthy,
    alertsOmitted,
    unsure,
    ...(minDaysLeft === undefined ? {} : { minDaysLeft }),
    unusableKeys,
    durationMs: lastMs - state.startedAtMs,
  };
}

function contended(): OrchestratorError {
  return new OrchestratorError(
    ErrorCode.KmsConflict,
    `${SHARD_LEDGER_SECRET}: too many concurrent writers; the shard's report was not recorded`,
    { retryable: true, details: { field: SHARD_LEDGER_SECRET } },
  );
}
