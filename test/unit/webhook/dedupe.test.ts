import { describe, expect, it } from 'vitest';
import { DEFAULT_DEDUPE_MAX_ENTRIES, DEFAULT_DEDUPE_TTL_MS, DedupeCache } from '../../../shared/webhook/dedupe.js';

const T0 = 1_748_743_384_000;
const TTL = 60_000;

describe('DedupeCache', () => {
  it('reports a first delivery as not seen', () => {
    expect(new DedupeCache({ ttlMs: TTL }).seen('eventbridge:acs.kms:evt-1:check', T0)).toBe(false);
  });

  it('reports a repeated delivery within the TTL as seen', () => {
    const cache = new DedupeCache({ ttlMs: TTL });
    cache.seen('k', T0);
    expect(cache.seen('k', T0 + TTL - 1)).toBe(true);
  });

  it('forgets a key once its TTL has passed', () => {
    const cache = new DedupeCache({ ttlMs: TTL });
    cache.seen('k', T0);
    expect(cache.seen('k', T0 + TTL)).toBe(false);
  });

  it('does not extend the TTL on a repeat', () => {
    const cache = new DedupeCache({ ttlMs: TTL });
    cache.seen('k', T0);
    cache.seen('k', T0 + TTL - 1);
    expect(cache.seen('k', T0 + TTL)).toBe(false);
  });

  it('starts a fresh TTL when an expired key is seen again', () => {
    const cache = new DedupeCache({ ttlMs: TTL });
    cache.seen('k', T0);
    cache.seen('k', T0 + TTL);
    expect(cache.seen('k', T0 + 2 * TTL - 1)).toBe(true);
  });

  it('keeps different keys apart', () => {
    const cache = new DedupeCache({ ttlMs: TTL });
    cache.seen('a', T0);
    expect(cache.seen('b', T0)).toBe(false);
  });

  it('evicts the oldest key when full', () => {
    const cache = new DedupeCache({ ttlMs: TTL, maxEntries: 2 });
    cache.seen('a', T0);
    cache.seen('b', T0 + 1);
    cache.seen('c', T0 + 2);
    expect([cache.size, cache.seen('b', T0 + 3), cache.seen('a', T0 + 4)]).toEqual([2, true, false]);
  });

  it('drops expired keys when a new one is recorded', () => {
    const cache = new DedupeCache({ ttlMs: TTL, maxEntries: 100 });
    for (let i = 0; i < 10; i++) cache.seen(`old-${i}`, T0);
    cache.seen('new', T0 + TTL);
    expect(cache.size).toBe(1);
  });

  it('defaults to a one-hour TTL and 10 000 entries', () => {
    const cache = new DedupeCache();
    expect([cache.ttlMs, cache.maxEntries, DEFAULT_DEDUPE_TTL_MS, DEFAULT_DEDUPE_MAX_ENTRIES]).toEqual([
      3_600_000, 10_000, 3_600_000, 10_000,
    ]);
  });

  it('rejects a zero TTL', () => {
    expect(() => new DedupeCache({ ttlMs: 0 })).toThrow(RangeError);
  });

  it('rejects a max size below one', () => {
    expect(() => new DedupeCache({ maxEntries: 0 })).toThrow(RangeError);
  });
});
