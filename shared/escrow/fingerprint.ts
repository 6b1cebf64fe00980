/**
 * Material fingerprint: a key check value (KCV) that lets the orchestrator match a CMK to its
 * escrow record (docs/design.md §4 "material fingerprint (a key check value, never the material)",
 * §5.3 "re-import always uses the escrowed material whose fingerprint the CMK's tag records").
 *
 * `kcv1:` + hex(first 12 bytes of HMAC-SHA256(key = material, message = KCV_LABEL)).
 *
 * Why not a plain SHA-256 of the material: the material is the HMAC *key* here, so the value is a
 * keyed check value (like a classic KCV, which encrypts a fixed block under the key) rather than
 * a digest of secret bytes that could be compared against digests computed elsewhere; the label
 * gives domain separation, and truncation to 96 bits leaves enough to tell materials apart (a
 * 2^-48 birthday bound over the handful of keys one account holds) while revealing less.
 *
 * The result is 29 characters of `[a-z0-9:]`, within the CMK tag rules (docs/kms-api.md §2.10:
 * <= 128 chars of letters, digits and `/ \ _ - . + = : @`).
 */
import { createHmac } from 'node:crypto';
import { ErrorCode, OrchestratorError } from '../errors.js';

/** The fixed HMAC message; changing it changes every fingerprint, so it is versioned by `kcv1:`. */
export const KCV_LABEL = 'byok-orchestrator/kcv/v1';

/** Prefix of every fingerprint this module produces. */
export const FINGERPRINT_PREFIX = 'kcv1:';

/** Bytes of the HMAC output kept (RFC 2104 §5 allows truncation to the leftmost bits). */
const KCV_BYTES = 12;

const FINGERPRINT_PATTERN = /^kcv1:[0-9a-f]{24}$/;

/** The key check value of `material`, e.g. `kcv1:0123456789abcdef01234567`. */
export function fingerprintMaterial(material: Buffer): string {
  if (!(material instanceof Uint8Array) || material.length === 0) {
    throw new OrchestratorError(ErrorCode.InvalidMaterial, 'material: cannot fingerprint empty or non-byte material', {
      details: { field: 'material' },
    });
  }
  const mac = createHmac('sha256', material).update(KCV_LABEL, 'utf8').digest();
  return FINGERPRINT_PREFIX + mac.subarray(0, KCV_BYTES).toString('hex');
}

/** True when `value` has the exact shape of a fingerprint (`kcv1:` + 24 lower-case hex digits). */
export function isFingerprint(value: unknown): value is string {
  return typeof value === 'string' && FINGERPRINT_PATTERN.test(value);
}
