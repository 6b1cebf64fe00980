/**
 * Remote mode of the on-call CLI: the same JSON requests, sent to the deployed `ops` function
 * through an Invoker (FC 3.0 invoke on @alicloud/openapi-client by default, @alicloud/fc2 with
 * `--fc2`). The function reports a refused or failed command as an FC function error whose type is
 * our error code; it comes back here as that code, so exit codes match direct mode.
 *
 * Environment: BYOK_FC_ACCOUNT_ID (required), BYOK_REGION (required), BYOK_FC_ENDPOINT (default
 * https://<account>.<region>.fc.aliyuncs.com), BYOK_OPS_FUNCTION (default byok-ops),
 * BYOK_FC2_SERVICE (with --fc2; default byok-orchestrator), and the operator's credentials from
 * the official provider chain (credentials.ts: ALIBABA_CLOUD_* variables, --profile, OIDC, ECS RAM
 * role, ...). The function audits the command as the operator the CLI names: the principal STS
 * GetCallerIdentity returns for these credentials (identity.ts), else `unverified:<access key id>`.
 */
import { readFileSync } from 'node:fs';
import { ConfigError } from '../../shared/config/index.js';
import { ErrorCode, OrchestratorError, isOrchestratorError, type ErrorCode as Code } from '../../shared/errors.js';
import type { OpsResult } from '../../shared/ops/commands.js';
import { chooseCredentialSource, operatorCredentials } from './credentials.js';
import { resolveOperatorIdentity, stsEndpointOf, type Endpoint } from './identity.js';
import { Fc2Invoker, Fc3Invoker, type Invoker } from './invokers.js';
import type { OpsRunner } from './runner.js';

const knownCodes = new Set<string>(Object.values(ErrorCode));

function need(env: Record<string, string | undefined>, name: string, rule: string): string {
  const v = env[name];
  if (!v) throw new OrchestratorError(ErrorCode.InvalidConfig, `${name}: ${rule}`, { details: { field: name } });
  return v;
}

/** The KMS endpoint the environment names, if any (only to find a local emulator's STS). */
function kmsEndpointOf(env: Record<string, string | undefined>): Endpoint | undefined {
  const host = env.BYOK_KMS_ENDPOINT?.trim();
  if (!host) return undefined;
  return { host, protocol: env.BYOK_KMS_PROTOCOL === 'http' ? 'http' : 'https' };
}

/**
 * Builds the remote runner from the environment (or with a given invoker and operator, for tests).
 * Without `operator`, the first run asks STS who the credentials belong to (`warn` gets the line
 * that says when it could not).
 */
export function createRemoteRunner(options: {
  env: Record<string, string | undefined>;
  fc2: boolean;
  operator?: string;
  invoker?: Invoker;
  profile?: string;
  warn?: (line: string) => void;
}): OpsRunner {
  const { env } = options;
  const functionName = env.BYOK_OPS_FUNCTION || 'byok-ops';
  // Asked once, at the first run (no network while the runner is built).
  let whoAsks: (() => Promise<string>) | undefined;
  let operator: Promise<string> | undefined =
    options.operator === undefined ? undefined : Promise.resolve(options.operator);
  const invoker =
    options.invoker ??
    (() => {
      const accountId = need(
        env,
        'BYOK_FC_ACCOUNT_ID',
        'required for --remote: the Alibaba Cloud account id that owns the functions',
      );
      const region = need(env, 'BYOK_REGION', 'required for --remote, e.g. cn-hangzhou');
      const chosen = chooseCredentialSource(env, options.profile === undefined ? {} : { profile: options.profile });
      if (!chosen.source) throw new ConfigError(chosen.problems);
      const credentials = operatorCredentials(chosen.source);
      whoAsks = async () => {
        await credentials.resolve();
        const sts = stsEndpointOf(env, kmsEndpointOf(env));
        return (await resolveOperatorIdentity(env, credentials, sts, options.warn ?? (() => {}))).actor.id;
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
      operator ??= whoAsks ? whoAsks() : Promise.resolve('unnamed-operator');
      let who: string;
      try {
        who = await operator;
      } catch (err) {
        operator = undefined; // a failed resolution is asked again next time
        throw err;
      }
      let result: unknown;
      try {
        result = await invoker.invoke(functionName, { ...request, operator: who });
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
