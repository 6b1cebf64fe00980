/**
 * The `kms-secrets` escrow backend (cloud default): one KMS Secrets Manager secret per managed
 * CMK, named `byok-escrow/<keyId>`, encrypted by Secrets Manager under a separate escrow CMK
 * (`encryptionKeyId`, an `Aliyun_KMS` key: escrowing BYOK material under an EXTERNAL key would make
 * recovery depend on the very thing being recovered). Uses only KmsPort, never the SDK.
 *
 * SecretData (text) = JSON {v:1, keyId, lineage, generation, keySpec, fingerprint, createdAtMs,
 * material (base64), breakglass? (base64 RSA-OAEP blob, BREAK-GLASS.md)}.
 * VersionId = escrowVersionId(fingerprint) (`kcv1-<24 hex>`), tags {byok:managed=true,
 * byok:key-id, byok:lineage, byok:generation, byok:fingerprint, byok:key-spec, byok:created-at}: the
 * record's metadata, so list() summarises a record from ListSecrets (tags, 100 a page) without
 * decrypting it. Two more tags may follow: byok:key-tags (the key-tag mirror, tag-mirror.ts) and
 * byok:escrow-check (a failed deep read-back, kept so it stays reported between deep reads). Nine
 * in all; KMS allows ten per resource (docs/kms-api.md §2.10), so an operator may add one.
 *
 * list() reads a record back in full (GetSecretValue, fingerprint, ListSecretVersionIds) only when
 * asked (`deepVerify`), when its periodic read-back is due (`readBack`, due.ts; the day of the last
 * one is kept in byok:escrow-check as `ok-<day>`), when its metadata tags are missing or malformed (written by an older
 * version: back-filled when `writeMetadata`), or when a sweep re-checks a recorded failure.
 *
 * put never uses PutSecretValue: a new VersionId would add a version and move ACSCurrent to it,
 * which is exactly the silent replacement escrow must not allow. Instead put reads first and
 * CreateSecret is the conditional write (Rejected.ResourceExist when the name is taken, docs/kms-api.md
 * §2.12); a lost race is resolved by reading what won. get checks that ACSCurrent's VersionId
 * derives from the fingerprint inside, so a version written out of band reads as EscrowCorrupt.
 */
import { ErrorCode, OrchestratorError, isOrchestratorError } from '../errors.js';
import { isLineage } from '../lineage.js';
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
import { dayIndex, isDue } from './due.js';
import { isFingerprint } from './fingerprint.js';
import { parseStoredRecord, storedRecordJson, summarize } from './record-json.js';
import { byokTagsOf, decodeTagMirror, encodeTagMirror } from './tag-mirror.js';
import type {
  EscrowListOptions,
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
  'createSecret' | 'getSecretValue' | 'listSecrets' | 'describeSecret' | 'listSecretVersionIds' | 'tagResource'
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
export const EscrowSecretTag = {
  Managed: 'byok:managed',
  KeyId: 'byok:key-id',
  Lineage: 'byok:lineage',
  Generation: 'byok:generation',
  Fingerprint: 'byok:fingerprint',
  KeySpec: 'byok:key-spec',
  CreatedAt: 'byok:created-at',
  /** The key-tag mirror (tag-mirror.ts). */
  KeyTags: 'byok:key-tags',
  /** `failed-<ErrorCode>` or `versions-<n>` after a deep read-back found a problem; `ok` once it is gone. */
  Check: 'byok:escrow-check',
} as const;

/** The metadata tags of `record` (what CreateSecret writes, and a back-fill completes). */
export function escrowRecordTags(record: Omit<EscrowRecord, 'material'>): Record<string, string> {
  return {
    [EscrowSecretTag.Managed]: 'true',
    [EscrowSecretTag.KeyId]: record.keyId,
    [EscrowSecretTag.Lineage]: record.lineage,
    [EscrowSecretTag.Generation]: String(record.generation),
    [EscrowSecretTag.Fingerprint]: record.fingerprint,
    [EscrowSecretTag.KeySpec]: record.keySpec,
    [EscrowSecretTag.CreatedAt]: String(record.createdAtMs),
  };
}

const DIGITS = /^\d{1,16}$/;
const KEY_SPEC = /^[A-Za-z0-9_]{1,64}$/;

/**
 * A record's summary from its secret's tags alone, with the key-tag mirror; undefined when any
 * metadata tag is missing or malformed (the record is then read back in full).
 */
export function summaryFromTags(keyId: string, tags: Readonly<Record<string, string>>): EscrowSummary | undefined {
  const lineage = tags[EscrowSecretTag.Lineage];
  const generation = tags[EscrowSecretTag.Generation];
  const fingerprint = tags[EscrowSecretTag.Fingerprint];
  const keySpec = tags[EscrowSecretTag.KeySpec];
  const createdAt = tags[EscrowSecretTag.CreatedAt];
  if (tags[EscrowSecretTag.KeyId] !== keyId || !isLineage(lineage) || !isFingerprint(fingerprint)) return undefined;
  if (generation === undefined || !DIGITS.test(generation) || Number(generation) < 1) return undefined;
  if (keySpec === undefined || !KEY_SPEC.test(keySpec) || createdAt === undefined || !DIGITS.test(createdAt))
    return undefined;
  const summary: EscrowSummary = {
    keyId,
    lineage,
    generation: Number(generation),
    keySpec,
    fingerprint,
    createdAtMs: Number(createdAt),
    version: escrowVersionId(fingerprint),
  };
  return withMirror(summary, tags);
}

function withMirror(summary: EscrowSummary, tags: Readonly<Record<string, string>>): EscrowSummary {
  const mirror = decodeTagMirror(tags[EscrowSecretTag.KeyTags], summary);
  return mirror === undefined ? summary : { ...summary, keyTags: mirror.tags, keyTagsDay: mirror.day };
}

/** Salt of the read-back phase days (the tag reconcile uses another, so the two spread apart). */
export const READ_BACK_SALT = 'escrow-read-back';

/** The day of the last successful read-back (`ok-<day>`); a record never read back counts from its creation. */
function lastReadBackDay(check: string | undefined, summary: EscrowSummary): number {
  const m = check === undefined ? null : /^ok-(\d{1,9})$/.exec(check);
  return m ? Number(m[1]) : dayIndex(summary.createdAtMs);
}

/** What a recorded failed read-back says, for a listing that does not read the record again. */
export function recordedCheck(value: string | undefined): { code: ErrorCode } | { versionCount: number } | undefined {
  if (value === undefined || value === 'ok' || /^ok-\d{1,9}$/.test(value)) return undefined;
  const versions = /^versions-(\d{1,4})$/.exec(value);
  if (versions) return { versionCount: Number(versions[1]) };
  const code = value.startsWith('failed-') ? value.slice('failed-'.length) : '';
  const known = (Object.values(ErrorCode) as string[]).includes(code);
  return { code: known ? (code as ErrorCode) : ErrorCode.EscrowCorrupt };
}

/** Deep read-backs run at most this many at a time (Secrets Manager QPS limits are unpublished). */
const DEEP_READ_CONCURRENCY = 4;

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
        tags: escrowRecordTags(record),
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

  /** Best-effort metadata write on a secret: a failure only means the next sweep tries again. */
  async function tagSecret(secretName: string, tags: Record<string, string>): Promise<void> {
    try {
      await kms.tagResource({ secretName }, tags);
    } catch {
      // Nothing depends on it having been written: a missing tag makes the next listing read deeply.
    }
  }

  /** The full read-back of one record: material re-fingerprinted, versions counted. */
  async function deepRead(
    name: string,
    keyId: string,
    tags: Readonly<Record<string, string>>,
    writeMetadata: boolean,
    nowMs: number | undefined,
  ): Promise<EscrowSummary | (EscrowUnreadable & { gone?: true })> {
    const check = tags[EscrowSecretTag.Check];
    /** One TagResource with the check result and any metadata to back-fill (nothing when all is as recorded). */
    const note = async (value: string, backfill: Record<string, string> = {}): Promise<void> => {
      const write: Record<string, string> = { ...backfill };
      if (check !== value && !(value === 'ok' && check === undefined)) write[EscrowSecretTag.Check] = value;
      if (writeMetadata && Object.keys(write).length > 0) await tagSecret(name, write);
    };
    // A successful read-back is dated when the caller knows the day (a sweep); else a bare "ok".
    const okValue = nowMs === undefined ? 'ok' : `ok-${dayIndex(nowMs)}`;
    try {
      const record = await get(keyId);
      const versionCount = await countVersions(name);
      const summary = withMirror(summarize(record), tags);
      record.material.fill(0);
      // Back-fill of a record written by an older version (or tags edited by hand): the record wins.
      const missing = Object.entries(escrowRecordTags(summary)).filter(([k, v]) => tags[k] !== v);
      await note(
        versionCount > ESCROW_VERSIONS_WRITTEN ? `versions-${versionCount}` : okValue,
        Object.fromEntries(missing),
      );
      return versionCount > ESCROW_VERSIONS_WRITTEN ? { ...summary, versionCount } : summary;
    } catch (err) {
      if (isOrchestratorError(err, ErrorCode.EscrowNotFound)) {
        if (err.details.kmsCode !== IN_DELETE_WINDOW) return { keyId, code: ErrorCode.EscrowNotFound, gone: true };
        return { keyId, code: ErrorCode.EscrowNotFound };
      }
      let code: ErrorCode;
      if (isOrchestratorError(err, ErrorCode.EscrowCorrupt) || isOrchestratorError(err, ErrorCode.InvalidInput)) {
        code = ErrorCode.EscrowCorrupt;
      } else if (isOrchestratorError(err) && !err.retryable) {
        // Any other lasting failure on one secret (e.g. its CMK disabled, a RAM deny) is reported
        // for that record: it must not stop the sweep for every other key (invariant 7).
        code = err.code;
      } else {
        throw err; // throttling, network: the whole listing is retried, never half-reported
      }
      await note(`failed-${code}`);
      return { keyId, code };
    }
  }

  async function list(options: EscrowListOptions = {}): Promise<EscrowListing> {
    const secrets = (await kms.listSecrets())
      .filter((s) => s.secretName.startsWith(ESCROW_SECRET_PREFIX))
      .sort((a, b) => a.secretName.localeCompare(b.secretName));
    const records: EscrowSummary[] = [];
    const unreadable: EscrowUnreadable[] = [];
    const deep: Array<{ name: string; keyId: string; tags: Record<string, string> }> = [];
    const writeMetadata = options.writeMetadata === true;
    const { readBack } = options;
    const today = readBack === undefined ? undefined : dayIndex(readBack.nowMs);
    const due = (keyId: string, summary: EscrowSummary, check: string | undefined): boolean =>
      readBack !== undefined &&
      isDue(keyId, lastReadBackDay(check, summary), today!, readBack.periodDays, READ_BACK_SALT);
    for (const s of secrets) {
      const keyId = s.secretName.slice(ESCROW_SECRET_PREFIX.length);
      const fromTags = summaryFromTags(keyId, s.tags);
      const recorded = recordedCheck(s.tags[EscrowSecretTag.Check]);
      if (
        fromTags === undefined ||
        s.plannedDeleteTimeMs !== undefined ||
        options.deepVerify?.(keyId) === true ||
        (recorded !== undefined && writeMetadata) ||
        due(keyId, fromTags, s.tags[EscrowSecretTag.Check])
      ) {
        deep.push({ name: s.secretName, keyId, tags: s.tags });
      } else if (recorded !== undefined && 'code' in recorded) {
        unreadable.push({ keyId, code: recorded.code });
      } else {
        records.push(recorded === undefined ? fromTags : { ...fromTags, versionCount: recorded.versionCount });
      }
    }
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < deep.length) {
        const d = deep[next++]!;
        const r = await deepRead(d.name, d.keyId, d.tags, writeMetadata, readBack?.nowMs);
        if ('version' in r) records.push(r);
        else if (!('gone' in r)) unreadable.push(r);
      }
    };
    await Promise.all(Array.from({ length: Math.min(DEEP_READ_CONCURRENCY, deep.length) }, worker));
    records.sort((a, b) => a.keyId.localeCompare(b.keyId));
    unreadable.sort((a, b) => a.keyId.localeCompare(b.keyId));
    return { records, unreadable };
  }

  async function mirrorKeyTags(keyId: string, keyTags: Record<string, string>, nowMs: number): Promise<void> {
    try {
      await kms.tagResource(
        { secretName: escrowSecretName(keyId) },
        { [EscrowSecretTag.KeyTags]: encodeTagMirror(byokTagsOf(keyTags), dayIndex(nowMs)) },
      );
    } catch (err) {
      if (isOrchestratorError(err, ErrorCode.KmsNotFound)) return; // no record (yet): nothing to mirror
      throw err;
    }
  }

  return { backend: EscrowBackend.KmsSecrets, put, get, list, mirrorKeyTags };
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
