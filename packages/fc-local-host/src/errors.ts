/**
 * The local FC host's own error type. The host is dev tooling, not product code: it imports
 * nothing from shared/, so its failures carry their own small code set.
 */

/** Codes of the errors the host throws in-process. */
export const FcHostErrorCode = {
  /** s.yaml, host options or a timer schedule is unusable (`details.field` names the place). */
  InvalidConfig: 'INVALID_CONFIG',
  /** An in-process call named an unknown function or timer (`details.field`). */
  InvalidInput: 'INVALID_INPUT',
  /** A bug in the host. */
  Internal: 'INTERNAL',
} as const;

/** Union of host error codes. */
export type FcHostErrorCode = (typeof FcHostErrorCode)[keyof typeof FcHostErrorCode];

/** An error of the local FC host: a stable `code` and secret-free `details`. */
export class FcHostError extends Error {
  override readonly name: string = 'FcHostError';
  readonly code: FcHostErrorCode;
  readonly details: Readonly<Record<string, string>>;

  constructor(code: FcHostErrorCode, message: string, details: Record<string, string> = {}) {
    super(message);
    this.code = code;
    this.details = details;
  }
}
