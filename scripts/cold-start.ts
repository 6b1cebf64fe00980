/**
 * Cold-start overhead of a bundle: how much longer `node -e "require(bundle)"` takes than a bare
 * `node -e 0`, i.e. what loading the function code adds to every cold start (FC's runtime start and
 * code download come on top and are the same for every bundle).
 *
 * Runs are interleaved (bare, bundle 1, bundle 2, ..., then again) so that load on the machine hits
 * every target alike; the overhead is the median of each round's difference to its bare run, and
 * the `require` call is also timed inside the child (no process start or exit in it).
 */
import { spawnSync } from 'node:child_process';

/** One bundle's figure. */
export interface ColdStart {
  file: string;
  /** Median wall time of `node -e "require(file)"`, in ms. */
  medianMs: number;
  /** Median over rounds of (this run - the same round's bare run), in ms (may be slightly negative from noise). */
  overheadMs: number;
  /**
   * Median time of the `require(file)` call itself, timed inside the child (hrtime around it): the
   * same cost without process start and exit, so it varies far less between runs.
   */
  requireMs: number;
}

/** The figures of one measurement, with the bare node baseline. */
export interface ColdStartReport {
  bareMs: number;
  runs: number;
  bundles: ColdStart[];
}

/** Wall time of `node -e code`, and what the child printed (a number, when it times itself). */
function timeNode(code: string): { wallMs: number; printed: number } {
  const started = process.hrtime.bigint();
  const result = spawnSync(process.execPath, ['-e', code], {
    stdio: ['ignore', 'pipe', 'pipe'],
    encoding: 'utf8',
    env: { ...process.env, NODE_OPTIONS: '' },
  });
  const wallMs = Number(process.hrtime.bigint() - started) / 1e6;
  if (result.status !== 0) {
    const why = result.stderr.trim().split('\n')[0] ?? '';
    throw new Error(`node -e ${JSON.stringify(code)} exited with ${String(result.status)}: ${why}`);
  }
  return { wallMs, printed: Number(result.stdout) };
}

/** The child's code: require the file and print how long the call took, in ms. */
const requireTimed = (file: string): string =>
  `const t = process.hrtime.bigint(); require(${JSON.stringify(file)}); ` +
  'process.stdout.write(String(Number(process.hrtime.bigint() - t) / 1e6));';

/** Median of a non-empty list. */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Measures every file `runs` times, interleaved with bare node (one warm-up round is discarded). */
export function measureColdStarts(files: readonly string[], runs = 7): ColdStartReport {
  const codes = ['0', ...files.map(requireTimed)];
  const wall = codes.map((): number[] => []);
  const inside = codes.map((): number[] => []);
  for (let round = 0; round <= runs; round++) {
    codes.forEach((code, i) => {
      const { wallMs, printed } = timeNode(code);
      if (round === 0) return; // round 0 warms the file cache
      wall[i]!.push(wallMs);
      inside[i]!.push(printed);
    });
  }
  const bareMs = median(wall[0]!);
  const bundles = files.map((file, i) => {
    const medianMs = median(wall[i + 1]!);
    // Paired: each round's bundle run minus the same round's bare run, then the median. Process
    // start time drifts by tens of ms over a measurement on a shared machine; a round's runs are
    // back to back, so the drift cancels in the difference (the difference of the two medians
    // would keep it).
    const paired = wall[i + 1]!.map((ms, round) => ms - wall[0]![round]!);
    return { file, medianMs, overheadMs: median(paired), requireMs: median(inside[i + 1]!) };
  });
  return { bareMs, runs, bundles };
}
