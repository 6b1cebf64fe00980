import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../../shared/errors.js';
import {
  MAX_SHARDS,
  estimateSweepMs,
  fnv1a32,
  parseShardEvent,
  planShards,
  shardEvent,
  shardFilter,
  shardOf,
} from '../../../shared/lifecycle/shard.js';

describe('fnv1a32', () => {
  it('matches the published FNV-1a 32-bit vectors', () => {
    expect(fnv1a32('')).toBe(0x811c9dc5);
    expect(fnv1a32('a')).toBe(0xe40c292c);
    expect(fnv1a32('foobar')).toBe(0xbf9cf968);
  });
});

describe('shardOf', () => {
  it('is the hash modulo the shard count', () => {
    expect(shardOf('foobar', 4)).toBe(0xbf9cf968 % 4);
    expect(shardOf('a', 7)).toBe(0xe40c292c % 7);
  });

  it('spreads 2000 lineage names evenly over 4 shards (each within 10 % of 500)', () => {
    const counts = [0, 0, 0, 0];
    for (let i = 0; i < 2000; i++) counts[shardOf(`app-${i}`, 4)]! += 1;
    for (const c of counts) expect(Math.abs(c - 500)).toBeLessThanOrEqual(50);
  });

  it('refuses a count below 1', () => {
    expect(() => shardOf('a', 0)).toThrow(RangeError);
  });
});

describe('shardFilter', () => {
  it('accepts a lineage in exactly one shard', () => {
    const filters = [0, 1, 2].map((index) => shardFilter({ index, count: 3 }));
    for (const name of ['billing', 'app/orders', 'x']) expect(filters.filter((f) => f(name))).toHaveLength(1);
  });

  it("gives keys with no lineage ('') to shard 0 only", () => {
    expect([0, 1, 2].map((index) => shardFilter({ index, count: 3 })('')).map(Boolean)).toEqual([true, false, false]);
  });
});

describe('estimateSweepMs', () => {
  it('is calls x the slower of latency / concurrency and 1 / rate', () => {
    // 1000 lineages x 1 call: 10 ms / 4 in flight = 2500 ms; at 40/s = 25000 ms.
    expect(
      estimateSweepMs({ lineages: 1000, callsPerLineage: 1, latencyMs: 10, concurrency: 4, ratePerSecond: 40 }),
    ).toEqual({ latencyBoundMs: 2500, qpsBoundMs: 25_000, totalMs: 25_000 });
  });

  it('has no QPS bound when nothing paces the client', () => {
    const e = estimateSweepMs({
      lineages: 10,
      callsPerLineage: 2,
      latencyMs: 100,
      concurrency: 1,
      ratePerSecond: Number.POSITIVE_INFINITY,
    });
    expect(e).toEqual({ latencyBoundMs: 2000, qpsBoundMs: 0, totalMs: 2000 });
  });
});

describe('planShards', () => {
  const pacing = { callsPerLineage: 1, latencyMs: 10, concurrency: 4, ratePerSecond: Number.POSITIVE_INFINITY };

  it('keeps a sweep that fits as one', () => {
    const p = planShards({ estimate: { lineages: 400, ...pacing }, shardLineages: 500, budgetMs: 540_000 });
    expect({ count: p.count, reason: p.reason, qpsBound: p.qpsBound }).toEqual({
      count: 1,
      reason: 'fits',
      qpsBound: false,
    });
  });

  it('splits by shard size', () => {
    const p = planShards({ estimate: { lineages: 2000, ...pacing }, shardLineages: 500, budgetMs: 540_000 });
    expect([p.count, p.reason]).toEqual([4, 'shard-size']);
  });

  it('splits by the latency-bound time when one function cannot finish', () => {
    // 100 000 calls x 100 ms / 4 = 2 500 s over a 540 s budget: 5 shards.
    const slow = { callsPerLineage: 1, latencyMs: 100, concurrency: 4, ratePerSecond: Number.POSITIVE_INFINITY };
    const p = planShards({ estimate: { lineages: 100_000, ...slow }, shardLineages: 1_000_000, budgetMs: 540_000 });
    expect([p.count, p.reason]).toEqual([5, 'deadline']);
  });

  it('reports a sweep the QPS share cannot carry in time (sharding does not raise the account QPS)', () => {
    const paced = { callsPerLineage: 1.2, latencyMs: 10, concurrency: 4, ratePerSecond: 40 };
    const p = planShards({ estimate: { lineages: 30_000, ...paced }, shardLineages: 10_000, budgetMs: 540_000 });
    expect({ count: p.count, qpsBound: p.qpsBound }).toEqual({ count: 3, qpsBound: true });
  });

  it('never fans out past MAX_SHARDS', () => {
    const p = planShards({ estimate: { lineages: 1_000_000, ...pacing }, shardLineages: 10, budgetMs: 540_000 });
    expect(p.count).toBe(MAX_SHARDS);
  });
});

describe('shard events', () => {
  it('round-trip through JSON', () => {
    const ev = shardEvent('sweep-1', 'hourly@t', { index: 2, count: 4 });
    expect(parseShardEvent(JSON.parse(JSON.stringify(ev)))).toEqual({
      byok: 'sweep-shard',
      v: 1,
      runId: 'sweep-1',
      triggerKey: 'hourly@t',
      index: 2,
      count: 4,
      qpsScale: 0.25,
    });
  });

  it('split the QPS share among the shards that run at once', () => {
    expect(shardEvent('r', 't', { index: 0, count: 10 }, 4).qpsScale).toBe(0.25);
    expect(shardEvent('r', 't', { index: 0, count: 2 }, 4).qpsScale).toBe(0.5);
  });

  it('leave other events (a timer event) alone', () => {
    expect(parseShardEvent({ triggerName: 't', triggerTime: 'x', payload: '' })).toBeUndefined();
  });

  it.each([
    [{ index: 4 }, 'index'],
    [{ count: 0 }, 'count'],
    [{ qpsScale: 2 }, 'qpsScale'],
    [{ runId: '' }, 'runId'],
    [{ v: 2 }, 'v'],
  ])('refuse a malformed shard event (%j) naming the field', (bad, field) => {
    const ev = { ...shardEvent('sweep-1', 'hourly@t', { index: 0, count: 4 }), ...bad };
    expect(() => parseShardEvent(ev)).toThrow(
      expect.objectContaining({ code: ErrorCode.InvalidInput, details: { field } }),
    );
  });
});
