import { describe, expect, it } from 'vitest';
import { ErrorCode, OrchestratorError } from '../../../shared/errors.js';
import type { RandomSource } from '../../../shared/runtime-types.js';
import {
  ConcurrencyLimiter,
  RateLimiter,
  backoffDelayMs,
  defaultRetryPolicy,
  withRetry,
} from '../../../shared/kms/resilience.js';

/** A RandomSource that always yields the same 32-bit value, so jitter is predictable. */
const fixedRandom = (value: number): RandomSource => ({
  bytes: (n) => {
    const b = Buffer.alloc(n);
    b.writeUInt32BE(value >>> 0, 0);
    return b;
  },
});
const throttled = () =>
  new OrchestratorError(ErrorCode.KmsThrottled, 'KMS Encrypt failed: Throttling', { retryable: true });

describe('backoffDelayMs', () => {
  it('grows exponentially and is capped at maxDelayMs', () => {
    const policy = { maxAttempts: 10, baseDelayMs: 100, maxDelayMs: 1000 };
    const almostOne = 0.999999;
    expect([0, 1, 2, 3, 4, 5].map((a) => backoffDelayMs(a, policy, almostOne))).toEqual([99, 199, 399, 799, 999, 999]);
  });

  it('applies full jitter: a zero draw waits zero', () => {
    expect(backoffDelayMs(3, defaultRetryPolicy, 0)).toBe(0);
  });
});

describe('withRetry', () => {
  it('retries a retryable error until it succeeds, sleeping between attempts', async () => {
    const slept: number[] = [];
    let calls = 0;
    const result = await withRetry(
      async () => {
        calls++;
        if (calls < 3) throw throttled();
        return 'done';
      },
      {
        policy: { maxAttempts: 5, baseDelayMs: 100, maxDelayMs: 10_000 },
        sleep: async (ms) => {
          slept.push(ms);
        },
        random: fixedRandom(0x80000000),
      },
    );
    expect(result).toBe('done');
    expect(calls).toBe(3);
    expect(slept).toEqual([50, 100]);
  });

  it('gives up after maxAttempts and rethrows the last error', async () => {
    let calls = 0;
    await expect(
      withRetry(
        async () => {
          calls++;
          throw throttled();
        },
        { policy: { maxAttempts: 3, baseDelayMs: 1, maxDelayMs: 1 }, sleep: async () => {}, random: fixedRandom(0) },
      ),
    ).rejects.toMatchObject({ code: ErrorCode.KmsThrottled });
    expect(calls).toBe(3);
  });

  it('never retries a non-retryable error such as InvalidKeyMaterial', async () => {
    let calls = 0;
    const err = new OrchestratorError(
      ErrorCode.KmsInvalidKeyMaterial,
      'KMS ImportKeyMaterial failed: InvalidKeyMaterial',
    );
    await expect(
      withRetry(
        async () => {
          calls++;
          throw err;
        },
        { policy: defaultRetryPolicy, sleep: async () => {}, random: fixedRandom(0) },
      ),
    ).rejects.toBe(err);
    expect(calls).toBe(1);
  });

  it('lets shouldRetry veto a retryable error', async () => {
    let calls = 0;
    await expect(
      withRetry(
        async () => {
          calls++;
          throw throttled();
        },
        { policy: defaultRetryPolicy, sleep: async () => {}, random: fixedRandom(0), shouldRetry: () => false },
      ),
    ).rejects.toBeInstanceOf(OrchestratorError);
    expect(calls).toBe(1);
  });
});

describe('ConcurrencyLimiter', () => {
  it('never runs more than max tasks at once', async () => {
    const limiter = new ConcurrencyLimiter(2);
    let peak = 0;
    const task = async () => {
      peak = Math.max(peak, limiter.running);
      await new Promise((r) => setTimeout(r, 5));
    };
    await Promise.all(Array.from({ length: 7 }, () => limiter.run(task)));
    expect(peak).toBe(2);
    expect(limiter.running).toBe(0);
  });
});

describe('RateLimiter', () => {
  it('lets a burst through then spaces requests at the configured rate', async () => {
    let now = 0;
    const waits: number[] = [];
    const limiter = new RateLimiter(
      10,
      2,
      () => now,
      async (ms) => {
        waits.push(ms);
        now += ms;
      },
    );
    for (let i = 0; i < 5; i++) await limiter.take();
    // 2 from the burst, then one token per 100 ms.
    expect(waits).toEqual([100, 100, 100]);
    expect(now).toBe(300);
  });
});
