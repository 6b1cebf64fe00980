/**
 * A small per-instance cache of recently seen delivery keys, so a webhook answers a repeated
 * delivery (CloudMonitor retries up to 3 times after a 5 s timeout; EventBridge may re-send an `id`,
 * docs/fc-runtime.md §7) without doing the work twice.
 *
 * It is only an optimisation: each FC instance has its own cache and instances come and go, so a
 * repeat can reach another instance. Correctness across instances rests on the lifecycle engine
 * being idempotent (every write preceded by a fresh precondition check), not on this cache.
 *
 * Entries expire `ttlMs` after they were first seen (a repeat does not extend them); when full, the
 * oldest entry is evicted. Keys are dedupe keys (ids and hashes), never secrets.
 */

/** Default time a key is remembered: one hour covers CloudMonitor's retries with a wide margin. */
export const DEFAULT_DEDUPE_TTL_MS = 60 * 60 * 1000;
/** Default bound on remembered keys (a few hundred KiB at most). */
export const DEFAULT_DEDUPE_MAX_ENTRIES = 10_000;

/** Sizing of a DedupeCache. */
export interface DedupeCacheOptions {
  ttlMs?: number;
  maxEntries?: number;
}

/** TTL + max-size set of delivery keys; the clock is passed to every call. */
export class DedupeCache {
  readonly ttlMs: number;
  readonly maxEntries: number;
  /** key -> expiry (epoch ms); Map order is insertion order, i.e. oldest first. */
  private readonly expiries = new Map<string, number>();

  constructor(options: DedupeCacheOptions = {}) {
    this.ttlMs = options.ttlMs ?? DEFAULT_DEDUPE_TTL_MS;
    this.maxEntries = options.maxEntries ?? DEFAULT_DEDUPE_MAX_ENTRIES;
    if (!(this.ttlMs > 0) || !Number.isInteger(this.maxEntries) || this.maxEntries < 1) {
      throw new RangeError('DedupeCache: ttlMs must be > 0 and maxEntries an integer >= 1');
    }
  }

  /** True when `key` was seen within the TTL; otherwise records it (as of `nowMs`) and returns false. */
  seen(key: string, nowMs: number): boolean {
    const expiresAtMs = this.expiries.get(key);
    if (expiresAtMs !== undefined && expiresAtMs > nowMs) return true;
    this.expiries.delete(key);
    this.evict(nowMs);
    this.expiries.set(key, nowMs + this.ttlMs);
    return false;
  }

  /** Forgets `key`, so a redelivery is processed again (used when processing it failed). */
  forget(key: string): void {
    this.expiries.delete(key);
  }

  /** Number of keys currently held (expired ones may linger until the next insert). */
  get size(): number {
    return this.expiries.size;
  }

  private evict(nowMs: number): void {
    // Oldest first: stop at the first live entry (TTL is constant, so later entries expire later).
    for (const [key, expiresAtMs] of this.expiries) {
      if (expiresAtMs > nowMs && this.expiries.size < this.maxEntries) break;
      this.expiries.delete(key);
    }
  }
}
