/**
 * An in-memory fake of ONLY the Secrets Manager part of KmsPort, with the semantics of
 * docs/kms-api.md §2.12 and the errors the real adapter (shared/kms/alicloud-adapter.ts)
 * produces: not found -> KmsNotFound `Forbidden.ResourceNotFound`; name taken or conditional
 * PutSecretValue with other data -> KmsConflict `Rejected.ResourceExist`; secret in its recovery
 * window -> KmsRejectedState `Rejected.ResourceInDeleteWindow` (documented for CreateSecret; inferred
 * for GetSecretValue and PutSecretValue).
 *
 * Stand-in until the KMS emulator (packages/kms-emulator) can serve the integration tests; every call
 * yields to the event loop first, so concurrent callers interleave as they would over HTTP.
 */
import { ErrorCode, OrchestratorError } from '../../shared/errors.js';
import type {
  KmsPort,
  SecretFilter,
  SecretMetadata,
  SecretSummary,
  SecretValue,
  SecretVersionSummary,
} from '../../shared/kms/port.js';

/** The Secrets Manager methods of KmsPort. */
export type SecretsKmsPort = Pick<
  KmsPort,
  | 'createSecret'
  | 'getSecretValue'
  | 'putSecretValue'
  | 'describeSecret'
  | 'listSecretVersionIds'
  | 'listSecrets'
  | 'tagResource'
>;

/** What an operator can do to a secret by hand (the product never deletes or restores one). */
export interface DeleteSecretInput {
  secretName: string;
  forceDeleteWithoutRecovery?: boolean;
  recoveryWindowInDays?: number;
}

/** One stored version. */
export interface FakeSecretVersion {
  versionId: string;
  secretData: string;
  stages: string[];
  createTimeMs: number;
}

/** One stored secret. */
export interface FakeSecret {
  secretName: string;
  encryptionKeyId: string;
  description: string;
  tags: Record<string, string>;
  createTimeMs: number;
  updateTimeMs: number;
  plannedDeleteTimeMs?: number;
  /** Oldest first; at most 10 (docs/kms-api.md §2.12). */
  versions: FakeSecretVersion[];
}

const MAX_VERSIONS = 10;
const DAY_MS = 86_400_000;

/** The fake. `calls` records every action name in order; `secrets` is the whole state. */
export class FakeSecretsKms implements SecretsKmsPort {
  readonly secrets = new Map<string, FakeSecret>();
  readonly calls: string[] = [];
  private requests = 0;

  constructor(private readonly nowMs: () => number = () => 1_700_000_000_000) {}

  /** Test hook: rewrites the data of a stored version (ACSCurrent by default), as tampering would. */
  setSecretData(secretName: string, mutate: (data: string) => string, versionId?: string): void {
    const version = this.findVersion(this.mustExist(secretName, 'Test'), versionId, undefined, 'Test');
    version.secretData = mutate(version.secretData);
  }

  async createSecret(input: Parameters<KmsPort['createSecret']>[0]): ReturnType<KmsPort['createSecret']> {
    const requestId = await this.begin('CreateSecret');
    const existing = this.secrets.get(input.secretName);
    if (existing?.plannedDeleteTimeMs !== undefined) throw this.inDeleteWindow('CreateSecret', requestId);
    if (existing !== undefined) throw this.exists('CreateSecret', requestId);
    if (!/^[A-Za-z0-9_/+=.@-]{1,192}$/.test(input.secretName) || input.secretName.startsWith('acs/')) {
      throw this.invalid('CreateSecret', 'SecretName', requestId);
    }
    if (input.versionId.length === 0 || input.versionId.length > 64)
      throw this.invalid('CreateSecret', 'VersionId', requestId);
    if (Buffer.byteLength(input.secretData, 'utf8') > 30_720)
      throw this.invalid('CreateSecret', 'SecretData', requestId);
    if (Object.keys(input.tags ?? {}).length > 20) throw this.invalid('CreateSecret', 'Tags', requestId);
    const now = this.nowMs();
    this.secrets.set(input.secretName, {
      secretName: input.secretName,
      encryptionKeyId: input.encryptionKeyId,
      description: input.description ?? '',
      tags: { ...(input.tags ?? {}) },
      createTimeMs: now,
      updateTimeMs: now,
      versions: [
        { versionId: input.versionId, secretData: input.secretData, stages: ['ACSCurrent'], createTimeMs: now },
      ],
    });
    return { requestId, secretName: input.secretName, versionId: input.versionId };
  }

  async getSecretValue(input: Parameters<KmsPort['getSecretValue']>[0]): Promise<SecretValue> {
    const requestId = await this.begin('GetSecretValue');
    const secret = this.mustExist(input.secretName, 'GetSecretValue', requestId);
    // Inferred (not documented): a secret in its recovery window cannot be read, as in other clouds.
    if (secret.plannedDeleteTimeMs !== undefined) throw this.inDeleteWindow('GetSecretValue', requestId);
    const version = this.findVersion(
      secret,
      input.versionId,
      input.versionStage ?? (input.versionId ? undefined : 'ACSCurrent'),
      'GetSecretValue',
      requestId,
    );
    return {
      requestId,
      secretName: secret.secretName,
      versionId: version.versionId,
      secretData: version.secretData,
      versionStages: [...version.stages],
      createTimeMs: version.createTimeMs,
    };
  }

  async putSecretValue(input: Parameters<KmsPort['putSecretValue']>[0]): ReturnType<KmsPort['putSecretValue']> {
    const requestId = await this.begin('PutSecretValue');
    const secret = this.mustExist(input.secretName, 'PutSecretValue', requestId);
    if (secret.plannedDeleteTimeMs !== undefined) throw this.inDeleteWindow('PutSecretValue', requestId);
    const same = secret.versions.find((v) => v.versionId === input.versionId);
    if (same !== undefined) {
      // Conditional write: the same VersionId is idempotent only with the same data.
      if (same.secretData !== input.secretData) throw this.exists('PutSecretValue', requestId);
      return { requestId, versionId: same.versionId, versionStages: [...same.stages] };
    }
    const stages = input.versionStages ?? ['ACSCurrent'];
    if (stages.includes('ACSCurrent')) {
      for (const v of secret.versions) {
        v.stages = v.stages.filter((s) => s !== 'ACSPrevious');
        if (v.stages.includes('ACSCurrent')) v.stages = [...v.stages.filter((s) => s !== 'ACSCurrent'), 'ACSPrevious'];
      }
    }
    for (const v of secret.versions) v.stages = v.stages.filter((s) => !stages.includes(s) || s === 'ACSPrevious');
    const now = this.nowMs();
    secret.versions.push({
      versionId: input.versionId,
      secretData: input.secretData,
      stages: [...stages],
      createTimeMs: now,
    });
    if (secret.versions.length > MAX_VERSIONS) secret.versions.shift();
    secret.updateTimeMs = now;
    return { requestId, versionId: input.versionId, versionStages: [...stages] };
  }

  async describeSecret(secretName: string): Promise<SecretMetadata> {
    const requestId = await this.begin('DescribeSecret');
    const s = this.mustExist(secretName, 'DescribeSecret', requestId);
    return {
      requestId,
      secretName: s.secretName,
      arn: `acs:kms:cn-hangzhou:1234567890123456:secret/${s.secretName}`,
      encryptionKeyId: s.encryptionKeyId,
      description: s.description,
      createTimeMs: s.createTimeMs,
      updateTimeMs: s.updateTimeMs,
      ...(s.plannedDeleteTimeMs === undefined ? {} : { plannedDeleteTimeMs: s.plannedDeleteTimeMs }),
      tags: { ...s.tags },
    };
  }

  async listSecretVersionIds(secretName: string): Promise<SecretVersionSummary[]> {
    const requestId = await this.begin('ListSecretVersionIds');
    // Every retained version, deprecated ones included (IncludeDeprecated=true, as the adapter asks).
    return this.mustExist(secretName, 'ListSecretVersionIds', requestId).versions.map((v) => ({
      versionId: v.versionId,
      versionStages: [...v.stages],
      createTimeMs: v.createTimeMs,
    }));
  }

  async listSecrets(filter?: SecretFilter): Promise<SecretSummary[]> {
    await this.begin('ListSecrets');
    const candidates = (s: FakeSecret): string[] => {
      if (filter?.key === 'SecretName') return [s.secretName];
      if (filter?.key === 'Description') return [s.description];
      if (filter?.key === 'TagKey') return Object.keys(s.tags);
      return Object.values(s.tags);
    };
    const matching = [...this.secrets.values()].filter(
      (s) => filter === undefined || candidates(s).some((c) => filter.values.includes(c)),
    );
    return matching.map((s) => ({
      secretName: s.secretName,
      createTimeMs: s.createTimeMs,
      ...(s.plannedDeleteTimeMs === undefined ? {} : { plannedDeleteTimeMs: s.plannedDeleteTimeMs }),
      tags: { ...s.tags },
    }));
  }

  /** TagResource on a secret (merge, at most 10 tags: Rejected.LimitExceeded); keys are not faked. */
  async tagResource(
    target: string | { secretName: string },
    tags: Record<string, string>,
  ): Promise<{ requestId: string }> {
    const requestId = await this.begin('TagResource');
    if (typeof target === 'string') throw this.invalid('TagResource', 'KeyId', requestId);
    const s = this.mustExist(target.secretName, 'TagResource', requestId);
    const merged = { ...s.tags, ...tags };
    if (Object.keys(merged).length > 10) {
      throw new OrchestratorError(
        ErrorCode.KmsRejectedState,
        'KMS TagResource failed: Rejected.LimitExceeded (HTTP 400)',
        {
          details: { action: 'TagResource', kmsCode: 'Rejected.LimitExceeded', httpStatus: 400, requestId },
        },
      );
    }
    s.tags = merged;
    return { requestId };
  }

  /** Test hook: DeleteSecret as an operator would call it (with a recovery window unless forced). */
  async deleteSecret(input: DeleteSecretInput): Promise<{ requestId: string; plannedDeleteTimeMs?: number }> {
    const requestId = await this.begin('DeleteSecret');
    const s = this.mustExist(input.secretName, 'DeleteSecret', requestId);
    if (input.forceDeleteWithoutRecovery === true) {
      this.secrets.delete(input.secretName);
      return { requestId };
    }
    s.plannedDeleteTimeMs = this.nowMs() + (input.recoveryWindowInDays ?? 30) * DAY_MS;
    return { requestId, plannedDeleteTimeMs: s.plannedDeleteTimeMs };
  }

  /** Test hook: RestoreSecret, ending the recovery window. */
  async restoreSecret(secretName: string): Promise<{ requestId: string }> {
    const requestId = await this.begin('RestoreSecret');
    const s = this.mustExist(secretName, 'RestoreSecret', requestId);
    delete s.plannedDeleteTimeMs;
    return { requestId };
  }

  private async begin(action: string): Promise<string> {
    this.calls.push(action);
    this.requests += 1;
    await new Promise<void>((resolve) => setImmediate(resolve));
    return `00000000-0000-4000-8000-${this.requests.toString().padStart(12, '0')}`;
  }

  private mustExist(secretName: string, action: string, requestId = 'test'): FakeSecret {
    const s = this.secrets.get(secretName);
    if (s === undefined) {
      throw new OrchestratorError(
        ErrorCode.KmsNotFound,
        `KMS ${action} failed: Forbidden.ResourceNotFound (HTTP 403)`,
        {
          details: { action, kmsCode: 'Forbidden.ResourceNotFound', httpStatus: 403, requestId },
        },
      );
    }
    return s;
  }

  private findVersion(
    secret: FakeSecret,
    versionId: string | undefined,
    stage: string | undefined,
    action: string,
    requestId = 'test',
  ): FakeSecretVersion {
    const v = secret.versions.find(
      (x) =>
        (versionId === undefined || x.versionId === versionId) && (stage === undefined || x.stages.includes(stage)),
    );
    if (v === undefined) {
      throw new OrchestratorError(
        ErrorCode.KmsNotFound,
        `KMS ${action} failed: Forbidden.ResourceNotFound (HTTP 403)`,
        {
          details: { action, kmsCode: 'Forbidden.ResourceNotFound', httpStatus: 403, requestId },
        },
      );
    }
    return v;
  }

  private exists(action: string, requestId: string): OrchestratorError {
    return new OrchestratorError(ErrorCode.KmsConflict, `KMS ${action} failed: Rejected.ResourceExist (HTTP 409)`, {
      details: { action, kmsCode: 'Rejected.ResourceExist', httpStatus: 409, requestId },
    });
  }

  private inDeleteWindow(action: string, requestId: string): OrchestratorError {
    return new OrchestratorError(
      ErrorCode.KmsRejectedState,
      `KMS ${action} failed: Rejected.ResourceInDeleteWindow (HTTP 409)`,
      {
        details: { action, kmsCode: 'Rejected.ResourceInDeleteWindow', httpStatus: 409, requestId },
      },
    );
  }

  private invalid(action: string, field: string, requestId: string): OrchestratorError {
    return new OrchestratorError(ErrorCode.KmsInvalidRequest, `KMS ${action} failed: InvalidParameter (HTTP 400)`, {
      details: { action, kmsCode: 'InvalidParameter', httpStatus: 400, requestId, field },
    });
  }
}
