/**
 * The HTML report page (`ops report --html`, the local stack's /report), pure: ReportData
 * (report-data.ts) -> one self-contained page. Inline CSS and inline SVG timelines, no script, no
 * font, no image or stylesheet from anywhere else, so it opens offline; a print stylesheet keeps
 * each lineage on one page. Every string from the data is escaped. The data holds ids, aliases,
 * states and times only (never material), and the audit reasons the audit guard already redacted.
 */
import { DAY_MS } from '../lifecycle/model.js';
import {
  MarkKind,
  type GenerationRow,
  type LineageReport,
  type ReportAlert,
  type ReportData,
  type TimelineMark,
} from './report-data.js';

/** Escapes text for HTML element content and double-quoted attribute values. */
export function escapeHtml(s: string): string {
  return s
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&#39;');
}

const e = escapeHtml;

/** `2026-01-01 00:00 UTC`; `-` when unset. */
export function when(ms: number | undefined): string {
  if (ms === undefined || !Number.isFinite(ms)) return '-';
  return `${new Date(ms).toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

const day = (ms: number) => new Date(ms).toISOString().slice(0, 10);

/** `29.9 d`, or `none` when there is no material / end date. */
const daysText = (d: number | undefined, none = 'none') => (d === undefined ? none : `${d.toFixed(1)} d`);

/** CSS class of a days-left figure: expired, under 7 days, under 30 days, fine. */
function urgency(d: number | undefined): string {
  if (d === undefined) return 'none';
  if (d < 0) return 'lapsed';
  if (d < 7) return 'crit';
  if (d < 30) return 'warn';
  return 'ok';
}

const CSS = `
:root { --ink:#1d2733; --muted:#5b6878; --line:#d5dbe3; --ok:#2e8b57; --warn:#c98a00; --crit:#c0392b;
  --win:#4caf7a; --old:#9fcfb3; --life:#e9edf2; --now:#c0392b; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
  color: var(--ink); margin: 24px auto; max-width: 1180px; padding: 0 16px; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 17px; margin: 28px 0 8px; border-bottom: 1px solid var(--line); }
h3 { font-size: 15px; margin: 0 0 6px; }
.meta { color: var(--muted); margin: 0 0 2px; }
.summary { display: flex; gap: 12px; flex-wrap: wrap; margin: 14px 0; }
.card { border: 1px solid var(--line); border-radius: 6px; padding: 8px 12px; min-width: 150px; }
.card b { display: block; font-size: 20px; }
.lineage { border: 1px solid var(--line); border-radius: 6px; padding: 12px; margin: 0 0 16px; break-inside: avoid; }
.lineage svg { width: 100%; height: auto; display: block; }
table { border-collapse: collapse; width: 100%; margin: 6px 0; font-size: 13px; }
th, td { text-align: left; padding: 3px 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { color: var(--muted); font-weight: 600; }
code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12px; }
.ok { color: var(--ok); } .warn { color: var(--warn); }
.crit, .lapsed, .critical { color: var(--crit); font-weight: 600; }
.none { color: var(--muted); } .warning { color: var(--warn); font-weight: 600; }
.legend { color: var(--muted); font-size: 12px; }
.empty { color: var(--muted); font-style: italic; }
@media print {
  @page { size: A4 landscape; margin: 12mm; }
  body { margin: 0; max-width: none; font-size: 11px; }
  * { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  h2 { break-after: avoid; }
  .lineage, table tr { break-inside: avoid; }
}
`;

// ---------------------------------------------------------------------------------------------
// Timelines (inline SVG)

const W = 1000;
const LABEL_W = 190;
const ROW_H = 24;
const TOP = 22;

function xOf(data: ReportData, ms: number): number {
  const { fromMs, toMs } = data.range;
  const t = (Math.min(Math.max(ms, fromMs), toMs) - fromMs) / (toMs - fromMs || 1);
  return Math.round((LABEL_W + t * (W - LABEL_W - 10)) * 10) / 10;
}

/** About six ticks on whole days (or months over a long range). */
export function ticksOf(range: { fromMs: number; toMs: number }): number[] {
  const spanDays = (range.toMs - range.fromMs) / DAY_MS;
  const steps = [1, 2, 7, 14, 30, 60, 90, 180, 365, 730];
  const step = (steps.find((s) => spanDays / s <= 7) ?? Math.ceil(spanDays / 7)) * DAY_MS;
  const out: number[] = [];
  for (let t = Math.ceil(range.fromMs / step) * step; t <= range.toMs; t += step) out.push(t);
  return out;
}

const MARK_COLOR: Record<MarkKind, string> = {
  onboard: '#2b6cb0',
  adopt: '#2b6cb0',
  renewal: '#2e8b57',
  rotation: '#6b46c1',
  reimport: '#dd6b20',
  restore: '#dd6b20',
  revoke: '#1d2733',
  retire: '#5b6878',
  incident: '#c0392b',
};

function markShape(kind: MarkKind, x: number, y: number): string {
  const c = MARK_COLOR[kind];
  if (kind === MarkKind.Incident)
    return `<path class="mark-incident" d="M${x} ${y - 7} L${x + 6} ${y + 5} L${x - 6} ${y + 5} Z" fill="${c}"/>`;
  if (kind === MarkKind.Rotation) {
    const diamond = `M${x} ${y - 6} L${x + 6} ${y} L${x} ${y + 6} L${x - 6} ${y} Z`;
    return `<path class="mark-rotation" d="${diamond}" fill="${c}"/>`;
  }
  return `<circle class="mark-${kind}" cx="${x}" cy="${y}" r="4.5" fill="${c}" stroke="#fff" stroke-width="1"/>`;
}

function generationLabel(g: GenerationRow): string {
  const gen = g.generation === undefined ? 'gen ?' : `gen ${g.generation}`;
  return `${gen}${g.current ? ' (current)' : ''} ${g.keyId.length > 14 ? `${g.keyId.slice(0, 13)}…` : g.keyId}`;
}

function generationRow(data: ReportData, g: GenerationRow, y: number): string {
  const parts: string[] = [];
  const x0 = xOf(data, g.createdAtMs);
  const x1 = xOf(data, g.deleteDateMs ?? data.range.toMs);
  parts.push(`<text x="4" y="${y + 15}" font-size="12" fill="#1d2733">${e(generationLabel(g))}</text>`);
  parts.push(
    `<rect class="lifetime" x="${x0}" y="${y + 6}" width="${Math.max(1, x1 - x0)}" height="12" fill="#e9edf2">` +
      `<title>${e(`${g.keyId}: created ${when(g.createdAtMs)}, ${g.state}`)}</title></rect>`,
  );
  for (const w of g.windows) {
    const a = xOf(data, w.fromMs);
    const b = xOf(data, w.toMs);
    const live = w.toMs === g.materialExpireAtMs;
    const title = `material valid ${when(w.fromMs)} to ${when(w.toMs)}`;
    parts.push(
      `<rect class="window" x="${a}" y="${y + 6}" width="${Math.max(1, b - a)}" height="12" ` +
        `fill="${live ? '#4caf7a' : '#9fcfb3'}"><title>${e(title)}</title></rect>`,
    );
  }
  for (const l of g.lapses) {
    const a = xOf(data, l.fromMs);
    const b = xOf(data, l.toMs);
    const title = `no material (lapsed) ${when(l.fromMs)} to ${when(l.toMs)}`;
    parts.push(
      `<rect class="lapse" x="${a}" y="${y + 6}" width="${Math.max(1, b - a)}" height="12" fill="#f3c1bb" ` +
        `stroke="#c0392b" stroke-width="1"><title>${e(title)}</title></rect>`,
    );
  }
  if (g.supersededAtMs !== undefined) {
    const xs = xOf(data, g.supersededAtMs);
    parts.push(
      `<line class="superseded" x1="${xs}" y1="${y + 3}" x2="${xs}" y2="${y + 21}" stroke="#6b46c1" stroke-width="2">` +
        `<title>${e(`alias moved away ${when(g.supersededAtMs)}`)}</title></line>`,
    );
  }
  if (g.materialExpireAtMs !== undefined) {
    const xe = xOf(data, g.materialExpireAtMs);
    const text = `${daysText(g.daysLeft)} left`;
    const anchor = xe > W - 90 ? 'end' : 'start';
    const tx = anchor === 'end' ? xe - 4 : xe + 4;
    parts.push(
      `<text class="days-left" x="${tx}" y="${y + 16}" font-size="11" text-anchor="${anchor}">${e(text)}</text>`,
    );
  }
  return parts.join('');
}

/** One lineage's timeline as an inline SVG. */
export function timelineSvg(data: ReportData, l: LineageReport): string {
  const rows = l.generations.length;
  const marksY = TOP + rows * ROW_H + 12;
  const height = marksY + 24;
  const parts: string[] = [];
  const title = `Timeline of ${l.alias}: ${rows} generation(s), ${l.marks.length} event(s)`;
  parts.push(
    `<svg class="timeline" viewBox="0 0 ${W} ${height}" role="img" ` +
      `aria-label="${e(title)}"><title>${e(title)}</title>`,
  );
  for (const t of ticksOf(data.range)) {
    const x = xOf(data, t);
    parts.push(`<line x1="${x}" y1="${TOP - 4}" x2="${x}" y2="${height - 4}" stroke="#eef1f5" stroke-width="1"/>`);
    parts.push(`<text x="${x}" y="12" font-size="10" fill="#5b6878" text-anchor="middle">${e(day(t))}</text>`);
  }
  for (const [i, g] of l.generations.entries()) parts.push(generationRow(data, g, TOP + i * ROW_H));
  parts.push(`<text x="4" y="${marksY + 4}" font-size="12" fill="#5b6878">events</text>`);
  for (const m of l.marks) {
    const row = l.generations.findIndex((g) => g.keyId === m.keyId);
    const y = row >= 0 && m.kind !== MarkKind.Incident ? TOP + row * ROW_H + 12 : marksY;
    parts.push(
      `<g class="mark" data-kind="${e(m.kind)}">${markShape(m.kind, xOf(data, m.atMs), y)}` +
        `<title>${e(`${when(m.atMs)} ${m.kind}${m.keyId ? ` ${m.keyId}` : ''}: ${m.label}`)}</title></g>`,
    );
  }
  const xn = xOf(data, data.nowMs);
  parts.push(
    `<line class="today" x1="${xn}" y1="${TOP - 6}" x2="${xn}" y2="${height - 2}" stroke="#c0392b" ` +
      `stroke-width="1.5" stroke-dasharray="4 3"><title>${e(`now: ${when(data.nowMs)}`)}</title></line>`,
  );
  parts.push(`<text x="${xn + 3}" y="${TOP - 8}" font-size="10" fill="#c0392b">today</text>`);
  parts.push('</svg>');
  return parts.join('');
}

// ---------------------------------------------------------------------------------------------
// Sections

function table(head: string[], rows: string[][]): string {
  const th = head.map((h) => `<th>${e(h)}</th>`).join('');
  // Cells are given as HTML (already escaped by the caller).
  const body = rows.map((r) => `<tr>${r.map((c) => `<td>${c}</td>`).join('')}</tr>`).join('');
  return `<table><thead><tr>${th}</tr></thead><tbody>${body}</tbody></table>`;
}

const days = (d: number | undefined, none = 'none') => `<span class="${urgency(d)}">${e(daysText(d, none))}</span>`;

function generationTable(l: LineageReport): string {
  const rows = l.generations.map((g) => [
    e(g.generation === undefined ? '?' : String(g.generation)) + (g.current ? ' <b>current</b>' : ''),
    `<code>${e(g.keyId)}</code>`,
    e(g.state) + (g.hold ? ` <span class="crit">hold: ${e(g.hold)}</span>` : ''),
    e(g.phase ?? '-'),
    e(when(g.createdAtMs)),
    e(when(g.supersededAtMs)),
    e(g.materialExpireAtMs === undefined ? 'none (no material)' : when(g.materialExpireAtMs)),
    days(g.daysLeft),
  ]);
  return table(['GEN', 'KEY', 'STATE', 'PHASE', 'CREATED', 'SUPERSEDED', 'VALID UNTIL', 'DAYS LEFT'], rows);
}

/** Events listed under a timeline (newest first); the timeline shows them all. */
const EVENTS_SHOWN = 30;

function eventTable(marks: readonly TimelineMark[]): string {
  if (marks.length === 0) return '<p class="empty">No events in the audit log for this lineage.</p>';
  const shown = [...marks].reverse().slice(0, EVENTS_SHOWN);
  const rows = shown.map((m) => [
    e(when(m.atMs)),
    `<span class="${m.kind === MarkKind.Incident ? 'crit' : ''}">${e(m.kind)}</span>`,
    m.keyId ? `<code>${e(m.keyId)}</code>` : '-',
    e(m.label),
  ]);
  const more = marks.length - shown.length;
  const note = more > 0 ? `<p class="meta">${more} older event(s) are on the timeline only.</p>` : '';
  return `${table(['TIME', 'EVENT', 'KEY', 'WHAT'], rows)}${note}`;
}

function lineageSection(data: ReportData, l: LineageReport): string {
  const target = l.aliasTargetKeyId
    ? `<code>${e(l.aliasTargetKeyId)}</code>`
    : '<span class="crit">no alias target</span>';
  return (
    `<section class="lineage" id="lineage-${e(l.lineage)}"><h3>${e(l.alias)} ` +
    `<span class="meta">→ ${target} · days left: ${days(l.daysLeft)}</span></h3>` +
    `${timelineSvg(data, l)}${generationTable(l)}${eventTable(l.marks)}</section>`
  );
}

const ALERT_STATUS: Record<ReportAlert['status'], string> = {
  open: 'open',
  new: 'seen now, not yet sent (the next sweep sends it)',
  stale: 'open in the alert state, not seen by this read-only check (the next sweep decides)',
};

function alertsSection(data: ReportData): string {
  if (data.alerts.length === 0) return '<p class="empty">No open alerts.</p>';
  const rows = data.alerts.map((a) => [
    `<span class="${e(a.severity)}">${e(a.severity.toUpperCase())}</span>`,
    e(
      a.instanceId
        ? `instance ${a.instanceId}`
        : a.keyId
          ? `${a.keyId}${a.lineage ? ` (${a.lineage})` : ''}`
          : (a.lineage ?? '-'),
    ),
    e(a.problem),
    `<code>${e(a.command)}</code>`,
    e(when(a.sinceMs)),
    e(ALERT_STATUS[a.status]),
  ]);
  return table(['SEVERITY', 'ABOUT', 'PROBLEM', 'FIX', 'SINCE', 'STATUS'], rows);
}

function unmanagedSection(data: ReportData): string {
  if (data.unmanaged.length === 0) return '<p class="empty">No unmanaged EXTERNAL keys.</p>';
  const rows = data.unmanaged.map((k) => [
    `<code>${e(k.keyId)}</code>`,
    e(k.aliases.join(' ') || '-'),
    e(k.state),
    e(when(k.createdAtMs)),
    e(k.materialExpireAtMs === undefined ? 'none (no material)' : when(k.materialExpireAtMs)),
    days(k.daysLeft),
  ]);
  return (
    '<p class="meta">Nobody renews the material of these keys: adopt them (npm run ops -- adopt) or make sure ' +
    `their owner does.</p>${table(['KEY', 'ALIASES', 'STATE', 'CREATED', 'VALID UNTIL', 'DAYS LEFT'], rows)}`
  );
}

function instancesSection(data: ReportData): string {
  if (data.instances.length === 0) return '<p class="empty">No KMS 3.0 instance is configured.</p>';
  const rows = data.instances.map((i) => [
    `<code>${e(i.instanceId)}</code>`,
    e(i.roles.join(', ')),
    e(i.readError ? `could not be read: ${i.readError}` : (i.status ?? '-')),
    e(i.endDateMs === undefined ? 'none given' : when(i.endDateMs)),
    days(i.daysLeft, '-'),
  ]);
  return table(['INSTANCE', 'HOLDS', 'STATUS', 'ENDS', 'DAYS LEFT'], rows);
}

/** The whole page (see the module comment). */
export function renderReportHtml(data: ReportData): string {
  const critical = data.alerts.filter((a) => a.severity === 'critical').length;
  const cards = [
    ['lineages', String(data.lineages.length), ''],
    ['least days left', daysText(data.minDaysLeft), urgency(data.minDaysLeft)],
    [
      'open alerts',
      `${data.alerts.length} (${critical} critical)`,
      critical ? 'crit' : data.alerts.length ? 'warn' : 'ok',
    ],
    ['unmanaged EXTERNAL keys', String(data.unmanaged.length), data.unmanaged.length ? 'warn' : 'ok'],
    ['audit events read', String(data.auditEvents), ''],
  ];
  const unobservable = data.unobservable.length
    ? `<h2>Keys that could not be read</h2>${table(
        ['KEY', 'ERROR'],
        data.unobservable.map((u) => [`<code>${e(u.keyId)}</code>`, e(u.code)]),
      )}`
    : '';
  const lineages = data.lineages.length
    ? data.lineages.map((l) => lineageSection(data, l)).join('\n')
    : '<p class="empty">No managed lineage yet (npm run ops -- onboard alias/&lt;name&gt;).</p>';
  return [
    '<!DOCTYPE html>',
    '<html lang="en"><head><meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>BYOK key report ${e(when(data.nowMs))}</title>`,
    `<style>${CSS}</style></head><body>`,
    '<h1>BYOK key report</h1>',
    `<p class="meta">As of ${e(when(data.nowMs))} (the engine clock). Read-only: nothing was changed.</p>`,
    ...data.notes.map((n) => `<p class="meta">${e(n)}</p>`),
    `<div class="summary">${cards
      .map(([k, v, c]) => `<div class="card"><span class="meta">${e(k!)}</span><b class="${c}">${e(v!)}</b></div>`)
      .join('')}</div>`,
    '<h2>Open alerts</h2>',
    alertsSection(data),
    '<h2>Lineages</h2>',
    '<p class="legend">Grey: the key exists · green: material valid (dark: now) · red box: lapsed, no material · ' +
      'purple bar: alias moved away · dots: renewals (green), re-imports (orange), onboard/adopt (blue) · ' +
      'diamond: rotation · red triangle: incident · dashed red line: now.</p>',
    lineages,
    '<h2>Unmanaged EXTERNAL keys</h2>',
    unmanagedSection(data),
    '<h2>KMS instances</h2>',
    instancesSection(data),
    unobservable,
    '</body></html>',
    '',
  ].join('\n');
}
