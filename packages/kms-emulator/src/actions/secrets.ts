/**
 * Secrets Manager (Generic secrets): CreateSecret, GetSecretValue, PutSecretValue, DescribeSecret,
 * ListSecrets, ListSecretVersionIds, DeleteSecret, RestoreSecret (docs/kms-api.md §2.12).
 *
 * SecretData is really encrypted under the secret's CMK (same blob format as Encrypt, with an
 * emulator-internal EncryptionContext binding secret name and version id). PutSecretValue is a
 * conditional write: an existing VersionId with identical data succeeds (idempotent), different
 * data is refused with Rejected.ResourceExist 409 (inferred code). Handlers are synchronous, so
 * the check and the write are atomic with respect to concurrent requests.
 */
import { invalidParameter, kmsError, missingParameter } from '../errors.js';
import { assertInstanceAvailable, secretQuotaOf, targetInstance } from '../instances.js';
import type { InstanceRecord } from '../store.js';
import { matchesFilters, pageOf, parseFilters, readPage } from '../params.js';
import { EmulatorStore } from '../store.js';
import type { KeyRecord, SecretRecord, SecretVersionRecord, Tag } from '../store.js';
import { isoSeconds } from '../clock.js';
import { isoOrEmpty, resolveKeyOrAlias, resolveSecret, secretArn } from './context.js';
import type { ActionContext, ActionHandler } from './context.js';
import { assertUsableForCrypto, isStrictBase64, openBlob, parseBlob, sealBlob } from './crypto.js';
import type { EncryptionContext } from './crypto.js';
import { createKeyRecord } from './keys.js';
import { MAX_TAGS_ON_CREATE, parseTags } from './tags.js';

/** SecretData is at most 30720 bytes (documented: DOCS21 CreateSecret). */
export const MAX_SECRET_DATA_BYTES = 30_720;
/** A generic secret keeps at most 10 versions; the oldest is dropped (documented: TSC). */
export const MAX_SECRET_VERSIONS = 10;
/** Default recovery window (documented: 30 days); accepted range 7-30 (inferred). */
export const DEFAULT_RECOVERY_WINDOW_DAYS = 30;

const CURRENT = 'ACSCurrent';
const PREVIOUS = 'ACSPrevious';

/** Secret names: ≤192 of letters, digits, `_ / + = . - @`; not starting with `acs/` (documented). */
export const SECRET_NAME_RE = /^(?!acs\/)[A-Za-z0-9_/+=.@-]{1,192}$/;

function secretName(ctx: ActionContext): string {
  const name = ctx.params.required('SecretName');
  if (!SECRET_NAME_RE.test(name)) throw invalidParameter('SecretName');
  return name;
}

function versionIdParam(ctx: ActionContext): string {
  const versionId = ctx.params.required('VersionId');
  // documented: ≤64 characters; printable ASCII only (inferred)
  if (versionId.length > 64 || !/^[\x21-\x7e]+$/.test(versionId)) throw invalidParameter('VersionId');
  return versionId;
}

/** Reads SecretData + SecretDataType and validates size (and base64 for `binary`). */
function secretDataParams(ctx: ActionContext): { data: string; dataType: 'text' | 'binary' } {
  const data = ctx.params.get('SecretData');
  if (data === undefined || data === '') throw missingParameter('SecretData');
  const dataType = ctx.params.oneOf('SecretDataType', ['text', 'binary'] as const, 'text');
  if (Buffer.byteLength(data, 'utf8') > MAX_SECRET_DATA_BYTES) {
    throw invalidParameter('SecretData', `It must be at most ${MAX_SECRET_DATA_BYTES} bytes.`);
  }
  if (dataType === 'binary' && !isStrictBase64(data))
    throw invalidParameter('SecretData', 'Binary data must be base64.');
  return { data, dataType };
}

function dataFingerprint(store: EmulatorStore, dataType: string, data: string): string {
  return store.fingerprint(Buffer.from(`${dataType}\u0000${data}`, 'utf8'));
}

function blobContext(secret: string, versionId: string): EncryptionContext {
  return { 'emulator:SecretName': secret, 'emulator:VersionId': versionId };
}

function assertNotInDeleteWindow(secret: SecretRecord): void {
  // inferred: a secret in its recovery window refuses reads and writes until restored
  if (secret.plannedDeleteUnix !== null) throw kmsError('Rejected.ResourceInDeleteWindow');
}

/**
 * The CMK of a secret, usable for crypto right now (else its Rejected.* / KeyNotFound). A secret
 * (or key) in an expired KMS 3.0 instance answers `Rejected.Unavailable` 409 (documented: secrets FAQ).
 * Secrets are not gated by the instance's Internet-access switch (documented, docs §2/§6).
 */
function secretKey(ctx: ActionContext, secret: SecretRecord): KeyRecord {
  assertInstanceAvailable(ctx.store, secret, ctx.nowUnix);
  const key = ctx.store.keys.get(secret.encryptionKeyId);
  if (key === undefined) throw kmsError('Forbidden.KeyNotFound');
  assertInstanceAvailable(ctx.store, key, ctx.nowUnix);
  assertUsableForCrypto(key);
  return key;
}

/**
 * The CMK for a new secret: `EncryptionKeyId` (ID, alias or ARN), else a service-created
 * Aliyun_KMS key shared by all such secrets (documented: 2021 CreateSecret doc).
 */
function keyForNewSecret(ctx: ActionContext, instance: InstanceRecord | undefined): KeyRecord {
  if (ctx.params.optional('EncryptionKeyId') !== undefined) {
    const key = resolveKeyOrAlias(ctx, 'EncryptionKeyId');
    // documented (TSM CreateSecretRequest): the key and the secret must be in the same KMS
    // instance; the code for a mismatch is inferred (InvalidParameter 400, docs §2)
    if (key.dkmsInstanceId !== instance?.instanceId) {
      throw invalidParameter(
        'EncryptionKeyId',
        instance === undefined
          ? 'The key is in a KMS instance; the secret must be created in the same instance (DKMSInstanceId).'
          : 'The key must be a symmetric key in the same KMS instance as the secret.',
      );
    }
    return key;
  }
  // inferred: a secret in an instance needs a key of that instance; there is no service key there
  if (instance !== undefined) throw missingParameter('EncryptionKeyId');
  const existing = ctx.store.serviceKeyId === null ? undefined : ctx.store.keys.get(ctx.store.serviceKeyId);
  if (existing !== undefined) return existing;
  const key = createKeyRecord(ctx.store, ctx, {
    origin: 'Aliyun_KMS',
    keySpec: 'Aliyun_AES_256',
    keyUsage: 'ENCRYPT/DECRYPT',
    protectionLevel: 'SOFTWARE',
    description: 'Default Secrets Manager key (created by the KMS emulator)',
    rotationIntervalSeconds: null,
  });
  ctx.store.serviceKeyId = key.keyId;
  return key;
}

function stagesView(version: SecretVersionRecord): { VersionStage: string[] } {
  return { VersionStage: [...version.stages] };
}

function tagsView(tags: readonly Tag[]): { Tag: Array<{ TagKey: string; TagValue: string }> } {
  return { Tag: tags.map((t) => ({ TagKey: t.key, TagValue: t.value })) };
}

/** Parses `VersionStages`: `["ACSCurrent","x"]` or `{"VersionStage":[...]}` (both documented forms). */
export function parseVersionStages(text: string | undefined): string[] {
  if (text === undefined) return [CURRENT];
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw invalidParameter('VersionStages', 'It must be a JSON array of stage names.');
  }
  const list =
    typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)
      ? (parsed as Record<string, unknown>)['VersionStage']
      : parsed;
  if (!Array.isArray(list) || list.length === 0 || list.length > 20) {
    throw invalidParameter('VersionStages', 'It must be a non-empty JSON array of stage names.');
  }
  for (const stage of list as unknown[]) {
    if (typeof stage !== 'string' || stage.length < 1 || stage.length > 64) {
      throw invalidParameter('VersionStages', 'Stage names are 1-64 character strings.');
    }
  }
  return [...new Set(list as string[])];
}

const createSecret: ActionHandler = (ctx) => {
  const name = secretName(ctx);
  const versionId = versionIdParam(ctx);
  const { data, dataType } = secretDataParams(ctx);
  const description = ctx.params.get('Description') ?? '';
  // inferred limit (not documented for secrets)
  if (description.length > 1024) throw invalidParameter('Description', 'It must be at most 1024 characters.');
  const tagsText = ctx.params.optional('Tags');
  const tags = tagsText === undefined ? [] : parseTags(tagsText, 'Tags', MAX_TAGS_ON_CREATE);
  const existing = ctx.store.secrets.get(name);
  if (existing !== undefined) {
    throw kmsError(existing.plannedDeleteUnix === null ? 'Rejected.ResourceExist' : 'Rejected.ResourceInDeleteWindow');
  }
  // KMS 3.0: DKMSInstanceId, else the configured default instance, else none (KMS 1.0: refused)
  const instance = targetInstance(ctx.store, ctx.params.optional('DKMSInstanceId'), ctx.nowUnix);
  if (instance !== undefined) {
    let count = 0;
    for (const s of ctx.store.secrets.values()) if (s.dkmsInstanceId === instance.instanceId) count += 1;
    // documented code (META CreateSecret); the quota is the instance's secret quantity (default inferred)
    if (count >= secretQuotaOf(instance)) throw kmsError('Rejected.ShareQuotaExceedLimit');
  }
  const key = keyForNewSecret(ctx, instance);
  assertInstanceAvailable(ctx.store, key, ctx.nowUnix);
  assertUsableForCrypto(key);
  const secret: SecretRecord = {
    secretName: name,
    encryptionKeyId: key.keyId,
    description,
    createUnix: ctx.nowUnix,
    updateUnix: ctx.nowUnix,
    plannedDeleteUnix: null,
    tags,
    versions: [
      {
        versionId,
        dataType,
        blob: sealBlob(key, Buffer.from(data, 'utf8'), blobContext(name, versionId)),
        fingerprint: dataFingerprint(ctx.store, dataType, data),
        createUnix: ctx.nowUnix,
        stages: [CURRENT], // documented: the initial version gets ACSCurrent
      },
    ],
  };
  if (instance !== undefined) secret.dkmsInstanceId = instance.instanceId;
  ctx.store.secrets.set(name, secret);
  ctx.store.markDirty();
  return { Arn: secretArn(ctx, name), SecretName: name, VersionId: versionId, SecretType: 'Generic' };
};

const getSecretValue: ActionHandler = (ctx) => {
  const secret = resolveSecret(ctx);
  assertInstanceAvailable(ctx.store, secret, ctx.nowUnix);
  assertNotInDeleteWindow(secret);
  const versionId = ctx.params.optional('VersionId');
  const stage = ctx.params.optional('VersionStage');
  let version: SecretVersionRecord | undefined;
  if (versionId !== undefined) {
    version = secret.versions.find((v) => v.versionId === versionId);
    if (version !== undefined && stage !== undefined && !version.stages.includes(stage)) version = undefined;
  } else {
    // documented: without VersionId/VersionStage the ACSCurrent version is returned
    const wanted = stage ?? CURRENT;
    version = secret.versions.find((v) => v.stages.includes(wanted));
  }
  if (version === undefined) throw kmsError('Forbidden.ResourceNotFound');
  const key = secretKey(ctx, secret); // key not Enabled -> its Rejected.* 409
  const blob = parseBlob(version.blob);
  const data = openBlob(key, blob, blobContext(secret.secretName, version.versionId)).toString('utf8');
  return {
    SecretName: secret.secretName,
    VersionId: version.versionId,
    SecretData: data,
    SecretType: 'Generic',
    SecretDataType: version.dataType,
    VersionStages: stagesView(version),
    CreateTime: isoSeconds(version.createUnix),
  };
};

/** Moves `stages` onto `target`; a new ACSCurrent demotes the former current to ACSPrevious. */
function applyStages(secret: SecretRecord, target: SecretVersionRecord, stages: readonly string[]): void {
  if (stages.includes(CURRENT)) {
    const former = secret.versions.find((v) => v !== target && v.stages.includes(CURRENT));
    if (former !== undefined) {
      for (const v of secret.versions) v.stages = v.stages.filter((s) => s !== PREVIOUS);
      former.stages.push(PREVIOUS);
    }
  }
  for (const v of secret.versions) if (v !== target) v.stages = v.stages.filter((s) => !stages.includes(s));
  target.stages = [...new Set([...target.stages, ...stages])];
}

/**
 * Drops the earliest versions beyond the limit (documented: TSC putSecretValue "at most 10
 * versions; beyond that KMS deletes the earliest"; staged versions are not protected). The one
 * exception is the ACSCurrent version, which is never dropped (inferred: a secret always keeps
 * its current value; it can only be the earliest after puts that did not move ACSCurrent).
 */
function trimVersions(secret: SecretRecord): void {
  while (secret.versions.length > MAX_SECRET_VERSIONS) {
    const victim = secret.versions.find((v) => !v.stages.includes(CURRENT))!;
    secret.versions.splice(secret.versions.indexOf(victim), 1);
  }
}

const putSecretValue: ActionHandler = (ctx) => {
  const secret = resolveSecret(ctx);
  const versionId = versionIdParam(ctx);
  const { data, dataType } = secretDataParams(ctx);
  const stages = parseVersionStages(ctx.params.optional('VersionStages'));
  assertInstanceAvailable(ctx.store, secret, ctx.nowUnix);
  assertNotInDeleteWindow(secret);
  const fingerprint = dataFingerprint(ctx.store, dataType, data);
  const existing = secret.versions.find((v) => v.versionId === versionId);
  if (existing !== undefined) {
    // The conditional write: same VersionId + identical data -> success without change;
    // different data -> Rejected.ResourceExist 409 (inferred code, docs/kms-api.md §2.12).
    if (!EmulatorStore.sameFingerprint(existing.fingerprint, fingerprint)) throw kmsError('Rejected.ResourceExist');
    return { SecretName: secret.secretName, VersionId: versionId, VersionStages: stagesView(existing) };
  }
  const key = secretKey(ctx, secret);
  const version: SecretVersionRecord = {
    versionId,
    dataType,
    blob: sealBlob(key, Buffer.from(data, 'utf8'), blobContext(secret.secretName, versionId)),
    fingerprint,
    createUnix: ctx.nowUnix,
    stages: [],
  };
  secret.versions.push(version);
  applyStages(secret, version, stages);
  trimVersions(secret);
  secret.updateUnix = ctx.nowUnix;
  ctx.store.markDirty();
  return { SecretName: secret.secretName, VersionId: versionId, VersionStages: stagesView(version) };
};

function secretSummary(secret: SecretRecord, fetchTags: boolean): Record<string, unknown> {
  const view: Record<string, unknown> = {
    SecretName: secret.secretName,
    SecretType: 'Generic',
    CreateTime: isoSeconds(secret.createUnix),
    UpdateTime: isoSeconds(secret.updateUnix),
  };
  if (secret.plannedDeleteUnix !== null) view['PlannedDeleteTime'] = isoOrEmpty(secret.plannedDeleteUnix);
  if (fetchTags) view['Tags'] = tagsView(secret.tags);
  return view;
}

const describeSecret: ActionHandler = (ctx) => {
  const secret = resolveSecret(ctx);
  const fetchTags = ctx.params.bool('FetchTags', false);
  return {
    ...secretSummary(secret, fetchTags),
    Arn: secretArn(ctx, secret.secretName),
    EncryptionKeyId: secret.encryptionKeyId,
    Description: secret.description,
    AutomaticRotation: 'Disabled',
    // documented (TSM DescribeSecretResponseBody): the instance; `""` outside any instance (inferred);
    // KMS 1.0 responses keep their old shape
    ...(ctx.store.kmsVersion === 3 ? { DKMSInstanceId: secret.dkmsInstanceId ?? '' } : {}),
  };
};

/** ListSecrets `Filters` keys (documented: TSM ListSecretsRequest). */
export const LIST_SECRETS_FILTER_KEYS = [
  'SecretName',
  'Description',
  'TagKey',
  'TagValue',
  'DKMSInstanceId',
  'SecretType',
  'Creator',
] as const;

function secretFilterValues(ctx: ActionContext, secret: SecretRecord, filterKey: string): string[] {
  switch (filterKey) {
    case 'SecretName':
      return [secret.secretName];
    case 'Description':
      return [secret.description];
    case 'TagKey':
      return secret.tags.map((t) => t.key);
    case 'TagValue':
      return secret.tags.map((t) => t.value);
    case 'DKMSInstanceId':
      return [secret.dkmsInstanceId ?? ''];
    case 'SecretType':
      return ['Generic'];
    case 'Creator':
      return [ctx.accountId];
    default:
      return [];
  }
}

const listSecrets: ActionHandler = (ctx) => {
  const fetchTags = ctx.params.bool('FetchTags', false);
  const page = readPage(ctx.params);
  // inferred: exact matches (the docs do not say whether SecretName/Description match partially)
  const filters = parseFilters(ctx.params, LIST_SECRETS_FILTER_KEYS);
  const all = [...ctx.store.secrets.values()].filter((s) =>
    matchesFilters(filters, (f) => secretFilterValues(ctx, s, f)),
  );
  return {
    SecretList: { Secret: pageOf(all, page).map((s) => secretSummary(s, fetchTags)) },
    PageNumber: page.pageNumber,
    PageSize: page.pageSize,
    TotalCount: all.length,
  };
};

const listSecretVersionIds: ActionHandler = (ctx) => {
  const secret = resolveSecret(ctx);
  const includeDeprecated = ctx.params.bool('IncludeDeprecated', false);
  const page = readPage(ctx.params);
  const versions = secret.versions.filter((v) => includeDeprecated || v.stages.length > 0);
  return {
    SecretName: secret.secretName,
    VersionIds: {
      VersionId: pageOf(versions, page).map((v) => ({
        VersionId: v.versionId,
        CreateTime: isoSeconds(v.createUnix),
        VersionStages: stagesView(v),
      })),
    },
    PageNumber: page.pageNumber,
    PageSize: page.pageSize,
    TotalCount: versions.length,
  };
};

const deleteSecret: ActionHandler = (ctx) => {
  const secret = resolveSecret(ctx);
  assertInstanceAvailable(ctx.store, secret, ctx.nowUnix); // inferred: expired instance -> Rejected.Unavailable
  const force = ctx.params.bool('ForceDeleteWithoutRecovery', false);
  const days = ctx.params.int('RecoveryWindowInDays', { min: 7, max: 30 }, DEFAULT_RECOVERY_WINDOW_DAYS);
  if (force) {
    // documented: force-deleted secrets cannot be restored; the name is free again at once
    ctx.store.secrets.delete(secret.secretName);
    ctx.store.markDirty();
    return { SecretName: secret.secretName, PlannedDeleteTime: isoSeconds(ctx.nowUnix) };
  }
  assertNotInDeleteWindow(secret); // inferred: scheduling twice is refused
  secret.plannedDeleteUnix = ctx.nowUnix + days * 86_400;
  ctx.store.watchSecret(secret.secretName);
  secret.updateUnix = ctx.nowUnix;
  ctx.store.markDirty();
  return { SecretName: secret.secretName, PlannedDeleteTime: isoSeconds(secret.plannedDeleteUnix) };
};

const restoreSecret: ActionHandler = (ctx) => {
  const secret = resolveSecret(ctx);
  assertInstanceAvailable(ctx.store, secret, ctx.nowUnix); // inferred, as DeleteSecret
  // inferred: restoring a secret that is not scheduled for deletion is a successful no-op
  if (secret.plannedDeleteUnix !== null) {
    secret.plannedDeleteUnix = null;
    secret.updateUnix = ctx.nowUnix;
    ctx.store.markDirty();
  }
  return { SecretName: secret.secretName };
};

/** Secrets Manager handlers by action name. */
export const secretActions: Readonly<Record<string, ActionHandler>> = {
  CreateSecret: createSecret,
  GetSecretValue: getSecretValue,
  PutSecretValue: putSecretValue,
  DescribeSecret: describeSecret,
  ListSecrets: listSecrets,
  ListSecretVersionIds: listSecretVersionIds,
  DeleteSecret: deleteSecret,
  RestoreSecret: restoreSecret,
};
