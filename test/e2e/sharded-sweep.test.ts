/**
 * A sharded sweep end to end: the built sweep bundle under the local FC host, against the KMS
 * emulator. 3000 lineages (one onboarded through the engine, the rest cloned in the emulator's
 * state) in KMS 3.0 instances bought big enough (4000 keys, 4000 secrets; the emulator's default
 * instance holds 1000 of each), shards of 500 (BYOK_SWEEP_SHARD_LINEAGES): the timer invocation
 * becomes a coordinator that invokes the sweep asynchronously through the FC 3.0 API of the host,
 * once per shard; each shard reads only its lineages; the shard that completes the set writes one
 * summary line.
 * Pacing is off here (BYOK_KMS_QPS_SHARE=off: at the default share the shards together read ~40 keys/s,
 * over a minute for 3000); test/integration/kms/pacing-qps.test.ts covers pacing.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFcHost, type FcHost } from '@byok/fc-local-host';
import { startKmsEmulator, type KmsEmulator } from '@byok/kms-emulator';
import { createEngineFactory } from '../../shared/bootstrap.js';
import { parseConfig } from '../../shared/config/index.js';
import { createAlicloudKms } from '../../shared/kms/alicloud-adapter.js';
import { onboard } from '../../shared/lifecycle/engine.js';
import {
  SHARD_LEDGER_SECRET,
  openShardLedger,
  recordShard,
  type ShardLedgerState,
} from '../../shared/lifecycle/shard-ledger.js';
import { shardOf } from '../../shared/lifecycle/shard.js';
import { systemRandom } from '../../shared/system.js';
import { emulatorKmsWithEscrowKey, kmsSecretsEngineEnv } from '../support/cli-env.js';
import { sharedBuild } from '../support/local-stack.js';

const OPERATOR = { accessKeyId: 'shard-operator', accessKeySecret: 'shard-operator-secret-0123456789' };
const STS = {
  accessKeyId: `STS.shard${randomBytes(4).toString('hex')}`,
  accessKeySecret: randomBytes(18).toString('base64url'),
  securityToken: randomBytes(24).toString('base64url'),
};
const KEYS = 'kst-hzz65f176a0shardkeys';
const ESCROW = 'kst-hzz65f176a0shardescr';
const LINEAGES = 3000;
const SHARD_LINEAGES = 500;
const SHARDS = LINEAGES / SHARD_LINEAGES;
/** Key and secret quantities of both instances: a lineage holds one key and one escrow secret. */
const INSTANCE_QUOTA = 4000;

let distDir: string;
/** Per bundle: whether it contains the FC invoker (shared/fc/invoke.ts). */
const invokerIn: Record<string, boolean> = {};
let emu: KmsEmulator;
let host: FcHost;
const kmsLines: string[] = [];
const fnLines: string[] = [];
const lineages: string[] = [];

beforeAll(async () => {
  const build = await sharedBuild();
  distDir = build.distDir;
  for (const [fn, inputs] of Object.entries(build.inputs))
    invokerIn[fn] = inputs.some((p) => p.endsWith('shared/fc/invoke.ts'));
  emu = await startKmsEmulator({
    port: 0,
    credentials: [OPERATOR, STS],
    kmsVersion: 3,
    instances: [
      { id: KEYS, type: 'software', keyQuota: INSTANCE_QUOTA, secretQuota: INSTANCE_QUOTA },
      { id: ESCROW, type: 'software', keyQuota: INSTANCE_QUOTA, secretQuota: INSTANCE_QUOTA },
    ],
    log: (line) => kmsLines.push(line),
  });
  const { escrowKeyId } = await emulatorKmsWithEscrowKey(emu.endpoint, () => OPERATOR, ESCROW);
  const env: Record<string, string> = {
    ...kmsSecretsEngineEnv(emu.endpoint, { keys: KEYS, escrow: ESCROW }, escrowKeyId),
    BYOK_KMS_QPS_SHARE: 'off',
    BYOK_SWEEP_SHARD_LINEAGES: String(SHARD_LINEAGES),
  };
  // One lineage through the engine; the others are its records cloned in the emulator's state.
  const factory = createEngineFactory({ config: parseConfig(env), auditWriter: () => undefined });
  const deps = await factory.run(await factory.instance(() => OPERATOR), { actor: { kind: 'operator', id: 'test' } });
  try {
    await onboard(deps, { alias: 'alias/shd-tpl' });
    // The ledger secret as an earlier (completed) sharded sweep leaves it: this run's coordinator
    // replaces it.
    const ledger = { kms: deps.kms, encryptionKeyId: escrowKeyId, dkmsInstanceId: ESCROW };
    await openShardLedger(ledger, { runId: 'earlier-run', count: 1, startedAtMs: Date.now() });
    const empty = { lineages: 0, counts: {}, alertWorthy: false, alerts: [], alertsOmitted: 0 };
    const report = { ...empty, unsure: [], unsureOmitted: 0, unusableKeys: 0, finishedAtMs: Date.now() };
    await recordShard(ledger, { runId: 'earlier-run', index: 0, report });
  } finally {
    await deps.close();
  }
  lineages.push('shd-tpl');
  for (let from = 0; from < LINEAGES - 1; from += 500) {
    const names = Array.from(
      { length: Math.min(500, LINEAGES - 1 - from) },
      (_, i) => `shd-${String(from + i).padStart(4, '0')}`,
    );
    emu.seed.cloneTemplate({ token: 'shd-tpl', clones: names.map((n) => ({ replace: [['shd-tpl', n] as const] })) });
    lineages.push(...names);
  }
  host = await startFcHost({
    functions: [
      {
        name: 'byok-sweep',
        bundleDir: join(distDir, 'sweep'),
        handler: 'index.handler',
        timeoutSeconds: 600,
        memoryMB: 512,
        env,
        timers: [{ triggerName: 'sweep-hourly', cronExpression: '0 0 * * * *', enable: false }],
      },
    ],
    accountId: '1234567890123456',
    region: 'cn-hangzhou',
    credentials: () => STS,
    invokeCredentials: [OPERATOR],
    acceptFunctionCredentials: true,
    endpointEnv: 'BYOK_FC_ENDPOINT',
    fireTimers: false,
    log: () => undefined,
    functionOutput: (_fn, line) => fnLines.push(line),
  });
}, 240_000);

afterAll(async () => {
  await host?.close();
  await emu?.close();
});

const logged = (msg: string) =>
  fnLines.flatMap((l) => {
    try {
      const j = JSON.parse(l) as Record<string, unknown>;
      return j['msg'] === msg ? [j] : [];
    } catch {
      return [];
    }
  });

async function until(done: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!done()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('sharded sweep on the local FC host', () => {
  it('bundles the FC invoker into the sweep only (the webhook and ops never invoke functions)', () => {
    expect(invokerIn).toEqual({ ops: false, sweep: true, webhook: false });
  });

  it('fans out to async shards that visit every lineage exactly once and summarise in one line', async () => {
    const before = kmsLines.length;
    const timer = await host.fireTimer('byok-sweep', 'sweep-hourly');
    expect(timer.kind === 'error' ? `${timer.errorType}: ${timer.errorMessage}` : 'ok').toBe('ok');
    const coordinator = JSON.parse(timer.kind === 'ok' ? timer.body.toString('utf8') : '{}') as Record<string, unknown>;
    expect(coordinator).toMatchObject({ sharded: true, lineages: LINEAGES, shards: SHARDS, reason: 'shard-size' });
    // The shards arrive through the FC 3.0 invoke API, asynchronously, and all finish.
    await until(
      () => host.invocations().filter((r) => r.source === 'invoke-fc3' && r.outcome).length === SHARDS,
      180_000,
    );
    // Their stdout lines arrive through the instances' pipes, possibly after the results.
    await until(() => logged('sweep shard done').length === SHARDS && logged('sweep summary').length > 0, 10_000);
    const shardRuns = host.invocations().filter((r) => r.source === 'invoke-fc3');
    expect(shardRuns.map((r) => r.outcome)).toEqual(Array(SHARDS).fill('ok'));

    // Each key is read by its own shard only (the escrow CMK, no lineage, by every shard). A shard
    // whose escrow listing missed a record while other shards rewrote metadata reads that key too
    // and then drops it (observe's lineage filter): a few extra reads, never a second visit.
    const described = kmsLines.slice(before).filter((l) => / \/ DescribeKey 200 /.test(l)).length;
    expect(described).toBeGreaterThanOrEqual(LINEAGES + SHARDS);
    expect(described).toBeLessThan(LINEAGES * 1.1);
    // Exactly once: a shard keeps only lineages shardOf gives it, and each kept exactly that many,
    // so each shard's set is its whole partition; the partitions are disjoint and cover all of them.
    const expected = Array(SHARDS).fill(0) as number[];
    for (const l of lineages) expected[shardOf(l, SHARDS)] = (expected[shardOf(l, SHARDS)] ?? 0) + 1;
    const done = logged('sweep shard done');
    expect(done).toHaveLength(SHARDS);
    const seen = Array(SHARDS).fill(-1) as number[];
    for (const d of done) seen[Number(String(d['shard']).split('/')[0]) - 1] = d['lineages'] as number;
    expect(seen).toEqual(expected);

    // One summary line, by the shard that completed the ledger.
    const summaries = logged('sweep summary');
    expect(summaries).toHaveLength(1);
    expect(summaries[0]).toMatchObject({ shards: SHARDS, lineages: LINEAGES, coordinatorRunId: coordinator['runId'] });
    // ... and one audit event: the coordinator's decision, and the summary.
    const audit = fnLines
      .filter((l) => l.includes('"action":"sweep-'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(audit.map((e) => [e['action'], e['phase']])).toEqual([
      ['sweep-sharded', 'decision'],
      ['sweep-summary', 'outcome'],
    ]);
    expect(audit[1]?.['details']).toMatchObject({ shards: SHARDS, lineages: LINEAGES, 'count.failed': 0 });
    const ledger = createAlicloudKms({
      endpoint: emu.endpoint,
      protocol: 'http',
      regionId: 'cn-hangzhou',
      credentials: () => OPERATOR,
      random: systemRandom,
      nowMs: () => Date.now(),
    });
    const state = JSON.parse(
      (await ledger.getSecretValue({ secretName: SHARD_LEDGER_SECRET })).secretData,
    ) as ShardLedgerState;
    expect(Object.keys(state.done).sort()).toEqual(Array.from({ length: SHARDS }, (_, i) => String(i)).sort());
    expect(state.completedBy).toBeTypeOf('number');
    // One key per lineage, past the 1000 of a default instance; a healthy sweep created none.
    expect(emu.instances.list().find((i) => i.id === KEYS)).toMatchObject({
      keyCount: LINEAGES,
      keyQuota: INSTANCE_QUOTA,
    });
  }, 240_000);
});
