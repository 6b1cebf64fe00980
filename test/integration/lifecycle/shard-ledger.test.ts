/**
 * The shard ledger over the official SDK against the emulator: shards report at the same time and
 * exactly one report completes the set (that shard summarises); a newer run replaces an older one.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  openShardLedger,
  recordShard,
  summariseLedger,
  type ShardLedgerDeps,
  type ShardReport,
} from '../../../shared/lifecycle/shard-ledger.js';
import { startHarness, type Harness } from '../../support/engine-harness.js';

let h: Harness;
let ledger: ShardLedgerDeps;

beforeAll(async () => {
  h = await startHarness({ escrow: 'kms-secrets' });
  ledger = { kms: h.kms, encryptionKeyId: h.escrowKeyId, dkmsInstanceId: h.instances.escrow! };
}, 60_000);
afterAll(async () => {
  await h?.close();
});

const report = (lineages: number, failed = 0): ShardReport => ({
  lineages,
  counts: { ok: 1, failed },
  alertWorthy: failed > 0,
  alerts: [],
  alertsOmitted: 0,
  unsure: [],
  unsureOmitted: 0,
  unusableKeys: 0,
  minDaysLeft: 20 + lineages,
  finishedAtMs: 1_000 + lineages,
});

describe('shard ledger', () => {
  it('lets exactly one of 8 concurrent shards complete the set, with every report in it', async () => {
    await openShardLedger(ledger, { runId: 'run-a', count: 8, startedAtMs: 1_000 });
    const outcomes = await Promise.all(
      Array.from({ length: 8 }, (_, index) =>
        recordShard(ledger, { runId: 'run-a', index, report: report(index + 1) }),
      ),
    );
    const completing = outcomes.filter((o) => o.kind === 'recorded' && o.complete);
    expect(completing).toHaveLength(1);
    const last = completing[0]!;
    if (last.kind !== 'recorded' || !last.complete) throw new Error('unreachable');
    expect(summariseLedger(last.state)).toEqual({
      shards: 8,
      lineages: 36,
      counts: { ok: 8, failed: 0 },
      alertWorthy: false,
      alertsOmitted: 0,
      unsure: [],
      minDaysLeft: 21,
      unusableKeys: 0,
      durationMs: 8,
    });
  }, 60_000);

  it('records nothing for a shard of a replaced run; the new run reports the missing shards', async () => {
    await openShardLedger(ledger, { runId: 'run-b', count: 3, startedAtMs: 0 });
    await recordShard(ledger, { runId: 'run-b', index: 1, report: report(1) });
    expect(await openShardLedger(ledger, { runId: 'run-c', count: 2, startedAtMs: 0 })).toEqual({
      incomplete: { runId: 'run-b', missing: [0, 2] },
    });
    expect(await recordShard(ledger, { runId: 'run-b', index: 0, report: report(1) })).toEqual({
      kind: 'other-run',
      runId: 'run-c',
    });
  });

  it('replaces the report of a retried shard and completes only once', async () => {
    await openShardLedger(ledger, { runId: 'run-d', count: 2, startedAtMs: 0 });
    expect(await recordShard(ledger, { runId: 'run-d', index: 0, report: report(5, 1) })).toEqual({
      kind: 'recorded',
      complete: false,
    });
    expect(await recordShard(ledger, { runId: 'run-d', index: 0, report: report(5) })).toEqual({
      kind: 'recorded',
      complete: false,
    });
    const done = await recordShard(ledger, { runId: 'run-d', index: 1, report: report(7) });
    expect(done.kind === 'recorded' && done.complete && summariseLedger(done.state).counts).toEqual({
      ok: 2,
      failed: 0,
    });
    // FC retries shard 1 after the set was complete: recorded, but nobody summarises again.
    expect(await recordShard(ledger, { runId: 'run-d', index: 1, report: report(7) })).toEqual({
      kind: 'recorded',
      complete: false,
    });
  });
});
