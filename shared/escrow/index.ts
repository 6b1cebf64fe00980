/**
 * Escrow: pick and open the configured backend. `file` is the local default, `kms-secrets` the
 * cloud default (docs/design.md §4). The KMS client is passed in, never built here, and so is the
 * recovery public key's text (the caller reads the file EscrowConfig names).
 */
import { ErrorCode, OrchestratorError } from '../errors.js';
import type { RandomSource } from '../runtime-types.js';
import { openFileEscrowStore } from './file-store.js';
import { createKmsSecretsEscrowStore } from './kms-secrets-store.js';
import type { EscrowSecretsPort } from './kms-secrets-store.js';
import { EscrowBackend } from './store.js';
import type { EscrowConfig, EscrowStore } from './store.js';

export { fingerprintMaterial, isFingerprint } from './fingerprint.js';
export { EscrowBackend, escrowVersionId } from './store.js';
export type {
  EscrowConfig,
  EscrowListing,
  EscrowPutResult,
  EscrowRecord,
  EscrowStore,
  EscrowSummary,
  EscrowUnreadable,
} from './store.js';
export { ESCROW_SECRET_PREFIX, escrowSecretName } from './kms-secrets-store.js';
export type { EscrowSecretsPort } from './kms-secrets-store.js';

/** What opening a store needs besides its configuration. */
export interface EscrowDeps {
  random: RandomSource;
  /** Required by the kms-secrets backend. */
  kms?: EscrowSecretsPort;
  /** The offline recovery public key (PEM text of EscrowConfig's recoveryPublicKeyFile). */
  recoveryPublicKeyPem?: string;
  /** KMS 3.0 instance of the escrow secrets (the escrow CMK's own instance); kms-secrets only. */
  dkmsInstanceId?: string;
}

/** Opens the escrow store `config` names; InvalidConfig when a dependency it needs is missing. */
export async function openEscrowStore(config: EscrowConfig, deps: EscrowDeps): Promise<EscrowStore> {
  const recovery = deps.recoveryPublicKeyPem === undefined ? {} : { recoveryPublicKeyPem: deps.recoveryPublicKeyPem };
  switch (config.backend) {
    case EscrowBackend.File:
      return openFileEscrowStore({
        dir: config.dir,
        masterKeyFile: config.masterKeyFile,
        random: deps.random,
        ...recovery,
      });
    case EscrowBackend.KmsSecrets:
      if (deps.kms === undefined) {
        throw new OrchestratorError(ErrorCode.InvalidConfig, 'escrow: the kms-secrets backend needs a KMS client', {
          details: { field: 'escrow.backend' },
        });
      }
      return createKmsSecretsEscrowStore({
        kms: deps.kms,
        encryptionKeyId: config.keyId,
        ...(deps.dkmsInstanceId === undefined ? {} : { dkmsInstanceId: deps.dkmsInstanceId }),
        ...recovery,
      });
    default:
      return assertNever(config);
  }
}

function assertNever(value: never): never {
  const backend = JSON.stringify((value as { backend?: unknown }).backend);
  throw new OrchestratorError(ErrorCode.InvalidConfig, `escrow: unknown backend ${backend}`, {
    details: { field: 'escrow.backend' },
  });
}
