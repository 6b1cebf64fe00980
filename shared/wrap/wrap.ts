/**
 * Wraps key material under GetParametersForImport's public key, producing ImportKeyMaterial's
 * `EncryptedKeyMaterial` (docs/kms-api.md §2.4, §2.5):
 *   RSAES_OAEP_SHA_256: RFC 8017 §7.1 OAEP, Hash = SHA-256, MGF1 with SHA-256, empty label
 *   RSAES_OAEP_SHA_1:   RFC 8017 §7.1 OAEP, Hash = SHA-1, MGF1 with SHA-1, empty label
 *                       (= `openssl rsautl -encrypt -oaep` in the seed document)
 *   RSAES_PKCS1_V1_5:   RFC 8017 §7.2 RSAES-PKCS1-v1_5 (EME type 2)
 *   SM2PKE:             GB/T 32918.4 SM2 encryption, GM/T 0009 DER ciphertext (see sm2.ts)
 * Error messages carry lengths and names, never material bytes.
 */
import { constants, publicEncrypt } from 'node:crypto';
import { ErrorCode, OrchestratorError } from '../errors.js';
import type { RandomSource } from '../runtime-types.js';
import {
  type KeySpec,
  WrappingAlgorithm,
  WrappingKeySpec,
  assertAlgorithmMatchesSpec,
  parseKeySpec,
  parseWrappingAlgorithm,
  parseWrappingKeySpec,
  validateKeyMaterial,
} from './material.js';
import { parseWrappingPublicKey, type WrappingPublicKey } from './public-key.js';
import { sm2Encrypt } from './sm2.js';

/** Everything needed to wrap one piece of material for one import token. */
export interface WrapKeyMaterialInput {
  /** The raw material (32 bytes for Aliyun_AES_256, 16 for Aliyun_SM4). */
  material: Uint8Array;
  /** The CMK's KeySpec, which fixes the material length. */
  keySpec: KeySpec;
  /** GetParametersForImport `PublicKey`: base64 of the DER SubjectPublicKeyInfo. */
  publicKeyBase64: string;
  /** The `WrappingAlgorithm` passed to GetParametersForImport. */
  wrappingAlgorithm: WrappingAlgorithm;
  /** The `WrappingKeySpec` passed to GetParametersForImport. */
  wrappingKeySpec: WrappingKeySpec;
}

/**
 * Wraps `material` and returns standard base64 ready for ImportKeyMaterial's EncryptedKeyMaterial.
 *
 * `random` is the product's CSPRNG capability, taken so that callers pass randomness the same way
 * to every wrap step; neither backend can consume it today. RSA padding randomness (the OAEP seed,
 * the PKCS#1 v1.5 PS bytes) is drawn by OpenSSL inside `crypto.publicEncrypt` from its own CSPRNG
 * (RAND_bytes), and the SM2 ephemeral scalar by sm-crypto-v2 from WebCrypto getRandomValues (also
 * a CSPRNG, see sm2.ts). Neither uses a non-cryptographic PRNG. Material itself is generated elsewhere from
 * the injected RandomSource (material.ts).
 */
export function wrapKeyMaterial(input: WrapKeyMaterialInput, random: RandomSource): string {
  void random; // see the doc comment: accepted, not consumed by the current backends
  const algorithm = parseWrappingAlgorithm(input.wrappingAlgorithm);
  const wrappingKeySpec = parseWrappingKeySpec(input.wrappingKeySpec);
  assertAlgorithmMatchesSpec(algorithm, wrappingKeySpec);
  validateKeyMaterial(input.material, parseKeySpec(input.keySpec));
  const publicKey = parseWrappingPublicKey(input.publicKeyBase64, wrappingKeySpec);
  return encrypt(algorithm, publicKey, input.material).toString('base64');
}

function encrypt(algorithm: WrappingAlgorithm, publicKey: WrappingPublicKey, material: Uint8Array): Buffer {
  switch (algorithm) {
    case WrappingAlgorithm.RsaesOaepSha256:
      // Node sets the OAEP digest and MGF1 digest to oaepHash alike (RFC 8017 §7.1.1, KMS: MGF1-SHA-256).
      return rsaEncrypt(publicKey, { padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, material);
    case WrappingAlgorithm.RsaesOaepSha1:
      return rsaEncrypt(publicKey, { padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' }, material);
    case WrappingAlgorithm.RsaesPkcs1V15:
      return rsaEncrypt(publicKey, { padding: constants.RSA_PKCS1_PADDING }, material);
    case WrappingAlgorithm.Sm2Pke:
      if (publicKey.spec !== WrappingKeySpec.EcSm2) throw mismatch();
      try {
        return sm2Encrypt(publicKey.point, material);
      } catch {
        throw new OrchestratorError(ErrorCode.Internal, 'SM2PKE: encryption failed');
      }
    default:
      return assertNever(algorithm);
  }
}

function rsaEncrypt(
  publicKey: WrappingPublicKey,
  options: { padding: number; oaepHash?: 'sha1' | 'sha256' },
  material: Uint8Array,
): Buffer {
  if (publicKey.spec !== WrappingKeySpec.Rsa2048) throw mismatch();
  try {
    return publicEncrypt({ key: publicKey.keyObject, ...options }, material);
  } catch {
    // Only reachable on an OpenSSL failure: the inputs were validated above. No bytes in the message.
    throw new OrchestratorError(ErrorCode.Internal, 'RSA wrapping failed');
  }
}

function mismatch(): OrchestratorError {
  return new OrchestratorError(ErrorCode.AlgorithmMismatch, 'wrappingAlgorithm: does not match the public key');
}

function assertNever(value: never): never {
  throw new OrchestratorError(ErrorCode.Internal, `unhandled case ${String(value)}`);
}
