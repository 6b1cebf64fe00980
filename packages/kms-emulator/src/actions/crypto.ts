/**
 * Symmetric cryptography: Encrypt, Decrypt, GenerateDataKey, GenerateDataKeyWithoutPlaintext
 * (docs/kms-api.md §2.11), plus the blob sealing the secrets actions reuse.
 *
 * CiphertextBlob = base64( KeyVersionId (36 ASCII) ‖ IV (12) ‖ ciphertext ‖ tag (16) )
 * (documented: XFER/KGO layout; tag length inferred). Cipher: AES-GCM with the key's material
 * (AES-256 for Aliyun_AES_256). Aliyun_SM4 keys use AES-128-GCM as a stand-in because Node's
 * OpenSSL has no SM4-GCM (emulator deviation). AAD = KeyVersionId ‖ SHA-256(sorted `k=v&…` of the
 * EncryptionContext) — the SHA-256 part is documented (XFER `EncodeUserEncryptionContext`), binding
 * the version ID is the emulator's choice (docs/kms-api.md §3.2) so a blob of one CMK never opens under
 * another CMK holding the same material. Because an EXTERNAL key keeps its version ID, ciphertexts
 * decrypt again once the same material is re-imported.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import type { CipherGCMTypes } from 'node:crypto';
import { invalidParameter, kmsError } from '../errors.js';
import { assertInstanceAvailable, assertSharedGatewayAllowed } from '../instances.js';
import type { RequestParams } from '../params.js';
import type { KeyRecord } from '../store.js';
import { KeyOp, assertKeyState, isSymmetric, resolveKeyOrAlias } from './context.js';
import type { ActionContext, ActionHandler } from './context.js';

/** Length of the ASCII KeyVersionId prefix (documented: XFER `EktIdLength = 36`). */
export const BLOB_VERSION_ID_LENGTH = 36;
/** GCM IV length (documented: XFER `GcmIvLength = 12`). */
export const BLOB_IV_LENGTH = 12;
/** GCM tag length (inferred: GCM default). */
export const BLOB_TAG_LENGTH = 16;
/** Encrypt accepts at most 6 KB of plaintext (documented: TSC). */
export const MAX_PLAINTEXT_BYTES = 6 * 1024;
/** EncryptionContext JSON is at most 8192 characters (documented: DOCS21). */
export const MAX_ENCRYPTION_CONTEXT_CHARS = 8192;

/** A string->string EncryptionContext. */
export type EncryptionContext = Readonly<Record<string, string>>;

const BASE64_RE = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Strict standard base64 check (padded, no whitespace). */
export function isStrictBase64(text: string): boolean {
  return BASE64_RE.test(text);
}

function compareCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** `k1=v1&k2=v2…` with keys sorted ascending (documented: XFER `EncodeUserEncryptionContext`). */
export function canonicalEncryptionContext(context: EncryptionContext): string {
  return Object.keys(context)
    .sort(compareCodeUnits)
    .map((k) => `${k}=${context[k]}`)
    .join('&');
}

/** AAD = KeyVersionId (ASCII) ‖ SHA-256(canonical context). */
export function blobAad(keyVersionId: string, context: EncryptionContext): Buffer {
  const digest = createHash('sha256').update(canonicalEncryptionContext(context), 'utf8').digest();
  return Buffer.concat([Buffer.from(keyVersionId, 'ascii'), digest]);
}

/**
 * Reads `EncryptionContext` in either wire form (docs/kms-api.md §1.11): a JSON object string
 * (current SDKs, the documented API) or flattened `EncryptionContext.k=v` (SDK v1.2.0).
 * Values must be strings; both forms at once are refused.
 */
export function parseEncryptionContext(params: RequestParams): EncryptionContext {
  const prefix = 'EncryptionContext.';
  const flattened = params.names().filter((name) => name.startsWith(prefix));
  const json = params.optional('EncryptionContext');
  if (json !== undefined && flattened.length > 0) {
    throw invalidParameter('EncryptionContext', 'Send it either as JSON or flattened, not both.');
  }
  const context: Record<string, string> = Object.create(null) as Record<string, string>;
  if (json !== undefined) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(json);
    } catch {
      throw invalidParameter('EncryptionContext', 'It must be a JSON object.');
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      throw invalidParameter('EncryptionContext', 'It must be a JSON object.');
    }
    for (const [k, v] of Object.entries(parsed as Record<string, unknown>)) {
      if (typeof v !== 'string') throw invalidParameter('EncryptionContext', 'Values must be strings.');
      context[k] = v;
    }
  } else {
    for (const name of flattened) {
      const k = name.slice(prefix.length);
      if (k === '') throw invalidParameter('EncryptionContext', 'Keys must not be empty.');
      context[k] = params.get(name) ?? '';
    }
  }
  if (JSON.stringify(context).length > MAX_ENCRYPTION_CONTEXT_CHARS) {
    throw invalidParameter('EncryptionContext', `It must be at most ${MAX_ENCRYPTION_CONTEXT_CHARS} characters.`);
  }
  return context;
}

function gcmAlgorithm(material: Buffer): CipherGCMTypes {
  switch (material.length) {
    case 16:
      return 'aes-128-gcm';
    case 24:
      return 'aes-192-gcm';
    case 32:
      return 'aes-256-gcm';
    default:
      throw new Error(`unexpected material length ${material.length}`);
  }
}

function materialOf(key: KeyRecord): Buffer {
  // A key in state Enabled always has material; keep a guard for impossible states.
  if (key.material === null) throw kmsError('Rejected.PendingImport');
  return Buffer.from(key.material, 'base64');
}

/** Seals `plaintext` under the key's primary version (caller checked the key state). */
export function sealBlob(key: KeyRecord, plaintext: Buffer, context: EncryptionContext): string {
  const material = materialOf(key);
  const iv = randomBytes(BLOB_IV_LENGTH);
  const cipher = createCipheriv(gcmAlgorithm(material), material, iv, { authTagLength: BLOB_TAG_LENGTH });
  cipher.setAAD(blobAad(key.primaryKeyVersion, context));
  const ct = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  material.fill(0);
  return Buffer.concat([Buffer.from(key.primaryKeyVersion, 'ascii'), iv, ct, cipher.getAuthTag()]).toString('base64');
}

/** A parsed blob. */
export interface ParsedBlob {
  keyVersionId: string;
  iv: Buffer;
  ciphertext: Buffer;
  tag: Buffer;
}

/** Splits a blob; malformed -> InvalidParameter (inferred from KGO's "ciphertext length too small"). */
export function parseBlob(blob: string, paramName = 'CiphertextBlob'): ParsedBlob {
  if (!isStrictBase64(blob)) throw invalidParameter(paramName, 'It is not valid base64.');
  const raw = Buffer.from(blob, 'base64');
  if (raw.length < BLOB_VERSION_ID_LENGTH + BLOB_IV_LENGTH + BLOB_TAG_LENGTH) {
    throw invalidParameter(paramName, 'The ciphertext length is too small.');
  }
  const keyVersionId = raw.subarray(0, BLOB_VERSION_ID_LENGTH).toString('latin1');
  const ivEnd = BLOB_VERSION_ID_LENGTH + BLOB_IV_LENGTH;
  return {
    keyVersionId,
    iv: raw.subarray(BLOB_VERSION_ID_LENGTH, ivEnd),
    ciphertext: raw.subarray(ivEnd, raw.length - BLOB_TAG_LENGTH),
    tag: raw.subarray(raw.length - BLOB_TAG_LENGTH),
  };
}

/**
 * Opens a parsed blob with the key's material. A failed tag check (tampering, wrong
 * EncryptionContext) answers InvalidParameter 400 (inferred: the real code is undocumented).
 */
export function openBlob(
  key: KeyRecord,
  blob: ParsedBlob,
  context: EncryptionContext,
  paramName = 'CiphertextBlob',
): Buffer {
  const material = materialOf(key);
  try {
    const decipher = createDecipheriv(gcmAlgorithm(material), material, blob.iv, { authTagLength: BLOB_TAG_LENGTH });
    decipher.setAAD(blobAad(blob.keyVersionId, context));
    decipher.setAuthTag(blob.tag);
    return Buffer.concat([decipher.update(blob.ciphertext), decipher.final()]);
  } catch {
    throw invalidParameter(paramName, 'It cannot be decrypted with the given EncryptionContext.');
  } finally {
    material.fill(0);
  }
}

/** Resolves the CMK a blob names; unknown version (e.g. a deleted key) -> Forbidden.KeyNotFound. */
export function keyForBlob(ctx: ActionContext, blob: ParsedBlob): KeyRecord {
  const keyId = ctx.store.versionIndex.get(blob.keyVersionId);
  const key = keyId === undefined ? undefined : ctx.store.keys.get(keyId);
  if (key === undefined) throw kmsError('Forbidden.KeyNotFound');
  return key;
}

/** Checks a key can do symmetric crypto now: symmetric spec, then the state matrix. */
export function assertUsableForCrypto(key: KeyRecord): void {
  if (!isSymmetric(key)) throw kmsError('UnsupportedOperation');
  assertKeyState(key, KeyOp.Crypto);
}

/**
 * The checks of a client-side crypto call (Encrypt, Decrypt, GenerateDataKey*) through the shared
 * endpoint, in order: the key's instance must allow the shared gateway (`Forbidden.NoPermission`
 * 403, inferred code), must not have expired (`Rejected.Unavailable` 409, documented), the key
 * must not be the KMS 3.0 default CMK (documented: "default keys do not support client-side
 * encryption"; `UnsupportedOperation` 400 is inferred), then spec and state as before.
 */
export function assertClientCrypto(ctx: ActionContext, key: KeyRecord): void {
  assertSharedGatewayAllowed(ctx.store, key);
  assertInstanceAvailable(ctx.store, key, ctx.nowUnix);
  if (key.defaultCmk === true) {
    throw kmsError(
      'UnsupportedOperation',
      'This action is not supported. The default key does not ' +
        'support client-side encryption; use a key in a KMS instance.',
    );
  }
  assertUsableForCrypto(key);
}

const encrypt: ActionHandler = (ctx) => {
  const key = resolveKeyOrAlias(ctx);
  // documented (XFER/KGO): Plaintext is an opaque string; its UTF-8 bytes are what is protected.
  const plaintext = ctx.params.required('Plaintext');
  if (Buffer.byteLength(plaintext, 'utf8') > MAX_PLAINTEXT_BYTES) {
    throw invalidParameter('Plaintext', `It must be at most ${MAX_PLAINTEXT_BYTES} bytes.`);
  }
  const context = parseEncryptionContext(ctx.params);
  assertClientCrypto(ctx, key);
  return {
    CiphertextBlob: sealBlob(key, Buffer.from(plaintext, 'utf8'), context),
    KeyId: key.keyId,
    KeyVersionId: key.primaryKeyVersion,
  };
};

const decrypt: ActionHandler = (ctx) => {
  const blob = parseBlob(ctx.params.required('CiphertextBlob'));
  const context = parseEncryptionContext(ctx.params);
  const key = keyForBlob(ctx, blob);
  assertClientCrypto(ctx, key);
  return {
    Plaintext: openBlob(key, blob, context).toString('utf8'),
    KeyId: key.keyId,
    KeyVersionId: blob.keyVersionId,
  };
};

function dataKey(ctx: ActionContext): { key: KeyRecord; plaintext: string; blob: string } {
  const key = resolveKeyOrAlias(ctx);
  const spec = ctx.params.optional('KeySpec');
  // documented (XFER): an invalid KeySpec is "The specified parameter KeySpec is not valid."
  if (spec !== undefined && spec !== 'AES_256' && spec !== 'AES_128') throw invalidParameter('KeySpec');
  const numberOfBytes = ctx.params.int('NumberOfBytes', { min: 1, max: 1024 });
  // documented: NumberOfBytes wins over KeySpec; neither -> 32 bytes
  const length = numberOfBytes ?? (spec === 'AES_128' ? 16 : 32);
  const context = parseEncryptionContext(ctx.params);
  assertClientCrypto(ctx, key);
  const raw = randomBytes(length);
  // documented (XFER generate_data_key.go): the blob protects the base64 text of the data key,
  // so Decrypt(CiphertextBlob).Plaintext === GenerateDataKey.Plaintext.
  const plaintext = raw.toString('base64');
  raw.fill(0);
  return { key, plaintext, blob: sealBlob(key, Buffer.from(plaintext, 'utf8'), context) };
}

const generateDataKey: ActionHandler = (ctx) => {
  const { key, plaintext, blob } = dataKey(ctx);
  return { CiphertextBlob: blob, Plaintext: plaintext, KeyId: key.keyId, KeyVersionId: key.primaryKeyVersion };
};

const generateDataKeyWithoutPlaintext: ActionHandler = (ctx) => {
  const { key, blob } = dataKey(ctx);
  return { CiphertextBlob: blob, KeyId: key.keyId, KeyVersionId: key.primaryKeyVersion };
};

/** Cryptographic handlers by action name. */
export const cryptoActions: Readonly<Record<string, ActionHandler>> = {
  Encrypt: encrypt,
  Decrypt: decrypt,
  GenerateDataKey: generateDataKey,
  GenerateDataKeyWithoutPlaintext: generateDataKeyWithoutPlaintext,
};
