/**
 * Alibaba Cloud RPC signature v1 (HMAC-SHA1), exactly as docs/kms-api.md §1.3 describes it
 * (documented: DOCS21 `Signature.md`, RPCU `getSignatureV1`). Pure functions; the server signs the
 * URL-decoded parameter values, never the raw query text (§5.4).
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

const UNRESERVED_ONLY = /^[A-Za-z0-9\-_.~]*$/;
const SURROGATE = /[\uD800-\uDFFF]/;

/**
 * §1.3 step 2: UTF-8 then `encodeURIComponent`, plus `! ' ( ) *` escaped; space is `%20`,
 * `A-Z a-z 0-9 - _ . ~` stay literal, hex upper case.
 */
export function percentEncode(value: string): string {
  // Fast path (every request signs dozens of values): nothing to escape.
  if (UNRESERVED_ONLY.test(value)) return value;
  return encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** Code-point comparison (§1.3 step 3 "sort by code point"), not locale order. */
function compareCodePoints(a: string, b: string): number {
  // Without surrogate pairs, UTF-16 code-unit order (JS string order) is code-point order.
  if (!SURROGATE.test(a) && !SURROGATE.test(b)) return a < b ? -1 : a > b ? 1 : 0;
  const ca = Array.from(a);
  const cb = Array.from(b);
  const n = Math.min(ca.length, cb.length);
  for (let i = 0; i < n; i += 1) {
    const x = ca[i]!.codePointAt(0)!;
    const y = cb[i]!.codePointAt(0)!;
    if (x !== y) return x - y;
  }
  return ca.length - cb.length;
}

/** §1.3 step 3: every parameter except `Signature`, sorted, `name=value` joined by `&`. */
export function canonicalizedQueryString(params: ReadonlyMap<string, string>): string {
  const names = [...params.keys()].filter((name) => name !== 'Signature').sort(compareCodePoints);
  return names.map((name) => `${percentEncode(name)}=${percentEncode(params.get(name) ?? '')}`).join('&');
}

/** §1.3 step 4: `METHOD & %2F & percentEncode(canonical)`. */
export function stringToSign(httpMethod: string, params: ReadonlyMap<string, string>): string {
  return `${httpMethod.toUpperCase()}&${percentEncode('/')}&${percentEncode(canonicalizedQueryString(params))}`;
}

/** §1.3 step 5: base64(HMAC-SHA1(secret + "&", StringToSign)). */
export function signStringToSign(accessKeySecret: string, toSign: string): string {
  return createHmac('sha1', `${accessKeySecret}&`).update(toSign, 'utf8').digest('base64');
}

/** Signs a full parameter set as the SDK does (`Signature` itself is ignored if present). */
export function computeSignature(
  httpMethod: string,
  params: ReadonlyMap<string, string>,
  accessKeySecret: string,
): string {
  return signStringToSign(accessKeySecret, stringToSign(httpMethod, params));
}

/** Constant-time string comparison (signatures §1.3 step 6, STS tokens). */
export function constantTimeEqual(expected: string, presented: string): boolean {
  const a = Buffer.from(expected, 'utf8');
  const b = Buffer.from(presented, 'utf8');
  return a.length === b.length && timingSafeEqual(a, b);
}
