/**
 * The AlertSink port and the notifier that feeds it after every sweep or check: derives the alerts
 * (model.ts), de-duplicates them against the state kept in KMS (state.ts), and hands each sink the
 * notices due now: a new condition at once, a reminder every `resendMs[severity]` while it lasts,
 * and a recovery when it is gone. It never throws: a failed delivery or state write is logged, and
 * the sweep goes on.
 */
import type { ActionResult } from '../lifecycle/execute.js';
import { DAY_MS, Phase, type Snapshot } from '../lifecycle/model.js';
import type { Logger } from '../log.js';
import { type Alert, type AlertNotice, type AlertSeverity, deriveAlerts, noticeOf } from './model.js';
import type { AlertStateStore, OpenAlert } from './state.js';

/** What one sweep saw, for the summary line. */
export interface AlertSummary {
  /** Least days of material left on a managed, usable key (one decimal, rounded down); none = undefined. */
  minDaysLeft?: number;
  counts: Record<string, number>;
  critical: number;
  warning: number;
  /** Managed keys that cannot decrypt now (PendingImport, Unavailable), not held on purpose. */
  unusableKeys: string[];
}

/** What a sink is given after a run. */
export interface AlertReport {
  /** Messages due now (new, reminders, recoveries). */
  notices: AlertNotice[];
  /** Every open condition after this run, with since. */
  open: OpenAlert[];
  /** Set for a whole sweep (not a targeted check). */
  summary?: AlertSummary;
}

/** Where alerts go (an outbound webhook, the log). */
export interface AlertSink {
  readonly name: string;
  deliver(report: AlertReport): Promise<void>;
}

/** Re-send intervals by severity (ms). */
export type ResendIntervals = Record<AlertSeverity, number>;

/** Defaults: a critical alert every 24 h while it lasts, a warning every 7 days. */
export const DEFAULT_RESEND_HOURS: Readonly<Record<AlertSeverity, number>> = { critical: 24, warning: 168 };

/** The notifier a run's deps carry. */
export interface AlertNotifier {
  /**
   * After a sweep (`lineage` unset) or a check of one lineage: send what is due. Returns the notices
   * sent (empty when another run wrote the state first).
   */
  afterRun(input: {
    snapshot: Snapshot;
    results: readonly ActionResult[];
    nowMs: number;
    lineage?: string;
  }): Promise<AlertNotice[]>;
  /**
   * After a sharded sweep (functions/sweep): the alerts its shards derived, merged, and their summary,
   * handled as one whole sweep's (the summarising shard calls it once). Same de-duplication.
   */
  afterAlerts(input: {
    alerts: readonly Alert[];
    summary: AlertSummary;
    nowMs: number;
    /** Whether an open alert of `lineage` (undefined: not about a lineage) that is not in `alerts` has recovered. */
    mayRecover: (lineage: string | undefined) => boolean;
  }): Promise<AlertNotice[]>;
}

/** The summary of a sweep (pure). */
export function summaryOf(snapshot: Snapshot, results: readonly ActionResult[], alerts: Alert[], nowMs: number) {
  const counts: Record<string, number> = { ok: 0, failed: 0, skipped: 0, deferred: 0, alerted: 0 };
  for (const r of results) counts[r.outcome] = (counts[r.outcome] ?? 0) + 1;
  let min: number | undefined;
  const unusableKeys: string[] = [];
  for (const k of snapshot.keys) {
    if (!k.managed || k.phase === Phase.Retired || k.hold) continue;
    if (k.state === 'PendingImport' && k.phase !== Phase.Provisioning) unusableKeys.push(k.keyId);
    if (k.state === 'Unavailable') unusableKeys.push(k.keyId);
    if (k.state === 'Enabled' && k.materialExpireAtMs !== undefined) {
      const left = Math.floor(((k.materialExpireAtMs - nowMs) / DAY_MS) * 10) / 10;
      min = min === undefined ? left : Math.min(min, left);
    }
  }
  return {
    ...(min === undefined ? {} : { minDaysLeft: min }),
    counts,
    critical: alerts.filter((a) => a.severity === 'critical').length,
    warning: alerts.filter((a) => a.severity === 'warning').length,
    unusableKeys,
  };
}

/** Builds the notifier. */
export function createAlertNotifier(options: {
  store: AlertStateStore;
  sinks: readonly AlertSink[];
  resendMs: ResendIntervals;
  log: Logger;
}): AlertNotifier {
  const { store, sinks, resendMs, log } = options;
  /** De-duplicates `alerts` against the state and delivers what is due; `inScope` = open alerts this run can close. */
  async function deliver(
    alerts: readonly Alert[],
    inScope: (a: Alert) => boolean,
    summary: AlertSummary | undefined,
    nowMs: number,
    lineage: string | undefined,
  ): Promise<AlertNotice[]> {
    try {
      const state = await store.load();
      const notices: AlertNotice[] = [];
      const open: Record<string, OpenAlert> = { ...state.open };
      for (const a of alerts) {
        const prev = open[a.fingerprint];
        if (!prev) {
          open[a.fingerprint] = { ...a, sinceMs: nowMs, lastSentAtMs: nowMs };
          notices.push(noticeOf(a, 'open', nowMs));
        } else if (nowMs - prev.lastSentAtMs >= resendMs[a.severity]) {
          open[a.fingerprint] = { ...a, sinceMs: prev.sinceMs, lastSentAtMs: nowMs };
          notices.push(noticeOf(a, 'reminder', prev.sinceMs));
        } else {
          open[a.fingerprint] = { ...a, sinceMs: prev.sinceMs, lastSentAtMs: prev.lastSentAtMs };
        }
      }
      const current = new Set(alerts.map((a) => a.fingerprint));
      for (const [fp, prev] of Object.entries(state.open)) {
        if (current.has(fp) || !inScope(prev)) continue;
        delete open[fp];
        const { sinceMs, lastSentAtMs: _sent, ...alert } = prev;
        notices.push(noticeOf(alert, 'recovered', sinceMs));
      }
      const changed = notices.length > 0 || Object.keys(open).length !== Object.keys(state.open).length;
      if (changed && !(await store.save({ v: 1, seq: state.seq + 1, open }))) {
        log.info('alerts: another run updated the alert state first; its notices stand', { lineage });
        return [];
      }
      const report: AlertReport = { notices, open: Object.values(open), ...(summary ? { summary } : {}) };
      // deliverTo never throws: a failed delivery is logged (and was retried by the sink).
      await Promise.all(sinks.map((s) => deliverTo(s, report, log)));
      return notices;
    } catch (err) {
      // Without the state nothing can be de-duplicated: better told twice than never. Every alert
      // goes out as new (the cause is logged, so a lasting failure is seen and fixed).
      log.error('alerts: could not read or write the alert state; sending every alert as new', err, { lineage });
      const notices = alerts.map((a) => noticeOf(a, 'open', nowMs));
      const report: AlertReport = {
        notices,
        open: alerts.map((a) => ({ ...a, sinceMs: nowMs, lastSentAtMs: nowMs })),
        ...(summary ? { summary } : {}),
      };
      await Promise.all(sinks.map((s) => deliverTo(s, report, log)));
      return notices;
    }
  }

  return {
    async afterRun({ snapshot, results, nowMs, lineage }) {
      const whole = lineage === undefined;
      const alerts = deriveAlerts(whole ? snapshot : undefined, results, nowMs);
      // Lineages some action of which did not run (another run's lease, the deadline): no recovery there.
      const unsure = new Set(
        results.filter((r) => r.outcome === 'skipped' || r.outcome === 'deferred').map((r) => r.action.lineage),
      );
      const inScope = (a: Alert) =>
        (whole || a.lineage === lineage) && !(a.lineage !== undefined && unsure.has(a.lineage));
      const summary = whole ? summaryOf(snapshot, results, alerts, nowMs) : undefined;
      return deliver(alerts, inScope, summary, nowMs, lineage);
    },
    async afterAlerts({ alerts, summary, nowMs, mayRecover }) {
      return deliver(alerts, (a) => mayRecover(a.lineage), summary, nowMs, undefined);
    },
  };
}

async function deliverTo(sink: AlertSink, report: AlertReport, log: Logger): Promise<void> {
  try {
    await sink.deliver(report);
  } catch (err) {
    log.error('alerts: delivery failed', err, { sink: sink.name });
  }
}
