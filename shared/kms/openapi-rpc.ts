/**
 * Generic KMS RPC calls through @alicloud/openapi-client, for what the official
 * @alicloud/kms20160120 1.2.0 client cannot say: it has no `DKMSInstanceId` on CreateKey or
 * CreateSecret, its response models drop `KeyMetadata.DKMSInstanceId`, and it has no
 * GetKmsInstance / GetDefaultKmsInstance (docs/kms-3-instances.md). Only
 * alicloud-adapter.ts uses this file; nothing else in the product sees either SDK.
 *
 * `callApi` with RPC style and no `signatureAlgorithm` signs with ACS3-HMAC-SHA256 (signature V3:
 * action in `x-acs-action`, parameters in the query). Errors are thrown in the same shape as the
 * KMS client's (`err.data.Code`, `code: <status>,` in the message), so mapSdkError handles both.
 */
import OpenApiModule, { type Config, OpenApiRequest, Params } from '@alicloud/openapi-client';
import type { KmsCredentials } from './alicloud-adapter.js';
import { plainConfig, sdkCredential } from './static-credential.js';

// CommonJS with `exports.default`: unwrap for loaders that hand over module.exports as the default.
const OpenApiClient = ((OpenApiModule as unknown as { default?: typeof OpenApiModule }).default ??
  OpenApiModule) as typeof OpenApiModule;
type CallApiRuntime = Parameters<InstanceType<typeof OpenApiModule>['callApi']>[2];

/** How to reach KMS; same meaning as the KMS client's options. */
export interface KmsRpcOptions {
  credentials: KmsCredentials;
  /** host[:port], no scheme. */
  endpoint: string;
  protocol: 'http' | 'https';
  regionId: string;
  readTimeoutMs: number;
  connectTimeoutMs: number;
}

/** One KMS action with flat string parameters; resolves to the parsed JSON body. */
export type KmsRpcCall = (
  action: string,
  params: Record<string, string | undefined>,
) => Promise<Record<string, unknown>>;

/** Builds a caller bound to one set of credentials (rebuild it when they rotate). */
export function createKmsRpc(options: KmsRpcOptions): KmsRpcCall {
  const client = new OpenApiClient(
    // A credential object and a plain config: an access key, or the Config model, would make the
    // client load @alicloud/credentials (static-credential.ts).
    plainConfig<Config>({
      credential: sdkCredential(options.credentials),
      endpoint: options.endpoint,
      protocol: options.protocol,
      regionId: options.regionId,
    }),
  );
  // Retries happen in resilience.ts, never inside the client (CreateKey must not be repeated blindly).
  const runtime = {
    readTimeout: options.readTimeoutMs,
    connectTimeout: options.connectTimeoutMs,
    autoretry: false,
    maxAttempts: 1,
  } as unknown as CallApiRuntime;
  return async (action, params) => {
    const query: Record<string, string> = {};
    for (const [k, v] of Object.entries(params)) if (v !== undefined) query[k] = v;
    const response = (await client.callApi(
      new Params({
        action,
        version: '2016-01-20',
        protocol: options.protocol.toUpperCase(),
        pathname: '/',
        method: 'POST',
        authType: 'AK',
        style: 'RPC',
        reqBodyType: 'formData',
        bodyType: 'json',
      }),
      new OpenApiRequest({ query }),
      runtime,
    )) as { body?: unknown };
    const body = response.body;
    return typeof body === 'object' && body !== null ? (body as Record<string, unknown>) : {};
  };
}
