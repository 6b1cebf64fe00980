/**
 * Invariant 4: no plaintext material, wrapped material, import token, escrow plaintext or
 * credential secret appears in stdout, stderr, audit files or CLI output. A full scenario runs
 * (onboard, renew, out-of-band delete + re-import, rotate, revoke, restore, verify-escrow, CLI
 * status/plan/sweep/audit) with the kms-secrets escrow backend; a recording decorator around the
 * real KMS adapter collects every token and wrapped blob that crossed the wire, escrow yields every
 * material; then every captured output is scanned for each secret in hex, base64 and base64url,
 * whole and as 20-character windows.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startKmsEmulator, type KmsEmulator } from '@byok/kms-emulator';
import { ESCROW_INSTANCE, KEYS_INSTANCE } from '../../support/engine-harness.js';
import { runCli, type OpsRunner } from '../../../scripts/ops/cli.js';
import { buildEngineDeps } from '../../../shared/bootstrap.js';
import { parseConfig } from '../../../shared/config/index.js';
import { createAlicloudKms } from '../../../shared/kms/alicloud-adapter.js';
import type { KmsPort } from '../../../shared/kms/port.js';
import { onboard, restore, revoke, rotateNow, sweep, verifyEscrow } from '../../../shared/lifecycle/engine.js';
import type { EngineDeps } from '../../../shared/lifecycle/ports.js';
import { executeRequest } from '../../../shared/ops/commands.js';
import { systemRandom } from '../../../shared/system.js';
import { kmsSecretsEngineEnv } from '../../support/cli-env.js';

const AK = { accessKeyId: 'redaction-ak', accessKeySecret: 'redaction-SECRET-0123456789abcdefABCDEF' };

let emu: KmsEmulator;
let dir: string;
const outputs: Array<{ where: string; text: string }> = [];
const wireSecrets: string[] = [];

/** A KmsPort decorator that remembers every secret that crosses it (tokens, wrapped material, escrow secret data). */
function recording(kms: KmsPort): KmsPort {
  return {
    ...kms,
    async getParametersForImport(input) {
      const r = await kms.getParametersForImport(input);
      wireSecrets.push(r.importToken);
      return r;
    },
    async importKeyMaterial(input) {
      wireSecrets.push(input.encryptedKeyMaterial, input.importToken);
      return kms.importKeyMaterial(input);
    },
    async getSecretValue(input) {
      const r = await kms.getSecretValue(input);
      if (input.secretName.startsWith('byok-escrow/')) wireSecrets.push(r.secretData);
      return r;
    },
    async createSecret(input) {
      if (input.secretName.startsWith('byok-escrow/')) wireSecrets.push(input.secretData);
      return kms.createSecret(input);
    },
  };
}

/** The encodings a leak could take. */
function encodings(secret: Buffer | string): string[] {
  const b = typeof secret === 'string' ? Buffer.from(secret, 'utf8') : secret;
  const forms = [
    b.toString('hex'),
    b.toString('hex').toUpperCase(),
    b.toString('base64'),
    b.toString('base64url'),
    b.toString('base64').replace(/=+$/, ''),
  ];
  if (typeof secret === 'string') forms.push(secret);
  return [...new Set(forms)];
}

function windows(s: string, size = 20): string[] {
  if (s.length <= size) return [s];
  const out: string[] = [];
  for (let i = 0; i + size <= s.length; i += 4) out.push(s.slice(i, i + size));
  return out;
}

let deps: EngineDeps;
let escrowKeyId: string;
let nowMs: number;

beforeAll(async () => {
  emu = await startKmsEmulator({
    port: 0,
    credentials: [AK],
    kmsVersion: 3,
    instances: [
      { id: KEYS_INSTANCE, type: 'software' },
      { id: ESCROW_INSTANCE, type: 'software' },
    ],
  });
  dir = await mkdtemp(join(tmpdir(), 'redaction-'));
  const raw = createAlicloudKms({
    endpoint: emu.endpoint,
    protocol: 'http',
    regionId: 'cn-hangzhou',
    credentials: () => AK,
    random: systemRandom,
    nowMs: () => Date.now(),
  });
  escrowKeyId = (
    await raw.createKey({ origin: 'Aliyun_KMS', keySpec: 'Aliyun_AES_256', dkmsInstanceId: ESCROW_INSTANCE })
  ).keyId;
  nowMs = emu.clock.nowUnix() * 1000;
});
afterAll(async () => {
  await emu?.close();
  await rm(dir, { recursive: true, force: true });
});

function env(): Record<string, string> {
  return {
    ...kmsSecretsEngineEnv(emu.endpoint, { keys: KEYS_INSTANCE, escrow: ESCROW_INSTANCE }, escrowKeyId),
    BYOK_AUDIT_SINK: 'both',
    BYOK_AUDIT_FILE: join(dir, 'audit.jsonl'),
    ALIBABA_CLOUD_ACCESS_KEY_ID: AK.accessKeyId,
    ALIBABA_CLOUD_ACCESS_KEY_SECRET: AK.accessKeySecret,
  };
}

async function engineDeps(): Promise<EngineDeps> {
  const d = await buildEngineDeps({
    config: parseConfig(env()),
    credentials: () => AK,
    actor: { kind: 'operator', id: 'redaction-test' },
    clock: { nowMs: () => nowMs },
    auditWriter: (line) => outputs.push({ where: 'stdout', text: line }),
    progress: (line) => outputs.push({ where: 'stderr', text: line }),
  });
  const r = { ...d, kms: recording(d.kms) };
  return r;
}

function advanceDays(days: number): void {
  emu.clock.advance(days * 86_400);
  nowMs += days * 86_400_000;
}

async function cli(argv: string[]): Promise<void> {
  const runner: OpsRunner = { mode: 'direct', run: async (req) => executeRequest(await engineDeps(), req) };
  await runCli(argv, {
    env: env(),
    stdout: (s) => outputs.push({ where: `cli ${argv.join(' ')} stdout`, text: s }),
    stderr: (s) => outputs.push({ where: `cli ${argv.join(' ')} stderr`, text: s }),
    runner,
  });
}

describe('redaction over a full scenario', () => {
  it('finds no material, wrapped material, token or secret in any output', async () => {
    deps = await engineDeps();
    const a = await onboard(deps, { alias: 'alias/redact-a' });
    const b = await onboard(await engineDeps(), { alias: 'alias/redact-b', validityDays: 10 });
    advanceDays(25);
    await sweep(await engineDeps()); // renews
    await deps.kms.deleteKeyMaterial(a.keyId);
    await sweep(await engineDeps()); // re-imports
    await rotateNow(await engineDeps(), 'alias/redact-a');
    await revoke(await engineDeps(), b.keyId, b.keyId);
    await restore(await engineDeps(), b.keyId);
    await verifyEscrow(await engineDeps());
    for (const argv of [
      ['status'],
      ['plan'],
      ['sweep'],
      ['verify-escrow'],
      ['status', '--json'],
      ['sweep', '--json'],
      ['revoke', b.keyId],
      ['audit', 'tail', '-n', '200'],
      ['audit', 'verify'],
    ])
      await cli(argv);
    outputs.push({ where: 'audit file', text: await readFile(join(dir, 'audit.jsonl'), 'utf8') });

    // Collect the secrets.
    const escrowed = (await deps.escrow.list()).records;
    expect(escrowed.length).toBeGreaterThanOrEqual(3);
    const materials: Buffer[] = [];
    for (const r of escrowed) materials.push((await deps.escrow.get(r.keyId)).material);
    expect(wireSecrets.length).toBeGreaterThan(10);
    const secrets: Array<{ name: string; forms: string[] }> = [
      ...materials.map((m, i) => ({ name: `material #${i}`, forms: encodings(m) })),
      ...wireSecrets.map((s, i) => ({ name: `wire secret #${i}`, forms: encodings(s) })),
      { name: 'access key secret', forms: encodings(AK.accessKeySecret) },
    ];
    const haystack = outputs.map((o) => o.text).join('\n');
    expect(haystack.length).toBeGreaterThan(10_000); // the scenario really produced output to scan
    const leaks: string[] = [];
    for (const s of secrets) {
      for (const form of s.forms) {
        for (const w of windows(form)) {
          const hit = outputs.find((o) => o.text.includes(w));
          if (hit) {
            leaks.push(`${s.name} (${w.slice(0, 6)}...) in ${hit.where}`);
            break;
          }
        }
      }
    }
    expect(leaks).toEqual([]);
  }, 120_000);

  it('would notice a leak (the scan is not vacuous)', () => {
    const material = Buffer.from('0123456789abcdef0123456789abcdef');
    const leaked = `{"detail":"oops ${material.toString('base64url')}"}`;
    expect(encodings(material).some((f) => windows(f).some((w) => leaked.includes(w)))).toBe(true);
  });
});
