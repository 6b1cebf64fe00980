/**
 * Parsing KMS answers at the edge: JSON bodies of the generic RPC client and SDK response models
 * become our types (port.ts) here, once. Nothing past the adapter sees a raw KMS string where a
 * closed set is meant: an unknown key state becomes `KeyState.Unknown` (the raw word is kept in
 * `unknownKeyState`), dates become epoch milliseconds, tag lists become records. (Tags become a
 * `KeyView` in one place too: shared/lifecycle/key-view.ts.)
 */
import { ErrorCode, OrchestratorError } from '../errors.js';
import { KeyState, type KeyMetadata, type KmsInstanceInfo, type SecretMetadata } from './port.js';

/** KMS dates are UTC ISO-8601 strings; "" means "not applicable" (docs/kms-api.md §1.7). */
export function parseDate(s: string | undefined | null): number | undefined {
  if (!s) return undefined;
  const ms = Date.parse(s);
  return Number.isNaN(ms) ? undefined : ms;
}

/** The SDK's tag list (`{tagKey, tagValue}`) as a record. */
export function tagsToRecord(tags: Array<{ tagKey: string; tagValue: string }> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const t of tags ?? []) out[t.tagKey] = t.tagValue;
  return out;
}

/** A JSON tag list (`Key`/`Value` or `TagKey`/`TagValue`, as DescribeSecret answers) as a record. */
export function tagListToRecord(raw: unknown): Record<string, string> {
  type RawTag = { Key?: unknown; Value?: unknown; TagKey?: unknown; TagValue?: unknown };
  const list = (raw as { Tag?: RawTag[] } | undefined)?.Tag ?? [];
  const tags: Record<string, string> = {};
  for (const t of list) {
    const k = t.Key ?? t.TagKey;
    const v = t.Value ?? t.TagValue;
    if (typeof k === 'string' && typeof v === 'string') tags[k] = v;
  }
  return tags;
}

/** A string field, undefined when absent or empty. */
export function optionalString(o: Record<string, unknown>, field: string): string | undefined {
  const v = o[field];
  return typeof v === 'string' && v !== '' ? v : undefined;
}

/** A string field, "" when absent. */
export function stringField(o: Record<string, unknown>, field: string): string {
  return optionalString(o, field) ?? '';
}

function optionalNumber(o: Record<string, unknown>, field: string): number | undefined {
  const v = o[field];
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : undefined;
  return n !== undefined && Number.isFinite(n) ? n : undefined;
}

const KEY_STATES: ReadonlySet<string> = new Set(Object.values(KeyState).filter((s) => s !== KeyState.Unknown));

/**
 * KMS's word for a key state -> ours. A state KMS may add later must not crash the planner: it is
 * `Unknown`, with the word kept, and the plan alerts on it instead of acting.
 */
export function parseKeyState(raw: string): { keyState: KeyState; unknownKeyState?: string } {
  return KEY_STATES.has(raw) ? { keyState: raw as KeyState } : { keyState: KeyState.Unknown, unknownKeyState: raw };
}

/** KeyMetadata JSON (CreateKey / DescribeKey) -> our type; a missing object is an unexpected answer. */
export function parseKeyMetadata(raw: unknown, action: string): KeyMetadata {
  if (typeof raw !== 'object' || raw === null) {
    throw new OrchestratorError(ErrorCode.KmsUnexpected, `KMS ${action} answered without KeyMetadata`, {
      details: { action },
    });
  }
  const m = raw as Record<string, unknown>;
  const instance = optionalString(m, 'DKMSInstanceId');
  return {
    keyId: stringField(m, 'KeyId'),
    arn: stringField(m, 'Arn'),
    ...parseKeyState(stringField(m, 'KeyState')),
    keySpec: stringField(m, 'KeySpec'),
    keyUsage: stringField(m, 'KeyUsage'),
    origin: stringField(m, 'Origin'),
    protectionLevel: stringField(m, 'ProtectionLevel'),
    description: stringField(m, 'Description'),
    creationDateMs: parseDate(optionalString(m, 'CreationDate')) ?? 0,
    deleteDateMs: parseDate(optionalString(m, 'DeleteDate')),
    materialExpireAtMs: parseDate(optionalString(m, 'MaterialExpireTime')),
    primaryKeyVersion: optionalString(m, 'PrimaryKeyVersion'),
    ...(instance ? { dkmsInstanceId: instance } : {}),
  };
}

/** DescribeSecret's JSON (with FetchTags) -> our type. */
export function parseSecretMetadata(r: Record<string, unknown>): SecretMetadata {
  const instance = optionalString(r, 'DKMSInstanceId');
  return {
    requestId: stringField(r, 'RequestId'),
    secretName: stringField(r, 'SecretName'),
    arn: optionalString(r, 'Arn') ?? '',
    encryptionKeyId: optionalString(r, 'EncryptionKeyId') ?? '',
    description: optionalString(r, 'Description') ?? '',
    createTimeMs: parseDate(optionalString(r, 'CreateTime')) ?? 0,
    updateTimeMs: parseDate(optionalString(r, 'UpdateTime')) ?? 0,
    plannedDeleteTimeMs: parseDate(optionalString(r, 'PlannedDeleteTime')),
    tags: tagListToRecord(r['Tags']),
    ...(instance ? { dkmsInstanceId: instance } : {}),
  };
}

/** GetKmsInstance's KmsInstance JSON -> our type (field names: docs/kms-3-instances.md §4). */
export function parseKmsInstance(raw: unknown, instanceId: string): Omit<KmsInstanceInfo, 'requestId'> {
  const m = typeof raw === 'object' && raw !== null ? (raw as Record<string, unknown>) : {};
  const productType = optionalString(m, 'ProductType');
  const keyNum = optionalNumber(m, 'KeyNum');
  const secretNum = optionalNumber(m, 'SecretNum');
  const startDateMs = parseDate(optionalString(m, 'StartDate'));
  const endDateMs = parseDate(optionalString(m, 'EndDate'));
  return {
    instanceId: optionalString(m, 'InstanceId') ?? optionalString(m, 'KmsInstanceId') ?? instanceId,
    status: stringField(m, 'Status'),
    ...(startDateMs !== undefined ? { startDateMs } : {}),
    ...(endDateMs !== undefined ? { endDateMs } : {}),
    ...(productType ? { productType } : {}),
    ...(keyNum !== undefined ? { keyNum } : {}),
    ...(secretNum !== undefined ? { secretNum } : {}),
  };
}
