/**
 * Asynchronous invocation of a function through the FC 3.0 InvokeFunction API
 * (`POST /2023-03-30/functions/<fn>/invocations`, ACS3-HMAC-SHA256, header
 * `x-fc-invocation-type: Async`; docs/fc-runtime.md §6.7, §11), with @alicloud/openapi-client as the
 * on-call CLI's FC 3.0 invoker uses it. Why not @alicloud/fc2: it speaks only the FC 2.0 API, which
 * cannot be shown to reach a function deployed by `fc3` (§1.1); the local host serves both.
 *
 * Only the sweep's coordinator needs this, so only the sweep bundle contains it, and the client is
 * loaded on first use (a sweep that does not shard never loads it: no cold-start cost).
 * FC answers an accepted async invocation with 202 and queues it; FC retries a failed async
 * invocation (up to 3 times by default) and can route its result to a destination (§11).
 */
import { Readable } from 'node:stream';
import { ErrorCode, OrchestratorError } from '../errors.js';
import type { KmsCredentials } from '../kms/alicloud-adapter.js';
import { plainConfig, sdkCredential } from '../kms/static-credential.js';

/** Queues one invocation of a function; resolves once FC accepted it. */
export interface AsyncInvoker {
  invokeAsync(functionName: string, payload: string): Promise<{ requestId?: string }>;
}

/** Where a function reaches the FC API: `BYOK_FC_ENDPOINT` (the local host), else FC's data-plane endpoint. */
export function fcInvokeEndpoint(override: string | undefined, accountId: string, region: string): URL {
  return new URL(override ?? `https://${accountId}.${region}.fc.aliyuncs.com`);
}

/**
 * The FC 3.0 InvokeFunction call as @alicloud/openapi-client's `Params` fields (ROA, signature V3,
 * body as bytes); the CLI's synchronous invoker (scripts/ops/invokers.ts) sends the same call.
 */
export function invokeFunctionParams(functionName: string) {
  return {
    action: 'InvokeFunction',
    version: '2023-03-30',
    protocol: 'HTTPS', // the client's configured protocol takes precedence
    pathname: `/2023-03-30/functions/${encodeURIComponent(functionName)}/invocations`,
    method: 'POST',
    authType: 'AK',
    style: 'ROA',
    reqBodyType: 'json',
    bodyType: 'byte',
  };
}

type OpenApiModule = typeof import('@alicloud/openapi-client');
/** The parts of @alicloud/openapi-client used here. */
interface OpenApiParts {
  Client: OpenApiModule['default'];
  Config: OpenApiModule['Config'];
  Params: OpenApiModule['Params'];
  OpenApiRequest: OpenApiModule['OpenApiRequest'];
}

let loaded: Promise<OpenApiParts> | undefined;
/**
 * The client module, loaded once on first use. It is CommonJS with `exports.default`: an esbuild
 * bundle hands over the exports (default = the client class), Node's ESM loader (tests) the whole
 * `module.exports` as default.
 */
function openApi(): Promise<OpenApiParts> {
  loaded ??= import('@alicloud/openapi-client').then((m) => {
    const root = (typeof m.default === 'function' ? m : (m.default as unknown as OpenApiModule)) as OpenApiModule;
    return { Client: root.default, Config: root.Config, Params: root.Params, OpenApiRequest: root.OpenApiRequest };
  });
  return loaded;
}

/** The FC 3.0 async invoker; `credentials` is read before every call (FC rotates the role's STS credentials). */
export function createFcAsyncInvoker(options: {
  endpoint: URL;
  region: string;
  credentials: () => KmsCredentials;
  /** Connect / read timeout of the invoke call, ms (an async invoke answers at once). Default 10 s. */
  timeoutMs?: number;
}): AsyncInvoker {
  const timeoutMs = options.timeoutMs ?? 10_000;
  return {
    async invokeAsync(functionName, payload) {
      const m = await openApi();
      const c = options.credentials();
      const client = new m.Client(
        // A credential object and a plain config: an access key, or the Config model, would make the
        // client load @alicloud/credentials (static-credential.ts).
        plainConfig<InstanceType<OpenApiParts['Config']>>({
          credential: sdkCredential(c),
          endpoint: options.endpoint.host,
          protocol: options.endpoint.protocol.replace(':', ''),
          regionId: options.region,
        }),
      );
      const params = new m.Params(invokeFunctionParams(functionName));
      const request = new m.OpenApiRequest({
        headers: { 'x-fc-invocation-type': 'Async' },
        stream: Readable.from([Buffer.from(payload, 'utf8')]),
      });
      // No automatic retries: an invocation is not idempotent (a repeat is harmless here, but is FC's to do).
      const runtime = { readTimeout: timeoutMs, connectTimeout: timeoutMs, autoretry: false, maxAttempts: 1 };
      try {
        const res = (await client.callApi(params, request, runtime as never)) as {
          headers?: Record<string, string | string[] | undefined>;
        };
        const id = res.headers?.['x-fc-request-id'];
        return Array.isArray(id) ? { requestId: id[0] } : id === undefined ? {} : { requestId: id };
      } catch (err) {
        const e = err as { data?: { statusCode?: unknown; Code?: unknown }; code?: unknown };
        const status = typeof e.data?.statusCode === 'number' ? e.data.statusCode : undefined;
        const fcCode = typeof e.data?.Code === 'string' ? e.data.Code : typeof e.code === 'string' ? e.code : undefined;
        throw new OrchestratorError(
          ErrorCode.FunctionFailed,
          `FC did not accept the async invocation of ${functionName}: ${fcCode ?? 'error'}` +
            `${status === undefined ? '' : ` (HTTP ${status})`}`,
          {
            retryable: status === undefined || status === 429 || status >= 500,
            details: {
              functionName,
              ...(status === undefined ? {} : { httpStatus: status }),
              ...(fcCode ? { fcCode } : {}),
            },
          },
        );
      }
    },
  };
}
