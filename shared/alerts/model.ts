/**
 * Alerts for people (pure): what a sweep or check found wrong, as stable records with a fingerprint
 * (for de-duplication), severity, key, lineage, the problem, and the exact command that fixes or
 * explains it; and the one-line text every sink sends. Derived from the plan's `alert` actions, the
 * actions that failed, and the unmanaged EXTERNAL keys of the snapshot.
 */
import { createHash } from 'node:crypto';
import type { ActionResult } from '../lifecycle/execute.js';
import { DAY_MS, type Snapshot } from '../lifecycle/model.js';

/** How bad an alert is. */
export type AlertSeverity = 'warning' | 'critical';

/** One condition that is wrong now. */
export interface Alert {
  /** Stable while the condition lasts (numbers in the text, like days left, do not change it). */
  fingerprint: string;
  severity: AlertSeverity;
  keyId?: string;
  lineage?: string;
  instanceId?: string;
  /** What is wrong, in words. */
  problem: string;
  /** The exact command that fixes or explains it. */
  command: string;
}

/** Why a notice is sent: a new condition, a reminder while it lasts, or its end. */
export type NoticeKind = 'open' | 'reminder' | 'recovered';

/** One message to people. */
export interface AlertNotice extends Alert {
  kind: NoticeKind;
  /** When the condition was first seen (engine clock, ms). */
  sinceMs: number;
  /** The one-line text every sink sends. */
  text: string;
}

/** The CLI as an operator runs it (README). */
export const OPS = 'npm run ops --';

/** The fixing or explaining command for an alert `reason` (from the planner's wording). */
export function commandFor(reason: string, ids: { keyId?: string; instanceId?: string; lineage?: string }): string {
  const key = ids.keyId ?? '';
  if (ids.instanceId) return `${OPS} doctor`;
  // Re-import repairs the key only once the escrow record is back (RestoreSecret in its recovery
  // window, or a break-glass copy): the command says so, since alone it would fail.
  if (/^material gone and no escrow record/.test(reason) && key)
    return `bring the escrow record back (README "On call: from page to fix"), then ${OPS} reimport ${key}`;
  if (/escrow/.test(reason)) return `${OPS} verify-escrow`;
  if (/^drift|scheduled for deletion|unmanaged/.test(reason)) return `${OPS} status`;
  if (/could not be read|Unavailable|state this tool/.test(reason)) return `${OPS} doctor`;
  return `${OPS} status`;
}

const FAILED_COMMAND: Record<string, (keyId: string, lineage: string) => string> = {
  renew: (k) => `${OPS} renew ${k}`,
  reimport: (k) => `${OPS} reimport ${k}`,
  restore: (k) => `${OPS} restore ${k}`,
  rotate: (_k, l) => `${OPS} rotate alias/${l}`,
  // An interrupted onboard or rotation: the next sweep resumes it; `sweep` now does it at once.
  resume: () => `${OPS} sweep`,
  onboard: (_k, l) => `${OPS} onboard alias/${l}`,
};

function fingerprintOf(parts: Array<string | undefined>): string {
  const stable = parts.map((p) => (p ?? '').replace(/\d+(\.\d+)?/g, '#')).join('|');
  return createHash('sha256').update(stable).digest('hex').slice(0, 16);
}

/** The alerts of one sweep or check: plan alerts, failed actions, unmanaged EXTERNAL keys. */
export function deriveAlerts(snapshot: Snapshot | undefined, results: readonly ActionResult[], nowMs: number): Alert[] {
  const out: Alert[] = [];
  for (const r of results) {
    const a = r.action;
    const keyId = 'keyId' in a ? a.keyId : undefined;
    const instanceId = a.kind === 'alert' ? a.instanceId : undefined;
    const ids = { ...opt('keyId', keyId), ...opt('lineage', a.lineage), ...opt('instanceId', instanceId) };
    if (a.kind === 'alert') {
      const fingerprint = fingerprintOf(['alert', keyId, instanceId, a.lineage, a.reason]);
      out.push({ fingerprint, severity: a.severity, ...ids, problem: a.reason, command: commandFor(a.reason, ids) });
    } else if (r.outcome === 'failed') {
      let problem = `${a.kind} failed (${r.errorCode ?? 'error'}: ${r.detail})`;
      if (a.kind === 'renew' && a.expiresAtMs !== undefined) {
        const left = Math.floor((a.expiresAtMs - nowMs) / DAY_MS);
        problem = `material expires in ${left} d and renewal failed (${r.errorCode ?? 'error'}: ${r.detail})`;
      } else if (a.kind === 'reimport') {
        problem = `key is PendingImport and could not be repaired (${r.errorCode ?? 'error'}: ${r.detail})`;
      }
      const command = FAILED_COMMAND[a.kind]?.(keyId ?? '', a.lineage) ?? `${OPS} doctor`;
      const fingerprint = fingerprintOf(['failed', a.kind, keyId, a.lineage, r.errorCode]);
      out.push({ fingerprint, severity: 'critical', ...ids, problem, command });
    }
  }
  for (const k of snapshot?.keys ?? []) {
    if (k.origin !== 'EXTERNAL' || k.managed) continue;
    const problem = 'drift: unmanaged EXTERNAL key: nobody renews its material; adopt it or make sure its owner does';
    const fingerprint = fingerprintOf(['unmanaged', k.keyId]);
    out.push({ fingerprint, severity: 'warning', keyId: k.keyId, problem, command: `${OPS} status` });
  }
  // One alert per fingerprint (the first, most urgent as planned).
  const seen = new Set<string>();
  return out.filter((a) => !seen.has(a.fingerprint) && seen.add(a.fingerprint));
}

function opt<K extends string>(key: K, value: string | undefined): { [P in K]?: string } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: string };
}

/** Who or what an alert is about, in words. */
export function subjectOf(a: Pick<Alert, 'keyId' | 'lineage' | 'instanceId'>): string {
  if (a.instanceId) return `KMS instance ${a.instanceId}`;
  if (a.keyId) return a.lineage ? `key ${a.keyId} (lineage ${a.lineage})` : `key ${a.keyId}`;
  return a.lineage ? `lineage ${a.lineage}` : 'the orchestrator';
}

/** The text of a notice (exact; tests assert it). */
export function noticeText(a: Alert, kind: NoticeKind, sinceMs: number): string {
  const since = new Date(sinceMs).toISOString();
  const subject = subjectOf(a);
  if (kind === 'recovered') {
    const what = a.problem.startsWith(subject) ? a.problem : `${subject}: ${a.problem}`;
    return `[RESOLVED] ${what} (open since ${since}); nothing to do`;
  }
  const tag = a.severity.toUpperCase();
  const still = kind === 'reminder' ? ' still open' : '';
  // An instance alert's problem already starts with its subject ("KMS instance kst-... (holds ...)").
  const what = a.problem.startsWith(subject) ? a.problem : `${subject}: ${a.problem}`;
  return `[${tag}]${still} ${what} (since ${since}). Fix: ${a.command}`;
}

/** A notice for `a`. */
export function noticeOf(a: Alert, kind: NoticeKind, sinceMs: number): AlertNotice {
  return { ...a, kind, sinceMs, text: noticeText(a, kind, sinceMs) };
}
