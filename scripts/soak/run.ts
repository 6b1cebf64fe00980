/**
 * The soak: randomized fault scenarios against the emulator and the real engine, with the
 * invariants checked after every sweep (invariants.ts). A seeded PRNG chooses the scenario (which
 * fault, which key, how far the clock moves), so a seed reproduces its choices; key material still
 * comes from the engine's CSPRNG.
 *
 * One iteration ("sweep"): move the clock (a few hours to a few days, or an expiry gap past every
 * key's Valid Until); maybe act out of band as an operator would in the console (delete a key's
 * material, disable or re-enable a key); maybe inject emulator faults (throttling, 5xx, latency);
 * maybe run an on-call command (revoke, restore, retire, revive); then one sweep, or two at once,
 * possibly crashing at a random KMS call; reset the faults and check.
 *
 * Every `worldSweeps` iterations the world starts afresh (a new emulator and escrow, the lineages
 * onboarded again), alternating the escrow backend, so lineages stay small and sweeps fast.
 */
import { DEFAULT_POLICY, type Policies } from '../../shared/config/index.js';
import { checkTarget, onboard, reimportNow, restore, retire, revoke, sweep } from '../../shared/lifecycle/engine.js';
import type { SweepResult } from '../../shared/lifecycle/engine.js';
import { Hold, Phase, Tag, policyFor } from '../../shared/lifecycle/model.js';
import { CheckpointAbort, type EngineDeps } from '../../shared/lifecycle/ports.js';
import { INVARIANTS, InvariantChecker, secretForms, type Invariant, type InvariantCount } from './invariants.js';
import type { KeyObs } from './invariants.js';
import { SOAK_AK, startWorld, type RunOutput, type SoakEscrow, type SoakRun, type SoakWorld } from './world.js';

/** Fault kinds the soak injects (counted per kind). */
export const FAULT_KINDS = [
  'throttle',
  '5xx',
  'latency',
  'crash',
  'concurrent-sweeps',
  'webhook-check',
  'expiry-gap',
  'delete-material',
  'disable',
  'enable',
  'revoke',
  'restore',
  'retire',
  'revive',
] as const;
/** One fault kind. */
export type FaultKind = (typeof FAULT_KINDS)[number];

/** Options of a soak run. */
export interface SoakOptions {
  seed: number;
  sweeps: number;
  /** Lineages per world (default 6). */
  lineages?: number;
  /** Iterations per world before it starts afresh (default 50). */
  worldSweeps?: number;
  /** Escrow backend: one, or both alternating per world (default). */
  escrow?: SoakEscrow | 'both';
  /** Progress lines (one per world). */
  progress?: (line: string) => void;
  /** One line per sweep (what it injected). */
  trace?: (line: string) => void;
}

/** One violation with where it happened. */
export interface SoakViolation {
  seed: number;
  sweep: number;
  escrow: SoakEscrow;
  invariant: Invariant;
  detail: string;
  /** What the iteration injected. */
  faults: FaultKind[];
}

/** What a soak run found. */
export interface SoakReport {
  seed: number;
  sweeps: number;
  counts: Record<Invariant, InvariantCount>;
  faults: Record<FaultKind, number>;
  violations: SoakViolation[];
  /** Emulated days the clock moved, over all worlds. */
  simulatedDays: number;
  /** Crashes (of sweeps and commands) that struck after the run had started writing (an intent was audited). */
  crashesWhileWriting: number;
  elapsedMs: number;
}

/** mulberry32: a small seeded PRNG for scenario choices only (never for key material). */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

/**
 * The soak's policies: 30-day validity renewed 7 days before, rotation every 120 days so rotations
 * happen within a world; odd lineages keep previous generations 60 days, then retire them.
 */
export function soakPolicies(lineages: number): Policies {
  const byLineage: Policies['lineages'] = {};
  for (let i = 1; i < lineages; i += 2) byLineage[lineageName(i)] = { retainPreviousDays: 60 };
  return { defaults: { ...DEFAULT_POLICY, rotateAfterDays: 120 }, lineages: byLineage };
}

/** Name of the i-th lineage. */
export const lineageName = (i: number) => `soak-${i}`;

/** Onboards the world's lineages, fault-free (lineage 0 with a 20-day validity override). */
export async function onboardAll(world: SoakWorld, lineages: number): Promise<void> {
  for (let i = 0; i < lineages; i++) {
    const run = world.run();
    await onboard(run.deps, { alias: `alias/${lineageName(i)}`, ...(i === 0 ? { validityDays: 20 } : {}) });
  }
}

const kmsCode = (err: unknown): string =>
  (err as { code?: string }).code ?? (err instanceof Error ? err.name : 'non-error thrown');

/** Runs the soak. */
export async function runSoak(options: SoakOptions): Promise<SoakReport> {
  const started = Date.now();
  const lineages = options.lineages ?? 6;
  const worldSweeps = options.worldSweeps ?? 50;
  const rand = seededRandom(options.seed);
  const pick = <T>(items: T[]): T | undefined =>
    items.length === 0 ? undefined : items[Math.floor(rand() * items.length)];
  const counts = Object.fromEntries(
    Object.keys(INVARIANTS).map((name) => [name, { sweeps: 0, faults: 0, violations: 0 }]),
  ) as Record<Invariant, InvariantCount>;
  const faultTotals = Object.fromEntries(FAULT_KINDS.map((k) => [k, 0])) as Record<FaultKind, number>;
  const violations: SoakViolation[] = [];
  const stats = { crashesWhileWriting: 0, lastSweepCalls: 50, simulatedDays: 0 };
  let world: SoakWorld | undefined;
  let checker: InvariantChecker | undefined;
  let worldIndex = 0;
  try {
    for (let i = 1; i <= options.sweeps; i++) {
      if (world === undefined || checker === undefined || (i - 1) % worldSweeps === 0) {
        await world?.close();
        const escrow: SoakEscrow =
          options.escrow === 'file' || options.escrow === 'kms-secrets'
            ? options.escrow
            : worldIndex % 2 === 0
              ? 'file'
              : 'kms-secrets';
        worldIndex++;
        world = await startWorld({ escrow, policies: soakPolicies(lineages) });
        await onboardAll(world, lineages);
        const secret = SOAK_AK.accessKeySecret;
        checker = new InvariantChecker(world, { secrets: [secret, ...secretForms(Buffer.from(secret))], counts });
        options.progress?.(`world ${worldIndex} (${escrow} escrow) from sweep ${i}`);
        await checker.prime();
      }
      const faults = await iteration(world, checker, rand, pick, stats);
      for (const f of faults.kinds) faultTotals[f]++;
      options.trace?.(`sweep ${i}: ${faults.kinds.join(', ') || 'no faults'}`);
      const found = await checker.check({
        converged: faults.converged,
        faults: faults.kinds.length,
        outputs: faults.outputs,
        sweepErrors: faults.sweepErrors,
        runaways: faults.runaways,
      });
      for (const f of found)
        violations.push({ seed: options.seed, sweep: i, escrow: world.escrowBackend, ...f, faults: faults.kinds });
    }
  } finally {
    await world?.close();
  }
  return {
    seed: options.seed,
    sweeps: options.sweeps,
    counts,
    faults: faultTotals,
    violations,
    crashesWhileWriting: stats.crashesWhileWriting,
    simulatedDays: Math.round(stats.simulatedDays),
    elapsedMs: Date.now() - started,
  };
}

interface IterationResult {
  kinds: FaultKind[];
  converged: boolean;
  outputs: RunOutput[];
  sweepErrors: string[];
  /** Runs that never ended (looped), and why. */
  runaways: string[];
}

/** One iteration: clock, out-of-band acts, faults, an on-call command, the sweep(s). */
async function iteration(
  world: SoakWorld,
  checker: InvariantChecker,
  rand: () => number,
  pick: <T>(items: T[]) => T | undefined,
  stats: { crashesWhileWriting: number; lastSweepCalls: number; simulatedDays: number },
): Promise<IterationResult> {
  const kinds: FaultKind[] = [];
  const outputs: RunOutput[] = [];
  const keys: KeyObs[] = checker.last?.keys ?? [];
  const aliasTargets = new Set(Object.values(checker.last?.aliases ?? {}));

  // 1. The clock. An operator-disabled key whose hold no sweep has recorded yet must not lose its
  // material before a sweep sees it Disabled (README, known limits): then only a short step.
  const unrecorded = [...checker.operatorDisabled].some((id) => keys.find((k) => k.keyId === id)?.hold === undefined);
  const gap = !unrecorded && rand() < 0.08;
  const days = gap ? 31 + rand() * 14 : unrecorded ? 0.05 : 0.05 + rand() * 4;
  if (gap) kinds.push('expiry-gap');
  world.advanceDays(days);
  stats.simulatedDays += days;

  // 2. Out of band, in the console (fault-free).
  const enabledReady = keys.filter(
    (k) =>
      k.phase === Phase.Ready &&
      k.state === 'Enabled' &&
      k.hold === undefined &&
      !checker.operatorDisabled.has(k.keyId),
  );
  if (!kinds.includes('expiry-gap') && rand() < 0.15) {
    const k = pick(enabledReady);
    if (k !== undefined) {
      await world.kms.deleteKeyMaterial(k.keyId);
      kinds.push('delete-material');
    }
  }
  if (rand() < 0.07) {
    const k = pick(
      keys.filter(
        (x) => (x.phase === Phase.Ready || x.phase === Phase.Provisioning) && x.state === 'Enabled' && !x.hold,
      ),
    );
    if (k !== undefined && (await world.kms.describeKey(k.keyId)).keyState === 'Enabled') {
      await world.console.disableKey(k.keyId);
      checker.operatorDisabled.add(k.keyId);
      kinds.push('disable');
    }
  }
  if (checker.operatorDisabled.size > 0 && rand() < 0.12) {
    const id = pick([...checker.operatorDisabled])!;
    if ((await world.kms.describeKey(id)).keyState === 'Disabled') {
      await world.console.enableKey(id);
      checker.operatorDisabled.delete(id);
      kinds.push('enable');
    }
  }

  // 3. Emulator faults for what follows (on-call command and sweep).
  let emulatorFaults = false;
  if (rand() < 0.6) {
    const which = rand();
    if (which < 0.4) {
      world.emu.faults.inject({ kind: 'throttle', rate: 0.05 + rand() * 0.25 });
      kinds.push('throttle');
    } else if (which < 0.7) {
      world.emu.faults.inject({ kind: 'error5xx', rate: 0.05 + rand() * 0.25 });
      kinds.push('5xx');
    } else {
      world.emu.faults.inject({ kind: 'latency', rate: 0.3, latencyMs: 2 + Math.floor(rand() * 15) });
      kinds.push('latency');
    }
    emulatorFaults = true;
    if (rand() < 0.3) {
      const throttle = rand() < 0.5;
      world.emu.faults.inject({ kind: throttle ? 'throttle' : 'error5xx', rate: 0.1 });
      kinds.push(throttle ? 'throttle' : '5xx');
    }
  }

  // 4. An on-call command (under the same faults).
  // A command may die too, at one of its first writes.
  const commandCrash = rand() < 0.15 ? { crashAtWrite: 1 + Math.floor(rand() * 4) } : {};
  let commandRun: SoakRun | undefined;
  const operator = (): { deps: EngineDeps; output: RunOutput } => {
    const run = world.run(commandCrash);
    commandRun = run;
    outputs.push(run.output);
    return { deps: { ...run.deps, actor: { kind: 'operator', id: 'soak-oncall' } }, output: run.output };
  };
  const oncall = async (done: Promise<unknown>, output: RunOutput, what: string): Promise<void> => {
    const failed = done.then(
      () => undefined,
      (err: unknown) => void output.lines.push(`${what}: ${kmsCode(err)}`),
    );
    await settleOrPark([failed], () => commandRun?.runaway() !== undefined);
  };
  // What a command left behind is read afterwards (fault-free): a command that died or failed after
  // some of its writes still did them, and the checker must know what the operator brought back.
  const after = (keyId: string) =>
    withoutFaults(world, async () => {
      const meta = await world.kms.describeKey(keyId);
      const tags = await world.kms.listResourceTags(keyId);
      return {
        state: meta.keyState,
        expireAtMs: meta.materialExpireAtMs,
        hold: tags[Tag.Hold],
        phase: tags[Tag.Phase],
      };
    });
  const reviveDays = (k: KeyObs) => policyFor(world.policies, k.lineage!).reviveValidityDays;
  const command = rand();
  const revoked = keys.filter(
    (k) => k.hold === Hold.Revoked || (k.hold === Hold.Disabled && k.state === 'PendingImport'),
  );
  const superseded = keys.filter((k) => k.phase === Phase.Ready && k.superseded && !aliasTargets.has(k.keyId));
  const dormant = keys.filter((k) => k.phase === Phase.Retired && k.state === 'PendingImport' && !k.hold);
  if (command < 0.05 && enabledReady.length > 0) {
    const k = pick(enabledReady)!;
    const { deps, output } = operator();
    await oncall(revoke(deps, k.keyId, k.keyId), output, 'revoke');
    kinds.push('revoke');
  } else if (command < 0.12 && revoked.length > 0) {
    const k = pick(revoked)!;
    const { deps, output } = operator();
    const at = world.nowMs();
    await oncall(restore(deps, k.keyId), output, 'restore');
    const now = await after(k.keyId);
    if (now.state === 'Enabled') {
      // The restore imported the material (and removed the hold, unless it stopped before that).
      checker.restoreImported(k.keyId, now.hold === undefined);
      // Restoring a retired (dormant) generation revives it, with the bounded revive validity.
      if (k.phase === Phase.Retired) checker.revived(k.keyId, at, reviveDays(k));
    }
    kinds.push('restore');
  } else if (command < 0.16 && superseded.length > 0) {
    const k = pick(superseded)!;
    const { deps, output } = operator();
    await oncall(retire(deps, k.keyId, k.keyId), output, 'retire');
    const now = await after(k.keyId);
    if (now.phase === Phase.Retired) checker.retiredNow(k.keyId, now.expireAtMs);
    kinds.push('retire');
  } else if (command < 0.25 && dormant.length > 0) {
    const k = pick(dormant)!;
    const { deps, output } = operator();
    const at = world.nowMs();
    await oncall(reimportNow(deps, k.keyId), output, 'revive');
    if ((await after(k.keyId)).state === 'Enabled') checker.revived(k.keyId, at, reviveDays(k));
    kinds.push('revive');
  }

  if (commandRun?.crashed()) kinds.push('crash');

  // 5. The sweep: one, or two at once; maybe a crash at a random KMS or escrow call (anywhere
  // within as many calls as the last whole sweep made), or at one of its first writes.
  const crashDraw = rand();
  const crashPlan =
    crashDraw < 0.1
      ? { crashAtCall: 1 + Math.floor(rand() * stats.lastSweepCalls) }
      : crashDraw < 0.25
        ? { crashAtWrite: 1 + Math.floor(rand() * 6) }
        : {};
  const concurrent = rand() < 0.15;
  if (concurrent) kinds.push('concurrent-sweeps');
  const runs = [world.run(crashPlan)];
  if (concurrent) runs.push(world.run());
  for (const r of runs) outputs.push(r.output);
  const work: Array<Promise<SweepResult>> = runs.map((r) => sweep(r.deps));
  // A webhook's targeted check of one key's lineage at the same time (reviving it when it is a
  // dormant generation, as for a read refused with Rejected.PendingImport).
  const target = rand() < 0.12 ? pick(dormant.length > 0 && rand() < 0.5 ? dormant : keys) : undefined;
  const webhookRun = target === undefined ? undefined : world.run();
  const revivedAt = world.nowMs();
  if (target !== undefined && webhookRun !== undefined) {
    kinds.push('webhook-check');
    outputs.push(webhookRun.output);
    const deps = { ...webhookRun.deps, actor: { kind: 'webhook' as const, id: 'soak-eventbridge' } };
    work.push(checkTarget(deps, { keyId: target.keyId, revive: true }));
  }
  const all = [...runs, ...(webhookRun ? [webhookRun] : [])];
  const settled = await settleOrPark(work, () => all.some((r) => r.runaway() !== undefined));
  world.emu.faults.reset();
  if (target?.phase === Phase.Retired && (await after(target.keyId)).state === 'Enabled')
    checker.revived(target.keyId, revivedAt, reviveDays(target));
  const first = runs[0]!;
  if (!first.crashed()) stats.lastSweepCalls = Math.max(10, first.calls());
  else {
    kinds.push('crash');
    if (first.output.audit.some((e) => e.phase === 'intent')) stats.crashesWhileWriting++;
  }
  if (commandRun?.crashed() && commandRun.output.audit.some((e) => e.phase === 'intent')) stats.crashesWhileWriting++;
  const sweepErrors: string[] = [];
  const runaways = [commandRun, ...all].flatMap((r) => r?.runaway() ?? []);
  settled?.forEach((s, n) => {
    if (s.status === 'rejected') {
      if (!(s.reason instanceof CheckpointAbort)) sweepErrors.push(`run ${n + 1} threw ${kmsCode(s.reason)}`);
    } else {
      for (const r of s.value.results)
        if (r.outcome === 'failed')
          sweepErrors.push(`run ${n + 1}: ${r.action.kind} ${r.action.lineage} failed: ${r.errorCode}`);
    }
  });
  const converged = !emulatorFaults && !kinds.includes('crash');
  return { kinds, converged, outputs, sweepErrors, runaways };
}

/** Runs `fn` with the emulator's fault rules lifted, then puts them back. */
async function withoutFaults<T>(world: SoakWorld, fn: () => Promise<T>): Promise<T> {
  const rules = world.emu.faults.active();
  world.emu.faults.reset();
  try {
    return await fn();
  } finally {
    for (const r of rules) {
      if (r.remaining === 0) continue;
      world.emu.faults.inject({
        kind: r.kind,
        rate: r.rate,
        ...(r.actions === null ? {} : { actions: r.actions }),
        ...(r.remaining === null ? {} : { count: r.remaining }),
        ...(r.kind === 'latency' ? { latencyMs: r.latencyMs } : {}),
      });
    }
  }
}

/**
 * Waits for the runs to settle, or stops waiting once `parked()` says one of them looped (its
 * calls never answer again, so it will never settle): undefined then.
 */
async function settleOrPark<T>(
  runs: Array<Promise<T>>,
  parked: () => boolean,
): Promise<Array<PromiseSettledResult<T>> | undefined> {
  const all = Promise.allSettled(runs);
  for (;;) {
    const tick = new Promise<'tick'>((resolve) => setTimeout(() => resolve('tick'), 200));
    const settled = await Promise.race([all, tick]);
    if (settled !== 'tick') return settled;
    if (parked()) return undefined;
  }
}

/** The printed report: one line per invariant, totals, faults by kind. */
export function formatReport(report: SoakReport): string[] {
  const lines: string[] = [];
  let violations = 0;
  for (const [name, c] of Object.entries(report.counts)) {
    lines.push(`${name}: sweeps ${c.sweeps}, faults ${c.faults}, violations ${c.violations}`);
    violations += c.violations;
  }
  const faults = Object.values(report.faults).reduce((a, b) => a + b, 0);
  lines.push(`total: sweeps ${report.sweeps}, faults ${faults}, violations ${violations}`);
  lines.push(`crashes while writing: ${report.crashesWhileWriting} of ${report.faults.crash}`);
  const kinds = (which: readonly FaultKind[]) => which.map((k) => `${k} ${report.faults[k]}`).join(', ');
  lines.push(`faults by kind: ${kinds(FAULT_KINDS.slice(0, 7))},`);
  lines.push(`  ${kinds(FAULT_KINDS.slice(7))}`);
  return lines;
}
