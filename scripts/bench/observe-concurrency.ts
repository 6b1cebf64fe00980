/**
 * Benchmark: how much bounded concurrency in observe buys when every KMS call has network
 * latency. Starts the emulator with an injected per-request latency, onboards N lineages, then
 * times observe() at concurrency 1 and 4 in the same run and prints the ratio (machines are noisy:
 * compare ratios, not absolute times).
 *
 *   npm run bench -- [--lineages 12] [--latency-ms 15] [--rounds 3]
 */
import { parseArgs } from 'node:util';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startKmsEmulator } from '@byok/kms-emulator';
import { createAlicloudKms } from '../../shared/kms/alicloud-adapter.js';
import { openFileEscrowStore } from '../../shared/escrow/file-store.js';
import { onboard } from '../../shared/lifecycle/engine.js';
import { observe } from '../../shared/lifecycle/observe.js';
import { DEFAULT_POLICY } from '../../shared/config/index.js';
import type { EngineDeps } from '../../shared/lifecycle/ports.js';
import { systemClock, systemRandom } from '../../shared/system.js';

const AK = { accessKeyId: 'bench-ak', accessKeySecret: 'bench-secret-0123456789' };

async function main(): Promise<void> {
  const v = parseArgs({
    options: { lineages: { type: 'string' }, 'latency-ms': { type: 'string' }, rounds: { type: 'string' } },
  }).values;
  const lineages = Number(v.lineages ?? 12);
  const latencyMs = Number(v['latency-ms'] ?? 15);
  const rounds = Number(v.rounds ?? 3);
  const emu = await startKmsEmulator({ port: 0, credentials: [AK] });
  const dir = await mkdtemp(join(tmpdir(), 'byok-bench-'));
  try {
    const kms = (concurrency: number) =>
      createAlicloudKms({
        endpoint: emu.endpoint,
        protocol: 'http',
        regionId: 'cn-hangzhou',
        credentials: () => AK,
        random: systemRandom,
        nowMs: systemClock.nowMs,
        maxConcurrency: concurrency,
      });
    const k = kms(8);
    const escrowKey = await k.createKey({ origin: 'Aliyun_KMS', keySpec: 'Aliyun_AES_256' });
    const escrow = await openFileEscrowStore({
      dir: join(dir, 'escrow'),
      masterKeyFile: join(dir, 'master.key'),
      random: systemRandom,
    });
    const deps: EngineDeps = {
      kms: k,
      escrow,
      audit: { record: () => undefined },
      clock: systemClock,
      random: systemRandom,
      policies: { defaults: DEFAULT_POLICY, lineages: {} },
      leaseKeyId: escrowKey.keyId,
      leaseTtlMs: 60_000,
      actor: { kind: 'system', id: 'bench' },
      runId: 'bench',
    };
    for (let i = 0; i < lineages; i++) await onboard({ ...deps, runId: `bench-${i}` }, { alias: `alias/bench-${i}` });
    emu.faults.inject({ kind: 'latency', latencyMs });
    const time = async (concurrency: number): Promise<number> => {
      const started = process.hrtime.bigint();
      const snap = await observe({ kms: kms(concurrency), escrow, nowMs: systemClock.nowMs, concurrency });
      if (snap.keys.length !== lineages) throw new Error(`expected ${lineages} keys, saw ${snap.keys.length}`);
      return Number(process.hrtime.bigint() - started) / 1e6;
    };
    const serial: number[] = [];
    const parallel: number[] = [];
    for (let r = 0; r < rounds; r++) {
      serial.push(await time(1));
      parallel.push(await time(4));
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    process.stdout.write(`observe of ${lineages} EXTERNAL keys, ${latencyMs} ms per KMS call, median of ${rounds}:\n`);
    process.stdout.write(
      `  concurrency 1: ${median(serial).toFixed(0)} ms\n  concurrency 4: ${median(parallel).toFixed(0)} ms\n`,
    );
    process.stdout.write(`  speed-up (1 / 4): ${(median(serial) / median(parallel)).toFixed(2)}x\n`);
  } finally {
    await emu.close();
    await rm(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
