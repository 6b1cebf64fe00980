/**
 * Fault injection and a QPS limit for the emulator (docs/design.md §6): throttling (`Throttling` 400, as
 * documented for KMS), transient 5xx (`ServiceUnavailableTemporary` 503 JSON), added latency, and a
 * token bucket across all actions. Decisions draw from a CSPRNG, or from a seeded PRNG when a seed
 * is given (reproducible test runs). Faults are runtime configuration and are not persisted.
 */
import { randomBytes } from 'node:crypto';
import { EmulatorErrorCode, KmsEmulatorError } from './errors.js';
import type { KmsErrorCode } from './errors.js';

/** Kinds accepted by `POST /__emulator/faults`. */
export const FaultKind = { Throttle: 'throttle', Error5xx: 'error5xx', Latency: 'latency', Reset: 'reset' } as const;
/** One fault kind. */
export type FaultKind = (typeof FaultKind)[keyof typeof FaultKind];

/** A validated fault request (the admin body or the in-process `faults.inject` argument). */
export interface FaultRequest {
  kind: FaultKind;
  /** Probability 0..1 that a matching request is affected (default 1). */
  rate?: number;
  /** Only these actions (default: all). */
  actions?: string[];
  /** Affect this many requests, then the rule disappears (default: unlimited). */
  count?: number;
  /** For `latency`: added delay in milliseconds (0..60000). */
  latencyMs?: number;
}

/** An active rule as reported by `GET /__emulator/state`. */
export interface FaultRule {
  id: number;
  kind: Exclude<FaultKind, 'reset'>;
  rate: number;
  actions: string[] | null;
  /** Requests still to affect; null = unlimited. */
  remaining: number | null;
  latencyMs: number;
}

/** What the emulator does to one request. */
export interface FaultDecision {
  latencyMs: number;
  error: Extract<KmsErrorCode, 'Throttling' | 'Rejected.Throttling' | 'ServiceUnavailableTemporary'> | null;
}

/**
 * Secrets Manager actions: throttling (a `throttle` fault or the QPS limit) answers
 * `Rejected.Throttling` 429 for them (documented for CreateSecret in the 2021 docs; applied to every
 * Secrets Manager action: inferred, docs/kms-3-instances.md §2). Key actions keep `Throttling` 400.
 * A unit test checks this list against the emulated secret actions.
 */
export const SECRETS_MANAGER_ACTIONS: ReadonlySet<string> = new Set([
  'CreateSecret',
  'GetSecretValue',
  'PutSecretValue',
  'DescribeSecret',
  'ListSecrets',
  'ListSecretVersionIds',
  'DeleteSecret',
  'RestoreSecret',
]);

/** Thrown for an invalid admin/fault/QPS/clock request; the message is safe to return in a 400. */
export class AdminInputError extends KmsEmulatorError {
  override readonly name: string = 'AdminInputError';

  constructor(reason: string) {
    super(EmulatorErrorCode.InvalidInput, reason);
  }
}

const MAX_LATENCY_MS = 60_000;
const KINDS: readonly string[] = Object.values(FaultKind);

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Validates a fault request body; `knownActions` catches typos in `actions`. */
export function parseFaultRequest(body: unknown, knownActions: ReadonlySet<string>): FaultRequest {
  if (!isRecord(body)) throw new AdminInputError('body must be a JSON object');
  for (const field of Object.keys(body)) {
    if (!['kind', 'rate', 'actions', 'count', 'latencyMs'].includes(field))
      throw new AdminInputError(`unknown field "${field}"`);
  }
  const kind = body['kind'];
  if (typeof kind !== 'string' || !KINDS.includes(kind)) {
    throw new AdminInputError(`"kind" must be one of ${KINDS.join(', ')}`);
  }
  const request: FaultRequest = { kind: kind as FaultKind };
  const { rate, actions, count, latencyMs } = body;
  if (rate !== undefined) {
    if (typeof rate !== 'number' || !(rate >= 0 && rate <= 1))
      throw new AdminInputError('"rate" must be a number from 0 to 1');
    request.rate = rate;
  }
  if (actions !== undefined) {
    if (!Array.isArray(actions) || actions.length === 0 || !actions.every((a) => typeof a === 'string')) {
      throw new AdminInputError('"actions" must be a non-empty array of action names');
    }
    const unknown = (actions as string[]).find((a) => !knownActions.has(a));
    if (unknown !== undefined) throw new AdminInputError(`"actions" names an unknown action: ${unknown}`);
    request.actions = [...(actions as string[])];
  }
  if (count !== undefined) {
    if (typeof count !== 'number' || !Number.isInteger(count) || count < 1) {
      throw new AdminInputError('"count" must be a positive integer');
    }
    request.count = count;
  }
  if (latencyMs !== undefined) {
    if (typeof latencyMs !== 'number' || !Number.isInteger(latencyMs) || latencyMs < 0 || latencyMs > MAX_LATENCY_MS) {
      throw new AdminInputError(`"latencyMs" must be an integer from 0 to ${MAX_LATENCY_MS}`);
    }
    request.latencyMs = latencyMs;
  }
  if (request.kind === 'latency' && request.latencyMs === undefined)
    throw new AdminInputError('"latencyMs" is required for kind "latency"');
  if (request.kind !== 'latency' && request.latencyMs !== undefined)
    throw new AdminInputError('"latencyMs" is only valid for kind "latency"');
  return request;
}

/** Validates a QPS body `{"limit": n}`; 0 or absent = off. */
export function parseQpsRequest(body: unknown): number {
  if (!isRecord(body)) throw new AdminInputError('body must be a JSON object');
  for (const field of Object.keys(body)) if (field !== 'limit') throw new AdminInputError(`unknown field "${field}"`);
  const limit = body['limit'];
  if (limit === undefined) return 0;
  if (typeof limit !== 'number' || !Number.isInteger(limit) || limit < 0 || limit > 1_000_000) {
    throw new AdminInputError('"limit" must be an integer from 0 to 1000000 (0 = off)');
  }
  return limit;
}

/** Uniform [0,1) from the CSPRNG (48 random bits). */
function cryptoUniform(): number {
  return randomBytes(6).readUIntBE(0, 6) / 2 ** 48;
}

/** mulberry32: a small seeded PRNG, used only to make fault draws reproducible (never for keys). */
function seededUniform(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

/** Token bucket: `limit` tokens per second, burst capacity `limit`. */
class TokenBucket {
  private tokens: number;
  private lastMs: number;

  constructor(
    readonly limit: number,
    nowMs: number,
  ) {
    this.tokens = limit;
    this.lastMs = nowMs;
  }

  take(nowMs: number): boolean {
    const elapsed = Math.max(0, nowMs - this.lastMs) / 1000;
    this.tokens = Math.min(this.limit, this.tokens + elapsed * this.limit);
    this.lastMs = nowMs;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

/**
 * The KMS shared gateway's per-account QPS quota groups (docs/kms-api.md §4.1, documented: "Performance
 * data for KMS"), transcribed here independently of the product (the emulator imports no product code).
 * Group membership of actions the page does not name is inferred from the group descriptions.
 */
export const SHARED_GATEWAY_QPS_GROUPS: ReadonlyArray<{ group: string; limit: number; actions: readonly string[] }> = [
  {
    group: 'key-read',
    limit: 50,
    actions: ['DescribeKey', 'ListKeys', 'GetParametersForImport', 'ListAliases', 'ListAliasesByKeyId'],
  },
  { group: 'key-tags', limit: 300, actions: ['ListResourceTags'] },
  { group: 'key-create', limit: 10, actions: ['CreateKey'] },
  {
    group: 'key-write',
    limit: 30,
    actions: [
      'ImportKeyMaterial',
      'DeleteKeyMaterial',
      'CreateAlias',
      'UpdateAlias',
      'DeleteAlias',
      'TagResource',
      'UntagResource',
      'EnableKey',
      'DisableKey',
      'ScheduleKeyDeletion',
      'CancelKeyDeletion',
    ],
  },
  { group: 'crypto-symmetric', limit: 1000, actions: ['Encrypt', 'Decrypt', 'GenerateDataKey'] },
  { group: 'secret-create-delete', limit: 10, actions: ['CreateSecret', 'DeleteSecret'] },
  { group: 'secret-value', limit: 450, actions: ['GetSecretValue'] },
  {
    group: 'secret-metadata',
    limit: 40,
    actions: ['PutSecretValue', 'DescribeSecret', 'ListSecrets', 'ListSecretVersionIds', 'RestoreSecret'],
  },
  { group: 'instance-read', limit: 50, actions: ['GetKmsInstance', 'GetDefaultKmsInstance', 'ListKmsInstances'] },
];

/** What the QPS limits turned away so far (tests read it; reset with `resetQpsStats`). */
export interface QpsStats {
  /** Requests throttled by the account-wide limit or a group limit. */
  throttled: number;
  /** Throttled requests per action. */
  byAction: Record<string, number>;
}

/** Holds the active fault rules and the QPS bucket; `decide` is called once per API request. */
export class FaultInjector {
  private rules: FaultRule[] = [];
  private nextId = 1;
  private bucket: TokenBucket | null = null;
  /** Per-group buckets (the shared gateway's quota groups), by action. */
  private groupBuckets = new Map<string, TokenBucket>();
  private qpsStats: QpsStats = { throttled: 0, byAction: {} };
  private readonly draw: () => number;

  constructor(
    seed: number | undefined,
    private readonly realNowMs: () => number = Date.now,
  ) {
    this.draw = seed === undefined ? cryptoUniform : seededUniform(seed);
  }

  /** Adds a rule (or clears all for `reset`). */
  inject(request: FaultRequest): FaultRule | null {
    if (request.kind === 'reset') {
      this.reset();
      return null;
    }
    const rule: FaultRule = {
      id: this.nextId++,
      kind: request.kind,
      rate: request.rate ?? 1,
      actions: request.actions ?? null,
      remaining: request.count ?? null,
      latencyMs: request.latencyMs ?? 0,
    };
    this.rules.push(rule);
    return { ...rule };
  }

  /** Removes every rule (the QPS limit stays). */
  reset(): void {
    this.rules = [];
  }

  /** Sets the QPS limit across all actions; 0 = off. */
  setQpsLimit(limit: number): void {
    this.bucket = limit > 0 ? new TokenBucket(limit, this.realNowMs()) : null;
  }

  /** Current QPS limit (0 = off). */
  qpsLimit(): number {
    return this.bucket?.limit ?? 0;
  }

  /**
   * Enforces the shared gateway's per-group quotas (SHARED_GATEWAY_QPS_GROUPS), each x `scale`, on
   * top of the account-wide limit; `null` = off. Actions in no group are not limited by a group.
   */
  setGroupQpsLimits(scale: number | null): void {
    this.groupBuckets = new Map();
    if (scale === null) return;
    if (!(scale > 0)) throw new AdminInputError('"scale" must be greater than 0');
    const now = this.realNowMs();
    for (const g of SHARED_GATEWAY_QPS_GROUPS) {
      const bucket = new TokenBucket(g.limit * scale, now);
      for (const action of g.actions) this.groupBuckets.set(action, bucket);
    }
  }

  /** Requests the QPS limits have throttled so far. */
  qpsThrottled(): QpsStats {
    return { throttled: this.qpsStats.throttled, byAction: { ...this.qpsStats.byAction } };
  }

  /** Zeroes the throttle counters. */
  resetQpsStats(): void {
    this.qpsStats = { throttled: 0, byAction: {} };
  }

  /** Snapshot of the active rules. */
  active(): FaultRule[] {
    return this.rules.map((r) => ({ ...r, actions: r.actions === null ? null : [...r.actions] }));
  }

  /**
   * Decides the fate of one request for `action`: QPS bucket first, then each matching rule in
   * order. Latency rules add up; the first error rule that fires wins. A rule's `remaining`
   * only decreases when it actually affects a request.
   */
  decide(action: string): FaultDecision {
    const decision: FaultDecision = { latencyMs: 0, error: null };
    const throttle = SECRETS_MANAGER_ACTIONS.has(action) ? 'Rejected.Throttling' : 'Throttling';
    const now = this.realNowMs();
    const group = this.groupBuckets.get(action);
    // Both are charged: a request over either limit is throttled (and still consumed the other's token).
    const overAccount = this.bucket !== null && !this.bucket.take(now);
    const overGroup = group !== undefined && !group.take(now);
    if (overAccount || overGroup) {
      decision.error = throttle;
      this.qpsStats.throttled += 1;
      this.qpsStats.byAction[action] = (this.qpsStats.byAction[action] ?? 0) + 1;
    }
    for (const rule of this.rules) {
      if (rule.actions !== null && !rule.actions.includes(action)) continue;
      if (rule.kind !== 'latency' && decision.error !== null) continue;
      if (!(this.draw() < rule.rate)) continue;
      if (rule.kind === 'latency') decision.latencyMs += rule.latencyMs;
      else decision.error = rule.kind === 'throttle' ? throttle : 'ServiceUnavailableTemporary';
      if (rule.remaining !== null) rule.remaining -= 1;
    }
    this.rules = this.rules.filter((r) => r.remaining === null || r.remaining > 0);
    return decision;
  }
}
