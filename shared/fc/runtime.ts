/**
 * Per-instance runtime of a function: configuration parsed once (errors name the variable), the
 * KMS client and escrow store built once per instance and rebuilt when FC rotates the role's STS
 * credentials, and per-invocation engine deps (actor, run id, audit chain, deadline, clock).
 */
import { buildEscrow, buildKms } from '../bootstrap.js';
import { createAuditLog, fileAuditSink, writerAuditSink, type AuditSinkLike } from '../audit/index.js';
import { parseConfig, type Config } from '../config/index.js';
import type { KmsCredentials } from '../kms/alicloud-adapter.js';
import type { KmsPort } from '../kms/port.js';
import type { EscrowStore } from '../escrow/index.js';
import type { Actor, EngineDeps } from '../lifecycle/ports.js';
import type { Clock } from '../runtime-types.js';
import { systemRandom } from '../system.js';
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
  config(): Config;
  /** KMS and escrow of this instance, for the invocation's credentials. */
  base(context: FcContext): Promise<{ kms: KmsPort; escrow: EscrowStore }>;
  /** Engine deps for one invocation. */
  deps(context: FcContext, input: InvocationInput): Promise<EngineDeps>;
}

/** Builds the audit log of one invocation from the configured sinks. */
export async function invocationAudit(config: Config, input: InvocationInput, writer: (line: string) => void) {
  const sinks: AuditSinkLike[] = [];
  if (config.audit.sink === 'stdout' || config.audit.sink === 'both') sinks.push(writerAuditSink(writer));
  if ((config.audit.sink === 'file' || config.audit.sink === 'both') && config.audit.file) sinks.push(fileAuditSink(config.audit.file));
  return createAuditLog({ sinks, clock: input.clock, actor: input.actor, runId: input.runId });
}

/** Creates the runtime; `env` is the function's environment (read only here, in the adapter layer). */
export function createFunctionRuntime(env: Record<string, string | undefined>): FunctionRuntime {
  let config: Config | undefined;
  const getConfig = (): Config => {
    if (config === undefined) {
      config = parseConfig(env);
      // Once per instance, in the function's log: what the configuration means for this deployment
      // (e.g. no KMS instance set, or escrow sharing the keys' instance by explicit override).
      for (const warning of config.warnings) stdoutLine(JSON.stringify({ level: 'warn', msg: `configuration: ${warning}` }));
    }
    return config;
  };
  const base = instanceCache(async (credentials: () => KmsCredentials) => {
    const kms = buildKms(getConfig(), credentials, systemRandom);
    const escrow = await buildEscrow(getConfig(), kms, systemRandom);
    return { kms, escrow };
  });
  return {
    config: getConfig,
    base,
    async deps(context, input) {
      const cfg = getConfig();
      const { kms, escrow } = await base(context);
      const audit = await invocationAudit(cfg, input, stdoutLine);
      return {
        kms,
        escrow,
        audit,
        clock: input.clock,
        random: systemRandom,
        policies: cfg.policies,
        leaseKeyId: cfg.leaseKeyId,
        instances: cfg.instances,
        leaseTtlMs: cfg.leaseTtlSeconds * 1000,
        actor: input.actor,
        runId: input.runId,
        ...(input.deadlineMs !== undefined ? { deadlineMs: input.deadlineMs } : {}),
        progress: (line: string) => stdoutLine(JSON.stringify({ level: 'info', runId: input.runId, msg: line })),
      };
    },
  };
}
