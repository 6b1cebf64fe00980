/**
 * What the `report` command reads from the account (read-only): the snapshot, the alerts seen now
 * (derived from the plan as a sweep would derive them) and the alert state's open alerts (the
 * `byok-alerts/state` secret, with their since). The audit events are not here: they are read
 * where they are written (the CLI's audit file; the deployed functions' go to Log Service).
 */
import { deriveAlerts } from '../alerts/model.js';
import { kmsAlertStateStore, type OpenAlert } from '../alerts/state.js';
import { errorSummary, type ActionResult } from '../lifecycle/execute.js';
import type { Snapshot } from '../lifecycle/model.js';
import type { EngineDeps } from '../lifecycle/ports.js';
import { planNow } from '../lifecycle/sweep.js';
import { mergeAlerts, type ReportAlert } from './report-data.js';

/** The account's side of the report (plain JSON, secret-free: ids, tags' values, times). */
export interface ReportSource {
  nowMs: number;
  snapshot: Snapshot;
  alerts: ReportAlert[];
  /** Set when the alert state could not be read: the alerts are then only the ones seen now. */
  alertStateError?: string;
}

/** Reads the report's data from the account (see the module comment); writes nothing. */
export async function gatherReport(deps: EngineDeps): Promise<ReportSource> {
  const { snapshot, plan } = await planNow(deps);
  const nowMs = deps.clock.nowMs();
  // The plan's alerts as the notifier would see them after a sweep (alert actions are not executed).
  const results: ActionResult[] = plan.actions
    .filter((a) => a.kind === 'alert')
    .map((a) => ({ action: a, outcome: 'alerted', detail: a.reason, kmsRequestIds: [] }));
  const current = deriveAlerts(snapshot, results, nowMs);
  const escrow = deps.instances?.escrow;
  const store = kmsAlertStateStore({
    kms: deps.kms,
    encryptionKeyId: deps.leaseKeyId,
    ...(escrow === undefined ? {} : { dkmsInstanceId: escrow }),
  });
  let open: OpenAlert[] = [];
  let alertStateError: string | undefined;
  try {
    open = Object.values((await store.load()).open);
  } catch (err) {
    const e = errorSummary(err, deps.log, { action: 'report' });
    alertStateError = `${e.code}: ${e.message}`;
  }
  return { nowMs, snapshot, alerts: mergeAlerts(open, current), ...(alertStateError ? { alertStateError } : {}) };
}
