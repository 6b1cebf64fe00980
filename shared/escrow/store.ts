/**
 * EscrowStore: where the orchestrator keeps a copy of every CMK's imported material, so that the
 * material can be re-imported after expiry or deletion (docs/design.md §2.4) and is escrowed and read
 * back *before* it is ever imported (§5.1).
 *
 * There is deliberately no delete, overwrite or update operation. Invariant (docs/design.md §5.2):
 * the escrow of a CMK is never deleted while that CMK exists; we meet it by never deleting escrow
 * at all. A record is written once per key id and then only read.
 */
import { ErrorCode, OrchestratorError } from '../errors.js';
import { lineageProblem } from '../lineage.js';
import { fingerprintMaterial, isFingerprint } from './fingerprint.js';

/** The escrow backends configuration can choose. */
export const EscrowBackend = { File: 'file', KmsSecrets: 'kms-secrets' } as const;
/** An escrow backend name. */
export type EscrowBackend = (typeof EscrowBackend)[keyof typeof EscrowBackend];

/**
 * The escrow a deployment uses, one shape per backend: parsed from BYOK_ESCROW_* by the
 * configuration (shared/config), opened by openEscrowStore (shared/escrow/index.ts).
 */
export type EscrowConfig =
  | {
      backend: typeof EscrowBackend.File;
      /** Directory of sealed records. */
      dir: string;
      /** 32-byte master key file (0600); created on first use of an empty store. */
      masterKeyFile: string;
      /** PEM file of the offline recovery RSA-4096 public key (break-glass copies). */
      recoveryPublicKeyFile?: string;
    }
  | {
      backend: typeof EscrowBackend.KmsSecrets;
      /** The escrow CMK (Origin Aliyun_KMS) that encrypts the secrets. */
      keyId: string;
      /** PEM file of the offline recovery RSA-4096 public key (break-glass copies). */
      recoveryPublicKeyFile?: string;
    };

/** One escrowed material and the metadata that ties it to its CMK. */
export interface EscrowRecord {
  /** The CMK the material belongs to (shared-KMS UUID or `key-...` instance id). */
  keyId: string;
  /** The lineage (alias chain) the CMK belongs to. */
  lineage: string;
  /** The CMK's generation within its lineage, from 1. */
  generation: number;
  /** The CMK's key spec, e.g. `Aliyun_AES_256`. */
  keySpec: string;
  /** `fingerprintMaterial(material)`; the CMK carries the same value in a tag. */
  fingerprint: string;
  /** When the material was escrowed; the first put wins, a retried put does not change it. */
  createdAtMs: number;
  /** The plaintext key material. Callers own this buffer and should zero it when done. */
  material: Buffer;
}

/** A record as list() shows it: every field except the material, plus the stored version. */
export interface EscrowSummary extends Omit<EscrowRecord, 'material'> {
  /** The stored version, derived from the fingerprint (see escrowVersionId). */
  version: string;
  /**
   * How many versions the backend holds for this record, set only when that is more than the one
   * the orchestrator writes (kms-secrets: stray PutSecretValue calls on the secret). The record
   * itself is still the one described here; backends without versions never set it.
   */
  versionCount?: number;
  /**
   * The managed key's `byok:*` tags as the orchestrator last mirrored them onto the record (kms-secrets:
   * tags of the escrow secret, see KmsSecretsEscrowOptions); undefined when the backend keeps no
   * mirror or the record has none yet. A hint for observe, never a substitute for the key's own tags
   * when something is written (docs/design.md, observe).
   */
  keyTags?: Record<string, string>;
  /** The UTC day (since the epoch) on which `keyTags` were read from the key and mirrored. */
  keyTagsDay?: number;
}

/** How list() reads: metadata only unless a record is chosen for a deep read-back. */
export interface EscrowListOptions {
  /**
   * Records to read back in full (decrypt, re-fingerprint, count versions) in this listing; every
   * other record is summarised from metadata where the backend keeps it. Unset: none (a read-only
   * listing decrypts only records that carry no metadata yet). Backends without metadata ignore it.
   */
  deepVerify?: (keyId: string) => boolean;
  /**
   * The periodic read-back (a sweep): every record whose read-back is due (shared/escrow/due.ts:
   * at least once in any `periodDays` days, spread over the days) is read back in full, and the
   * day recorded (with `writeMetadata`). Backends without metadata read every record anyway.
   */
  readBack?: { nowMs: number; periodDays: number };
  /**
   * May the listing write metadata (back-fill tags on records written by an older version, record
   * a failed read-back so it stays reported between deep reads)? Only a sweep sets it.
   */
  writeMetadata?: boolean;
}

/** A stored entry that could not be read or verified (list() reports it instead of failing). */
export interface EscrowUnreadable {
  keyId: string;
  code: ErrorCode;
}

/** What list() returns: readable summaries and, separately, entries that failed verification. */
export interface EscrowListing {
  /** Sorted by keyId. */
  records: EscrowSummary[];
  /** Sorted by keyId. A corrupt record must not look like a missing one, nor hide the others. */
  unreadable: EscrowUnreadable[];
}

/** Result of put(): the version stored and whether this call created it. */
export interface EscrowPutResult {
  version: string;
  /** false when an identical record (same key id and fingerprint) was already there. */
  created: boolean;
}

/**
 * The escrow port. put is idempotent and never overwrites; get verifies before it returns.
 * There is no delete: escrow is never deleted while its CMK exists, so we never delete it.
 */
export interface EscrowStore {
  /** Which backend this is (for status output and audit details). */
  readonly backend: EscrowBackend;
  /**
   * Stores `record` unless the key id already has one. Same key id and same fingerprint (and
   * lineage, generation, key spec): returns the existing version with `created: false`. Same key
   * id with any other material or metadata: EscrowConflict, and the first record stays.
   * A record whose fingerprint does not match its material: EscrowMismatch, nothing stored.
   */
  put(record: EscrowRecord): Promise<EscrowPutResult>;
  /** The record for `keyId`, its material re-fingerprinted: EscrowNotFound, EscrowCorrupt. */
  get(keyId: string): Promise<EscrowRecord>;
  /** Every record's summary (never the material), plus entries that failed to verify. */
  list(options?: EscrowListOptions): Promise<EscrowListing>;
  /**
   * Mirrors a managed key's `byok:*` tags onto its record's metadata (kms-secrets only; absent on
   * backends that keep none). No record for the key: nothing is written, no error.
   */
  mirrorKeyTags?(keyId: string, keyTags: Record<string, string>, nowMs: number): Promise<void>;
}

/** Key ids: shared-KMS UUIDs or instance ids; also safe as a file name and in a secret name. */
const KEY_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;
const KEY_SPEC_PATTERN = /^[A-Za-z0-9_]{1,64}$/;

/**
 * Material sizes accepted: KMS imports 16, 24 or 32 bytes for symmetric specs (docs/kms-api.md §2.5);
 * 64 is a ceiling that keeps the break-glass payload inside one RSA-OAEP block.
 */
export const MIN_MATERIAL_BYTES = 16;
/** See MIN_MATERIAL_BYTES. */
export const MAX_MATERIAL_BYTES = 64;

/** Throws InvalidInput unless `keyId` is a well-formed key id (no path separators, no leading dot). */
export function assertKeyId(keyId: unknown): asserts keyId is string {
  if (typeof keyId !== 'string' || !KEY_ID_PATTERN.test(keyId)) {
    throw new OrchestratorError(
      ErrorCode.InvalidInput,
      'keyId: must be 1-128 chars of letters, digits, "_", "." or "-", starting with a letter or digit',
      { details: { field: 'keyId' } },
    );
  }
}

/**
 * Validates every field of `record` and checks its fingerprint against its material
 * (InvalidInput for shape, EscrowMismatch when the fingerprint is not the material's).
 */
export function validateEscrowRecord(record: EscrowRecord): void {
  if (typeof record !== 'object' || record === null) {
    throw new OrchestratorError(ErrorCode.InvalidInput, 'record: must be an object', { details: { field: 'record' } });
  }
  assertKeyId(record.keyId);
  const keyId = record.keyId;
  const bad = (field: string, rule: string): OrchestratorError =>
    new OrchestratorError(ErrorCode.InvalidInput, `${field}: ${rule}`, { details: { field, keyId } });
  if (typeof record.lineage !== 'string') throw bad('lineage', 'must be a string');
  const lineageError = lineageProblem(record.lineage);
  if (lineageError !== undefined) throw bad('lineage', lineageError.text);
  if (!Number.isSafeInteger(record.generation) || record.generation < 1) {
    throw bad('generation', 'must be an integer >= 1');
  }
  if (typeof record.keySpec !== 'string' || !KEY_SPEC_PATTERN.test(record.keySpec)) {
    throw bad('keySpec', 'must be 1-64 chars of letters, digits and _');
  }
  if (!Number.isSafeInteger(record.createdAtMs) || record.createdAtMs < 0) {
    throw bad('createdAtMs', 'must be a non-negative integer');
  }
  if (!isFingerprint(record.fingerprint)) {
    throw bad('fingerprint', 'must be kcv1: followed by 24 lower-case hex digits');
  }
  if (!Buffer.isBuffer(record.material)) throw bad('material', 'must be a Buffer');
  const length = record.material.length;
  if (length < MIN_MATERIAL_BYTES || length > MAX_MATERIAL_BYTES) {
    // The length is not secret; the bytes are never mentioned.
    throw bad('material', `must be ${MIN_MATERIAL_BYTES}-${MAX_MATERIAL_BYTES} bytes, got ${length}`);
  }
  if (fingerprintMaterial(record.material) !== record.fingerprint) {
    throw new OrchestratorError(ErrorCode.EscrowMismatch, 'record: fingerprint does not match the material', {
      details: { field: 'fingerprint', keyId },
    });
  }
}

/**
 * The stored version of a record, derived from its fingerprint (`kcv1:ab..` -> `kcv1-ab..`), so a
 * retried put names the same version and other material can never reuse it. Letters, digits and
 * `-` only, 29 chars: fits a Secrets Manager VersionId (<= 64 chars, docs/kms-api.md §2.12).
 */
export function escrowVersionId(fingerprint: string): string {
  return fingerprint.replace(':', '-');
}

/** True when a stored record and a new one describe the same escrow (created time aside). */
export function sameEscrow(a: Omit<EscrowRecord, 'material'>, b: Omit<EscrowRecord, 'material'>): boolean {
  return (
    a.keyId === b.keyId &&
    a.fingerprint === b.fingerprint &&
    a.lineage === b.lineage &&
    a.generation === b.generation &&
    a.keySpec === b.keySpec
  );
}

/** The EscrowConflict raised when a key id already holds different escrow (no material in it). */
export function escrowConflict(
  keyId: string,
  existing: Omit<EscrowRecord, 'material'>,
  incoming: Omit<EscrowRecord, 'material'>,
): OrchestratorError {
  const what =
    existing.fingerprint !== incoming.fingerprint ? 'different material' : 'the same material with different metadata';
  return new OrchestratorError(
    ErrorCode.EscrowConflict,
    `escrow for ${keyId} already holds ${what}; escrow is never overwritten`,
    { details: { keyId, existingFingerprint: existing.fingerprint, incomingFingerprint: incoming.fingerprint } },
  );
}

/** The EscrowNotFound for `keyId`. */
export function escrowNotFound(
  keyId: string,
  extra: { kmsCode?: string; requestId?: string; cause?: unknown } = {},
): OrchestratorError {
  const { cause, ...details } = extra;
  return new OrchestratorError(ErrorCode.EscrowNotFound, `no escrow record for ${keyId}`, {
    details: { keyId, ...definedOnly(details) },
    ...(cause === undefined ? {} : { cause }),
  });
}

/** The EscrowCorrupt for `keyId`, with a fixed, secret-free reason. */
export function escrowCorrupt(keyId: string, reason: string): OrchestratorError {
  return new OrchestratorError(ErrorCode.EscrowCorrupt, `escrow record for ${keyId} failed verification: ${reason}`, {
    details: { keyId },
  });
}

function definedOnly(obj: Record<string, string | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(obj)) if (v !== undefined) out[k] = v;
  return out;
}
