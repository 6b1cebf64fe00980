/**
 * Default pacing against an account QPS limit: the emulator enforces the shared gateway's documented
 * per-group quotas and a 200 QPS account-wide limit; a sweep built from the configuration with no
 * explicit client limit (BYOK_KMS_MAX_RPS unset, the default BYOK_KMS_QPS_SHARE) gets no throttling
 * answer and never sends more than 1.05 x a bound in any one-second window. The same sweep with
 * pacing off is throttled, so the test can fail.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SHARED_GATEWAY_QPS_GROUPS, startKmsEmulator, type KmsEmulator } from '@byok/kms-emulator';
import { createEngineFactory, type EngineInstance } from '../../../shared/bootstrap.js';
import { parseConfig } from '../../../shared/config/index.js';
import { onboard, sweep } from '../../../shared/lifecycle/engine.js';
import { emulatorKmsWithEscrowKey, kmsSecretsEngineEnv } from '../../support/cli-env.js';

const AK = { accessKeyId: 'qps-ak', accessKeySecret: 'qps-emulator-only-0123456789' };
const KEYS = 'kst-hzz65f176a0qpskeys01';
const ESCROW = 'kst-hzz65f176a0qpsescr01';
// Enough keys that the DescribeKeys alone, paced at 0.8 x the 50 QPS key-read quota, span two
// one-second windows and more (a pacer that only holds its first burst in check still fails).
const LINEAGES = 90;
const ACCOUNT_QPS = 200;

let emu: KmsEmulator;
/** [real ms, action] of every request the emulator answered or refused. */
const requests: Array<[number, string]> = [];
let env: Record<string, string>;

beforeAll(async () => {
  emu = await startKmsEmulator({
    port: 0,
    credentials: [AK],
    kmsVersion: 3,
    instances: [
      { id: KEYS, type: 'software' },
      { id: ESCROW, type: 'software' },
    ],
    log: (line) => {
      const m = /^kms-emulator \S+ \/ (\S+) \d{3} /.exec(line);
      if (m) requests.push([Date.now(), m[1] as string]);
    },
  });
  const { escrowKeyId } = await emulatorKmsWithEscrowKey(emu.endpoint, () => AK, ESCROW);
  env = kmsSecretsEngineEnv(emu.endpoint, { keys: KEYS, escrow: ESCROW }, escrowKeyId);
  // One lineage through the engine, the rest cloned in the emulator's state (same records, renamed).
  const { deps } = await runOf(env);
  try {
    await onboard(deps, { alias: 'alias/qps-tpl' });
  } finally {
    await deps.close();
  }
  const clones = Array.from({ length: LINEAGES - 1 }, (_, i) => ({
    replace: [['qps-tpl', `qps-${String(i).padStart(4, '0')}`] as const],
  }));
  emu.seed.cloneTemplate({ token: 'qps-tpl', clones });
}, 120_000);

afterAll(async () => {
  await emu?.close();
});

async function runOf(vars: Record<string, string>) {
  const factory = createEngineFactory({
    config: parseConfig(vars),
    clock: { nowMs: () => emu.clock.nowUnix() * 1000 },
    auditWriter: () => undefined,
  });
  const instance: EngineInstance = await factory.instance(() => AK);
  const deps = await factory.run(instance, { actor: { kind: 'timer', id: 'qps-test' }, alerts: false });
  return { deps, instance };
}

/** Most requests in any one-second window, among those whose action `counts`. */
function peakPerSecond(from: number, counts: (action: string) => boolean): number {
  const at = requests.filter(([t, a]) => t >= from && counts(a)).map(([t]) => t);
  let peak = 0;
  let j = 0;
  for (let i = 0; i < at.length; i++) {
    while ((at[j] as number) <= (at[i] as number) - 1000) j++;
    peak = Math.max(peak, i - j + 1);
  }
  return peak;
}

describe('default pacing against the account QPS limits', () => {
  it('a sweep with no explicit client limit is never throttled and stays within 1.05 x every bound', async () => {
    emu.faults.setQpsLimit(ACCOUNT_QPS);
    emu.faults.setGroupQpsLimits(1);
    emu.faults.resetQpsStats();
    const from = Date.now();
    const { deps, instance } = await runOf(env);
    try {
      const result = await sweep(deps);
      expect(result.counts.failed ?? 0).toBe(0);
    } finally {
      await deps.close();
    }
    expect(emu.faults.qpsThrottled()).toEqual({ throttled: 0, byAction: {} });
    expect(instance.pacer?.state().throttled).toBe(0);
    const seen = requests.filter(([t]) => t >= from).length;
    expect(seen).toBeGreaterThanOrEqual(LINEAGES); // at least one DescribeKey per key went out
    expect(peakPerSecond(from, () => true)).toBeLessThanOrEqual(1.05 * ACCOUNT_QPS);
    for (const g of SHARED_GATEWAY_QPS_GROUPS) {
      expect({ group: g.group, peak: peakPerSecond(from, (a) => g.actions.includes(a)) <= 1.05 * g.limit }).toEqual({
        group: g.group,
        peak: true,
      });
    }
  }, 120_000);

  it('the same sweep with pacing off is throttled (the limits are real)', async () => {
    emu.faults.setQpsLimit(ACCOUNT_QPS);
    emu.faults.setGroupQpsLimits(1);
    emu.faults.resetQpsStats();
    const { deps } = await runOf({ ...env, BYOK_KMS_QPS_SHARE: 'off', BYOK_KMS_CONCURRENCY: '16' });
    try {
      await sweep(deps);
    } finally {
      await deps.close();
    }
    expect(emu.faults.qpsThrottled().throttled).toBeGreaterThan(0);
  }, 120_000);
});
