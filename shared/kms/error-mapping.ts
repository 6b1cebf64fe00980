/**
 * What the SDKs throw -> OrchestratorError: the KMS service code and HTTP status mapped to our code
 * and retryability (docs/kms-api.md §1.9, §4.2). Used by the one adapter (alicloud-adapter.ts).
 */
import { ErrorCode, OrchestratorError } from '../errors.js';

/** KMS codes that mean "the thing is not there". */
const notFoundCodes = new Set([
  'Forbidden.KeyNotFound',
  'Forbidden.AliasNotFound',
  'Forbidden.ResourceNotFound',
  'Forbidden.KeyVersionNotFound',
]);

/**
 * Maps a KMS service code and HTTP status to our code and retryability. Retry on throttling,
 * ServiceUnavailableTemporary, InternalFailure and 5xx; never on Forbidden.*, Rejected.<State>,
 * InvalidKeyMaterial, InvalidImportToken (issue #3 §1; docs/kms-api.md §4.2).
 */
export function classifyKmsError(
  kmsCode: string | undefined,
  httpStatus: number | undefined,
): { code: ErrorCode; retryable: boolean } {
  const c = kmsCode ?? '';
  if (c === 'InvalidKeyMaterial') return { code: ErrorCode.KmsInvalidKeyMaterial, retryable: false };
  if (c === 'InvalidImportToken') return { code: ErrorCode.KmsInvalidImportToken, retryable: false };
  if (c === 'ExpiredImportToken') return { code: ErrorCode.KmsExpiredImportToken, retryable: false };
  if (c.startsWith('Throttling') || c === 'Rejected.Throttling')
    return { code: ErrorCode.KmsThrottled, retryable: true };
  if (
    c === 'ServiceUnavailableTemporary' ||
    c === 'SerivceUnavailableTemporary' ||
    c === 'InternalFailure' ||
    c === 'ServiceUnavailable'
  ) {
    return { code: ErrorCode.KmsUnavailable, retryable: true };
  }
  if (notFoundCodes.has(c)) return { code: ErrorCode.KmsNotFound, retryable: false };
  if (c === 'Rejected.ResourceExist' || c === 'AliasAlreadyExists')
    return { code: ErrorCode.KmsConflict, retryable: false };
  if (c.startsWith('Rejected.')) return { code: ErrorCode.KmsRejectedState, retryable: false };
  if (
    c.startsWith('Forbidden.') ||
    c.startsWith('InvalidAccessKeyId') ||
    c === 'SignatureDoesNotMatch' ||
    c.startsWith('InvalidSecurityToken')
  ) {
    return { code: ErrorCode.KmsForbidden, retryable: false };
  }
  if (httpStatus !== undefined && httpStatus >= 500) return { code: ErrorCode.KmsUnavailable, retryable: true };
  if (
    c.startsWith('Invalid') ||
    c.startsWith('Missing') ||
    c.startsWith('Unsupported') ||
    c === 'IncompleteSignature' ||
    c === 'IllegalTimestamp'
  ) {
    return { code: ErrorCode.KmsInvalidRequest, retryable: false };
  }
  return { code: ErrorCode.KmsUnexpected, retryable: false };
}

const socketErrorCodes = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ETIMEDOUT',
  'EPIPE',
  'EAI_AGAIN',
  'ENOTFOUND',
  'ESOCKETTIMEDOUT',
  'ECONNABORTED',
  'EHOSTUNREACH',
  'ENETUNREACH',
]);

/**
 * Turns whatever the SDK threw into an OrchestratorError. The message is built from fixed parts
 * only: KMS messages are not copied, because a gateway may echo request parameters (a
 * SignatureDoesNotMatch message contains the string to sign, i.e. every parameter).
 */
export function mapSdkError(err: unknown, action: string, keyId?: string): OrchestratorError {
  if (err instanceof OrchestratorError) return err;
  const e = err as {
    data?: { Code?: unknown; RequestId?: unknown };
    message?: unknown;
    code?: unknown;
    name?: unknown;
  };
  const data = e?.data;
  if (data && typeof data === 'object' && typeof data.Code === 'string') {
    const statusMatch = /code: (\d{3}),/.exec(typeof e.message === 'string' ? e.message : '');
    const httpStatus = statusMatch ? Number(statusMatch[1]) : undefined;
    const { code, retryable } = classifyKmsError(data.Code, httpStatus);
    const requestId = typeof data.RequestId === 'string' ? data.RequestId : undefined;
    return new OrchestratorError(
      code,
      `KMS ${action} failed: ${data.Code}${httpStatus ? ` (HTTP ${httpStatus})` : ''}` +
        `${keyId ? ` for key ${keyId}` : ''}`,
      {
        retryable,
        details: { action, kmsCode: data.Code, httpStatus, requestId, keyId },
      },
    );
  }
  const sysCode = typeof e?.code === 'string' ? e.code : undefined;
  if (
    (sysCode && socketErrorCodes.has(sysCode)) ||
    e?.name === 'SyntaxError' ||
    e?.name === 'RequestTimeoutError' ||
    /timeout/i.test(String(e?.name ?? ''))
  ) {
    // A non-JSON body (e.g. a proxy's HTML 503) surfaces as SyntaxError (docs/kms-api.md §1.8, verified).
    return new OrchestratorError(
      ErrorCode.KmsNetwork,
      `KMS ${action} failed: network error ${sysCode ?? String(e?.name)}`,
      {
        retryable: true,
        details: { action, keyId },
      },
    );
  }
  return new OrchestratorError(ErrorCode.KmsUnexpected, `KMS ${action} failed unexpectedly`, {
    details: { action, keyId },
  });
}
