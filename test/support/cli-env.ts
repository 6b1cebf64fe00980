/**
 * The CLI integration tests' world: a KMS 3.0 emulator on 127.0.0.1 with the managed keys' instance
 * and the escrow instance, the lease CMK in the escrow instance, a temporary folder for file escrow
 * and the audit file, and the environment the CLI reads (direct mode, operator credentials).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type KmsEmulator, startKmsEmulator } from '@byok/kms-emulator';
import { createAlicloudKms } from '../../shared/kms/alicloud-adapter.js';
import type { KmsPort } from '../../shared/kms/port.js';
import { systemRandom } from '../../shared/system.js';
import { ESCROW_INSTANCE, KEYS_INSTANCE } from './engine-harness.js';

/**
 * An adapter over the emulator at `endpoint` and a fresh `Aliyun_KMS` CMK in `instance` for the escrow
 * and lease secrets (the setup every emulator-backed engine test starts from).
 */
export async function emulatorKmsWithEscrowKey(
  endpoint: string,
  credentials: () => { accessKeyId: string; accessKeySecret: string; securityToken?: string },
  instance: string,
): Promise<{ kms: KmsPort; escrowKeyId: string }> {
  const kms = createAlicloudKms({
    endpoint,
    protocol: 'http',
    regionId: 'cn-hangzhou',
    credentials,
    random: systemRandom,
    nowMs: () => Date.now(),
  });
  const escrowKey = await kms.createKey({
    origin: 'Aliyun_KMS',
    keySpec: 'Aliyun_AES_256',
    description: 'escrow and lease CMK',
    dkmsInstanceId: instance,
  });
  return { kms, escrowKeyId: escrowKey.keyId };
}

/**
 * The engine's variables for an emulator with keys in `instances.keys` and the `kms-secrets`
 * escrow (with its leases) in `instances.escrow` under `escrowKeyId`, audit to stdout: the base every
 * such test adds its own settings to.
 */
export function kmsSecretsEngineEnv(
  endpoint: string,
  instances: { keys: string; escrow: string },
  escrowKeyId: string,
): Record<string, string> {
  return {
    BYOK_REGION: 'cn-hangzhou',
    BYOK_KMS_ENDPOINT: endpoint,
    BYOK_KMS_PROTOCOL: 'http',
    BYOK_KMS_INSTANCE_ID: instances.keys,
    BYOK_ESCROW_INSTANCE_ID: instances.escrow,
    BYOK_ESCROW_BACKEND: 'kms-secrets',
    BYOK_ESCROW_KEY_ID: escrowKeyId,
    BYOK_AUDIT_SINK: 'stdout',
  };
}

/** A running CLI test world. */
export interface CliTestEnv {
  emu: KmsEmulator;
  /** The product's adapter with the operator's credentials (for setting things up and checking). */
  kms: KmsPort;
  dir: string;
  escrowKeyId: string;
  /** The variables the CLI reads. */
  env: Record<string, string | undefined>;
  close(): Promise<void>;
}

/**
 * Starts the world for a CLI test file; `prefix` names its temporary folder. `moreCredentials` are
 * accepted by the emulator too (e.g. STS credentials a test rotates through).
 */
export async function startCliTestEnv(
  credential: { accessKeyId: string; accessKeySecret: string },
  prefix: string,
  moreCredentials: Array<{ accessKeyId: string; accessKeySecret: string; securityToken?: string }> = [],
) {
  const emu = await startKmsEmulator({
    port: 0,
    credentials: [credential, ...moreCredentials],
    kmsVersion: 3,
    instances: [
      { id: KEYS_INSTANCE, type: 'software' },
      { id: ESCROW_INSTANCE, type: 'software' },
    ],
  });
  const { kms, escrowKeyId } = await emulatorKmsWithEscrowKey(emu.endpoint, () => credential, ESCROW_INSTANCE);
  const dir = await mkdtemp(join(tmpdir(), prefix));
  const env: Record<string, string | undefined> = {
    BYOK_REGION: 'cn-hangzhou',
    BYOK_KMS_ENDPOINT: emu.endpoint,
    BYOK_KMS_PROTOCOL: 'http',
    BYOK_KMS_INSTANCE_ID: KEYS_INSTANCE,
    BYOK_ESCROW_INSTANCE_ID: ESCROW_INSTANCE,
    BYOK_ESCROW_BACKEND: 'file',
    BYOK_ESCROW_DIR: join(dir, 'escrow'),
    BYOK_ESCROW_MASTER_KEY_FILE: join(dir, 'master.key'),
    BYOK_LEASE_KEY_ID: escrowKeyId,
    BYOK_AUDIT_SINK: 'file',
    BYOK_AUDIT_FILE: join(dir, 'audit.jsonl'),
    ALIBABA_CLOUD_ACCESS_KEY_ID: credential.accessKeyId,
    ALIBABA_CLOUD_ACCESS_KEY_SECRET: credential.accessKeySecret,
    USER: 'alice',
  };
  const world: CliTestEnv = {
    emu,
    kms,
    dir,
    escrowKeyId: escrowKeyId,
    env,
    close: async () => {
      await emu.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
  return world;
}
