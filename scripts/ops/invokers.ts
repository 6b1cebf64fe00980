/**
 * Remote invokers for the on-call CLI: call a deployed (or locally hosted) FC function through the
 * FC invoke API with the official client SDKs, and turn every outcome into our own values or coded
 * errors. Configuration comes in as options; this module never reads process.env.
 *
 * FC reports a function's own failure as HTTP 200 with `x-fc-error-type` and a JSON body
 * `{errorMessage, errorType, stackTrace}` (docs/fc-runtime.md §2.2, §6.3): the SDKs resolve normally,
 * so both invokers check the header and throw FunctionFailed themselves.
 */
import { Readable } from 'node:stream';
import OpenApiModule, { Config, OpenApiRequest, Params } from '@alicloud/openapi-client';
import FC from '@alicloud/fc2';
import { redactSecretLike } from '../../shared/audit/guard.js';
import { ErrorCode, OrchestratorError } from '../../shared/errors.js';
import { invokeFunctionParams } from '../../shared/fc/invoke.js';
import type { ErrorDetails } from '../../shared/errors.js';

/** Calls one function with a payload and returns its decoded result. */
export interface Invoker {
  invoke(functionName: string, payload: unknown): Promise<unknown>;
}

/** Credentials of the caller (a RAM user's AK, or STS credentials with a token). */
export interface InvokerCredentials {
  accessKeyId: string;
  accessKeySecret: string;
  securityToken?: string;
}

/**
 * Credentials that may rotate (STS assume-role, ECS RAM role, OIDC): the official
 * @alicloud/credentials client, which openapi-client asks before every request, and a resolver
 * for the clients that take fixed values (fc2: resolved before each invocation).
 */
export interface RotatingInvokerCredentials {
  /** The `@alicloud/credentials` Credential client. */
  client: unknown;
  resolve(): Promise<InvokerCredentials>;
}

function isRotating(c: InvokerCredentials | RotatingInvokerCredentials): c is RotatingInvokerCredentials {
  return typeof (c as RotatingInvokerCredentials).resolve === 'function';
}

/** Options common to both invokers. */
export interface InvokerOptions {
  accountId: string;
  region: string;
  credentials: InvokerCredentials | RotatingInvokerCredentials;
  /**
   * Where to send requests: `http://127.0.0.1:4766` for the local host; default
   * `https://<accountId>.<region>.fc.aliyuncs.com` (FC's data-plane endpoint, §6.7).
   */
  endpoint?: string;
  /** Read timeout; keep it above the function's timeout. Default 120 s. */
  timeoutMs?: number;
}

/** Options of the FC 2.0 invoker: the service that holds the functions. */
export interface Fc2InvokerOptions extends InvokerOptions {
  /** Service used for names without a `$`; `svc$fn` names carry their own (§1.1). */
  serviceName: string;
}

const DEFAULT_TIMEOUT_MS = 120_000;
/** Longest function error message carried in our error (the rest is cut). */
const MAX_MESSAGE = 300;

/**
 * The orchestrator's functions answer JSON; Buffers and strings are sent verbatim, anything else as
 * JSON. `undefined` sends an empty body.
 */
function encodePayload(payload: unknown): Buffer {
  if (payload === undefined) return Buffer.alloc(0);
  if (Buffer.isBuffer(payload)) return payload;
  if (typeof payload === 'string') return Buffer.from(payload, 'utf8');
  return Buffer.from(JSON.stringify(payload), 'utf8');
}

/** JSON when the body parses as JSON, else the UTF-8 text; an empty body is `undefined`. */
function decodeResult(body: Buffer): unknown {
  if (body.length === 0) return undefined;
  const text = body.toString('utf8');
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

/**
 * Makes a function's error message safe to show and log: single line, bounded, with the caller's
 * own secrets and anything the shared secret guard finds secret-looking (shared/audit/guard.ts:
 * wrapped material, tokens) redacted (docs/design.md §5.4).
 */
export function sanitizeFunctionMessage(message: string, secrets: readonly string[] = []): string {
  let out = message;
  for (const s of secrets) if (s.length >= 8) out = out.split(s).join('[redacted]');
  const redacted = redactSecretLike(out).text;
  // biome-ignore lint/suspicious/noControlCharactersInRegex: removing control characters is the point
  out = redacted.replace(/[\u0000-\u001f\u007f]+/g, ' ').trim();
  return out.length > MAX_MESSAGE ? `${out.slice(0, MAX_MESSAGE)}…` : out;
}

function firstHeader(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

function functionFailed(
  functionName: string,
  body: unknown,
  headers: Record<string, string | string[] | undefined>,
  secrets: string[],
): OrchestratorError {
  const b = typeof body === 'object' && body !== null ? (body as Record<string, unknown>) : {};
  const raw =
    typeof b['errorMessage'] === 'string' ? b['errorMessage'] : typeof body === 'string' ? body : 'no error message';
  const requestId = firstHeader(headers['x-fc-request-id']);
  const details: ErrorDetails = {
    functionName,
    fcErrorType: firstHeader(headers['x-fc-error-type']),
    errorType: typeof b['errorType'] === 'string' ? b['errorType'] : undefined,
    ...(requestId === undefined ? {} : { requestId }),
  };
  return new OrchestratorError(
    ErrorCode.FunctionFailed,
    `function ${functionName} failed: ${sanitizeFunctionMessage(raw, secrets)}`,
    { details },
  );
}

/** FC error codes (FC error-code table) -> our codes. */
function fromServiceError(
  functionName: string,
  status: number | undefined,
  fcCode: string | undefined,
  requestId: string | undefined,
): OrchestratorError {
  const details: ErrorDetails = {
    functionName,
    ...(status === undefined ? {} : { httpStatus: status }),
    ...(fcCode === undefined ? {} : { fcCode }),
    ...(requestId === undefined ? {} : { requestId }),
  };
  const what =
    `FC refused the invocation of ${functionName}: ` +
    `${fcCode ?? 'error'}${status === undefined ? '' : ` (HTTP ${status})`}`;
  if (status === 401 || status === 403) return new OrchestratorError(ErrorCode.Unauthenticated, what, { details });
  if (fcCode === 'EntityTooLarge' || status === 413)
    return new OrchestratorError(ErrorCode.PayloadTooLarge, what, { details });
  // The function (or its service/alias) is not deployed under that name: fix the CLI's configuration.
  if (status === 404)
    return new OrchestratorError(ErrorCode.InvalidConfig, what, { details: { ...details, field: 'functionName' } });
  if (status !== undefined && status >= 400 && status < 500 && status !== 429)
    return new OrchestratorError(ErrorCode.InvalidInput, what, { details });
  // 429 / 5xx: FC-side trouble. Not retried here: an invocation is not idempotent in general.
  return new OrchestratorError(ErrorCode.FunctionFailed, what, {
    retryable: true,
    details: { ...details, failure: 'service' },
  });
}

/** A network failure (refused, reset, timed out) before any FC answer. */
function transportError(functionName: string, err: unknown): OrchestratorError {
  const e = err as { code?: unknown; name?: unknown };
  const cause =
    typeof e.code === 'string' && /^[A-Z_]+$/.test(e.code)
      ? e.code
      : typeof e.name === 'string'
        ? e.name
        : 'network error';
  return new OrchestratorError(ErrorCode.FunctionFailed, `could not reach FC to invoke ${functionName}: ${cause}`, {
    retryable: true,
    details: { functionName, failure: 'transport', cause },
  });
}

function defaultEndpoint(o: InvokerOptions): URL {
  return new URL(o.endpoint ?? `https://${o.accountId}.${o.region}.fc.aliyuncs.com`);
}

function secretsOf(c: InvokerCredentials): string[] {
  return [c.accessKeySecret, ...(c.securityToken === undefined ? [] : [c.securityToken])];
}

// @alicloud/openapi-client is CommonJS with `exports.default`: unwrap for ESM loaders that hand
// over module.exports as the default.
const OpenApiClient = ((OpenApiModule as unknown as { default?: typeof OpenApiModule }).default ??
  OpenApiModule) as typeof OpenApiModule;
type CallApiRuntime = Parameters<InstanceType<typeof OpenApiModule>['callApi']>[2];

/**
 * FC 3.0 InvokeFunction (`POST /2023-03-30/functions/<fn>/invocations`, ACS3-HMAC-SHA256) through
 * @alicloud/openapi-client, with the same Params the generated @alicloud/fc20230330 SDK uses
 * (ROA, body as a stream -> application/octet-stream). The default invoker.
 */
export class Fc3Invoker implements Invoker {
  private readonly client: InstanceType<typeof OpenApiModule>;
  private readonly timeoutMs: number;
  private readonly credentials: InvokerCredentials | RotatingInvokerCredentials;

  constructor(options: InvokerOptions) {
    const url = defaultEndpoint(options);
    const c = options.credentials;
    this.client = new OpenApiClient(
      new Config({
        // Rotating credentials: openapi-client asks the official client before every request.
        ...(isRotating(c)
          ? { credential: c.client as Config['credential'] }
          : {
              accessKeyId: c.accessKeyId,
              accessKeySecret: c.accessKeySecret,
              ...(c.securityToken === undefined ? {} : { securityToken: c.securityToken }),
            }),
        endpoint: url.host,
        protocol: url.protocol.replace(':', ''),
        regionId: options.region,
      }),
    );
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.credentials = c;
  }

  /** Invokes synchronously; throws FunctionFailed when the function fails. */
  async invoke(functionName: string, payload: unknown): Promise<unknown> {
    const secrets = secretsOf(isRotating(this.credentials) ? await this.credentials.resolve() : this.credentials);
    const body = encodePayload(payload);
    const params = new Params(invokeFunctionParams(functionName));
    const request = new OpenApiRequest({ headers: { 'x-fc-invocation-type': 'Sync' }, stream: Readable.from([body]) });
    // callApi only reads fields of its runtime argument; a plain object avoids importing the
    // transitive @alicloud/tea-util. No automatic retries: an invocation is not idempotent.
    const runtime = {
      readTimeout: this.timeoutMs,
      connectTimeout: 10_000,
      autoretry: false,
      maxAttempts: 1,
    } as unknown as CallApiRuntime;
    let response: { body: unknown; headers: Record<string, string | string[] | undefined>; statusCode: number };
    try {
      response = (await this.client.callApi(params, request, runtime)) as typeof response;
    } catch (err) {
      const e = err as { data?: { statusCode?: unknown; Code?: unknown; RequestId?: unknown } };
      if (e.data !== undefined && typeof e.data.statusCode === 'number') {
        return Promise.reject(
          fromServiceError(
            functionName,
            e.data.statusCode,
            typeof e.data.Code === 'string' ? e.data.Code : undefined,
            typeof e.data.RequestId === 'string' ? e.data.RequestId : undefined,
          ),
        );
      }
      return Promise.reject(transportError(functionName, err));
    }
    const bytes = Buffer.isBuffer(response.body) ? response.body : Buffer.from(String(response.body ?? ''), 'utf8');
    if (response.headers['x-fc-error-type'] !== undefined)
      throw functionFailed(functionName, decodeResult(bytes), response.headers, secrets);
    return decodeResult(bytes);
  }
}

/**
 * FC 2.0 invoke (`POST /2016-08-15/services/<svc>/functions/<fn>/invocations`, `FC ak:sig`) through
 * @alicloud/fc2. Against real FC 3.0 functions only the legacy `svc$fn` mapping is documented
 * (§1.1, §10); kept for legacy deployments and to test against the local host.
 */
export class Fc2Invoker implements Invoker {
  private readonly options: Fc2InvokerOptions;
  private readonly serviceName: string;
  private cached: { fingerprint: string; client: FC } | undefined;

  constructor(options: Fc2InvokerOptions) {
    this.options = options;
    this.serviceName = options.serviceName;
  }

  /** The fc2 client for the current credentials (fc2 takes fixed values: rebuilt when they rotate). */
  private async clientFor(c: InvokerCredentials): Promise<FC> {
    const fingerprint = `${c.accessKeyId}\u0000${c.accessKeySecret}\u0000${c.securityToken ?? ''}`;
    if (this.cached?.fingerprint !== fingerprint) {
      const url = defaultEndpoint(this.options);
      const client = new FC(this.options.accountId, {
        accessKeyID: c.accessKeyId,
        accessKeySecret: c.accessKeySecret,
        ...(c.securityToken === undefined ? {} : { securityToken: c.securityToken }),
        region: this.options.region,
        endpoint: url.origin,
        timeout: this.options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
      });
      this.cached = { fingerprint, client };
    }
    return this.cached.client;
  }

  /** Invokes synchronously; `svc$fn` names go to service `svc`, others to the configured service. */
  async invoke(functionName: string, payload: unknown): Promise<unknown> {
    const c = isRotating(this.options.credentials)
      ? await this.options.credentials.resolve()
      : this.options.credentials;
    const client = await this.clientFor(c);
    const secrets = secretsOf(c);
    const dollar = functionName.indexOf('$');
    const service = dollar > 0 ? functionName.slice(0, dollar) : this.serviceName;
    const fn = dollar > 0 ? functionName.slice(dollar + 1) : functionName;
    let response: { headers: Record<string, string | string[] | undefined>; data: unknown };
    try {
      response = await client.invokeFunction(
        service,
        fn,
        encodePayload(payload),
        { 'x-fc-invocation-type': 'Sync' },
        undefined,
        { rawBuf: true },
      );
    } catch (err) {
      const e = err as { code?: unknown; message?: unknown; name?: unknown };
      // fc2 throws `FC<ErrorCode>Error` with "... failed with <status>. requestid: <id>, ..." (§6.3).
      const m = typeof e.message === 'string' ? /failed with (\d{3})\. requestid: ([^,\s]*)/.exec(e.message) : null;
      if (m && typeof e.name === 'string' && e.name.startsWith('FC')) {
        const requestId = m[2] === '' || m[2] === 'undefined' ? undefined : m[2];
        return Promise.reject(
          fromServiceError(functionName, Number(m[1]), typeof e.code === 'string' ? e.code : undefined, requestId),
        );
      }
      return Promise.reject(transportError(functionName, err));
    }
    const data = response.data;
    if (response.headers['x-fc-error-type'] !== undefined) {
      // The SDK reads error bodies as text and parses them when they are application/json.
      const body = typeof data === 'string' || Buffer.isBuffer(data) ? decodeResult(Buffer.from(data)) : data;
      throw functionFailed(functionName, body, response.headers, secrets);
    }
    if (Buffer.isBuffer(data)) return decodeResult(data);
    if (typeof data === 'string') return decodeResult(Buffer.from(data, 'utf8'));
    return data;
  }
}
