/**
 * Shards of a sharded sweep against the emulator: each sweeps only its lineages, and only the shard
 * that completes the ledger tells the alert notifier, once, with every shard's alerts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AlertReport } from '../../../shared/alerts/notifier.js';
import { createAlertNotifier } from '../../../shared/alerts/notifier.js';
import { memoryAlertStateStore } from '../../../shared/alerts/state.js';
import { onboard } from '../../../shared/lifecycle/engine.js';
import { openShardLedger } from '../../../shared/lifecycle/shard-ledger.js';
import { shardEvent, shardOf } from '../../../shared/lifecycle/shard.js';
import { coordinateSweep, sweepShard } from '../../../shared/lifecycle/sharded-sweep.js';
import { SHARD_LEDGER_SECRET } from '../../../shared/lifecycle/shard-ledger.js';
import { silentLogger } from '../../../shared/log.js';
import { startHarness, type Harness } from '../../support/engine-harness.js';

let h: Harness;
let unmanagedKeyId: string;
const LINEAGES = ['app-a', 'app-b', 'app-c', 'app-d', 'app-e'];

beforeAll(async () => {
  h = await startHarness({ escrow: 'kms-secrets' });
  for (const l of LINEAGES) await onboard(h.deps(), { alias: `alias/${l}` });
  // An EXTERNAL key nobody manages (no marker, no tags): a warning, found by shard 0 only.
  const stray = await h.kms.createKey({
    origin: 'EXTERNAL',
    keySpec: 'Aliyun_AES_256',
    description: 'someone else',
    ...(h.instances.keys ? { dkmsInstanceId: h.instances.keys } : {}),
  });
  unmanagedKeyId = stray.keyId;
}, 120_000);
afterAll(async () => {
  await h?.close();
});

describe('sweepShard', () => {
  it('sweeps its own lineages, and the completing shard alerts once for all', async () => {
    const reports: AlertReport[] = [];
    const alerts = createAlertNotifier({
      store: memoryAlertStateStore(),
      sinks: [{ name: 'test', deliver: async (r) => void reports.push(r) }],
      resendMs: { critical: 86_400_000, warning: 86_400_000 },
      log: silentLogger,
    });
    const count = 2;
    await openShardLedger(
      { kms: h.kms, encryptionKeyId: h.escrowKeyId, dkmsInstanceId: h.instances.escrow! },
      { runId: 'coord-1', count, startedAtMs: h.nowMs() },
    );
    const outs = [];
    for (let index = 0; index < count; index++) {
      outs.push(await sweepShard(h.deps({ alerts }), shardEvent('coord-1', 'timer@t', { index, count })));
    }
    const expected = [0, 1].map((i) => LINEAGES.filter((l) => shardOf(l, count) === i).length);
    expect(outs.map((o) => o.report.lineages)).toEqual(expected);
    // The first shard did not complete the set; the second did and summarised.
    expect(outs.map((o) => o.summary !== undefined)).toEqual([false, true]);
    expect(outs[1]?.summary).toMatchObject({ shards: 2, lineages: LINEAGES.length });
    // One delivery, with the stray key's warning once.
    expect(reports).toHaveLength(1);
    const notices = reports[0]!.notices.filter((n) => n.keyId === unmanagedKeyId);
    expect(notices.map((n) => [n.kind, n.severity])).toEqual([['open', 'warning']]);
    expect(reports[0]!.summary).toMatchObject({ warning: 1, critical: 0 });
  }, 120_000);
});

describe('coordinateSweep', () => {
  const pacing = { latencyMs: 10, concurrency: 4, ratePerSecond: Number.POSITIVE_INFINITY };
  const recorder = () => {
    const sent: Array<{ fn: string; event: Record<string, unknown> }> = [];
    return {
      sent,
      invoker: {
        invokeAsync: async (fn: string, payload: string) => {
          sent.push({ fn, event: JSON.parse(payload) as Record<string, unknown> });
          return {};
        },
      },
    };
  };

  it('runs a sweep that fits as one: no invocation', async () => {
    const r = recorder();
    const out = await coordinateSweep(h.deps(), {
      shardLineages: 10,
      parallelShards: 4,
      budgetMs: 540_000,
      pacing,
      invoker: r.invoker,
      functionName: 'byok-sweep',
      triggerKey: 'timer@t',
    });
    expect({ kind: out.kind, lineages: out.lineages, sent: r.sent.length }).toEqual({
      kind: 'single',
      lineages: 5,
      sent: 0,
    });
  });

  it('fans out one async invocation per shard, each with its share of the QPS, and audits the decision', async () => {
    const r = recorder();
    const deps = h.deps();
    const audited = h.audit.length;
    const out = await coordinateSweep(deps, {
      shardLineages: 2,
      parallelShards: 2,
      budgetMs: 540_000,
      pacing,
      invoker: r.invoker,
      functionName: 'byok-sweep',
      triggerKey: 'timer@t',
    });
    expect(out).toMatchObject({ kind: 'sharded', lineages: 5, runId: deps.runId, invoked: 3 });
    expect(r.sent.map((x) => [x.fn, x.event['index'], x.event['count'], x.event['qpsScale']])).toEqual([
      ['byok-sweep', 0, 3, 0.5],
      ['byok-sweep', 1, 3, 0.5],
      ['byok-sweep', 2, 3, 0.5],
    ]);
    expect(h.audit.slice(audited).map((e) => [e.action, e.reason, e.details?.['shards']])).toEqual([
      ['sweep-sharded', 'shard-size', 3],
    ]);
    const ledger = JSON.parse((await h.kms.getSecretValue({ secretName: SHARD_LEDGER_SECRET })).secretData);
    expect(ledger).toMatchObject({ runId: deps.runId, count: 3, done: {} });
  });
});
