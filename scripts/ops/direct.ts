/**
 * Direct mode of the on-call CLI: the lifecycle engine in-process, with the operator's own
 * credentials (`ALIBABA_CLOUD_ACCESS_KEY_ID` / `_SECRET` / `_SECURITY_TOKEN`) and the BYOK_*
 * configuration (shared/config), its deps built per command by the same factory the functions use
 * (shared/bootstrap.ts) and closed when the command ends.
 *
 * Output: stdout carries only the command's result (cli.ts), so the `stdout` audit sink, config
 * warnings and the engine's log lines go to stderr, like progress.
 */
import { createEngineFactory, type EngineFactory, type RunDeps } from '../../shared/bootstrap.js';
import { ConfigError, parseConfig, type Config, type ConfigProblem } from '../../shared/config/index.js';
import { invocationClock } from '../../shared/fc/adapter.js';
import type { KmsCredentials } from '../../shared/kms/alicloud-adapter.js';
import type { Actor } from '../../shared/lifecycle/ports.js';
import type { Logger } from '../../shared/log.js';
import { executeRequest } from '../../shared/ops/commands.js';
import type { Clock } from '../../shared/runtime-types.js';
import { systemClock } from '../../shared/system.js';
import functionRolePolicy from '../deploy/ram-policy-function.json';
import type { OpsRunner, RunHooks } from './runner.js';

type Env = Record<string, string | undefined>;

/** The operator's credentials from the standard Alibaba Cloud variables; problems name the variable. */
export function credentialsFromEnv(env: Env): { credentials?: KmsCredentials; problems: ConfigProblem[] } {
  const id = env['ALIBABA_CLOUD_ACCESS_KEY_ID']?.trim();
  const secret = env['ALIBABA_CLOUD_ACCESS_KEY_SECRET'];
  const token = env['ALIBABA_CLOUD_SECURITY_TOKEN'];
  const problems: ConfigProblem[] = [];
  if (!id) {
    const message = 'ALIBABA_CLOUD_ACCESS_KEY_ID: required in direct mode (your access key id)';
    problems.push({ variable: 'ALIBABA_CLOUD_ACCESS_KEY_ID', message });
  }
  if (!secret) {
    const message = 'ALIBABA_CLOUD_ACCESS_KEY_SECRET: required in direct mode (value not shown)';
    problems.push({ variable: 'ALIBABA_CLOUD_ACCESS_KEY_SECRET', message });
  }
  if (problems.length > 0 || !id || !secret) return { problems };
  return {
    credentials: { accessKeyId: id, accessKeySecret: secret, ...(token ? { securityToken: token } : {}) },
    problems,
  };
}

/** The audit actor of a direct-mode operator: the access key id (not a secret), else $USER. */
export function operatorActor(env: Env): Actor {
  return {
    kind: 'operator',
    id: env['ALIBABA_CLOUD_ACCESS_KEY_ID']?.trim() || env['USER'] || env['USERNAME'] || 'unknown',
  };
}

/** Where direct mode writes besides the result. */
export interface DirectOutput {
  /** One line for people on stderr (no trailing newline): warnings, the `stdout` audit sink's lines. */
  writeLine: (line: string) => void;
  /** The engine's structured log (default silent). */
  log?: Logger;
}

/** Everything a direct-mode command needs from the environment, checked together. */
export interface DirectSetup {
  config: Config;
  credentials: KmsCredentials;
  actor: Actor;
  factory: EngineFactory;
}

/** Parses config and credentials together (one error lists every problem) and builds the factory. */
export function directSetup(env: Env, output: DirectOutput): DirectSetup {
  const problems: ConfigProblem[] = [];
  let config: Config | undefined;
  try {
    config = parseConfig(env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    problems.push(...err.problems);
  }
  const creds = credentialsFromEnv(env);
  problems.push(...creds.problems);
  if (problems.length > 0 || !config || !creds.credentials) throw new ConfigError(problems);
  const factory = createEngineFactory({
    config,
    // stdout carries only the command's result: the `stdout` audit sink goes to stderr here.
    auditWriter: (line) => output.writeLine(line.endsWith('\n') ? line.slice(0, -1) : line),
    ...(output.log ? { log: output.log } : {}),
  });
  return { config, credentials: creds.credentials, actor: operatorActor(env), factory };
}

/** Engine deps of one direct-mode command; `close()` them in a `finally`. */
export async function directEngineDeps(
  setup: DirectSetup,
  run: { clock: Clock; progress: RunHooks['progress'] },
): Promise<RunDeps> {
  const { factory, credentials } = setup;
  return factory.run(await factory.instance(() => credentials), {
    actor: setup.actor,
    clock: run.clock,
    progress: run.progress,
  });
}

/** The direct runner: builds engine deps per request and runs the engine in-process. */
export function createDirectRunner(options: { env: Env; now?: () => number } & DirectOutput): OpsRunner {
  const setup = directSetup(options.env, options);
  for (const w of setup.config.warnings) options.writeLine(`warning: ${w}`);
  return {
    mode: 'direct',
    async run(request, hooks) {
      // Against the local stack the engine shares the emulator's (possibly accelerated) clock, as
      // the functions do; otherwise the system clock.
      const clock = options.now
        ? { nowMs: options.now }
        : await invocationClock(systemClock, options.env['BYOK_LOCAL_TIME_URL']);
      const deps = await directEngineDeps(setup, { clock, progress: hooks.progress });
      try {
        // doctor also checks the configuration itself and compares the shipped role policy.
        const context = {
          config: setup.config,
          identity: `access key ${setup.credentials.accessKeyId}`,
          ramPolicy: functionRolePolicy,
        };
        return await executeRequest(deps, request, context);
      } finally {
        await deps.close();
      }
    },
  };
}
