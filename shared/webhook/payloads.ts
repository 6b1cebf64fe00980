/**
 * Webhook payloads -> what the orchestrator should do. Three senders reach the webhook function
 * (docs/fc-runtime.md §7):
 *
 * - **CloudMonitor** threshold-alarm callbacks: `application/x-www-form-urlencoded`, every value a
 *   string, absent values as the literal `"null"`, `dimensions` as JSON or as a Java map
 *   `{k=v, k2=v2}`, `alertState` `ALERT` (doc table) or `ALARM` (doc sample) or `OK` /
 *   `INSUFFICIENT_DATA` (§7.1).
 * - **EventBridge** CloudEvents 1.0 carrying ActionTrail records of KMS write calls
 *   (`type` `kms:ActionTrail:ApiCall` etc., `data.eventName`, `data.requestParameters.KeyId`,
 *   `data.userIdentity`), one event or a batch array (§7.2).
 * - **Generic JSON** from people and scripts: `{"action":"check"|"reimport"|"alert", "key"?, "alias"?,
 *   "reason"?, "severity"?}`.
 *
 * The result is a list of `WebhookIntent`s; an empty list is "nothing to do" (a recovery, a KMS call
 * we do not act on), with the reasons in `ignored`. Intents never decide a write: even after a
 * `DeleteKeyMaterial` the engine takes a fresh look before re-importing (docs/design.md §5.6).
 * Errors: `PayloadTooLarge` over the size limit; `UnknownPayload` naming what was missing;
 * `InvalidInput` for a recognised shape with a bad field.
 */
import { createHash } from 'node:crypto';
import { ErrorCode, OrchestratorError, invalidInput } from '../errors.js';

/** Default body limit, bytes: far above any real callback, far below FC's 32 MB sync limit. */
export const DEFAULT_MAX_BODY_BYTES = 64 * 1024;
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

/** Which keys an intent is about. */
export type WebhookTarget = { keyId: string } | { alias: string } | { all: true };

/** Who made the KMS call an EventBridge event reports (ActionTrail `userIdentity`, strings only). */
export interface WebhookActor {
  type: string;
  name?: string;
  principalId?: string;
  accountId?: string;
  arn?: string;
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

/** The request parts the parser reads. */
export interface WebhookPayloadRequest {
  /** Body as received (after FC's base64 decoding, if any). */
  body: string | Buffer;
  /** `Content-Type` header value, if any. */
  contentType?: string;
}

/** Parser options. */
export interface WebhookPayloadOptions {
  /** Body limit in bytes (default 64 KiB). */
  maxBodyBytes?: number;
  /**
   * RAM role names the orchestrator itself runs as: ActionTrail events made by these roles are
   * its own writes and are ignored (e.g. `byok-orchestrator`). Empty: every event is looked at.
   */
  selfRoleNames?: readonly string[];
}

function unknownPayload(what: string): OrchestratorError {
  return new OrchestratorError(ErrorCode.UnknownPayload, `webhook: unrecognised payload: ${what}`);
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' && v !== 'null' ? v : undefined);

/** Collapses control characters and cuts to MAX_REASON_LENGTH. */
function cleanReason(text: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: removing control characters is the point
  const flat = text.replace(/[\u0000-\u001f\u007f]+/g, ' ').trim();
  return flat.length > MAX_REASON_LENGTH ? `${flat.slice(0, MAX_REASON_LENGTH - 1)}…` : flat;
}

const KEY_ID = /^[A-Za-z0-9-]{1,128}$/;
const KEY_ARN = /^acs:kms:[^:]*:[^:]*:key\/([A-Za-z0-9-]{1,128})$/;
const ALIAS = /^alias\/[A-Za-z0-9_/-]{1,255}$/;
const SUBJECT_KEY = /^acs\.kms:[^:]*:[^:]*:key\/([A-Za-z0-9-]{1,128})$/;

/** A key reference (id, `acs:kms:...:key/<id>` ARN, or `alias/...`) -> target, or undefined. */
function targetFromKeyRef(ref: string): WebhookTarget | undefined {
  if (ALIAS.test(ref)) return { alias: ref };
  const arn = KEY_ARN.exec(ref);
  if (arn?.[1]) return { keyId: arn[1] };
  return KEY_ID.test(ref) ? { keyId: ref } : undefined;
}

const describeTarget = (t: WebhookTarget): string => ('keyId' in t ? `key ${t.keyId}` : 'alias' in t ? t.alias : 'all managed keys');

// ---------------------------------------------------------------- CloudMonitor (docs/fc-runtime.md §7.1)

/** Parses CloudMonitor `dimensions`: JSON (object or array of objects) or Java map `{k=v, k2=v2}`. */
export function parseCloudMonitorDimensions(raw: string | undefined): Record<string, string> {
  if (raw === undefined) return {};
  const text = raw.trim();
  try {
    const json: unknown = JSON.parse(text);
    const items = Array.isArray(json) ? json : [json];
    const out: Record<string, string> = {};
    for (const item of items) {
      if (!isRecord(item)) continue;
      for (const [k, v] of Object.entries(item)) if (typeof v === 'string' || typeof v === 'number') out[k] = String(v);
    }
    return out;
  } catch {
    const inner = text.replace(/^\{/, '').replace(/\}$/, '');
    const out: Record<string, string> = {};
    for (const pair of inner.split(',')) {
      const eq = pair.indexOf('=');
      if (eq > 0) out[pair.slice(0, eq).trim()] = pair.slice(eq + 1).trim();
    }
    return out;
  }
}

const ALERT_STATES = new Set(['ALERT', 'ALARM']);
const SEVERITY_OF_LEVEL: Record<string, Severity> = { CRITICAL: 'critical', WARN: 'warning', WARNING: 'warning', INFO: 'info' };

function parseCloudMonitor(form: URLSearchParams): ParsedWebhook {
  const field = (name: string): string | undefined => str(form.get(name) ?? undefined);
  const alertName = field('alertName');
  if (alertName === undefined) throw unknownPayload('CloudMonitor callback without alertName');
  const alertState = field('alertState')?.toUpperCase();
  if (alertState === undefined) throw unknownPayload('CloudMonitor callback without alertState');

  const dims = parseCloudMonitorDimensions(field('dimensions'));
  const keyRef = dims['keyId'] ?? dims['KeyId'] ?? dims['key_id'];
  const aliasRef = dims['alias'] ?? dims['aliasName'] ?? dims['AliasName'];
  const target: WebhookTarget = (keyRef && targetFromKeyRef(keyRef)) || (aliasRef && targetFromKeyRef(aliasRef)) || { all: true };

  const ruleOrName = field('ruleId') ?? alertName;
  const timestamp = field('timestamp') ?? '';
  const dedupe = (kind: IntentKind) => `cloudmonitor:${ruleOrName}:${timestamp}:${alertState}:${kind}`;
  const metric = [field('namespace') ?? field('metricProject'), field('metricName')].filter(Boolean).join('/');
  const reason = cleanReason(
    `CloudMonitor ${alertState} ${alertName}${metric ? ` (${metric}` : ''}${field('expression') ? ` ${field('expression')}` : ''}${
      field('curValue') ? `, current ${field('curValue')}` : ''
    }${metric ? ')' : ''} for ${describeTarget(target)}`,
  );
  const base = { target, reason, source: WebhookSource.CloudMonitor };

  if (ALERT_STATES.has(alertState)) {
    const severity = SEVERITY_OF_LEVEL[field('triggerLevel')?.toUpperCase() ?? ''] ?? Severity.Warning;
    return {
      source: WebhookSource.CloudMonitor,
      intents: [
        { ...base, kind: 'alert', severity, dedupeKey: dedupe('alert') },
        { ...base, kind: 'check', dedupeKey: dedupe('check') },
      ],
      ignored: [],
    };
  }
  if (alertState === 'INSUFFICIENT_DATA') {
    return { source: WebhookSource.CloudMonitor, intents: [{ ...base, kind: 'check', dedupeKey: dedupe('check') }], ignored: [] };
  }
  if (alertState === 'OK') return { source: WebhookSource.CloudMonitor, intents: [], ignored: [`CloudMonitor ${alertName}: back to OK`] };
  throw invalidInput('alertState', 'must be ALERT, ALARM, OK or INSUFFICIENT_DATA');
}

// ---------------------------------------------------------------- EventBridge (docs/fc-runtime.md §7.2)

/** ActionTrail-based KMS event types (EventBridge "KMS events"). */
const ACTIONTRAIL_TYPES = new Set(['kms:ActionTrail:ApiCall', 'kms:ActionTrail:ConsoleOperation', 'kms:ActionTrail:AliyunServiceEvent']);

/** What each KMS write reported by ActionTrail asks for. Others are ignored. */
const EVENT_INTENTS: Readonly<Record<string, readonly { kind: IntentKind; severity?: Severity }[]>> = {
  // Material gone: the CMK is PendingImport; the engine re-imports after its own fresh look.
  DeleteKeyMaterial: [{ kind: 'check' }],
  // Material imported by someone else: compare against escrow/fingerprint.
  ImportKeyMaterial: [{ kind: 'check' }],
  // Destructive or availability-affecting: tell a human, and look.
  ScheduleKeyDeletion: [{ kind: 'alert', severity: 'critical' }, { kind: 'check' }],
  DisableKey: [{ kind: 'alert', severity: 'warning' }, { kind: 'check' }],
  // State restored or state-holding metadata changed by hand: look (drift detection).
  CancelKeyDeletion: [{ kind: 'check' }],
  EnableKey: [{ kind: 'check' }],
  UpdateAlias: [{ kind: 'check' }],
  DeleteAlias: [{ kind: 'check' }],
  TagResource: [{ kind: 'check' }],
  UntagResource: [{ kind: 'check' }],
};

function actorOf(identity: unknown): WebhookActor | undefined {
  if (!isRecord(identity)) return undefined;
  const actor: WebhookActor = { type: str(identity['type']) ?? 'unknown' };
  const name = str(identity['userName']) ?? str(identity['sessionName']);
  if (name !== undefined) actor.name = name;
  const principalId = str(identity['principalId']);
  if (principalId !== undefined) actor.principalId = principalId;
  const accountId = str(identity['accountId']);
  if (accountId !== undefined) actor.accountId = accountId;
  const arn = str(identity['arn']);
  if (arn !== undefined) actor.arn = arn;
  return actor;
}

function isSelf(actor: WebhookActor | undefined, selfRoleNames: readonly string[]): boolean {
  if (!actor || selfRoleNames.length === 0) return false;
  return selfRoleNames.some((role) => actor.arn?.includes(`:assumed-role/${role}/`) === true || actor.name === role);
}

function eventTarget(event: Record<string, unknown>, data: Record<string, unknown>): WebhookTarget {
  const params = isRecord(data['requestParameters']) ? data['requestParameters'] : {};
  const refs: (string | undefined)[] = [str(params['KeyId']), str(params['AliasName']), str(data['resourceName'])];
  const referenced = isRecord(data['referencedResources']) ? data['referencedResources']['ACS::KMS::Key'] : undefined;
  if (Array.isArray(referenced)) refs.push(str(referenced[0]));
  const subject = SUBJECT_KEY.exec(str(event['subject']) ?? '');
  refs.push(subject?.[1]);
  for (const ref of refs) {
    const target = ref === undefined ? undefined : targetFromKeyRef(ref);
    if (target) return target;
  }
  return { all: true };
}

function parseCloudEvent(event: unknown, opts: WebhookPayloadOptions, out: ParsedWebhook): void {
  if (!isRecord(event)) throw unknownPayload('EventBridge batch item is not an object');
  for (const required of ['id', 'source', 'specversion', 'type'] as const) {
    if (str(event[required]) === undefined) throw unknownPayload(`CloudEvent without ${required}`);
  }
  const id = String(event['id']);
  const source = String(event['source']);
  const type = String(event['type']);
  if (!ACTIONTRAIL_TYPES.has(type)) {
    out.ignored.push(`CloudEvent ${id}: type ${type} is not a KMS ActionTrail event`);
    return;
  }
  const data = event['data'];
  if (!isRecord(data)) throw unknownPayload(`CloudEvent ${id} (${type}) without data`);
  const eventName = str(data['eventName']);
  if (eventName === undefined) throw unknownPayload(`CloudEvent ${id} (${type}) without data.eventName`);
  const plan = EVENT_INTENTS[eventName];
  if (plan === undefined) {
    out.ignored.push(`CloudEvent ${id}: ${eventName} needs no action`);
    return;
  }
  if (str(data['errorCode']) !== undefined) {
    out.ignored.push(`CloudEvent ${id}: ${eventName} failed, nothing changed`);
    return;
  }
  const actor = actorOf(data['userIdentity']);
  if (isSelf(actor, opts.selfRoleNames ?? [])) {
    out.ignored.push(`CloudEvent ${id}: ${eventName} made by the orchestrator itself`);
    return;
  }
  const target = eventTarget(event, data);
  const who = actor ? (actor.name ?? actor.principalId ?? actor.type) : 'unknown';
  const reason = cleanReason(`${eventName} on ${describeTarget(target)} by ${who} (EventBridge ${type})`);
  for (const step of plan) {
    const base = { target, reason, source: WebhookSource.EventBridge, dedupeKey: `eventbridge:${source}:${id}:${step.kind}` };
    const withActor = actor ? { ...base, actor } : base;
    out.intents.push(step.kind === 'alert' ? { ...withActor, kind: 'alert', severity: step.severity ?? 'warning' } : { ...withActor, kind: step.kind });
  }
}

// ---------------------------------------------------------------- generic JSON

const GENERIC_ACTIONS = new Set<string>(Object.values(IntentKind));
const SEVERITIES = new Set<string>(Object.values(Severity));

function parseGeneric(body: Record<string, unknown>, raw: string | Buffer): ParsedWebhook {
  const action = body['action'];
  if (typeof action !== 'string' || !GENERIC_ACTIONS.has(action)) throw invalidInput('action', 'must be check, reimport or alert');
  const kind = action as IntentKind;
  const key = body['key'];
  const alias = body['alias'];
  if (key !== undefined && alias !== undefined) throw invalidInput('key', 'give key or alias, not both');

  let target: WebhookTarget = { all: true };
  if (key !== undefined) {
    const t = typeof key === 'string' ? targetFromKeyRef(key) : undefined;
    if (!t || !('keyId' in t)) throw invalidInput('key', 'must be a KMS key id or key ARN');
    target = t;
  } else if (alias !== undefined) {
    const name = typeof alias === 'string' ? (alias.startsWith('alias/') ? alias : `alias/${alias}`) : '';
    if (!ALIAS.test(name)) throw invalidInput('alias', 'must be alias/<letters, digits, _ - />');
    target = { alias: name };
  }
  // A re-import of everything is never what a webhook should trigger by accident.
  if (kind === 'reimport' && 'all' in target) throw invalidInput('key', 'reimport needs a key or an alias');

  const reasonField = body['reason'];
  if (reasonField !== undefined && typeof reasonField !== 'string') throw invalidInput('reason', 'must be a string');
  const reason = cleanReason(reasonField ?? `generic webhook: ${kind} ${describeTarget(target)}`);
  const dedupeKey = `generic:${createHash('sha256').update(raw).digest('hex')}:${kind}`;
  const base = { target, reason, source: WebhookSource.Generic, dedupeKey };

  if (kind === 'alert') {
    const severity = body['severity'] ?? Severity.Warning;
    if (typeof severity !== 'string' || !SEVERITIES.has(severity)) throw invalidInput('severity', 'must be critical, warning or info');
    return { source: WebhookSource.Generic, intents: [{ ...base, kind, severity: severity as Severity }], ignored: [] };
  }
  return { source: WebhookSource.Generic, intents: [{ ...base, kind }], ignored: [] };
}

// ---------------------------------------------------------------- entry point

const isForm = (contentType: string | undefined): boolean => /^application\/x-www-form-urlencoded\b/i.test(contentType?.trim() ?? '');

/**
 * Parses one webhook body into intents. Sniffs the sender: a form body (by content type, or a body
 * with `alertName=`) is CloudMonitor; JSON with `specversion` (or an array of such) is EventBridge;
 * JSON with `action` is generic. Throws PayloadTooLarge, UnknownPayload or InvalidInput.
 */
export function parseWebhookPayload(req: WebhookPayloadRequest, opts: WebhookPayloadOptions = {}): ParsedWebhook {
  const limit = opts.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const bytes = typeof req.body === 'string' ? Buffer.byteLength(req.body, 'utf8') : req.body.length;
  if (bytes > limit) {
    throw new OrchestratorError(ErrorCode.PayloadTooLarge, `webhook: body of ${bytes} bytes exceeds the ${limit}-byte limit`, {
      details: { bytes, limitBytes: limit },
    });
  }
  const text = (typeof req.body === 'string' ? req.body : req.body.toString('utf8')).trim();
  if (text === '') throw unknownPayload('empty body');

  if (isForm(req.contentType) || (!/^[[{]/.test(text) && /(^|&)alertName=/.test(text))) {
    return parseCloudMonitor(new URLSearchParams(text));
  }

  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw unknownPayload('body is neither JSON nor a CloudMonitor form');
  }
  if (Array.isArray(json)) {
    if (json.length === 0) throw unknownPayload('empty JSON array');
    const out: ParsedWebhook = { source: WebhookSource.EventBridge, intents: [], ignored: [] };
    for (const event of json) parseCloudEvent(event, opts, out);
    return out;
  }
  if (!isRecord(json)) throw unknownPayload('JSON body is not an object');
  if (json['specversion'] !== undefined) {
    const out: ParsedWebhook = { source: WebhookSource.EventBridge, intents: [], ignored: [] };
    parseCloudEvent(json, opts, out);
    return out;
  }
  if (json['action'] !== undefined) return parseGeneric(json, req.body);
  throw unknownPayload('JSON without specversion (CloudEvent) or action (generic)');
}
