/**
 * Direct mode of the on-call CLI: the lifecycle engine in-process, with the operator's own
 * credentials found through the official provider chain (credentials.ts: environment variables,
 * `--profile` / the aliyun CLI profile, OIDC, ECS RAM role, credentials URI) and the BYOK_*
 * configuration (shared/config), its deps built per command by the same factory the functions use
 * (shared/bootstrap.ts) and closed when the command ends. The operator recorded in audit events is
 * the principal STS GetCallerIdentity names (identity.ts), else the access key id marked
 * `unverified:`.
 *
 * Output: stdout carries only the command's result (cli.ts), so the `stdout` audit sink, config
 * warnings and the engine's log lines go to stderr, like progress.
 */
import { createEngineFactory, type EngineFactory, type RunDeps } from '../../shared/bootstrap.js';
import { ConfigError, parseConfig, type Config, type ConfigProblem } from '../../shared/config/index.js';
import { invocationClock } from '../../shared/fc/adapter.js';
import type { Actor } from '../../shared/lifecycle/ports.js';
import type { Logger } from '../../shared/log.js';
import { executeRequest } from '../../shared/ops/commands.js';
import type { Clock } from '../../shared/runtime-types.js';
import { systemClock } from '../../shared/system.js';
import functionRolePolicy from '../deploy/ram-policy-function.json';
import { chooseCredentialSource, operatorCredentials, type OperatorCredentials } from './credentials.js';
import { resolveOperatorIdentity, stsEndpointOf, unverifiedActorId, type OperatorIdentity } from './identity.js';
import type { OpsRunner, RunHooks } from './runner.js';

type Env = Record<string, string | undefined>;

/**
 * The audit actor before (or without) GetCallerIdentity: the access key id of the environment (not
 * a secret), else $USER, marked `unverified:`. Remote mode names the operator with it only when STS
 * cannot be asked.
 */
export function operatorActor(env: Env): Actor {
  return { kind: 'operator', id: unverifiedActorId(env, env['ALIBABA_CLOUD_ACCESS_KEY_ID']?.trim()) };
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
  /** The operator's credentials (resolved lazily, before each run). */
  credentials: OperatorCredentials;
  /** The actor until GetCallerIdentity has answered (the unverified fallback). */
  actor: Actor;
  factory: EngineFactory;
}

/**
 * Parses config and chooses the credential source together (one error lists every problem) and
 * builds the factory. No network: credentials and identity are resolved when a command runs.
 * A bad `--profile` throws its own coded error naming the flag.
 */
export function directSetup(env: Env, output: DirectOutput, options: { profile?: string } = {}): DirectSetup {
  const problems: ConfigProblem[] = [];
  let config: Config | undefined;
  try {
    config = parseConfig(env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    problems.push(...err.problems);
  }
  const chosen = chooseCredentialSource(env, options);
  problems.push(...chosen.problems);
  if (problems.length > 0 || !config || !chosen.source) throw new ConfigError(problems);
  const factory = createEngineFactory({
    config,
    // stdout carries only the command's result: the `stdout` audit sink goes to stderr here.
    auditWriter: (line) => output.writeLine(line.endsWith('\n') ? line.slice(0, -1) : line),
    ...(output.log ? { log: output.log } : {}),
  });
  const accessKeyId = chosen.source.via === 'env' ? chosen.source.accessKeyId : undefined;
  return {
    config,
    credentials: operatorCredentials(chosen.source),
    actor: { kind: 'operator', id: unverifiedActorId(env, accessKeyId) },
    factory,
  };
}

/** How often a run asks the provider again (session providers refresh only near expiry). */
const REFRESH_MS = 60_000;

/**
 * Engine deps of one direct-mode command; `close()` them in a `finally`. The credentials are
 * resolved first and re-asked every minute while the run lasts, so rotating STS / ECS role
 * credentials are refreshed (the KMS adapter rebuilds its client when they change).
 */
export async function directEngineDeps(
  setup: DirectSetup,
  run: { clock: Clock; progress: RunHooks['progress']; actor?: Actor },
): Promise<RunDeps> {
  const { factory, credentials } = setup;
  await credentials.resolve();
  const timer = setInterval(() => {
    // A failed refresh keeps the last credentials; the KMS call that needs new ones reports it.
    credentials.resolve().catch(() => {});
  }, REFRESH_MS);
  timer.unref();
  try {
    const deps = await factory.run(await factory.instance(() => credentials.current()), {
      actor: run.actor ?? setup.actor,
      clock: run.clock,
      progress: run.progress,
    });
    const close = deps.close;
    return {
      ...deps,
      close: () => {
        clearInterval(timer);
        return close();
      },
    };
  } catch (err) {
    clearInterval(timer);
    throw err;
  }
}

/** The direct runner: builds engine deps per request and runs the engine in-process. */
export function createDirectRunner(
  options: { env: Env; now?: () => number; profile?: string } & DirectOutput,
): OpsRunner {
  const setup = directSetup(options.env, options, options.profile === undefined ? {} : { profile: options.profile });
  for (const w of setup.config.warnings) options.writeLine(`warning: ${w}`);
  const sts = stsEndpointOf(options.env, { host: setup.config.kms.endpoint, protocol: setup.config.kms.protocol });
  let identity: Promise<OperatorIdentity> | undefined;
  return {
    mode: 'direct',
    async run(request, hooks) {
      // Against the local stack the engine shares the emulator's (possibly accelerated) clock, as
      // the functions do; otherwise the system clock.
      const clock = options.now
        ? { nowMs: options.now }
        : await invocationClock(systemClock, options.env['BYOK_LOCAL_TIME_URL']);
      await setup.credentials.resolve();
      identity ??= resolveOperatorIdentity(options.env, setup.credentials, sts, options.writeLine);
      const who = await identity;
      const deps = await directEngineDeps(setup, { clock, progress: hooks.progress, actor: who.actor });
      try {
        // doctor also checks the configuration itself and compares the shipped role policy.
        const context = { config: setup.config, identity: who.description, ramPolicy: functionRolePolicy };
        return await executeRequest(deps, request, context);
      } finally {
        await deps.close();
      }
    },
  };
}
