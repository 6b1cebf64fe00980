/**
 * Shared pieces of the three function adapters: decoding events into typed values, the one table
 * from error codes to HTTP statuses, error responses and failure logging, per-instance dependency
 * caching keyed by the STS credentials (FC rotates them; docs/fc-runtime.md §2.3: valid 36 h), and
 * the time budget.
 */
import { ErrorCode, OrchestratorError, isOrchestratorError, type ErrorCode as Code } from '../errors.js';
import type { KmsCredentials } from '../kms/alicloud-adapter.js';
import type { LogFields, Logger } from '../log.js';
import type { Clock } from '../runtime-types.js';
import type { FcContext, HttpResponse, HttpTriggerEvent, TimerEvent } from './types.js';

/** Parses the invocation payload (a Buffer, §2.2) as JSON; a coded error otherwise. */
export function decodeJson(event: unknown): unknown {
  const text = Buffer.isBuffer(event)
    ? event.toString('utf8')
    : typeof event === 'string'
      ? event
      : event instanceof Uint8Array
        ? Buffer.from(event).toString('utf8')
        : undefined;
  if (text === undefined) return event; // already an object (some local runners)
  if (text.trim() === '') return {};
  try {
    return JSON.parse(text);
  } catch {
    throw new OrchestratorError(ErrorCode.InvalidInput, 'event: must be a JSON document', {
      details: { field: 'event' },
    });
  }
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Decodes a timer event (§3.1); a manual invocation without the fields is a coded error. */
export function decodeTimerEvent(event: unknown): TimerEvent {
  const v = decodeJson(event);
  if (!isRecord(v) || typeof v.triggerTime !== 'string' || typeof v.triggerName !== 'string') {
    throw new OrchestratorError(
      ErrorCode.InvalidInput,
      'event: a timer event needs triggerTime and triggerName strings',
      { details: { field: 'event' } },
    );
  }
  return {
    triggerTime: v.triggerTime,
    triggerName: v.triggerName,
    payload: typeof v.payload === 'string' ? v.payload : '',
  };
}

/** Decodes an HTTP trigger event (§2.5). */
export function decodeHttpEvent(event: unknown): HttpTriggerEvent {
  const v = decodeJson(event);
  if (!isRecord(v) || typeof v.rawPath !== 'string' || !isRecord(v.headers)) {
    throw new OrchestratorError(
      ErrorCode.InvalidInput,
      'event: not an HTTP trigger event (rawPath and headers required)',
      { details: { field: 'event' } },
    );
  }
  const strings = (r: unknown): Record<string, string> =>
    isRecord(r)
      ? Object.fromEntries(Object.entries(r).filter((e): e is [string, string] => typeof e[1] === 'string'))
      : {};
  return {
    rawPath: v.rawPath,
    body: typeof v.body === 'string' ? v.body : '',
    isBase64Encoded: v.isBase64Encoded === true,
    headers: strings(v.headers),
    queryParameters: strings(v.queryParameters),
    requestContext: isRecord(v.requestContext) ? (v.requestContext as HttpTriggerEvent['requestContext']) : undefined,
  };
}

/** The raw body bytes of an HTTP event (FC base64-encodes binary bodies). */
export function httpBody(e: HttpTriggerEvent): Buffer {
  return Buffer.from(e.body ?? '', e.isBase64Encoded ? 'base64' : 'utf8');
}

/** Case-insensitive header lookup (FC passes Go-canonical names, §2.5). */
export function header(e: HttpTriggerEvent, name: string): string | undefined {
  const want = name.toLowerCase();
  for (const [k, v] of Object.entries(e.headers)) if (k.toLowerCase() === want) return v;
  return undefined;
}

/** The one table from error codes to HTTP statuses. */
export function httpStatusOf(code: Code): number {
  switch (code) {
    case ErrorCode.Unauthenticated:
      return 401;
    case ErrorCode.PayloadTooLarge:
      return 413;
    case ErrorCode.UnknownPayload:
    case ErrorCode.InvalidInput:
      return 400;
    case ErrorCode.ConfirmationRequired:
      return 412;
    case ErrorCode.LeaseHeld:
    case ErrorCode.KmsConflict:
      return 409;
    case ErrorCode.NotManaged:
    case ErrorCode.KmsNotFound:
      return 404;
    case ErrorCode.KmsThrottled:
    case ErrorCode.KmsUnavailable:
    case ErrorCode.KmsNetwork:
    case ErrorCode.TimeBudgetExhausted:
      return 503;
    default:
      return 500;
  }
}

/** A JSON HTTP response. */
export function jsonResponse(statusCode: number, body: unknown): HttpResponse {
  return {
    statusCode,
    headers: { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' },
    body: JSON.stringify(body),
    isBase64Encoded: false,
  };
}

/** An error as an HTTP response: code and secret-free message only, never a stack. */
export function errorResponse(err: unknown): HttpResponse {
  if (isOrchestratorError(err))
    return jsonResponse(httpStatusOf(err.code), { error: { code: err.code, message: err.message } });
  return jsonResponse(500, { error: { code: ErrorCode.Internal, message: 'internal error' } });
}

/** The one message of every 401 answer. */
export const UNAUTHENTICATED_MESSAGE = 'webhook: not authenticated';

/**
 * An error as a response to a caller that may not even be authenticated: refusals (4xx) say what
 * was wrong; failures (5xx) say only which kind, with a fixed message (details go to the log).
 */
export function publicErrorResponse(err: unknown): HttpResponse {
  // Every authentication failure gets the same body: the reason is the log's business.
  if (isOrchestratorError(err) && err.code === ErrorCode.Unauthenticated) {
    return jsonResponse(401, { error: { code: err.code, message: UNAUTHENTICATED_MESSAGE } });
  }
  // A failed repair names the failing keys and error codes (secret-free by construction).
  if (isOrchestratorError(err) && err.code === ErrorCode.RepairFailed) {
    return jsonResponse(500, { error: { code: err.code, message: err.message } });
  }
  const response = errorResponse(err);
  if (response.statusCode < 500) return response;
  const code = isOrchestratorError(err) ? err.code : ErrorCode.Internal;
  return jsonResponse(response.statusCode, { error: { code, message: 'temporarily unable to process; retry later' } });
}

/** True when `err` is a refusal of the request (a coded error answered with a 4xx status). */
export function isRefusal(err: unknown): boolean {
  return isOrchestratorError(err) && httpStatusOf(err.code) < 500;
}

/**
 * Logs a failed invocation: a refusal at `warn` with its code, anything else at `error` (with the
 * stack when the error is uncoded: for a bug, the log is the only trace). Never into a response.
 */
export function logFailure(log: Logger, msg: string, err: unknown, fields: LogFields = {}): void {
  if (isOrchestratorError(err) && isRefusal(err)) {
    log.warn(msg, { errorCode: err.code, errorMessage: err.message, ...fields });
  } else {
    log.error(msg, err, fields);
  }
}

/** The credentials FC hands the invocation, in the KMS adapter's shape. */
export function credentialsOf(context: FcContext): KmsCredentials {
  const c = context.credentials;
  if (!c?.accessKeyId || !c.accessKeySecret) {
    throw new OrchestratorError(
      ErrorCode.InvalidConfig,
      'context.credentials: the function has no role credentials (configure a role in s.yaml)',
      { details: { field: 'role' } },
    );
  }
  return {
    accessKeyId: c.accessKeyId,
    accessKeySecret: c.accessKeySecret,
    ...(c.securityToken ? { securityToken: c.securityToken } : {}),
  };
}

/**
 * Per-instance cache of something built from credentials: rebuilt when FC hands out different
 * credentials, reused otherwise (cold start cost is paid once per instance and rotation).
 */
export function instanceCache<T>(
  build: (credentials: () => KmsCredentials) => Promise<T>,
): (context: FcContext) => Promise<T> {
  let current: { fingerprint: string; value: Promise<T>; creds: KmsCredentials } | undefined;
  return (context) => {
    const creds = credentialsOf(context);
    const fingerprint = `${creds.accessKeyId}\u0000${creds.accessKeySecret}\u0000${creds.securityToken ?? ''}`;
    if (!current || current.fingerprint !== fingerprint) {
      const holder = { fingerprint, creds, value: undefined as unknown as Promise<T> };
      holder.value = build(() => holder.creds).catch((err: unknown) => {
        if (current === holder) current = undefined; // do not cache a failed build
        throw err;
      });
      current = holder;
    }
    return current.value;
  };
}

/**
 * Deadline for engine writes: the function timeout minus a margin (10 % and at least 5 s), so a
 * run stops cleanly between steps instead of being killed mid-write (invariant 9). The timeout is
 * real time; `rate` (engine-clock ms per real ms, above 1 only under the local stack's --speed)
 * converts it to the engine clock, so an accelerated clock does not leave a run a fraction of a
 * second for its writes.
 */
export function deadlineFor(context: FcContext, startedAtMs: number, rate = 1): number {
  const timeoutMs = Math.max(1, context.function?.timeout ?? 60) * 1000;
  const margin = Math.max(5_000, Math.floor(timeoutMs / 10));
  return startedAtMs + Math.max(1_000, timeoutMs - margin) * Math.max(1, rate);
}

/**
 * The engine clock. In the cloud: the system clock. In the local stack only, BYOK_LOCAL_TIME_URL
 * points at the KMS emulator's admin `state` so the functions share the emulator's (possibly
 * accelerated) clock: one sample per invocation gives the emulator's time (`nowMs`) and rate
 * (`rate`, emulator seconds per real second), and the clock then runs at that rate, so it follows
 * the emulator continuously (two runs 0.5 s apart at speed 3600 see times 30 minutes apart, as the
 * emulator does, not the same time). The sample is taken at the middle of the request.
 */
export async function invocationClock(
  systemClock: Clock,
  localTimeUrl: string | undefined,
): Promise<Clock & { rate?: number }> {
  if (!localTimeUrl) return systemClock;
  const sentMs = systemClock.nowMs();
  const res = await fetch(localTimeUrl);
  const body = (await res.json()) as { nowUnix?: unknown; nowMs?: unknown; rate?: unknown };
  const receivedMs = systemClock.nowMs();
  if (typeof body.nowUnix !== 'number')
    throw new OrchestratorError(ErrorCode.InvalidConfig, 'BYOK_LOCAL_TIME_URL: did not answer with nowUnix', {
      details: { field: 'BYOK_LOCAL_TIME_URL' },
    });
  const emulatorMs = typeof body.nowMs === 'number' ? body.nowMs : body.nowUnix * 1000;
  const rate = typeof body.rate === 'number' && body.rate > 0 ? body.rate : 1;
  const sampledAtMs = (sentMs + receivedMs) / 2;
  return { nowMs: () => Math.floor(emulatorMs + (systemClock.nowMs() - sampledAtMs) * rate), rate };
}

/** Writes one line to the function's stdout (FC ships it to Log Service, §8). */
export function stdoutLine(line: string): void {
  process.stdout.write(line.endsWith('\n') ? line : `${line}\n`);
}
