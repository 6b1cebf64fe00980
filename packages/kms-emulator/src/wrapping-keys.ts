/**
 * The KMS emulator's side of import: one-time wrapping key pairs for GetParametersForImport and
 * the real decryption of ImportKeyMaterial's `EncryptedKeyMaterial` (docs/kms-api.md §2.4,
 * §2.5, §5.5). The private key is a plain JSON value so the emulator can persist its state file.
 *
 * Independent of the product's wrapping code (shared/wrap/): RSA keys and decryption are Node's
 * crypto (OpenSSL in-process); EC_SM2 keys are Node's OpenSSL keygen and SM2PKE decryption is the
 * `openssl` CLI (sm2-openssl.ts), never the product's sm-crypto-v2.
 *
 * Every failure is an UnwrapError with a fixed message (no bytes, no lengths of secrets):
 * INVALID_BASE64 (not strict base64), UNSUPPORTED_ALGORITHM (unknown algorithm name),
 * ALGORITHM_MISMATCH (algorithm not allowed for this key's spec), UNWRAP_FAILED (anything else:
 * wrong ciphertext length, bad padding, bad SM2 ciphertext, corrupt private key). The emulator
 * maps all of them to KMS `InvalidKeyMaterial` (400). A missing or SM2-less openssl is
 * SM2_UNAVAILABLE (InternalFailure 500, with the reason in the emulator's log).
 */
import {
  constants,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  privateDecrypt,
  type KeyObject,
} from 'node:crypto';
import { readFileSync } from 'node:fs';
import { EmulatorErrorCode, KmsEmulatorError, UnwrapError } from './errors.js';
import { assertSm2Available, sm2DecryptWithOpenssl } from './sm2-openssl.js';

/** `WrappingAlgorithm` values of GetParametersForImport (docs/kms-api.md §2.4). */
export const WrappingAlgorithm = {
  RsaesOaepSha256: 'RSAES_OAEP_SHA_256',
  RsaesOaepSha1: 'RSAES_OAEP_SHA_1',
  RsaesPkcs1V15: 'RSAES_PKCS1_V1_5',
  Sm2Pke: 'SM2PKE',
} as const;
/** Union of wrapping algorithms. */
export type WrappingAlgorithm = (typeof WrappingAlgorithm)[keyof typeof WrappingAlgorithm];

/** `WrappingKeySpec` values of GetParametersForImport, with the algorithms each allows (documented: W-GPI). */
const WRAPPING_ALGORITHMS_BY_SPEC: Readonly<Record<'RSA_2048' | 'EC_SM2', readonly WrappingAlgorithm[]>> = {
  RSA_2048: [WrappingAlgorithm.RsaesPkcs1V15, WrappingAlgorithm.RsaesOaepSha1, WrappingAlgorithm.RsaesOaepSha256],
  EC_SM2: [WrappingAlgorithm.Sm2Pke],
};

/** A wrapping private key as JSON: PKCS#8 DER (base64) for RSA_2048, the 32-byte scalar (hex) for EC_SM2. */
export type WrappingPrivateKey =
  | { spec: 'RSA_2048'; pkcs8DerBase64: string }
  | { spec: 'EC_SM2'; privateKeyHex: string };

/** A fresh wrapping key pair: `publicKeyBase64` is what GetParametersForImport returns as `PublicKey`. */
export interface WrappingKeyPair {
  /** Standard base64 (no line breaks) of the DER SubjectPublicKeyInfo. */
  publicKeyBase64: string;
  /** JSON-serialisable private half, kept by the emulator with the import token. */
  privateKey: WrappingPrivateKey;
}

const RSA_2048_BYTES = 256;
// SubjectPublicKeyInfo prefix for id-ecPublicKey (1.2.840.10045.2.1) on SM2 (1.2.156.10197.1.301)
// followed by a 66-byte BIT STRING (00 unused bits || 04 || x || y); RFC 5480 §2 / GM/T 0009 §6.
const SM2_SPKI_PREFIX = Buffer.from('3059301306072a8648ce3d020106082a811ccf5501822d034200', 'hex');
// SEC1 ECPrivateKey with public key: SEQUENCE (0x77 bytes) { INTEGER 1, OCTET STRING (32) ... }.
const SEC1_PREFIX = Buffer.from('30770201010420', 'hex');
const SEC1_SCALAR_AT = SEC1_PREFIX.length;

/** Generates a one-time wrapping key pair of `spec` (Node's OpenSSL keygen, a CSPRNG). */
export function generateWrappingKeyPair(spec: 'RSA_2048' | 'EC_SM2'): WrappingKeyPair {
  switch (spec) {
    case 'RSA_2048': {
      const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048, publicExponent: 0x10001 });
      return rsaPairFromKeys(publicKey, privateKey);
    }
    case 'EC_SM2': {
      assertSm2Available(); // refuse to hand out a key that ImportKeyMaterial could not use
      const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'SM2' });
      const spki = publicKey.export({ format: 'der', type: 'spki' });
      // Node cannot export SM2 as JWK; the scalar sits at a fixed place in the SEC1 ECPrivateKey
      // (RFC 5915 §3) OpenSSL writes: 30 77 | 02 01 01 | 04 20 <32-byte scalar> | [0] OID | [1] point.
      const sec1 = privateKey.export({ format: 'der', type: 'sec1' });
      const prefix = spki.subarray(0, SM2_SPKI_PREFIX.length);
      if (spki.length !== SM2_SPKI_PREFIX.length + 65 || !prefix.equals(SM2_SPKI_PREFIX)) {
        throw new KmsEmulatorError(EmulatorErrorCode.Internal, 'SM2 key generation returned an unexpected public key');
      }
      if (sec1.length < 39 || !sec1.subarray(0, SEC1_SCALAR_AT).equals(SEC1_PREFIX)) {
        throw new KmsEmulatorError(EmulatorErrorCode.Internal, 'SM2 key generation returned an unexpected private key');
      }
      const privateKeyHex = sec1.subarray(SEC1_SCALAR_AT, SEC1_SCALAR_AT + 32).toString('hex');
      sec1.fill(0);
      return { publicKeyBase64: spki.toString('base64'), privateKey: { spec, privateKeyHex } };
    }
    default:
      throw new UnwrapError(EmulatorErrorCode.UnsupportedAlgorithm, 'wrappingKeySpec: unsupported wrapping key spec');
  }
}

/**
 * RSA-2048 wrapping keys come from a small per-process pool: an RSA-2048 keygen costs 50-500 ms of
 * CPU, and making one per GetParametersForImport call dominated long scenarios. Each of the first
 * RSA_POOL_SIZE calls generates one pair (the old per-call cost, nothing more: no background keygen
 * competes with the tests for CPU); from then on pairs are handed out round-robin, so consecutive
 * calls never get the same key. Each call still gets a fresh import token (the caller's job).
 * EC_SM2 keygen is cheap, so SM2 pairs stay one per call.
 */
const RSA_POOL_SIZE = 2;
const rsaPool: WrappingKeyPair[] = [];
/** Index of the pair handed out last; -1 before the first call. */
let rsaPoolLast = -1;

/**
 * Test-speed hook: `KMS_EMULATOR_RSA_POOL_FILE` names a JSON file of RSA-2048 pairs,
 * `[{ "publicKeyBase64": <SPKI DER>, "pkcs8DerBase64": <PKCS#8 DER> }, ...]` (at least two), that the
 * pool starts from instead of generating its own. A test run writes it once (test/support/global-setup.ts)
 * instead of every test process paying two keygens. Read on the first RSA_2048 call of the process.
 */
export const RSA_POOL_FILE_ENV = 'KMS_EMULATOR_RSA_POOL_FILE';

function loadRsaPoolFile(file: string): WrappingKeyPair[] {
  const bad = (why: string) =>
    new KmsEmulatorError(EmulatorErrorCode.Internal, `${RSA_POOL_FILE_ENV} (${file}): ${why}`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    throw bad('not a readable JSON file');
  }
  if (!Array.isArray(parsed) || parsed.length < 2) throw bad('must be an array of at least two key pairs');
  return parsed.map((entry: unknown, i) => {
    const { publicKeyBase64, pkcs8DerBase64 } = (entry ?? {}) as Record<string, unknown>;
    if (typeof publicKeyBase64 !== 'string' || typeof pkcs8DerBase64 !== 'string')
      throw bad(`[${i}] needs publicKeyBase64 and pkcs8DerBase64 strings`);
    let matches = false;
    try {
      const publicKey = createPublicKey({ key: Buffer.from(publicKeyBase64, 'base64'), format: 'der', type: 'spki' });
      const derived = createPublicKey(
        createPrivateKey({ key: Buffer.from(pkcs8DerBase64, 'base64'), format: 'der', type: 'pkcs8' }),
      );
      matches = publicKey.asymmetricKeyDetails?.modulusLength === 2048 && derived.equals(publicKey);
    } catch {
      // not DER keys: said below
    }
    if (!matches) throw bad(`[${i}] is not a matching RSA-2048 pair`);
    return { publicKeyBase64, privateKey: { spec: 'RSA_2048', pkcs8DerBase64 } };
  });
}

function rsaPairFromKeys(publicKey: KeyObject, privateKey: KeyObject): WrappingKeyPair {
  return {
    publicKeyBase64: publicKey.export({ format: 'der', type: 'spki' }).toString('base64'),
    privateKey: {
      spec: 'RSA_2048',
      pkcs8DerBase64: privateKey.export({ format: 'der', type: 'pkcs8' }).toString('base64'),
    },
  };
}

/**
 * A wrapping key pair for GetParametersForImport: RSA_2048 from the per-process pool (see above),
 * EC_SM2 freshly generated.
 */
export function wrappingKeyPairFor(spec: 'RSA_2048' | 'EC_SM2'): WrappingKeyPair {
  if (spec !== 'RSA_2048') return generateWrappingKeyPair(spec);
  const poolFile = process.env[RSA_POOL_FILE_ENV];
  if (rsaPoolLast === -1 && poolFile !== undefined && poolFile !== '') rsaPool.push(...loadRsaPoolFile(poolFile));
  if (rsaPool.length < RSA_POOL_SIZE) {
    rsaPool.push(generateWrappingKeyPair('RSA_2048'));
    rsaPoolLast = rsaPool.length - 1;
  } else {
    rsaPoolLast = (rsaPoolLast + 1) % rsaPool.length;
  }
  return rsaPool[rsaPoolLast]!;
}

/**
 * Decrypts ImportKeyMaterial's `EncryptedKeyMaterial` with the token's private key and returns
 * the raw material. Does not check the material length: the caller knows the CMK's KeySpec.
 */
export function unwrapKeyMaterial(privateKey: WrappingPrivateKey, algorithm: string, encryptedBase64: string): Buffer {
  const alg = parseWrappingAlgorithm(algorithm);
  // The key comes back from the emulator's state file: a corrupt entry is an unwrap failure.
  if (typeof privateKey !== 'object' || privateKey === null || !isWrappingKeySpec(privateKey.spec))
    throw unwrapFailed();
  if (!WRAPPING_ALGORITHMS_BY_SPEC[privateKey.spec].includes(alg)) {
    const message = `wrappingAlgorithm: ${alg} does not go with ${privateKey.spec}`;
    throw new UnwrapError(EmulatorErrorCode.AlgorithmMismatch, message, { field: 'wrappingAlgorithm' });
  }
  const ciphertext = decodeBase64Strict(encryptedBase64, 'EncryptedKeyMaterial');
  switch (alg) {
    case WrappingAlgorithm.RsaesOaepSha256:
      return rsaOaepDecrypt(privateKey, ciphertext, 'sha256');
    case WrappingAlgorithm.RsaesOaepSha1:
      return rsaOaepDecrypt(privateKey, ciphertext, 'sha1');
    case WrappingAlgorithm.RsaesPkcs1V15:
      return rsaPkcs1V15Decrypt(privateKey, ciphertext);
    case WrappingAlgorithm.Sm2Pke: {
      if (privateKey.spec !== 'EC_SM2' || !/^[0-9a-f]{64}$/.test(privateKey.privateKeyHex)) throw unwrapFailed();
      const material = sm2DecryptWithOpenssl(privateKey.privateKeyHex, ciphertext);
      if (material === undefined) throw unwrapFailed();
      return material;
    }
    default:
      return assertNever(alg);
  }
}

const WRAPPING_ALGORITHM_NAMES: readonly string[] = Object.values(WrappingAlgorithm);

function parseWrappingAlgorithm(value: string): WrappingAlgorithm {
  if (WRAPPING_ALGORITHM_NAMES.includes(value)) return value as WrappingAlgorithm;
  throw new UnwrapError(EmulatorErrorCode.UnsupportedAlgorithm, 'wrappingAlgorithm: not supported', {
    field: 'wrappingAlgorithm',
  });
}

function isWrappingKeySpec(value: unknown): value is 'RSA_2048' | 'EC_SM2' {
  return value === 'RSA_2048' || value === 'EC_SM2';
}

// Strict standard base64 (RFC 4648 §4): no whitespace, no URL-safe alphabet, canonical padding
// bits. Buffer.from(s, 'base64') silently skips bad characters, so it cannot be the check.
const STRICT_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function decodeBase64Strict(text: string, field: string): Buffer {
  const wellFormed = typeof text === 'string' && text !== '' && STRICT_BASE64.test(text);
  const bytes = wellFormed ? Buffer.from(text, 'base64') : undefined;
  if (bytes === undefined || bytes.toString('base64') !== text) {
    throw new UnwrapError(EmulatorErrorCode.InvalidBase64, `${field}: not valid standard base64`, { field });
  }
  return bytes;
}

function rsaKey(privateKey: WrappingPrivateKey): KeyObject {
  if (privateKey.spec !== 'RSA_2048') throw unwrapFailed();
  try {
    const key = createPrivateKey({
      key: decodeBase64Strict(privateKey.pkcs8DerBase64, 'privateKey'),
      format: 'der',
      type: 'pkcs8',
    });
    if (key.asymmetricKeyType !== 'rsa' || key.asymmetricKeyDetails?.modulusLength !== 2048) throw unwrapFailed();
    return key;
  } catch {
    throw unwrapFailed();
  }
}

// RFC 8017 §7.1.2: OAEP with Hash = MGF1 hash = oaepHash (Node passes it to OpenSSL for both) and an
// empty label. OpenSSL's OAEP decode is implemented in constant time.
function rsaOaepDecrypt(privateKey: WrappingPrivateKey, ciphertext: Buffer, hash: 'sha1' | 'sha256'): Buffer {
  const key = rsaKey(privateKey);
  if (ciphertext.length !== RSA_2048_BYTES) throw unwrapFailed();
  try {
    return privateDecrypt({ key, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: hash }, ciphertext);
  } catch {
    throw unwrapFailed();
  }
}

// RFC 8017 §7.2.2. Node 20 refuses RSA_PKCS1_PADDING for private decryption (Marvin hardening,
// docs/kms-api.md §5.5), so we do the raw RSA operation and check EM = 00 || 02 || PS || 00 || M with
// |PS| >= 8 ourselves. The scan touches every byte and accumulates flags with arithmetic, no early
// exit and no branch on padding bytes; the only branch is on the final verdict. (JavaScript gives
// no hard constant-time guarantee; this is the best-effort shape, and the emulator is local-only.)
function rsaPkcs1V15Decrypt(privateKey: WrappingPrivateKey, ciphertext: Buffer): Buffer {
  const key = rsaKey(privateKey);
  if (ciphertext.length !== RSA_2048_BYTES) throw unwrapFailed();
  let em: Buffer;
  try {
    em = privateDecrypt({ key, padding: constants.RSA_NO_PADDING }, ciphertext);
  } catch {
    throw unwrapFailed();
  }
  const { ok, messageStart } = checkPkcs1Type2(em);
  if (ok !== 1) throw unwrapFailed();
  return Buffer.from(em.subarray(messageStart));
}

/** Constant-shape check of an EME-PKCS1-v1_5 block; `ok` is 1 or 0 (exported for tests). */
export function checkPkcs1Type2(em: Uint8Array): { ok: number; messageStart: number } {
  const k = em.length;
  let ok = isZero(k ^ RSA_2048_BYTES);
  ok &= isZero(em[0] ?? 1);
  ok &= isZero((em[1] ?? 0) ^ 0x02);
  let searching = 1; // 1 until the first 00 after the 02 is seen
  let separator = 0;
  for (let i = 2; i < k; i++) {
    const zero = isZero(em[i]!);
    const hit = searching & zero;
    separator = select(hit, i, separator);
    searching &= zero ^ 1;
  }
  ok &= searching ^ 1; // a separator exists
  ok &= greaterOrEqual(separator, 2 + 8); // PS is at least 8 bytes (RFC 8017 §7.2.2 step 3)
  return { ok, messageStart: separator + 1 };
}

// 1 when b == 0, else 0, for 0 <= b < 2^31, without branching.
function isZero(b: number): number {
  return ((b | -b) >>> 31) ^ 1;
}

// 1 when a >= b, for 0 <= a, b < 2^30.
function greaterOrEqual(a: number, b: number): number {
  return ((a - b) >>> 31) ^ 1;
}

// a when mask == 1, b when mask == 0.
function select(mask: number, a: number, b: number): number {
  return (a & -mask) | (b & (mask - 1));
}

function unwrapFailed(): UnwrapError {
  return new UnwrapError(
    EmulatorErrorCode.UnwrapFailed,
    'EncryptedKeyMaterial: could not be unwrapped with this import token',
    {
      field: 'EncryptedKeyMaterial',
    },
  );
}

function assertNever(value: never): never {
  throw new KmsEmulatorError(EmulatorErrorCode.Internal, `unhandled case ${String(value)}`);
}
