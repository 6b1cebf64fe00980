/**
 * Webhook authentication. The HTTP trigger is `authType: anonymous` (alert senders cannot sign with
 * an Alibaba AccessKey, docs/fc-runtime.md §4.1), so the function authenticates every request
 * itself, in one of two ways:
 *
 * 1. **Signed request** (generic JSON clients, relays in front of EventBridge):
 *    - `x-byok-timestamp: <unix seconds>`
 *    - `x-byok-signature: v1=<hex HMAC-SHA256(secret, "<timestamp>.<raw body>")>`
 *    The timestamp string is signed exactly as sent; it must be within `maxSkewSeconds` (default
 *    300 s) of the injected clock, which bounds replays. Several `v1=` values may be sent
 *    comma-separated, and several secrets may be configured, to rotate without downtime.
 * 2. **URL token** for CloudMonitor alarm callbacks, which cannot sign (their own `signature`
 *    field has no documented algorithm, docs/fc-runtime.md §7.1): `https://<trigger-url>/?token=<token>`.
 *
 * A request carrying `x-byok-signature` is judged by its signature only (no fall-back to a token).
 * Comparisons are constant-time; failures are `OrchestratorError(Unauthenticated)` with a fixed
 * reason that never contains a secret, a token or the provided signature.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { ErrorCode, OrchestratorError } from '../errors.js';

/** Header with the unix-seconds time the signature covers. */
export const TIMESTAMP_HEADER = 'x-byok-timestamp';
/** Header with the signature(s): `v1=<64 hex>`, comma-separated when several. */
export const SIGNATURE_HEADER = 'x-byok-signature';
/** Query parameter carrying the URL token (CloudMonitor callbacks). */
export const TOKEN_QUERY_PARAM = 'token';
/** Default allowed distance between the request timestamp and the clock, seconds. */
export const DEFAULT_MAX_SKEW_SECONDS = 300;

/** Scheme prefix of the only signature version. */
const SIGNATURE_VERSION = 'v1=';
const SIGNATURE_HEX = /^[0-9a-fA-F]{64}$/;
const TIMESTAMP = /^\d{1,12}$/;

/** Why a request was refused (stable values for logs and tests; never secret-bearing). */
export const AuthFailure = {
  MissingCredentials: 'missing-credentials',
  NotConfigured: 'not-configured',
  MalformedTimestamp: 'malformed-timestamp',
  ClockSkew: 'clock-skew',
  MalformedSignature: 'malformed-signature',
  BadSignature: 'bad-signature',
  BadToken: 'bad-token',
} as const;
/** One refusal reason. */
export type AuthFailure = (typeof AuthFailure)[keyof typeof AuthFailure];

const MESSAGES: Record<AuthFailure, string> = {
  'missing-credentials': `webhook: no ${SIGNATURE_HEADER} header and no ${TOKEN_QUERY_PARAM} query parameter`,
  'not-configured': 'webhook: this authentication method is not configured',
  'malformed-timestamp': `webhook: ${TIMESTAMP_HEADER} must be unix seconds`,
  'clock-skew': `webhook: ${TIMESTAMP_HEADER} is outside the allowed clock skew`,
  'malformed-signature': `webhook: ${SIGNATURE_HEADER} must be ${SIGNATURE_VERSION}<64 hex digits>`,
  'bad-signature': 'webhook: signature does not match',
  'bad-token': 'webhook: token does not match',
};

function refuse(reason: AuthFailure): OrchestratorError {
  return new OrchestratorError(ErrorCode.Unauthenticated, MESSAGES[reason], { details: { reason } });
}

/** What the authenticator needs from an HTTP request (header names in any case). */
export interface WebhookAuthRequest {
  headers: Readonly<Record<string, string | undefined>>;
  query: Readonly<Record<string, string | undefined>>;
  /** The body exactly as received (after FC's base64 decoding, if any). */
  rawBody: string | Buffer;
}

/** Secrets and clock for authentication; a method with no secret configured is refused. */
export interface WebhookAuthOptions {
  /** HMAC secret(s) for signed requests; several during a rotation. */
  hmacSecrets?: readonly string[];
  /** URL token(s) accepted in `?token=`; several during a rotation. */
  urlTokens?: readonly string[];
  /** The current time, epoch ms (injected clock). */
  nowMs: number;
  /** Allowed |now - timestamp|, seconds; default 300. */
  maxSkewSeconds?: number;
}

/** How a request was authenticated. */
export type WebhookAuthMethod = 'hmac' | 'token';

/** Signs a webhook body: returns the `x-byok-signature` value `v1=<hex>` for clients and tests. */
export function signWebhook(secret: string, timestampSeconds: number | string, rawBody: string | Buffer): string {
  return `${SIGNATURE_VERSION}${hmacHex(secret, String(timestampSeconds), rawBody)}`;
}

function hmacHex(secret: string, timestamp: string, rawBody: string | Buffer): string {
  return createHmac('sha256', secret).update(`${timestamp}.`, 'utf8').update(rawBody).digest('hex');
}

/**
 * Constant-time equality of two byte strings. Unequal lengths still run one comparison (of `a`
 * with itself) so the time taken does not depend on where, or whether, the inputs differ.
 */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) {
    timingSafeEqual(a, a);
    return false;
  }
  return timingSafeEqual(a, b);
}

function header(headers: WebhookAuthRequest['headers'], name: string): string | undefined {
  for (const [key, value] of Object.entries(headers)) {
    if (key.toLowerCase() === name && value !== undefined) return value;
  }
  return undefined;
}

function verifySignature(signatureHeader: string, req: WebhookAuthRequest, opts: WebhookAuthOptions): void {
  const secrets = opts.hmacSecrets ?? [];
  if (secrets.length === 0) throw refuse(AuthFailure.NotConfigured);
  const timestamp = header(req.headers, TIMESTAMP_HEADER)?.trim() ?? '';
  if (!TIMESTAMP.test(timestamp)) throw refuse(AuthFailure.MalformedTimestamp);
  const skewMs = Math.abs(opts.nowMs - Number(timestamp) * 1000);
  if (skewMs > (opts.maxSkewSeconds ?? DEFAULT_MAX_SKEW_SECONDS) * 1000) throw refuse(AuthFailure.ClockSkew);

  const provided = signatureHeader.split(',').map((s) => s.trim());
  if (
    provided.some((s) => !s.startsWith(SIGNATURE_VERSION) || !SIGNATURE_HEX.test(s.slice(SIGNATURE_VERSION.length)))
  ) {
    throw refuse(AuthFailure.MalformedSignature);
  }
  let match = false;
  // Every secret against every provided signature, no early exit.
  for (const secret of secrets) {
    const expected = Buffer.from(hmacHex(secret, timestamp, req.rawBody), 'hex');
    for (const sig of provided) {
      match = constantTimeEqual(expected, Buffer.from(sig.slice(SIGNATURE_VERSION.length), 'hex')) || match;
    }
  }
  if (!match) throw refuse(AuthFailure.BadSignature);
}

function verifyToken(token: string, opts: WebhookAuthOptions): void {
  const tokens = opts.urlTokens ?? [];
  if (tokens.length === 0) throw refuse(AuthFailure.NotConfigured);
  // Hash both sides: equal-length inputs for timingSafeEqual, and the token's length does not leak.
  const providedDigest = createHash('sha256').update(token, 'utf8').digest();
  let match = false;
  for (const expected of tokens) {
    match = constantTimeEqual(createHash('sha256').update(expected, 'utf8').digest(), providedDigest) || match;
  }
  if (!match) throw refuse(AuthFailure.BadToken);
}

/**
 * Authenticates a webhook request; returns the method used, or throws
 * `OrchestratorError(Unauthenticated)` whose `details.reason` is an `AuthFailure`.
 */
export function authenticateWebhook(req: WebhookAuthRequest, opts: WebhookAuthOptions): { method: WebhookAuthMethod } {
  const signature = header(req.headers, SIGNATURE_HEADER);
  if (signature !== undefined) {
    verifySignature(signature, req, opts);
    return { method: 'hmac' };
  }
  const token = req.query[TOKEN_QUERY_PARAM];
  if (token !== undefined && token !== '') {
    verifyToken(token, opts);
    return { method: 'token' };
  }
  throw refuse(AuthFailure.MissingCredentials);
}
