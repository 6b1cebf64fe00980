/**
 * `ops`: manual invocation by on-call engineers (`s invoke -e '{"command":"status"}'`, or the CLI's
 * remote mode). bytes -> JSON command -> config -> deps -> engine -> JSON result. Runs under the
 * function's role; audited with the caller's identity (`operator` field: the invoker's RAM identity
 * as the CLI reports it; the InvokeFunction call itself is in ActionTrail). Destructive commands
 * need their confirmation field. A refused or failed command throws a coded error: FC returns it
 * with `x-fc-error-type`, and both invokers surface it as a failure.
 * Logs: one JSON line per command (`fn`, `requestId`, `runId`, `command`, `operator`); a failure at
 * `error` level with its stack when uncoded (the caller only sees "internal error").
 */
import { ErrorCode, OrchestratorError, isOrchestratorError } from '../../shared/errors.js';
import { decodeJson, deadlineFor, invocationClock, logFailure } from '../../shared/fc/adapter.js';
import { createFunctionRuntime } from '../../shared/fc/runtime.js';
import type { FcContext } from '../../shared/fc/types.js';
import type { LogFields } from '../../shared/log.js';
import { WRITE_COMMANDS, executeRequest, parseOpsRequest, type OpsResult } from '../../shared/ops/commands.js';
import { systemClock } from '../../shared/system.js';
// The role policy as shipped with this build: doctor compares the product's KMS calls with it.
import functionRolePolicy from '../../scripts/deploy/ram-policy-function.json';

const runtime = createFunctionRuntime(process.env);

/**
 * FC reports a thrown error as `{errorType: err.name, errorMessage: err.message}`; we put the
 * stable code in both so callers can act on it, and never pass on a non-coded error's text.
 */
function asFunctionError(err: unknown): Error {
  const e = isOrchestratorError(err) ? err : new OrchestratorError(ErrorCode.Internal, 'internal error');
  const out = new Error(`${e.code}: ${e.message}`);
  out.name = e.code;
  return out;
}

/** FC entry point. */
export async function handler(event: Buffer, context: FcContext): Promise<OpsResult> {
  const fields: LogFields = {};
  const log = runtime.logger(context);
  try {
    const result = await run(event, context, fields);
    log.info('ops command done', fields);
    return result;
  } catch (err) {
    logFailure(log, 'ops command failed', err, fields);
    throw asFunctionError(err);
  }
}

/** Runs one command; fills `fields` (command, operator, runId) for the log line as they become known. */
async function run(event: Buffer, context: FcContext, fields: LogFields): Promise<OpsResult> {
  const payload = decodeJson(event) as Record<string, unknown>;
  const request = parseOpsRequest(payload);
  fields.command = request.command;
  const operator = payload?.operator;
  const claimed = typeof operator === 'string' && /^[\w.@:/-]{1,128}$/.test(operator) ? operator : undefined;
  if (!claimed && WRITE_COMMANDS.has(request.command)) {
    const rule = `operator: required for ${request.command}, who is invoking (1-128 of letters, digits, . @ : / _ -)`;
    throw new OrchestratorError(ErrorCode.InvalidInput, rule, { details: { field: 'operator' } });
  }
  const operatorId = claimed ?? 'unnamed-reader';
  fields.operator = operatorId;
  const runId = `ops-${context.requestId}`;
  fields.runId = runId;
  const clock = await invocationClock(systemClock, process.env.BYOK_LOCAL_TIME_URL);
  const deps = await runtime.deps(context, {
    actor: { kind: 'operator', id: operatorId },
    runId,
    clock,
    deadlineMs: deadlineFor(context, clock.nowMs(), clock.rate),
  });
  try {
    const opsContext = { config: runtime.config(), identity: 'the function role', ramPolicy: functionRolePolicy };
    return await executeRequest(deps, request, opsContext);
  } finally {
    await deps.close();
  }
}
