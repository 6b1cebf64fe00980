/**
 * The data of the HTML report (`ops report --html`), pure: from the snapshot (what KMS holds now),
 * the audit events (what happened), the open alerts and the time, one plain value per lineage
 * (its generations, their material validity windows and the events on its timeline), plus the
 * unmanaged EXTERNAL keys, the open alerts and the KMS instances with their end dates.
 * report-html.ts turns it into the page; nothing here reads a clock, a file or KMS.
 *
 * Validity windows: the snapshot knows only each key's current Valid Until. Earlier windows come
 * from the audit log: every successful import (provisioning's `provision:imported`, `renew`,
 * `reimport`, `restore`, `adopt`) starts a window, which lasts until the next import of the key or,
 * when the outcome's reason names it (`... until <ISO time>`, the engine's own wording), until that
 * Valid Until if it came first: the time between is a lapse (no material), drawn as a gap.
 */
import type { OpenAlert } from '../alerts/state.js';
import { DAY_MS, type Snapshot } from '../lifecycle/model.js';

/** The fields of an audit event the report reads (a subset of AuditEvent; unknown fields ignored). */
export interface ReportAuditEvent {
  timeMs: number;
  action: string;
  phase: string;
  outcome?: string;
  keyId?: string;
  lineage?: string;
  reason?: string;
  errorCode?: string;
  actor?: { kind: string; id: string };
}

/** One alert as the report shows it: an open one from the alert state, or one only seen now. */
export interface ReportAlert {
  fingerprint: string;
  severity: 'warning' | 'critical';
  keyId?: string;
  lineage?: string;
  instanceId?: string;
  problem: string;
  command: string;
  /** Open since (from the alert state); undefined when the state does not hold it yet. */
  sinceMs?: number;
  /**
   * `open`: in the alert state and seen again now; `new`: seen now, not yet sent (the next sweep
   * sends it); `stale`: in the alert state but not seen now (the next sweep announces its recovery).
   */
  status: 'open' | 'new' | 'stale';
}

/** What a mark on a timeline stands for. */
export const MarkKind = {
  Onboard: 'onboard',
  Adopt: 'adopt',
  Renewal: 'renewal',
  Rotation: 'rotation',
  Reimport: 'reimport',
  Restore: 'restore',
  Revoke: 'revoke',
  Retire: 'retire',
  Incident: 'incident',
} as const;
/** A mark kind. */
export type MarkKind = (typeof MarkKind)[keyof typeof MarkKind];

/** One event on a lineage's timeline. */
export interface TimelineMark {
  atMs: number;
  kind: MarkKind;
  keyId?: string;
  /** What happened, in words (the audit reason or error). */
  label: string;
}

/** A period with material (an import until the next import or its Valid Until). */
export interface ValidityWindow {
  fromMs: number;
  toMs: number;
}

/** One generation (CMK) of a lineage. */
export interface GenerationRow {
  keyId: string;
  generation?: number;
  aliases: string[];
  state: string;
  phase?: string;
  hold?: string;
  /** True for the alias target (the generation that encrypts). */
  current: boolean;
  createdAtMs: number;
  supersededAtMs?: number;
  materialExpireAtMs?: number;
  deleteDateMs?: number;
  /** Days of material left, one decimal, rounded down (as `status` shows it); undefined = none. */
  daysLeft?: number;
  windows: ValidityWindow[];
  /** Periods without material between two windows (it lapsed before the next import). */
  lapses: ValidityWindow[];
}

/** One lineage: its generations and timeline. */
export interface LineageReport {
  lineage: string;
  alias: string;
  aliasTargetKeyId?: string;
  generations: GenerationRow[];
  marks: TimelineMark[];
  /** Days left on the current generation (the alias target); undefined when it has no material. */
  daysLeft?: number;
}

/** An EXTERNAL key nobody manages. */
export interface UnmanagedKeyRow {
  keyId: string;
  aliases: string[];
  state: string;
  createdAtMs: number;
  materialExpireAtMs?: number;
  daysLeft?: number;
}

/** A configured KMS 3.0 instance. */
export interface InstanceRow {
  instanceId: string;
  roles: string[];
  status?: string;
  endDateMs?: number;
  daysLeft?: number;
  /** Our error code (and KMS's) when it could not be read. */
  readError?: string;
}

/** Everything the page shows (plain JSON). */
export interface ReportData {
  nowMs: number;
  /** The time axis shared by every timeline. */
  range: { fromMs: number; toMs: number };
  lineages: LineageReport[];
  unmanaged: UnmanagedKeyRow[];
  alerts: ReportAlert[];
  instances: InstanceRow[];
  /** Keys KMS listed but could not describe (with our error code). */
  unobservable: Array<{ keyId: string; code: string }>;
  /** Least days left over the current generations; undefined when none has material. */
  minDaysLeft?: number;
  /** How many audit events were read (0 also when none were given). */
  auditEvents: number;
  /** Lines about the sources (e.g. where the audit events came from), shown under the title. */
  notes: string[];
}

/** Options of reportData. */
export interface ReportDataOptions {
  /** Lines about the sources, shown under the title. */
  notes?: string[];
  /** Incident marks per lineage kept at most (the latest); default 200. */
  maxMarksPerLineage?: number;
}

/** Days left until `atMs`, one decimal, rounded down (undefined stays undefined). */
export function daysLeftOf(atMs: number | undefined, nowMs: number): number | undefined {
  return atMs === undefined ? undefined : Math.floor(((atMs - nowMs) / DAY_MS) * 10) / 10;
}

/** Actions whose successful outcome imports material into the event's key. */
const IMPORT_ACTIONS = new Set(['provision:imported', 'renew', 'reimport', 'restore', 'adopt']);

/** Successful outcomes drawn as marks, by action. */
const MARK_OF_ACTION: Record<string, MarkKind> = {
  onboard: MarkKind.Onboard,
  adopt: MarkKind.Adopt,
  renew: MarkKind.Renewal,
  rotate: MarkKind.Rotation,
  reimport: MarkKind.Reimport,
  restore: MarkKind.Restore,
  revoke: MarkKind.Revoke,
  retire: MarkKind.Retire,
  hold: MarkKind.Incident,
};

/** The engine's wording of a new Valid Until in an outcome reason (shared/lifecycle/apply.ts). */
const UNTIL = /until (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z)/;

/** The Valid Until an outcome reason names, if any. */
export function validUntilOf(reason: string | undefined): number | undefined {
  const m = reason === undefined ? null : UNTIL.exec(reason);
  const ms = m ? Date.parse(m[1]!) : Number.NaN;
  return Number.isFinite(ms) ? ms : undefined;
}

/**
 * Parses an audit JSONL text into the events the report reads; lines that are not JSON objects
 * with a numeric `timeMs` and a string `action` and `phase` are counted as skipped.
 */
export function parseAuditJsonl(text: string): { events: ReportAuditEvent[]; skipped: number } {
  const events: ReportAuditEvent[] = [];
  let skipped = 0;
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    let v: unknown;
    try {
      v = JSON.parse(line);
    } catch {
      skipped++;
      continue;
    }
    const e = v as Record<string, unknown>;
    if (typeof v !== 'object' || v === null || typeof e.timeMs !== 'number' || typeof e.action !== 'string') {
      skipped++;
      continue;
    }
    if (typeof e.phase !== 'string') {
      skipped++;
      continue;
    }
    const s = (k: string) => (typeof e[k] === 'string' ? { [k]: e[k] as string } : {});
    const actor = e.actor as { kind?: unknown; id?: unknown } | undefined;
    events.push({
      timeMs: e.timeMs,
      action: e.action,
      phase: e.phase,
      ...s('outcome'),
      ...s('keyId'),
      ...s('lineage'),
      ...s('reason'),
      ...s('errorCode'),
      ...(actor && typeof actor.kind === 'string' && typeof actor.id === 'string'
        ? { actor: { kind: actor.kind, id: actor.id } }
        : {}),
    });
  }
  return { events, skipped };
}

/** The validity windows and lapses of one key (see the module comment). */
export function windowsOf(
  key: { keyId: string; creationDateMs: number; materialExpireAtMs?: number },
  events: readonly ReportAuditEvent[],
): { windows: ValidityWindow[]; lapses: ValidityWindow[] } {
  const imports = events
    .filter((e) => e.keyId === key.keyId && e.phase === 'outcome' && e.outcome === 'ok' && IMPORT_ACTIONS.has(e.action))
    .map((e) => ({ atMs: e.timeMs, untilMs: validUntilOf(e.reason) }))
    .sort((a, b) => a.atMs - b.atMs);
  const windows: ValidityWindow[] = [];
  const lapses: ValidityWindow[] = [];
  if (imports.length === 0) {
    // No history: the material present now, from the key's creation (the first import is not known).
    if (key.materialExpireAtMs !== undefined)
      windows.push({ fromMs: key.creationDateMs, toMs: key.materialExpireAtMs });
    return { windows, lapses };
  }
  for (let i = 0; i < imports.length; i++) {
    const imp = imports[i]!;
    const next = imports[i + 1];
    if (next) {
      const lapsedAt = imp.untilMs !== undefined && imp.untilMs < next.atMs ? imp.untilMs : undefined;
      windows.push({ fromMs: imp.atMs, toMs: lapsedAt ?? next.atMs });
      if (lapsedAt !== undefined) lapses.push({ fromMs: lapsedAt, toMs: next.atMs });
    } else {
      // The last import: until the Valid Until KMS reports now (none = the material is gone; then
      // until the one the outcome named, when it did).
      const toMs = key.materialExpireAtMs ?? imp.untilMs;
      if (toMs !== undefined && toMs > imp.atMs) windows.push({ fromMs: imp.atMs, toMs });
    }
  }
  return { windows, lapses };
}

/** Normalises a reason for de-duplication (numbers change from sweep to sweep). */
const shape = (s: string | undefined) => (s ?? '').replace(/\d+(\.\d+)?/g, '#');

/**
 * The marks of one lineage: successful outcomes of the actions in MARK_OF_ACTION, failed outcomes
 * of any action and alert decisions (incidents). An alert repeated by every sweep is one mark a day.
 */
export function marksOf(lineage: string, events: readonly ReportAuditEvent[], max = 200): TimelineMark[] {
  const marks: TimelineMark[] = [];
  const seen = new Set<string>();
  for (const e of [...events].sort((a, b) => a.timeMs - b.timeMs)) {
    if (e.lineage !== lineage) continue;
    const key = e.keyId === undefined ? {} : { keyId: e.keyId };
    if (e.phase === 'outcome' && e.outcome === 'failed') {
      const why = `${e.action} failed${e.errorCode ? ` (${e.errorCode})` : ''}${e.reason ? `: ${e.reason}` : ''}`;
      marks.push({ atMs: e.timeMs, kind: MarkKind.Incident, ...key, label: why });
    } else if (e.phase === 'decision' && e.action === 'alert') {
      const day = Math.floor(e.timeMs / DAY_MS);
      const id = `${day}|${e.keyId ?? ''}|${shape(e.reason)}`;
      if (seen.has(id)) continue;
      seen.add(id);
      marks.push({ atMs: e.timeMs, kind: MarkKind.Incident, ...key, label: `alert: ${e.reason ?? '(no reason)'}` });
    } else if (e.phase === 'outcome' && e.outcome === 'ok' && MARK_OF_ACTION[e.action]) {
      marks.push({
        atMs: e.timeMs,
        kind: MARK_OF_ACTION[e.action]!,
        ...key,
        label: `${e.action}: ${e.reason ?? 'ok'}`,
      });
    }
  }
  return marks.slice(Math.max(0, marks.length - max));
}

/** The report's data (pure; see the module comment). */
export function reportData(
  snapshot: Snapshot,
  auditEvents: readonly ReportAuditEvent[],
  alerts: readonly ReportAlert[],
  nowMs: number,
  options: ReportDataOptions = {},
): ReportData {
  const byLineage = new Map<string, LineageReport>();
  for (const k of snapshot.keys) {
    if (!k.managed || !k.lineage) continue;
    let l = byLineage.get(k.lineage);
    if (!l) {
      const alias = `alias/${k.lineage}`;
      const target = snapshot.aliases[alias];
      l = { lineage: k.lineage, alias, ...(target ? { aliasTargetKeyId: target } : {}), generations: [], marks: [] };
      byLineage.set(k.lineage, l);
    }
    const { windows, lapses } = windowsOf(k, auditEvents);
    l.generations.push({
      keyId: k.keyId,
      ...(k.generation === undefined ? {} : { generation: k.generation }),
      aliases: [...k.aliases],
      state: k.state,
      ...(k.phase === undefined ? {} : { phase: k.phase }),
      ...(k.hold === undefined ? {} : { hold: k.hold }),
      current: l.aliasTargetKeyId === k.keyId,
      createdAtMs: k.creationDateMs,
      ...(k.supersededAtMs === undefined ? {} : { supersededAtMs: k.supersededAtMs }),
      ...(k.materialExpireAtMs === undefined ? {} : { materialExpireAtMs: k.materialExpireAtMs }),
      ...(k.deleteDateMs === undefined ? {} : { deleteDateMs: k.deleteDateMs }),
      ...opt('daysLeft', daysLeftOf(k.materialExpireAtMs, nowMs)),
      windows,
      lapses,
    });
  }
  const lineages = [...byLineage.values()].sort((a, b) => a.lineage.localeCompare(b.lineage));
  for (const l of lineages) {
    l.generations.sort((a, b) => (a.generation ?? 0) - (b.generation ?? 0) || a.createdAtMs - b.createdAtMs);
    l.marks = marksOf(l.lineage, auditEvents, options.maxMarksPerLineage);
    const current = l.generations.find((g) => g.current);
    if (current?.daysLeft !== undefined) l.daysLeft = current.daysLeft;
  }
  const unmanaged: UnmanagedKeyRow[] = snapshot.keys
    .filter((k) => k.origin === 'EXTERNAL' && !k.managed)
    .map((k) => ({
      keyId: k.keyId,
      aliases: [...k.aliases],
      state: k.state,
      createdAtMs: k.creationDateMs,
      ...(k.materialExpireAtMs === undefined ? {} : { materialExpireAtMs: k.materialExpireAtMs }),
      ...opt('daysLeft', daysLeftOf(k.materialExpireAtMs, nowMs)),
    }))
    .sort((a, b) => a.keyId.localeCompare(b.keyId));
  const instances: InstanceRow[] = snapshot.instances.map((i) => ({
    instanceId: i.instanceId,
    roles: [...i.roles],
    ...(i.status === undefined ? {} : { status: i.status }),
    ...(i.endDateMs === undefined ? {} : { endDateMs: i.endDateMs }),
    ...opt('daysLeft', daysLeftOf(i.endDateMs, nowMs)),
    ...(i.readError
      ? { readError: i.readError.kmsCode ? `${i.readError.code} (${i.readError.kmsCode})` : i.readError.code }
      : {}),
  }));
  const severityRank = (a: ReportAlert) => (a.severity === 'critical' ? 0 : 1);
  const sortedAlerts = [...alerts].sort(
    (a, b) => severityRank(a) - severityRank(b) || (a.sinceMs ?? nowMs) - (b.sinceMs ?? nowMs),
  );
  const left = lineages.map((l) => l.daysLeft).filter((d): d is number => d !== undefined);
  return {
    nowMs,
    range: rangeOf(lineages, unmanaged, nowMs),
    lineages,
    unmanaged,
    alerts: sortedAlerts,
    instances,
    unobservable: snapshot.unobservable.map((u) => ({ keyId: u.keyId, code: u.code })),
    ...(left.length ? { minDaysLeft: Math.min(...left) } : {}),
    auditEvents: auditEvents.length,
    notes: [...(options.notes ?? [])],
  };
}

/**
 * The shared time axis: from the earliest creation or event to the latest Valid Until, never less
 * than a week either side of now, with 3 % margins so marks at the ends stay visible.
 */
export function rangeOf(
  lineages: readonly LineageReport[],
  unmanaged: readonly UnmanagedKeyRow[],
  nowMs: number,
): { fromMs: number; toMs: number } {
  let from = nowMs - 7 * DAY_MS;
  let to = nowMs + 7 * DAY_MS;
  const see = (ms: number | undefined) => {
    if (ms === undefined || !Number.isFinite(ms)) return;
    from = Math.min(from, ms);
    to = Math.max(to, ms);
  };
  for (const l of lineages) {
    for (const g of l.generations) {
      see(g.createdAtMs);
      see(g.materialExpireAtMs);
      for (const w of g.windows) {
        see(w.fromMs);
        see(w.toMs);
      }
    }
    for (const m of l.marks) see(m.atMs);
  }
  for (const k of unmanaged) {
    see(k.createdAtMs);
    see(k.materialExpireAtMs);
  }
  const margin = Math.round((to - from) * 0.03);
  return { fromMs: from - margin, toMs: to + margin };
}

/**
 * The report's alerts: the alert state's open ones (with since) and the ones seen now (`current`,
 * derived from the plan), matched by fingerprint (see ReportAlert.status).
 */
export function mergeAlerts(
  open: readonly OpenAlert[],
  current: ReadonlyArray<Omit<ReportAlert, 'status' | 'sinceMs'>>,
): ReportAlert[] {
  const now = new Set(current.map((a) => a.fingerprint));
  const stored = new Set(open.map((a) => a.fingerprint));
  const plain = (a: Omit<ReportAlert, 'status' | 'sinceMs'>) => ({
    fingerprint: a.fingerprint,
    severity: a.severity,
    ...(a.keyId === undefined ? {} : { keyId: a.keyId }),
    ...(a.lineage === undefined ? {} : { lineage: a.lineage }),
    ...(a.instanceId === undefined ? {} : { instanceId: a.instanceId }),
    problem: a.problem,
    command: a.command,
  });
  return [
    ...open.map(
      (a): ReportAlert => ({
        ...plain(a),
        sinceMs: a.sinceMs,
        status: now.has(a.fingerprint) ? 'open' : 'stale',
      }),
    ),
    ...current.filter((a) => !stored.has(a.fingerprint)).map((a): ReportAlert => ({ ...plain(a), status: 'new' })),
  ];
}

function opt<K extends string>(key: K, value: number | undefined): { [P in K]?: number } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: number };
}
