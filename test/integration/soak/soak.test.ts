/**
 * The soak (scripts/soak, `npm run soak`), in process: a short seed against the emulator and the
 * real engine finds no violation; and the checker is proven able to fail, by breaking invariants
 * behind the engine's back (an escrow secret deleted, an alias moved by hand, a key the operator
 * disabled brought back by the known "disable, then lose material before any sweep looks" case).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { escrowSecretName } from '../../../shared/escrow/kms-secrets-store.js';
import { sweep } from '../../../shared/lifecycle/engine.js';
import { InvariantChecker, secretForms, type Invariant } from '../../../scripts/soak/invariants.js';
import { formatReport, lineageName, onboardAll, runSoak, soakPolicies } from '../../../scripts/soak/run.js';
import { startWorld, type RunOutput, type SoakWorld } from '../../../scripts/soak/world.js';

let world: SoakWorld | undefined;
afterEach(async () => {
  await world?.close();
  world = undefined;
});

const quiet = { converged: true, faults: 0, sweepErrors: [] };

/** Which invariants `found` names. */
const names = (found: Array<{ invariant: Invariant }>) => [...new Set(found.map((f) => f.invariant))].sort();

describe('npm run soak', () => {
  it('runs 30 randomized sweeps over both escrow backends with no violation', { timeout: 60_000 }, async () => {
    const report = await runSoak({ seed: 7, sweeps: 30, lineages: 4, worldSweeps: 15 });
    expect(report.violations).toEqual([]);
    // It really injected faults and checked after every sweep.
    expect(Object.values(report.faults).reduce((a, b) => a + b, 0)).toBeGreaterThan(10);
    expect(report.counts['escrow-matches-tag'].sweeps).toBe(30);
    expect(report.counts['healthy-keys-enabled'].sweeps).toBeGreaterThan(0);
    const lines = formatReport(report);
    expect(lines).toContain(`total: sweeps 30, faults ${report.counts['escrow-matches-tag'].faults}, violations 0`);
    expect(lines[0]).toMatch(/^escrow-matches-tag: sweeps 30, faults \d+, violations 0$/);
  });
});

describe('the soak checker fails when an invariant is broken behind the engine', () => {
  it('counts a deleted escrow secret and an alias moved onto another lineage', async () => {
    world = await startWorld({ escrow: 'kms-secrets', policies: soakPolicies(2) });
    await onboardAll(world, 2);
    const checker = new InvariantChecker(world);
    const clean = await checker.check({ ...quiet, outputs: [] });
    expect(clean).toEqual([]);

    const [a, b] = [lineageName(0), lineageName(1)];
    const keyA = (await world.kms.describeKey(`alias/${a}`)).keyId;
    const keyB = (await world.kms.describeKey(`alias/${b}`)).keyId;
    await world.console.deleteSecret(escrowSecretName(keyA));
    await world.console.updateAlias(`alias/${b}`, keyA);
    const found = await checker.check({ ...quiet, outputs: [] });
    expect(names(found)).toEqual(['alias-on-current-generation', 'alias-on-ready-key', 'escrow-matches-tag']);
    expect(found.find((f) => f.invariant === 'escrow-matches-tag')?.detail).toContain(keyA);
    expect(found.find((f) => f.invariant === 'alias-on-ready-key')?.detail).toContain(`alias/${b}`);
    expect(checker.counts['escrow-matches-tag']).toEqual({ sweeps: 2, faults: 0, violations: 1 });
    expect(keyB).not.toBe(keyA);
  });

  it('counts, after a fault-free sweep, a key left without material and its data unreadable', async () => {
    world = await startWorld({ escrow: 'file', policies: soakPolicies(1) });
    await onboardAll(world, 1);
    const checker = new InvariantChecker(world);
    expect(await checker.check({ ...quiet, outputs: [] })).toEqual([]); // also writes the probes
    const keyId = (await world.kms.describeKey(`alias/${lineageName(0)}`)).keyId;
    await world.kms.deleteKeyMaterial(keyId); // and no sweep repairs it
    const found = await checker.check({ ...quiet, outputs: [] });
    expect(names(found)).toEqual(['healthy-keys-enabled']);
    expect(found[0]?.detail).toContain(`${keyId} (${lineageName(0)} g1): PendingImport`);
    // The same state after a faulty sweep is not (yet) a violation: the next fault-free one must repair it.
    expect(await checker.check({ ...quiet, converged: false, outputs: [] })).toEqual([]);
    // A fault-free sweep re-imports it from escrow: healthy again, and the probe written before decrypts.
    const run = world.run();
    await sweep(run.deps);
    expect(await checker.check({ ...quiet, outputs: [run.output] })).toEqual([]);
    expect(checker.counts['old-ciphertext-readable']).toEqual({ sweeps: 3, faults: 0, violations: 0 });
  });

  it('counts a key the operator disabled that a sweep brought back', async () => {
    world = await startWorld({ escrow: 'file', policies: soakPolicies(1) });
    await onboardAll(world, 1);
    const checker = new InvariantChecker(world);
    await checker.prime();
    const keyId = (await world.kms.describeKey(`alias/${lineageName(0)}`)).keyId;
    // Disabled, then its material lapses before any sweep saw it Disabled (README, known limits):
    // the key looks like an out-of-band deletion and the sweep re-imports it.
    await world.console.disableKey(keyId);
    checker.operatorDisabled.add(keyId);
    world.advanceDays(40);
    const run = world.run();
    await sweep(run.deps);
    const found = await checker.check({ ...quiet, outputs: [run.output] });
    expect(found).toContainEqual({
      invariant: 'disabled-never-reenabled',
      detail: `${keyId}: Enabled again, the operator did not enable it`,
    });
  });

  it('counts a secret that appears in an audit event or a log line', async () => {
    world = await startWorld({ escrow: 'file', policies: soakPolicies(1) });
    await onboardAll(world, 1);
    const keyId = (await world.kms.describeKey(`alias/${lineageName(0)}`)).keyId;
    const material = (await world.escrow.get(keyId)).material;
    const fake = 'not-a-real-secret-0123';
    const checker = new InvariantChecker(world, { secrets: [fake, ...secretForms(Buffer.from(fake))] });
    const leaky: RunOutput = {
      audit: [{ action: 'renew', phase: 'outcome', keyId, reason: `material ${material.toString('base64')}` }],
      lines: ['{"msg":"token not-a-real-secret-0123"}'],
    };
    // The first check reads the escrow (and so learns the material's forms) before it scans.
    const found = await checker.check({ ...quiet, outputs: [leaky] });
    expect(found.filter((f) => f.invariant === 'no-secret-in-output')).toHaveLength(2);
    expect(JSON.stringify(found)).not.toContain(material.toString('base64'));
  });
});
