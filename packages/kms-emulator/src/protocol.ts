/**
 * The RPC wire protocol (docs/kms-api.md §1): parameter decoding (query string merged with an
 * `application/x-www-form-urlencoded` body), signature v1 / credential / STS-token / timestamp /
 * nonce verification (signature v3, ACS3-HMAC-SHA256, in signature-v3.ts), and the JSON success
 * and error envelopes. Errors become HTTP responses here
 * and nowhere else.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { type KmsApiError, kmsError, missingParameter } from './errors.js';
import { computeSignature, constantTimeEqual, stringToSign } from './signature.js';
import { apiVersionOf, authenticateAcs3, type Acs3Request } from './signature-v3.js';

/** An access key the emulator accepts; with `securityToken` it is an STS credential. */
export interface EmulatorCredential {
  accessKeyId: string;
  accessKeySecret: string;
  securityToken?: string;
}

/** Request-verification switches. */
export interface VerifyOptions {
  /** Reject `Timestamp` more than 15 min from the REAL wall clock (inferred POP rule, §1.5). */
  verifyTimestamp: boolean;
  /** Reject a `SignatureNonce` reused within 15 min (inferred POP rule, §1.5). */
  verifyNonce: boolean;
}

/** ±15 minutes (docs/kms-api.md §1.5, inferred). */
export const TIMESTAMP_WINDOW_MS = 15 * 60 * 1000;
/** Nonces are remembered for the same 15 minutes. */
export const NONCE_TTL_MS = 15 * 60 * 1000;
/** Form bodies larger than this are refused (the SDK sends an empty body). */
export const MAX_BODY_BYTES = 1 << 20;

/** Parameter values that must never be echoed, even inside SignatureDoesNotMatch messages. */
const SENSITIVE_PARAMS = new Set(['SecretData', 'EncryptedKeyMaterial', 'ImportToken', 'Plaintext', 'SecurityToken']);

/** The common parameters every signed RPC request carries (docs/kms-api.md §1.2). */
const REQUIRED_COMMON = [
  'Action',
  'Version',
  'AccessKeyId',
  'Signature',
  'SignatureMethod',
  'SignatureVersion',
  'SignatureNonce',
];

/** Remembers recently seen nonces per access key. */
export class NonceCache {
  private readonly seen = new Map<string, number>();
  private lastPruneMs = 0;

  constructor(private readonly ttlMs: number = NONCE_TTL_MS) {}

  /** Records `nonce`; returns false when it was already used within the TTL. */
  remember(accessKeyId: string, nonce: string, nowMs: number): boolean {
    if (nowMs - this.lastPruneMs > 1000) {
      for (const [k, expiresMs] of this.seen) if (expiresMs <= nowMs) this.seen.delete(k);
      this.lastPruneMs = nowMs;
    }
    const cacheKey = `${accessKeyId}\u0000${nonce}`;
    const expiresMs = this.seen.get(cacheKey);
    if (expiresMs !== undefined && expiresMs > nowMs) return false;
    this.seen.set(cacheKey, nowMs + this.ttlMs);
    return true;
  }
}

/** Reads the request body up to MAX_BODY_BYTES. */
export async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    total += chunk.length;
    if (total > MAX_BODY_BYTES) throw kmsError('ParseRequestParameterException', 'The request body is too large.');
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

function addAll(into: Map<string, string>, source: URLSearchParams): void {
  for (const [name, value] of source) {
    // A name sent twice (or in both query and body) makes the signed set ambiguous: refuse it.
    if (into.has(name)) throw kmsError('ParseRequestParameterException', `The parameter "${name}" is duplicated.`);
    into.set(name, value);
  }
}

/**
 * Decodes query-string parameters and, for form-encoded bodies, body parameters into one map
 * (docs/kms-api.md §1.1: the SDK uses the query; other clients a form body; RPC signs the union).
 */
export function decodeParams(rawUrl: string, contentType: string | undefined, body: Buffer): Map<string, string> {
  const url = new URL(rawUrl, 'http://127.0.0.1');
  const params = new Map<string, string>();
  addAll(params, url.searchParams);
  if (body.length > 0 && (contentType ?? '').toLowerCase().startsWith('application/x-www-form-urlencoded')) {
    addAll(params, new URLSearchParams(body.toString('utf8')));
  }
  return params;
}

/** The result of a verified request. */
export interface Authenticated {
  credential: EmulatorCredential;
  action: string;
}

function redactedForMessage(params: ReadonlyMap<string, string>): Map<string, string> {
  const copy = new Map(params);
  for (const name of copy.keys()) if (SENSITIVE_PARAMS.has(name)) copy.set(name, '<redacted>');
  return copy;
}

/**
 * Verifies common parameters, the access key, the v1 signature, the STS token, the timestamp
 * (against the real wall clock) and the nonce. Throws the gateway's error on any failure.
 */
export function authenticate(
  method: string,
  params: ReadonlyMap<string, string>,
  credentials: ReadonlyMap<string, EmulatorCredential>,
  options: VerifyOptions,
  nonces: NonceCache,
  realNowMs: number,
  /** The request's V3 view (`acs3RequestOf`) when it carries `Authorization: ACS3-HMAC-SHA256 ...`. */
  acs3?: Acs3Request,
): Authenticated {
  if (acs3 !== undefined) {
    const context = {
      credentials,
      options,
      nonces,
      realNowMs,
      timestampWindowMs: TIMESTAMP_WINDOW_MS,
      sensitiveParams: SENSITIVE_PARAMS,
    };
    return authenticateAcs3(acs3, params, context);
  }
  for (const name of REQUIRED_COMMON) {
    const value = params.get(name);
    if (value === undefined || value === '') throw missingParameter(name);
  }
  const timestamp = params.get('Timestamp');
  if (timestamp === undefined || timestamp === '') throw kmsError('IllegalTimestamp');
  if (params.get('SignatureMethod') !== 'HMAC-SHA1' || params.get('SignatureVersion') !== '1.0') {
    throw kmsError('IncompleteSignature');
  }
  // docs/kms-api.md §1.1: `YYYY-MM-DDTHH:mm:ssZ` (fractions tolerated; other clients send them)
  const timestampMs = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$/.test(timestamp)
    ? Date.parse(timestamp)
    : NaN;
  if (Number.isNaN(timestampMs)) {
    throw kmsError('IllegalTimestamp', 'The specified parameter "Timestamp" is not valid.');
  }
  if (options.verifyTimestamp && Math.abs(realNowMs - timestampMs) > TIMESTAMP_WINDOW_MS) {
    throw kmsError('InvalidTimeStamp.Expired');
  }
  const accessKeyId = params.get('AccessKeyId')!;
  const credential = credentials.get(accessKeyId);
  if (credential === undefined) throw kmsError('InvalidAccessKeyId.NotFound');

  const expected = computeSignature(method, params, credential.accessKeySecret);
  if (!constantTimeEqual(expected, params.get('Signature')!)) {
    // The real gateway echoes its string to sign; sensitive values are redacted here (docs/design.md §5.4).
    throw kmsError(
      'SignatureDoesNotMatch',
      'Specified signature is not matched with our calculation. server string to sign (sensitive values redacted) is:' +
        stringToSign(method, redactedForMessage(params)),
    );
  }
  // STS (docs/kms-api.md §1.4): the token is part of the signed set and must match the configured one.
  const token = params.get('SecurityToken');
  const expectedToken = credential.securityToken;
  if (expectedToken !== undefined || (token !== undefined && token !== '')) {
    if (expectedToken === undefined || token === undefined || !constantTimeEqual(expectedToken, token)) {
      throw kmsError('InvalidSecurityToken.MismatchWithAccessKey');
    }
  }
  if (options.verifyNonce && !nonces.remember(accessKeyId, params.get('SignatureNonce')!, realNowMs)) {
    throw kmsError('SignatureNonceUsed');
  }
  if (params.get('Version') !== apiVersionOf(params.get('Action')!)) throw kmsError('InvalidVersion');
  return { credential, action: params.get('Action')! };
}

/** JSON error body (docs/kms-api.md §1.8): Code, Message, RequestId, HostId, Recommend. */
export function errorBody(err: KmsApiError, requestId: string, hostId: string): Record<string, string> {
  return {
    RequestId: requestId,
    HostId: hostId,
    Code: err.kmsCode,
    Message: err.message,
    Recommend:
      `https://api.aliyun.com/troubleshoot?q=${encodeURIComponent(err.kmsCode)}` +
      `&product=Kms&requestId=${requestId}`,
  };
}

/** Writes a JSON response (every emulator response is JSON, even errors: §1.8). */
export function sendJson(res: ServerResponse, status: number, body: unknown, requestId?: string): void {
  const text = JSON.stringify(body);
  const headers: Record<string, string | number> = {
    'content-type': 'application/json;charset=utf-8',
    'content-length': Buffer.byteLength(text),
  };
  if (requestId !== undefined) headers['x-acs-request-id'] = requestId;
  res.writeHead(status, headers);
  res.end(text);
}

/** The one place a KMS error becomes an HTTP response. */
export function sendKmsError(res: ServerResponse, err: KmsApiError, requestId: string, hostId: string): void {
  sendJson(res, err.httpStatus, errorBody(err, requestId, hostId), requestId);
}

/** A success envelope: action fields as siblings of `RequestId` (docs/kms-api.md §1.7). */
export function sendSuccess(res: ServerResponse, fields: Record<string, unknown>, requestId: string): void {
  sendJson(res, 200, { ...fields, RequestId: requestId }, requestId);
}
