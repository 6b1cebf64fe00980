/**
 * EventBridge CloudEvents 1.0 carrying ActionTrail records of KMS write calls
 * (docs/fc-runtime.md §7.2): `type` `kms:ActionTrail:ApiCall` etc., `data.eventName`,
 * `data.requestParameters.KeyId`, `data.userIdentity`; one event or a batch array.
 */
import {
  SUBJECT_KEY,
  WebhookSource,
  cleanReason,
  describeTarget,
  isRecord,
  str,
  targetFromKeyRef,
  unknownPayload,
  type IntentKind,
  type ParsedWebhook,
  type Severity,
  type WebhookActor,
  type WebhookTarget,
} from './intents.js';

/** Reads whose failure with Rejected.PendingImport asks for the revival of a dormant generation. */
const READ_EVENTS = new Set(['Decrypt', 'GenerateDataKey']);
/** The KMS error of a cryptographic call on a key whose material is gone or expired. */
const PENDING_IMPORT_ERROR = 'Rejected.PendingImport';

/** ActionTrail-based KMS event types (EventBridge "KMS events"). */
const ACTIONTRAIL_TYPES = new Set([
  'kms:ActionTrail:ApiCall',
  'kms:ActionTrail:ConsoleOperation',
  'kms:ActionTrail:AliyunServiceEvent',
]);

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
  const accessKeyId = str(identity['accessKeyId']);
  if (accessKeyId !== undefined) actor.accessKeyId = accessKeyId;
  return actor;
}

/** The orchestrator's identity as parseCloudEvent matches it (see SelfIdentity in payloads.ts). */
export interface SelfMatch {
  selfRoleNames?: readonly string[];
  self?: { roleNames?: readonly string[]; sessionNames?: readonly string[]; accessKeyIds?: readonly string[] };
}

/**
 * True when `actor` is the orchestrator itself: ActionTrail names an assumed role as `userName`
 * `<role>:<session>`, `principalId` `<roleId>:<session>`, an ARN `...:assumed-role/<role>/<session>`
 * and the STS `accessKeyId` it signed with (docs/alerting-and-events.md §6.3).
 */
export function isOwnWrite(actor: WebhookActor | undefined, opts: SelfMatch): boolean {
  if (!actor) return false;
  const roles = [...(opts.selfRoleNames ?? []), ...(opts.self?.roleNames ?? [])].filter((r) => r !== '');
  const sessions = (opts.self?.sessionNames ?? []).filter((r) => r !== '');
  const keys = (opts.self?.accessKeyIds ?? []).filter((r) => r !== '');
  if (actor.accessKeyId !== undefined && keys.includes(actor.accessKeyId)) return true;
  const [nameRole, nameSession] = splitOnce(actor.name, ':');
  const [, principalSession] = splitOnce(actor.principalId, ':');
  const arnMatch = /:assumed-role\/([^/]+)\/(.+)$/.exec(actor.arn ?? '');
  // `userName` is `<role>:<session>` only for an assumed role; a plain user name is not a role.
  const role = arnMatch?.[1] ?? (nameSession !== undefined ? nameRole : undefined);
  const session = arnMatch?.[2] ?? nameSession ?? principalSession;
  if (roles.some((r) => r === role || actor.name === r)) return true;
  return session !== undefined && sessions.includes(session);
}

function splitOnce(text: string | undefined, sep: string): [string | undefined, string | undefined] {
  if (text === undefined) return [undefined, undefined];
  const i = text.indexOf(sep);
  return i < 0 ? [text, undefined] : [text.slice(0, i), text.slice(i + 1)];
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

/**
 * Adds the intents of one CloudEvent to `out` (or why it was ignored). `selfRoleNames`: RAM roles the
 * orchestrator runs as; their own writes are ignored.
 */
export function parseCloudEvent(event: unknown, opts: SelfMatch, out: ParsedWebhook): void {
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
  if (READ_EVENTS.has(eventName)) {
    parseRefusedRead(event, data, { id, source, type, eventName }, opts, out);
    return;
  }
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
  if (isOwnWrite(actor, opts)) {
    out.ignored.push(`CloudEvent ${id}: ${eventName} made by the orchestrator itself`);
    return;
  }
  const target = eventTarget(event, data);
  const who = actor ? (actor.name ?? actor.principalId ?? actor.type) : 'unknown';
  const reason = cleanReason(`${eventName} on ${describeTarget(target)} by ${who} (EventBridge ${type})`);
  for (const step of plan) {
    const base = {
      target,
      reason,
      source: WebhookSource.EventBridge,
      dedupeKey: `eventbridge:${source}:${id}:${step.kind}`,
    };
    const withActor = actor ? { ...base, actor } : base;
    out.intents.push(
      step.kind === 'alert'
        ? { ...withActor, kind: 'alert', severity: step.severity ?? 'warning' }
        : { ...withActor, kind: step.kind },
    );
  }
}

/**
 * A failed Decrypt/GenerateDataKey: with Rejected.PendingImport on a key (not an alias) it asks for
 * a check of that key that also revives it when it is a managed dormant generation (the engine
 * decides, under the lease, from a fresh look); anything else is ignored.
 */
function parseRefusedRead(
  event: Record<string, unknown>,
  data: Record<string, unknown>,
  e: { id: string; source: string; type: string; eventName: string },
  opts: SelfMatch,
  out: ParsedWebhook,
): void {
  const errorCode = str(data['errorCode']);
  if (errorCode !== PENDING_IMPORT_ERROR) {
    const why = errorCode === undefined ? 'succeeded' : `failed with ${cleanReason(errorCode).slice(0, 64)}`;
    out.ignored.push(`CloudEvent ${e.id}: ${e.eventName} ${why}, nothing to revive`);
    return;
  }
  const actor = actorOf(data['userIdentity']);
  if (isOwnWrite(actor, opts)) {
    out.ignored.push(`CloudEvent ${e.id}: ${e.eventName} made by the orchestrator itself`);
    return;
  }
  const target = eventTarget(event, data);
  if (!('keyId' in target)) {
    out.ignored.push(`CloudEvent ${e.id}: ${e.eventName} refused (${PENDING_IMPORT_ERROR}) names no key id`);
    return;
  }
  const who = actor ? (actor.name ?? actor.principalId ?? actor.type) : 'unknown';
  const reason = cleanReason(
    `${e.eventName} on key ${target.keyId} by ${who} refused (${PENDING_IMPORT_ERROR}): ` +
      `revive if dormant (EventBridge ${e.type})`,
  );
  const intent = {
    kind: 'check' as const,
    target: { keyId: target.keyId, revive: true as const },
    reason,
    source: WebhookSource.EventBridge,
    dedupeKey: `eventbridge:${e.source}:${e.id}:revive`,
  };
  out.intents.push(actor ? { ...intent, actor } : intent);
}
