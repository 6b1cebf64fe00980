/**
 * EXTERNAL key material: GetParametersForImport, ImportKeyMaterial, DeleteKeyMaterial
 * (docs/kms-api.md §2.4-§2.6, §3.2). The emulator really unwraps the material (wrapping-keys.ts) and
 * enforces the same-material rule with a keyed fingerprint (HMAC-SHA256 under a per-emulator
 * secret, never a plain hash).
 */
import { randomBytes } from 'node:crypto';
import { isoSeconds } from '../clock.js';
import { UnwrapError, invalidParameter, kmsError } from '../errors.js';
import { EmulatorStore, KeyState } from '../store.js';
import type { KeyRecord } from '../store.js';
import { unwrapKeyMaterial, wrappingKeyPairFor } from '../wrapping-keys.js';
import { KeyOp, SYMMETRIC_SPECS, assertKeyUsable, resolveKeyIdOnly } from './context.js';
import type { ActionContext, ActionHandler } from './context.js';

/** Import tokens are valid 24 h (documented: DOCS21, W-GPI). */
export const IMPORT_TOKEN_TTL_SECONDS = 24 * 3600;

/** Allowed WrappingAlgorithm per WrappingKeySpec (documented: W-GPI). */
const WRAPPING: Readonly<Record<'RSA_2048' | 'EC_SM2', readonly string[]>> = {
  RSA_2048: ['RSAES_PKCS1_V1_5', 'RSAES_OAEP_SHA_1', 'RSAES_OAEP_SHA_256'],
  EC_SM2: ['SM2PKE'],
};

function requireExternal(key: KeyRecord): void {
  // inferred: the error for a non-EXTERNAL key is undocumented; Unsupported.Origin fits (§2.4).
  if (key.origin !== 'EXTERNAL') throw kmsError('Unsupported.Origin');
}

const getParametersForImport: ActionHandler = (ctx) => {
  const algorithm = ctx.params.required('WrappingAlgorithm');
  const spec = ctx.params.required('WrappingKeySpec');
  const key = resolveKeyIdOnly(ctx);
  requireExternal(key);
  if (spec !== 'RSA_2048' && spec !== 'EC_SM2') throw invalidParameter('WrappingKeySpec');
  if (!WRAPPING[spec].includes(algorithm))
    throw invalidParameter('WrappingAlgorithm', `It is not supported with ${spec}.`);
  if (spec === 'EC_SM2' && key.protectionLevel !== 'HSM') {
    // documented (W-GPI): EC_SM2/SM2PKE only for ProtectionLevel=HSM keys
    throw invalidParameter('WrappingKeySpec', 'EC_SM2 requires a key with ProtectionLevel HSM.');
  }
  // documented (STATE): every key state; an expired instance still refuses (Rejected.Unavailable)
  assertKeyUsable(ctx, key, KeyOp.Always);
  // documented (W-GPI): every call returns a fresh key pair and token bound to this CMK. The emulator
  // hands out RSA pairs from a small per-process pool (keygen is slow); the token is always fresh.
  const pair = wrappingKeyPairFor(spec);
  const token = randomBytes(96).toString('base64'); // opaque; only its SHA-256 is stored
  const expiresUnix = ctx.nowUnix + IMPORT_TOKEN_TTL_SECONDS;
  ctx.store.importTokens.set(EmulatorStore.tokenHash(token), {
    tokenHash: EmulatorStore.tokenHash(token),
    keyId: key.keyId,
    wrappingAlgorithm: algorithm,
    wrappingKeySpec: spec,
    privateKey: pair.privateKey,
    issuedUnix: ctx.nowUnix,
    expiresUnix,
  });
  ctx.store.markDirty();
  return {
    KeyId: key.keyId,
    ImportToken: token,
    PublicKey: pair.publicKeyBase64,
    TokenExpireTime: isoSeconds(expiresUnix),
  };
};

/**
 * `KeyMaterialExpireUnix`: absent, empty or 0 -> never (0); otherwise whole Unix seconds strictly
 * after the emulator's now (documented: "must not be earlier than now"; equal is refused too,
 * because the material would expire immediately — inferred).
 */
export function parseMaterialExpiry(text: string | undefined, nowUnix: number): number {
  if (text === undefined || text === '' || text === '0') return 0;
  if (!/^\d{1,12}$/.test(text)) throw invalidParameter('KeyMaterialExpireUnix', 'It must be Unix seconds.');
  const unix = Number(text);
  if (unix === 0) return 0;
  if (unix <= nowUnix) throw invalidParameter('KeyMaterialExpireUnix', 'It must be later than the current time.');
  return unix;
}

const importKeyMaterial: ActionHandler = (ctx) => {
  const encrypted = ctx.params.required('EncryptedKeyMaterial');
  const token = ctx.params.required('ImportToken');
  const expireUnix = parseMaterialExpiry(ctx.params.get('KeyMaterialExpireUnix'), ctx.nowUnix);
  const key = resolveKeyIdOnly(ctx);
  requireExternal(key);
  assertKeyUsable(ctx, key, KeyOp.ImportMaterial); // PendingDeletion -> Rejected.StateModifiedFailed
  const record = ctx.store.importTokens.get(EmulatorStore.tokenHash(token));
  // inferred mapping (§2.5): unknown token or a token issued for another CMK -> InvalidImportToken
  if (record === undefined || record.keyId !== key.keyId) throw kmsError('InvalidImportToken');
  if (ctx.nowUnix >= record.expiresUnix || record.privateKey === null) throw kmsError('ExpiredImportToken');
  const material = unwrap(record.privateKey, record.wrappingAlgorithm, encrypted);
  try {
    // documented: AES_256 material is 32 bytes, SM4 16 bytes
    if (material.length !== SYMMETRIC_SPECS[key.keySpec]) throw kmsError('InvalidKeyMaterial');
    const fingerprint = ctx.store.fingerprint(material);
    // documented: the first import binds the material to the CMK forever
    if (key.boundFingerprint !== null && !EmulatorStore.sameFingerprint(key.boundFingerprint, fingerprint)) {
      throw kmsError('InvalidKeyMaterial');
    }
    key.boundFingerprint = fingerprint;
    key.material = material.toString('base64');
  } finally {
    material.fill(0);
  }
  // documented: re-importing the same material resets the expiry; 0 -> never expires
  key.materialExpireUnix = expireUnix;
  ctx.store.watchKey(key.keyId);
  // documented: PendingImport -> Enabled after import; Enabled/Disabled keep their state (inferred)
  if (key.state === KeyState.PendingImport) key.state = KeyState.Enabled;
  ctx.store.markDirty();
  return {};
};

function unwrap(privateKey: Parameters<typeof unwrapKeyMaterial>[0], algorithm: string, encrypted: string): Buffer {
  try {
    return unwrapKeyMaterial(privateKey, algorithm, encrypted);
  } catch (err) {
    // wrapping-keys.ts raises an UnwrapError for every unwrap failure (bad base64, padding…)
    if (err instanceof UnwrapError) throw kmsError('InvalidKeyMaterial');
    throw err;
  }
}

const deleteKeyMaterial: ActionHandler = (ctx: ActionContext) => {
  const key = resolveKeyIdOnly(ctx);
  requireExternal(key);
  // documented (STATE): every key state; an expired instance still refuses (Rejected.Unavailable)
  assertKeyUsable(ctx, key, KeyOp.Always);
  key.material = null;
  key.materialExpireUnix = 0;
  // documented: PendingDeletion keeps its state and DeleteDate; anything else -> PendingImport
  if (key.state !== KeyState.PendingDeletion) key.state = KeyState.PendingImport;
  ctx.store.markDirty();
  return {};
};

/** Import handlers by action name. */
export const importActions: Readonly<Record<string, ActionHandler>> = {
  GetParametersForImport: getParametersForImport,
  ImportKeyMaterial: importKeyMaterial,
  DeleteKeyMaterial: deleteKeyMaterial,
};
