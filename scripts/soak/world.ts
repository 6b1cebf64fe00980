/**
 * One soak "world": a KMS emulator (KMS 3.0, one instance for the managed keys and one for escrow
 * and leases, as today's accounts have it), the real SDK adapter over HTTP, an escrow backend
 * (file or kms-secrets), an engine clock that follows the emulator clock, and the operator's
 * console (DisableKey, EnableKey, alias moves: calls the product never makes).
 *
 * A crash is simulated at the KMS/escrow boundary: a run's ports reject with CheckpointAbort from
 * its n-th call (or n-th write) on, so a "dead" run changes nothing more in KMS or escrow, whatever
 * the engine does with the error; the lease it held is left to expire, as a killed function's is.
 * A run that keeps calling long after it died, or makes far more calls than a sweep needs, is
 * looping: its calls are then parked (never answered) and the soak reports it.
 */
import Client, * as $Kms from '@alicloud/kms20160120';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startKmsEmulator, type KmsEmulator } from '@byok/kms-emulator';
import type { AuditInput } from '../../shared/audit/event.js';
import type { Policies } from '../../shared/config/index.js';
import { openFileEscrowStore } from '../../shared/escrow/file-store.js';
import { createKmsSecretsEscrowStore } from '../../shared/escrow/kms-secrets-store.js';
import { createAlicloudKms } from '../../shared/kms/alicloud-adapter.js';
import type { KmsPort } from '../../shared/kms/port.js';
import { createLogger } from '../../shared/log.js';
import { CheckpointAbort, type EngineDeps, type EscrowPort } from '../../shared/lifecycle/ports.js';
import { systemRandom } from '../../shared/system.js';

/** The emulator's only access key (local, test-only; still scanned for in every output). */
export const SOAK_AK = { accessKeyId: 'soak-ak', accessKeySecret: 'soak-secret-value-9f8e7d6c5b4a3210' };
const KEYS_INSTANCE = 'kst-hzz65f176a0soakkeys1';
const ESCROW_INSTANCE = 'kst-hzz65f176a0soakescr1';

/** Escrow backends the soak alternates between. */
export type SoakEscrow = 'file' | 'kms-secrets';

/** What one engine run (a sweep or an operator command) wrote to people and to audit. */
export interface RunOutput {
  audit: AuditInput[];
  lines: string[];
}

/** Crash plan of one run: die at this call (1-based) of KMS or escrow, or at this write; undefined = never. */
export interface RunOptions {
  crashAtCall?: number;
  crashAtWrite?: number;
}

/** KMS and escrow calls that change state (a crash "at a write" dies as that call starts). */
const WRITES: ReadonlySet<string> = new Set([
  'createKey',
  'getParametersForImport',
  'importKeyMaterial',
  'deleteKeyMaterial',
  'createAlias',
  'updateAlias',
  'tagResource',
  'untagResource',
  'createSecret',
  'putSecretValue',
  'put',
]);

/** A run's deps and what it recorded. */
export interface SoakRun {
  deps: EngineDeps;
  output: RunOutput;
  /** True once the run "died" (its crash call was reached). */
  crashed(): boolean;
  /** KMS and escrow calls the run made (or tried). */
  calls(): number;
  /** Set when the run looped (kept calling after it died, or made far too many calls): why. */
  runaway(): string | undefined;
}

/** The operator's console: out-of-band calls through the official SDK. */
export interface SoakConsole {
  disableKey(keyId: string): Promise<void>;
  enableKey(keyId: string): Promise<void>;
  updateAlias(aliasName: string, keyId: string): Promise<void>;
  deleteSecret(secretName: string): Promise<void>;
}

/** A running world. */
export interface SoakWorld {
  emu: KmsEmulator;
  escrowBackend: SoakEscrow;
  /** Fault-free reads for the checker (emulator faults are reset before it reads). */
  kms: KmsPort;
  escrow: EscrowPort;
  console: SoakConsole;
  policies: Policies;
  nowMs(): number;
  advanceDays(days: number): void;
  /** Fresh deps for one run (a new run id), recording into `output`. */
  run(options?: RunOptions): SoakRun;
  close(): Promise<void>;
}

let runCounter = 0;
/** Calls a dead run may still attempt (each fails at once) before it counts as looping. */
const MAX_CALLS_AFTER_DEATH = 500;
/** Calls one run may make before it counts as looping (a sweep of a soak world makes a few hundred). */
const MAX_CALLS_PER_RUN = 20_000;

function consoleOf(endpoint: string): SoakConsole {
  const options = { ...SOAK_AK, endpoint, protocol: 'http', regionId: 'cn-hangzhou' };
  const client = new Client(options as ConstructorParameters<typeof Client>[0]);
  return {
    async disableKey(keyId) {
      await client.disableKey(new $Kms.DisableKeyRequest({ keyId }));
    },
    async enableKey(keyId) {
      await client.enableKey(new $Kms.EnableKeyRequest({ keyId }));
    },
    async updateAlias(aliasName, keyId) {
      await client.updateAlias(new $Kms.UpdateAliasRequest({ aliasName, keyId }));
    },
    async deleteSecret(secretName) {
      const request = new $Kms.DeleteSecretRequest({ secretName, forceDeleteWithoutRecovery: 'true' });
      await client.deleteSecret(request);
    },
  };
}

/** Wraps every method of `target`: `tick` may return a promise to answer with instead (a dead or parked run). */
function mortal<T extends object>(target: T, tick: (method: string) => Promise<never> | undefined): T {
  return new Proxy(target, {
    get(obj, prop, receiver) {
      const value = Reflect.get(obj, prop, receiver);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        const parked = tick(String(prop));
        return parked ?? (value as (...a: unknown[]) => unknown).apply(obj, args);
      };
    },
  });
}

/** Starts a world. */
export async function startWorld(options: { escrow: SoakEscrow; policies: Policies }): Promise<SoakWorld> {
  const emu = await startKmsEmulator({
    port: 0,
    credentials: [SOAK_AK],
    kmsVersion: 3,
    instances: [
      { id: KEYS_INSTANCE, type: 'software' },
      { id: ESCROW_INSTANCE, type: 'software' },
    ],
  });
  const dir = await mkdtemp(join(tmpdir(), 'byok-soak-'));
  const nowMs = () => emu.clock.nowUnix() * 1000;
  const kms = createAlicloudKms({
    endpoint: emu.endpoint,
    protocol: 'http',
    regionId: 'cn-hangzhou',
    credentials: () => SOAK_AK,
    random: systemRandom,
    nowMs: () => Date.now(),
    retry: { maxAttempts: 4, baseDelayMs: 2, maxDelayMs: 10 },
  });
  const escrowKey = await kms.createKey({
    origin: 'Aliyun_KMS',
    keySpec: 'Aliyun_AES_256',
    description: 'soak escrow CMK',
    dkmsInstanceId: ESCROW_INSTANCE,
  });
  const secretsEscrow = (port: KmsPort): EscrowPort =>
    createKmsSecretsEscrowStore({ kms: port, encryptionKeyId: escrowKey.keyId, dkmsInstanceId: ESCROW_INSTANCE });
  const fileEscrow =
    options.escrow === 'file'
      ? await openFileEscrowStore({
          dir: join(dir, 'escrow'),
          masterKeyFile: join(dir, 'master.key'),
          random: systemRandom,
        })
      : undefined;
  const escrowOf = (port: KmsPort): EscrowPort => fileEscrow ?? secretsEscrow(port);
  const instances = { keys: KEYS_INSTANCE, escrow: ESCROW_INSTANCE };
  return {
    emu,
    escrowBackend: options.escrow,
    kms,
    escrow: escrowOf(kms),
    console: consoleOf(emu.endpoint),
    policies: options.policies,
    nowMs,
    advanceDays: (days) => emu.clock.advance(Math.round(days * 86_400)),
    run(runOptions = {}) {
      const output: RunOutput = { audit: [], lines: [] };
      let calls = 0;
      let writes = 0;
      let dead = false;
      let deadCalls = 0;
      let runaway: string | undefined;
      const tick = (method: string): Promise<never> | undefined => {
        calls++;
        if (WRITES.has(method)) writes++;
        if (runOptions.crashAtCall !== undefined && calls >= runOptions.crashAtCall) dead = true;
        if (runOptions.crashAtWrite !== undefined && writes >= runOptions.crashAtWrite) dead = true;
        if (dead) deadCalls++;
        // A run that keeps calling after it died, or far beyond any sweep's needs, loops: park its
        // calls for good (so the loop stops spending CPU) and let the soak report it.
        if (runaway === undefined && (deadCalls > MAX_CALLS_AFTER_DEATH || calls > MAX_CALLS_PER_RUN))
          runaway = `${calls} calls (${deadCalls} after it died), the last ${method}`;
        if (runaway !== undefined) return new Promise<never>(() => {});
        // Rejected, not thrown: the real ports are async and never throw synchronously.
        if (dead) return Promise.reject(new CheckpointAbort(`soak: run died at call ${calls} (${method})`));
        return undefined;
      };
      const runKms = mortal(kms, tick);
      // The file escrow is wrapped as is; the kms-secrets escrow goes through the run's mortal KMS.
      const runEscrow = fileEscrow ? mortal(fileEscrow, tick) : secretsEscrow(runKms);
      const runId = `soak-run-${++runCounter}`;
      const deps: EngineDeps = {
        kms: runKms,
        escrow: runEscrow,
        audit: { record: (e: AuditInput) => void output.audit.push(e) },
        clock: { nowMs },
        random: systemRandom,
        policies: options.policies,
        leaseKeyId: escrowKey.keyId,
        instances,
        leaseTtlMs: 15 * 60_000,
        actor: { kind: 'timer', id: 'soak' },
        runId,
        progress: (line) => void output.lines.push(line),
        log: createLogger({ write: (line) => void output.lines.push(line), nowMs, level: 'debug', context: { runId } }),
      };
      return { deps, output, crashed: () => dead, calls: () => calls, runaway: () => runaway };
    },
    close: async () => {
      await emu.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
