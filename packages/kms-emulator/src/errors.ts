/**
 * The emulator's own errors (it imports no product code, so it stays an independent check) and
 * the KMS error catalogue it answers with: wire code -> HTTP status and fixed message.
 * Codes, statuses and messages are those of docs/kms-api.md §1.8 and §3.3; entries marked
 * "inferred" there are marked here too. Errors become HTTP responses in exactly one place
 * (protocol.ts `sendKmsError`).
 */

/** Codes of the errors the emulator throws in-process. */
export const EmulatorErrorCode = {
  /** A KMS wire error (`KmsApiError`: `kmsCode`, `httpStatus`). */
  KmsApi: 'KMS_API',
  /** Invalid input to an admin request or an in-process control (`AdminInputError`, faults.ts). */
  InvalidInput: 'INVALID_INPUT',
  /** The state file is unreadable, corrupt or foreign. */
  InvalidStateFile: 'INVALID_STATE_FILE',
  /** `EncryptedKeyMaterial` is not strict standard base64 (`UnwrapError`). */
  InvalidBase64: 'INVALID_BASE64',
  /** Unknown wrapping algorithm or wrapping key spec (`UnwrapError`). */
  UnsupportedAlgorithm: 'UNSUPPORTED_ALGORITHM',
  /** Wrapping algorithm not allowed with the token's wrapping key spec (`UnwrapError`). */
  AlgorithmMismatch: 'ALGORITHM_MISMATCH',
  /** Anything else that stops an unwrap: length, padding, SM2 ciphertext, corrupt key (`UnwrapError`). */
  UnwrapFailed: 'UNWRAP_FAILED',
  /** The `openssl` CLI that decrypts SM2PKE is missing or has no SM2 (answered as `InternalFailure`). */
  Sm2Unavailable: 'SM2_UNAVAILABLE',
  /** A bug or an unexpected library answer. */
  Internal: 'INTERNAL',
} as const;

/** Union of emulator error codes. */
export type EmulatorErrorCode = (typeof EmulatorErrorCode)[keyof typeof EmulatorErrorCode];

/** Base of every error the emulator throws: a stable `code` and secret-free `details`. */
export class KmsEmulatorError extends Error {
  override readonly name: string = 'KmsEmulatorError';
  readonly code: EmulatorErrorCode;
  readonly details: Readonly<Record<string, string | number | boolean>>;

  constructor(code: EmulatorErrorCode, message: string, details: Record<string, string | number | boolean> = {}) {
    super(message);
    this.code = code;
    this.details = details;
  }
}

/** An unwrap failure of ImportKeyMaterial (import.ts answers every one with `InvalidKeyMaterial`). */
export class UnwrapError extends KmsEmulatorError {
  override readonly name: string = 'UnwrapError';
}

interface CatalogueEntry {
  readonly status: number;
  readonly message: string;
}

/** Every KMS error code the emulator can emit. */
export const KMS_ERRORS = {
  // common gateway errors (documented: DOCS21 Responses.md / W-RESP unless marked)
  InternalFailure: { status: 500, message: 'Internal Failure.' },
  ServiceUnavailableTemporary: { status: 503, message: 'Service Unavailable Temporary.' },
  'InvalidAccessKeyId.NotFound': { status: 404, message: 'The AccessKey ID provided does not exist in our records.' },
  SignatureDoesNotMatch: { status: 400, message: 'Specified signature is not matched with our calculation.' },
  IncompleteSignature: { status: 400, message: 'The request signature does not conform to Alibaba Cloud standards.' },
  IllegalTimestamp: {
    status: 400,
    message: 'The input parameter "Timestamp" that is required for processing this request is not supplied.',
  },
  // inferred (POP gateway codes of other Alibaba RPC products, docs/kms-api.md §1.5)
  'InvalidTimeStamp.Expired': { status: 400, message: 'Specified time stamp or date value is expired.' },
  SignatureNonceUsed: { status: 400, message: 'Specified signature nonce was used already.' },
  // inferred (docs/kms-api.md §1.4 leaves STS errors to the implementer)
  'InvalidSecurityToken.MismatchWithAccessKey': {
    status: 400,
    message: 'Specified SecurityToken mismatch with the AccessKey.',
  },
  // inferred (docs/kms-api.md §1.8)
  'InvalidAction.NotFound': { status: 404, message: 'Specified api is not found, please check your url and method.' },
  InvalidVersion: { status: 400, message: 'Specified parameter Version is not valid.' },
  UnsupportedHTTPMethod: { status: 403, message: 'This http method is not supported.' },
  ParseRequestParameterException: {
    status: 400,
    message: 'Server parse parameters exception. Please check your input params.',
  },
  MissingParameter: { status: 400, message: 'The parameter is needed but not provided.' },
  InvalidParameter: { status: 400, message: 'The specified parameter is not valid.' },
  Throttling: { status: 400, message: 'Request was denied due to request throttling.' },
  // KMS
  'Forbidden.KeyNotFound': { status: 404, message: 'The specified Key is not found.' },
  'Forbidden.AliasNotFound': { status: 404, message: 'The specified Alias is not found.' },
  // 403, not 404: the 2024 per-API error lists put it under 403 (docs/kms-3-instances.md, corrections).
  'Forbidden.ResourceNotFound': { status: 403, message: 'The resource is not found.' },
  'Rejected.LimitExceeded': {
    status: 400,
    message: 'The request was rejected because user create resource limit was exceeded.',
  },
  AliasAlreadyExists: { status: 400, message: 'AliasName Already Exists.' },
  InvalidKeyMaterial: { status: 400, message: 'key material is invalid.' },
  InvalidImportToken: { status: 400, message: 'import token is invalid.' },
  ExpiredImportToken: { status: 400, message: 'import token is expired.' },
  'Unsupported.Origin': { status: 400, message: 'This key origin is not valid for this api.' },
  'Unsupported.Alias': { status: 400, message: 'Alias is not valid for this api.' },
  UnsupportedOperation: { status: 400, message: 'This action is not supported.' },
  'Rejected.StateModifiedFailed': { status: 409, message: 'Keystate modified failed.' },
  'Rejected.Disabled': { status: 409, message: 'The request was rejected because the key state is Disabled.' },
  'Rejected.PendingDeletion': {
    status: 409,
    message: 'The request was rejected because the key state is PendingDeletion.',
  },
  'Rejected.PendingImport': {
    status: 409,
    message: 'The request was rejected because the key state is PendingImport.',
  },
  'Rejected.ResourceExist': { status: 409, message: 'The resource already exists.' },
  'Rejected.ResourceInDeleteWindow': { status: 409, message: 'The secret is planned to be deleted.' },
  // KMS 3.0 instances (docs/kms-3-instances.md)
  // documented (META CreateKey/CreateSecret/GetSecretValue)
  'Forbidden.DKMSInstanceNotFound': { status: 403, message: 'The specified DKMS Instance is not found.' },
  // documented code (META GetSecretValue); used for CreateKey/CreateSecret on an expired instance: inferred
  'Forbidden.DKMSInstanceStateInvalid': { status: 403, message: 'The DKMS instance state is invalid.' },
  // documented code (META PutSecretValue 403); used for shared-gateway crypto on an instance without
  // Internet access: inferred (the real code is not published, docs/kms-3-instances.md §6)
  'Forbidden.NoPermission': { status: 403, message: 'This operation is forbidden by permission system.' },
  // documented (META Decrypt/GenerateDataKey; secrets FAQ): the key's instance has expired
  'Rejected.Unavailable': { status: 409, message: 'The request was rejected because the key state is Unavailable.' },
  // documented (META CreateKey/CreateSecret): the instance's KeyNum/SecretNum quota is used up
  'Rejected.ShareQuotaExceedLimit': { status: 400, message: 'Instance Share Quota Exceed Limit.' },
  // documented for CreateSecret in the 2021 docs; used for every Secrets Manager action: inferred
  'Rejected.Throttling': { status: 429, message: 'The QPS upper limit is exceeded.' },
} as const satisfies Record<string, CatalogueEntry>;

/** A KMS wire error code known to the emulator. */
export type KmsErrorCode = keyof typeof KMS_ERRORS;

/**
 * An error the emulator answers on the wire. `kmsCode` and `httpStatus` travel in `details`; the
 * message is the catalogue's fixed text, optionally naming a parameter (never its value).
 */
export class KmsApiError extends KmsEmulatorError {
  override readonly name: string = 'KmsApiError';
  readonly kmsCode: KmsErrorCode;
  readonly httpStatus: number;
  /** True for 5xx and throttling: a client may retry. */
  readonly retryable: boolean;

  constructor(kmsCode: KmsErrorCode, message?: string) {
    const entry: CatalogueEntry = KMS_ERRORS[kmsCode];
    super(EmulatorErrorCode.KmsApi, message ?? entry.message, { kmsCode, httpStatus: entry.status });
    this.kmsCode = kmsCode;
    this.httpStatus = entry.status;
    this.retryable = entry.status >= 500 || kmsCode === 'Throttling' || kmsCode === 'Rejected.Throttling';
  }
}

/** Throws-ready error for a given code with the catalogue message. */
export function kmsError(code: KmsErrorCode, message?: string): KmsApiError {
  return new KmsApiError(code, message);
}

/** `MissingParameter` naming the parameter (docs/kms-api.md §3.3 message shape). */
export function missingParameter(name: string): KmsApiError {
  return new KmsApiError('MissingParameter', `The parameter "${name}" is needed but not provided.`);
}

/** `InvalidParameter` naming the parameter and, optionally, the rule it broke (never the value). */
export function invalidParameter(name: string, rule?: string): KmsApiError {
  const suffix = rule === undefined ? '' : ` ${rule}`;
  return new KmsApiError('InvalidParameter', `The specified parameter "${name}" is not valid.${suffix}`);
}
