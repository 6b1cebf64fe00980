/**
 * buildEngineDeps, the wiring the CLI (and the function adapters) get their EngineDeps from:
 * values taken from Config, injected clock and writer honoured, config-file problems named by
 * variable. No KMS call is made here (the SDK client connects lazily).
 */
import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildEngineDeps } from '../../../shared/bootstrap.js';
import { ConfigError, parseConfig } from '../../../shared/config/index.js';
import { ErrorCode } from '../../../shared/errors.js';

let dir: string;
const credentials = () => ({ accessKeyId: 'ak', accessKeySecret: 'never-used-secret' });
const actor = { kind: 'operator' as const, id: 'ak' };

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'byok-bootstrap-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function fileEnv(extra: Record<string, string> = {}): Record<string, string> {
  return {
    BYOK_REGION: 'cn-hangzhou',
    BYOK_ESCROW_BACKEND: 'file',
    BYOK_ESCROW_DIR: join(dir, 'escrow'),
    BYOK_ESCROW_MASTER_KEY_FILE: join(dir, 'master.key'),
    BYOK_LEASE_KEY_ID: 'key-lease',
    BYOK_LEASE_TTL_SECONDS: '1200',
    BYOK_POLICY_OVERRIDES: '{"orders": {"validityDays": 10, "renewBeforeDays": 3}}',
    ...extra,
  };
}

describe('buildEngineDeps', () => {
  it('takes policies, lease key and TTL from the config, and a fresh run id each call', async () => {
    const config = parseConfig(fileEnv());
    const lines: string[] = [];
    const a = await buildEngineDeps({
      config,
      credentials,
      actor,
      auditWriter: (l) => lines.push(l),
      deadlineMs: 1234,
      clock: { nowMs: () => 1_800_000_000_000 },
    });
    const b = await buildEngineDeps({ config, credentials, actor, auditWriter: (l) => lines.push(l) });
    expect({
      policies: a.policies,
      leaseKeyId: a.leaseKeyId,
      leaseTtlMs: a.leaseTtlMs,
      actor: a.actor,
      deadlineMs: a.deadlineMs,
    }).toEqual({
      policies: config.policies,
      leaseKeyId: 'key-lease',
      leaseTtlMs: 1_200_000,
      actor,
      deadlineMs: 1234,
    });
    expect(a.policies.lineages['orders']).toEqual({ validityDays: 10, renewBeforeDays: 3 });
    expect(a.runId).toMatch(/^run-[0-9a-f]{16}$/);
    expect(b.runId).toMatch(/^run-[0-9a-f]{16}$/);
    expect(a.runId).not.toBe(b.runId);
    expect(a.clock.nowMs()).toBe(1_800_000_000_000);
    expect((await a.escrow.list()).records).toEqual([]);
    await a.audit.close();
    await b.audit.close();
  });

  it("writes stdout audit lines through the caller's writer, stamped with the injected clock and run id", async () => {
    const lines: string[] = [];
    const deps = await buildEngineDeps({
      config: parseConfig(fileEnv()),
      credentials,
      actor,
      runId: 'run-fixed',
      auditWriter: (l) => lines.push(l),
      clock: { nowMs: () => 1_800_000_000_000 },
    });
    deps.audit.record({ action: 'renew', phase: 'intent', lineage: 'orders' });
    expect(lines).toHaveLength(1);
    expect(lines[0]!.endsWith('\n')).toBe(true);
    expect(JSON.parse(lines[0]!)).toMatchObject({
      runId: 'run-fixed',
      seq: 1,
      timeMs: 1_800_000_000_000,
      actor,
      action: 'renew',
      phase: 'intent',
      lineage: 'orders',
    });
  });

  it('with BYOK_AUDIT_SINK=both writes the same line to the writer and the file', async () => {
    const file = join(dir, 'audit', 'both.jsonl');
    const lines: string[] = [];
    const deps = await buildEngineDeps({
      config: parseConfig(fileEnv({ BYOK_AUDIT_SINK: 'both', BYOK_AUDIT_FILE: file })),
      credentials,
      actor,
      auditWriter: (l) => lines.push(l),
    });
    deps.audit.record({ action: 'sweep', phase: 'decision' });
    await deps.audit.close();
    expect(await readFile(file, 'utf8')).toBe(lines.join(''));
  });

  it('refuses a stdout sink without a writer (shared/ never writes to process.stdout itself)', async () => {
    await expect(buildEngineDeps({ config: parseConfig(fileEnv()), credentials, actor })).rejects.toMatchObject({
      code: ErrorCode.InvalidInput,
      details: { field: 'auditWriter' },
    });
  });

  it('opens the kms-secrets backend when configured', async () => {
    const env = {
      BYOK_REGION: 'cn-hangzhou',
      BYOK_ESCROW_KEY_ID: 'key-escrow',
      BYOK_KMS_INSTANCE_ID: 'kst-hzz65f176a0keys0001',
      BYOK_ESCROW_INSTANCE_ID: 'kst-hzz65f176a0escrow01',
    };
    const deps = await buildEngineDeps({ config: parseConfig(env), credentials, actor, auditWriter: () => {} });
    expect([(deps.escrow as { backend?: string }).backend, deps.leaseKeyId]).toEqual(['kms-secrets', 'key-escrow']);
    expect(deps.instances).toEqual({ keys: 'kst-hzz65f176a0keys0001', escrow: 'kst-hzz65f176a0escrow01' });
  });

  it('names BYOK_RECOVERY_PUBLIC_KEY_FILE when the file is missing', async () => {
    const missing = join(dir, 'nope.pem');
    const err = await buildEngineDeps({
      config: parseConfig(fileEnv({ BYOK_RECOVERY_PUBLIC_KEY_FILE: missing })),
      credentials,
      actor,
      auditWriter: () => {},
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).message).toBe(
      `BYOK_RECOVERY_PUBLIC_KEY_FILE: cannot read ${JSON.stringify(missing)} (ENOENT)`,
    );
  });

  it('names BYOK_RECOVERY_PUBLIC_KEY_FILE when the key is too small for break-glass', async () => {
    const pem = generateKeyPairSync('rsa', { modulusLength: 2048 })
      .publicKey.export({ type: 'spki', format: 'pem' })
      .toString();
    const file = join(dir, 'small.pem');
    await writeFile(file, pem);
    const err = await buildEngineDeps({
      config: parseConfig(fileEnv({ BYOK_RECOVERY_PUBLIC_KEY_FILE: file })),
      credentials,
      actor,
      auditWriter: () => {},
    }).catch((e: unknown) => e);
    expect([(err as ConfigError).code, (err as ConfigError).message]).toEqual([
      ErrorCode.InvalidConfig,
      'BYOK_RECOVERY_PUBLIC_KEY_FILE: must be at least 4096 bits, got 2048',
    ]);
  });
});
