/**
 * The HTML report's data and page without KMS: validity windows and lapses from the audit log,
 * days left, timeline marks (renewals, rotations, incidents, one alert mark a day), unmanaged
 * EXTERNAL keys, alerts (state vs seen now), instance end dates, and a page that escapes every
 * string and loads nothing from elsewhere.
 */
import { describe, expect, it } from 'vitest';
import type { OpenAlert } from '../../../shared/alerts/state.js';
import { DAY_MS, type KeyView, type Snapshot } from '../../../shared/lifecycle/model.js';
import {
  mergeAlerts,
  parseAuditJsonl,
  reportData,
  validUntilOf,
  windowsOf,
  type ReportAuditEvent,
} from '../../../shared/ops/report-data.js';
import { escapeHtml, renderReportHtml, ticksOf } from '../../../shared/ops/report-html.js';
import { WRITE_COMMANDS, parseOpsRequest } from '../../../shared/ops/commands.js';

const T0 = Date.parse('2027-03-01T00:00:00Z');
const iso = (ms: number) => new Date(ms).toISOString();

const key = (over: Partial<KeyView> & { keyId: string }): KeyView => ({
  state: 'Enabled',
  origin: 'EXTERNAL',
  keySpec: 'Aliyun_AES_256',
  creationDateMs: T0,
  managed: true,
  untaggedMarker: false,
  aliases: [],
  ...over,
});

const snapshot = (over: Partial<Snapshot> = {}): Snapshot => ({
  takenAtMs: T0,
  keys: [],
  aliases: {},
  escrow: {},
  escrowUnreadable: [],
  unobservable: [],
  instances: [],
  ...over,
});

const ev = (over: Partial<ReportAuditEvent> & { timeMs: number; action: string }): ReportAuditEvent => ({
  phase: 'outcome',
  outcome: 'ok',
  ...over,
});

/** Lineage `pay`: gen 1 (superseded at day 40), gen 2 (current, created day 40, valid to day 100). */
function payWorld() {
  const gen1 = key({
    keyId: 'key-gen1',
    lineage: 'pay',
    generation: 1,
    phase: 'ready',
    creationDateMs: T0,
    materialExpireAtMs: T0 + 70 * DAY_MS,
    supersededAtMs: T0 + 40 * DAY_MS,
  });
  const gen2 = key({
    keyId: 'key-gen2',
    lineage: 'pay',
    generation: 2,
    phase: 'ready',
    creationDateMs: T0 + 40 * DAY_MS,
    materialExpireAtMs: T0 + 100 * DAY_MS,
    aliases: ['alias/pay'],
  });
  const snap = snapshot({ keys: [gen2, gen1], aliases: { 'alias/pay': 'key-gen2' } });
  const events: ReportAuditEvent[] = [
    ev({ timeMs: T0 + 1000, action: 'provision:imported', keyId: 'key-gen1', lineage: 'pay' }),
    ev({ timeMs: T0 + 2000, action: 'onboard', keyId: undefined, lineage: 'pay', reason: 'onboarded' }),
    // Renewed at day 20 until day 50, which lapsed; re-imported at day 55 until day 70.
    ev({
      timeMs: T0 + 20 * DAY_MS,
      action: 'renew',
      keyId: 'key-gen1',
      lineage: 'pay',
      reason: `renewed until ${iso(T0 + 50 * DAY_MS)}`,
    }),
    ev({
      timeMs: T0 + 40 * DAY_MS,
      action: 'rotate',
      keyId: 'key-gen1',
      lineage: 'pay',
      reason: 'rotated to generation 2',
    }),
    ev({ timeMs: T0 + 40 * DAY_MS + 5, action: 'provision:imported', keyId: 'key-gen2', lineage: 'pay' }),
    ev({
      timeMs: T0 + 55 * DAY_MS,
      action: 'reimport',
      keyId: 'key-gen1',
      lineage: 'pay',
      reason: `re-imported, valid until ${iso(T0 + 70 * DAY_MS)}`,
    }),
  ];
  return { snap, events };
}

describe('validity windows from the audit log', () => {
  it('reads the Valid Until the engine names in an outcome reason', () => {
    expect(validUntilOf(`renewed until ${iso(T0)}`)).toBe(T0);
    expect(validUntilOf('re-imported, valid until 2027-03-02T00:00:00.000Z')).toBe(T0 + DAY_MS);
    expect(validUntilOf('hold cleared; key is Enabled')).toBeUndefined();
    expect(validUntilOf(undefined)).toBeUndefined();
  });

  it('one window per import, a lapse where a Valid Until passed before the next import', () => {
    const { snap, events } = payWorld();
    const gen1 = snap.keys.find((k) => k.keyId === 'key-gen1')!;
    const { windows, lapses } = windowsOf(gen1, events);
    expect(windows).toEqual([
      { fromMs: T0 + 1000, toMs: T0 + 20 * DAY_MS },
      { fromMs: T0 + 20 * DAY_MS, toMs: T0 + 50 * DAY_MS },
      { fromMs: T0 + 55 * DAY_MS, toMs: T0 + 70 * DAY_MS },
    ]);
    expect(lapses).toEqual([{ fromMs: T0 + 50 * DAY_MS, toMs: T0 + 55 * DAY_MS }]);
  });

  it('without history: one window from creation to the current Valid Until; none without material', () => {
    const k = key({ keyId: 'k', creationDateMs: T0, materialExpireAtMs: T0 + 30 * DAY_MS });
    expect(windowsOf(k, [])).toEqual({ windows: [{ fromMs: T0, toMs: T0 + 30 * DAY_MS }], lapses: [] });
    expect(windowsOf(key({ keyId: 'k2', state: 'PendingImport' }), [])).toEqual({ windows: [], lapses: [] });
  });

  it('a failed or skipped import starts no window', () => {
    const k = key({ keyId: 'k', creationDateMs: T0, materialExpireAtMs: T0 + 30 * DAY_MS });
    const failed = ev({ timeMs: T0 + DAY_MS, action: 'renew', keyId: 'k', outcome: 'failed' });
    const skipped = ev({ timeMs: T0 + 2 * DAY_MS, action: 'renew', keyId: 'k', outcome: 'skipped' });
    expect(windowsOf(k, [failed, skipped]).windows).toEqual([{ fromMs: T0, toMs: T0 + 30 * DAY_MS }]);
  });
});

describe('reportData', () => {
  it('groups generations by lineage, marks the alias target current, days left of the current one', () => {
    const { snap, events } = payWorld();
    const now = T0 + 60 * DAY_MS + DAY_MS / 2;
    const d = reportData(snap, events, [], now);
    expect(d.lineages.map((l) => l.lineage)).toEqual(['pay']);
    const pay = d.lineages[0]!;
    expect(pay.alias).toBe('alias/pay');
    expect(pay.aliasTargetKeyId).toBe('key-gen2');
    expect(pay.generations.map((g) => [g.generation, g.keyId, g.current])).toEqual([
      [1, 'key-gen1', false],
      [2, 'key-gen2', true],
    ]);
    // 39.5 days to day 100; 9.5 to day 70.
    expect(pay.daysLeft).toBe(39.5);
    expect(pay.generations[0]!.daysLeft).toBe(9.5);
    expect(pay.generations[0]!.supersededAtMs).toBe(T0 + 40 * DAY_MS);
    expect(d.minDaysLeft).toBe(39.5);
    expect(d.auditEvents).toBe(events.length);
  });

  it('days left rounds down to one decimal, negative once lapsed', () => {
    const k = key({ keyId: 'k', lineage: 'x', generation: 1, materialExpireAtMs: T0 + 29.96 * DAY_MS });
    const d = reportData(snapshot({ keys: [k], aliases: { 'alias/x': 'k' } }), [], [], T0);
    expect(d.lineages[0]!.daysLeft).toBe(29.9);
    const late = reportData(snapshot({ keys: [k], aliases: { 'alias/x': 'k' } }), [], [], T0 + 31 * DAY_MS);
    expect(late.lineages[0]!.daysLeft).toBe(-1.1);
  });

  it('marks: renewals, rotations, re-imports, onboard; provisioning steps are not marks', () => {
    const { snap, events } = payWorld();
    const d = reportData(snap, events, [], T0 + 60 * DAY_MS);
    expect(d.lineages[0]!.marks.map((m) => [m.kind, m.atMs])).toEqual([
      ['onboard', T0 + 2000],
      ['renewal', T0 + 20 * DAY_MS],
      ['rotation', T0 + 40 * DAY_MS],
      ['reimport', T0 + 55 * DAY_MS],
    ]);
  });

  it('incidents: failed outcomes, and an alert repeated by every sweep is one mark a day', () => {
    const k = key({ keyId: 'k', lineage: 'x', generation: 1, materialExpireAtMs: T0 + 5 * DAY_MS });
    const alert = (t: number, days: number) =>
      ev({
        timeMs: t,
        action: 'alert',
        phase: 'decision',
        outcome: undefined,
        keyId: 'k',
        lineage: 'x',
        reason: `expires in ${days} d`,
      });
    const events = [
      alert(T0 + 1000, 5),
      alert(T0 + 2000, 5),
      alert(T0 + DAY_MS + 1000, 4),
      ev({
        timeMs: T0 + 3000,
        action: 'renew',
        keyId: 'k',
        lineage: 'x',
        outcome: 'failed',
        errorCode: 'ERR_KMS',
        reason: 'throttled',
      }),
      ev({ timeMs: T0 + 4000, action: 'lease', lineage: 'x' }),
      ev({ timeMs: T0 + 5000, action: 'renew', keyId: 'other', lineage: 'y' }),
    ];
    const d = reportData(snapshot({ keys: [k], aliases: { 'alias/x': 'k' } }), events, [], T0);
    expect(d.lineages[0]!.marks.map((m) => [m.kind, m.atMs, m.label])).toEqual([
      ['incident', T0 + 1000, 'alert: expires in 5 d'],
      ['incident', T0 + 3000, 'renew failed (ERR_KMS): throttled'],
      ['incident', T0 + DAY_MS + 1000, 'alert: expires in 4 d'],
    ]);
  });

  it('unmanaged EXTERNAL keys with their days left; Aliyun_KMS keys are not listed', () => {
    const snap = snapshot({
      keys: [
        key({ keyId: 'hand-2', managed: false, aliases: ['alias/legacy'], materialExpireAtMs: T0 + 3 * DAY_MS }),
        key({ keyId: 'hand-1', managed: false, state: 'PendingImport' }),
        key({ keyId: 'escrow-cmk', managed: false, origin: 'Aliyun_KMS' }),
      ],
    });
    const d = reportData(snap, [], [], T0 + DAY_MS);
    expect(d.unmanaged.map((k) => [k.keyId, k.aliases, k.state, k.daysLeft])).toEqual([
      ['hand-1', [], 'PendingImport', undefined],
      ['hand-2', ['alias/legacy'], 'Enabled', 2],
    ]);
    expect(d.lineages).toEqual([]);
    expect(d.minDaysLeft).toBeUndefined();
  });

  it('instances with their end dates and days left, and read errors', () => {
    const snap = snapshot({
      instances: [
        { instanceId: 'kst-a', roles: ['keys'], status: 'Connected', endDateMs: T0 + 12 * DAY_MS },
        { instanceId: 'kst-b', roles: ['escrow'], readError: { code: 'ERR_KMS', kmsCode: 'Forbidden.NoPermission' } },
      ],
    });
    const d = reportData(snap, [], [], T0);
    expect(d.instances).toEqual([
      { instanceId: 'kst-a', roles: ['keys'], status: 'Connected', endDateMs: T0 + 12 * DAY_MS, daysLeft: 12 },
      { instanceId: 'kst-b', roles: ['escrow'], readError: 'ERR_KMS (Forbidden.NoPermission)' },
    ]);
  });

  it('alerts: critical first, then oldest first', () => {
    const base = { problem: 'p', command: 'c', status: 'open' as const };
    const d = reportData(
      snapshot(),
      [],
      [
        { ...base, fingerprint: 'w', severity: 'warning', sinceMs: T0 - 5 * DAY_MS },
        { ...base, fingerprint: 'c2', severity: 'critical', sinceMs: T0 - DAY_MS },
        { ...base, fingerprint: 'c1', severity: 'critical', sinceMs: T0 - 2 * DAY_MS },
      ],
      T0,
    );
    expect(d.alerts.map((a) => a.fingerprint)).toEqual(['c1', 'c2', 'w']);
  });

  it('the time axis covers every creation, window and mark, at least a week either side of now', () => {
    const { snap, events } = payWorld();
    const d = reportData(snap, events, [], T0 + 60 * DAY_MS);
    expect(d.range.fromMs).toBeLessThan(T0);
    expect(d.range.toMs).toBeGreaterThan(T0 + 100 * DAY_MS);
    const empty = reportData(snapshot(), [], [], T0);
    expect(empty.range.fromMs).toBeLessThanOrEqual(T0 - 7 * DAY_MS);
    expect(empty.range.toMs).toBeGreaterThanOrEqual(T0 + 7 * DAY_MS);
  });
});

describe('mergeAlerts', () => {
  const open = (fingerprint: string, sinceMs: number): OpenAlert => ({
    fingerprint,
    severity: 'critical',
    keyId: 'k',
    problem: `problem ${fingerprint}`,
    command: 'npm run ops -- status',
    sinceMs,
    lastSentAtMs: sinceMs,
  });
  it('open = in the state and seen now; stale = only in the state; new = only seen now', () => {
    const now = (fingerprint: string) => ({
      fingerprint,
      severity: 'warning' as const,
      problem: `now ${fingerprint}`,
      command: 'c',
    });
    const merged = mergeAlerts([open('a', T0), open('b', T0 + 1)], [now('a'), now('c')]);
    expect(merged.map((a) => [a.fingerprint, a.status, a.sinceMs])).toEqual([
      ['a', 'open', T0],
      ['b', 'stale', T0 + 1],
      ['c', 'new', undefined],
    ]);
    expect(merged[0]).not.toHaveProperty('lastSentAtMs');
  });
});

describe('parseAuditJsonl', () => {
  it('keeps the fields the report reads and counts lines that are not events', () => {
    const text = [
      JSON.stringify({
        seq: 1,
        timeMs: T0,
        action: 'renew',
        phase: 'outcome',
        outcome: 'ok',
        keyId: 'k',
        lineage: 'x',
        actor: { kind: 'timer', id: 't' },
        hash: 'h',
      }),
      'not json',
      JSON.stringify({ timeMs: 'yesterday', action: 'renew', phase: 'outcome' }),
      JSON.stringify({ timeMs: T0, action: 'renew' }),
      '',
    ].join('\n');
    const { events, skipped } = parseAuditJsonl(text);
    expect(events).toEqual([
      {
        timeMs: T0,
        action: 'renew',
        phase: 'outcome',
        outcome: 'ok',
        keyId: 'k',
        lineage: 'x',
        actor: { kind: 'timer', id: 't' },
      },
    ]);
    expect(skipped).toBe(3);
  });
});

describe('renderReportHtml', () => {
  it('escapes every string it is given', () => {
    expect(escapeHtml(`<a href="x">'&'</a>`)).toBe('&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;');
    const k = key({ keyId: 'k<1>', lineage: 'x', generation: 1, materialExpireAtMs: T0 + DAY_MS });
    const hostile = '<script>alert(1)</script>';
    const events = [
      ev({ timeMs: T0, action: 'renew', keyId: 'k<1>', lineage: 'x', outcome: 'failed', reason: hostile }),
    ];
    const alerts = [
      {
        fingerprint: 'f',
        severity: 'critical' as const,
        problem: hostile,
        command: '<img src=x>',
        status: 'new' as const,
      },
    ];
    const html = renderReportHtml(
      reportData(snapshot({ keys: [k], aliases: { 'alias/x': 'k<1>' } }), events, alerts, T0, { notes: [hostile] }),
    );
    expect(html).not.toContain('<script');
    expect(html).not.toContain('<img');
    expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(html).toContain('k&lt;1&gt;');
  });

  it('one self-contained page: a timeline per lineage, no script, nothing loaded from elsewhere', () => {
    const { snap, events } = payWorld();
    const snap2 = {
      ...snap,
      keys: [...snap.keys, key({ keyId: 'hand-1', managed: false, aliases: ['alias/legacy'] })],
      instances: [{ instanceId: 'kst-a', roles: ['keys' as const], endDateMs: T0 + 90 * DAY_MS }],
    };
    const html = renderReportHtml(reportData(snap2, events, [], T0 + 60 * DAY_MS));
    expect(html.startsWith('<!DOCTYPE html>')).toBe(true);
    expect(html.match(/<svg class="timeline"/g)).toHaveLength(1);
    expect(html).toContain('alias/pay');
    expect(html).toContain('hand-1');
    expect(html).toContain('kst-a');
    expect(html).toContain('class="today"');
    expect(html).toContain('class="lapse"');
    expect(html).toContain('@media print');
    expect(html).not.toMatch(/<script|<link|@import|url\(|https?:\/\/|src=/i);
  });

  it('ticks fall on whole days, about six across the axis', () => {
    const ticks = ticksOf({ fromMs: T0 - 3 * DAY_MS, toMs: T0 + 40 * DAY_MS });
    expect(ticks.length).toBeGreaterThanOrEqual(3);
    expect(ticks.length).toBeLessThanOrEqual(8);
    for (const t of ticks) expect(t % DAY_MS).toBe(0);
  });
});

describe('the report request', () => {
  it('the ops function accepts it, and it is a read (no operator needed)', () => {
    expect(parseOpsRequest({ command: 'report' })).toEqual({ command: 'report' });
    expect(WRITE_COMMANDS.has('report')).toBe(false);
  });
});
