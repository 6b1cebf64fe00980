/**
 * Bootstrap: THE one module in shared/ that turns a validated Config plus a credentials provider
 * into EngineDeps with real things behind them: the system clock and CSPRNG (unless the caller
 * passes its own), the KMS SDK adapter, the escrow backend, the audit log with its sinks.
 *
 * It caches nothing at module level: each call builds fresh objects. The function adapters keep
 * one result per instance (and rebuild when their credentials change); the CLI builds per command.
 * It never writes to process.stdout itself: the `stdout` audit sink writes through the caller's
 * `auditWriter` (FC adapters pass a console line writer, the CLI passes stderr).
 */
import { readFile } from 'node:fs/promises';
import { createAuditLog, fileAuditSink, writerAuditSink, type AuditLog, type AuditSink } from './audit/index.js';
import { ConfigError, ConfigVariable, type Config } from './config/index.js';
import { ErrorCode, OrchestratorError, isOrchestratorError } from './errors.js';
import { openEscrowStore, type EscrowStore } from './escrow/index.js';
import { createAlicloudKms, type KmsCredentials } from './kms/alicloud-adapter.js';
import type { KmsPort } from './kms/port.js';
import type { Actor, EngineDeps } from './lifecycle/ports.js';
import type { Clock, RandomSource } from './runtime-types.js';
import { systemClock, systemRandom } from './system.js';

/** What buildEngineDeps needs; everything ambient (clock, randomness, output) can be injected. */
export interface BuildEngineDepsInput {
  config: Config;
  /** Read before every KMS call (STS credentials rotate under FC). */
  credentials: () => KmsCredentials;
  /** Who this run acts for, recorded on every audit event. */
  actor: Actor;
  /** Unique per invocation; default `run-` + 16 random hex digits. */
  runId?: string;
  /** Absolute engine-clock time by which writes must stop (function timeout minus a margin). */
  deadlineMs?: number;
  /** Progress lines for people (never secrets). */
  progress?: (line: string) => void;
  /** Where the `stdout` audit sink writes one JSON line (with its trailing newline). Required for sink stdout/both. */
  auditWriter?: (line: string) => void;
  /** Engine clock; default the system clock (tests pass one that follows the emulator). */
  clock?: Clock;
  /** CSPRNG; default node:crypto. */
  random?: RandomSource;
}

/** Builds the KmsPort for `config` (endpoint, protocol, region, concurrency and rate limits). */
export function buildKms(config: Config, credentials: () => KmsCredentials, random: RandomSource = systemRandom): KmsPort {
  return createAlicloudKms({
    endpoint: config.kms.endpoint,
    protocol: config.kms.protocol,
    regionId: config.region,
    credentials,
    random,
    // Rate limiting paces real requests, so it uses real time even when the engine clock is shifted.
    nowMs: systemClock.nowMs,
    maxConcurrency: config.kms.concurrency,
    ...(config.kms.maxRequestsPerSecond !== undefined ? { maxRequestsPerSecond: config.kms.maxRequestsPerSecond } : {}),
  });
}

/** Reads the break-glass public key named by the config; errors name the variable. */
async function readRecoveryKey(file: string | undefined): Promise<string | undefined> {
  if (file === undefined) return undefined;
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    throw new ConfigError([{ variable: ConfigVariable.RecoveryPublicKeyFile, message: `${ConfigVariable.RecoveryPublicKeyFile}: cannot read ${JSON.stringify(file)} (${typeof code === 'string' ? code : 'read failed'})` }]);
  }
}

/** Opens the escrow backend the config names, with break-glass sealing when configured. */
export async function buildEscrow(config: Config, kms: KmsPort, random: RandomSource = systemRandom): Promise<EscrowStore> {
  const pem = await readRecoveryKey(config.escrow.recoveryPublicKeyFile);
  const recovery = pem === undefined ? {} : { recoveryPublicKeyPem: pem };
  try {
    return await openEscrowStore(
      config.escrow.backend === 'file'
        ? { kind: 'file', dir: config.escrow.dir, masterKeyFile: config.escrow.masterKeyFile, ...recovery }
        : {
            kind: 'kms-secrets',
            encryptionKeyId: config.escrow.keyId,
            ...(config.instances.escrow === undefined ? {} : { dkmsInstanceId: config.instances.escrow }),
            ...recovery,
          },
      { random, kms },
    );
  } catch (err) {
    // The stores name their option (recoveryPublicKeyPem); an operator needs the variable.
    if (isOrchestratorError(err, ErrorCode.InvalidConfig) && err.details.field === 'recoveryPublicKeyPem') {
      const rule = err.message.replace(/^recoveryPublicKeyPem: /, '');
      throw new ConfigError([{ variable: ConfigVariable.RecoveryPublicKeyFile, message: `${ConfigVariable.RecoveryPublicKeyFile}: ${rule}` }]);
    }
    throw err;
  }
}

/**
 * Builds everything the engine needs from a Config and a credentials provider. `audit` is the
 * AuditLog itself, so the caller can `close()` it (the file sink holds a descriptor) when done.
 */
export async function buildEngineDeps(input: BuildEngineDepsInput): Promise<EngineDeps & { audit: AuditLog }> {
  const { config } = input;
  const clock = input.clock ?? systemClock;
  const random = input.random ?? systemRandom;
  const runId = input.runId ?? `run-${random.bytes(8).toString('hex')}`;
  const kms = buildKms(config, input.credentials, random);
  const escrow = await buildEscrow(config, kms, random);

  const sinks: AuditSink[] = [];
  if (config.audit.sink === 'stdout' || config.audit.sink === 'both') {
    if (!input.auditWriter) throw new OrchestratorError(ErrorCode.InvalidInput, 'auditWriter: required when BYOK_AUDIT_SINK is stdout or both', { details: { field: 'auditWriter' } });
    sinks.push(writerAuditSink(input.auditWriter));
  }
  if (config.audit.sink === 'file' || config.audit.sink === 'both') sinks.push(fileAuditSink(config.audit.file!));
  const audit = await createAuditLog({ sinks, clock, actor: input.actor, runId });

  return {
    kms,
    escrow,
    audit,
    clock,
    random,
    policies: config.policies,
    leaseKeyId: config.leaseKeyId,
    instances: config.instances,
    leaseTtlMs: config.leaseTtlSeconds * 1000,
    actor: input.actor,
    runId,
    ...(input.deadlineMs !== undefined ? { deadlineMs: input.deadlineMs } : {}),
    ...(input.progress ? { progress: input.progress } : {}),
  };
}
