/**
 * Shared helpers for the emulator integration tests: an official-SDK client, an assertion for
 * KMS errors as SDK v1.2.0 surfaces them, a client-side wrap with node:crypto (independent of the
 * emulator's code), and a raw signed HTTP call built with the SDK's own signer (@alicloud/rpc-util).
 */
import { constants, createPublicKey, publicEncrypt, randomBytes } from 'node:crypto';
import { request } from 'node:http';
import Client, * as $Kms from '@alicloud/kms20160120';
import RPCUtil from '@alicloud/rpc-util';
import { expect } from 'vitest';
import type { EmulatorCredential, KmsEmulator } from '@byok/kms-emulator';

export { $Kms };

/** Default credential of the emulator (packages/kms-emulator/src/index.ts DEFAULT_CREDENTIAL). */
export const LOCAL: EmulatorCredential = { accessKeyId: 'local-ak', accessKeySecret: 'local-secret' };

/** The official client pointed at the emulator exactly as the README says. */
export function sdkClient(emu: KmsEmulator, credential: EmulatorCredential = LOCAL): Client {
  return new Client({
    accessKeyId: credential.accessKeyId,
    accessKeySecret: credential.accessKeySecret,
    ...(credential.securityToken === undefined ? {} : { securityToken: credential.securityToken }),
    endpoint: emu.endpoint,
    protocol: 'http',
    regionId: 'cn-hangzhou',
  } as ConstructorParameters<typeof Client>[0]);
}

/** Shape of the error SDK v1.2.0 throws for a 4xx/5xx (docs/kms-api.md §1.9). */
interface SdkError {
  message: string;
  code: string;
  data?: Record<string, unknown>;
}

/** Awaits `promise`, expects it to fail with KMS `code` and HTTP `status`; returns the body. */
export async function expectKmsError(
  promise: Promise<unknown>,
  code: string,
  status: number,
): Promise<Record<string, unknown>> {
  let caught: unknown;
  try {
    await promise;
  } catch (err) {
    caught = err;
  }
  expect(caught, `expected ${code}`).toBeDefined();
  const err = caught as SdkError;
  expect(err.data?.['Code']).toBe(code);
  expect(err.message).toContain(`code: ${status},`);
  expect(err.code).toBe(`${code}Error`);
  return err.data!;
}

/** Lower-case UUID v4-like request ids (docs/kms-api.md §1.7). */
export const REQUEST_ID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Client-side wrap of raw material under the GetParametersForImport public key (node:crypto). */
export function wrapMaterial(
  publicKeyBase64: string,
  material: Buffer,
  algorithm: 'RSAES_OAEP_SHA_256' | 'RSAES_OAEP_SHA_1' | 'RSAES_PKCS1_V1_5' = 'RSAES_OAEP_SHA_256',
): string {
  const key = createPublicKey({ key: Buffer.from(publicKeyBase64, 'base64'), format: 'der', type: 'spki' });
  const padding = algorithm === 'RSAES_PKCS1_V1_5' ? constants.RSA_PKCS1_PADDING : constants.RSA_PKCS1_OAEP_PADDING;
  const oaepHash = algorithm === 'RSAES_OAEP_SHA_1' ? 'sha1' : 'sha256';
  return publicEncrypt({ key, padding, oaepHash }, material).toString('base64');
}

/** Creates an EXTERNAL key, imports `material` (fresh random by default) and returns both. */
export async function externalKeyWithMaterial(
  client: Client,
  options: { material?: Buffer; expireUnix?: number } = {},
): Promise<{ keyId: string; material: Buffer; keyVersionId: string }> {
  const created = await client.createKey(new $Kms.CreateKeyRequest({ origin: 'EXTERNAL' }));
  const keyId = created.keyMetadata.keyId;
  const material = options.material ?? randomBytes(32);
  await importInto(client, keyId, material, options.expireUnix ?? 0);
  return { keyId, material, keyVersionId: created.keyMetadata.primaryKeyVersion };
}

/** Import parameters per key: tokens are reusable for 24 h (documented), RSA keygen is slow. */
const paramsCache = new WeakMap<Client, Map<string, { importToken: string; publicKey: string }>>();

/** GetParametersForImport (cached per key) + wrap + ImportKeyMaterial; refetches once on ExpiredImportToken. */
export async function importInto(client: Client, keyId: string, material: Buffer, expireUnix = 0): Promise<void> {
  let cache = paramsCache.get(client);
  if (cache === undefined) {
    cache = new Map();
    paramsCache.set(client, cache);
  }
  for (let attempt = 0; ; attempt += 1) {
    let p = cache.get(keyId);
    if (p === undefined) {
      p = await client.getParametersForImport(
        new $Kms.GetParametersForImportRequest({
          keyId,
          wrappingAlgorithm: 'RSAES_OAEP_SHA_256',
          wrappingKeySpec: 'RSA_2048',
        }),
      );
      cache.set(keyId, { importToken: p.importToken, publicKey: p.publicKey });
    }
    try {
      await client.importKeyMaterial(
        new $Kms.ImportKeyMaterialRequest({
          keyId,
          importToken: p.importToken,
          encryptedKeyMaterial: wrapMaterial(p.publicKey, material),
          keyMaterialExpireUnix: expireUnix,
        }),
      );
      return;
    } catch (err) {
      const code = (err as SdkError).data?.['Code'];
      if (attempt > 0 || code !== 'ExpiredImportToken') throw err;
      cache.delete(keyId);
    }
  }
}

/** Result of a raw HTTP call. */
export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Record<string, unknown>;
  text: string;
}

/** Common parameters the SDK adds (docs/kms-api.md §1.1), overridable per test. */
export function commonParams(action: string, accessKeyId = LOCAL.accessKeyId): Record<string, string> {
  return {
    Action: action,
    Format: 'json',
    Timestamp: RPCUtil.getTimestamp(),
    Version: '2016-01-20',
    SignatureNonce: randomBytes(16).toString('hex'),
    SignatureMethod: 'HMAC-SHA1',
    SignatureVersion: '1.0',
    AccessKeyId: accessKeyId,
  };
}

/** Signs `query` ∪ `form` with the SDK's own signer (RPCUtil.getSignatureV1). */
export function signParams(
  method: string,
  query: Record<string, string>,
  form: Record<string, string> = {},
  secret = LOCAL.accessKeySecret,
): Record<string, string> {
  return { ...query, Signature: RPCUtil.getSignatureV1({ ...query, ...form }, method, secret) };
}

/** Sends a raw request; `form` goes into an x-www-form-urlencoded body. */
export function rawCall(
  emu: KmsEmulator,
  options: {
    method?: string;
    path?: string;
    query?: Record<string, string>;
    form?: Record<string, string>;
    json?: unknown;
  },
): Promise<RawResponse> {
  const method = options.method ?? 'POST';
  const qs = new URLSearchParams(options.query ?? {}).toString();
  const path = `${options.path ?? '/'}${qs === '' ? '' : `?${qs}`}`;
  let payload: Buffer | undefined;
  const headers: Record<string, string | number> = {};
  if (options.form !== undefined) {
    payload = Buffer.from(new URLSearchParams(options.form).toString());
    headers['content-type'] = 'application/x-www-form-urlencoded';
  } else if (options.json !== undefined) {
    payload = Buffer.from(typeof options.json === 'string' ? options.json : JSON.stringify(options.json));
    headers['content-type'] = 'application/json';
  }
  if (payload !== undefined) headers['content-length'] = payload.length;
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: emu.port, method, path, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let body: Record<string, unknown> = {};
        try {
          body = JSON.parse(text) as Record<string, unknown>;
        } catch {
          // left empty; tests assert on `text` when they expect non-JSON
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body, text });
      });
    });
    req.on('error', reject);
    if (payload !== undefined) req.write(payload);
    req.end();
  });
}

/** A signed raw API call (query-string style, like the SDK). */
export function signedCall(
  emu: KmsEmulator,
  action: string,
  params: Record<string, string> = {},
  options: { secret?: string; method?: string; accessKeyId?: string } = {},
): Promise<RawResponse> {
  const method = options.method ?? 'POST';
  const query = signParams(method, { ...commonParams(action, options.accessKeyId), ...params }, {}, options.secret);
  return rawCall(emu, { method, query });
}
