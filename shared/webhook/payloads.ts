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
 *
 * This file sniffs the sender and parses generic JSON; the other senders' parsers are in
 * cloudmonitor.ts and eventbridge.ts, the intent types and shared helpers in intents.ts.
 */
import { createHash } from 'node:crypto';
import { ErrorCode, OrchestratorError, invalidInput } from '../errors.js';
import { parseCloudMonitor } from './cloudmonitor.js';
import { parseCloudEvent } from './eventbridge.js';
import {
  ALIAS,
  IntentKind,
  Severity,
  WebhookSource,
  cleanReason,
  describeTarget,
  isRecord,
  targetFromKeyRef,
  unknownPayload,
  type ParsedWebhook,
  type WebhookTarget,
} from './intents.js';

export { parseCloudMonitorDimensions } from './cloudmonitor.js';
export { isOwnWrite } from './eventbridge.js';
export {
  IntentKind,
  MAX_REASON_LENGTH,
  Severity,
  WebhookSource,
  targetKey,
  type ParsedWebhook,
  type WebhookActor,
  type WebhookIntent,
  type WebhookTarget,
} from './intents.js';

/** Default body limit, bytes: far above any real callback, far below FC's 32 MB sync limit. */
export const DEFAULT_MAX_BODY_BYTES = 64 * 1024;

/** The request parts the parser reads. */
export interface WebhookPayloadRequest {
  /** Body as received (after FC's base64 decoding, if any). */
  body: string | Buffer;
  /** `Content-Type` header value, if any. */
  contentType?: string;
  /** `x-byok-delivery-id` header value, if any (generic JSON de-duplicates on it). */
  deliveryId?: string;
  /** `x-byok-timestamp` of a signed request (generic JSON without a delivery id de-duplicates on it + body). */
  signatureTimestamp?: string;
}

/** Header naming a generic delivery, so a sender's retry is recognised (the `id` field does the same). */
export const DELIVERY_ID_HEADER = 'x-byok-delivery-id';

/**
 * Who the orchestrator itself is in ActionTrail `userIdentity`: its RAM role names, its STS session
 * names, and the AccessKey ids of its own credentials. An event made by any of them is its own write.
 */
export interface SelfIdentity {
  roleNames?: readonly string[];
  sessionNames?: readonly string[];
  accessKeyIds?: readonly string[];
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
  /** The orchestrator's own identity (role and session names, AccessKey ids); adds to selfRoleNames. */
  self?: SelfIdentity;
}

// ---------------------------------------------------------------- generic JSON

const GENERIC_ACTIONS = new Set<string>(Object.values(IntentKind));
const SEVERITIES = new Set<string>(Object.values(Severity));

const DELIVERY_ID = /^[A-Za-z0-9._:@/+=-]{1,128}$/;

/**
 * The generic delivery's de-duplication identity: its explicit id (`id` field, else the
 * `x-byok-delivery-id` header), else the signature timestamp and the body (two deliveries of the
 * same body signed at different times are different deliveries).
 */
function genericDeliveryKey(body: Record<string, unknown>, raw: string | Buffer, req: WebhookPayloadRequest): string {
  const idField = body['id'];
  if (idField !== undefined && (typeof idField !== 'string' || !DELIVERY_ID.test(idField))) {
    throw invalidInput('id', 'must be 1-128 letters, digits or . _ : @ / + = -');
  }
  const id = (idField as string | undefined) ?? req.deliveryId?.trim();
  if (id !== undefined && id !== '') {
    if (!DELIVERY_ID.test(id))
      throw invalidInput(DELIVERY_ID_HEADER, 'must be 1-128 letters, digits or . _ : @ / + = -');
    return `id:${id}`;
  }
  const digest = createHash('sha256').update(raw).digest('hex');
  return `ts:${req.signatureTimestamp?.trim() ?? ''}:${digest}`;
}

function parseGeneric(body: Record<string, unknown>, raw: string | Buffer, req: WebhookPayloadRequest): ParsedWebhook {
  const action = body['action'];
  if (typeof action !== 'string' || !GENERIC_ACTIONS.has(action))
    throw invalidInput('action', 'must be check, reimport or alert');
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
  const dedupeKey = `generic:${genericDeliveryKey(body, raw, req)}:${kind}`;
  const base = { target, reason, source: WebhookSource.Generic, dedupeKey };

  if (kind === 'alert') {
    const severity = body['severity'] ?? Severity.Warning;
    if (typeof severity !== 'string' || !SEVERITIES.has(severity))
      throw invalidInput('severity', 'must be critical, warning or info');
    return { source: WebhookSource.Generic, intents: [{ ...base, kind, severity: severity as Severity }], ignored: [] };
  }
  return { source: WebhookSource.Generic, intents: [{ ...base, kind }], ignored: [] };
}

// ---------------------------------------------------------------- entry point

const isForm = (contentType: string | undefined): boolean =>
  /^application\/x-www-form-urlencoded\b/i.test(contentType?.trim() ?? '');

/**
 * Parses one webhook body into intents. Sniffs the sender: a form body (by content type, or a body
 * with `alertName=`) is CloudMonitor; JSON with `specversion` (or an array of such) is EventBridge;
 * JSON with `action` is generic. Throws PayloadTooLarge, UnknownPayload or InvalidInput.
 */
export function parseWebhookPayload(req: WebhookPayloadRequest, opts: WebhookPayloadOptions = {}): ParsedWebhook {
  const limit = opts.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const bytes = typeof req.body === 'string' ? Buffer.byteLength(req.body, 'utf8') : req.body.length;
  if (bytes > limit) {
    throw new OrchestratorError(
      ErrorCode.PayloadTooLarge,
      `webhook: body of ${bytes} bytes exceeds the ${limit}-byte limit`,
      {
        details: { bytes, limitBytes: limit },
      },
    );
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
  if (json['action'] !== undefined) return parseGeneric(json, req.body, req);
  throw unknownPayload('JSON without specversion (CloudEvent) or action (generic)');
}
