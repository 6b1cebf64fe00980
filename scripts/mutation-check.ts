/**
 * Mutation check of the executor's fresh guards (issue 8 §4), part of `npm run check`: each guard
 * in GUARDS is removed in turn (an exact source snippet replaced, usually its condition by `false`),
 * only the test files that provoke it are run, and at least one test must fail ("killed"). The
 * source file is always restored (in `finally`, and on SIGINT/SIGTERM), and only the mutated
 * snippet is put back, so a concurrent edit elsewhere in the file is kept. Prints one line per
 * guard and exits non-zero when a guard SURVIVED (or a snippet is no longer found, or a run errored).
 *
 * Usage: npm run mutation [-- <guard-name-substring>]
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

interface Guard {
  name: string;
  file: string;
  find: string;
  replace: string;
  tests: string[];
}

const STALE = 'test/integration/lifecycle/stale-plans.test.ts';
const STEPS = 'shared/lifecycle/steps.ts';
const APPLY = 'shared/lifecycle/apply.ts';
const PROVISION = 'shared/lifecycle/provision.ts';

const GUARDS: Guard[] = [
  {
    name: 'hold check before re-import',
    file: STEPS,
    find: 'if (k.hold && !input.held)',
    replace: 'if (false)',
    tests: [STALE],
  },
  {
    name: 'PendingDeletion check before re-import',
    file: STEPS,
    find: 'if (k.state === KeyState.PendingDeletion)',
    replace: 'if (false)',
    tests: [STALE],
  },
  {
    name: 'retired check before re-import',
    file: STEPS,
    find: 'if (k.phase === Phase.Retired && !input.revive)',
    replace: 'if (false)',
    tests: [STALE],
  },
  {
    name: 're-import only into PendingImport',
    file: STEPS,
    find: "if (input.expect === 'reimport' && k.state !== KeyState.PendingImport)",
    replace: 'if (false)',
    tests: [STALE],
  },
  {
    name: 'renew only an Enabled key',
    file: STEPS,
    find: 'if (k.state !== KeyState.Enabled) return { done: false',
    replace: 'if (false) return { done: false',
    tests: [STALE],
  },
  {
    name: '"already renewed" check',
    file: STEPS,
    find: 'if (!input.force && k.materialExpireAtMs - now > renewWindowMs)',
    replace: 'if (false)',
    tests: [STALE],
  },
  {
    name: 'escrow fingerprint check',
    file: STEPS,
    find:
      'expectedFingerprint === undefined ||\n    rec.fingerprint !== expectedFingerprint ||\n' +
      '    fingerprintMaterial(rec.material) !== expectedFingerprint',
    replace: 'false',
    tests: [STALE],
  },
  {
    name: 'time-budget check',
    file: STEPS,
    find: 'deps.deadlineMs !== undefined && deps.clock.nowMs() >= deps.deadlineMs',
    replace: 'false',
    tests: [STALE],
  },
  {
    name: 'rotate check (alias still where the plan saw it)',
    file: APPLY,
    find: 'if (target !== a.fromKeyId) return skipped(',
    replace: 'if (false) return skipped(',
    tests: [STALE],
  },
  {
    name: 'retire check (alias not back on the key)',
    file: APPLY,
    find: 'if ((await deps.kms.describeKey(aliasOf(a.lineage))).keyId === a.keyId) {',
    replace: 'if (false) {',
    tests: [STALE],
  },
  {
    name: 'hold check (key still Disabled and unheld)',
    file: APPLY,
    find: 'if (k.state !== KeyState.Disabled || k.hold)',
    replace: 'if (false)',
    tests: [STALE],
  },
  {
    name: "findGeneration (reuse a dead run's CMK)",
    file: PROVISION,
    find: 'v.generation === generation && v.state !== KeyState.PendingDeletion',
    replace: 'false',
    tests: [STALE],
  },
  {
    name: 'findGeneration skips PendingDeletion CMKs',
    file: PROVISION,
    find: 'v.generation === generation && v.state !== KeyState.PendingDeletion',
    replace: 'v.generation === generation',
    tests: [STALE],
  },
  {
    name: 'one CMK per generation',
    file: PROVISION,
    find: 'if (existing.length > 1)',
    replace: 'if (false)',
    tests: [STALE],
  },
  {
    name: 'assertProvisionable',
    file: PROVISION,
    find: 'if (stopped.includes(key.state) || key.hold)',
    replace: 'if (false)',
    tests: [STALE],
  },
  {
    name: 'check before the alias move',
    file: PROVISION,
    find:
      'key.state !== KeyState.Enabled ||\n    key.hold ||\n    key.phase !== Phase.Ready ||\n' +
      '    !isTagged(key) ||\n    key.lineage !== lineage',
    replace: 'false',
    tests: [STALE],
  },
];

const root = resolve(import.meta.dirname, '..');
const vitest = join(root, 'node_modules', '.bin', 'vitest');
const work = mkdtempSync(join(tmpdir(), 'byok-mutation-'));

/** Source files currently mutated: path -> the mutation, for restoring on a signal. */
const active = new Map<string, Guard>();

/** Puts the guard's snippet back, keeping anything else a concurrent edit changed in the file. */
function restore(path: string, g: Guard, original: string): void {
  const now = readFileSync(path, 'utf8');
  if (now === original) return;
  const mutated = original.replace(g.find, () => g.replace);
  if (now === mutated) writeFileSync(path, original);
  else if (now.includes(g.replace) && !now.includes(g.find))
    writeFileSync(
      path,
      now.replace(g.replace, () => g.find),
    );
  else writeFileSync(path, original);
}

const originals = new Map<string, string>();
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    for (const [path, g] of active) restore(path, g, originals.get(path) ?? '');
    rmSync(work, { recursive: true, force: true });
    process.exit(130);
  });
}

/** Runs the test files; the number of failed tests, or undefined when the run itself errored. */
function failedTests(tests: string[], label: string): number | undefined {
  const out = join(work, `${label}.json`);
  const r = spawnSync(vitest, ['run', ...tests, '--reporter=json', `--outputFile=${out}`], {
    cwd: root,
    encoding: 'utf8',
    env: { ...process.env, FORCE_COLOR: '0' },
  });
  let report: { numFailedTests?: number; numTotalTests?: number; testResults?: { status: string }[] };
  try {
    report = JSON.parse(readFileSync(out, 'utf8'));
  } catch {
    process.stderr.write(r.stderr.slice(-2000));
    return undefined;
  }
  const failed = report.numFailedTests ?? 0;
  // A file that did not load (a syntax error in the mutant) is an error, not a kill.
  if (failed === 0 && r.status !== 0) return undefined;
  return failed;
}

const filter = process.argv[2];
const guards = filter ? GUARDS.filter((g) => g.name.includes(filter)) : GUARDS;
let bad = 0;
const started = Date.now();
try {
  const files = [...new Set(guards.flatMap((g) => g.tests))];
  const baseline = failedTests(files, 'baseline');
  if (baseline !== 0) {
    console.log(`baseline: the unmutated tests do not pass (${baseline ?? 'run error'}); nothing checked`);
    process.exitCode = 1;
  } else {
    for (const [i, g] of guards.entries()) {
      const path = join(root, g.file);
      const original = readFileSync(path, 'utf8');
      const count = original.split(g.find).length - 1;
      if (count !== 1) {
        console.log(`NOT FOUND ${g.name} (${g.file}: snippet found ${count} times)`);
        bad++;
        continue;
      }
      const t0 = Date.now();
      let failed: number | undefined;
      originals.set(path, original);
      active.set(path, g);
      try {
        writeFileSync(
          path,
          original.replace(g.find, () => g.replace),
        );
        failed = failedTests(g.tests, `mutant-${i}`);
      } finally {
        restore(path, g, original);
        active.delete(path);
      }
      const secs = ((Date.now() - t0) / 1000).toFixed(1);
      if (failed === undefined) {
        console.log(`ERROR    ${g.name} (${g.file}): the test run errored (${secs} s)`);
        bad++;
      } else if (failed > 0) {
        console.log(`killed   ${g.name} (${g.file}): ${failed} test(s) failed (${secs} s)`);
      } else {
        console.log(`SURVIVED ${g.name} (${g.file}): no test failed (${secs} s)`);
        bad++;
      }
    }
    const secs = ((Date.now() - started) / 1000).toFixed(0);
    console.log(`${guards.length - bad}/${guards.length} guards killed in ${secs} s`);
    if (bad > 0) process.exitCode = 1;
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
