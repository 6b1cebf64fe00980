/**
 * The one adapter over the official SDK @alicloud/kms20160120 (1.2.0, on @alicloud/rpc-client).
 * This is the only file in the product that imports it; everything else sees KmsPort.
 *
 * SDK facts relied on (docs/kms-api.md): the endpoint is host[:port] without scheme and
 * `protocol` must be given explicitly (§1.6, verified); thrown errors carry the parsed body as
 * `err.data` and a code with an `Error` suffix, so we read `err.data.Code` (§1.9, verified); the
 * HTTP status only appears inside the message as `code: <status>,` (§1.9, verified); the SDK
 * retries nothing (§1.9), so resilience.ts does.
 */
import Client, * as $Kms from '@alicloud/kms20160120';
import { ErrorCode, OrchestratorError } from '../errors.js';
import type { RandomSource } from '../runtime-types.js';
import { createKmsRpc, type KmsRpcCall } from './openapi-rpc.js';
import type { AliasEntry, KeyMetadata, KeyOrigin, KeyState, KmsInstanceInfo, KmsPort, KmsResult, SecretSummary } from './port.js';
import { ConcurrencyLimiter, RateLimiter, defaultRetryPolicy, realSleep, withRetry, type RetryPolicy, type Sleep } from './resilience.js';

/** Credentials for KMS calls; a securityToken means STS (FC hands these to functions). */
export interface KmsCredentials {
  accessKeyId: string;
  accessKeySecret: string;
  securityToken?: string;
}

/** How to reach KMS and how politely. */
export interface AlicloudKmsOptions {
  /** host[:port], no scheme, e.g. `kms.cn-hangzhou.aliyuncs.com` or `127.0.0.1:8765`. */
  endpoint: string;
  protocol: 'http' | 'https';
  regionId: string;
  /** Read before every call; the SDK client is rebuilt when the result changes (STS rotation). */
  credentials: () => KmsCredentials;
  random: RandomSource;
  nowMs: () => number;
  retry?: RetryPolicy;
  /** Calls in flight at once (default 8). */
  maxConcurrency?: number;
  /** Client-side QPS ceiling; undefined = none. */
  maxRequestsPerSecond?: number;
  /** Per-call timeouts in ms (socket read / connect), default 10 s / 5 s. */
  readTimeoutMs?: number;
  connectTimeoutMs?: number;
  sleep?: Sleep;
  /** Told about every retry (for progress lines); never receives secrets. */
  onRetry?: (info: { action: string; attempt: number; delayMs: number; code: string }) => void;
}

/** KMS codes that mean "the thing is not there". */
const notFoundCodes = new Set(['Forbidden.KeyNotFound', 'Forbidden.AliasNotFound', 'Forbidden.ResourceNotFound', 'Forbidden.KeyVersionNotFound']);

/**
 * Maps a KMS service code and HTTP status to our code and retryability. Retry on throttling,
 * ServiceUnavailableTemporary, InternalFailure and 5xx; never on Forbidden.*, Rejected.<State>,
 * InvalidKeyMaterial, InvalidImportToken (issue #3 §1; docs/kms-api.md §4.2).
 */
export function classifyKmsError(kmsCode: string | undefined, httpStatus: number | undefined): { code: ErrorCode; retryable: boolean } {
  const c = kmsCode ?? '';
  if (c === 'InvalidKeyMaterial') return { code: ErrorCode.KmsInvalidKeyMaterial, retryable: false };
  if (c === 'InvalidImportToken') return { code: ErrorCode.KmsInvalidImportToken, retryable: false };
  if (c === 'ExpiredImportToken') return { code: ErrorCode.KmsExpiredImportToken, retryable: false };
  if (c.startsWith('Throttling') || c === 'Rejected.Throttling') return { code: ErrorCode.KmsThrottled, retryable: true };
  if (c === 'ServiceUnavailableTemporary' || c === 'SerivceUnavailableTemporary' || c === 'InternalFailure' || c === 'ServiceUnavailable') {
    return { code: ErrorCode.KmsUnavailable, retryable: true };
  }
  if (notFoundCodes.has(c)) return { code: ErrorCode.KmsNotFound, retryable: false };
  if (c === 'Rejected.ResourceExist' || c === 'AliasAlreadyExists') return { code: ErrorCode.KmsConflict, retryable: false };
  if (c.startsWith('Rejected.')) return { code: ErrorCode.KmsRejectedState, retryable: false };
  if (c.startsWith('Forbidden.') || c.startsWith('InvalidAccessKeyId') || c === 'SignatureDoesNotMatch' || c.startsWith('InvalidSecurityToken')) {
    return { code: ErrorCode.KmsForbidden, retryable: false };
  }
  if (httpStatus !== undefined && httpStatus >= 500) return { code: ErrorCode.KmsUnavailable, retryable: true };
  if (c.startsWith('Invalid') || c.startsWith('Missing') || c.startsWith('Unsupported') || c === 'IncompleteSignature' || c === 'IllegalTimestamp') {
    return { code: ErrorCode.KmsInvalidRequest, retryable: false };
  }
  return { code: ErrorCode.KmsUnexpected, retryable: false };
}

const socketErrorCodes = new Set(['ECONNRESET', 'ECONNREFUSED', 'ETIMEDOUT', 'EPIPE', 'EAI_AGAIN', 'ENOTFOUND', 'ESOCKETTIMEDOUT', 'ECONNABORTED', 'EHOSTUNREACH', 'ENETUNREACH']);

/**
 * Turns whatever the SDK threw into an OrchestratorError. The message is built from fixed parts
 * only: KMS messages are not copied, because a gateway may echo request parameters (a
 * SignatureDoesNotMatch message contains the string to sign, i.e. every parameter).
 */
export function mapSdkError(err: unknown, action: string, keyId?: string): OrchestratorError {
  if (err instanceof OrchestratorError) return err;
  const e = err as { data?: { Code?: unknown; RequestId?: unknown }; message?: unknown; code?: unknown; name?: unknown };
  const data = e?.data;
  if (data && typeof data === 'object' && typeof data.Code === 'string') {
    const statusMatch = /code: (\d{3}),/.exec(typeof e.message === 'string' ? e.message : '');
    const httpStatus = statusMatch ? Number(statusMatch[1]) : undefined;
    const { code, retryable } = classifyKmsError(data.Code, httpStatus);
    const requestId = typeof data.RequestId === 'string' ? data.RequestId : undefined;
    return new OrchestratorError(code, `KMS ${action} failed: ${data.Code}${httpStatus ? ` (HTTP ${httpStatus})` : ''}${keyId ? ` for key ${keyId}` : ''}`, {
      retryable,
      details: { action, kmsCode: data.Code, httpStatus, requestId, keyId },
    });
  }
  const sysCode = typeof e?.code === 'string' ? e.code : undefined;
  if ((sysCode && socketErrorCodes.has(sysCode)) || e?.name === 'SyntaxError' || e?.name === 'RequestTimeoutError' || /timeout/i.test(String(e?.name ?? ''))) {
    // A non-JSON body (e.g. a proxy's HTML 503) surfaces as SyntaxError (docs/kms-api.md §1.8, verified).
    return new OrchestratorError(ErrorCode.KmsNetwork, `KMS ${action} failed: network error ${sysCode ?? String(e?.name)}`, {
      retryable: true,
      details: { action, keyId },
    });
  }
  return new OrchestratorError(ErrorCode.KmsUnexpected, `KMS ${action} failed unexpectedly`, { details: { action, keyId } });
}

/** KMS dates are UTC ISO-8601 strings; "" means "not applicable" (docs/kms-api.md §1.7). */
function parseDate(s: string | undefined | null): number | undefined {
  if (!s) return undefined;
  const ms = Date.parse(s);
  return Number.isNaN(ms) ? undefined : ms;
}

function tagsToRecord(tags: Array<{ tagKey: string; tagValue: string }> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const t of tags ?? []) out[t.tagKey] = t.tagValue;
  return out;
}

function tagsJson(tags: Record<string, string>): string {
  return JSON.stringify(Object.entries(tags).map(([TagKey, TagValue]) => ({ TagKey, TagValue })));
}

/** Actions whose outcome is ambiguous after a network error or 5xx and that are not safe to repeat blindly. */
const unsafeToRepeat = new Set(['CreateKey']);

/** Builds the KmsPort over the official SDK. */
export function createAlicloudKms(options: AlicloudKmsOptions): KmsPort {
  const limiter = new ConcurrencyLimiter(options.maxConcurrency ?? 8);
  const sleep = options.sleep ?? realSleep;
  const rate = options.maxRequestsPerSecond ? new RateLimiter(options.maxRequestsPerSecond, Math.max(1, Math.ceil(options.maxRequestsPerSecond)), options.nowMs, sleep) : undefined;
  let cached: { fingerprint: string; client: Client; rpc: KmsRpcCall } | undefined;
  const readTimeoutMs = options.readTimeoutMs ?? 10_000;
  const connectTimeoutMs = options.connectTimeoutMs ?? 5_000;

  function clients(): { client: Client; rpc: KmsRpcCall } {
    const c = options.credentials();
    const fingerprint = `${c.accessKeyId}\u0000${c.accessKeySecret}\u0000${c.securityToken ?? ''}`;
    if (!cached || cached.fingerprint !== fingerprint) {
      cached = {
        fingerprint,
        rpc: createKmsRpc({
          accessKeyId: c.accessKeyId,
          accessKeySecret: c.accessKeySecret,
          ...(c.securityToken ? { securityToken: c.securityToken } : {}),
          endpoint: options.endpoint,
          protocol: options.protocol,
          regionId: options.regionId,
          readTimeoutMs,
          connectTimeoutMs,
        }),
        client: new Client({
          accessKeyId: c.accessKeyId,
          accessKeySecret: c.accessKeySecret,
          securityToken: c.securityToken || undefined,
          endpoint: options.endpoint,
          protocol: options.protocol,
          regionId: options.regionId,
          readTimeout: readTimeoutMs,
          connectTimeout: connectTimeoutMs,
        } as ConstructorParameters<typeof Client>[0]),
      };
    }
    return cached;
  }

  async function call<T>(action: string, keyId: string | undefined, fn: (c: Client) => Promise<T>): Promise<T> {
    return callWith(action, keyId, (both) => fn(both.client));
  }

  /** A call through the generic RPC client (parameters the KMS client cannot send). */
  async function rpc(action: string, keyId: string | undefined, params: Record<string, string | undefined>): Promise<Record<string, unknown>> {
    return callWith(action, keyId, (both) => both.rpc(action, params));
  }

  async function callWith<T>(action: string, keyId: string | undefined, fn: (c: { client: Client; rpc: KmsRpcCall }) => Promise<T>): Promise<T> {
    return withRetry(
      async () => {
        if (rate) await rate.take();
        return limiter.run(async () => {
          try {
            return await fn(clients());
          } catch (err) {
            throw mapSdkError(err, action, keyId);
          }
        });
      },
      {
        policy: options.retry ?? defaultRetryPolicy,
        sleep,
        random: options.random,
        // A CreateKey that failed with a network error or 5xx may have created the key: repeating
        // it could make a second CMK. Only throttling (definitely not executed) is retried.
        shouldRetry: (err) => !unsafeToRepeat.has(action) || (err as OrchestratorError).code === ErrorCode.KmsThrottled,
        onRetry: (err, attempt, delayMs) => options.onRetry?.({ action, attempt, delayMs, code: (err as OrchestratorError).details.kmsCode ?? (err as OrchestratorError).code }),
      },
    );
  }

  const ok = (r: { requestId: string }): KmsResult => ({ requestId: r.requestId });

  async function allPages<T>(fetch: (page: number) => Promise<{ items: T[]; total: number }>): Promise<T[]> {
    const out: T[] = [];
    for (let page = 1; ; page++) {
      const { items, total } = await fetch(page);
      out.push(...items);
      if (items.length === 0 || out.length >= total) return out;
    }
  }

  return {
    async createKey(input) {
      // Through the generic client: SDK 1.2.0 has no DKMSInstanceId (docs/kms-3-instances.md §1).
      const r = await rpc('CreateKey', undefined, {
        Origin: input.origin,
        KeySpec: input.keySpec,
        KeyUsage: 'ENCRYPT/DECRYPT',
        Description: input.description,
        // With an instance, the protection level follows the instance type (documented).
        ProtectionLevel: input.dkmsInstanceId === undefined ? input.protectionLevel : undefined,
        DKMSInstanceId: input.dkmsInstanceId,
      });
      return { ...parseKeyMetadata(r['KeyMetadata'], 'CreateKey'), requestId: stringField(r, 'RequestId') };
    },
    async describeKey(keyIdOrAlias) {
      // Through the generic client: SDK 1.2.0's model drops KeyMetadata.DKMSInstanceId.
      const r = await rpc('DescribeKey', keyIdOrAlias, { KeyId: keyIdOrAlias });
      return { ...parseKeyMetadata(r['KeyMetadata'], 'DescribeKey'), requestId: stringField(r, 'RequestId') };
    },
    async listKeys() {
      return allPages(async (page) => {
        const r = await call('ListKeys', undefined, (c) => c.listKeys(new $Kms.ListKeysRequest({ pageNumber: page, pageSize: 100 })));
        return { items: (r.keys?.key ?? []).map((k) => k.keyId), total: r.totalCount };
      });
    },
    async getParametersForImport(input) {
      const r = await call('GetParametersForImport', input.keyId, (c) =>
        c.getParametersForImport(new $Kms.GetParametersForImportRequest({ keyId: input.keyId, wrappingAlgorithm: input.wrappingAlgorithm, wrappingKeySpec: input.wrappingKeySpec })),
      );
      return { requestId: r.requestId, keyId: r.keyId, importToken: r.importToken, publicKeyBase64: r.publicKey, tokenExpiresAtMs: parseDate(r.tokenExpireTime) ?? 0 };
    },
    async importKeyMaterial(input) {
      return ok(
        await call('ImportKeyMaterial', input.keyId, (c) =>
          c.importKeyMaterial(
            new $Kms.ImportKeyMaterialRequest({ keyId: input.keyId, encryptedKeyMaterial: input.encryptedKeyMaterial, importToken: input.importToken, keyMaterialExpireUnix: input.keyMaterialExpireUnix }),
          ),
        ),
      );
    },
    async deleteKeyMaterial(keyId) {
      return ok(await call('DeleteKeyMaterial', keyId, (c) => c.deleteKeyMaterial(new $Kms.DeleteKeyMaterialRequest({ keyId }))));
    },
    async enableKey(keyId) {
      return ok(await call('EnableKey', keyId, (c) => c.enableKey(new $Kms.EnableKeyRequest({ keyId }))));
    },
    async disableKey(keyId) {
      return ok(await call('DisableKey', keyId, (c) => c.disableKey(new $Kms.DisableKeyRequest({ keyId }))));
    },
    async scheduleKeyDeletion(keyId, pendingWindowInDays) {
      return ok(await call('ScheduleKeyDeletion', keyId, (c) => c.scheduleKeyDeletion(new $Kms.ScheduleKeyDeletionRequest({ keyId, pendingWindowInDays }))));
    },
    async cancelKeyDeletion(keyId) {
      return ok(await call('CancelKeyDeletion', keyId, (c) => c.cancelKeyDeletion(new $Kms.CancelKeyDeletionRequest({ keyId }))));
    },
    async createAlias(aliasName, keyId) {
      return ok(await call('CreateAlias', keyId, (c) => c.createAlias(new $Kms.CreateAliasRequest({ aliasName, keyId }))));
    },
    async updateAlias(aliasName, keyId) {
      return ok(await call('UpdateAlias', keyId, (c) => c.updateAlias(new $Kms.UpdateAliasRequest({ aliasName, keyId }))));
    },
    async deleteAlias(aliasName) {
      return ok(await call('DeleteAlias', undefined, (c) => c.deleteAlias(new $Kms.DeleteAliasRequest({ aliasName }))));
    },
    async listAliases() {
      return allPages<AliasEntry>(async (page) => {
        const r = await call('ListAliases', undefined, (c) => c.listAliases(new $Kms.ListAliasesRequest({ pageNumber: page, pageSize: 100 })));
        return { items: (r.aliases?.alias ?? []).map((a) => ({ aliasName: a.aliasName, keyId: a.keyId })), total: r.totalCount };
      });
    },
    async listAliasesByKeyId(keyId) {
      return allPages<AliasEntry>(async (page) => {
        const r = await call('ListAliasesByKeyId', keyId, (c) => c.listAliasesByKeyId(new $Kms.ListAliasesByKeyIdRequest({ keyId, pageNumber: page, pageSize: 100 })));
        return { items: (r.aliases?.alias ?? []).map((a) => ({ aliasName: a.aliasName, keyId: a.keyId })), total: r.totalCount };
      });
    },
    async tagResource(keyId, tags) {
      return ok(await call('TagResource', keyId, (c) => c.tagResource(new $Kms.TagResourceRequest({ keyId, tags: tagsJson(tags) }))));
    },
    async untagResource(keyId, tagKeys) {
      return ok(await call('UntagResource', keyId, (c) => c.untagResource(new $Kms.UntagResourceRequest({ keyId, tagKeys: JSON.stringify(tagKeys) }))));
    },
    async listResourceTags(keyId) {
      const r = await call('ListResourceTags', keyId, (c) => c.listResourceTags(new $Kms.ListResourceTagsRequest({ keyId })));
      return tagsToRecord(r.tags?.tag);
    },
    async encrypt(input) {
      const r = await call('Encrypt', input.keyId, (c) => c.encrypt(new $Kms.EncryptRequest({ keyId: input.keyId, plaintext: input.plaintext, encryptionContext: input.encryptionContext })));
      return { requestId: r.requestId, ciphertextBlob: r.ciphertextBlob, keyId: r.keyId, keyVersionId: r.keyVersionId };
    },
    async decrypt(input) {
      const r = await call('Decrypt', undefined, (c) => c.decrypt(new $Kms.DecryptRequest({ ciphertextBlob: input.ciphertextBlob, encryptionContext: input.encryptionContext })));
      return { requestId: r.requestId, plaintext: r.plaintext, keyId: r.keyId, keyVersionId: r.keyVersionId };
    },
    async createSecret(input) {
      // Through the generic client: SDK 1.2.0 has no DKMSInstanceId (docs/kms-3-instances.md §2).
      const r = await rpc('CreateSecret', input.encryptionKeyId, {
        SecretName: input.secretName,
        VersionId: input.versionId,
        SecretData: input.secretData,
        SecretDataType: 'text',
        EncryptionKeyId: input.encryptionKeyId,
        Description: input.description,
        Tags: input.tags ? tagsJson(input.tags) : undefined,
        DKMSInstanceId: input.dkmsInstanceId,
      });
      return { requestId: stringField(r, 'RequestId'), secretName: stringField(r, 'SecretName'), versionId: stringField(r, 'VersionId') };
    },
    async getSecretValue(input) {
      const r = await call('GetSecretValue', undefined, (c) =>
        c.getSecretValue(new $Kms.GetSecretValueRequest({ secretName: input.secretName, versionId: input.versionId, versionStage: input.versionStage })),
      );
      return {
        requestId: r.requestId,
        secretName: r.secretName,
        versionId: r.versionId,
        secretData: r.secretData,
        versionStages: r.versionStages?.versionStage ?? [],
        createTimeMs: parseDate(r.createTime) ?? 0,
      };
    },
    async putSecretValue(input) {
      const r = await call('PutSecretValue', undefined, (c) =>
        c.putSecretValue(
          new $Kms.PutSecretValueRequest({
            secretName: input.secretName,
            versionId: input.versionId,
            secretData: input.secretData,
            secretDataType: 'text',
            versionStages: input.versionStages ? JSON.stringify(input.versionStages) : undefined,
          }),
        ),
      );
      return { requestId: r.requestId, versionId: r.versionId, versionStages: r.versionStages?.versionStage ?? [] };
    },
    async describeSecret(secretName) {
      // Through the generic client: SDK 1.2.0's model drops DKMSInstanceId.
      const r = await rpc('DescribeSecret', undefined, { SecretName: secretName, FetchTags: 'true' });
      const tagList = (r['Tags'] as { Tag?: Array<{ Key?: unknown; Value?: unknown; TagKey?: unknown; TagValue?: unknown }> } | undefined)?.Tag ?? [];
      const tags: Record<string, string> = {};
      for (const t of tagList) {
        const k = t.Key ?? t.TagKey;
        const v = t.Value ?? t.TagValue;
        if (typeof k === 'string' && typeof v === 'string') tags[k] = v;
      }
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
        tags,
        ...(instance ? { dkmsInstanceId: instance } : {}),
      };
    },
    async listSecretVersionIds(secretName) {
      const all = await allPages(async (page) => {
        const r = await call('ListSecretVersionIds', undefined, (c) =>
          c.listSecretVersionIds(new $Kms.ListSecretVersionIdsRequest({ secretName, includeDeprecated: 'true', pageNumber: page, pageSize: 100 })),
        );
        return { items: r.versionIds?.versionId ?? [], total: r.totalCount };
      });
      return all.map((v) => ({ versionId: v.versionId, versionStages: v.versionStages?.versionStage ?? [], createTimeMs: parseDate(v.createTime) ?? 0 }));
    },
    async listSecrets() {
      return allPages<SecretSummary>(async (page) => {
        const r = await call('ListSecrets', undefined, (c) => c.listSecrets(new $Kms.ListSecretsRequest({ fetchTags: 'true', pageNumber: page, pageSize: 100 })));
        return {
          items: (r.secretList?.secret ?? []).map((s) => ({
            secretName: s.secretName,
            createTimeMs: parseDate(s.createTime) ?? 0,
            plannedDeleteTimeMs: parseDate(s.plannedDeleteTime),
            tags: tagsToRecord(s.tags?.tag),
          })),
          total: r.totalCount,
        };
      });
    },
    async deleteSecret(input) {
      const r = await call('DeleteSecret', undefined, (c) =>
        c.deleteSecret(
          new $Kms.DeleteSecretRequest({
            secretName: input.secretName,
            forceDeleteWithoutRecovery: input.forceDeleteWithoutRecovery === undefined ? undefined : String(input.forceDeleteWithoutRecovery),
            recoveryWindowInDays: input.recoveryWindowInDays === undefined ? undefined : String(input.recoveryWindowInDays),
          }),
        ),
      );
      return { requestId: r.requestId, plannedDeleteTimeMs: parseDate(r.plannedDeleteTime) };
    },
    async restoreSecret(secretName) {
      return ok(await call('RestoreSecret', undefined, (c) => c.restoreSecret(new $Kms.RestoreSecretRequest({ secretName }))));
    },
    async getKmsInstance(instanceId) {
      const r = await rpc('GetKmsInstance', undefined, { KmsInstanceId: instanceId });
      return { ...parseKmsInstance(r['KmsInstance'], instanceId), requestId: stringField(r, 'RequestId') };
    },
    async getDefaultKmsInstance() {
      const r = await rpc('GetDefaultKmsInstance', undefined, {});
      const id = optionalString(r, 'DefaultKmsInstanceId');
      return { requestId: stringField(r, 'RequestId'), ...(id ? { instanceId: id } : {}) };
    },
  };
}

function optionalString(o: Record<string, unknown>, field: string): string | undefined {
  const v = o[field];
  return typeof v === 'string' && v !== '' ? v : undefined;
}

function stringField(o: Record<string, unknown>, field: string): string {
  return optionalString(o, field) ?? '';
}

function optionalNumber(o: Record<string, unknown>, field: string): number | undefined {
  const v = o[field];
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : undefined;
  return n !== undefined && Number.isFinite(n) ? n : undefined;
}

/** KeyMetadata JSON (CreateKey / DescribeKey) -> our type; a missing object is an unexpected answer. */
function parseKeyMetadata(raw: unknown, action: string): KeyMetadata {
  if (typeof raw !== 'object' || raw === null) throw new OrchestratorError(ErrorCode.KmsUnexpected, `KMS ${action} answered without KeyMetadata`, { details: { action } });
  const m = raw as Record<string, unknown>;
  const instance = optionalString(m, 'DKMSInstanceId');
  return {
    keyId: stringField(m, 'KeyId'),
    arn: stringField(m, 'Arn'),
    keyState: stringField(m, 'KeyState') as KeyState,
    keySpec: stringField(m, 'KeySpec'),
    keyUsage: stringField(m, 'KeyUsage'),
    origin: stringField(m, 'Origin') as KeyOrigin,
    protectionLevel: stringField(m, 'ProtectionLevel'),
    description: stringField(m, 'Description'),
    creationDateMs: parseDate(optionalString(m, 'CreationDate')) ?? 0,
    deleteDateMs: parseDate(optionalString(m, 'DeleteDate')),
    materialExpireAtMs: parseDate(optionalString(m, 'MaterialExpireTime')),
    primaryKeyVersion: optionalString(m, 'PrimaryKeyVersion'),
    ...(instance ? { dkmsInstanceId: instance } : {}),
  };
}

/** GetKmsInstance's KmsInstance JSON -> our type (field names: docs/kms-3-instances.md §4). */
function parseKmsInstance(raw: unknown, instanceId: string): Omit<KmsInstanceInfo, 'requestId'> {
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
