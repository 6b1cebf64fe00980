/**
 * A lease taken from a read made earlier in the same run (LeaseRead: a webhook's targeted observe
 * reads the record, issue 10): 1 call instead of 2 when the read is still current, and exactly the
 * exclusion of a fresh take when it is not (another run took, or took and released, the lease in
 * between). Over the in-memory Secrets Manager fake, whose calls yield so contenders interleave.
 */
import { describe, expect, it } from 'vitest';
import { ErrorCode, OrchestratorError, isOrchestratorError } from '../../../shared/errors.js';
import { classifyKmsError } from '../../../shared/kms/error-mapping.js';
import { LEASE_READ_REUSE_MS, acquireLease, readLease, type LeaseKmsPort } from '../../../shared/lifecycle/lease.js';
import { FakeSecretsKms } from '../../support/fake-secrets-kms.js';
import { LINEAGE, NAME, NOW, deps } from '../../support/lease-fixture.js';

async function current(fake: FakeSecretsKms): Promise<{ seq: number; holder: string | null; created?: unknown }> {
  return JSON.parse((await fake.getSecretValue({ secretName: NAME })).secretData);
}

/** A lease secret whose last holder released it (seq 2, nobody holds it). */
async function released(fake: FakeSecretsKms): Promise<void> {
  await (await acquireLease(deps(fake, 'earlier-run'), LINEAGE, 'setup')).release();
}

/** The fake with every conflict re-coded as `kmsCode` (the real refusal code is undocumented). */
function recoded(kms: FakeSecretsKms, kmsCode: string, httpStatus: number): LeaseKmsPort {
  const { code, retryable } = classifyKmsError(kmsCode, httpStatus);
  const recode = (action: string) => (err: unknown) => {
    if (!isOrchestratorError(err, ErrorCode.KmsConflict)) throw err;
    throw new OrchestratorError(code, `KMS ${action} failed: ${kmsCode} (HTTP ${httpStatus})`, {
      retryable,
      details: { action, kmsCode, httpStatus },
    });
  };
  return {
    createSecret: (input) => kms.createSecret(input).catch(recode('CreateSecret')),
    putSecretValue: (input) => kms.putSecretValue(input).catch(recode('PutSecretValue')),
    getSecretValue: (input) => kms.getSecretValue(input),
    describeSecret: (name) => kms.describeSecret(name),
  };
}

describe('a lease taken from an earlier read', () => {
  it('is 1 call when the read is current (an existing lease, and a lineage without one)', async () => {
    const fake = new FakeSecretsKms();
    const none = await readLease(fake, LINEAGE, NOW);
    fake.calls.splice(0);
    const first = await acquireLease(deps(fake, 'run-a'), LINEAGE, 'reimport', none);
    expect([fake.calls.splice(0), first.seq]).toEqual([['CreateSecret'], 1]);
    await first.release();
    const read = await readLease(fake, LINEAGE, NOW);
    fake.calls.splice(0);
    const second = await acquireLease(deps(fake, 'run-b'), LINEAGE, 'reimport', read);
    expect([fake.calls.splice(0), second.seq, (await current(fake)).holder]).toEqual([['PutSecretValue'], 3, 'run-b']);
  });

  it.each([
    ['Rejected.ResourceExist', 409],
    ['InvalidParameter', 400],
  ] as const)(
    'gets LeaseHeld when another run took the lease after the read (refusal %s %i)',
    async (kmsCode, status) => {
      const fake = new FakeSecretsKms();
      await released(fake);
      const read = await readLease(fake, LINEAGE, NOW);
      await acquireLease(deps(fake, 'other-run'), LINEAGE, 'rotate'); // writes the version the read names next
      await expect(
        acquireLease(deps(recoded(fake, kmsCode, status), 'run-b'), LINEAGE, 'reimport', read),
      ).rejects.toMatchObject({ code: ErrorCode.LeaseHeld });
      expect((await current(fake)).holder).toBe('other-run');
    },
  );

  it('two runs that read the same record race: exactly one holds the lease', async () => {
    const fake = new FakeSecretsKms();
    await released(fake);
    const read = await readLease(fake, LINEAGE, NOW);
    const settled = await Promise.allSettled(
      ['run-a', 'run-b'].map((h) => acquireLease(deps(fake, h), LINEAGE, 'reimport', read).then(() => h)),
    );
    const winners = settled.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    const losers = settled.flatMap((r) => (r.status === 'rejected' ? [(r.reason as OrchestratorError).code] : []));
    expect([winners.length, losers]).toEqual([1, [ErrorCode.LeaseHeld]]);
    expect((await current(fake)).holder).toBe(winners[0]);
  });

  it('takes a lease another run took and released after the read from a fresh read, keeping its record', async () => {
    const fake = new FakeSecretsKms();
    await released(fake);
    const read = await readLease(fake, LINEAGE, NOW);
    const other = await acquireLease(deps(fake, 'other-run'), LINEAGE, 'rotate');
    await other.noteCreatedKey({ generation: 2, keyId: 'key-gen-2' });
    await other.release();
    fake.calls.splice(0);
    const lease = await acquireLease(deps(fake, 'run-b'), LINEAGE, 'reimport', read);
    // The write from the old read is refused, the read-back shows nobody holding it, the take starts over.
    expect(fake.calls).toEqual(['PutSecretValue', 'GetSecretValue', 'GetSecretValue', 'PutSecretValue']);
    expect([lease.seq, lease.created]).toEqual([6, [{ generation: 2, keyId: 'key-gen-2' }]]);
    expect(await current(fake)).toMatchObject({ seq: 6, holder: 'run-b', created: [{ generation: 2 }] });
  });

  it('reads again before reporting "held" when the earlier read saw a holder who has since released', async () => {
    const fake = new FakeSecretsKms();
    const other = await acquireLease(deps(fake, 'other-run'), LINEAGE, 'rotate');
    const read = await readLease(fake, LINEAGE, NOW);
    await other.release();
    fake.calls.splice(0);
    const lease = await acquireLease(deps(fake, 'run-b'), LINEAGE, 'reimport', read);
    expect([fake.calls, lease.seq]).toEqual([['GetSecretValue', 'PutSecretValue'], 3]);
    // ...and still reports a live holder as held.
    const again = await readLease(fake, LINEAGE, NOW);
    await expect(acquireLease(deps(fake, 'run-c'), LINEAGE, 'reimport', again)).rejects.toMatchObject({
      code: ErrorCode.LeaseHeld,
    });
  });

  it('is not used when older than LEASE_READ_REUSE_MS or of another lineage', async () => {
    const fake = new FakeSecretsKms();
    await released(fake);
    const old = await readLease(fake, LINEAGE, NOW - LEASE_READ_REUSE_MS - 1);
    fake.calls.splice(0);
    const a = await acquireLease(deps(fake, 'run-a'), LINEAGE, 'reimport', old);
    expect(fake.calls.splice(0)).toEqual(['GetSecretValue', 'PutSecretValue']);
    await a.release();
    const elsewhere = { ...(await readLease(fake, LINEAGE, NOW)), lineage: 'orders' };
    fake.calls.splice(0);
    await acquireLease(deps(fake, 'run-b'), LINEAGE, 'reimport', elsewhere);
    expect(fake.calls).toEqual(['GetSecretValue', 'PutSecretValue']);
  });

  it('reports a refusal that is not a lost race as itself, not as held', async () => {
    const fake = new FakeSecretsKms();
    await released(fake);
    const read = await readLease(fake, LINEAGE, NOW);
    const { code, retryable } = classifyKmsError('Forbidden.NoPermission', 403);
    const refusal = new OrchestratorError(code, 'KMS PutSecretValue failed: Forbidden.NoPermission (HTTP 403)', {
      retryable,
      details: { action: 'PutSecretValue', kmsCode: 'Forbidden.NoPermission', httpStatus: 403 },
    });
    const kms: LeaseKmsPort = {
      ...recoded(fake, 'InvalidParameter', 400),
      putSecretValue: () => Promise.reject(refusal),
    };
    await expect(acquireLease(deps(kms, 'run-a'), LINEAGE, 'reimport', read)).rejects.toBe(refusal);
    expect((await current(fake)).seq).toBe(2);
  });
});
