/**
 * One dependency factory: the CLI (direct mode) and the functions (shared/fc/runtime.ts) build the
 * same engine dependencies from the same configuration: placement, lease key and TTL, policies,
 * audit sinks, escrow backend, randomness. What differs by design is per run (actor, run id,
 * clock, deadline, where the `stdout` audit sink writes). No KMS call is made here.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { directEngineDeps, directSetup } from '../../../scripts/ops/direct.js';
import type { RunDeps } from '../../../shared/bootstrap.js';
import { createFunctionRuntime } from '../../../shared/fc/runtime.js';
import type { FcContext } from '../../../shared/fc/types.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'byok-parity-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const clock = { nowMs: () => 1_800_000_000_000 };
const context = (credentials: FcContext['credentials']): FcContext => ({
  requestId: '1-65e571bc-158a59e8-b63f98cd471c',
  credentials,
  function: { name: 'byok-ops', timeout: 60 },
});

/** The fields that come from configuration, as comparable values. */
function wiring(d: RunDeps) {
  return {
    instances: d.instances,
    leaseKeyId: d.leaseKeyId,
    leaseTtlMs: d.leaseTtlMs,
    policies: d.policies,
    auditSinks: d.auditSinks,
    escrowBackend: (d.escrow as { backend?: string }).backend,
    random: d.random,
  };
}

const configs: Array<[string, () => Record<string, string>]> = [
  [
    'file escrow, audit to stdout and a file',
    () => ({
      BYOK_REGION: 'cn-hangzhou',
      BYOK_ESCROW_BACKEND: 'file',
      BYOK_ESCROW_DIR: join(dir, 'escrow'),
      BYOK_ESCROW_MASTER_KEY_FILE: join(dir, 'master.key'),
      BYOK_LEASE_KEY_ID: 'key-lease',
      BYOK_LEASE_TTL_SECONDS: '1200',
      BYOK_POLICY_OVERRIDES: '{"orders": {"validityDays": 10, "renewBeforeDays": 3}}',
      BYOK_AUDIT_SINK: 'both',
      BYOK_AUDIT_FILE: join(dir, 'audit.jsonl'),
    }),
  ],
  [
    'kms-secrets escrow in its own instance, audit to stdout',
    () => ({
      BYOK_REGION: 'cn-hangzhou',
      BYOK_ESCROW_KEY_ID: 'key-escrow',
      BYOK_KMS_INSTANCE_ID: 'kst-hzz65f176a0keys0001',
      BYOK_ESCROW_INSTANCE_ID: 'kst-hzz65f176a0escrow01',
      BYOK_POLICY_VALIDITY_DAYS: '14',
    }),
  ],
];

describe('the CLI and the functions build the same engine deps', () => {
  it.each(configs)('%s', async (_name, envOf) => {
    const env = envOf();
    const cliEnv = {
      ...env,
      ALIBABA_CLOUD_ACCESS_KEY_ID: 'oncall-ak',
      ALIBABA_CLOUD_ACCESS_KEY_SECRET: 'test-secret-value-0123456789',
    };
    const cliLines: string[] = [];
    const cli = await directEngineDeps(directSetup(cliEnv, { writeLine: (l) => cliLines.push(l) }), {
      clock,
      progress: () => {},
    });
    const fnLines: string[] = [];
    const runtime = createFunctionRuntime(env, { write: (l) => fnLines.push(l), nowMs: clock.nowMs });
    const sts = { accessKeyId: 'STS.fn', accessKeySecret: 'test-secret-value-0123456789', securityToken: 'tok' };
    const fn = await runtime.deps(context(sts), {
      actor: { kind: 'operator', id: 'oncall-ak' },
      runId: 'ops-1',
      clock,
    });
    try {
      expect(wiring(fn)).toEqual(wiring(cli));
      expect(wiring(cli).auditSinks.length).toBeGreaterThan(0);
      // The same run writes the same audit event shape through either.
      cli.audit.record({ action: 'parity', phase: 'decision' });
      fn.audit.record({ action: 'parity', phase: 'decision' });
      const cliEvent = JSON.parse(cliLines.find((l) => l.includes('"parity"'))!);
      const fnEvent = JSON.parse(fnLines.find((l) => l.includes('"parity"'))!);
      expect(Object.keys(fnEvent).sort()).toEqual(Object.keys(cliEvent).sort());
    } finally {
      await cli.close();
      await fn.close();
    }
  });

  it('the functions reuse the instance part until the credentials change, and close every run', async () => {
    const env = configs[0]![1]();
    const runtime = createFunctionRuntime(env, { write: () => {}, nowMs: clock.nowMs });
    const a = { accessKeyId: 'STS.a', accessKeySecret: 'test-secret-value-0123456789', securityToken: 'tok-a' };
    const input = { actor: { kind: 'timer' as const, id: 't' }, runId: 'sweep-1', clock };
    const first = await runtime.deps(context(a), input);
    const second = await runtime.deps(context({ ...a }), input);
    const rotated = await runtime.deps(context({ ...a, securityToken: 'tok-b' }), input);
    expect([first.kms === second.kms, first.kms === rotated.kms, first.escrow === second.escrow]).toEqual([
      true,
      false,
      true,
    ]);
    for (const d of [first, second, rotated]) await d.close();
    await first.close(); // idempotent
    expect(() => first.audit.record({ action: 'late', phase: 'decision' })).toThrow(/closed/);
  });
});
