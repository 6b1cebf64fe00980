/**
 * What a webhook asks for, whoever sent it: intents (check, re-import, alert) about a target (a key,
 * an alias's lineage, or all managed keys), and the helpers every sender's parser shares (key
 * references, reasons, errors). The parsers are cloudmonitor.ts, eventbridge.ts and payloads.ts.
 */
import { ErrorCode, OrchestratorError } from '../errors.js';

/** Longest `reason` kept; longer text is cut (reasons end up in audit events and responses). */
export const MAX_REASON_LENGTH = 512;

/** What an intent asks for. */
export const IntentKind = { Check: 'check', Reimport: 'reimport', Alert: 'alert' } as const;
/** One intent kind. */
export type IntentKind = (typeof IntentKind)[keyof typeof IntentKind];

/** Who sent the webhook. */
export const WebhookSource = { CloudMonitor: 'cloudmonitor', EventBridge: 'eventbridge', Generic: 'generic' } as const;
/** One webhook source. */
export type WebhookSource = (typeof WebhookSource)[keyof typeof WebhookSource];

/** Alert severities. */
export const Severity = { Critical: 'critical', Warning: 'warning', Info: 'info' } as const;
/** One alert severity. */
export type Severity = (typeof Severity)[keyof typeof Severity];

/**
 * Which keys an intent is about. `revive`: a read was refused because the key's material lapsed
 * (Rejected.PendingImport); the check also revives it if it is a managed dormant (retired) generation.
 */
export type WebhookTarget = { keyId: string; revive?: true } | { alias: string } | { all: true };

/** Who made the KMS call an EventBridge event reports (ActionTrail `userIdentity`, strings only). */
export interface WebhookActor {
  type: string;
  name?: string;
  principalId?: string;
  accountId?: string;
  arn?: string;
  /** The AccessKey id the call was signed with (STS ids start with `STS.`). */
  accessKeyId?: string;
}

interface IntentBase {
  target: WebhookTarget;
  /** Human-readable why, secret-free, at most MAX_REASON_LENGTH characters. */
  reason: string;
  source: WebhookSource;
  /** Identifies this (delivery, kind) for DedupeCache: a repeated delivery yields the same key. */
  dedupeKey: string;
  actor?: WebhookActor;
}

/** One thing the webhook asks the orchestrator to do. */
export type WebhookIntent =
  | (IntentBase & { kind: 'check' })
  | (IntentBase & { kind: 'reimport' })
  | (IntentBase & { kind: 'alert'; severity: Severity });

/** Parsed webhook: the intents, and why parts of the payload were ignored (secret-free). */
export interface ParsedWebhook {
  source: WebhookSource;
  intents: WebhookIntent[];
  ignored: string[];
}

/** The UnknownPayload error naming what was missing. */
export function unknownPayload(what: string): OrchestratorError {
  return new OrchestratorError(ErrorCode.UnknownPayload, `webhook: unrecognised payload: ${what}`);
}

/** A plain object (not null, not an array). */
export const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);
/** A non-empty string that is not the literal `"null"` (CloudMonitor's absent value), or undefined. */
export const str = (v: unknown): string | undefined =>
  typeof v === 'string' && v !== '' && v !== 'null' ? v : undefined;

/** Collapses control characters and cuts to MAX_REASON_LENGTH. */
export function cleanReason(text: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: removing control characters is the point
  const flat = text.replace(/[\u0000-\u001f\u007f]+/g, ' ').trim();
  return flat.length > MAX_REASON_LENGTH ? `${flat.slice(0, MAX_REASON_LENGTH - 1)}…` : flat;
}

/** KMS key id, key ARN, alias name and CloudEvent subject of a key. */
const KEY_ID = /^[A-Za-z0-9-]{1,128}$/;
const KEY_ARN = /^acs:kms:[^:]*:[^:]*:key\/([A-Za-z0-9-]{1,128})$/;
export const ALIAS = /^alias\/[A-Za-z0-9_/-]{1,255}$/;
export const SUBJECT_KEY = /^acs\.kms:[^:]*:[^:]*:key\/([A-Za-z0-9-]{1,128})$/;

/** A key reference (id, `acs:kms:...:key/<id>` ARN, or `alias/...`) -> target, or undefined. */
export function targetFromKeyRef(ref: string): WebhookTarget | undefined {
  if (ALIAS.test(ref)) return { alias: ref };
  const arn = KEY_ARN.exec(ref);
  if (arn?.[1]) return { keyId: arn[1] };
  return KEY_ID.test(ref) ? { keyId: ref } : undefined;
}

/** A target in words, for reasons. */
export const describeTarget = (t: WebhookTarget): string =>
  'keyId' in t ? `key ${t.keyId}` : 'alias' in t ? t.alias : 'all managed keys';

/** A target's stable key: `key:<id>`, `alias:<alias>` or `all` (response and audit details use it). */
export function targetKey(t: WebhookTarget): string {
  return 'keyId' in t ? `key:${t.keyId}` : 'alias' in t ? `alias:${t.alias}` : 'all';
}
