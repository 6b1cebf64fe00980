/**
 * Break-glass copies: each escrow record is also sealed to an offline recovery RSA public key
 * (RSA-4096 or larger), so the material can be recovered with nothing but that private key and
 * the openssl CLI (procedure in BREAK-GLASS.md, exercised by test/integration/escrow/break-glass.test.ts).
 *
 * Scheme: RSAES-OAEP with SHA-256 and MGF1-SHA-256 (RFC 8017 §7.1) of the payload
 * `{"v":1,"keyId":..,"fingerprint":..,"material":<base64>}\n` directly, no hybrid layer. Why that is
 * enough: OAEP-SHA256 under a k-byte modulus carries k - 2*32 - 2 bytes (RFC 8017 §7.1.1 step 1b),
 * 446 bytes for RSA-4096; our payload is at most ~260 bytes (key id <= 128, material <= 64).
 * A hybrid RSA+AES-GCM envelope would only add a second primitive the recovery side must get
 * right, and `openssl enc` cannot do GCM at all, which would break the openssl-only procedure.
 *
 * OAEP's random seed comes from OpenSSL's CSPRNG inside node:crypto (publicEncrypt takes no RNG);
 * that is the primitive's own randomness, not the material's, so it is not routed through the
 * injected RandomSource.
 */
import { constants, createPrivateKey, createPublicKey, privateDecrypt, publicEncrypt } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { ErrorCode, OrchestratorError } from '../errors.js';
import { decodeCanonicalBase64 } from './record-json.js';
import { fingerprintMaterial } from './fingerprint.js';

/** Smallest recovery key accepted, in bits. */
export const MIN_RECOVERY_KEY_BITS = 4096;

/** OAEP-SHA256 hash length in bytes (hLen in RFC 8017 §7.1.1). */
const OAEP_HASH_BYTES = 32;

/** What a break-glass blob holds once opened. */
export interface BreakGlassPayload {
  keyId: string;
  fingerprint: string;
  material: Buffer;
}

/** Parses the configured recovery public key: PEM, RSA, >= 4096 bits, else InvalidConfig. */
export function parseRecoveryPublicKey(pem: string): KeyObject {
  const invalid = (rule: string): OrchestratorError =>
    new OrchestratorError(ErrorCode.InvalidConfig, `recoveryPublicKeyPem: ${rule}`, {
      details: { field: 'recoveryPublicKeyPem' },
    });
  let key: KeyObject;
  try {
    key = createPublicKey({ key: pem, format: 'pem' });
  } catch {
    throw invalid('not a PEM public key');
  }
  if (key.asymmetricKeyType !== 'rsa') throw invalid(`must be an RSA key, got ${String(key.asymmetricKeyType)}`);
  const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
  if (bits < MIN_RECOVERY_KEY_BITS) throw invalid(`must be at least ${MIN_RECOVERY_KEY_BITS} bits, got ${bits}`);
  return key;
}

/** The largest payload RSA-OAEP-SHA256 can carry under `key` (RFC 8017 §7.1.1). */
export function oaepCapacityBytes(key: KeyObject): number {
  const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
  return Math.floor(bits / 8) - 2 * OAEP_HASH_BYTES - 2;
}

/** Seals `{keyId, fingerprint, material}` to the recovery key; returns the base64 blob. */
export function sealBreakGlass(recoveryKey: KeyObject, payload: BreakGlassPayload): string {
  // One JSON line ending in a newline, so the documented `sed` extraction prints whole lines.
  const plaintext = Buffer.from(
    `${JSON.stringify({
      v: 1,
      keyId: payload.keyId,
      fingerprint: payload.fingerprint,
      material: payload.material.toString('base64'),
    })}\n`,
    'utf8',
  );
  try {
    const capacity = oaepCapacityBytes(recoveryKey);
    if (plaintext.length > capacity) {
      throw new OrchestratorError(
        ErrorCode.InvalidInput,
        `break-glass payload for ${payload.keyId} is ${plaintext.length} bytes, over the ${capacity}-byte OAEP limit`,
        { details: { keyId: payload.keyId } },
      );
    }
    const sealed = publicEncrypt(
      { key: recoveryKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' },
      plaintext,
    );
    return sealed.toString('base64');
  } finally {
    plaintext.fill(0);
  }
}

/**
 * Opens a break-glass blob with the recovery private key (the TypeScript twin of the openssl
 * procedure, for offline tooling and tests). Checks the material against the fingerprint.
 */
export function openBreakGlass(recoveryPrivateKeyPem: string, blobBase64: string): BreakGlassPayload {
  const fail = (reason: string): OrchestratorError =>
    new OrchestratorError(ErrorCode.UnwrapFailed, `break-glass blob: ${reason}`, { details: { field: 'breakglass' } });
  const blob = decodeCanonicalBase64(blobBase64.trim());
  if (blob === undefined) throw fail('not canonical base64');
  let plaintext: Buffer;
  try {
    plaintext = privateDecrypt(
      { key: createPrivateKey(recoveryPrivateKeyPem), padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' },
      blob,
    );
  } catch {
    throw fail('cannot be decrypted with this recovery key');
  }
  try {
    const parsed = JSON.parse(plaintext.toString('utf8')) as Record<string, unknown>;
    const material = decodeCanonicalBase64(parsed['material']);
    if (
      parsed['v'] !== 1 ||
      typeof parsed['keyId'] !== 'string' ||
      typeof parsed['fingerprint'] !== 'string' ||
      material === undefined
    ) {
      throw fail('unexpected payload shape');
    }
    if (fingerprintMaterial(material) !== parsed['fingerprint']) {
      material.fill(0);
      throw fail('material does not match its fingerprint');
    }
    return { keyId: parsed['keyId'], fingerprint: parsed['fingerprint'], material };
  } catch (err) {
    if (err instanceof OrchestratorError) throw err;
    throw fail('payload is not JSON');
  } finally {
    plaintext.fill(0);
  }
}
