/**
 * Retry with exponential backoff and full jitter, a concurrency limit and a client-side rate
 * limit, so a sweep stays under the account's QPS instead of tripping it.
 * The v1.2.0 SDK retries nothing itself (docs/kms-api.md §1.9, verified there), so this is
 * the only retry layer.
 */
import { isOrchestratorError } from '../errors.js';
import type { RandomSource } from '../runtime-types.js';

/** How hard to retry. */
export interface RetryPolicy {
  /** Total attempts including the first (1 = no retry). */
  maxAttempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
}

/** Defaults: 5 attempts, 200 ms base, capped at 5 s per wait. */
export const defaultRetryPolicy: RetryPolicy = { maxAttempts: 5, baseDelayMs: 200, maxDelayMs: 5_000 };

/** Waits `ms` milliseconds; injected so tests do not sleep. */
export type Sleep = (ms: number) => Promise<void>;

/** Real timer-based sleep. */
export const realSleep: Sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * A uniform number in [0, 1) from the injected CSPRNG (jitter needs no secrecy, but one random source for all of
 * shared/ keeps it auditable).
 */
export function uniform(random: RandomSource): number {
  return random.bytes(4).readUInt32BE(0) / 0x1_0000_0000;
}

/**
 * Full-jitter backoff (AWS architecture blog "Exponential Backoff And Jitter"): random in [0, min(cap, base *
 * 2^attempt)).
 */
export function backoffDelayMs(attempt: number, policy: RetryPolicy, u: number): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** attempt);
  return Math.floor(u * ceiling);
}

/**
 * Runs `fn`, retrying errors whose `retryable` flag is set (and, if given, that `shouldRetry`
 * accepts). Non-orchestrator errors are never retried.
 */
export async function withRetry<T>(
  fn: (attempt: number) => Promise<T>,
  opts: {
    policy: RetryPolicy;
    sleep: Sleep;
    random: RandomSource;
    shouldRetry?: (err: unknown) => boolean;
    onRetry?: (err: unknown, attempt: number, delayMs: number) => void;
  },
): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (err) {
      const retryable = isOrchestratorError(err) && err.retryable && (opts.shouldRetry?.(err) ?? true);
      if (!retryable || attempt + 1 >= opts.policy.maxAttempts) throw err;
      const delayMs = backoffDelayMs(attempt, opts.policy, uniform(opts.random));
      opts.onRetry?.(err, attempt, delayMs);
      await opts.sleep(delayMs);
    }
  }
}

/** A counting semaphore: at most `max` tasks run at once, the rest wait in FIFO order. */
export class ConcurrencyLimiter {
  private active = 0;
  private readonly waiting: Array<() => void> = [];
  constructor(private readonly max: number) {
    if (!Number.isInteger(max) || max < 1) throw new RangeError('max must be an integer >= 1');
  }

  /** Runs `fn` when a slot is free. */
  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.active >= this.max) await new Promise<void>((resolve) => this.waiting.push(resolve));
    this.active++;
    try {
      return await fn();
    } finally {
      this.active--;
      this.waiting.shift()?.();
    }
  }

  /** Tasks running now. */
  get running(): number {
    return this.active;
  }
}

/**
 * A token bucket: `ratePerSecond` tokens refill continuously up to `burst`; `take()` waits until a
 * token is available. Time comes from `nowMs` so tests can drive it.
 */
export class RateLimiter {
  private tokens: number;
  private lastMs: number;
  private queue: Promise<void> = Promise.resolve();
  constructor(
    private readonly ratePerSecond: number,
    private readonly burst: number,
    private readonly nowMs: () => number,
    private readonly sleep: Sleep,
  ) {
    if (!(ratePerSecond > 0) || !(burst >= 1)) throw new RangeError('ratePerSecond must be > 0 and burst >= 1');
    this.tokens = burst;
    this.lastMs = nowMs();
  }

  /** Resolves when the caller may send one request. Callers are served in order. */
  take(): Promise<void> {
    const next = this.queue.then(() => this.takeOne());
    this.queue = next.catch(() => undefined);
    return next;
  }

  private async takeOne(): Promise<void> {
    for (;;) {
      const now = this.nowMs();
      this.tokens = Math.min(this.burst, this.tokens + ((now - this.lastMs) / 1000) * this.ratePerSecond);
      this.lastMs = now;
      if (this.tokens >= 1) {
        this.tokens -= 1;
        return;
      }
      await this.sleep(Math.ceil(((1 - this.tokens) / this.ratePerSecond) * 1000));
    }
  }
}
