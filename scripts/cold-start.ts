/**
 * Cold-start overhead of a bundle: how much longer `node -e "require(bundle)"` takes than a bare
 * `node -e 0`, i.e. what loading the function code adds to every cold start (FC's runtime start and
 * code download come on top and are the same for every bundle).
 *
 * Runs are interleaved (bare, bundle 1, bundle 2, ..., then again) so that load on the machine hits
 * every target alike, and each figure is the median of its runs.
 */
import { spawnSync } from 'node:child_process';

/** One bundle's figure. */
export interface ColdStart {
  file: string;
  /** Median wall time of `require(file)` in a fresh node, in ms. */
  medianMs: number;
  /** medianMs minus the bare node median, in ms (may be slightly negative from noise). */
  overheadMs: number;
}

/** The figures of one measurement, with the bare node baseline. */
export interface ColdStartReport {
  bareMs: number;
  runs: number;
  bundles: ColdStart[];
}

function timeNode(code: string): number {
  const started = process.hrtime.bigint();
  const result = spawnSync(process.execPath, ['-e', code], {
    stdio: 'ignore',
    env: { ...process.env, NODE_OPTIONS: '' },
  });
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  if (result.status !== 0) throw new Error(`node -e ${JSON.stringify(code)} exited with ${String(result.status)}`);
  return ms;
}

/** Median of a non-empty list. */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Measures every file `runs` times, interleaved with bare node (one warm-up round is discarded). */
export function measureColdStarts(files: readonly string[], runs = 7): ColdStartReport {
  const codes = ['0', ...files.map((f) => `require(${JSON.stringify(f)})`)];
  const samples = codes.map((): number[] => []);
  for (let round = 0; round <= runs; round++) {
    codes.forEach((code, i) => {
      const ms = timeNode(code);
      if (round > 0) samples[i]!.push(ms); // round 0 warms the file cache
    });
  }
  const bareMs = median(samples[0]!);
  const bundles = files.map((file, i) => {
    const medianMs = median(samples[i + 1]!);
    return { file, medianMs, overheadMs: medianMs - bareMs };
  });
  return { bareMs, runs, bundles };
}
