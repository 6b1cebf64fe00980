/**
 * Server-side verification of the two signatures FC's invoke API accepts, re-implemented from the
 * specs (not by calling the SDKs' signers) so the integration tests cross-check the real clients:
 * - `FC <ak>:<sig>`, HMAC-SHA256 over method, content-md5, content-type, date, x-fc-* headers and
 *   the path (docs/fc-runtime.md §6.4; @alicloud/fc2 helper.js composeStringToSign);
 * - `ACS3-HMAC-SHA256 Credential=..,SignedHeaders=..,Signature=..` (docs/fc-runtime.md §4.2,
 *   docs/kms-api.md §1.11; @alicloud/openapi-util getAuthorization).
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { InvokeCredential } from './types.js';

/** FC's 403/400 codes for authentication failures (FC error-code table; `RequestTimeTooSkewed`,
 * `InvalidSecurityToken` and `SignatureNonceUsed` are inferred from other Alibaba gateways). */
export type AuthFailureCode =
  | 'SignatureNotMatch'
  | 'InvalidAccessKeyID'
  | 'InvalidSecurityToken'
  | 'RequestTimeTooSkewed'
  | 'SignatureNonceUsed'
  | 'AccessDenied';

/** Result of a verification: the caller's AK id, or why it was refused (secret-free message). */
export type AuthResult = { ok: true; accessKeyId: string } | { ok: false; code: AuthFailureCode; message: string };

/** What the verifiers need from a request. */
export interface SignedRequest {
  method: string;
  /** Raw path as received (percent-encoded), without the query. */
  rawPath: string;
  /** Raw query string without '?'. */
  rawQuery: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/** Max clock skew FC tolerates on `date` / `x-acs-date` (§6.4: 15 minutes). */
export const MAX_SKEW_MS = 15 * 60_000;

function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v.join(',') : v;
}

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

function refuse(code: AuthFailureCode, message: string): AuthResult {
  return { ok: false, code, message };
}

const SIGNATURE_MISMATCH =
  'The request signature we calculated does not match the ' +
  'signature you provided. Check your access key and signing method';

function checkToken(cred: InvokeCredential, presented: string | undefined): AuthResult | undefined {
  if (cred.securityToken === undefined) {
    return presented === undefined
      ? undefined
      : refuse('InvalidSecurityToken', 'a security token was sent for a long-term access key');
  }
  if (presented === undefined || !safeEqual(presented, cred.securityToken)) {
    return refuse('InvalidSecurityToken', 'the security token is missing or invalid');
  }
  return undefined;
}

function checkSkew(dateText: string | undefined, nowMs: number, headerName: string): AuthResult | undefined {
  const at = dateText === undefined ? Number.NaN : Date.parse(dateText);
  if (Number.isNaN(at)) return refuse('SignatureNotMatch', `missing or unparsable ${headerName} header`);
  if (Math.abs(nowMs - at) > MAX_SKEW_MS) {
    return refuse('RequestTimeTooSkewed', `the ${headerName} header is more than 15 minutes away from the server time`);
  }
  return undefined;
}

/** String to sign of the FC 2.0 scheme (§6.4); `path` is the decoded path incl. `/2016-08-15`. */
export function fcStringToSign(method: string, path: string, headers: IncomingHttpHeaders): string {
  const fcHeaders = Object.keys(headers)
    .map((k) => k.toLowerCase())
    .filter((k) => k.startsWith('x-fc-'))
    .sort()
    .map((k) => `${k}:${header(headers, k) ?? ''}\n`)
    .join('');
  return (
    `${method}\n${header(headers, 'content-md5') ?? ''}\n${header(headers, 'content-type') ?? ''}\n` +
    `${header(headers, 'date') ?? ''}\n${fcHeaders}${path}`
  );
}

/** Verifies an `FC <ak>:<sig>` request against the allowed credentials. */
export function verifyFcSignature(req: SignedRequest, creds: readonly InvokeCredential[], nowMs: number): AuthResult {
  const auth = header(req.headers, 'authorization');
  const m = auth === undefined ? null : /^FC ([^:\s]+):(\S+)$/.exec(auth);
  if (!m)
    return refuse(
      'SignatureNotMatch',
      'missing or malformed Authorization header (expected "FC <AccessKeyID>:<Signature>")',
    );
  const accessKeyId = m[1] ?? '';
  const cred = creds.find((c) => c.accessKeyId === accessKeyId);
  if (!cred) return refuse('InvalidAccessKeyID', `invalid access key ID '${accessKeyId}'`);
  const skew = checkSkew(header(req.headers, 'date'), nowMs, 'date');
  if (skew) return skew;
  // The SDK signs the path it was given, before URL encoding; decode what arrived to compare.
  let path: string;
  try {
    path = req.rawPath.split('/').map(decodeURIComponent).join('/');
  } catch {
    return refuse('SignatureNotMatch', 'the request path is not valid percent-encoding');
  }
  const expected = createHmac('sha256', cred.accessKeySecret)
    .update(fcStringToSign(req.method, path, req.headers), 'utf8')
    .digest('base64');
  if (!safeEqual(m[2] ?? '', expected)) return refuse('SignatureNotMatch', SIGNATURE_MISMATCH);
  const token = checkToken(cred, header(req.headers, 'x-fc-security-token'));
  if (token) return token;
  const md5 = header(req.headers, 'content-md5');
  if (md5 !== undefined && !contentMd5Matches(md5, req.body)) {
    return refuse('SignatureNotMatch', 'content-md5 does not match the request body');
  }
  return { ok: true, accessKeyId };
}

/**
 * @alicloud/fc2 sends base64(utf8(hex(md5(body)))) (a quirk, §6.2); RFC 1864 says base64(md5(body)).
 * Both are accepted.
 */
function contentMd5Matches(value: string, body: Buffer): boolean {
  const digest = createHash('md5').update(body).digest();
  return (
    safeEqual(value, Buffer.from(digest.toString('hex'), 'utf8').toString('base64')) ||
    safeEqual(value, digest.toString('base64'))
  );
}

/** RFC 3986 encoding as openapi-util's `encode` does it. */
function percentEncode(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** Canonical request of ACS3-HMAC-SHA256 (docs/kms-api.md §1.11) for the named signed headers. */
export function acs3CanonicalRequest(
  req: SignedRequest,
  signedHeaders: readonly string[],
  payloadHash: string,
): string {
  const params = new URLSearchParams(req.rawQuery);
  const query = [...new Set(params.keys())]
    .sort()
    .map((k) => `${k}=${percentEncode(params.get(k) ?? '')}`)
    .join('&');
  const canonicalHeaders = signedHeaders
    .map((name) => {
      const values = (
        req.headers[name] === undefined ? [] : ([] as string[]).concat(req.headers[name] as string | string[])
      )
        .map((v) => v.trim())
        .sort();
      return `${name}:${values.join(',')}\n`;
    })
    .join('');
  return `${req.method}\n${req.rawPath}\n${query}\n${canonicalHeaders}\n${signedHeaders.join(';')}\n${payloadHash}`;
}

/** Headers an ACS3 request must sign: without them a signature could be replayed onto another body or host. */
const REQUIRED_SIGNED = ['host', 'x-acs-date', 'x-acs-content-sha256', 'x-acs-signature-nonce'];

/** Remembers signature nonces for the skew window, so a captured request cannot be replayed. */
export class NonceCache {
  private readonly seen = new Map<string, number>();

  /** True the first time a nonce is seen within the window. */
  claim(nonce: string, nowMs: number): boolean {
    for (const [n, expires] of this.seen) if (expires < nowMs) this.seen.delete(n);
    if (this.seen.has(nonce)) return false;
    this.seen.set(nonce, nowMs + 2 * MAX_SKEW_MS);
    return true;
  }
}

/** Verifies an `ACS3-HMAC-SHA256` request (as @alicloud/openapi-client signs ROA calls). */
export function verifyAcs3Signature(
  req: SignedRequest,
  creds: readonly InvokeCredential[],
  nowMs: number,
  nonces: NonceCache,
): AuthResult {
  const auth = header(req.headers, 'authorization');
  const m =
    auth === undefined
      ? null
      : /^ACS3-HMAC-SHA256 Credential=([^,\s]+),SignedHeaders=([^,\s]+),Signature=([0-9a-f]+)$/.exec(auth);
  if (!m) {
    return refuse(
      'SignatureNotMatch',
      'missing or malformed Authorization header (expected ' +
        '"ACS3-HMAC-SHA256 Credential=..,SignedHeaders=..,Signature=..")',
    );
  }
  const accessKeyId = m[1] ?? '';
  const signedHeaders = (m[2] ?? '').split(';');
  const cred = creds.find((c) => c.accessKeyId === accessKeyId);
  if (!cred) return refuse('InvalidAccessKeyID', `invalid access key ID '${accessKeyId}'`);
  const sorted = [...signedHeaders].sort();
  if (signedHeaders.some((h, i) => h !== sorted[i] || h !== h.toLowerCase() || req.headers[h] === undefined)) {
    return refuse('SignatureNotMatch', 'SignedHeaders must be sorted, lower-case and all present');
  }
  const mustSign = [
    ...REQUIRED_SIGNED,
    ...(req.headers['x-acs-security-token'] === undefined ? [] : ['x-acs-security-token']),
  ];
  const unsigned = mustSign.filter((h) => !signedHeaders.includes(h));
  if (unsigned.length > 0) return refuse('SignatureNotMatch', `these headers must be signed: ${unsigned.join(', ')}`);
  const skew = checkSkew(header(req.headers, 'x-acs-date'), nowMs, 'x-acs-date');
  if (skew) return skew;
  const payloadHash = header(req.headers, 'x-acs-content-sha256') ?? '';
  const canonical = acs3CanonicalRequest(req, signedHeaders, payloadHash);
  const stringToSign = `ACS3-HMAC-SHA256\n${createHash('sha256').update(canonical, 'utf8').digest('hex')}`;
  const expected = createHmac('sha256', cred.accessKeySecret).update(stringToSign, 'utf8').digest('hex');
  if (!safeEqual(m[3] ?? '', expected)) return refuse('SignatureNotMatch', SIGNATURE_MISMATCH);
  if (!safeEqual(payloadHash, createHash('sha256').update(req.body).digest('hex'))) {
    return refuse('SignatureNotMatch', 'x-acs-content-sha256 does not match the request body');
  }
  const akHeader = header(req.headers, 'x-acs-accesskey-id');
  if (akHeader !== undefined && akHeader !== accessKeyId)
    return refuse('SignatureNotMatch', 'x-acs-accesskey-id does not match the Credential');
  const token = checkToken(cred, header(req.headers, 'x-acs-security-token'));
  if (token) return token;
  if (!nonces.claim(header(req.headers, 'x-acs-signature-nonce') ?? '', nowMs)) {
    return refuse('SignatureNonceUsed', 'the signature nonce has already been used');
  }
  return { ok: true, accessKeyId };
}
