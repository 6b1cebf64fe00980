/**
 * The shape of a validated configuration (Config and its parts), its defaults and ranges, and the
 * error that lists every problem. No parsing here: see reader.ts, policy.ts, placement.ts, index.ts.
 */
import { inspect } from 'node:util';
import { ErrorCode, OrchestratorError } from '../errors.js';
import type { EscrowConfig } from '../escrow/store.js';
import { KeySpec, WrappingAlgorithm } from '../wrap/index.js';

/** A secret value that prints, inspects and serialises as `[redacted]`; `reveal()` gives the value. */
export class SecretString {
  readonly #value: string;
  constructor(value: string) {
    this.#value = value;
  }
  /** The secret itself: call only where it is used (an HMAC key), never to print it. */
  reveal(): string {
    return this.#value;
  }
  /** Serialises as `[redacted]`. */
  toJSON(): string {
    return REDACTED;
  }
  /** Prints as `[redacted]`. */
  toString(): string {
    return REDACTED;
  }
  /** util.inspect / console.log show `[redacted]`. */
  [inspect.custom](): string {
    return REDACTED;
  }
}

/** What redacted values look like in output. */
export const REDACTED = '[redacted]';

/** KMS transport protocols. */
export const KmsProtocol = { Http: 'http', Https: 'https' } as const;
/** A KMS transport protocol. */
export type KmsProtocol = (typeof KmsProtocol)[keyof typeof KmsProtocol];

/** Where the audit log writes (BYOK_AUDIT_SINK); the audit module's AuditSink is one destination. */
export const AuditSinkChoice = { Stdout: 'stdout', File: 'file', Both: 'both' } as const;
/** An audit sink choice. */
export type AuditSinkChoice = (typeof AuditSinkChoice)[keyof typeof AuditSinkChoice];

/** Outbound alert webhook formats (BYOK_ALERT_WEBHOOK_FORMAT). */
export const AlertWebhookFormatChoice = { Generic: 'generic', DingTalk: 'dingtalk', Lark: 'lark' } as const;
/** An outbound alert webhook format. */
export type AlertWebhookFormatChoice = (typeof AlertWebhookFormatChoice)[keyof typeof AlertWebhookFormatChoice];

/** One lineage policy (the lifecycle re-exports this type; configuration never imports the lifecycle). */
export interface LineagePolicy {
  validityDays: number;
  renewBeforeDays: number;
  /** 0 = never rotate. */
  rotateAfterDays: number;
  /** Days a superseded generation keeps being renewed before it is retired; 0 = forever (the default). */
  retainPreviousDays: number;
  /** Valid Until, in days, of a retired (dormant) generation's material when it is revived. */
  reviveValidityDays: number;
  wrappingAlgorithm: WrappingAlgorithm;
  keySpec: KeySpec;
}

/** Policy defaults plus per-lineage overrides. */
export interface Policies {
  defaults: LineagePolicy;
  lineages: Record<string, Partial<LineagePolicy>>;
}

/** Where a webhook secret comes from: the value itself, or the name of a KMS secret holding it. */
export type SecretSetting = { source: 'value'; value: SecretString } | { source: 'kms-secret'; secretName: string };

/** The validated configuration. Print it only through `redactConfig`. */
export interface Config {
  region: string;
  kms: {
    /** host[:port], no scheme. */
    endpoint: string;
    protocol: KmsProtocol;
    /** Client-side QPS ceiling across all actions; undefined = none. */
    maxRequestsPerSecond?: number;
    /** Fixed KMS calls in flight; undefined = derived from the rate and the observed latency. */
    concurrency?: number;
    /** Share (0-1] of each documented per-account QPS quota (docs/kms-api.md §4.1); undefined = off. */
    qpsShare?: number;
  };
  /** Sweep sharding (functions/sweep): lineages per shard; a larger sweep is split (README "Limits"). */
  sweep: {
    shardLineages: number;
    /** Shards running at once: the sweep's reservedConcurrency (s.yaml); each takes 1/this of the QPS share. */
    parallelShards: number;
    /** Every escrow record is read back in full at least once in this many days (observe.ts). */
    escrowVerifyDays: number;
    /** Every managed key's own tags are read at least once in this many days (the tag mirror's reconcile). */
    tagReconcileDays: number;
  };
  escrow: EscrowConfig;
  /**
   * KMS 3.0 placement (docs/kms-3-instances.md): `keys` = instance of the managed CMKs, `escrow` =
   * instance of the escrow CMK and the escrow/lease secrets. Undefined = no DKMSInstanceId sent.
   */
  instances: { keys?: string; escrow?: string };
  /** Aliyun_KMS CMK that encrypts lease secrets. */
  leaseKeyId: string;
  leaseTtlSeconds: number;
  audit: { sink: AuditSinkChoice; file?: string };
  policies: Policies;
  webhook: {
    secret?: SecretSetting;
    urlToken?: SecretSetting;
    /** RAM role and session names whose ActionTrail events are the orchestrator's own writes (ignored). */
    selfRoleNames: string[];
    selfSessionNames: string[];
  };
  /** Alerts for people (shared/alerts): the outbound webhook, and re-send intervals while a condition lasts. */
  alerts: {
    webhook?: { url: SecretString; format: AlertWebhookFormatChoice; secret?: SecretSetting };
    resendHours: { critical: number; warning: number };
  };
  /** Things worth telling an operator that do not stop the start (unknown BYOK_* names, ignored variables). */
  warnings: string[];
}

/** One configuration problem: the variable (or `VAR.path` inside a JSON variable) and the rule. */
export interface ConfigProblem {
  variable: string;
  message: string;
}

/** InvalidConfig carrying every problem found; the message lists them all. */
export class ConfigError extends OrchestratorError {
  override readonly name: string = 'ConfigError';
  readonly problems: readonly ConfigProblem[];
  constructor(problems: ConfigProblem[]) {
    const lines = problems.map((p) => p.message);
    const message = lines.length === 1 ? lines[0]! : `${lines.length} configuration problems: ${lines.join('; ')}`;
    super(ErrorCode.InvalidConfig, message, {
      details: {
        field: problems[0]?.variable,
        variables: [...new Set(problems.map((p) => p.variable.split('.')[0]!))].join(','),
      },
    });
    this.problems = problems;
  }
}

/**
 * Policy defaults: 30 d validity, renew 7 d before, rotate yearly, keep renewing previous
 * generations for as long as they exist (retention 0 = forever; an operator retires one explicitly).
 */
export const DEFAULT_POLICY: Readonly<LineagePolicy> = {
  validityDays: 30,
  renewBeforeDays: 7,
  rotateAfterDays: 365,
  retainPreviousDays: 0,
  reviveValidityDays: 7,
  wrappingAlgorithm: WrappingAlgorithm.RsaesOaepSha256,
  keySpec: KeySpec.Aes256,
};

/**
 * Upper bound of the derived KMS calls in flight (resilience.ts DERIVED_CONCURRENCY.max); an explicit
 * BYOK_KMS_CONCURRENCY replaces the derivation.
 */
export const DEFAULT_KMS_CONCURRENCY = 32;
/** Default share of each documented KMS QPS quota a deployment uses (resilience.ts DEFAULT_KMS_QPS_SHARE). */
export const DEFAULT_KMS_QPS_SHARE = 0.8;
/** Default shards running at once (= the sweep's reservedConcurrency in s.yaml). */
export const DEFAULT_SWEEP_PARALLEL_SHARDS = 4;
/** Default lineages per sweep shard: a shard of them fits a 600 s function at the default pacing. */
export const DEFAULT_SWEEP_SHARD_LINEAGES = 10_000;
/** Default period of the escrow read-back and of the tag reconcile, days (docs/design.md, observe). */
/**
 * 30: at 4 sweeps a day a record costs 3 calls and a key's tag check 2 once per period, about 0.04
 * extra calls per key per sweep (the 1-call-per-healthy-key budget); every import reads its record
 * back first anyway, so with the default policy each current record is also checked at every renewal.
 */
export const DEFAULT_CHECK_PERIOD_DAYS = 30;
/** Default lease lifetime: above the sweep function's 600 s timeout. */
export const DEFAULT_LEASE_TTL_SECONDS = 900;

/** Integer ranges of numeric settings (one place, so messages and checks agree). */
export const Range = {
  validityDays: [2, 3650],
  renewBeforeDays: [1, 3649],
  rotateAfterDays: [0, 36500],
  retainPreviousDays: [0, 36500],
  reviveValidityDays: [1, 3650],
  concurrency: [1, 64],
  sweepShardLineages: [10, 1_000_000],
  sweepParallelShards: [1, 100],
  checkPeriodDays: [1, 366],
  leaseTtlSeconds: [60, 86400],
  alertResendHours: [1, 2160],
} as const;

/** Default re-send intervals of an open alert: critical daily, warning weekly. */
export const DEFAULT_ALERT_RESEND_HOURS = { critical: 24, warning: 168 } as const;
