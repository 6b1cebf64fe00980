/**
 * The one adapter over the official SDK @alicloud/kms20160120 (1.2.0, on @alicloud/rpc-client).
 * This is the only file in the product that imports it; everything else sees KmsPort.
 *
 * SDK facts relied on (docs/kms-api.md): the endpoint is host[:port] without scheme and
 * `protocol` must be given explicitly (§1.6, verified); thrown errors carry the parsed body as
 * `err.data` and a code with an `Error` suffix, so we read `err.data.Code` (§1.9, verified); the
 * HTTP status only appears inside the message as `code: <status>,` (§1.9, verified); the SDK
 * retries nothing (§1.9), so resilience.ts does. Errors are mapped in error-mapping.ts, answers
 * parsed in parse.ts; this file is the calls.
 *
 * Why it is longer than ~300 lines: one short method per KMS call the product makes, kept together
 * because this is the one file that imports the SDK (docs/design.md §3); splitting it would spread
 * the SDK over several files for no gain in reading.
 */
import Client, * as $Kms from '@alicloud/kms20160120';
import { ErrorCode, type OrchestratorError } from '../errors.js';
import type { RandomSource } from '../runtime-types.js';
import { mapSdkError } from './error-mapping.js';
import { createKmsRpc, type KmsRpcCall } from './openapi-rpc.js';
import { sdkCredential } from './static-credential.js';
import {
  optionalString,
  parseDate,
  parseKeyMetadata,
  parseKmsInstance,
  parseSecretMetadata,
  stringField,
  tagListToRecord,
  tagsToRecord,
} from './parse.js';
import type { AliasEntry, KmsPort, KmsResult, SecretSummary } from './port.js';
import { KmsPacer, defaultRetryPolicy, realSleep, withRetry, type RetryPolicy, type Sleep } from './resilience.js';

/** Credentials for KMS calls; a securityToken means STS (FC hands these to functions). */
export interface KmsCredentials {
  accessKeyId: string;
  accessKeySecret: string;
  securityToken?: string;
}

/** How to reach KMS and how politely. */
export interface AlicloudKmsOptions {
  /** host[:port], no scheme, e.g. `kms.cn-hangzhou.aliyuncs.com` or `127.0.0.1:4765`. */
  endpoint: string;
  protocol: 'http' | 'https';
  regionId: string;
  /** Read before every call; the SDK client is rebuilt when the result changes (STS rotation). */
  credentials: () => KmsCredentials;
  random: RandomSource;
  nowMs: () => number;
  retry?: RetryPolicy;
  /** Calls in flight at once; undefined = derived from the rate and the observed latency (resilience.ts). */
  maxConcurrency?: number;
  /** Client-side QPS ceiling across all actions; undefined = none. */
  maxRequestsPerSecond?: number;
  /**
   * Share (0-1] of each documented per-account group quota (docs/kms-api.md §4.1) this client may use;
   * undefined = no per-group pacing (the configuration sets the default share, tests leave it off).
   */
  qpsShare?: number;
  /** Per-call timeouts in ms (socket read / connect), default 10 s / 5 s. */
  readTimeoutMs?: number;
  connectTimeoutMs?: number;
  sleep?: Sleep;
  /** Told about every retry (for progress lines); never receives secrets. */
  onRetry?: (info: { action: string; attempt: number; delayMs: number; code: string }) => void;
}

function tagsJson(tags: Record<string, string>): string {
  return JSON.stringify(Object.entries(tags).map(([TagKey, TagValue]) => ({ TagKey, TagValue })));
}

/** Actions whose outcome is ambiguous after a network error or 5xx and that are not safe to repeat blindly. */
const unsafeToRepeat = new Set(['CreateKey']);

/** The KmsPort over the SDK, with the pacer that governs its rate and concurrency. */
export type AlicloudKms = KmsPort & { readonly pacer: KmsPacer };

/** Builds the KmsPort over the official SDK. */
export function createAlicloudKms(options: AlicloudKmsOptions): AlicloudKms {
  const sleep = options.sleep ?? realSleep;
  const pacer = new KmsPacer({
    nowMs: options.nowMs,
    sleep,
    ...(options.qpsShare === undefined ? {} : { qpsShare: options.qpsShare }),
    ...(options.maxRequestsPerSecond === undefined ? {} : { maxRequestsPerSecond: options.maxRequestsPerSecond }),
    ...(options.maxConcurrency === undefined ? {} : { concurrency: options.maxConcurrency }),
  });
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
          credentials: c,
          endpoint: options.endpoint,
          protocol: options.protocol,
          regionId: options.regionId,
          readTimeoutMs,
          connectTimeoutMs,
        }),
        client: new Client({
          // A credential object, not the key itself: the client would load @alicloud/credentials
          // for a static key (static-credential.ts).
          credential: sdkCredential(c),
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
  async function rpc(
    action: string,
    keyId: string | undefined,
    params: Record<string, string | undefined>,
  ): Promise<Record<string, unknown>> {
    return callWith(action, keyId, (both) => both.rpc(action, params));
  }

  async function callWith<T>(
    action: string,
    keyId: string | undefined,
    fn: (c: { client: Client; rpc: KmsRpcCall }) => Promise<T>,
  ): Promise<T> {
    return withRetry(
      async () => {
        // The token first, then a slot: waiting for the rate never holds a slot.
        await pacer.take(action);
        return pacer.run(async () => {
          const startedMs = options.nowMs();
          try {
            const out = await fn(clients());
            pacer.completed(options.nowMs() - startedMs);
            return out;
          } catch (err) {
            const mapped = mapSdkError(err, action, keyId);
            if (mapped.code === ErrorCode.KmsThrottled) pacer.throttled(action);
            throw mapped;
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
        onRetry: (err, attempt, delayMs) =>
          options.onRetry?.({
            action,
            attempt,
            delayMs,
            code: (err as OrchestratorError).details.kmsCode ?? (err as OrchestratorError).code,
          }),
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
    pacer,
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
        const r = await call('ListKeys', undefined, (c) =>
          c.listKeys(new $Kms.ListKeysRequest({ pageNumber: page, pageSize: 100 })),
        );
        return { items: (r.keys?.key ?? []).map((k) => k.keyId), total: r.totalCount };
      });
    },
    async getParametersForImport(input) {
      const r = await call('GetParametersForImport', input.keyId, (c) =>
        c.getParametersForImport(
          new $Kms.GetParametersForImportRequest({
            keyId: input.keyId,
            wrappingAlgorithm: input.wrappingAlgorithm,
            wrappingKeySpec: input.wrappingKeySpec,
          }),
        ),
      );
      return {
        requestId: r.requestId,
        keyId: r.keyId,
        importToken: r.importToken,
        publicKeyBase64: r.publicKey,
        tokenExpiresAtMs: parseDate(r.tokenExpireTime) ?? 0,
      };
    },
    async importKeyMaterial(input) {
      return ok(
        await call('ImportKeyMaterial', input.keyId, (c) =>
          c.importKeyMaterial(
            new $Kms.ImportKeyMaterialRequest({
              keyId: input.keyId,
              encryptedKeyMaterial: input.encryptedKeyMaterial,
              importToken: input.importToken,
              keyMaterialExpireUnix: input.keyMaterialExpireUnix,
            }),
          ),
        ),
      );
    },
    async deleteKeyMaterial(keyId) {
      return ok(
        await call('DeleteKeyMaterial', keyId, (c) =>
          c.deleteKeyMaterial(new $Kms.DeleteKeyMaterialRequest({ keyId })),
        ),
      );
    },
    async createAlias(aliasName, keyId) {
      return ok(
        await call('CreateAlias', keyId, (c) => c.createAlias(new $Kms.CreateAliasRequest({ aliasName, keyId }))),
      );
    },
    async updateAlias(aliasName, keyId) {
      return ok(
        await call('UpdateAlias', keyId, (c) => c.updateAlias(new $Kms.UpdateAliasRequest({ aliasName, keyId }))),
      );
    },
    async listAliases() {
      return allPages<AliasEntry>(async (page) => {
        const r = await call('ListAliases', undefined, (c) =>
          c.listAliases(new $Kms.ListAliasesRequest({ pageNumber: page, pageSize: 100 })),
        );
        return {
          items: (r.aliases?.alias ?? []).map((a) => ({ aliasName: a.aliasName, keyId: a.keyId })),
          total: r.totalCount,
        };
      });
    },
    async tagResource(target, tags) {
      if (typeof target !== 'string') {
        const { secretName } = target;
        return ok(
          await call('TagResource', undefined, (c) =>
            c.tagResource(new $Kms.TagResourceRequest({ secretName, tags: tagsJson(tags) })),
          ),
        );
      }
      return ok(
        await call('TagResource', target, (c) =>
          c.tagResource(new $Kms.TagResourceRequest({ keyId: target, tags: tagsJson(tags) })),
        ),
      );
    },
    async untagResource(keyId, tagKeys) {
      return ok(
        await call('UntagResource', keyId, (c) =>
          c.untagResource(new $Kms.UntagResourceRequest({ keyId, tagKeys: JSON.stringify(tagKeys) })),
        ),
      );
    },
    async listResourceTags(keyId) {
      const r = await call('ListResourceTags', keyId, (c) =>
        c.listResourceTags(new $Kms.ListResourceTagsRequest({ keyId })),
      );
      return tagsToRecord(r.tags?.tag);
    },
    async encrypt(input) {
      const r = await call('Encrypt', input.keyId, (c) =>
        c.encrypt(
          new $Kms.EncryptRequest({
            keyId: input.keyId,
            plaintext: input.plaintext,
            encryptionContext: input.encryptionContext,
          }),
        ),
      );
      return { requestId: r.requestId, ciphertextBlob: r.ciphertextBlob, keyId: r.keyId, keyVersionId: r.keyVersionId };
    },
    async decrypt(input) {
      const r = await call('Decrypt', undefined, (c) =>
        c.decrypt(
          new $Kms.DecryptRequest({ ciphertextBlob: input.ciphertextBlob, encryptionContext: input.encryptionContext }),
        ),
      );
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
      return {
        requestId: stringField(r, 'RequestId'),
        secretName: stringField(r, 'SecretName'),
        versionId: stringField(r, 'VersionId'),
      };
    },
    async getSecretValue(input) {
      const r = await call('GetSecretValue', undefined, (c) =>
        c.getSecretValue(
          new $Kms.GetSecretValueRequest({
            secretName: input.secretName,
            versionId: input.versionId,
            versionStage: input.versionStage,
          }),
        ),
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
      return parseSecretMetadata(await rpc('DescribeSecret', undefined, { SecretName: secretName, FetchTags: 'true' }));
    },
    async listSecretVersionIds(secretName) {
      const all = await allPages(async (page) => {
        const r = await call('ListSecretVersionIds', undefined, (c) =>
          c.listSecretVersionIds(
            new $Kms.ListSecretVersionIdsRequest({
              secretName,
              includeDeprecated: 'true',
              pageNumber: page,
              pageSize: 100,
            }),
          ),
        );
        return { items: r.versionIds?.versionId ?? [], total: r.totalCount };
      });
      return all.map((v) => ({
        versionId: v.versionId,
        versionStages: v.versionStages?.versionStage ?? [],
        createTimeMs: parseDate(v.createTime) ?? 0,
      }));
    },
    async listSecrets(filter) {
      if (filter !== undefined) {
        // Through the generic client: SDK 1.2.0 has no Filters on ListSecrets (docs/kms-api.md §1.12).
        const Filters = JSON.stringify([{ Key: filter.key, Values: filter.values }]);
        return allPages<SecretSummary>(async (page) => {
          const params = { FetchTags: 'true', PageNumber: String(page), PageSize: '100', Filters };
          const r = await rpc('ListSecrets', undefined, params);
          const list = (r['SecretList'] as { Secret?: Array<Record<string, unknown>> } | undefined)?.Secret ?? [];
          const items = list.map((s) => ({
            secretName: stringField(s, 'SecretName'),
            createTimeMs: parseDate(optionalString(s, 'CreateTime')) ?? 0,
            plannedDeleteTimeMs: parseDate(optionalString(s, 'PlannedDeleteTime')),
            tags: tagListToRecord(s['Tags']),
          }));
          const total = Number(r['TotalCount']);
          return { items, total: Number.isFinite(total) ? total : items.length };
        });
      }
      return allPages<SecretSummary>(async (page) => {
        const r = await call('ListSecrets', undefined, (c) =>
          c.listSecrets(new $Kms.ListSecretsRequest({ fetchTags: 'true', pageNumber: page, pageSize: 100 })),
        );
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
