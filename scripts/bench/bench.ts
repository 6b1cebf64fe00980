/**
 * `npm run bench`: the figures of issue 10 in one run, for N = 100, 1000 and 3000 lineages (and
 * 10000 with `--large`). A script, not a timed test: machines are noisy, so compare ratios, not
 * absolute times (except where the target is a count).
 *
 *   npm run bench -- [--n 100,300] [--large] [--latency-ms 10] [--qps 200] [--skip-bundles]
 *                    [--cold-start-runs 15] [--kms3]
 *
 * The account is the emulator's shared KMS 1.0 model: the emulated KMS 3.0 instance has a quota of
 * 1000 keys and 1000 secrets, and a lineage holds two secrets (escrow and lease), so a 3.0 account
 * tops out near 500 lineages (a real deployment buys a larger instance). `--kms3` runs KMS 3.0
 * (keys and escrow in separate instances) for sizes that fit; its sweeps add two GetKmsInstance calls.
 *
 * BYOK_* variables set for the bench reach the engine process (e.g. `BYOK_KMS_QPS_SHARE=off
 * BYOK_KMS_CONCURRENCY=4` measures every figure without the client's default pacing, at a fixed
 * concurrency). The unpaced healthy sweep runs in a second engine process whatever they say.
 *
 * Every figure line reads `<name>: <value> (bound <value>, ratio <value>)`, ratio = value / bound;
 * lines starting with `#` are context. For each N, against a fresh emulator seeded with N lineages
 * (scripts/bench/world.ts: two onboarded through the engine, N - 2 cloned from one of them in the
 * emulator's state by its seeding path, `emu.seed.cloneTemplate` in packages/kms-emulator/src/seed.ts,
 * so every lineage has exactly the shape the engine gives it, without N onboards over HTTP), the
 * engine runs in a child process (engine-child.ts, bundled by esbuild and run by plain node like a
 * function's code; its deps come from the product's dependency factory and BYOK_* variables: default
 * pacing and concurrency, `kms-secrets` escrow, alerts on) and the emulator counts the requests it
 * answers, by Action. One unmeasured sweep without latency runs first (its planned
 * actions are printed: a healthy account plans none). Latency is the emulator's latency fault.
 *
 * Figures and bounds (targets from the table):
 * - `calls per healthy key`: requests of one healthy sweep / managed keys (N + 1: the rotated
 *   lineage keeps its previous generation). Bound (1.05 x keys + list pages) / keys: one DescribeKey
 *   per key, the ListKeys / ListAliases / ListSecrets pages being per account (the acceptance rule
 *   "<= 1.05 N + pages").
 * - `healthy sweep wall`: seconds, with `--latency-ms` per request. Bound = the binding constraint:
 *   the latency bound (requests x latency / concurrency: BYOK_KMS_CONCURRENCY when set, else the
 *   client's derived concurrency at the end of the sweep) or, when the client paces itself at a share
 *   of the documented per-group quotas (docs/kms-api.md §4.1) and that allows less, the pacing bound
 *   (max over groups of the group's requests / its rate, and requests / the client-wide ceiling).
 *   A `#` line prints both. Target ratio <= 1.1. (With the default share, 40 DescribeKey/s bind:
 *   N=3000 cannot take less than 75 s; `BYOK_KMS_QPS_SHARE=off`, as for a dedicated gateway, shows
 *   the latency bound.)
 * - `healthy sweep wall unpaced, concurrency 4`: the same healthy sweep by a second engine process
 *   started with `BYOK_KMS_QPS_SHARE=off BYOK_KMS_CONCURRENCY=4` (no `BYOK_KMS_MAX_RPS`), as with a
 *   dedicated gateway, warmed up by one sweep without latency like the first. Bound = the issue's
 *   latency bound, requests x `--latency-ms` / 4; target ratio <= 1.1. A `#` line gives the ratio
 *   against the mean latency the client observed instead (request to answer as its pacer times
 *   them: the emulator's, the SDK's and the machine's own per-call time on top of the injected
 *   latency), i.e. how much of the ratio the engine itself adds. Costs one more healthy sweep at
 *   the latency bound per N (about 10 s at N=3000).
 * - `sweep wall at QPS limit`: the emulator refuses requests beyond `--qps` per second (token
 *   bucket, account-wide), latency still on. Bound = the larger of answered requests / QPS and the
 *   pacing bound (the client's documented per-group quotas may allow less than the account limit);
 *   target ratio <= 1.05.
 * - `throttled requests at QPS limit`: requests the emulator refused during that sweep. Bound 0.
 * - `webhook repair calls` / `webhook repair wall`: DeleteKeyMaterial out of band on one cloned key,
 *   then the webhook's check of that key (shared/webhook/intake.ts checkWebhookTarget, i.e.
 *   checkTarget), latency on. Bounds 12 calls and 0.3 s, whatever N.
 * - `onboard extra calls` / `rotation extra calls`: requests of one onboard (one rotation) at N,
 *   minus the same operation's requests with 1 (2) lineages in the account (latency off).
 *   Bound 2: O(1), i.e. no scan of the account.
 * - `renewal-due sweep wall`: the emulator clock (and so the engine's) is moved to one day inside
 *   every key's renew window (validity - renewBefore + 1 days), so every key renews; latency on.
 *   Bound as for the healthy sweep (the binding one of latency and pacing); target ratio <= 1.3.
 * - `peak RSS of the engine process`: the child's maxRSS after all its operations, MiB.
 *   Bound 200 MiB (the target at 10k keys; a smaller N meeting it proves less).
 * - `bundle size <fn>` / `cold-start overhead <fn>`: the function bundles built afresh into a
 *   temporary folder (scripts/build.ts), MiB against each bundle's budget (scripts/build-checks.ts);
 *   `node -e "require(...)"` over bare `node -e 0`, runs interleaved, median of the per-round
 *   differences (scripts/cold-start.ts).
 *   Overhead bound 36 ms (half the naive SDK bundle's +71 ms). `#` lines add the naive SDK bundle
 *   measured in the same run, the `require` call timed inside the child (steadier than the
 *   difference of two process wall times), and the side files (scripts/lazy-packages.ts).
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { build } from 'esbuild';
import { BUNDLE_BUDGETS, DEFAULT_BUNDLE_BUDGET_BYTES, MIB } from '../build-checks.js';
import { buildFunctions } from '../build.js';
import { measureColdStarts } from '../cold-start.js';
import * as resilience from '../../shared/kms/resilience.js';
import { type ChildAnswer, type ChildCommand, type ChildReady, LINE_PREFIX, type PacingReport } from './protocol.js';
import { KMS3_MAX_LINEAGES, type World, cloneLineage, startWorld } from './world.js';

const ROOT = resolve(import.meta.dirname, '..', '..');

/** Calls in flight of the unpaced healthy sweep (BYOK_KMS_CONCURRENCY of its engine process). */
const UNPACED_CONCURRENCY = 4;

/**
 * The engine variables of the unpaced healthy sweep: no pacing at the documented quotas, no
 * client-wide ceiling, a fixed number of calls in flight (as with a dedicated gateway).
 */
function unpacedEnv(env: Record<string, string>): Record<string, string> {
  const { BYOK_KMS_MAX_RPS: _ceiling, ...rest } = env;
  return { ...rest, BYOK_KMS_QPS_SHARE: 'off', BYOK_KMS_CONCURRENCY: String(UNPACED_CONCURRENCY) };
}

/** Targets of the table. */
const TARGET = {
  callsPerKey: 1.05,
  webhookCalls: 12,
  webhookWallS: 0.3,
  extraCalls: 2,
  peakRssMiB: 200,
  coldStartMs: 36,
} as const;

const out = (line: string): void => {
  process.stdout.write(`${line}\n`);
};

function fmt(value: number, digits: number): string {
  return Number.isFinite(value) ? value.toFixed(digits) : 'inf';
}

/** One figure line: `<name>: <value> (bound <value>, ratio <value>)`. */
function figure(name: string, value: number, bound: number, digits: number, unit = ''): void {
  const ratio = bound === 0 ? (value === 0 ? 0 : Number.POSITIVE_INFINITY) : value / bound;
  const u = unit === '' ? '' : ` ${unit}`;
  out(`${name}: ${fmt(value, digits)}${u} (bound ${fmt(bound, digits)}${u}, ratio ${fmt(ratio, 2)})`);
}

/** The engine process of one N. */
class EngineChild {
  private readonly child: ReturnType<typeof spawn>;
  private readonly answers: Array<(a: ChildAnswer) => void> = [];
  private readonly exited: Promise<number | null>;
  /** Rejects when the process exits (handled: only a pending ready or command waits on it). */
  private readonly died: Promise<never>;
  private closing = false;
  readonly ready: Promise<ChildReady>;

  constructor(bundle: string, env: Record<string, string>) {
    this.child = spawn(process.execPath, [bundle], {
      cwd: ROOT,
      env: { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '', ...env },
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    this.exited = new Promise((r) => this.child.on('exit', (code) => r(code)));
    this.died = this.exited.then((code): never => {
      throw new Error(`engine process exited (${String(code)})${this.closing ? '' : ' unexpectedly'}`);
    });
    this.died.catch(() => undefined);
    let onReady: (r: ChildReady) => void = () => undefined;
    const ready = new Promise<ChildReady>((r) => {
      onReady = r;
    });
    this.ready = Promise.race([ready, this.died]);
    if (this.child.stdout === null) throw new Error('engine process has no stdout');
    createInterface({ input: this.child.stdout }).on('line', (line) => {
      if (!line.startsWith(LINE_PREFIX)) return;
      const value = JSON.parse(line.slice(LINE_PREFIX.length)) as ChildReady | ChildAnswer;
      if ('ready' in value) onReady(value);
      else this.answers.shift()?.(value);
    });
  }

  /** Runs one command and waits for its answer (throws when the engine operation failed). */
  async run(command: ChildCommand): Promise<ChildAnswer> {
    const answer = new Promise<ChildAnswer>((r) => this.answers.push(r));
    this.child.stdin?.write(`${JSON.stringify(command)}\n`);
    const a = await Promise.race([answer, this.died]);
    if (!a.ok) throw new Error(`${command.op} failed in the engine process: ${a.error ?? '?'}`);
    return a;
  }

  async close(): Promise<void> {
    this.closing = true;
    this.child.stdin?.end();
    await this.exited;
  }
}

function byActionLine(world: World): string {
  return world.counter
    .byAction()
    .map(([action, n]) => `${action} ${n}`)
    .join(', ');
}

/** The client's quota group of an action, when the client paces by group (read duck-typed). */
const groupOf = (resilience as unknown as Record<string, unknown>)['kmsQpsGroupOf'] as
  | ((action: string) => string)
  | undefined;

/**
 * The shortest wall the client's own pacing allows for the counted requests: per quota group,
 * requests / the group's rate (groups are paced independently), and requests / the client-wide
 * ceiling; undefined when the client reports no pacing.
 */
function pacingBoundS(world: World, pacing: PacingReport | undefined): number | undefined {
  if (pacing === undefined) return undefined;
  const perGroup = new Map<string, number>();
  for (const [action, n] of world.counter.byAction()) {
    const group = groupOf?.(action);
    if (group !== undefined) perGroup.set(group, (perGroup.get(group) ?? 0) + n);
  }
  let bound = 0;
  for (const [group, n] of perGroup) {
    const rate = pacing.groupRates?.[group];
    if (rate !== undefined && rate > 0) bound = Math.max(bound, n / rate);
  }
  if (pacing.maxRequestsPerSecond) bound = Math.max(bound, world.counter.answered / pacing.maxRequestsPerSecond);
  return bound;
}

function pacingLine(p: PacingReport | undefined): string {
  if (p === undefined) return 'no pacer';
  const rates = Object.entries(p.groupRates ?? {})
    .map(([g, r]) => `${g} ${r.toFixed(0)}/s`)
    .join(', ');
  const latency = p.latencyMs === undefined ? '?' : p.latencyMs.toFixed(1);
  const inFlight = p.concurrency ?? '?';
  return `concurrency ${inFlight}, latency ${latency} ms, rates: ${rates || 'none'}, throttled ${p.throttled ?? 0}`;
}

function kindsOf(a: ChildAnswer): string {
  const kinds = Object.entries(a.kinds ?? {}).map(([k, n]) => `${k} ${n}`);
  const outcomes = Object.entries(a.counts ?? {})
    .filter(([, n]) => n > 0)
    .map(([k, n]) => `${k} ${n}`);
  const listed = kinds.length ? ` (${kinds.join(', ')})` : '';
  return `${a.planned ?? 0} actions${listed}; outcomes: ${outcomes.join(', ') || 'none'}`;
}

/** What every N is measured with. */
interface BenchOptions {
  latencyMs: number;
  qps: number;
  kmsVersion: 1 | 3;
}

/** Every figure of one N. */
async function benchAt(n: number, opts: BenchOptions, childBundle: string): Promise<void> {
  const { latencyMs, qps } = opts;
  out(`# N=${n} (KMS ${opts.kmsVersion === 3 ? '3.0 instances' : '1.0 shared'})`);
  const world = await startWorld(n, opts.kmsVersion, out);
  const child = new EngineChild(childBundle, world.env);
  let unpaced: EngineChild | undefined;
  try {
    const ready = await child.ready;
    const rps = ready.maxRequestsPerSecond === null ? 'none' : String(ready.maxRequestsPerSecond);
    const share = ready.qpsShare === null ? 'off' : String(ready.qpsShare);
    const fixed = ready.concurrency === null ? 'derived' : String(ready.concurrency);
    out(`# engine: concurrency ${fixed}, client rate limit ${rps}, quota share ${share}, escrow ${ready.escrow}`);
    const cmd = (op: ChildCommand['op'], extra: Partial<ChildCommand> = {}): Promise<ChildAnswer> =>
      child.run({ op, clockOffsetMs: world.clockOffsetMs(), ...extra });
    const rss: number[] = [];
    const measured = async (op: ChildCommand['op'], extra: Partial<ChildCommand> = {}): Promise<ChildAnswer> => {
      world.counter.reset();
      const a = await cmd(op, extra);
      rss.push(a.maxRssKiB);
      return a;
    };
    // Calls in flight: as configured, else what the client's derivation allowed at the end of the run.
    const concurrencyOf = (a: ChildAnswer): number => ready.concurrency ?? a.pacing?.concurrency ?? 4;
    const latencyBound = (calls: number, a: ChildAnswer) => (calls * latencyMs) / concurrencyOf(a) / 1000;
    /** The wall figures of one timed operation: against the latency bound, and against the pacing too. */
    // The bound is the binding constraint: the latency bound (calls x latency / calls in flight) or,
    // when the client's pacing at the documented quotas allows less, the pacing bound. Both are printed.
    const walls = (name: string, a: ChildAnswer, calls: number): void => {
      const wall = a.wallMs / 1000;
      const latency = latencyBound(calls, a);
      const paced = pacingBoundS(world, a.pacing);
      out(`# ${name}: client pacing at the end: ${pacingLine(a.pacing)}; concurrency used ${concurrencyOf(a)}`);
      const pacedText = paced === undefined ? 'none' : `${paced.toFixed(2)} s`;
      out(`# ${name}: latency bound ${latency.toFixed(2)} s, pacing bound ${pacedText}; the larger binds`);
      figure(name, wall, Math.max(latency, paced ?? 0), 2, 's');
    };
    const keys = n + 1;

    const warm = await measured('sweep');
    out(`# warm-up sweep (no latency, ${(warm.wallMs / 1000).toFixed(2)} s): ${kindsOf(warm)}`);
    out(`# warm-up sweep requests by action: ${byActionLine(world)}`);
    // The unpaced engine process, warmed up the same way (its figure follows the healthy sweep's).
    unpaced = new EngineChild(childBundle, unpacedEnv(world.env));
    const unpacedReady = await unpaced.ready;
    if (unpacedReady.concurrency !== UNPACED_CONCURRENCY || unpacedReady.qpsShare !== null)
      throw new Error('the unpaced engine process did not take BYOK_KMS_QPS_SHARE=off / BYOK_KMS_CONCURRENCY');
    const unpacedRun = (): Promise<ChildAnswer> =>
      (unpaced as EngineChild).run({ op: 'sweep', clockOffsetMs: world.clockOffsetMs() });
    const unpacedWarm = await unpacedRun();
    out(`# unpaced engine (concurrency ${UNPACED_CONCURRENCY}, quota share off, client rate limit none): warm-up`);
    out(`#   sweep (no latency, ${(unpacedWarm.wallMs / 1000).toFixed(2)} s): ${kindsOf(unpacedWarm)}`);

    world.emu.faults.inject({ kind: 'latency', latencyMs });
    const healthy = await measured('sweep');
    const calls = world.counter.answered;
    out(`# healthy sweep requests by action (N=${n}, ${keys} managed keys): ${byActionLine(world)}`);
    if ((healthy.planned ?? 0) > 0) out(`# healthy sweep planned ${kindsOf(healthy)}`);
    // Bound: 1.05 N + pages (the acceptance test's rule): list pages are per account, not per key.
    const pages = [...world.counter.byAction()].filter(([a]) => a.startsWith('List')).reduce((t, [, c]) => t + c, 0);
    figure(`calls per healthy key (N=${n})`, calls / keys, (TARGET.callsPerKey * keys + pages) / keys, 2);
    walls(`healthy sweep wall (N=${n}, ${latencyMs} ms/call)`, healthy, calls);

    // The same sweep unpaced at a fixed concurrency: the latency ratio, wall / (requests x
    // latency / concurrency). The client's own mean latency (SDK and emulator time on top of the
    // injected latency) gives the second bound: how much of the ratio is the emulator's per-call time.
    world.counter.reset();
    const flat = await unpacedRun();
    await unpaced.close();
    unpaced = undefined;
    const flatCalls = world.counter.answered;
    const flatName = `healthy sweep wall unpaced, concurrency ${UNPACED_CONCURRENCY} (N=${n}, ${latencyMs} ms/call)`;
    out(`# ${flatName}: requests by action: ${byActionLine(world)}`);
    if ((flat.planned ?? 0) > 0) out(`# ${flatName}: planned ${kindsOf(flat)}`);
    if (flat.meanLatencyMs !== undefined) {
      const observed = (flatCalls * flat.meanLatencyMs) / UNPACED_CONCURRENCY / 1000;
      const against = `bound ${observed.toFixed(2)} s, ratio ${fmt(flat.wallMs / 1000 / observed, 2)}`;
      out(`# ${flatName}: mean latency the client observed ${flat.meanLatencyMs.toFixed(1)} ms: ${against}`);
    }
    const flatBound = (flatCalls * latencyMs) / UNPACED_CONCURRENCY / 1000;
    figure(flatName, flat.wallMs / 1000, flatBound, 2, 's');

    world.emu.faults.setQpsLimit(qps);
    const limited = await measured('sweep');
    world.emu.faults.setQpsLimit(0);
    const answered = world.counter.answered;
    const throttled = world.counter.throttledCount;
    out(`# sweep at the QPS limit: client pacing at the end: ${pacingLine(limited.pacing)}`);
    // The account limit allows answered / qps; the client's per-group pacing (a share of the documented
    // quotas, docs/kms-api.md §4.1) may allow less: the larger binds.
    const qpsBound = answered / qps;
    const limitedPaced = pacingBoundS(world, limited.pacing) ?? 0;
    out(`# sweep at the QPS limit: account bound ${qpsBound.toFixed(2)} s, pacing bound ${limitedPaced.toFixed(2)} s`);
    figure(
      `sweep wall at QPS limit (N=${n}, ${qps} QPS)`,
      limited.wallMs / 1000,
      Math.max(qpsBound, limitedPaced),
      2,
      's',
    );
    figure(`throttled requests at QPS limit (N=${n}, ${qps} QPS)`, throttled, 0, 0);

    const target = world.clonedKeyIds[Math.floor(world.clonedKeyIds.length / 2)] ?? world.clonedKeyIds[0];
    if (target !== undefined) {
      await world.kms.deleteKeyMaterial(target);
      const repair = await measured('check-key', { keyId: target });
      const repairCalls = world.counter.answered;
      const state = (await world.kms.describeKey(target)).keyState;
      out(`# webhook check of one key after DeleteKeyMaterial: ${kindsOf(repair)}; key now ${state}`);
      out(`# webhook repair requests by action: ${byActionLine(world)}`);
      figure(`webhook repair calls (N=${n})`, repairCalls, TARGET.webhookCalls, 0);
      figure(`webhook repair wall (N=${n}, ${latencyMs} ms/call)`, repair.wallMs / 1000, TARGET.webhookWallS, 2, 's');
    }

    world.emu.faults.reset();
    await measured('onboard', { alias: 'alias/bench-new' });
    const onboardCalls = world.counter.answered;
    out(`# onboard requests (N=${n}): ${onboardCalls}; with 1 lineage: ${world.baseline.onboardCalls}`);
    figure(`onboard extra calls (N=${n})`, onboardCalls - world.baseline.onboardCalls, TARGET.extraCalls, 0);
    await measured('rotate', { alias: `alias/${cloneLineage(1)}` });
    const rotateCalls = world.counter.answered;
    out(`# rotation requests (N=${n}): ${rotateCalls}; with 2 lineages: ${world.baseline.rotateCalls}`);
    figure(`rotation extra calls (N=${n})`, rotateCalls - world.baseline.rotateCalls, TARGET.extraCalls, 0);

    const policy = world.config.policies.defaults;
    world.emu.clock.advance((policy.validityDays - policy.renewBeforeDays + 1) * 86_400);
    world.emu.faults.inject({ kind: 'latency', latencyMs });
    const renewal = await measured('sweep');
    const renewCalls = world.counter.answered;
    out(`# renewal-due sweep planned ${kindsOf(renewal)}`);
    out(`# renewal-due sweep requests by action: ${byActionLine(world)}`);
    walls(`renewal-due sweep wall (N=${n}, ${latencyMs} ms/call)`, renewal, renewCalls);
    figure(`peak RSS of the engine process (N=${n})`, Math.max(...rss) / 1024, TARGET.peakRssMiB, 0, 'MiB');
  } finally {
    await unpaced?.close();
    await child.close();
    await world.close();
  }
}

/**
 * The engine process as one CommonJS bundle run by plain node, like a function's code package: its
 * RSS then holds no TypeScript loader.
 */
async function buildChild(dir: string): Promise<string> {
  const outfile = join(dir, 'engine-child.cjs');
  await build({
    absWorkingDir: ROOT,
    entryPoints: [join(ROOT, 'scripts/bench/engine-child.ts')],
    outfile,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    define: { 'process.env.NODE_ENV': '"production"' },
    logLevel: 'silent',
  });
  return outfile;
}

/** Bundle sizes and cold-start overheads of freshly built bundles. */
async function benchBundles(runs: number): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'byok-bench-dist-'));
  try {
    const report = await buildFunctions({ absWorkingDir: ROOT, outDir: join(dir, 'dist') });
    for (const v of report.violations) out(`# build violation: ${v.fn}: ${v.kind}: ${v.detail}`);
    // The yardstick of the bound: the KMS SDK alone, bundled the plain way.
    const naive = join(dir, 'naive-sdk.js');
    await build({
      stdin: { contents: `module.exports = require('@alicloud/kms20160120');`, resolveDir: ROOT },
      outfile: naive,
      bundle: true,
      platform: 'node',
      target: 'node20',
      format: 'cjs',
      logLevel: 'silent',
    });
    const cold = measureColdStarts([naive, ...report.bundles.map((b) => b.outFile)], runs);
    out(`# bare node -e 0: ${cold.bareMs.toFixed(0)} ms; medians of ${cold.runs} interleaved runs`);
    const [plain, ...bundles] = cold.bundles;
    out(
      `# naive SDK bundle (@alicloud/kms20160120 alone, ${((await stat(naive)).size / MIB).toFixed(2)} MiB): ` +
        `+${plain!.overheadMs.toFixed(0)} ms over bare, require itself ${plain!.requireMs.toFixed(0)} ms`,
    );
    report.bundles.forEach((b, i) => {
      const budget = BUNDLE_BUDGETS[b.fn] ?? DEFAULT_BUNDLE_BUDGET_BYTES;
      const side = b.sideFiles.map((f) => `${f.package} ${(f.bytes / 1024).toFixed(0)} KiB`).join(', ');
      out(`# ${b.fn}: side files, loaded on first use only: ${side || 'none'}`);
      figure(`bundle size ${b.fn}`, b.bytes / MIB, budget / MIB, 2, 'MiB');
      out(`# ${b.fn}: the require call itself, timed inside the child: ${bundles[i]!.requireMs.toFixed(0)} ms`);
      figure(`cold-start overhead ${b.fn}`, bundles[i]!.overheadMs, TARGET.coldStartMs, 0, 'ms');
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function positiveInt(text: string, flag: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1)
    throw new Error(`${flag}: must be a whole number >= 1, got ${JSON.stringify(text)}`);
  return n;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      n: { type: 'string' },
      large: { type: 'boolean' },
      'latency-ms': { type: 'string' },
      qps: { type: 'string' },
      'skip-bundles': { type: 'boolean' },
      kms3: { type: 'boolean' },
      'cold-start-runs': { type: 'string' },
    },
  });
  const sizes = values.n
    ? values.n.split(',').map((s) => positiveInt(s.trim(), '--n'))
    : [100, 1000, 3000, ...(values.large ? [10_000] : [])];
  for (const n of sizes) if (n < 2) throw new Error('--n: each size must be at least 2 (two lineages are onboarded)');
  const latencyMs = positiveInt(values['latency-ms'] ?? '10', '--latency-ms');
  const qps = positiveInt(values.qps ?? '200', '--qps');
  const kmsVersion = values.kms3 ? 3 : 1;
  const over = sizes.find((n) => n > KMS3_MAX_LINEAGES);
  if (kmsVersion === 3 && over !== undefined) {
    const why = 'the emulated instance quotas (1000 keys, 1000 secrets; 2 secrets per lineage)';
    throw new Error(`--kms3: at most ${KMS3_MAX_LINEAGES} lineages fit ${why}; got --n ${over}`);
  }
  const cpu = cpus();
  out(`# machine: ${cpu.length} x ${cpu[0]?.model ?? '?'}, node ${process.version}, ${new Date().toISOString()}`);
  out(`# sizes ${sizes.join(', ')}; ${latencyMs} ms per KMS call where latency is on; QPS limit ${qps}`);
  if (!values['skip-bundles']) await benchBundles(positiveInt(values['cold-start-runs'] ?? '15', '--cold-start-runs'));
  const dir = await mkdtemp(join(tmpdir(), 'byok-bench-child-'));
  try {
    const childBundle = await buildChild(dir);
    for (const n of sizes) {
      try {
        await benchAt(n, { latencyMs, qps, kmsVersion }, childBundle);
      } catch (err) {
        // One size failing (an engine error at scale is a finding too) does not lose the others.
        out(`# N=${n} stopped: ${err instanceof Error ? err.message : String(err)}`);
        process.exitCode = 1;
      }
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
