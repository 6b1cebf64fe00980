/**
 * The secret guard: audit events never carry key material, wrapped material, import tokens,
 * escrow plaintext or webhook secrets (docs/design.md §5.4). Such values are long runs of base64,
 * base64url or hex; identifiers we do log (UUID key and request ids, `kcv1:` fingerprints) are
 * removed before the scan so they never trip it.
 *
 * The rule, per run of >= 32 characters:
 * - hex `[0-9a-fA-F]{32,}` is secret-like (16+ random bytes);
 * - base64/base64url `[A-Za-z0-9+/_=-]{32,}` is secret-like when it mixes classes the way random
 *   bytes do: at least one digit, and upper and lower case letters each >= 1/8 of the run. Random
 *   base64 is ~41% upper, ~41% lower, ~16% digits, so 32 random bytes (44 chars) escape this with
 *   probability < 1e-4, while paths and kebab-case names (mostly lower case) pass.
 */
import { isFingerprint } from '../escrow/fingerprint.js';

/** Shortest run the guard considers (16 bytes as hex, 24 bytes as base64). */
export const SECRET_RUN_MIN_CHARS = 32;

const UUID = /[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}/g;
const FINGERPRINT = /kcv1[:-][0-9a-f]{24}/g;
const HEX_RUN = /[0-9a-fA-F]{32,}/;
const BASE64_RUN = /[A-Za-z0-9+/_=-]{32,}/g;

/** A secret-looking run found in a string: where it is and how long (never its content). */
export interface SecretLikeRun {
  index: number;
  length: number;
}

/** The secret-looking runs in `text`, after UUIDs and fingerprints are set aside. */
export function findSecretLikeRuns(text: string): SecretLikeRun[] {
  // Same-length blanking keeps indexes valid for redaction.
  const blanked = text
    .replace(UUID, (m) => ' '.repeat(m.length))
    .replace(FINGERPRINT, (m) => (isFingerprint(m.replace('-', ':')) ? ' '.repeat(m.length) : m));
  const runs: SecretLikeRun[] = [];
  for (const m of blanked.matchAll(BASE64_RUN)) {
    const run = m[0];
    if (HEX_RUN.test(run) || mixesLikeRandom(run)) runs.push({ index: m.index, length: run.length });
  }
  return runs;
}

/** True when `text` holds a secret-looking run. */
export function looksSecret(text: string): boolean {
  return findSecretLikeRuns(text).length > 0;
}

/** `text` with every secret-looking run replaced by `[redacted]`. */
export function redactSecretLike(text: string): { text: string; redactions: number } {
  const runs = findSecretLikeRuns(text);
  let out = text;
  for (const r of [...runs].reverse()) out = `${out.slice(0, r.index)}[redacted]${out.slice(r.index + r.length)}`;
  return { text: out, redactions: runs.length };
}

/**
 * Detail keys that name a secret outright; a string under such a key is refused whatever it looks
 * like (a short token is still a token).
 */
export const SECRET_DETAIL_KEYS: ReadonlySet<string> = new Set(
  [
    'material',
    'keyMaterial',
    'plaintext',
    'encryptedKeyMaterial',
    'wrappedMaterial',
    'importToken',
    'token',
    'secret',
    'secretData',
    'password',
    'privateKey',
    'accessKeySecret',
    'securityToken',
  ].map((k) => k.toLowerCase()),
);

function mixesLikeRandom(run: string): boolean {
  let upper = 0;
  let lower = 0;
  let digits = 0;
  for (const c of run) {
    if (c >= 'A' && c <= 'Z') upper += 1;
    else if (c >= 'a' && c <= 'z') lower += 1;
    else if (c >= '0' && c <= '9') digits += 1;
  }
  return digits > 0 && upper * 8 >= run.length && lower * 8 >= run.length;
}
