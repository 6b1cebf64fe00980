/**
 * The one error type of the product. Callers switch on `code` (a closed set), never on messages.
 * Messages never carry key material, wrapped material, import tokens or secrets (docs/design.md §5.4).
 */

/** Every error code the product can raise, grouped by area. */
export const ErrorCode = {
  // input and configuration
  InvalidInput: 'ERR_INVALID_INPUT',
  InvalidConfig: 'ERR_INVALID_CONFIG',
  // wrapping and material (shared/wrap)
  InvalidMaterial: 'ERR_INVALID_MATERIAL',
  InvalidPublicKey: 'ERR_INVALID_PUBLIC_KEY',
  UnsupportedAlgorithm: 'ERR_UNSUPPORTED_ALGORITHM',
  AlgorithmMismatch: 'ERR_ALGORITHM_MISMATCH',
  InvalidBase64: 'ERR_INVALID_BASE64',
  UnwrapFailed: 'ERR_UNWRAP_FAILED',
  // KMS (shared/kms): the KMS Code, HTTP status and RequestId travel as data
  KmsNotFound: 'ERR_KMS_NOT_FOUND',
  KmsRejectedState: 'ERR_KMS_REJECTED_STATE',
  KmsInvalidKeyMaterial: 'ERR_KMS_INVALID_KEY_MATERIAL',
  KmsInvalidImportToken: 'ERR_KMS_INVALID_IMPORT_TOKEN',
  KmsExpiredImportToken: 'ERR_KMS_EXPIRED_IMPORT_TOKEN',
  KmsThrottled: 'ERR_KMS_THROTTLED',
  KmsUnavailable: 'ERR_KMS_UNAVAILABLE',
  KmsForbidden: 'ERR_KMS_FORBIDDEN',
  KmsConflict: 'ERR_KMS_CONFLICT',
  KmsInvalidRequest: 'ERR_KMS_INVALID_REQUEST',
  KmsNetwork: 'ERR_KMS_NETWORK',
  KmsUnexpected: 'ERR_KMS_UNEXPECTED',
  // escrow (shared/escrow)
  EscrowNotFound: 'ERR_ESCROW_NOT_FOUND',
  EscrowCorrupt: 'ERR_ESCROW_CORRUPT',
  EscrowWrongMasterKey: 'ERR_ESCROW_WRONG_MASTER_KEY',
  EscrowConflict: 'ERR_ESCROW_CONFLICT',
  EscrowMismatch: 'ERR_ESCROW_MISMATCH',
  // audit (shared/audit)
  AuditChainBroken: 'ERR_AUDIT_CHAIN_BROKEN',
  AuditWriteFailed: 'ERR_AUDIT_WRITE_FAILED',
  // lifecycle (shared/lifecycle)
  LeaseHeld: 'ERR_LEASE_HELD',
  SelfTestFailed: 'ERR_SELF_TEST_FAILED',
  PreconditionFailed: 'ERR_PRECONDITION_FAILED',
  /** A key or secret is not in the KMS instance the configuration names (read-back after create). */
  InstanceMismatch: 'ERR_INSTANCE_MISMATCH',
  /** Crypto on an instance key was refused through the shared gateway (instance setting or RAM). */
  InstanceCryptoDenied: 'ERR_INSTANCE_CRYPTO_DENIED',
  ConfirmationRequired: 'ERR_CONFIRMATION_REQUIRED',
  NotManaged: 'ERR_NOT_MANAGED',
  Revoked: 'ERR_REVOKED',
  TimeBudgetExhausted: 'ERR_TIME_BUDGET_EXHAUSTED',
  // functions and transports
  Unauthenticated: 'ERR_UNAUTHENTICATED',
  PayloadTooLarge: 'ERR_PAYLOAD_TOO_LARGE',
  UnknownPayload: 'ERR_UNKNOWN_PAYLOAD',
  FunctionFailed: 'ERR_FUNCTION_FAILED',
  /** A repair a webhook delivery asked for ended `failed` (the answer is 5xx, so the sender retries). */
  RepairFailed: 'ERR_REPAIR_FAILED',
  Internal: 'ERR_INTERNAL',
} as const;

/** Union of all error codes. */
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** Structured, secret-free context carried by an error (KMS code, request id, field name...). */
export interface ErrorDetails {
  /** The input field or configuration variable at fault. */
  field?: string;
  /** The KMS service error code as KMS sent it (e.g. `Forbidden.KeyNotFound`). */
  kmsCode?: string;
  /** HTTP status of the failed call. */
  httpStatus?: number;
  /** KMS / FC request id, for support tickets. */
  requestId?: string;
  /** The KMS action that failed. */
  action?: string;
  /** Key id the error is about (never material). */
  keyId?: string;
  [extra: string]: string | number | boolean | undefined;
}

/** Base error: a stable `code`, whether retrying can help, and secret-free details. */
export class OrchestratorError extends Error {
  override readonly name: string = 'OrchestratorError';
  readonly code: ErrorCode;
  readonly retryable: boolean;
  readonly details: ErrorDetails;

  constructor(
    code: ErrorCode,
    message: string,
    options: { retryable?: boolean; details?: ErrorDetails; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.retryable = options.retryable ?? false;
    this.details = options.details ?? {};
  }

  /** A JSON-safe view for logs, audit events and HTTP responses (no stack, no cause). */
  toJSON(): { code: ErrorCode; message: string; retryable: boolean; details: ErrorDetails } {
    return { code: this.code, message: this.message, retryable: this.retryable, details: this.details };
  }
}

/** True when `err` is an OrchestratorError, optionally with the given code. */
export function isOrchestratorError(err: unknown, code?: ErrorCode): err is OrchestratorError {
  return err instanceof OrchestratorError && (code === undefined || err.code === code);
}

/** Input validation failure naming the field and the rule it broke. */
export function invalidInput(field: string, rule: string): OrchestratorError {
  return new OrchestratorError(ErrorCode.InvalidInput, `${field}: ${rule}`, { details: { field } });
}
