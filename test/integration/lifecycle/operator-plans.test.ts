/**
 * One path through the engine: an operator command is a single-lineage plan run by the executor a
 * sweep uses, under the same lease and audit wrapper, with the operator as actor and the command's
 * intent as reason. Its reads of the lineage happen under the lease. Errors the engine cannot name
 * are logged with their stack, never put in results or audit.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { KmsPort } from '../../../shared/kms/port.js';
import { leaseSecretName } from '../../../shared/lifecycle/lease.js';
import { onboard, renewNow, revoke, restore, rotateNow, sweep } from '../../../shared/lifecycle/engine.js';
import { createLogger } from '../../../shared/log.js';
import { startHarness, type Harness } from '../../support/engine-harness.js';

let h: Harness;
beforeEach(async () => {
  h = await startHarness();
});
afterEach(async () => {
  await h?.close();
});

const alice = { kind: 'operator' as const, id: 'alice' };

/** The lease record of a lineage as it is now. */
async function lease(lineage: string): Promise<{ seq: number; holder: string | null }> {
  return JSON.parse((await h.kms.getSecretValue({ secretName: leaseSecretName(lineage) })).secretData) as {
    seq: number;
    holder: string | null;
  };
}

describe('an operator command is a single-lineage plan', () => {
  it(
    'audits rotate like a sweep action: decision, lease, ' + 'intent, outcome, one plan id, the operator as actor',
    async () => {
      await onboard(h.deps(), { alias: 'alias/ops-a' });
      const from = h.audit.length;
      const r = await rotateNow(h.deps({ actor: alice }), 'alias/ops-a');
      expect(r).toMatchObject({ lineage: 'ops-a', generation: 2 });
      const events = h.audit.slice(from);
      const planIds = new Set(events.map((e) => e.planId));
      expect(planIds.size).toBe(1);
      expect([...planIds][0]).toMatch(/^plan-[0-9a-f]{16}$/);
      expect(events.every((e) => e.actor?.kind === 'operator' && e.actor.id === 'alice')).toBe(true);
      const own = events
        .filter((e) => !e.action.startsWith('provision:'))
        .map((e) => [e.action, e.phase, e.outcome, e.reason]);
      expect(own).toEqual([
        ['rotate', 'decision', undefined, 'operator rotate'],
        ['lease', 'outcome', 'ok', expect.stringMatching(/^lineage lease \d+ taken$/)],
        ['rotate', 'intent', undefined, 'operator rotate'],
        ['rotate', 'outcome', 'ok', `rotated to generation 2 (${r.keyId})`],
      ]);
      expect((await lease('ops-a')).holder).toBeNull();
    },
  );

  it('reads the lineage only under its lease, and never observes the whole account', async () => {
    await onboard(h.deps(), { alias: 'alias/ops-b' });
    const calls: string[] = [];
    const base = h.deps();
    const recorded = new Proxy(base.kms, {
      get(target, name: string) {
        const fn = target[name as keyof KmsPort] as unknown;
        if (typeof fn !== 'function') return fn;
        return (...args: unknown[]) => {
          const first = args[0] as { secretName?: string } | undefined;
          calls.push(first?.secretName === leaseSecretName('ops-b') ? `${name}:lease` : name);
          return (fn as (...a: unknown[]) => unknown).apply(target, args);
        };
      },
    });
    await rotateNow({ ...base, kms: recorded }, 'alias/ops-b');
    const taken = calls.indexOf('putSecretValue:lease');
    expect(taken).toBeGreaterThan(0);
    // The lineage's generations are read under the lease, from its escrow secrets (issue 10), never
    // by listing the account's keys or aliases.
    expect(calls.indexOf('listSecrets')).toBeGreaterThan(taken);
    expect(calls).not.toContain('listKeys');
    expect(calls).not.toContain('listAliases');
  });

  it('skips a rotation whose alias moved after the command looked, and says so', async () => {
    await onboard(h.deps(), { alias: 'alias/ops-c' });
    const base = h.deps();
    let moved = false;
    // Another run rotates between the command's read of the alias and its lease.
    const racing: KmsPort = {
      ...base.kms,
      async getSecretValue(input) {
        if (!moved && input.secretName === leaseSecretName('ops-c')) {
          moved = true;
          await rotateNow(h.deps(), 'alias/ops-c');
        }
        return base.kms.getSecretValue(input);
      },
    };
    await expect(rotateNow({ ...base, kms: racing }, 'alias/ops-c')).rejects.toMatchObject({
      code: 'ERR_PRECONDITION_FAILED',
      message: expect.stringMatching(/^not rotated: alias already moved to \S+ \(another run rotated\)$/),
    });
  });

  it('runs renew, revoke and restore through the executor, each with its own reason', async () => {
    const { keyId } = await onboard(h.deps(), { alias: 'alias/ops-d' });
    const from = h.audit.length;
    await renewNow(h.deps({ actor: alice }), keyId);
    await revoke(h.deps({ actor: alice }), keyId, keyId);
    await restore(h.deps({ actor: alice }), keyId);
    const intents = h.audit
      .slice(from)
      .filter((e) => e.phase === 'intent')
      .map((e) => [e.action, e.reason, e.keyId]);
    expect(intents).toEqual([
      ['renew', 'operator renew', keyId],
      ['revoke', 'operator revoke', keyId],
      ['restore', 'operator restore', keyId],
    ]);
    expect((await h.kms.describeKey(keyId)).keyState).toBe('Enabled');
  });
});

describe('an error the engine cannot name', () => {
  it('is "internal error" in results and audit, and logged once with its stack', async () => {
    const { keyId } = await onboard(h.deps(), { alias: 'alias/ops-e' });
    h.advanceDays(25);
    const lines: string[] = [];
    const log = createLogger({ write: (l) => lines.push(l), nowMs: () => 0 });
    const base = h.deps();
    const broken: KmsPort = {
      ...base.kms,
      async importKeyMaterial() {
        throw new TypeError('cannot read properties of undefined (a bug)');
      },
    };
    const from = h.audit.length;
    const r = await sweep({ ...base, kms: broken, log });
    expect(r.results.map((x) => [x.action.kind, x.outcome, x.errorCode, x.detail])).toEqual([
      ['renew', 'failed', 'ERR_INTERNAL', 'internal error'],
    ]);
    expect(JSON.stringify(h.audit.slice(from))).not.toContain('TypeError');
    const errors = lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l['level'] === 'error');
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({
      msg: 'internal error',
      lineage: 'ops-e',
      action: 'renew',
      keyId,
      errorCode: 'ERR_INTERNAL',
    });
    expect(String(errors[0]!['stack'])).toMatch(/^TypeError: cannot read properties of undefined \(a bug\)\n\s+at /);
  });
});
