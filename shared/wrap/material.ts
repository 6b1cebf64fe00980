/**
 * Key specs, wrapping algorithms and key material: the closed sets KMS defines for
 * GetParametersForImport / ImportKeyMaterial (docs/kms-api.md §2.4, §2.5), and material
 * generation from an injected CSPRNG (docs/design.md §5.5: never a non-cryptographic PRNG).
 */
import { ErrorCode, OrchestratorError } from '../errors.js';
import type { RandomSource } from '../runtime-types.js';

/** Symmetric key specs whose material can be imported into an EXTERNAL CMK. */
export const KeySpec = {
  Aes256: 'Aliyun_AES_256',
  Aes192: 'Aliyun_AES_192',
  Aes128: 'Aliyun_AES_128',
  Sm4: 'Aliyun_SM4',
} as const;

/** Union of importable key specs. */
export type KeySpec = (typeof KeySpec)[keyof typeof KeySpec];

/** The `WrappingAlgorithm` values of GetParametersForImport (docs/kms-api.md §2.4). */
export const WrappingAlgorithm = {
  RsaesOaepSha256: 'RSAES_OAEP_SHA_256',
  RsaesOaepSha1: 'RSAES_OAEP_SHA_1',
  RsaesPkcs1V15: 'RSAES_PKCS1_V1_5',
  Sm2Pke: 'SM2PKE',
} as const;

/** Union of wrapping algorithms. */
export type WrappingAlgorithm = (typeof WrappingAlgorithm)[keyof typeof WrappingAlgorithm];

/** The `WrappingKeySpec` values of GetParametersForImport (docs/kms-api.md §2.4). */
export const WrappingKeySpec = {
  Rsa2048: 'RSA_2048',
  EcSm2: 'EC_SM2',
} as const;

/** Union of wrapping public-key specs. */
export type WrappingKeySpec = (typeof WrappingKeySpec)[keyof typeof WrappingKeySpec];

/**
 * Material length in bytes per key spec. AES_256 = 32 and SM4 = 16 are documented (W-IKM);
 * AES_128 = 16 and AES_192 = 24 are inferred from the algorithm, not from a KMS page.
 */
export const MATERIAL_BYTES: Readonly<Record<KeySpec, number>> = {
  [KeySpec.Aes256]: 32,
  [KeySpec.Aes192]: 24, // inferred
  [KeySpec.Aes128]: 16, // inferred
  [KeySpec.Sm4]: 16,
};

const KEY_SPECS: readonly string[] = Object.values(KeySpec);
const WRAPPING_ALGORITHMS: readonly string[] = Object.values(WrappingAlgorithm);
const WRAPPING_KEY_SPECS: readonly string[] = Object.values(WrappingKeySpec);

/** True when `value` is an importable key spec. */
export function isKeySpec(value: unknown): value is KeySpec {
  return typeof value === 'string' && KEY_SPECS.includes(value);
}

/** True when `value` is a known wrapping algorithm. */
export function isWrappingAlgorithm(value: unknown): value is WrappingAlgorithm {
  return typeof value === 'string' && WRAPPING_ALGORITHMS.includes(value);
}

/** True when `value` is a known wrapping key spec. */
export function isWrappingKeySpec(value: unknown): value is WrappingKeySpec {
  return typeof value === 'string' && WRAPPING_KEY_SPECS.includes(value);
}

/** Narrows a string to a KeySpec or throws UnsupportedAlgorithm naming it (spec names are not secret). */
export function parseKeySpec(value: unknown): KeySpec {
  if (isKeySpec(value)) return value;
  throw new OrchestratorError(
    ErrorCode.UnsupportedAlgorithm,
    `keySpec: ${describe(value)} cannot take imported material (expected one of ${KEY_SPECS.join(', ')})`,
    { details: { field: 'keySpec' } },
  );
}

/** Narrows a string to a WrappingAlgorithm or throws UnsupportedAlgorithm. */
export function parseWrappingAlgorithm(value: unknown): WrappingAlgorithm {
  if (isWrappingAlgorithm(value)) return value;
  throw new OrchestratorError(
    ErrorCode.UnsupportedAlgorithm,
    `wrappingAlgorithm: ${describe(value)} is not supported (expected one of ${WRAPPING_ALGORITHMS.join(', ')})`,
    { details: { field: 'wrappingAlgorithm' } },
  );
}

/** Narrows a string to a WrappingKeySpec or throws UnsupportedAlgorithm. */
export function parseWrappingKeySpec(value: unknown): WrappingKeySpec {
  if (isWrappingKeySpec(value)) return value;
  throw new OrchestratorError(
    ErrorCode.UnsupportedAlgorithm,
    `wrappingKeySpec: ${describe(value)} is not supported (expected one of ${WRAPPING_KEY_SPECS.join(', ')})`,
    { details: { field: 'wrappingKeySpec' } },
  );
}

/** The only wrapping key spec each algorithm works with (docs/kms-api.md §2.4 table). */
export function wrappingKeySpecFor(algorithm: WrappingAlgorithm): WrappingKeySpec {
  switch (algorithm) {
    case WrappingAlgorithm.RsaesOaepSha256:
    case WrappingAlgorithm.RsaesOaepSha1:
    case WrappingAlgorithm.RsaesPkcs1V15:
      return WrappingKeySpec.Rsa2048;
    case WrappingAlgorithm.Sm2Pke:
      return WrappingKeySpec.EcSm2;
    default:
      return assertNever(algorithm);
  }
}

/** Throws AlgorithmMismatch unless `algorithm` is allowed with `wrappingKeySpec`. */
export function assertAlgorithmMatchesSpec(algorithm: WrappingAlgorithm, wrappingKeySpec: WrappingKeySpec): void {
  const expected = wrappingKeySpecFor(algorithm);
  if (expected !== wrappingKeySpec) {
    throw new OrchestratorError(
      ErrorCode.AlgorithmMismatch,
      `wrappingAlgorithm: ${algorithm} needs wrapping key spec ${expected}, got ${wrappingKeySpec}`,
      { details: { field: 'wrappingAlgorithm' } },
    );
  }
}

/** Material length in bytes that KMS requires for `keySpec`. */
export function materialLengthFor(keySpec: KeySpec): number {
  return MATERIAL_BYTES[keySpec];
}

/** Throws InvalidMaterial (length only, never the bytes) unless `material` fits `keySpec`. */
export function validateKeyMaterial(material: Uint8Array, keySpec: KeySpec): void {
  const spec = parseKeySpec(keySpec);
  const expected = MATERIAL_BYTES[spec];
  if (!(material instanceof Uint8Array) || material.length !== expected) {
    const got = material instanceof Uint8Array ? `${material.length} bytes` : 'not a byte array';
    throw new OrchestratorError(ErrorCode.InvalidMaterial, `material: ${spec} needs ${expected} bytes, got ${got}`, {
      details: { field: 'material' },
    });
  }
}

/** Fresh key material for `keySpec`, drawn from the injected CSPRNG. */
export function generateKeyMaterial(keySpec: KeySpec, random: RandomSource): Buffer {
  const spec = parseKeySpec(keySpec);
  const length = MATERIAL_BYTES[spec];
  const material = random.bytes(length);
  // Guard against a broken RandomSource rather than import short material KMS would bind forever.
  if (!(material instanceof Uint8Array) || material.length !== length) {
    throw new OrchestratorError(
      ErrorCode.Internal,
      `random source returned ${material?.length ?? 'no'} bytes, wanted ${length}`,
    );
  }
  // Returned as is: a copy would leave a second instance of the material in memory.
  return material;
}

function describe(value: unknown): string {
  // Specs and algorithm names are public identifiers; cap the length so junk input stays short.
  return typeof value === 'string' ? JSON.stringify(value.slice(0, 40)) : typeof value;
}

function assertNever(value: never): never {
  throw new OrchestratorError(ErrorCode.Internal, `unhandled case ${String(value)}`);
}
