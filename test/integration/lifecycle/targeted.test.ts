/**
 * Reads that do not grow with the account (issue 10): a webhook's checkTarget reads only its
 * target's lineage, plans exactly what a sweep would plan for that lineage, and an onboard finds
 * its lineage's generations without listing the account. Calls are counted through a KmsPort
 * wrapper (the escrow store is built over the same wrapper, so escrow's calls count too).
 */
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { ErrorCode, OrchestratorError } from '../../../shared/errors.js';
import { fingerprintMaterial } from '../../../shared/escrow/fingerprint.js';
import { createKmsSecretsEscrowStore } from '../../../shared/escrow/kms-secrets-store.js';
import type { KmsPort } from '../../../shared/kms/port.js';
import { onboard, planNow, rotateNow } from '../../../shared/lifecycle/engine.js';
import { acquireLease, leaseDeps, leaseSecretName } from '../../../shared/lifecycle/lease.js';
import { Tag, describeMarker } from '../../../shared/lifecycle/model.js';
import { CheckpointAbort, type EngineDeps } from '../../../shared/lifecycle/ports.js';
import { checkTarget, planTarget } from '../../../shared/lifecycle/sweep.js';
import { ESCROW_INSTANCE, KEYS_INSTANCE, startHarness, type Harness } from '../../support/engine-harness.js';

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

/**
 * A KmsPort that counts every call by method name, and GetSecretValue calls also by the secret
 * name's prefix (`byok-lease`, `byok-escrow`) in `reads`.
 */
function counting(kms: KmsPort): { kms: KmsPort; calls: Map<string, number>; reads: Map<string, number> } {
  const calls = new Map<string, number>();
  const reads = new Map<string, number>();
  const wrapped = new Proxy(kms, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver);
      if (typeof v !== 'function' || typeof prop !== 'string') return v;
      return (...args: unknown[]) => {
        calls.set(prop, (calls.get(prop) ?? 0) + 1);
        if (prop === 'getSecretValue') {
          const prefix = String((args[0] as { secretName: string }).secretName).split('/')[0]!;
          reads.set(prefix, (reads.get(prefix) ?? 0) + 1);
        }
        return (v as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return { kms: wrapped, calls, reads };
}

/** Engine deps whose KMS calls (escrow's included) are counted. */
function counted(
  harness: Harness,
  over: Partial<EngineDeps> = {},
): { deps: EngineDeps; calls: Map<string, number>; reads: Map<string, number> } {
  const { kms, calls, reads } = counting(harness.kms);
  const escrow = createKmsSecretsEscrowStore({
    kms,
    encryptionKeyId: harness.escrowKeyId,
    dkmsInstanceId: ESCROW_INSTANCE,
  });
  return { deps: harness.deps({ kms, escrow, ...over }), calls, reads };
}

const total = (calls: Map<string, number>) => [...calls.values()].reduce((a, b) => a + b, 0);
const sorted = (calls: Map<string, number>) => Object.fromEntries([...calls].sort(([a], [b]) => a.localeCompare(b)));

let fillers = 0;
/**
 * Adds `n` other lineages as a full scan would meet them: an EXTERNAL CMK tagged as managed (ready,
 * with a fingerprint) and its escrow secret, without the slow import (no wrapping key per lineage).
 */
async function addLineages(harness: Harness, n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    const lineage = `filler-${++fillers}`;
    const key = await harness.kms.createKey({
      origin: 'EXTERNAL',
      keySpec: 'Aliyun_AES_256',
      description: describeMarker(lineage, 1),
      dkmsInstanceId: KEYS_INSTANCE,
    });
    const material = randomBytes(32);
    const fingerprint = fingerprintMaterial(material);
    await harness.kms.tagResource(key.keyId, {
      [Tag.Managed]: 'true',
      [Tag.Lineage]: lineage,
      [Tag.Generation]: '1',
      [Tag.Fingerprint]: fingerprint,
      [Tag.Phase]: 'ready',
    });
    const record = { keyId: key.keyId, lineage, generation: 1, keySpec: 'Aliyun_AES_256', fingerprint };
    await harness.escrow.put({ ...record, createdAtMs: harness.nowMs(), material });
    material.fill(0);
  }
}

describe('checkTarget reads only its target (issue 10)', () => {
  it('repairs a DeleteKeyMaterial with the same calls whether 5 or 60 other lineages exist', async () => {
    h = await startHarness({ escrow: 'kms-secrets' });
    const harness = h;
    const { keyId } = await onboard(harness.deps(), { alias: 'alias/target' });
    const repair = async () => {
      await harness.kms.deleteKeyMaterial(keyId);
      const { deps, calls, reads } = counted(harness);
      const r = await checkTarget(deps, { keyId });
      expect(r.results.map((x) => [x.action.kind, x.outcome])).toEqual([['reimport', 'ok']]);
      expect((await harness.kms.describeKey(keyId)).keyState).toBe('Enabled');
      return { calls, reads };
    };
    await addLineages(harness, 5);
    const at5 = await repair();
    await addLineages(harness, 55);
    const at60 = await repair();
    expect(sorted(at60.calls)).toEqual(sorted(at5.calls));
    expect(at5.calls.get('listKeys') ?? 0).toBe(0);
    expect(at5.calls.get('listAliases') ?? 0).toBe(0);
    // The budget: ~12 calls. The lease record is read once (by the targeted observe; the
    // take reuses that read), the escrow record is still read back before the import, and the
    // lease costs that read, one conditional write to take and one to release.
    expect(total(at5.calls)).toBeLessThanOrEqual(12);
    expect(sorted(at5.reads)).toEqual({ 'byok-escrow': 1, 'byok-lease': 1 });
    expect([at5.calls.get('putSecretValue'), at5.calls.get('importKeyMaterial')]).toEqual([2, 1]);
  });

  it.each([
    ['holds it', false, 'skipped', 'PendingImport'],
    ['took and released it', true, 'ok', 'Enabled'],
  ] as const)(
    'a repair whose lease another run took between the observe and the take: the other run %s',
    async (_what, release, outcome, state) => {
      h = await startHarness({ escrow: 'kms-secrets' });
      const harness = h;
      const { keyId } = await onboard(harness.deps(), { alias: 'alias/target' });
      await harness.kms.deleteKeyMaterial(keyId);
      // Just before the check's lease write reaches KMS, another run takes the lease (and maybe
      // releases it): the record the observe read (and the take reuses) is out of date.
      let raced = false;
      const racing = new Proxy(harness.kms, {
        get(target, prop, receiver) {
          if (prop !== 'putSecretValue') return Reflect.get(target, prop, receiver);
          return async (input: Parameters<KmsPort['putSecretValue']>[0]) => {
            if (!raced && input.secretName === leaseSecretName('target')) {
              raced = true;
              const other = await acquireLease(leaseDeps(harness.deps({ runId: 'other-run' })), 'target', 'rotate');
              if (release) await other.release();
            }
            return target.putSecretValue(input);
          };
        },
      });
      const r = await checkTarget(harness.deps({ kms: racing }), { keyId });
      expect(raced).toBe(true);
      expect(r.results.map((x) => [x.action.kind, x.outcome])).toEqual([['reimport', outcome]]);
      if (!release) expect(r.results[0]?.errorCode).toBe(ErrorCode.LeaseHeld);
      expect((await harness.kms.describeKey(keyId)).keyState).toBe(state);
      const lease = JSON.parse(
        (await harness.kms.getSecretValue({ secretName: leaseSecretName('target') })).secretData,
      );
      expect(lease.holder).toBe(release ? null : 'other-run');
    },
  );

  it.each(['kms-secrets', 'file'] as const)(
    'plans what the sweep plans for each lineage (%s escrow)',
    async (backend) => {
      h = await startHarness({ escrow: backend });
      const harness = h;
      await addLineages(harness, 3);
      // alpha: two generations (rotated), the superseded one's material deleted.
      const alpha = await onboard(harness.deps(), { alias: 'alias/alpha' });
      await rotateNow(harness.deps(), 'alias/alpha');
      await harness.kms.deleteKeyMaterial(alpha.keyId);
      // beta: the current generation's material deleted.
      const beta = await onboard(harness.deps(), { alias: 'alias/beta' });
      await harness.kms.deleteKeyMaterial(beta.keyId);
      // gamma: a rotation that died right after CreateKey (the new CMK is untagged; its lease is held).
      await onboard(harness.deps(), { alias: 'alias/gamma' });
      const crash = harness.deps({
        onCheckpoint: (step) => {
          if (step === 'created') throw new CheckpointAbort('simulated crash after created');
        },
      });
      await expect(rotateNow(crash, 'alias/gamma')).rejects.toBeInstanceOf(CheckpointAbort);
      // delta: healthy, and renewal-due after the clock moves on.
      await onboard(harness.deps(), { alias: 'alias/delta' });
      // epsilon: disabled by an operator (a hold is recorded).
      const epsilon = await onboard(harness.deps(), { alias: 'alias/epsilon' });
      await harness.console.disableKey(epsilon.keyId);
      // Half a day past a whole day, so the two plans compare the same "expires in N d" text.
      harness.emu.clock.advance(25 * 86_400 + 43_200);

      const deps = harness.deps();
      const full = (await planNow(deps)).plan.actions;
      const kinds = new Set<string>();
      for (const lineage of ['alpha', 'beta', 'gamma', 'delta', 'epsilon']) {
        const expected = full.filter((a) => a.lineage === lineage);
        expect(expected.length).toBeGreaterThan(0);
        for (const a of expected) kinds.add(a.kind);
        const byAlias = await planTarget(deps, { alias: `alias/${lineage}` });
        expect(byAlias.plan.actions).toEqual(expected);
        const keyId = (await harness.kms.describeKey(`alias/${lineage}`)).keyId;
        const byKey = await planTarget(deps, { keyId });
        expect(byKey.plan.actions).toEqual(expected);
      }
      expect([...kinds].sort()).toEqual(expect.arrayContaining(['hold', 'reimport', 'renew', 'resume']));
      // The untagged CMK of gamma was found through the lease record, not a scan.
      const lease = JSON.parse((await harness.kms.getSecretValue({ secretName: leaseSecretName('gamma') })).secretData);
      expect(lease.created).toContainEqual(expect.objectContaining({ generation: 2 }));
    },
  );

  it('a key no lineage owns plans nothing', async () => {
    h = await startHarness({ escrow: 'kms-secrets' });
    const stray = await h.kms.createKey({
      origin: 'EXTERNAL',
      keySpec: 'Aliyun_AES_256',
      dkmsInstanceId: KEYS_INSTANCE,
    });
    const r = await planTarget(h.deps(), { keyId: stray.keyId });
    expect([r.lineage, r.plan.actions]).toEqual([undefined, []]);
  });
});

describe('onboard finds generations without an account scan (issue 10)', () => {
  it('makes the same calls with 5 or 60 existing lineages', async () => {
    h = await startHarness({ escrow: 'kms-secrets' });
    const harness = h;
    const onboardCalls = async (alias: string) => {
      const { deps, calls } = counted(harness);
      expect((await onboard(deps, { alias })).created).toBe(true);
      return calls;
    };
    await addLineages(harness, 5);
    const at5 = await onboardCalls('alias/first-new');
    await addLineages(harness, 55);
    const at60 = await onboardCalls('alias/second-new');
    expect(sorted(at60)).toEqual(sorted(at5));
    expect(at5.get('listKeys') ?? 0).toBe(0);
  });

  it('a rotation that died after CreateKey is finished on the same CMK, found through the lease record', async () => {
    h = await startHarness({ escrow: 'kms-secrets' });
    await onboard(h.deps(), { alias: 'alias/payments' });
    let created: string | undefined;
    const crash = h.deps({
      leaseTtlMs: 60_000,
      onCheckpoint: (step, info) => {
        if (step !== 'created') return;
        created = info.keyId;
        throw new CheckpointAbort('simulated crash after created');
      },
    });
    await expect(rotateNow(crash, 'alias/payments')).rejects.toBeInstanceOf(CheckpointAbort);
    h.emu.clock.advance(120); // the crashed run's lease expires
    const { deps, calls } = counted(h);
    const r = await rotateNow(deps, 'alias/payments');
    expect([r.generation, r.keyId]).toEqual([2, created]);
    expect(calls.get('createKey') ?? 0).toBe(0);
    expect(calls.get('listKeys') ?? 0).toBe(0);
  });

  it('a CreateKey whose answer was lost is settled by one scan, then recorded', async () => {
    h = await startHarness({ escrow: 'kms-secrets' });
    const harness = h;
    await onboard(harness.deps(), { alias: 'alias/payments' });
    // CreateKey lands, but its answer is lost (the adapter never repeats a CreateKey).
    const lossy = new Proxy(harness.kms, {
      get(target, prop, receiver) {
        if (prop !== 'createKey') return Reflect.get(target, prop, receiver);
        return async (input: Parameters<KmsPort['createKey']>[0]) => {
          await target.createKey(input);
          throw new OrchestratorError(ErrorCode.KmsNetwork, 'KMS CreateKey failed: network error ECONNRESET', {
            retryable: true,
            details: { action: 'CreateKey' },
          });
        };
      },
    });
    await expect(rotateNow(harness.deps({ kms: lossy }), 'alias/payments')).rejects.toMatchObject({
      code: ErrorCode.KmsNetwork,
    });
    const settle = counted(harness);
    const r = await rotateNow(settle.deps, 'alias/payments');
    expect(r.generation).toBe(2);
    expect([settle.calls.get('listKeys'), settle.calls.get('createKey') ?? 0]).toEqual([1, 0]);
    const lease = JSON.parse(
      (await harness.kms.getSecretValue({ secretName: leaseSecretName('payments') })).secretData,
    );
    expect(lease.created).toContainEqual({ generation: 2, keyId: r.keyId });
    const next = counted(harness);
    await rotateNow(next.deps, 'alias/payments');
    expect(next.calls.get('listKeys') ?? 0).toBe(0);
  });
});
