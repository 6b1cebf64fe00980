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
 * A token bucket: `rate` tokens a second refill continuously up to the burst; `take()` waits until a
 * token is available. `burst` is a size, or a function of the current rate (the pacer changes
 * `rate` as it adapts). Time comes from `nowMs` so tests can drive it.
 */
export class RateLimiter {
  private tokens: number;
  private lastMs: number;
  private queue: Promise<void> = Promise.resolve();
  constructor(
    public rate: number,
    private readonly burstSize: number | ((rate: number) => number),
    private readonly nowMs: () => number,
    private readonly sleep: Sleep,
  ) {
    if (!(rate > 0) || !(this.burst() >= 1)) throw new RangeError('ratePerSecond must be > 0 and burst >= 1');
    this.tokens = this.burst();
    this.lastMs = nowMs();
  }

  private burst(): number {
    return typeof this.burstSize === 'number' ? this.burstSize : this.burstSize(this.rate);
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
      this.tokens = Math.min(this.burst(), this.tokens + ((now - this.lastMs) / 1000) * this.rate);
      this.lastMs = now;
      if (this.tokens >= 1) {
        this.tokens -= 1;
        return;
      }
      await this.sleep(Math.max(1, Math.ceil(((1 - this.tokens) / this.rate) * 1000)));
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Pacing: stay under the account's documented QPS limits by default, and keep as many calls in
// flight as the rate and the observed latency need (Little's law), no more.
// ---------------------------------------------------------------------------------------------

/**
 * The quota groups of the KMS shared gateway: every action in a group shares the group's per-account,
 * per-region QPS quota (docs/kms-api.md §4.1, documented: Alibaba Cloud "Performance data for KMS",
 * shared gateway table).
 */
export const KmsQpsGroup = {
  KeyRead: 'key-read',
  KeyTags: 'key-tags',
  KeyCreate: 'key-create',
  KeyWrite: 'key-write',
  CryptoSymmetric: 'crypto-symmetric',
  SecretCreateDelete: 'secret-create-delete',
  SecretValue: 'secret-value',
  SecretMetadata: 'secret-metadata',
  InstanceRead: 'instance-read',
} as const;
/** One quota group. */
export type KmsQpsGroup = (typeof KmsQpsGroup)[keyof typeof KmsQpsGroup];

/** Documented per-account QPS of each group on the shared gateway (docs/kms-api.md §4.1). */
export const DOCUMENTED_KMS_QPS: Readonly<Record<KmsQpsGroup, number>> = {
  [KmsQpsGroup.KeyRead]: 50,
  [KmsQpsGroup.KeyTags]: 300,
  [KmsQpsGroup.KeyCreate]: 10,
  [KmsQpsGroup.KeyWrite]: 30,
  [KmsQpsGroup.CryptoSymmetric]: 1000,
  [KmsQpsGroup.SecretCreateDelete]: 10,
  [KmsQpsGroup.SecretValue]: 450,
  [KmsQpsGroup.SecretMetadata]: 40,
  [KmsQpsGroup.InstanceRead]: 50,
};

/**
 * The group of each action the product calls. The documented lists name DescribeKey, ListKeys,
 * GetParametersForImport, ListAliases (key read), ListResourceTags, CreateKey and the instance reads;
 * the rest is placed by the groups' descriptions (inferred, docs/kms-api.md §4.1): a write that changes
 * a key, alias or tag is a key write; GetSecretValue is the "get the secret value" group; the other
 * secret calls go to the smaller "list and metadata" group, the conservative choice.
 */
const ACTION_GROUP: Readonly<Record<string, KmsQpsGroup>> = {
  DescribeKey: KmsQpsGroup.KeyRead,
  ListKeys: KmsQpsGroup.KeyRead,
  GetParametersForImport: KmsQpsGroup.KeyRead,
  ListAliases: KmsQpsGroup.KeyRead,
  ListResourceTags: KmsQpsGroup.KeyTags,
  CreateKey: KmsQpsGroup.KeyCreate,
  ImportKeyMaterial: KmsQpsGroup.KeyWrite,
  DeleteKeyMaterial: KmsQpsGroup.KeyWrite,
  CreateAlias: KmsQpsGroup.KeyWrite,
  UpdateAlias: KmsQpsGroup.KeyWrite,
  TagResource: KmsQpsGroup.KeyWrite,
  UntagResource: KmsQpsGroup.KeyWrite,
  EnableKey: KmsQpsGroup.KeyWrite,
  DisableKey: KmsQpsGroup.KeyWrite,
  Encrypt: KmsQpsGroup.CryptoSymmetric,
  Decrypt: KmsQpsGroup.CryptoSymmetric,
  CreateSecret: KmsQpsGroup.SecretCreateDelete,
  DeleteSecret: KmsQpsGroup.SecretCreateDelete,
  GetSecretValue: KmsQpsGroup.SecretValue,
  PutSecretValue: KmsQpsGroup.SecretMetadata,
  DescribeSecret: KmsQpsGroup.SecretMetadata,
  ListSecrets: KmsQpsGroup.SecretMetadata,
  ListSecretVersionIds: KmsQpsGroup.SecretMetadata,
  GetKmsInstance: KmsQpsGroup.InstanceRead,
  GetDefaultKmsInstance: KmsQpsGroup.InstanceRead,
};

/** The quota group of `action`; an action not listed counts as a key write (the smallest shared group but one). */
export function kmsQpsGroupOf(action: string): KmsQpsGroup {
  return ACTION_GROUP[action] ?? KmsQpsGroup.KeyWrite;
}

/** Default share of each documented group quota one deployment uses (the rest is left to everyone else). */
export const DEFAULT_KMS_QPS_SHARE = 0.8;

/**
 * Burst of a paced bucket, in seconds of its rate. Small on purpose: a gateway that counts per
 * one-second window then sees at most (1 + BURST_SECONDS) x rate, i.e. 0.96 x its quota at the
 * default share (how the gateway counts is not documented: inferred).
 */
export const PACING_BURST_SECONDS = 0.2;

/** AIMD: a throttle halves a group's rate (not below this fraction of its ceiling)... */
export const AIMD_DECREASE = 0.5;
export const AIMD_FLOOR = 0.05;
/** ...and the rate climbs back by this fraction of the ceiling per second without a throttle. */
export const AIMD_RECOVERY_PER_SECOND = 0.1;

/**
 * The next rate of a group (pure). `throttled`: multiplicative decrease from the current rate;
 * otherwise additive increase for `elapsedMs` since the last update, capped at the ceiling.
 */
export function aimdRate(current: number, ceiling: number, event: { throttled: boolean; elapsedMs: number }): number {
  if (event.throttled) return Math.max(ceiling * AIMD_FLOOR, current * AIMD_DECREASE);
  return Math.min(ceiling, current + ceiling * AIMD_RECOVERY_PER_SECOND * (Math.max(0, event.elapsedMs) / 1000));
}

/** Bounds of the derived concurrency. */
export const DERIVED_CONCURRENCY = { min: 2, max: 32, headroom: 1.5 } as const;

/**
 * Little's law: requests in flight = arrival rate x time in the system. Enough slots for `ratePerSecond`
 * at `latencyMs`, with headroom for latency jitter, clamped to [min, max]. An unbounded rate (no limit
 * at all) takes the maximum.
 */
export function littleConcurrency(
  ratePerSecond: number,
  latencyMs: number,
  bounds: { min: number; max: number; headroom: number } = DERIVED_CONCURRENCY,
): number {
  if (!Number.isFinite(ratePerSecond)) return bounds.max;
  const needed = Math.ceil(ratePerSecond * (Math.max(0, latencyMs) / 1000) * bounds.headroom);
  return Math.min(bounds.max, Math.max(bounds.min, needed));
}

/** A pacing bucket: a RateLimiter whose burst follows its (AIMD-adapted) rate. */
function pacedBucket(rate: number, nowMs: () => number, sleep: Sleep): RateLimiter {
  return new RateLimiter(rate, (r) => Math.max(1, r * PACING_BURST_SECONDS), nowMs, sleep);
}

/** How a KMS client paces itself (built from the configuration; every field optional). */
export interface PacingOptions {
  /** Share (0-1] of each documented group quota; undefined = no per-group limit (dedicated gateway, emulator). */
  qpsShare?: number;
  /** Explicit client-wide ceiling across all actions; undefined = none. */
  maxRequestsPerSecond?: number;
  /** Fixed calls in flight; undefined = derived (Little's law on the rate and the observed latency). */
  concurrency?: number;
  nowMs: () => number;
  sleep: Sleep;
}

/** What a client reports about its pacing (for the engine's pools and for people). */
export interface PacingState {
  /** Calls in flight allowed now. */
  concurrency: number;
  /** Smoothed latency of successful calls, ms (undefined before the first). */
  latencyMs: number | undefined;
  /** Current rate of each paced group (after AIMD), requests per second. */
  groupRates: Partial<Record<KmsQpsGroup, number>>;
  /** Client-wide ceiling, if any. */
  maxRequestsPerSecond: number | undefined;
  /** Throttling answers seen so far. */
  throttled: number;
}

/** Latency assumed before the first call completes (a cross-region round trip, inferred). */
const INITIAL_LATENCY_MS = 50;
/** Weight of a new latency sample in the moving average. */
const LATENCY_EWMA = 0.2;
/** A group counts toward the concurrency's reference rate while it was used this recently. */
const ACTIVE_GROUP_MS = 5_000;

/**
 * Rate and concurrency governor of one KMS client: a bucket per quota group at `qpsShare` x the
 * documented quota, an optional client-wide bucket, AIMD on throttling answers, and a concurrency
 * limit that follows rate x latency. Waiting for a token never holds a concurrency slot.
 */
export class KmsPacer {
  private readonly groups = new Map<KmsQpsGroup, { bucket: RateLimiter; ceiling: number; updatedMs: number }>();
  private readonly global: RateLimiter | undefined;
  private readonly lastUsed = new Map<KmsQpsGroup, number>();
  private latency: number | undefined;
  private active = 0;
  private readonly waiting: Array<() => void> = [];
  private throttles = 0;
  /** Scale on every group ceiling: a shard of a sharded sweep runs at 1/fan-out of the share. */
  private scale = 1;

  constructor(private readonly options: PacingOptions) {
    const { qpsShare, maxRequestsPerSecond, concurrency } = options;
    if (qpsShare !== undefined && !(qpsShare > 0 && qpsShare <= 1)) throw new RangeError('qpsShare must be in (0, 1]');
    if (maxRequestsPerSecond !== undefined && !(maxRequestsPerSecond > 0))
      throw new RangeError('maxRequestsPerSecond must be > 0');
    if (concurrency !== undefined && !(Number.isInteger(concurrency) && concurrency >= 1))
      throw new RangeError('concurrency must be an integer >= 1');
    this.global =
      maxRequestsPerSecond === undefined ? undefined : pacedBucket(maxRequestsPerSecond, options.nowMs, options.sleep);
  }

  /** Scales every group's ceiling (0-1]: each of `n` shards running at once takes 1/n. */
  setScale(scale: number): void {
    if (!(scale > 0 && scale <= 1)) throw new RangeError('scale must be in (0, 1]');
    this.scale = scale;
    for (const [group, g] of this.groups) {
      g.ceiling = this.ceilingOf(group);
      g.bucket.rate = Math.min(g.bucket.rate, g.ceiling);
    }
  }

  private ceilingOf(group: KmsQpsGroup): number {
    return DOCUMENTED_KMS_QPS[group] * (this.options.qpsShare ?? 1) * this.scale;
  }

  private group(group: KmsQpsGroup) {
    let g = this.groups.get(group);
    if (!g) {
      const ceiling = this.ceilingOf(group);
      g = {
        bucket: pacedBucket(ceiling, this.options.nowMs, this.options.sleep),
        ceiling,
        updatedMs: this.options.nowMs(),
      };
      this.groups.set(group, g);
    }
    return g;
  }

  /** Waits for the tokens of one `action` request (the client-wide one, then its group's). */
  async take(action: string): Promise<void> {
    const name = kmsQpsGroupOf(action);
    this.lastUsed.set(name, this.options.nowMs());
    if (this.global) await this.global.take();
    if (this.options.qpsShare === undefined) return;
    const g = this.group(name);
    const now = this.options.nowMs();
    g.bucket.rate = aimdRate(g.bucket.rate, g.ceiling, { throttled: false, elapsedMs: now - g.updatedMs });
    g.updatedMs = now;
    await g.bucket.take();
  }

  /** A throttling answer to `action`: its group (and the client-wide ceiling's user) slows down. */
  throttled(action: string): void {
    this.throttles += 1;
    if (this.options.qpsShare === undefined) return;
    const g = this.group(kmsQpsGroupOf(action));
    g.bucket.rate = aimdRate(g.bucket.rate, g.ceiling, { throttled: true, elapsedMs: 0 });
    g.updatedMs = this.options.nowMs();
  }

  /** A completed call's latency (successes only: a throttle answers fast and says nothing about load). */
  completed(latencyMs: number): void {
    this.latency = this.latency === undefined ? latencyMs : this.latency + LATENCY_EWMA * (latencyMs - this.latency);
  }

  /** The rate the in-flight calls have to sustain: the paced groups in use, capped by the client-wide ceiling. */
  referenceRate(): number {
    const now = this.options.nowMs();
    let sum = this.options.qpsShare === undefined ? Number.POSITIVE_INFINITY : 0;
    if (this.options.qpsShare !== undefined) {
      for (const [group, at] of this.lastUsed) {
        if (now - at <= ACTIVE_GROUP_MS) sum += this.groups.get(group)?.bucket.rate ?? this.ceilingOf(group);
      }
      if (sum === 0) sum = this.ceilingOf(KmsQpsGroup.KeyRead);
    }
    return Math.min(sum, this.options.maxRequestsPerSecond ?? Number.POSITIVE_INFINITY);
  }

  /** Most requests/s `action` may get (its group's paced ceiling, the client-wide one); Infinity = unpaced. */
  rateFor(action: string): number {
    const group =
      this.options.qpsShare === undefined ? Number.POSITIVE_INFINITY : this.ceilingOf(kmsQpsGroupOf(action));
    return Math.min(group, this.options.maxRequestsPerSecond ?? Number.POSITIVE_INFINITY);
  }

  /** The most calls this client will ever allow in flight (fixed, or the derivation's upper bound). */
  maxConcurrency(): number {
    return this.options.concurrency ?? DERIVED_CONCURRENCY.max;
  }

  /** Calls allowed in flight now: fixed, or Little's law on the reference rate and the latency. */
  concurrency(): number {
    if (this.options.concurrency !== undefined) return this.options.concurrency;
    return littleConcurrency(this.referenceRate(), this.latency ?? INITIAL_LATENCY_MS);
  }

  /** Runs `fn` in a concurrency slot (FIFO); the limit is re-read whenever a slot frees. */
  async run<T>(fn: () => Promise<T>): Promise<T> {
    // A freed slot is handed to the next waiter directly (it stays counted), so a newcomer cannot
    // slip in between and exceed the limit.
    if (this.active >= this.concurrency() || this.waiting.length > 0)
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.active++;
    try {
      return await fn();
    } finally {
      this.release();
    }
  }

  private release(): void {
    const limit = this.concurrency();
    if (this.waiting.length > 0 && this.active <= limit) {
      this.waiting.shift()?.();
      // The limit may have grown since: wake as many more as it now allows.
      while (this.waiting.length > 0 && this.active < limit) {
        this.active++;
        this.waiting.shift()?.();
      }
      return;
    }
    this.active--;
  }

  /** Calls in flight now. */
  get running(): number {
    return this.active;
  }

  /** A report of the current pacing (no secrets). */
  state(): PacingState {
    const groupRates: Partial<Record<KmsQpsGroup, number>> = {};
    for (const [group, g] of this.groups) groupRates[group] = g.bucket.rate;
    return {
      concurrency: this.concurrency(),
      latencyMs: this.latency,
      groupRates,
      maxRequestsPerSecond: this.options.maxRequestsPerSecond,
      throttled: this.throttles,
    };
  }
}
