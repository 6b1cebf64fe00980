/**
 * Bootstrap: THE one dependency factory of the engine, used by the CLI and the functions alike.
 * It turns a validated Config plus a credentials provider into EngineDeps with real things behind
 * them: the system clock and CSPRNG (unless the caller passes its own), the KMS SDK adapter, the
 * escrow backend, the audit log with its sinks, and the caller's structured logger.
 *
 * Two halves, so the functions can cache the expensive one:
 * - `instance(credentials)`: the KMS client and the escrow store. The function adapters keep one per
 *   instance and rebuild it when FC rotates their credentials (shared/fc/runtime.ts); the CLI builds
 *   one per command.
 * - `run(instance, input)`: what one run adds (actor, run id, clock, deadline, audit chain, logger).
 *   Every caller calls `close()` on the result in a `finally` (the file audit sink holds a
 *   descriptor).
 *
 * It caches nothing itself and never writes to process.stdout: the `stdout` audit sink writes
 * through the caller's `auditWriter` (functions pass a stdout line writer, the CLI passes stderr).
 */
import { promises as fsp } from 'node:fs';
import {
  type AlertNotifier,
  type AlertSink,
  createAlertNotifier,
  kmsAlertStateStore,
  logAlertSink,
  webhookAlertSink,
} from './alerts/index.js';
import { createAuditLog, fileAuditSink, writerAuditSink, type AuditLog } from './audit/index.js';
import { ConfigError, ConfigVariable, type Config } from './config/index.js';
import { ErrorCode, OrchestratorError, isOrchestratorError } from './errors.js';
import { openEscrowStore, type EscrowStore } from './escrow/index.js';
import { createAlicloudKms, type AlicloudKms, type KmsCredentials } from './kms/alicloud-adapter.js';
import type { KmsPort } from './kms/port.js';
import type { KmsPacer } from './kms/resilience.js';
import type { Actor, EngineDeps } from './lifecycle/ports.js';
import { silentLogger, type Logger } from './log.js';
import type { Clock, RandomSource } from './runtime-types.js';
import { systemClock, systemRandom } from './system.js';

/**
 * Builds the KmsPort for `config` (endpoint, protocol, region, pacing: the default QPS share of the
 * documented quotas, an explicit ceiling, fixed or derived concurrency).
 */
export function buildKms(
  config: Config,
  credentials: () => KmsCredentials,
  random: RandomSource = systemRandom,
): AlicloudKms {
  return createAlicloudKms({
    endpoint: config.kms.endpoint,
    protocol: config.kms.protocol,
    regionId: config.region,
    credentials,
    random,
    // Rate limiting paces real requests, so it uses real time even when the engine clock is shifted.
    nowMs: systemClock.nowMs,
    ...(config.kms.concurrency !== undefined ? { maxConcurrency: config.kms.concurrency } : {}),
    ...(config.kms.qpsShare !== undefined ? { qpsShare: config.kms.qpsShare } : {}),
    ...(config.kms.maxRequestsPerSecond !== undefined ? { maxRequestsPerSecond: config.kms.maxRequestsPerSecond } : {}),
  });
}

function configError(variable: string, message: string): ConfigError {
  return new ConfigError([{ variable, message: `${variable}: ${message}` }]);
}

/** Reads the break-glass public key named by the config; errors name the variable. */
async function readRecoveryKey(file: string | undefined): Promise<string | undefined> {
  if (file === undefined) return undefined;
  try {
    return await fsp.readFile(file, 'utf8'); // fs.promises on use: node:fs/promises costs a cold start ~1.5 ms
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    const why = typeof code === 'string' ? code : 'read failed';
    throw configError(ConfigVariable.RecoveryPublicKeyFile, `cannot read ${JSON.stringify(file)} (${why})`);
  }
}

/** Opens the escrow backend the config names, with break-glass sealing when configured. */
export async function buildEscrow(
  config: Config,
  kms: KmsPort,
  random: RandomSource = systemRandom,
): Promise<EscrowStore> {
  const pem = await readRecoveryKey(config.escrow.recoveryPublicKeyFile);
  const recovery = pem === undefined ? {} : { recoveryPublicKeyPem: pem };
  const placement = config.instances.escrow === undefined ? {} : { dkmsInstanceId: config.instances.escrow };
  try {
    return await openEscrowStore(config.escrow, { random, kms, ...recovery, ...placement });
  } catch (err) {
    // The stores name their option (recoveryPublicKeyPem); an operator needs the variable.
    if (isOrchestratorError(err, ErrorCode.InvalidConfig) && err.details.field === 'recoveryPublicKeyPem') {
      throw configError(ConfigVariable.RecoveryPublicKeyFile, err.message.replace(/^recoveryPublicKeyPem: /, ''));
    }
    throw err;
  }
}

/**
 * The alert notifier of `config`: state in the `byok-alerts/state` secret (escrow instance, lease
 * CMK), sinks = the log always, plus the outbound webhook when BYOK_ALERT_WEBHOOK_URL is set.
 */
export function buildAlertNotifier(config: Config, kms: KmsPort, log: Logger): AlertNotifier {
  const sinks: AlertSink[] = [logAlertSink(log)];
  const hook = config.alerts.webhook;
  if (hook) {
    const setting = hook.secret;
    let cached: Promise<string> | undefined;
    const secret = async (): Promise<string | undefined> => {
      if (!setting) return undefined;
      if (setting.source === 'value') return setting.value.reveal();
      cached ??= kms.getSecretValue({ secretName: setting.secretName }).then((v) => v.secretData);
      return cached.catch((err: unknown) => {
        cached = undefined; // a failed read is not cached
        throw err;
      });
    };
    sinks.push(webhookAlertSink({ url: hook.url.reveal(), format: hook.format, secret, log }));
  }
  const placement = config.instances.escrow === undefined ? {} : { dkmsInstanceId: config.instances.escrow };
  const store = kmsAlertStateStore({ kms, encryptionKeyId: config.leaseKeyId, ...placement });
  const hours = config.alerts.resendHours;
  const resendMs = { critical: hours.critical * 3_600_000, warning: hours.warning * 3_600_000 };
  return createAlertNotifier({ store, sinks, resendMs, log });
}

/** The per-instance parts of the engine deps: built once per credentials, shared by runs. */
export interface EngineInstance {
  kms: KmsPort;
  escrow: EscrowStore;
  /** The KMS client's pacing (rate per quota group, derived concurrency); unset for a caller's own KmsPort. */
  pacer?: KmsPacer;
}

/** What one run adds to an instance. */
export interface RunInput {
  /** Who this run acts for, recorded on every audit event. */
  actor: Actor;
  /** Unique per run; default `run-` + 16 random hex digits. Also the lease holder id. */
  runId?: string;
  /** Engine clock of this run; default the factory's. */
  clock?: Clock;
  /** Absolute engine-clock time by which writes must stop (function timeout minus a margin). */
  deadlineMs?: number;
  /** Progress lines for people (never secrets); default: info lines of the run's logger. */
  progress?: (line: string) => void;
  /** The run's logger (a function passes its invocation's); default the factory's. `runId` is added. */
  log?: Logger;
  /** `false`: tell nobody about what sweeps and checks find (no alert state, no sinks). Default on. */
  alerts?: boolean;
}

/** Engine deps of one run. `close()` them in a `finally`: the audit log's file sink holds a descriptor. */
export interface RunDeps extends EngineDeps {
  audit: AuditLog;
  log: Logger;
  /** Names of the audit sinks (`stdout`, `file <path>`), in write order. */
  auditSinks: readonly string[];
  /** Closes the audit log (idempotent). */
  close(): Promise<void>;
}

/** What the factory is built from; everything ambient (clock, randomness, output) can be injected. */
export interface EngineFactoryOptions {
  config: Config;
  /** Where the `stdout` audit sink writes one JSON line (with its newline). Required for sink stdout/both. */
  auditWriter?: (line: string) => void;
  /** Logger of the process or function instance; default silent. */
  log?: Logger;
  /** Default engine clock; default the system clock. */
  clock?: Clock;
  /** CSPRNG; default node:crypto. */
  random?: RandomSource;
}

/** The one engine dependency factory. */
export interface EngineFactory {
  readonly config: Config;
  /** Builds the KMS client and escrow store for a credentials provider (read before every KMS call). */
  instance(credentials: () => KmsCredentials): Promise<EngineInstance>;
  /** Builds the deps of one run on `instance`. */
  run(instance: EngineInstance, input: RunInput): Promise<RunDeps>;
}

/** Creates the factory; the audit sink configuration is checked here, once, for every caller. */
export function createEngineFactory(options: EngineFactoryOptions): EngineFactory {
  const { config } = options;
  const random = options.random ?? systemRandom;
  const wantsWriter = config.audit.sink === 'stdout' || config.audit.sink === 'both';
  const wantsFile = config.audit.sink === 'file' || config.audit.sink === 'both';
  const auditWriter = options.auditWriter;
  if (wantsWriter && !auditWriter) {
    const message = 'auditWriter: required when BYOK_AUDIT_SINK is stdout or both';
    throw new OrchestratorError(ErrorCode.InvalidInput, message, { details: { field: 'auditWriter' } });
  }
  const auditFile = config.audit.file;
  if (wantsFile && auditFile === undefined) {
    const rule = `required: the audit JSONL file (${ConfigVariable.AuditSink}=${config.audit.sink})`;
    throw configError(ConfigVariable.AuditFile, rule);
  }
  return {
    config,
    async instance(credentials) {
      const kms = buildKms(config, credentials, random);
      return { kms, escrow: await buildEscrow(config, kms, random), pacer: kms.pacer };
    },
    async run(instance, input) {
      const clock = input.clock ?? options.clock ?? systemClock;
      const runId = input.runId ?? `run-${random.bytes(8).toString('hex')}`;
      const log = (input.log ?? options.log ?? silentLogger).child({ runId });
      const sinks: Parameters<typeof createAuditLog>[0]['sinks'] = [];
      if (wantsWriter && auditWriter) sinks.push(writerAuditSink(auditWriter));
      if (wantsFile && auditFile !== undefined) sinks.push(fileAuditSink(auditFile));
      const audit = await createAuditLog({ sinks, clock, actor: input.actor, runId });
      let closing: Promise<void> | undefined;
      return {
        kms: instance.kms,
        escrow: instance.escrow,
        audit,
        auditSinks: sinks.map((s) => s.name),
        log,
        clock,
        random,
        policies: config.policies,
        leaseKeyId: config.leaseKeyId,
        instances: config.instances,
        leaseTtlMs: config.leaseTtlSeconds * 1000,
        escrowVerifyDays: config.sweep.escrowVerifyDays,
        tagReconcileDays: config.sweep.tagReconcileDays,
        // Lineages written at once: as many calls as the KMS client keeps in flight now (fixed, or
        // derived from the paced rate and the latency this instance has seen). Observe may start up
        // to the client's maximum: the client itself holds the calls in flight to the derived limit.
        ...(instance.pacer === undefined
          ? {}
          : { writeConcurrency: instance.pacer.concurrency(), kmsConcurrency: instance.pacer.maxConcurrency() }),
        actor: input.actor,
        runId,
        ...(input.deadlineMs !== undefined ? { deadlineMs: input.deadlineMs } : {}),
        ...(input.alerts === false ? {} : { alerts: buildAlertNotifier(config, instance.kms, log) }),
        progress: input.progress ?? ((line: string) => log.info(line)),
        close: () => {
          closing ??= audit.close();
          return closing;
        },
      };
    },
  };
}

/** What buildEngineDeps needs: the factory's options, the credentials and one run's input. */
export interface BuildEngineDepsInput extends EngineFactoryOptions, RunInput {
  /** Read before every KMS call. */
  credentials: () => KmsCredentials;
}

/**
 * The factory in one call, for one-shot callers (the local stack's seeding, tests): instance and
 * run. `close()` the result in a `finally`.
 */
export async function buildEngineDeps(input: BuildEngineDepsInput): Promise<RunDeps> {
  const factory = createEngineFactory(input);
  return factory.run(await factory.instance(input.credentials), input);
}
