/**
 * Test harness: a KMS emulator on 127.0.0.1 with a random port, the real SDK adapter over HTTP,
 * an escrow backend, an in-memory audit recorder, and an engine clock that follows the emulator
 * clock (so advancing the emulator advances the engine's "now").
 *
 * By default the emulator models KMS 3.0 as today's accounts have it: the managed keys live in one
 * software instance (shared-gateway access on) and the escrow CMK, escrow secrets and lease
 * secrets in another, so escrow never shares fate with the keys. `kmsVersion: 1` gives the old
 * shared KMS without instances.
 */
import Client, * as $Kms from '@alicloud/kms20160120';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createAlicloudKms } from '../../shared/kms/alicloud-adapter.js';
import type { KmsPort } from '../../shared/kms/port.js';
import { openFileEscrowStore } from '../../shared/escrow/file-store.js';
import { createKmsSecretsEscrowStore } from '../../shared/escrow/kms-secrets-store.js';
import { DEFAULT_POLICY } from '../../shared/config/index.js';
import type { Policies } from '../../shared/lifecycle/model.js';
import type { AuditInput } from '../../shared/audit/event.js';
import type { EngineDeps, EscrowPort } from '../../shared/lifecycle/ports.js';
import { systemRandom } from '../../shared/system.js';
import { startKmsEmulator, type KmsEmulator } from '@byok/kms-emulator';

export const TEST_AK = { accessKeyId: 'test-ak', accessKeySecret: 'test-secret-value-0123456789' };

/** Instance of the managed keys in a KMS 3.0 harness. */
export const KEYS_INSTANCE = 'kst-hzz65f176a0keys0001';
/** Instance of the escrow CMK and the escrow and lease secrets in a KMS 3.0 harness. */
export const ESCROW_INSTANCE = 'kst-hzz65f176a0escrow01';

/**
 * What an operator does by hand in the KMS console, through the official SDK: calls the product
 * itself never makes (so KmsPort has no such methods).
 */
export interface KmsConsole {
  disableKey(keyId: string): Promise<void>;
  enableKey(keyId: string): Promise<void>;
  scheduleKeyDeletion(keyId: string, pendingWindowInDays: number): Promise<void>;
  /** DeleteSecret, with the default recovery window unless `force`. */
  deleteSecret(secretName: string, options?: { force?: boolean }): Promise<void>;
}

/** A KmsConsole on the emulator at `endpoint`. */
export function kmsConsole(
  endpoint: string,
  credentials: { accessKeyId: string; accessKeySecret: string } = TEST_AK,
): KmsConsole {
  const options = { ...credentials, endpoint, protocol: 'http', regionId: 'cn-hangzhou' };
  const client = new Client(options as ConstructorParameters<typeof Client>[0]);
  return {
    async disableKey(keyId) {
      await client.disableKey(new $Kms.DisableKeyRequest({ keyId }));
    },
    async enableKey(keyId) {
      await client.enableKey(new $Kms.EnableKeyRequest({ keyId }));
    },
    async scheduleKeyDeletion(keyId, pendingWindowInDays) {
      await client.scheduleKeyDeletion(new $Kms.ScheduleKeyDeletionRequest({ keyId, pendingWindowInDays }));
    },
    async deleteSecret(secretName, options = {}) {
      const force = options.force ? { forceDeleteWithoutRecovery: 'true' } : {};
      await client.deleteSecret(new $Kms.DeleteSecretRequest({ secretName, ...force }));
    },
  };
}

/** A running harness. */
export interface Harness {
  emu: KmsEmulator;
  /** Out-of-band operator actions (DisableKey, ScheduleKeyDeletion ...) on the same emulator. */
  console: KmsConsole;
  /** Instance placement the deps carry (empty on KMS 1.0). */
  instances: { keys?: string; escrow?: string };
  kms: KmsPort;
  escrow: EscrowPort;
  escrowKeyId: string;
  audit: AuditInput[];
  nowMs: () => number;
  /** Fresh engine deps (a new run id each call). */
  deps(over?: Partial<EngineDeps>): EngineDeps;
  /** Advances the emulator (and engine) clock by whole days. */
  advanceDays(days: number): void;
  close(): Promise<void>;
}

let runCounter = 0;

/** Starts a harness. */
export async function startHarness(
  options: {
    escrow?: 'file' | 'kms-secrets';
    policies?: Policies;
    kmsVersion?: 1 | 3;
    /** The emulator's request log (one line per request, with the action: counts calls by action). */
    emulatorLog?: (line: string) => void;
  } = {},
): Promise<Harness> {
  const v3 = (options.kmsVersion ?? 3) === 3;
  const emu = await startKmsEmulator({
    port: 0,
    ...(options.emulatorLog === undefined ? {} : { log: options.emulatorLog }),
    credentials: [TEST_AK],
    kmsVersion: v3 ? 3 : 1,
    ...(v3
      ? {
          instances: [
            { id: KEYS_INSTANCE, type: 'software' as const },
            { id: ESCROW_INSTANCE, type: 'software' as const },
          ],
        }
      : {}),
  });
  const instances: Harness['instances'] = v3 ? { keys: KEYS_INSTANCE, escrow: ESCROW_INSTANCE } : {};
  const dir = await mkdtemp(join(tmpdir(), 'byok-harness-'));
  const nowMs = () => emu.clock.nowUnix() * 1000;
  const kms = createAlicloudKms({
    endpoint: emu.endpoint,
    protocol: 'http',
    regionId: 'cn-hangzhou',
    credentials: () => TEST_AK,
    random: systemRandom,
    nowMs: () => Date.now(),
    retry: { maxAttempts: 4, baseDelayMs: 5, maxDelayMs: 20 },
  });
  const escrowKey = await kms.createKey({
    origin: 'Aliyun_KMS',
    keySpec: 'Aliyun_AES_256',
    description: 'escrow CMK',
    ...(v3 ? { dkmsInstanceId: ESCROW_INSTANCE } : {}),
  });
  const escrow: EscrowPort =
    options.escrow === 'kms-secrets'
      ? createKmsSecretsEscrowStore({
          kms,
          encryptionKeyId: escrowKey.keyId,
          ...(v3 ? { dkmsInstanceId: ESCROW_INSTANCE } : {}),
        })
      : await openFileEscrowStore({
          dir: join(dir, 'escrow'),
          masterKeyFile: join(dir, 'master.key'),
          random: systemRandom,
        });
  const audit: AuditInput[] = [];
  const policies = options.policies ?? { defaults: DEFAULT_POLICY, lineages: {} };
  return {
    emu,
    console: kmsConsole(emu.endpoint),
    instances,
    kms,
    escrow,
    escrowKeyId: escrowKey.keyId,
    audit,
    nowMs,
    deps: (over = {}) => ({
      kms,
      escrow,
      audit: {
        record: (e: AuditInput) => {
          audit.push(e);
        },
      },
      clock: { nowMs },
      random: systemRandom,
      policies,
      leaseKeyId: escrowKey.keyId,
      instances,
      leaseTtlMs: 15 * 60_000,
      actor: { kind: 'timer', id: 'test' },
      runId: `run-${++runCounter}`,
      ...over,
    }),
    advanceDays: (days) => emu.clock.advance(days * 86_400),
    close: async () => {
      await emu.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
