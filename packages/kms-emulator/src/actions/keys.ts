/**
 * Key management actions: CreateKey, DescribeKey, ListKeys, EnableKey, DisableKey,
 * ScheduleKeyDeletion, CancelKeyDeletion, UpdateKeyDescription (docs/kms-api.md §2.1-§2.3, §2.7, §2.8).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { invalidParameter, kmsError, missingParameter } from '../errors.js';
import { keyQuotaOf, newInstanceKeyId, targetInstance } from '../instances.js';
import { matchesFilters, pageOf, parseFilters, readPage } from '../params.js';
import { KeyState } from '../store.js';
import type { EmulatorStore, KeyRecord } from '../store.js';
import {
  KeyOp,
  SYMMETRIC_SPECS,
  assertKeyUsable,
  keyArn,
  keyMetadata,
  reportedKeyState,
  resolveKeyIdOnly,
  resolveKeyOrAlias,
} from './context.js';
import type { ActionContext, ActionHandler } from './context.js';

/** Key specs CreateKey accepts (docs/kms-api.md §2.1). */
export const KEY_SPECS = [
  'Aliyun_AES_256',
  'Aliyun_SM4',
  'Aliyun_AES_128',
  'Aliyun_AES_192',
  'RSA_2048',
  'RSA_3072',
  'EC_P256',
  'EC_P256K',
  'EC_SM2',
] as const;

const SECONDS_PER_DAY = 86_400;
const UNIT_SECONDS: Readonly<Record<string, number>> = { d: SECONDS_PER_DAY, h: 3600, m: 60, s: 1 };

/** `integer[d|h|m|s]` -> seconds; 7d..730d (documented: DOCS21 CreateKey, 2021 range). */
export function parseRotationInterval(text: string): number {
  const match = /^(\d{1,9})([dhms])$/.exec(text);
  if (match === null) throw invalidParameter('RotationInterval', 'Use an integer with a d, h, m or s suffix.');
  const seconds = Number(match[1]) * UNIT_SECONDS[match[2]!]!;
  if (seconds < 7 * SECONDS_PER_DAY || seconds > 730 * SECONDS_PER_DAY) {
    throw invalidParameter('RotationInterval', 'It must be between 7 and 730 days.');
  }
  return seconds;
}

/** Input of `createKeyRecord`. */
export interface NewKey {
  origin: KeyRecord['origin'];
  keySpec: string;
  keyUsage: string;
  protectionLevel: KeyRecord['protectionLevel'];
  description: string;
  rotationIntervalSeconds: number | null;
  /** KMS 3.0: the instance the key goes into (its id becomes `key-…`); absent = a UUID key. */
  dkmsInstanceId?: string;
  /** KMS 3.0: this is the region's single default CMK. */
  defaultCmk?: boolean;
}

/**
 * Creates and stores a key. EXTERNAL keys start PendingImport without material; Aliyun_KMS
 * symmetric keys start Enabled with fresh CSPRNG material (documented: STATE). Asymmetric
 * Aliyun_KMS keys are metadata-only here (the emulator does not implement Asymmetric* actions).
 * `PrimaryKeyVersion` is assigned at creation even for EXTERNAL keys (inferred, docs/kms-api.md §2.1).
 */
export function createKeyRecord(
  store: EmulatorStore,
  ctx: Pick<ActionContext, 'nowUnix' | 'accountId'>,
  input: NewKey,
): KeyRecord {
  const materialLength = SYMMETRIC_SPECS[input.keySpec];
  const generated = input.origin === 'Aliyun_KMS' && materialLength !== undefined;
  const key: KeyRecord = {
    // documented (docs/kms-3-instances.md §3): instance keys are `key-<region code>…`; default and
    // KMS 1.0 keys stay UUIDs
    keyId: input.dkmsInstanceId === undefined ? randomUUID() : newInstanceKeyId(input.dkmsInstanceId, ctx.nowUnix),
    origin: input.origin,
    keySpec: input.keySpec,
    keyUsage: input.keyUsage,
    protectionLevel: input.protectionLevel,
    description: input.description,
    creator: ctx.accountId,
    creationUnix: ctx.nowUnix,
    state: input.origin === 'EXTERNAL' ? KeyState.PendingImport : KeyState.Enabled,
    deleteUnix: null,
    material: generated ? randomBytes(materialLength).toString('base64') : null,
    materialExpireUnix: 0,
    boundFingerprint: null,
    primaryKeyVersion: randomUUID(),
    versionCreationUnix: ctx.nowUnix,
    automaticRotation: input.rotationIntervalSeconds === null ? 'Disabled' : 'Enabled',
    rotationIntervalSeconds: input.rotationIntervalSeconds,
    tags: [],
  };
  if (input.dkmsInstanceId !== undefined) key.dkmsInstanceId = input.dkmsInstanceId;
  if (input.defaultCmk === true) key.defaultCmk = true;
  store.putKey(key);
  return key;
}

const createKey: ActionHandler = (ctx) => {
  const { params } = ctx;
  const origin = params.oneOf('Origin', ['Aliyun_KMS', 'EXTERNAL'] as const, 'Aliyun_KMS');
  const keySpec = params.oneOf('KeySpec', KEY_SPECS, 'Aliyun_AES_256');
  const symmetric = SYMMETRIC_SPECS[keySpec] !== undefined;
  const keyUsage = params.oneOf('KeyUsage', ['ENCRYPT/DECRYPT', 'SIGN/VERIFY'] as const, 'ENCRYPT/DECRYPT');
  if (symmetric && keyUsage !== 'ENCRYPT/DECRYPT')
    throw invalidParameter('KeyUsage', 'Symmetric keys only support ENCRYPT/DECRYPT.');
  if (!symmetric && origin === 'EXTERNAL') {
    // documented: DOCS21 CreateKey "do not set Origin to EXTERNAL" for asymmetric default keys
    throw invalidParameter('Origin', 'Asymmetric keys cannot be EXTERNAL.');
  }
  const instance = targetInstance(ctx.store, params.optional('DKMSInstanceId'), ctx.nowUnix);
  // documented (TSM CreateKeyRequest): with an instance, ProtectionLevel is ignored and follows the
  // instance type (software -> SOFTWARE, hardware -> HSM)
  const protectionLevel =
    instance === undefined
      ? params.oneOf('ProtectionLevel', ['SOFTWARE', 'HSM'] as const, 'SOFTWARE')
      : instance.type === 'hardware'
        ? 'HSM'
        : 'SOFTWARE';
  // documented (TSM): KeyStorageMechanism is for hardware instances only; elsewhere InvalidParameter (inferred)
  const storage = params.optional('KeyStorageMechanism');
  if (
    storage !== undefined &&
    (instance?.type !== 'hardware' || !['HsmInternal', 'HsmEncryptedDatabase'].includes(storage))
  ) {
    throw invalidParameter(
      'KeyStorageMechanism',
      'It is HsmInternal or HsmEncryptedDatabase, for keys in hardware instances only.',
    );
  }
  if (instance !== undefined) {
    let count = 0;
    for (const k of ctx.store.keys.values()) if (k.dkmsInstanceId === instance.instanceId) count += 1;
    // documented code (META CreateKey); the quota is the instance's key quantity (default inferred)
    if (count >= keyQuotaOf(instance)) throw kmsError('Rejected.ShareQuotaExceedLimit');
  }
  const defaultCmk = instance === undefined && ctx.store.kmsVersion === 3;
  if (defaultCmk) {
    // documented: default keys support only symmetric Aliyun_AES_256 (the code is inferred)
    if (keySpec !== 'Aliyun_AES_256')
      throw invalidParameter('KeySpec', 'The default key supports only Aliyun_AES_256.');
    // documented: one default CMK per region; the code for a second one is inferred
    // (Rejected.LimitExceeded 400, the only limit code META lists for CreateKey)
    if ([...ctx.store.keys.values()].some((k) => k.defaultCmk === true)) {
      throw kmsError(
        'Rejected.LimitExceeded',
        'The request was rejected because user create resource limit was exceeded. Only ' +
          'one default key can be created per region; create keys in a KMS instance (DKMSInstanceId).',
      );
    }
  }
  const description = params.get('Description') ?? '';
  if (description.length > 8192) throw invalidParameter('Description', 'It must be at most 8192 characters.');
  let rotationIntervalSeconds: number | null = null;
  if (params.bool('EnableAutomaticRotation', false)) {
    // documented: automatic rotation is not available for EXTERNAL or asymmetric keys
    if (origin === 'EXTERNAL' || !symmetric) {
      throw invalidParameter('EnableAutomaticRotation', 'Rotation is not available for this key.');
    }
    rotationIntervalSeconds = parseRotationInterval(params.required('RotationInterval'));
  }
  const key = createKeyRecord(ctx.store, ctx, {
    origin,
    keySpec,
    keyUsage,
    protectionLevel,
    description,
    rotationIntervalSeconds,
    ...(instance === undefined ? {} : { dkmsInstanceId: instance.instanceId }),
    ...(defaultCmk ? { defaultCmk } : {}),
  });
  return { KeyMetadata: keyMetadata(ctx, key) };
};

const describeKey: ActionHandler = (ctx) => ({ KeyMetadata: keyMetadata(ctx, resolveKeyOrAlias(ctx)) });

/** ListKeys `Filters` keys (documented: TSM ListKeysRequest; note the lower-case `keyId`). */
export const LIST_KEYS_FILTER_KEYS = [
  'KeyState',
  'KeySpec',
  'KeyUsage',
  'ProtectionLevel',
  'CreatorType',
  'DKMSInstanceId',
  'keyId',
  'AliasName',
  'Creator',
  'TagKey',
  'TagValue',
] as const;

function keyFilterValues(ctx: ActionContext, key: KeyRecord, filterKey: string): string[] {
  switch (filterKey) {
    case 'KeyState':
      return [reportedKeyState(ctx, key)];
    case 'KeySpec':
      return [key.keySpec];
    case 'KeyUsage':
      return [key.keyUsage];
    case 'ProtectionLevel':
      return [key.protectionLevel];
    case 'CreatorType':
      return [ctx.store.serviceKeyId === key.keyId ? 'Service' : 'User'];
    case 'DKMSInstanceId':
      return [key.dkmsInstanceId ?? ''];
    case 'keyId':
      return [key.keyId];
    case 'AliasName':
      return [...ctx.store.aliases.values()].filter((a) => a.keyId === key.keyId).map((a) => a.aliasName);
    case 'Creator':
      return [key.creator];
    case 'TagKey':
      return key.tags.map((t) => t.key);
    case 'TagValue':
      return key.tags.map((t) => t.value);
    default:
      return [];
  }
}

const listKeys: ActionHandler = (ctx) => {
  const page = readPage(ctx.params);
  const filters = parseFilters(ctx.params, LIST_KEYS_FILTER_KEYS);
  const all = [...ctx.store.keys.values()].filter((key) =>
    matchesFilters(filters, (f) => keyFilterValues(ctx, key, f)),
  );
  return {
    Keys: { Key: pageOf(all, page).map((key) => ({ KeyId: key.keyId, KeyArn: keyArn(ctx, key.keyId) })) },
    TotalCount: all.length,
    PageNumber: page.pageNumber,
    PageSize: page.pageSize,
  };
};

function setEnabled(ctx: ActionContext, enabled: boolean): Record<string, unknown> {
  const key = resolveKeyIdOnly(ctx);
  assertKeyUsable(ctx, key, KeyOp.EnableDisable);
  const next = enabled ? KeyState.Enabled : KeyState.Disabled;
  if (key.state !== next) {
    key.state = next;
    ctx.store.markDirty();
  }
  return {};
}

const enableKey: ActionHandler = (ctx) => setEnabled(ctx, true);
const disableKey: ActionHandler = (ctx) => setEnabled(ctx, false);

const scheduleKeyDeletion: ActionHandler = (ctx) => {
  // 7-366 (documented: TSM current range; the 2021 docs said 7-30); required in current docs.
  const days = ctx.params.int('PendingWindowInDays', { min: 7, max: 366 });
  if (days === undefined) throw missingParameter('PendingWindowInDays');
  const key = resolveKeyIdOnly(ctx);
  assertKeyUsable(ctx, key, KeyOp.ScheduleDeletion);
  key.state = KeyState.PendingDeletion;
  key.deleteUnix = ctx.nowUnix + days * SECONDS_PER_DAY;
  ctx.store.watchKey(key.keyId);
  ctx.store.markDirty();
  return {};
};

const cancelKeyDeletion: ActionHandler = (ctx) => {
  const key = resolveKeyIdOnly(ctx);
  assertKeyUsable(ctx, key, KeyOp.CancelDeletion);
  // documented: "the CMK is set to Enabled"; an EXTERNAL key without material can only be
  // PendingImport (inferred, docs/kms-api.md §2.8).
  key.state = key.origin === 'EXTERNAL' && key.material === null ? KeyState.PendingImport : KeyState.Enabled;
  key.deleteUnix = null;
  ctx.store.markDirty();
  return {};
};

const updateKeyDescription: ActionHandler = (ctx) => {
  const description = ctx.params.get('Description');
  if (description === undefined) throw missingParameter('Description');
  if (description.length > 8192) throw invalidParameter('Description', 'It must be at most 8192 characters.');
  const key = resolveKeyIdOnly(ctx);
  assertKeyUsable(ctx, key, KeyOp.UpdateDescription);
  key.description = description;
  ctx.store.markDirty();
  return {};
};

/** Key-management handlers by action name. */
export const keyActions: Readonly<Record<string, ActionHandler>> = {
  CreateKey: createKey,
  DescribeKey: describeKey,
  ListKeys: listKeys,
  EnableKey: enableKey,
  DisableKey: disableKey,
  ScheduleKeyDeletion: scheduleKeyDeletion,
  CancelKeyDeletion: cancelKeyDeletion,
  UpdateKeyDescription: updateKeyDescription,
};
