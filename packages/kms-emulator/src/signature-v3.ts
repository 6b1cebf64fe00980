/**
 * Alibaba Cloud signature V3 (`ACS3-HMAC-SHA256`), the scheme @alicloud/openapi-client 0.4.x
 * `callApi` uses for RPC-style calls when no `signatureAlgorithm` is configured (the V1 path in
 * protocol.ts / signature.ts serves the official @alicloud/kms20160120 client).
 *
 * Spec: "Request syntax and signature method V3",
 * https://www.alibabacloud.com/help/en/sdk/product-overview/v3-request-structure-and-signature
 * (zh: https://help.aliyun.com/document_detail/2593177.html), cross-checked against what the SDK
 * actually runs: @alicloud/openapi-client 0.4.15 `doRequest` and @alicloud/openapi-util 0.3.3
 * `getAuthorization`.
 *
 * What the SDK sends for `style: 'RPC'`:
 * - `POST /?<OpenApiRequest.query, querystring.stringify>`; a form body (`content-type:
 *   application/x-www-form-urlencoded`) only when `OpenApiRequest.body` is set;
 * - headers `host`, `x-acs-action`, `x-acs-version`, `x-acs-date` (`yyyy-MM-ddTHH:mm:ssZ`),
 *   `x-acs-signature-nonce`, `x-acs-content-sha256` (hex SHA-256 of the body, of '' when empty),
 *   `x-acs-credentials-provider`, with STS also `x-acs-accesskey-id` and `x-acs-security-token`;
 * - `Authorization: ACS3-HMAC-SHA256 Credential=<AK>,SignedHeaders=<h1;h2;…>,Signature=<hex>`,
 *   signing `host`, `content-type` (when present) and every `x-acs-*` header.
 *
 *   CanonicalRequest = METHOD \n CanonicalURI \n CanonicalQueryString \n CanonicalHeaders \n
 *                      SignedHeaders \n HashedRequestPayload
 *   StringToSign     = "ACS3-HMAC-SHA256\n" + hex(SHA-256(CanonicalRequest))
 *   Signature        = hex(HMAC-SHA256(AccessKeySecret, StringToSign))
 *
 * The server rebuilds the canonical request from what arrived (decoded query re-encoded with the
 * RFC 3986 rules, the headers named in SignedHeaders) and never trusts client-supplied canonical
 * text. Errors are the V1 path's (errors.ts), in the same envelopes.
 */
import { createHash, createHmac } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { kmsError, missingParameter } from './errors.js';
import type { Authenticated, EmulatorCredential, NonceCache, VerifyOptions } from './protocol.js';
import { constantTimeEqual, percentEncode } from './signature.js';

/** The only V3 algorithm the emulator verifies (ACS3-HMAC-SM3 / ACS3-RSA-SHA256 are refused). */
export const ACS3_HMAC_SHA256 = 'ACS3-HMAC-SHA256';

/** The parsed `Authorization` header of a V3 request. */
export interface Acs3Authorization {
  accessKeyId: string;
  /** As sent: lower-case, sorted, `;`-separated in the header. */
  signedHeaders: string[];
  /** Lower-case hex. */
  signature: string;
}

/** Everything V3 verification needs from one HTTP request. */
export interface Acs3Request {
  method: string;
  /** Path and query exactly as received (`req.url`). */
  rawUrl: string;
  /** Lower-case header names -> every value received (`req.headersDistinct`). */
  headers: Readonly<Record<string, readonly string[] | undefined>>;
  body: Buffer;
}

/** The parts of the canonical request, as the server rebuilds them. */
export interface Acs3CanonicalParts {
  method: string;
  /** Raw path (percent-encoded as received), without the query. */
  rawPath: string;
  /** Raw query string without `?`. */
  rawQuery: string;
  headers: Readonly<Record<string, readonly string[] | undefined>>;
  signedHeaders: readonly string[];
  hashedPayload: string;
}

/** True for an `Authorization` value that selects the V3 path. */
export function isAcs3Authorization(value: string | undefined): boolean {
  return value?.startsWith('ACS3-') === true;
}

/** A header name as RFC 9110 `token`, lower case (what SignedHeaders may list). */
const SIGNED_HEADER_NAME = /^[a-z0-9!#$%&'*+.^_`|~-]+$/;

/** Parses `ACS3-HMAC-SHA256 Credential=<AK>,SignedHeaders=<a;b>,Signature=<hex>`; IncompleteSignature otherwise. */
export function parseAcs3Authorization(value: string): Acs3Authorization {
  const space = value.indexOf(' ');
  const algorithm = space < 0 ? value : value.slice(0, space);
  if (algorithm !== ACS3_HMAC_SHA256) {
    throw kmsError(
      'IncompleteSignature',
      `The signature algorithm "${algorithm.slice(0, 32)}" is not supported; use ${ACS3_HMAC_SHA256}.`,
    );
  }
  const fields = new Map<string, string>();
  for (const part of value.slice(space + 1).split(',')) {
    const eq = part.indexOf('=');
    const name = eq < 0 ? '' : part.slice(0, eq).trim();
    if (!['Credential', 'SignedHeaders', 'Signature'].includes(name) || fields.has(name)) {
      throw kmsError(
        'IncompleteSignature',
        'The Authorization header must be "ACS3-HMAC-SHA256 Credential=..,SignedHeaders=..,Signature=..".',
      );
    }
    fields.set(name, part.slice(eq + 1).trim());
  }
  const accessKeyId = fields.get('Credential') ?? '';
  const signedHeadersText = fields.get('SignedHeaders') ?? '';
  const signature = fields.get('Signature') ?? '';
  if (accessKeyId === '' || signedHeadersText === '' || !/^[0-9a-fA-F]{64}$/.test(signature)) {
    throw kmsError(
      'IncompleteSignature',
      'The Authorization header needs a Credential, SignedHeaders and a 64-digit hex Signature.',
    );
  }
  const signedHeaders = signedHeadersText.split(';');
  for (let i = 0; i < signedHeaders.length; i += 1) {
    const name = signedHeaders[i]!;
    if (!SIGNED_HEADER_NAME.test(name) || (i > 0 && name <= signedHeaders[i - 1]!)) {
      throw kmsError(
        'IncompleteSignature',
        'SignedHeaders must list lower-case header names, sorted and without repeats.',
      );
    }
  }
  return { accessKeyId, signedHeaders, signature: signature.toLowerCase() };
}

/** Hex SHA-256 (HashedRequestPayload, and the hash inside StringToSign). */
export function sha256Hex(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/** CanonicalURI: each path segment decoded, then RFC 3986-encoded (for RPC always `/`). */
export function acs3CanonicalUri(rawPath: string): string {
  return (rawPath === '' ? '/' : rawPath)
    .split('/')
    .map((segment) => percentEncode(decodeURIComponent(segment)))
    .join('/');
}

/**
 * CanonicalQueryString: decoded names and values RFC 3986-encoded (space `%20`, `*` `%2A`, `~`
 * literal), sorted by encoded name (then value), `name=value` joined by `&`, `name=` for an empty
 * value. The doc encodes names too; openapi-util 0.3.3 leaves names raw, which is the same for
 * every name made of `A-Z a-z 0-9 - _ . ~` (all KMS parameter names).
 */
export function acs3CanonicalQueryString(rawQuery: string): string {
  const pairs = [...new URLSearchParams(rawQuery)].map(
    ([name, value]) => [percentEncode(name), percentEncode(value)] as const,
  );
  pairs.sort(([a, x], [b, y]) => (a < b ? -1 : a > b ? 1 : x < y ? -1 : x > y ? 1 : 0));
  return pairs.map(([name, value]) => `${name}=${value}`).join('&');
}

/**
 * CanonicalHeaders: `name:value\n` per signed header in order; values trimmed (several: sorted, `,`-joined, as the SDK
 * does).
 */
export function acs3CanonicalHeaders(
  headers: Readonly<Record<string, readonly string[] | undefined>>,
  signedHeaders: readonly string[],
): string {
  return signedHeaders
    .map(
      (name) =>
        `${name}:${[...(headers[name] ?? [])]
          .map((v) => v.trim())
          .sort()
          .join(',')}\n`,
    )
    .join('');
}

/** The canonical request (see the file comment). */
export function acs3CanonicalRequest(parts: Acs3CanonicalParts): string {
  return [
    parts.method.toUpperCase(),
    acs3CanonicalUri(parts.rawPath),
    acs3CanonicalQueryString(parts.rawQuery),
    acs3CanonicalHeaders(parts.headers, parts.signedHeaders),
    parts.signedHeaders.join(';'),
    parts.hashedPayload,
  ].join('\n');
}

/** `ACS3-HMAC-SHA256\n` + hex(SHA-256(canonicalRequest)). */
export function acs3StringToSign(canonicalRequest: string): string {
  return `${ACS3_HMAC_SHA256}\n${sha256Hex(Buffer.from(canonicalRequest, 'utf8'))}`;
}

/** hex(HMAC-SHA256(secret, stringToSign)); the key is the secret itself (no `&`, unlike V1). */
export function acs3Signature(accessKeySecret: string, stringToSign: string): string {
  return createHmac('sha256', accessKeySecret).update(stringToSign, 'utf8').digest('hex');
}

/** The V3 view of a request when its `Authorization` selects signature V3, else undefined. */
export function acs3RequestOf(req: IncomingMessage, body: Buffer): Acs3Request | undefined {
  if (!isAcs3Authorization(req.headers.authorization)) return undefined;
  return { method: req.method ?? '', rawUrl: req.url ?? '/', headers: req.headersDistinct, body };
}

// ---------------------------------------------------------------------------------------------
// Verification
// ---------------------------------------------------------------------------------------------

/** What protocol.ts hands over (the V1 path's credential store, switches, nonce cache, clock, window). */
export interface Acs3VerifyContext {
  credentials: ReadonlyMap<string, EmulatorCredential>;
  options: VerifyOptions;
  nonces: NonceCache;
  /** Same clock as V1: the REAL wall clock (the SDK stamps requests with real time). */
  realNowMs: number;
  timestampWindowMs: number;
  /** Query parameters whose values are redacted from SignatureDoesNotMatch messages. */
  sensitiveParams: ReadonlySet<string>;
}

/** Headers whose repetition makes the signed set ambiguous. */
function isSingleValued(name: string): boolean {
  return name.startsWith('x-acs-') || name === 'host' || name === 'content-type' || name === 'authorization';
}

/** Same format rule as V1's `Timestamp` (fractions tolerated). */
const ISO_8601_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$/;

/** The SDK's version pin, as V1 requires it. */
const API_VERSION = '2016-01-20';

/** STS actions the emulator answers besides KMS (actions/sts.ts), with their own API version. */
const STS_ACTIONS = new Set(['GetCallerIdentity']);

/** The API version an action is called with: STS 2015-04-01 for STS actions, else KMS 2016-01-20. */
export function apiVersionOf(action: string): string {
  return STS_ACTIONS.has(action) ? '2015-04-01' : API_VERSION;
}

/**
 * Verifies a V3 request: Authorization format, required headers, SignedHeaders coverage (host,
 * content-type when present, every x-acs-* header), x-acs-date window, access key, payload hash
 * against the actual body, signature (constant time), STS token, nonce, version. Throws the same
 * KMS errors as the V1 path. Action and version come from x-acs-action / x-acs-version; the
 * action parameters are `params` (query ∪ form body, decoded by protocol.ts).
 */
export function authenticateAcs3(
  request: Acs3Request,
  params: ReadonlyMap<string, string>,
  ctx: Acs3VerifyContext,
): Authenticated {
  for (const [name, values] of Object.entries(request.headers)) {
    if (values !== undefined && values.length > 1 && isSingleValued(name)) {
      throw kmsError('IncompleteSignature', `The header "${name}" is sent more than once.`);
    }
  }
  const header = (name: string): string | undefined => request.headers[name]?.[0];
  const auth = parseAcs3Authorization(header('authorization') ?? '');

  const action = header('x-acs-action');
  const version = header('x-acs-version');
  const nonce = header('x-acs-signature-nonce');
  const payloadHash = header('x-acs-content-sha256');
  for (const [name, value] of [
    ['x-acs-action', action],
    ['x-acs-version', version],
    ['x-acs-signature-nonce', nonce],
    ['x-acs-content-sha256', payloadHash],
  ] as const) {
    if (value === undefined || value === '') throw missingParameter(name);
  }
  const date = header('x-acs-date');
  if (date === undefined || date === '') {
    throw kmsError(
      'IllegalTimestamp',
      'The input parameter "x-acs-date" that is required for processing this request is not supplied.',
    );
  }
  const dateMs = ISO_8601_UTC.test(date) ? Date.parse(date) : NaN;
  if (Number.isNaN(dateMs)) throw kmsError('IllegalTimestamp', 'The specified parameter "x-acs-date" is not valid.');

  // Everything that steers the request must be signed, or it could be changed in flight: host,
  // every x-acs-* header (action, version, date, nonce, payload hash, token, ...) and the
  // content-type that decides whether the body is read as parameters.
  const signed = new Set(auth.signedHeaders);
  const mustSign = Object.keys(request.headers).filter((n) => n.startsWith('x-acs-') || n === 'content-type');
  for (const name of ['host', ...mustSign]) {
    if (!signed.has(name))
      throw kmsError('IncompleteSignature', `The header "${name}" must be listed in SignedHeaders.`);
  }
  for (const name of auth.signedHeaders) {
    if (request.headers[name] === undefined)
      throw kmsError('IncompleteSignature', `The signed header "${name}" is not in the request.`);
  }

  if (ctx.options.verifyTimestamp && Math.abs(ctx.realNowMs - dateMs) > ctx.timestampWindowMs) {
    throw kmsError('InvalidTimeStamp.Expired');
  }
  const akHeader = header('x-acs-accesskey-id');
  if (akHeader !== undefined && akHeader !== auth.accessKeyId) {
    throw kmsError('IncompleteSignature', 'The header "x-acs-accesskey-id" does not match the Credential.');
  }
  const credential = ctx.credentials.get(auth.accessKeyId);
  if (credential === undefined) throw kmsError('InvalidAccessKeyId.NotFound');

  // HashedRequestPayload is recomputed from the body that arrived, never taken on trust.
  if (!constantTimeEqual(sha256Hex(request.body), payloadHash!.toLowerCase())) {
    throw kmsError('SignatureDoesNotMatch', 'The header "x-acs-content-sha256" does not match the request body.');
  }
  const queryAt = request.rawUrl.indexOf('?');
  const parts: Acs3CanonicalParts = {
    method: request.method,
    rawPath: queryAt < 0 ? request.rawUrl : request.rawUrl.slice(0, queryAt),
    rawQuery: queryAt < 0 ? '' : request.rawUrl.slice(queryAt + 1),
    headers: request.headers,
    signedHeaders: auth.signedHeaders,
    hashedPayload: payloadHash!.toLowerCase(),
  };
  let canonical: string;
  try {
    canonical = acs3CanonicalRequest(parts);
  } catch {
    throw kmsError('IncompleteSignature', 'The request path is not valid percent-encoding.');
  }
  const toSign = acs3StringToSign(canonical);
  if (!constantTimeEqual(acs3Signature(credential.accessKeySecret, toSign), auth.signature)) {
    throw kmsError(
      'SignatureDoesNotMatch',
      `Specified signature is not matched with our calculation. server string to sign is:${toSign} ` +
        `server canonical request (sensitive values redacted) is:${redactedCanonical(parts, ctx.sensitiveParams)}`,
    );
  }

  // STS: the same rule as V1, with the token in the (signed) x-acs-security-token header.
  const token = header('x-acs-security-token');
  const expectedToken = credential.securityToken;
  if (expectedToken !== undefined || (token !== undefined && token !== '')) {
    if (expectedToken === undefined || token === undefined || !constantTimeEqual(expectedToken, token)) {
      throw kmsError('InvalidSecurityToken.MismatchWithAccessKey');
    }
  }
  if (ctx.options.verifyNonce && !ctx.nonces.remember(auth.accessKeyId, nonce!, ctx.realNowMs)) {
    throw kmsError('SignatureNonceUsed');
  }
  if (version !== (action === undefined ? API_VERSION : apiVersionOf(action))) throw kmsError('InvalidVersion');
  // V1-style Action / Version parameters next to the headers must not say something else.
  for (const [name, value] of [
    ['Action', action],
    ['Version', version],
  ] as const) {
    const param = params.get(name);
    if (param !== undefined && param !== value) {
      throw kmsError(
        'ParseRequestParameterException',
        `The parameter "${name}" conflicts with the x-acs-${name.toLowerCase()} header.`,
      );
    }
  }
  return { credential, action: action! };
}

/** The canonical request with sensitive query values and the security token replaced (for messages only). */
function redactedCanonical(parts: Acs3CanonicalParts, sensitiveParams: ReadonlySet<string>): string {
  const query = new URLSearchParams(parts.rawQuery);
  for (const name of sensitiveParams) if (query.has(name)) query.set(name, '<redacted>');
  const headers: Record<string, readonly string[] | undefined> = { ...parts.headers };
  if (headers['x-acs-security-token'] !== undefined) headers['x-acs-security-token'] = ['<redacted>'];
  return acs3CanonicalRequest({ ...parts, rawQuery: query.toString(), headers });
}
