/**
 * The `kms-secrets` escrow backend (cloud default): one KMS Secrets Manager secret per managed
 * CMK, named `byok-escrow/<keyId>`, encrypted by Secrets Manager under a separate escrow CMK
 * (`encryptionKeyId`, an `Aliyun_KMS` key: escrowing BYOK material under an EXTERNAL key would make
 * recovery depend on the very thing being recovered). Uses only KmsPort, never the SDK.
 *
 * SecretData (text) = JSON {v:1, keyId, lineage, generation, keySpec, fingerprint, createdAtMs,
 * material (base64), breakglass? (base64 RSA-OAEP blob, BREAK-GLASS.md)}.
 * VersionId = escrowVersionId(fingerprint) (`kcv1-<24 hex>`), tags {byok:managed=true,
 * byok:key-id, byok:lineage}.
 *
 * put never uses PutSecretValue: a new VersionId would add a version and move ACSCurrent to it,
 * which is exactly the silent replacement escrow must not allow. Instead put reads first and
 * CreateSecret is the conditional write (Rejected.ResourceExist when the name is taken, docs/kms-api.md
 * §2.12); a lost race is resolved by reading what won. get checks that ACSCurrent's VersionId
 * derives from the fingerprint inside, so a version written out of band reads as EscrowCorrupt.
 */
import { ErrorCode, OrchestratorError, isOrchestratorError } from '../errors.js';
import type { KmsPort, SecretValue } from '../kms/port.js';
import { parseRecoveryPublicKey, sealBreakGlass } from './break-glass.js';
import {
  EscrowBackend,
  assertKeyId,
  escrowConflict,
  escrowCorrupt,
  escrowNotFound,
  escrowVersionId,
  sameEscrow,
  validateEscrowRecord,
} from './store.js';
import { parseStoredRecord, storedRecordJson, summarize } from './record-json.js';
import type {
  EscrowListing,
  EscrowPutResult,
  EscrowRecord,
  EscrowStore,
  EscrowSummary,
  EscrowUnreadable,
} from './store.js';

/** The KMS calls this backend makes (a narrow slice of KmsPort, so fakes stay small). */
export type EscrowSecretsPort = Pick<
  KmsPort,
  'createSecret' | 'getSecretValue' | 'listSecrets' | 'describeSecret' | 'listSecretVersionIds'
>;

/** Options of the kms-secrets backend. */
export interface KmsSecretsEscrowOptions {
  kms: EscrowSecretsPort;
  /** The escrow CMK (Origin Aliyun_KMS) Secrets Manager encrypts the secrets under. */
  encryptionKeyId: string;
  /**
   * KMS 3.0 instance the secrets are created in (it must be the escrow CMK's instance: KMS refuses
   * a key from another instance). A new secret is described back to prove where it landed.
   */
  dkmsInstanceId?: string;
  /** Optional offline recovery RSA-4096 public key (PEM): adds a `breakglass` field to new secrets. */
  recoveryPublicKeyPem?: string;
}

/** Name prefix of escrow secrets; the rest of the name is the key id. */
export const ESCROW_SECRET_PREFIX = 'byok-escrow/';

/** Tag keys put on each escrow secret (docs/kms-api.md §2.10 tag rules). */
export const EscrowSecretTag = { Managed: 'byok:managed', KeyId: 'byok:key-id', Lineage: 'byok:lineage' } as const;

/**
 * Versions the orchestrator writes per escrow secret: exactly one (CreateSecret; put never calls
 * PutSecretValue). More means someone else wrote to the secret; Secrets Manager keeps at most
 * SECRET_MAX_VERSIONS and drops the oldest, which is ours (docs/kms-3-instances.md §2, documented;
 * that it drops a version still carrying ACSCurrent is inferred: the docs name no exception).
 */
export const ESCROW_VERSIONS_WRITTEN = 1;
/** Versions Secrets Manager keeps per secret before it deletes the earliest (docs/kms-3-instances.md §2). */
export const SECRET_MAX_VERSIONS = 10;

/** Rejected.ResourceInDeleteWindow: someone scheduled the secret for deletion (docs/kms-api.md §2.12). */
const IN_DELETE_WINDOW = 'Rejected.ResourceInDeleteWindow';

/** `byok-escrow/<keyId>`: <= 192 chars of letters, digits and `_ / + = . - @` (docs/kms-api.md §2.12). */
export function escrowSecretName(keyId: string): string {
  assertKeyId(keyId);
  return ESCROW_SECRET_PREFIX + keyId;
}

/** Builds the kms-secrets escrow store over `options.kms`. */
export function createKmsSecretsEscrowStore(options: KmsSecretsEscrowOptions): EscrowStore {
  const { kms, encryptionKeyId } = options;
  if (typeof encryptionKeyId !== 'string' || !/^\S{1,256}$/.test(encryptionKeyId)) {
    throw new OrchestratorError(ErrorCode.InvalidConfig, 'encryptionKeyId: the escrow CMK id is required', {
      details: { field: 'encryptionKeyId' },
    });
  }
  const recoveryKey =
    options.recoveryPublicKeyPem === undefined ? undefined : parseRecoveryPublicKey(options.recoveryPublicKeyPem);

  async function get(keyId: string): Promise<EscrowRecord> {
    const secretName = escrowSecretName(keyId);
    let value: SecretValue;
    try {
      value = await kms.getSecretValue({ secretName });
    } catch (err) {
      throw mapReadError(keyId, err);
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(value.secretData);
    } catch {
      throw escrowCorrupt(keyId, 'SecretData is not JSON');
    }
    const { breakglass: _ignored, ...record } = parseStoredRecord(keyId, parsed);
    if (value.versionId !== escrowVersionId(record.fingerprint)) {
      record.material.fill(0);
      throw escrowCorrupt(
        keyId,
        'current VersionId does not derive from the fingerprint (version written out of band?)',
      );
    }
    return record;
  }

  async function getIfPresent(keyId: string): Promise<EscrowRecord | undefined> {
    try {
      return await get(keyId);
    } catch (err) {
      if (isOrchestratorError(err, ErrorCode.EscrowNotFound)) {
        if (err.details.kmsCode === IN_DELETE_WINDOW) throw inDeleteWindow(keyId, ErrorCode.EscrowConflict, err.cause);
        return undefined;
      }
      throw err;
    }
  }

  function settleExisting(record: EscrowRecord, existing: EscrowRecord): EscrowPutResult {
    try {
      if (!sameEscrow(existing, record)) throw escrowConflict(record.keyId, existing, record);
      return { version: escrowVersionId(existing.fingerprint), created: false };
    } finally {
      existing.material.fill(0);
    }
  }

  async function put(record: EscrowRecord): Promise<EscrowPutResult> {
    validateEscrowRecord(record);
    const { keyId } = record;
    const existing = await getIfPresent(keyId);
    if (existing !== undefined) return settleExisting(record, existing);

    const versionId = escrowVersionId(record.fingerprint);
    const breakglass =
      recoveryKey === undefined
        ? undefined
        : sealBreakGlass(recoveryKey, { keyId, fingerprint: record.fingerprint, material: record.material });
    try {
      await kms.createSecret({
        secretName: escrowSecretName(keyId),
        versionId,
        secretData: storedRecordJson(record, breakglass),
        encryptionKeyId,
        description: `BYOK escrow of CMK ${keyId}. Never delete while the CMK exists.`,
        tags: {
          [EscrowSecretTag.Managed]: 'true',
          [EscrowSecretTag.KeyId]: keyId,
          [EscrowSecretTag.Lineage]: record.lineage,
        },
        ...(options.dkmsInstanceId === undefined ? {} : { dkmsInstanceId: options.dkmsInstanceId }),
      });
      if (options.dkmsInstanceId !== undefined)
        await assertSecretInstance(kms, escrowSecretName(keyId), options.dkmsInstanceId);
    } catch (err) {
      if (kmsCodeOf(err) === IN_DELETE_WINDOW) throw inDeleteWindow(keyId, ErrorCode.EscrowConflict, err);
      if (isOrchestratorError(err, ErrorCode.KmsConflict)) {
        // Rejected.ResourceExist: a concurrent or earlier put created it; judge against that.
        return settleExisting(record, await get(keyId));
      }
      throw err;
    }
    return { version: versionId, created: true };
  }

  /**
   * Every version the secret holds, deprecated ones included. Only a lasting failure to count (e.g.
   * a RAM deny on ListSecretVersionIds) is swallowed, as "nothing extra seen": the record is
   * readable and stays usable for repair. Throttling and network errors propagate (list retries).
   */
  async function countVersions(secretName: string): Promise<number> {
    try {
      return (await kms.listSecretVersionIds(secretName)).length;
    } catch (err) {
      if (isOrchestratorError(err) && !err.retryable) return ESCROW_VERSIONS_WRITTEN;
      throw err;
    }
  }

  async function list(): Promise<EscrowListing> {
    const names = (await kms.listSecrets())
      .map((s) => s.secretName)
      .filter((n) => n.startsWith(ESCROW_SECRET_PREFIX))
      .sort();
    const records: EscrowSummary[] = [];
    const unreadable: EscrowUnreadable[] = [];
    // Sequential on purpose: Secrets Manager QPS limits are unpublished (docs/kms-api.md §4.1).
    for (const name of names) {
      const keyId = name.slice(ESCROW_SECRET_PREFIX.length);
      try {
        const record = await get(keyId);
        const versionCount = await countVersions(name);
        records.push(
          versionCount > ESCROW_VERSIONS_WRITTEN ? { ...summarize(record), versionCount } : summarize(record),
        );
        record.material.fill(0);
      } catch (err) {
        if (isOrchestratorError(err, ErrorCode.EscrowNotFound) && err.details.kmsCode !== IN_DELETE_WINDOW) continue;
        if (isOrchestratorError(err, ErrorCode.EscrowNotFound)) {
          unreadable.push({ keyId, code: ErrorCode.EscrowNotFound });
          continue;
        }
        if (isOrchestratorError(err, ErrorCode.EscrowCorrupt) || isOrchestratorError(err, ErrorCode.InvalidInput)) {
          unreadable.push({ keyId, code: ErrorCode.EscrowCorrupt });
          continue;
        }
        // Any other lasting failure on one secret (e.g. its CMK disabled, a RAM deny) is reported
        // for that record: it must not stop the sweep for every other key (invariant 7).
        if (isOrchestratorError(err) && !err.retryable) {
          unreadable.push({ keyId, code: err.code });
          continue;
        }
        throw err; // throttling, network: the whole listing is retried, never half-reported
      }
    }
    return { records, unreadable };
  }

  return { backend: EscrowBackend.KmsSecrets, put, get, list };
}

/**
 * Read-back of a secret's placement: DescribeSecret reports `DKMSInstanceId` (documented in the
 * KMS 2016-01-20 DescribeSecret response model). A secret elsewhere is an InstanceMismatch.
 */
export async function assertSecretInstance(
  kms: Pick<KmsPort, 'describeSecret'>,
  secretName: string,
  expected: string,
): Promise<void> {
  const meta = await kms.describeSecret(secretName);
  if (meta.dkmsInstanceId !== expected) {
    throw new OrchestratorError(
      ErrorCode.InstanceMismatch,
      `secret ${secretName} is in ${meta.dkmsInstanceId ?? 'no KMS instance'}, not in ${expected} as configured`,
      { details: { secretName, expected, actual: meta.dkmsInstanceId ?? 'none' } },
    );
  }
}

function kmsCodeOf(err: unknown): string | undefined {
  return err instanceof OrchestratorError ? err.details.kmsCode : undefined;
}

function mapReadError(keyId: string, err: unknown): unknown {
  if (kmsCodeOf(err) === IN_DELETE_WINDOW) return inDeleteWindow(keyId, ErrorCode.EscrowNotFound, err);
  if (isOrchestratorError(err, ErrorCode.KmsNotFound)) {
    return escrowNotFound(keyId, { kmsCode: err.details.kmsCode, requestId: err.details.requestId, cause: err });
  }
  return err; // already a coded KMS error (throttled, forbidden...) with its retryable flag
}

function inDeleteWindow(keyId: string, code: ErrorCode, cause: unknown): OrchestratorError {
  const requestId = cause instanceof OrchestratorError ? cause.details.requestId : undefined;
  return new OrchestratorError(
    code,
    `escrow secret ${ESCROW_SECRET_PREFIX}${keyId} is scheduled for deletion; ` +
      `restore it with RestoreSecret (escrow is never deleted while its CMK exists)`,
    { cause, details: { keyId, kmsCode: IN_DELETE_WINDOW, ...(requestId === undefined ? {} : { requestId }) } },
  );
}
