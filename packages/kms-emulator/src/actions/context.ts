/**
 * What every action handler receives, plus the helpers they share: key lookup (by ID, alias or
 * ARN), the key-state matrix of docs/kms-api.md §3.1, and ARN builders.
 */
import { isoSeconds } from '../clock.js';
import { kmsError, missingParameter } from '../errors.js';
import type { KmsErrorCode } from '../errors.js';
import type { RequestParams } from '../params.js';
import { assertInstanceAvailable, isUnavailable } from '../instances.js';
import { KeyState } from '../store.js';
import type { EmulatorStore, KeyRecord, SecretRecord } from '../store.js';

/** Per-request context. Handlers are synchronous, so each one runs atomically. */
export interface ActionContext {
  params: RequestParams;
  store: EmulatorStore;
  /** Emulator time of this request (Unix seconds), read once. */
  nowUnix: number;
  region: string;
  accountId: string;
  requestId: string;
  /** Who signed the request (set by the pipeline after authentication); `sts` = it carried a token. */
  caller?: { accessKeyId: string; sts: boolean };
}

/** An action handler: returns the response fields (RequestId is added by the caller). */
export type ActionHandler = (ctx: ActionContext) => Record<string, unknown>;

/** ARN of a key (docs/kms-api.md §5.8). */
export function keyArn(ctx: ActionContext, keyId: string): string {
  return `acs:kms:${ctx.region}:${ctx.accountId}:key/${keyId}`;
}

/** ARN of an alias: `acs:kms:<region>:<uid>:` + the full alias name (docs/kms-api.md §2.9). */
export function aliasArn(ctx: ActionContext, aliasName: string): string {
  return `acs:kms:${ctx.region}:${ctx.accountId}:${aliasName}`;
}

/** ARN of a secret (docs/kms-api.md §5.8). */
export function secretArn(ctx: ActionContext, secretName: string): string {
  return `acs:kms:${ctx.region}:${ctx.accountId}:secret/${secretName}`;
}

/** `""` for "no value" (docs/kms-api.md §1.7), else an ISO second-precision timestamp. */
export function isoOrEmpty(unix: number | null | undefined): string {
  return unix === null || unix === undefined || unix === 0 ? '' : isoSeconds(unix);
}

const ARN_RE = /^acs:kms:[^:]*:[^:]*:(key\/.+|alias\/.+)$/;

function stripArn(value: string): string {
  const match = ARN_RE.exec(value);
  if (match === null) return value;
  const resource = match[1]!;
  return resource.startsWith('key/') ? resource.slice('key/'.length) : resource;
}

function lookupById(ctx: ActionContext, keyId: string): KeyRecord {
  const key = ctx.store.keys.get(keyId);
  if (key === undefined) throw kmsError('Forbidden.KeyNotFound');
  return key;
}

/**
 * Resolves `name` (default `KeyId`) for APIs documented to take a key ID, alias or ARN
 * (DescribeKey, Encrypt, GenerateDataKey; docs/kms-api.md §5.9). Unknown alias -> Forbidden.AliasNotFound.
 */
export function resolveKeyOrAlias(ctx: ActionContext, name = 'KeyId'): KeyRecord {
  const value = stripArn(ctx.params.required(name));
  if (value.startsWith('alias/')) {
    const alias = ctx.store.aliases.get(value);
    if (alias === undefined) throw kmsError('Forbidden.AliasNotFound');
    return lookupById(ctx, alias.keyId);
  }
  return lookupById(ctx, value);
}

/**
 * Resolves `KeyId` for APIs documented to take only the key ID (docs/kms-api.md §5.9). An alias is
 * refused with `Unsupported.Alias` (inferred from the common error table, §3.3).
 */
export function resolveKeyIdOnly(ctx: ActionContext, name = 'KeyId'): KeyRecord {
  const raw = ctx.params.get(name);
  if (raw === undefined || raw === '') throw missingParameter(name);
  const value = stripArn(raw);
  if (value.startsWith('alias/')) throw kmsError('Unsupported.Alias');
  return lookupById(ctx, value);
}

const SECRET_ARN_RE = /^acs:kms:[^:]*:[^:]*:secret\/(.+)$/;

/**
 * Resolves `name` (default `SecretName`), given as a name or an ARN (documented for GetSecretValue;
 * accepted everywhere, inferred). Unknown -> Forbidden.ResourceNotFound 404 (documented: TF).
 */
export function resolveSecret(ctx: ActionContext, name = 'SecretName'): SecretRecord {
  const raw = ctx.params.required(name);
  const secretName = SECRET_ARN_RE.exec(raw)?.[1] ?? raw;
  const secret = ctx.store.secrets.get(secretName);
  if (secret === undefined) throw kmsError('Forbidden.ResourceNotFound');
  return secret;
}

/** Operation classes of the key-state matrix (docs/kms-api.md §3.1). */
export const KeyOp = {
  Crypto: 'Crypto',
  EnableDisable: 'EnableDisable',
  ScheduleDeletion: 'ScheduleDeletion',
  CancelDeletion: 'CancelDeletion',
  CreateAlias: 'CreateAlias',
  UpdateAliasTarget: 'UpdateAliasTarget',
  Tag: 'Tag',
  ImportMaterial: 'ImportMaterial',
  UpdateDescription: 'UpdateDescription',
  Always: 'Always',
} as const;
/** One operation class. */
export type KeyOp = (typeof KeyOp)[keyof typeof KeyOp];

type Gate = Readonly<Record<KeyState, KmsErrorCode | null>>;
const SMF = 'Rejected.StateModifiedFailed';

/**
 * The key-state matrix (documented: STATE, docs/kms-api.md §3.1). `null` = allowed; otherwise the 409
 * code answered in that state. DescribeKey/ListKeys/GetParametersForImport/DeleteKeyMaterial/
 * DeleteAlias/ListAliases/ListResourceTags are `Always`.
 */
export const KEY_STATE_MATRIX: Readonly<Record<KeyOp, Gate>> = {
  Crypto: {
    Enabled: null,
    Disabled: 'Rejected.Disabled',
    PendingDeletion: 'Rejected.PendingDeletion',
    PendingImport: 'Rejected.PendingImport',
  },
  EnableDisable: { Enabled: null, Disabled: null, PendingDeletion: SMF, PendingImport: SMF },
  ScheduleDeletion: { Enabled: null, Disabled: null, PendingDeletion: SMF, PendingImport: null },
  CancelDeletion: { Enabled: SMF, Disabled: SMF, PendingDeletion: null, PendingImport: SMF },
  CreateAlias: { Enabled: null, Disabled: null, PendingDeletion: SMF, PendingImport: null },
  UpdateAliasTarget: {
    Enabled: null,
    Disabled: null,
    PendingDeletion: 'Rejected.PendingDeletion',
    PendingImport: null,
  },
  Tag: { Enabled: null, Disabled: null, PendingDeletion: 'Rejected.PendingDeletion', PendingImport: null },
  ImportMaterial: { Enabled: null, Disabled: null, PendingDeletion: SMF, PendingImport: null },
  UpdateDescription: {
    Enabled: null,
    Disabled: null,
    PendingDeletion: 'Rejected.PendingDeletion',
    PendingImport: null,
  },
  Always: { Enabled: null, Disabled: null, PendingDeletion: null, PendingImport: null },
};

/** Throws the matrix's 409 code when `op` is not allowed in the key's current state. */
export function assertKeyState(key: KeyRecord, op: KeyOp): void {
  const code = KEY_STATE_MATRIX[op][key.state];
  if (code !== null) throw kmsError(code);
}

/**
 * The instance gate, then the state matrix: a key whose KMS 3.0 instance has expired answers
 * `Rejected.Unavailable` 409 for every operation that goes through here (docs/kms-3-instances.md
 * §5: documented for crypto; applying it to import, enable/disable, deletion, alias and tag
 * operations is inferred). DescribeKey/ListKeys/ListAliases/ListResourceTags/DeleteAlias do not.
 */
export function assertKeyUsable(ctx: ActionContext, key: KeyRecord, op: KeyOp): void {
  assertInstanceAvailable(ctx.store, key, ctx.nowUnix);
  assertKeyState(key, op);
}

/**
 * The key state DescribeKey/ListKeys report: `Unavailable` while the key's instance is expired (inferred, docs §5).
 */
export function reportedKeyState(ctx: ActionContext, key: KeyRecord): string {
  return isUnavailable(ctx.store, key, ctx.nowUnix) ? 'Unavailable' : key.state;
}

/** Symmetric key specs and their material length in bytes (docs/kms-api.md §2.5). */
export const SYMMETRIC_SPECS: Readonly<Record<string, number>> = {
  Aliyun_AES_256: 32,
  Aliyun_SM4: 16,
  Aliyun_AES_128: 16, // inferred (docs/kms-api.md §2.5)
  Aliyun_AES_192: 24, // inferred (docs/kms-api.md §2.5)
};

/** True when the key has symmetric material usable for Encrypt/Decrypt. */
export function isSymmetric(key: KeyRecord): boolean {
  return SYMMETRIC_SPECS[key.keySpec] !== undefined;
}

/** KeyMetadata as DescribeKey/CreateKey return it (docs/kms-api.md §2.1/§2.2; `""` for unset dates). */
export function keyMetadata(ctx: ActionContext, key: KeyRecord): Record<string, string> {
  const meta: Record<string, string> = {
    Arn: keyArn(ctx, key.keyId),
    AutomaticRotation: key.automaticRotation,
    CreationDate: isoSeconds(key.creationUnix),
    Creator: key.creator,
    DeleteDate: key.state === KeyState.PendingDeletion ? isoOrEmpty(key.deleteUnix) : '',
    DeletionProtection: 'Disabled',
    Description: key.description,
    KeyId: key.keyId,
    KeySpec: key.keySpec,
    KeyState: reportedKeyState(ctx, key),
    KeyUsage: key.keyUsage,
    LastRotationDate: isoSeconds(key.versionCreationUnix),
    MaterialExpireTime: key.material === null ? '' : isoOrEmpty(key.materialExpireUnix),
    Origin: key.origin,
    PrimaryKeyVersion: key.primaryKeyVersion,
    ProtectionLevel: key.protectionLevel,
  };
  // documented (TSM DescribeKeyResponseBody): KMS 3.0 reports the instance; `""` for keys outside
  // any instance (inferred). KMS 1.0 responses keep their old shape (no field).
  if (ctx.store.kmsVersion === 3) meta['DKMSInstanceId'] = key.dkmsInstanceId ?? '';
  if (key.automaticRotation === 'Enabled' && key.rotationIntervalSeconds !== null) {
    // documented: RotationInterval comes back in seconds (`31536000s`); the emulator never
    // actually rotates, NextRotationDate is informational.
    meta['RotationInterval'] = `${key.rotationIntervalSeconds}s`;
    meta['NextRotationDate'] = isoSeconds(key.versionCreationUnix + key.rotationIntervalSeconds);
  }
  return meta;
}
