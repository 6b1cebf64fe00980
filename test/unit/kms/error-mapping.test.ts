import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../../shared/errors.js';
import { classifyKmsError, mapSdkError } from '../../../shared/kms/error-mapping.js';

describe('classifyKmsError', () => {
  it.each([
    ['Throttling', 400, ErrorCode.KmsThrottled, true],
    ['Throttling.User', 400, ErrorCode.KmsThrottled, true],
    ['Rejected.Throttling', 429, ErrorCode.KmsThrottled, true],
    ['ServiceUnavailableTemporary', 503, ErrorCode.KmsUnavailable, true],
    ['InternalFailure', 500, ErrorCode.KmsUnavailable, true],
    ['SomethingNew', 502, ErrorCode.KmsUnavailable, true],
    ['Forbidden.KeyNotFound', 404, ErrorCode.KmsNotFound, false],
    ['Forbidden.AliasNotFound', 404, ErrorCode.KmsNotFound, false],
    ['Forbidden.ResourceNotFound', 403, ErrorCode.KmsNotFound, false],
    ['Forbidden.NoPermission', 403, ErrorCode.KmsForbidden, false],
    ['Rejected.PendingImport', 409, ErrorCode.KmsRejectedState, false],
    ['Rejected.StateModifiedFailed', 409, ErrorCode.KmsRejectedState, false],
    ['Rejected.ResourceExist', 409, ErrorCode.KmsConflict, false],
    ['AliasAlreadyExists', 400, ErrorCode.KmsConflict, false],
    ['InvalidKeyMaterial', 400, ErrorCode.KmsInvalidKeyMaterial, false],
    ['InvalidImportToken', 400, ErrorCode.KmsInvalidImportToken, false],
    ['ExpiredImportToken', 400, ErrorCode.KmsExpiredImportToken, false],
    ['InvalidParameter', 400, ErrorCode.KmsInvalidRequest, false],
    ['SignatureDoesNotMatch', 400, ErrorCode.KmsForbidden, false],
  ])('maps %s (HTTP %i) to %s, retryable=%s', (kmsCode, status, code, retryable) => {
    expect(classifyKmsError(kmsCode, status)).toEqual({ code, retryable });
  });
});

describe('mapSdkError', () => {
  it('keeps the KMS code, HTTP status and request id as data', () => {
    // The shape @alicloud/rpc-client 1.3.2 throws (docs/kms-api.md §1.9, verified there).
    const sdkErr = Object.assign(
      new Error('Forbidden.KeyNotFoundError: code: 404, The specified Key is not found. requestid: rid-1'),
      {
        code: 'Forbidden.KeyNotFoundError',
        data: { Code: 'Forbidden.KeyNotFound', Message: 'The specified Key is not found.', RequestId: 'rid-1' },
      },
    );
    const mapped = mapSdkError(sdkErr, 'DescribeKey', 'k-1');
    expect(mapped.code).toBe(ErrorCode.KmsNotFound);
    expect(mapped.details).toMatchObject({
      kmsCode: 'Forbidden.KeyNotFound',
      httpStatus: 404,
      requestId: 'rid-1',
      action: 'DescribeKey',
      keyId: 'k-1',
    });
  });

  it('does not copy the KMS message, which may echo request parameters', () => {
    const echoed = 'EncryptedKeyMaterial=c2VjcmV0LXdyYXBwZWQtbWF0ZXJpYWw';
    const sdkErr = Object.assign(
      new Error(`SignatureDoesNotMatchError: code: 400, server string to sign is:${echoed} requestid: r`),
      {
        data: { Code: 'SignatureDoesNotMatch', Message: `server string to sign is:${echoed}`, RequestId: 'r' },
      },
    );
    const mapped = mapSdkError(sdkErr, 'ImportKeyMaterial');
    expect(mapped.message).not.toContain(echoed);
    expect(JSON.stringify(mapped.toJSON())).not.toContain(echoed);
  });

  it('maps a Secrets Manager Rejected.Throttling (HTTP 429) to a retryable KmsThrottled', () => {
    // The emulator answers Secrets Manager actions with this code and status under load (docs/kms-3-instances.md §2).
    const sdkErr = Object.assign(
      new Error('Rejected.ThrottlingError: code: 429, The QPS upper limit is exceeded. requestid: rid-9'),
      {
        data: { Code: 'Rejected.Throttling', Message: 'The QPS upper limit is exceeded.', RequestId: 'rid-9' },
      },
    );
    expect(mapSdkError(sdkErr, 'PutSecretValue')).toMatchObject({
      code: ErrorCode.KmsThrottled,
      retryable: true,
      details: { kmsCode: 'Rejected.Throttling', httpStatus: 429 },
    });
  });

  it('treats socket errors and non-JSON bodies as retryable network errors', () => {
    expect(mapSdkError(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }), 'Encrypt')).toMatchObject({
      code: ErrorCode.KmsNetwork,
      retryable: true,
    });
    const syntax = new SyntaxError('Unexpected end of JSON input');
    expect(mapSdkError(syntax, 'Encrypt')).toMatchObject({ code: ErrorCode.KmsNetwork, retryable: true });
  });

  it('maps anything else to a non-retryable unexpected error', () => {
    expect(mapSdkError(new TypeError('boom'), 'Encrypt')).toMatchObject({
      code: ErrorCode.KmsUnexpected,
      retryable: false,
    });
  });
});
