/**
 * KmsPort: the KMS calls the orchestrator makes, in our own types. Method names reuse the KMS API
 * names in camelCase. Exactly one adapter (alicloud-adapter.ts) implements it over
 * @alicloud/kms20160120; nothing else in the product sees SDK classes.
 *
 * Times are epoch milliseconds (`...Ms`); "never" is `undefined`. Every result carries the KMS
 * `requestId` so audit events can cite it.
 */

/**
 * Key states (docs/kms-api.md §3.1). `Unavailable` exists for KMS-instance keys only. `Unknown` is
 * ours: any other word KMS answers (the adapter keeps it in `unknownKeyState`); nothing acts on it.
 */
export const KeyState = {
  Enabled: 'Enabled',
  Disabled: 'Disabled',
  PendingDeletion: 'PendingDeletion',
  PendingImport: 'PendingImport',
  Unavailable: 'Unavailable',
  Unknown: 'Unknown',
} as const;
/** A CMK state. */
export type KeyState = (typeof KeyState)[keyof typeof KeyState];

/** Where a CMK's material came from. */
export const KeyOrigin = { AliyunKms: 'Aliyun_KMS', External: 'EXTERNAL' } as const;
/** A CMK origin. */
export type KeyOrigin = (typeof KeyOrigin)[keyof typeof KeyOrigin];

/** The request id every KMS answer carries. */
export interface KmsResult {
  requestId: string;
}

/** What DescribeKey/CreateKey tell about a CMK. */
export interface KeyMetadata {
  keyId: string;
  arn: string;
  keyState: KeyState;
  /** The state word KMS answered when it is none of ours (`keyState` is then `Unknown`). */
  unknownKeyState?: string;
  keySpec: string;
  keyUsage: string;
  /** A KeyOrigin, or whatever else KMS reports (only EXTERNAL keys are ever managed). */
  origin: string;
  protectionLevel: string;
  description: string;
  creationDateMs: number;
  /** Scheduled deletion time, only in PendingDeletion. */
  deleteDateMs?: number;
  /** Valid Until of imported material; undefined = never expires (or no material). */
  materialExpireAtMs?: number;
  primaryKeyVersion?: string;
  /** KMS 3.0: the instance the key lives in (`kst-...`); undefined for a default key or on KMS 1.0. */
  dkmsInstanceId?: string;
}

/** Parameters from GetParametersForImport: a one-time wrapping public key and a 24 h token. */
export interface ImportParameters extends KmsResult {
  keyId: string;
  importToken: string;
  /** base64 DER SubjectPublicKeyInfo. */
  publicKeyBase64: string;
  tokenExpiresAtMs: number;
}

/** An alias and its target. */
export interface AliasEntry {
  aliasName: string;
  keyId: string;
}

/** Result of Encrypt. */
export interface EncryptResult extends KmsResult {
  ciphertextBlob: string;
  keyId: string;
  keyVersionId: string;
}

/** Result of Decrypt. */
export interface DecryptResult extends KmsResult {
  /** The plaintext string exactly as it was given to Encrypt. */
  plaintext: string;
  keyId: string;
  keyVersionId: string;
}

/** One version of a Secrets Manager secret. */
export interface SecretValue extends KmsResult {
  secretName: string;
  versionId: string;
  secretData: string;
  versionStages: string[];
  createTimeMs: number;
}

/** Secret metadata (no data). */
export interface SecretMetadata extends KmsResult {
  secretName: string;
  arn: string;
  encryptionKeyId: string;
  description: string;
  createTimeMs: number;
  updateTimeMs: number;
  /** Set while the secret is in its recovery window. */
  plannedDeleteTimeMs?: number;
  tags: Record<string, string>;
  /** KMS 3.0: the instance the secret lives in; undefined when KMS does not say. */
  dkmsInstanceId?: string;
}

/** One version of a secret as ListSecretVersionIds shows it. */
export interface SecretVersionSummary {
  versionId: string;
  versionStages: string[];
  createTimeMs: number;
}

/**
 * A KMS 3.0 instance as GetKmsInstance reports it (docs/kms-3-instances.md §4). `status` is KMS's
 * own word; `endDateMs` is the end of the subscription, after which every key and secret in the
 * instance answers `Rejected.Unavailable`.
 */
export interface KmsInstanceInfo extends KmsResult {
  instanceId: string;
  status: string;
  startDateMs?: number;
  endDateMs?: number;
  /** e.g. `software` / `hardware` as KMS names the product type, when it says. */
  productType?: string;
  keyNum?: number;
  secretNum?: number;
}

/** A secret as ListSecrets shows it. */
export interface SecretSummary {
  secretName: string;
  createTimeMs: number;
  plannedDeleteTimeMs?: number;
  tags: Record<string, string>;
}

/**
 * A ListSecrets `Filters` entry (docs/kms-api.md §2.12: keys SecretName, Description, TagKey,
 * TagValue; at most one key-values pair; the values of the pair are ORed).
 */
export interface SecretFilter {
  key: 'SecretName' | 'Description' | 'TagKey' | 'TagValue';
  values: string[];
}

/**
 * The KMS operations the orchestrator uses, and only those: what an operator does by hand
 * (DisableKey, ScheduleKeyDeletion, DeleteSecret ...) is not something the product ever calls.
 */
export interface KmsPort {
  createKey(input: {
    origin: KeyOrigin;
    keySpec: string;
    description?: string;
    protectionLevel?: 'SOFTWARE' | 'HSM';
    /** KMS 3.0 instance to create the key in; unset = default key / default instance. */
    dkmsInstanceId?: string;
  }): Promise<KeyMetadata & KmsResult>;
  /** By key id or `alias/...`. */
  describeKey(keyIdOrAlias: string): Promise<KeyMetadata & KmsResult>;
  /** All key ids in the account and region (every page). */
  listKeys(): Promise<string[]>;
  getParametersForImport(input: {
    keyId: string;
    wrappingAlgorithm: string;
    wrappingKeySpec: string;
  }): Promise<ImportParameters>;
  importKeyMaterial(input: {
    keyId: string;
    encryptedKeyMaterial: string;
    importToken: string;
    /** Unix seconds; 0 = never expires. */
    keyMaterialExpireUnix: number;
  }): Promise<KmsResult>;
  deleteKeyMaterial(keyId: string): Promise<KmsResult>;

  createAlias(aliasName: string, keyId: string): Promise<KmsResult>;
  updateAlias(aliasName: string, keyId: string): Promise<KmsResult>;
  /** Every alias in the account (every page). */
  listAliases(): Promise<AliasEntry[]>;

  /**
   * Tags a key (by id) or a secret (`{ secretName }`: TagResource with SecretName, docs/kms-api.md
   * §2.10); existing tag keys are overwritten, others kept. At most 10 tags per resource.
   */
  tagResource(target: string | { secretName: string }, tags: Record<string, string>): Promise<KmsResult>;
  untagResource(keyId: string, tagKeys: string[]): Promise<KmsResult>;
  listResourceTags(keyId: string): Promise<Record<string, string>>;

  /** `plaintext` is an opaque string (we pass base64). */
  encrypt(input: {
    keyId: string;
    plaintext: string;
    encryptionContext?: Record<string, string>;
  }): Promise<EncryptResult>;
  decrypt(input: { ciphertextBlob: string; encryptionContext?: Record<string, string> }): Promise<DecryptResult>;

  createSecret(input: {
    secretName: string;
    versionId: string;
    secretData: string;
    encryptionKeyId: string;
    description?: string;
    tags?: Record<string, string>;
    /** KMS 3.0 instance of the secret; its encryption key must be in the same instance. */
    dkmsInstanceId?: string;
  }): Promise<KmsResult & { secretName: string; versionId: string }>;
  /** ACSCurrent unless a versionId or versionStage is given. */
  getSecretValue(input: { secretName: string; versionId?: string; versionStage?: string }): Promise<SecretValue>;
  /** Conditional on versionId: same id with other data is rejected (KmsConflict). */
  putSecretValue(input: {
    secretName: string;
    versionId: string;
    secretData: string;
    versionStages?: string[];
  }): Promise<KmsResult & { versionId: string; versionStages: string[] }>;
  describeSecret(secretName: string): Promise<SecretMetadata>;
  /** Every version of a secret, deprecated ones included (Secrets Manager keeps at most 10). */
  listSecretVersionIds(secretName: string): Promise<SecretVersionSummary[]>;
  /**
   * Every secret (every page), with tags; with `filter`, only the secrets matching it (ListSecrets
   * `Filters`, one key-values pair, docs/kms-api.md §2.12).
   */
  listSecrets(filter?: SecretFilter): Promise<SecretSummary[]>;

  /** KMS 3.0: one instance's details. */
  getKmsInstance(instanceId: string): Promise<KmsInstanceInfo>;
  /** KMS 3.0: the default instance of an account migrated from KMS 1.0, if any. */
  getDefaultKmsInstance(): Promise<KmsResult & { instanceId?: string }>;
}
