import { describe, expect, it } from 'vitest';
import {
  AIMD_FLOOR,
  DOCUMENTED_KMS_QPS,
  KmsPacer,
  KmsQpsGroup,
  aimdRate,
  kmsQpsGroupOf,
  littleConcurrency,
} from '../../../shared/kms/resilience.js';

/** A virtual clock: sleep advances it, so pacing is measured without waiting. */
function virtualTime() {
  const t = { now: 0, slept: 0 };
  return {
    t,
    nowMs: () => t.now,
    sleep: async (ms: number) => {
      t.now += ms;
      t.slept += ms;
    },
  };
}

describe('kmsQpsGroupOf', () => {
  it('puts the sweep calls in their documented groups', () => {
    expect(kmsQpsGroupOf('DescribeKey')).toBe(KmsQpsGroup.KeyRead);
    expect(kmsQpsGroupOf('ListResourceTags')).toBe(KmsQpsGroup.KeyTags);
    expect(kmsQpsGroupOf('CreateKey')).toBe(KmsQpsGroup.KeyCreate);
    expect(kmsQpsGroupOf('GetSecretValue')).toBe(KmsQpsGroup.SecretValue);
    expect(kmsQpsGroupOf('CreateSecret')).toBe(KmsQpsGroup.SecretCreateDelete);
  });

  it('counts an unknown action as a key write', () => {
    expect(kmsQpsGroupOf('SomethingNew')).toBe(KmsQpsGroup.KeyWrite);
    expect(DOCUMENTED_KMS_QPS[KmsQpsGroup.KeyWrite]).toBe(30);
  });
});

describe('aimdRate', () => {
  it('halves on a throttle', () => {
    expect(aimdRate(40, 40, { throttled: true, elapsedMs: 0 })).toBe(20);
  });

  it('never drops below the floor', () => {
    expect(aimdRate(1, 40, { throttled: true, elapsedMs: 0 })).toBe(40 * AIMD_FLOOR);
  });

  it('climbs back 10 % of the ceiling per second, capped at the ceiling', () => {
    expect(aimdRate(20, 40, { throttled: false, elapsedMs: 1000 })).toBe(24);
    expect(aimdRate(20, 40, { throttled: false, elapsedMs: 2500 })).toBe(30);
    expect(aimdRate(39, 40, { throttled: false, elapsedMs: 60_000 })).toBe(40);
  });
});

describe('littleConcurrency', () => {
  it('is rate x latency x headroom, rounded up', () => {
    // 40 req/s x 0.1 s = 4 in flight, x 1.5 headroom = 6.
    expect(littleConcurrency(40, 100, { min: 1, max: 64, headroom: 1.5 })).toBe(6);
    expect(littleConcurrency(200, 250, { min: 1, max: 64, headroom: 1 })).toBe(50);
  });

  it('is clamped to [min, max]', () => {
    expect(littleConcurrency(40, 1, { min: 2, max: 32, headroom: 1.5 })).toBe(2);
    expect(littleConcurrency(1000, 1000, { min: 2, max: 32, headroom: 1.5 })).toBe(32);
  });

  it('takes the maximum when nothing bounds the rate', () => {
    expect(littleConcurrency(Number.POSITIVE_INFINITY, 10, { min: 2, max: 32, headroom: 1.5 })).toBe(32);
  });
});

describe('KmsPacer', () => {
  it('paces one group at share x its documented quota', async () => {
    const v = virtualTime();
    const pacer = new KmsPacer({ qpsShare: 0.8, nowMs: v.nowMs, sleep: v.sleep });
    for (let i = 0; i < 401; i++) await pacer.take('DescribeKey');
    // 0.8 x 50 = 40/s with a burst of 0.2 s (8 tokens): 401 requests need (401 - 8) / 40 s.
    expect(v.t.now).toBeGreaterThanOrEqual(9_800);
    expect(v.t.now).toBeLessThanOrEqual(9_900);
  });

  it('never lets more than (1 + burst) x rate through in any one-second window', async () => {
    const v = virtualTime();
    const pacer = new KmsPacer({ qpsShare: 0.8, nowMs: v.nowMs, sleep: v.sleep });
    const at: number[] = [];
    for (let i = 0; i < 300; i++) {
      await pacer.take('DescribeKey');
      at.push(v.t.now);
    }
    let peak = 0;
    for (let i = 0; i < at.length; i++) {
      let j = i;
      while (j < at.length && (at[j] as number) < (at[i] as number) + 1000) j++;
      peak = Math.max(peak, j - i);
    }
    expect(peak).toBeLessThanOrEqual(50); // the documented quota
    expect(peak).toBeGreaterThanOrEqual(40);
  });

  it('paces groups independently', async () => {
    const v = virtualTime();
    const pacer = new KmsPacer({ qpsShare: 0.5, nowMs: v.nowMs, sleep: v.sleep });
    for (let i = 0; i < 100; i++) await pacer.take('ListResourceTags'); // 150/s: well under a second
    expect(v.t.now).toBeLessThan(1000);
    for (let i = 0; i < 30; i++) await pacer.take('CreateKey'); // 5/s, burst 1: 29 x 200 ms more
    expect(v.t.now).toBeGreaterThanOrEqual(5_800);
  });

  it('slows a throttled group down and recovers over time', async () => {
    const v = virtualTime();
    const pacer = new KmsPacer({ qpsShare: 1, nowMs: v.nowMs, sleep: v.sleep });
    await pacer.take('DescribeKey');
    pacer.throttled('DescribeKey');
    pacer.throttled('DescribeKey');
    expect(pacer.state().groupRates[KmsQpsGroup.KeyRead]).toBe(12.5);
    expect(pacer.state().throttled).toBe(2);
    v.t.now += 5_000; // 5 s x 5/s recovery
    await pacer.take('DescribeKey');
    expect(pacer.state().groupRates[KmsQpsGroup.KeyRead]).toBe(37.5);
  });

  it('applies a client-wide ceiling on top of the groups', async () => {
    const v = virtualTime();
    const pacer = new KmsPacer({ maxRequestsPerSecond: 10, nowMs: v.nowMs, sleep: v.sleep });
    for (let i = 0; i < 21; i++) await pacer.take(i % 2 ? 'DescribeKey' : 'GetSecretValue');
    // burst 2, then 19 more at 10/s
    expect(v.t.now).toBe(1_900);
  });

  it('derives concurrency from the active groups and the observed latency', async () => {
    const v = virtualTime();
    const pacer = new KmsPacer({ qpsShare: 0.8, nowMs: v.nowMs, sleep: v.sleep });
    await pacer.take('DescribeKey');
    pacer.completed(200);
    // 40/s x 0.2 s x 1.5 = 12
    expect(pacer.concurrency()).toBe(12);
    await pacer.take('GetSecretValue');
    // (40 + 360)/s x 0.2 s x 1.5 = 120 -> clamped to 32
    expect(pacer.concurrency()).toBe(32);
    v.t.now += 10_000; // both groups idle for 10 s: back to the key-read default
    expect(pacer.concurrency()).toBe(12);
  });

  it('lowers the derived concurrency when a group is throttled (AIMD through the rate)', async () => {
    const v = virtualTime();
    const pacer = new KmsPacer({ qpsShare: 1, nowMs: v.nowMs, sleep: v.sleep });
    await pacer.take('DescribeKey');
    pacer.completed(400);
    // 50/s x 0.4 s x 1.5 = 30
    expect(pacer.concurrency()).toBe(30);
    pacer.throttled('DescribeKey');
    // 25/s x 0.4 s x 1.5 = 15
    expect(pacer.concurrency()).toBe(15);
  });

  it('keeps a fixed concurrency when one is configured', () => {
    const v = virtualTime();
    const pacer = new KmsPacer({ qpsShare: 0.8, concurrency: 3, nowMs: v.nowMs, sleep: v.sleep });
    pacer.completed(5_000);
    expect(pacer.concurrency()).toBe(3);
  });

  it('shrinks the ceilings of a shard by its scale', async () => {
    const v = virtualTime();
    const pacer = new KmsPacer({ qpsShare: 0.8, nowMs: v.nowMs, sleep: v.sleep });
    pacer.setScale(0.25);
    for (let i = 0; i < 101; i++) await pacer.take('DescribeKey');
    // 0.8 x 50 / 4 = 10/s, burst 2: 99 / 10 s
    expect(v.t.now).toBeGreaterThanOrEqual(9_800);
    expect(v.t.now).toBeLessThanOrEqual(10_000);
  });

  it('never runs more calls at once than the derived limit', async () => {
    const pacer = new KmsPacer({ concurrency: 3, nowMs: Date.now, sleep: async () => undefined });
    let peak = 0;
    const task = async () => {
      peak = Math.max(peak, pacer.running);
      await new Promise((r) => setTimeout(r, 2));
    };
    await Promise.all(Array.from({ length: 20 }, () => pacer.run(task)));
    expect(peak).toBe(3);
    expect(pacer.running).toBe(0);
  });
});
