/**
 * Strict standard base64 (RFC 4648 §4): the alphabet A-Z a-z 0-9 + /, `=` padding to a multiple
 * of 4, no line breaks, no whitespace, no URL-safe characters, canonical (unused bits zero).
 * Node's Buffer.from(s, 'base64') silently skips bad characters, so it cannot be the check.
 */
import { ErrorCode, OrchestratorError } from '../errors.js';

const STRICT_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Decodes strict standard base64; anything else (or an empty string) is InvalidBase64 naming `field`. */
export function decodeBase64Strict(text: string, field: string): Buffer {
  if (typeof text !== 'string' || text.length === 0 || !STRICT_BASE64.test(text)) {
    throw new OrchestratorError(ErrorCode.InvalidBase64, `${field}: not valid standard base64`, { details: { field } });
  }
  const bytes = Buffer.from(text, 'base64');
  // Canonical form only: "QQ==" and "QR==" decode alike; RFC 4648 §3.5 lets us reject the latter.
  if (bytes.toString('base64') !== text) {
    throw new OrchestratorError(ErrorCode.InvalidBase64, `${field}: not canonical base64 (non-zero padding bits)`, {
      details: { field },
    });
  }
  return bytes;
}
