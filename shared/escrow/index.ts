/**
 * Escrow: pick and open the configured backend. `file` is the local default, `kms-secrets` the
 * cloud default (docs/design.md §4). The KMS client is passed in, never built here.
 */
import { ErrorCode, OrchestratorError } from '../errors.js';
import type { RandomSource } from '../runtime-types.js';
import { openFileEscrowStore } from './file-store.js';
import { createKmsSecretsEscrowStore } from './kms-secrets-store.js';
import type { EscrowSecretsPort } from './kms-secrets-store.js';
import { EscrowBackend } from './store.js';
import type { EscrowStore } from './store.js';

export { fingerprintMaterial, isFingerprint } from './fingerprint.js';
export { EscrowBackend, escrowVersionId } from './store.js';
export type { EscrowListing, EscrowPutResult, EscrowRecord, EscrowStore, EscrowSummary, EscrowUnreadable } from './store.js';
export { ESCROW_SECRET_PREFIX, escrowSecretName } from './kms-secrets-store.js';
export type { EscrowSecretsPort } from './kms-secrets-store.js';

/** Escrow configuration, one shape per backend. */
export type EscrowConfig =
  | {
      kind: typeof EscrowBackend.File;
      /** Directory of sealed records. */
      dir: string;
      /** 32-byte master key file (0600); created on first use of an empty store. */
      masterKeyFile: string;
      /** Offline recovery RSA-4096 public key (PEM) for break-glass copies. */
      recoveryPublicKeyPem?: string;
    }
  | {
      kind: typeof EscrowBackend.KmsSecrets;
      /** The escrow CMK (Origin Aliyun_KMS) that encrypts the secrets. */
      encryptionKeyId: string;
      /** KMS 3.0 instance of the escrow secrets (the escrow CMK's own instance). */
      dkmsInstanceId?: string;
      /** Offline recovery RSA-4096 public key (PEM) for break-glass copies. */
      recoveryPublicKeyPem?: string;
    };

/** What opening a store needs besides its configuration. */
export interface EscrowDeps {
  random: RandomSource;
  /** Required by the kms-secrets backend. */
  kms?: EscrowSecretsPort;
}

/** Opens the escrow store `config` names; InvalidConfig when a dependency it needs is missing. */
export async function openEscrowStore(config: EscrowConfig, deps: EscrowDeps): Promise<EscrowStore> {
  const recovery = config.recoveryPublicKeyPem === undefined ? {} : { recoveryPublicKeyPem: config.recoveryPublicKeyPem };
  switch (config.kind) {
    case EscrowBackend.File:
      return openFileEscrowStore({ dir: config.dir, masterKeyFile: config.masterKeyFile, random: deps.random, ...recovery });
    case EscrowBackend.KmsSecrets:
      if (deps.kms === undefined) {
        throw new OrchestratorError(ErrorCode.InvalidConfig, 'escrow: the kms-secrets backend needs a KMS client', {
          details: { field: 'escrow.kind' },
        });
      }
      return createKmsSecretsEscrowStore({
        kms: deps.kms,
        encryptionKeyId: config.encryptionKeyId,
        ...(config.dkmsInstanceId === undefined ? {} : { dkmsInstanceId: config.dkmsInstanceId }),
        ...recovery,
      });
    default:
      return assertNever(config);
  }
}

function assertNever(value: never): never {
  throw new OrchestratorError(ErrorCode.InvalidConfig, `escrow: unknown backend ${JSON.stringify((value as { kind?: unknown }).kind)}`, {
    details: { field: 'escrow.kind' },
  });
}
