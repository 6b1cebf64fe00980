/**
 * The structured logger every function and script uses (in the manner of AWS Powertools' Logger):
 * one JSON object per line with stable keys `{time, level, msg, ...context, ...fields}`; an error
 * is logged at `error` level with its code and, when uncoded, its stack. Log lines are for operators: they never
 * reach HTTP responses or audit events. Every string that goes out passes the secret guard, so a
 * secret-looking run is redacted even if a caller slips one in.
 *
 * The writer and the clock are injected (functions pass stdout and the system clock; tests pass a
 * list), so nothing here touches process.stdout or the wall clock directly.
 */
import { redactSecretLike } from './audit/guard.js';
import { isOrchestratorError } from './errors.js';

/** Levels, in order. */
export const LogLevel = { Debug: 'debug', Info: 'info', Warn: 'warn', Error: 'error' } as const;
/** A log level. */
export type LogLevel = (typeof LogLevel)[keyof typeof LogLevel];

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

/** Extra fields of one line: plain values only. */
export type LogFields = Record<string, string | number | boolean | undefined>;

/** What the logger writes through and reads time from. */
export interface LoggerOptions {
  /** Receives one line (no trailing newline). */
  write: (line: string) => void;
  /** Epoch ms for the `time` field. */
  nowMs: () => number;
  /** Lines below this level are dropped (default `info`). */
  level?: LogLevel;
  /** Fields on every line (function name, run id...). */
  context?: LogFields;
}

/** A structured logger. */
export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  /** `err` adds `errorCode`, `errorMessage` and (for uncoded errors, or at debug level) `stack`. */
  error(msg: string, err?: unknown, fields?: LogFields): void;
  /** A logger whose lines also carry `fields`. */
  child(fields: LogFields): Logger;
}

function clean(value: string): string {
  return redactSecretLike(value).text;
}

/**
 * Fields describing an error: its code and message, and (never its cause chain's data) its stack:
 * always for an uncoded error (a bug: the stack is the only trace), for a coded one only when
 * `codedStack` is set (a logger at debug level), since its code and message already say what happened.
 */
export function errorFields(err: unknown, options: { codedStack?: boolean } = {}): LogFields {
  if (isOrchestratorError(err)) {
    const stack = options.codedStack && err.stack ? { stack: err.stack } : {};
    return { errorCode: err.code, errorMessage: err.message, ...stack };
  }
  if (err instanceof Error) {
    const stack = err.stack ? { stack: err.stack } : {};
    return { errorCode: 'ERR_INTERNAL', errorName: err.name, errorMessage: err.message, ...stack };
  }
  return { errorCode: 'ERR_INTERNAL', errorMessage: 'a non-Error value was thrown' };
}

/** Builds a logger. */
export function createLogger(options: LoggerOptions): Logger {
  const threshold = RANK[options.level ?? LogLevel.Info];
  const context = options.context ?? {};
  const emit = (level: LogLevel, msg: string, fields: LogFields): void => {
    if (RANK[level] < threshold) return;
    const line: Record<string, string | number | boolean> = {
      time: new Date(options.nowMs()).toISOString(),
      level,
      msg: clean(msg),
    };
    for (const [k, v] of Object.entries({ ...context, ...fields })) {
      if (v !== undefined) line[k] = typeof v === 'string' ? clean(v) : v;
    }
    options.write(JSON.stringify(line));
  };
  return {
    debug: (msg, fields = {}) => emit(LogLevel.Debug, msg, fields),
    info: (msg, fields = {}) => emit(LogLevel.Info, msg, fields),
    warn: (msg, fields = {}) => emit(LogLevel.Warn, msg, fields),
    error: (msg, err, fields = {}) => {
      const described = err === undefined ? {} : errorFields(err, { codedStack: threshold <= RANK.debug });
      emit(LogLevel.Error, msg, { ...described, ...fields });
    },
    child: (fields) => createLogger({ ...options, context: { ...context, ...fields } }),
  };
}

/** A logger that drops everything (for tests and library callers that pass none). */
export const silentLogger: Logger = createLogger({
  write: () => {},
  nowMs: () => 0,
  level: LogLevel.Error,
  context: {},
});
