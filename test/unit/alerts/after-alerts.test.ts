import { describe, expect, it } from 'vitest';
import type { Alert } from '../../../shared/alerts/model.js';
import { createAlertNotifier, type AlertReport } from '../../../shared/alerts/notifier.js';
import { memoryAlertStateStore } from '../../../shared/alerts/state.js';
import { silentLogger } from '../../../shared/log.js';

const T0 = 1_800_000_000_000;
const alert = (fingerprint: string, lineage: string): Alert => ({
  fingerprint,
  severity: 'critical',
  lineage,
  problem: `renew failed for ${lineage}`,
  command: 'npm run ops -- sweep',
});
const summary = { counts: {}, critical: 0, warning: 0, unusableKeys: [] };

function notifier() {
  const reports: AlertReport[] = [];
  const n = createAlertNotifier({
    store: memoryAlertStateStore(),
    sinks: [{ name: 'test', deliver: async (r) => void reports.push(r) }],
    resendMs: { critical: 86_400_000, warning: 86_400_000 },
    log: silentLogger,
  });
  return { n, reports };
}

describe('afterAlerts (a sharded sweep merged)', () => {
  it('opens the merged alerts once and closes the missing ones it may', async () => {
    const { n } = notifier();
    await n.afterAlerts({ alerts: [alert('f1', 'a'), alert('f2', 'b')], summary, nowMs: T0, mayRecover: () => true });
    const next = await n.afterAlerts({ alerts: [alert('f2', 'b')], summary, nowMs: T0 + 1, mayRecover: () => true });
    expect(next.map((x) => [x.kind, x.lineage])).toEqual([['recovered', 'a']]);
  });

  it('keeps open an alert whose lineage it may not close (a shard skipped it, or alerts were left out)', async () => {
    const { n } = notifier();
    await n.afterAlerts({ alerts: [alert('f1', 'a')], summary, nowMs: T0, mayRecover: () => true });
    expect(await n.afterAlerts({ alerts: [], summary, nowMs: T0 + 1, mayRecover: (l) => l !== 'a' })).toEqual([]);
    expect(await n.afterAlerts({ alerts: [], summary, nowMs: T0 + 2, mayRecover: () => false })).toEqual([]);
  });

  it('hands the sinks the sharded summary', async () => {
    const { n, reports } = notifier();
    await n.afterAlerts({
      alerts: [alert('f1', 'a')],
      summary: { ...summary, critical: 1 },
      nowMs: T0,
      mayRecover: () => true,
    });
    expect(reports[0]?.summary).toEqual({ ...summary, critical: 1 });
  });
});
