/**
 * Per-instance runtime of a function: configuration parsed once (errors name the variable), the
 * engine dependency factory (shared/bootstrap.ts, the one the CLI uses too), the KMS client and
 * escrow store built once per instance and rebuilt when FC rotates the role's STS credentials, the
 * structured logger, and per-invocation engine deps (actor, run id, audit chain, deadline, clock).
 *
 * Log lines are JSON objects written to stdout (docs/fc-runtime.md §8.3) with stable keys: `fn`
 * (the function's name) and `requestId` on every line of an invocation, `runId` on every line of a
 * run. The `stdout` audit sink writes its own JSON lines (audit events) to stdout as well.
 */
import { createEngineFactory, type EngineFactory, type EngineInstance, type RunDeps } from '../bootstrap.js';
import { parseConfig, type Config } from '../config/index.js';
import type { Actor } from '../lifecycle/ports.js';
import { createLogger, type Logger } from '../log.js';
import type { Clock } from '../runtime-types.js';
import { systemClock } from '../system.js';
import { instanceCache, stdoutLine } from './adapter.js';
import type { FcContext } from './types.js';

/** What one invocation adds to the instance's deps. */
export interface InvocationInput {
  actor: Actor;
  runId: string;
  clock: Clock;
  deadlineMs?: number;
}

/** The runtime of one function instance. */
export interface FunctionRuntime {
  /** The validated config (parsed on first use; a bad variable fails every invocation clearly). */
  config(context?: FcContext): Config;
  /** The logger of one invocation: `fn` and `requestId` on every line. */
  logger(context: FcContext): Logger;
  /** KMS client and escrow store of this instance, for the invocation's credentials. */
  instance(context: FcContext): Promise<EngineInstance>;
  /** Engine deps for one invocation (logging through `logger(context)`); `close()` them in a `finally`. */
  deps(context: FcContext, input: InvocationInput): Promise<RunDeps>;
}

/** Where the runtime writes (tests capture lines; functions leave the defaults). */
export interface FunctionRuntimeOptions {
  /** One line (log or audit) to the function's stdout; default process.stdout. */
  write?: (line: string) => void;
  /** Clock of log timestamps; default the system clock. */
  nowMs?: () => number;
}

/** Creates the runtime; `env` is the function's environment (read only here, in the adapter layer). */
export function createFunctionRuntime(
  env: Record<string, string | undefined>,
  options: FunctionRuntimeOptions = {},
): FunctionRuntime {
  const write = options.write ?? stdoutLine;
  const log = createLogger({ write, nowMs: options.nowMs ?? systemClock.nowMs });
  const logger = (context: FcContext): Logger =>
    log.child({ fn: context.function?.name, requestId: context.requestId });
  let factory: EngineFactory | undefined;
  const getFactory = (invocationLog: Logger): EngineFactory => {
    if (factory === undefined) {
      const config = parseConfig(env);
      // Once per instance, in the function's log: what the configuration means for this deployment
      // (e.g. no KMS instance set, or escrow sharing the keys' instance by explicit override).
      for (const warning of config.warnings) invocationLog.warn(`configuration: ${warning}`);
      factory = createEngineFactory({ config, auditWriter: write, log });
    }
    return factory;
  };
  const cached = instanceCache((credentials) => getFactory(log).instance(credentials));
  return {
    config: (context) => getFactory(context ? logger(context) : log).config,
    logger,
    instance: (context) => {
      getFactory(logger(context));
      return cached(context);
    },
    async deps(context, input) {
      const invocationLog = logger(context);
      const f = getFactory(invocationLog);
      return f.run(await cached(context), { ...input, log: invocationLog });
    },
  };
}
