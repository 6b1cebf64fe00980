/**
 * Remote mode of the on-call CLI: the same JSON requests, sent to the deployed `ops` function
 * through an Invoker (FC 3.0 invoke on @alicloud/openapi-client by default, @alicloud/fc2 with
 * `--fc2`). The function reports a refused or failed command as an FC function error whose type is
 * our error code; it comes back here as that code, so exit codes match direct mode.
 *
 * Environment: BYOK_FC_ACCOUNT_ID (required), BYOK_REGION (required), BYOK_FC_ENDPOINT (default
 * https://<account>.<region>.fc.aliyuncs.com), BYOK_OPS_FUNCTION (default byok-ops),
 * BYOK_FC2_SERVICE (with --fc2; default byok-orchestrator), and the operator's credentials in
 * ALIBABA_CLOUD_ACCESS_KEY_ID / _SECRET / _SECURITY_TOKEN.
 */
import { readFileSync } from 'node:fs';
import { ErrorCode, OrchestratorError, isOrchestratorError, type ErrorCode as Code } from '../../shared/errors.js';
import type { OpsResult } from '../../shared/ops/commands.js';
import { Fc2Invoker, Fc3Invoker, type Invoker } from './invokers.js';
import type { OpsRunner } from './runner.js';

const knownCodes = new Set<string>(Object.values(ErrorCode));

function need(env: Record<string, string | undefined>, name: string, rule: string): string {
  const v = env[name];
  if (!v) throw new OrchestratorError(ErrorCode.InvalidConfig, `${name}: ${rule}`, { details: { field: name } });
  return v;
}

/** Builds the remote runner from the environment (or with a given invoker, for tests). */
export function createRemoteRunner(options: {
  env: Record<string, string | undefined>;
  fc2: boolean;
  operator: string;
  invoker?: Invoker;
}): OpsRunner {
  const { env } = options;
  const functionName = env.BYOK_OPS_FUNCTION || 'byok-ops';
  const invoker =
    options.invoker ??
    (() => {
      const accountId = need(
        env,
        'BYOK_FC_ACCOUNT_ID',
        'required for --remote: the Alibaba Cloud account id that owns the functions',
      );
      const region = need(env, 'BYOK_REGION', 'required for --remote, e.g. cn-hangzhou');
      const credentials = {
        accessKeyId: need(env, 'ALIBABA_CLOUD_ACCESS_KEY_ID', 'required: the operator access key id'),
        accessKeySecret: need(env, 'ALIBABA_CLOUD_ACCESS_KEY_SECRET', 'required: the operator access key secret'),
        ...(env.ALIBABA_CLOUD_SECURITY_TOKEN ? { securityToken: env.ALIBABA_CLOUD_SECURITY_TOKEN } : {}),
      };
      const common = {
        accountId,
        region,
        credentials,
        ...(env.BYOK_FC_ENDPOINT ? { endpoint: env.BYOK_FC_ENDPOINT } : {}),
      };
      return options.fc2
        ? new Fc2Invoker({ ...common, serviceName: env.BYOK_FC2_SERVICE || 'byok-orchestrator' })
        : new Fc3Invoker(common);
    })();
  return {
    mode: 'remote',
    async run(request, hooks) {
      hooks.progress(`invoking ${functionName} (${options.fc2 ? 'FC 2.0 API' : 'FC 3.0 API'}): ${request.command}`);
      let result: unknown;
      try {
        result = await invoker.invoke(functionName, { ...request, operator: options.operator });
      } catch (err) {
        // The ops function names our error code as the FC errorType; give it back its code.
        if (
          isOrchestratorError(err, ErrorCode.FunctionFailed) &&
          typeof err.details.errorType === 'string' &&
          knownCodes.has(err.details.errorType)
        ) {
          const code = err.details.errorType as Code;
          const message = err.message.replace(/^function \S+ failed: /, '').replace(new RegExp(`^${code}: `), '');
          throw new OrchestratorError(code, message, { details: { ...err.details, remote: true } });
        }
        throw err;
      }
      if (
        typeof result !== 'object' ||
        result === null ||
        (result as { command?: unknown }).command !== request.command
      ) {
        throw new OrchestratorError(
          ErrorCode.FunctionFailed,
          `${functionName} answered something that is not a ${request.command} result`,
          { details: { functionName } },
        );
      }
      return result as OpsResult;
    },
  };
}

/** Reads KEY=VALUE lines (as `npm start` writes `.local/cli.env`); blank lines and # comments ignored. */
export function readEnvFile(path: string): Record<string, string> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    throw new OrchestratorError(
      ErrorCode.InvalidConfig,
      `--local: cannot read ${path}; start the local stack first (npm start)`,
      { details: { field: '--local' } },
    );
  }
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^\s*([A-Z][A-Z0-9_]*)=(.*)$/.exec(line);
    if (m) out[m[1]!] = m[2]!;
  }
  return out;
}
