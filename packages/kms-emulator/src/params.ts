/**
 * Typed access to the decoded request parameters of one RPC call. Every accessor raises the KMS
 * error the gateway would answer (`MissingParameter` / `InvalidParameter`, 400), naming the
 * parameter and never echoing its value.
 */
import { invalidParameter, missingParameter } from './errors.js';

/** Bounds for integer parameters. */
export interface IntRange {
  min: number;
  max: number;
}

/** The decoded, merged (query + form body) parameters of one request. */
export class RequestParams {
  constructor(private readonly values: ReadonlyMap<string, string>) {}

  /** The raw decoded value, `undefined` when absent. */
  get(name: string): string | undefined {
    return this.values.get(name);
  }

  /** All names (for flattened maps such as `EncryptionContext.k`). */
  names(): string[] {
    return [...this.values.keys()];
  }

  /** A required value; absent or empty -> MissingParameter. */
  required(name: string): string {
    const value = this.values.get(name);
    if (value === undefined || value === '') throw missingParameter(name);
    return value;
  }

  /** An optional value; an empty string counts as absent (v1.2.0 sends `Key=` for ''). */
  optional(name: string): string | undefined {
    const value = this.values.get(name);
    return value === undefined || value === '' ? undefined : value;
  }

  /** An optional integer within `range`; absent/empty -> `fallback`. */
  int(name: string, range: IntRange, fallback: number): number;
  int(name: string, range: IntRange): number | undefined;
  int(name: string, range: IntRange, fallback?: number): number | undefined {
    const text = this.optional(name);
    if (text === undefined) return fallback;
    if (!/^-?\d{1,15}$/.test(text)) throw invalidParameter(name, 'It must be an integer.');
    const value = Number(text);
    if (value < range.min || value > range.max) {
      throw invalidParameter(name, `It must be between ${range.min} and ${range.max}.`);
    }
    return value;
  }

  /** An optional boolean sent as `true`/`false` (case-insensitive); absent -> `fallback`. */
  bool(name: string, fallback: boolean): boolean {
    const text = this.optional(name);
    if (text === undefined) return fallback;
    const lower = text.toLowerCase();
    if (lower === 'true') return true;
    if (lower === 'false') return false;
    throw invalidParameter(name, 'It must be "true" or "false".');
  }

  /** A value from a closed set (case-sensitive, as KMS is); absent -> `fallback`. */
  oneOf<T extends string>(name: string, allowed: readonly T[], fallback: T): T {
    const text = this.optional(name);
    if (text === undefined) return fallback;
    if (!(allowed as readonly string[]).includes(text)) throw invalidParameter(name);
    return text as T;
  }
}

/** Page parameters shared by the List* actions (PageNumber >= 1, PageSize 1..100, default 1/10). */
export function readPage(params: RequestParams, defaultPageSize = 10): { pageNumber: number; pageSize: number } {
  return {
    pageNumber: params.int('PageNumber', { min: 1, max: 1_000_000 }, 1),
    pageSize: params.int('PageSize', { min: 1, max: 100 }, defaultPageSize),
  };
}

/** Slices one page out of a list. */
export function pageOf<T>(items: readonly T[], page: { pageNumber: number; pageSize: number }): T[] {
  const start = (page.pageNumber - 1) * page.pageSize;
  return items.slice(start, start + page.pageSize);
}

/** One `Filters` entry: values of one key are ORed; different keys are ANDed. */
export interface Filter {
  key: string;
  values: string[];
}

/**
 * Parses a `Filters` JSON string `[{"Key":"…","Values":["…"]}, …]` (documented for ListKeys and
 * ListSecrets: 0-10 pairs, 0-10 values each). Repeated keys are merged (their values ORed, as
 * documented for ListKeys). Malformed input or an unknown key -> InvalidParameter 400 (inferred).
 */
export function parseFilters(params: RequestParams, allowedKeys: readonly string[], name = 'Filters'): Filter[] {
  const text = params.optional(name);
  if (text === undefined) return [];
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw invalidParameter(name, 'It must be a JSON array of {"Key","Values"} objects.');
  }
  if (!Array.isArray(parsed)) throw invalidParameter(name, 'It must be a JSON array of {"Key","Values"} objects.');
  if (parsed.length > 10) throw invalidParameter(name, 'At most 10 key/values pairs are allowed.');
  const merged = new Map<string, string[]>();
  for (const item of parsed as unknown[]) {
    if (typeof item !== 'object' || item === null || Array.isArray(item))
      throw invalidParameter(name, 'Each filter must be an object.');
    const { Key: key, Values: values } = item as Record<string, unknown>;
    if (typeof key !== 'string' || !allowedKeys.includes(key)) {
      throw invalidParameter(name, `Filter keys are ${allowedKeys.join(', ')}.`);
    }
    if (!Array.isArray(values) || values.length > 10 || !values.every((v) => typeof v === 'string')) {
      throw invalidParameter(name, 'Values must be an array of at most 10 strings.');
    }
    merged.set(key, [...(merged.get(key) ?? []), ...(values as string[])]);
  }
  return [...merged].map(([key, values]) => ({ key, values }));
}

/** True when `candidates(key)` meets every filter (a filter with no values constrains nothing, inferred). */
export function matchesFilters(filters: readonly Filter[], candidates: (key: string) => readonly string[]): boolean {
  return filters.every((f) => f.values.length === 0 || candidates(f.key).some((c) => f.values.includes(c)));
}
