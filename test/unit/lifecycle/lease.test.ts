/**
 * The lineage lease over the in-memory Secrets Manager fake, with its conditional write refused
 * under codes other than Rejected.ResourceExist (the real code is undocumented): any refusal counts
 * as "maybe lost" and the read-back decides. Contenders run concurrently; the fake yields before
 * every call, so they interleave as they would over HTTP.
 */
import { describe, expect, it } from 'vitest';
import { ErrorCode, OrchestratorError, isOrchestratorError } from '../../../shared/errors.js';
import { classifyKmsError } from '../../../shared/kms/error-mapping.js';
import { acquireLease, leaseSecretName, type LeaseDeps, type LeaseKmsPort } from '../../../shared/lifecycle/lease.js';
import { FakeSecretsKms } from '../../support/fake-secrets-kms.js';

const NOW = 1_800_000_000_000;
const TTL = 15 * 60_000;
const LINEAGE = 'payments';
const NAME = leaseSecretName(LINEAGE);

const deps = (kms: LeaseKmsPort, holder: string): LeaseDeps => ({
  kms,
  encryptionKeyId: 'escrow-cmk',
  nowMs: () => NOW,
  ttlMs: TTL,
  holder,
});

/** The error the adapter would raise for `kmsCode` at `httpStatus` on `action`. */
function kmsRefusal(action: string, kmsCode: string, httpStatus: number): OrchestratorError {
  const { code, retryable } = classifyKmsError(kmsCode, httpStatus);
  return new OrchestratorError(code, `KMS ${action} failed: ${kmsCode} (HTTP ${httpStatus})`, {
    retryable,
    details: { action, kmsCode, httpStatus, requestId: 'r-test' },
  });
}

/** The fake, with every conflict of a conditional write re-coded as `kmsCode`/`httpStatus`. */
function recoded(kms: FakeSecretsKms, kmsCode: string, httpStatus: number): LeaseKmsPort {
  const recode = (action: string) => (err: unknown) => {
    throw isOrchestratorError(err, ErrorCode.KmsConflict) ? kmsRefusal(action, kmsCode, httpStatus) : err;
  };
  return {
    createSecret: (input) => kms.createSecret(input).catch(recode('CreateSecret')),
    putSecretValue: (input) => kms.putSecretValue(input).catch(recode('PutSecretValue')),
    getSecretValue: (input) => kms.getSecretValue(input),
    describeSecret: (name) => kms.describeSecret(name),
  };
}

/** A lease secret whose last holder released it (seq 2, nobody holds it). */
async function releasedLease(kms: FakeSecretsKms): Promise<void> {
  const lease = await acquireLease(deps(kms, 'earlier-run'), LINEAGE, 'setup');
  await lease.release();
}

async function race(kms: LeaseKmsPort): Promise<{ winners: string[]; losers: unknown[] }> {
  const settled = await Promise.allSettled(
    ['run-a', 'run-b'].map((holder) => acquireLease(deps(kms, holder), LINEAGE, 'rotate').then(() => holder)),
  );
  return {
    winners: settled.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : [])),
    losers: settled.flatMap((r) => (r.status === 'rejected' ? [r.reason] : [])),
  };
}

const CODES = [
  ['InvalidParameter', 400],
  ['Rejected.VersionExists', 409],
  ['Rejected.ResourceExist', 409],
] as const;

describe('the lease under a different rejection code', () => {
  it.each(CODES)(
    'two first-time contenders (CreateSecret refused with %s %i): exactly one wins, the other gets LeaseHeld',
    async (kmsCode, status) => {
      const { winners, losers } = await race(recoded(new FakeSecretsKms(), kmsCode, status));
      expect([winners.length, losers.map((e) => (e as OrchestratorError).code)]).toEqual([1, [ErrorCode.LeaseHeld]]);
    },
  );

  it.each(CODES)(
    'two contenders for a released lease (PutSecretValue ' +
      'refused with %s %i): exactly one wins, the other gets LeaseHeld',
    async (kmsCode, status) => {
      const fake = new FakeSecretsKms();
      await releasedLease(fake);
      const { winners, losers } = await race(recoded(fake, kmsCode, status));
      expect([winners.length, losers.map((e) => (e as OrchestratorError).code)]).toEqual([1, [ErrorCode.LeaseHeld]]);
    },
  );

  it('the winner is the holder recorded in ACSCurrent', async () => {
    const fake = new FakeSecretsKms();
    const { winners } = await race(recoded(fake, 'InvalidParameter', 400));
    const current = JSON.parse((await fake.getSecretValue({ secretName: NAME })).secretData) as { holder: string };
    expect(current.holder).toBe(winners[0]);
  });

  it('a loser whose winner already released before the read-back still gets LeaseHeld, not the refusal', async () => {
    const fake = new FakeSecretsKms();
    await releasedLease(fake);
    const base = recoded(fake, 'InvalidParameter', 400);
    // run-a takes the next sequence number and releases it just before run-b's write reaches KMS.
    const kms: LeaseKmsPort = {
      ...base,
      putSecretValue: async (input) => {
        if (input.secretData.includes('"holder":"run-b"'))
          await (await acquireLease(deps(fake, 'run-a'), LINEAGE, 'quick')).release();
        return base.putSecretValue(input);
      },
    };
    await expect(acquireLease(deps(kms, 'run-b'), LINEAGE, 'rotate')).rejects.toMatchObject({
      code: ErrorCode.LeaseHeld,
    });
  });
});

describe('a refusal that is not a lost race', () => {
  const denied = () => kmsRefusal('CreateSecret', 'Forbidden.NoPermission', 403);

  it('rethrows a permission refusal of CreateSecret when no lease secret exists', async () => {
    const fake = new FakeSecretsKms();
    const refusal = denied();
    const kms: LeaseKmsPort = {
      ...recoded(fake, 'InvalidParameter', 400),
      createSecret: () => Promise.reject(refusal),
    };
    await expect(acquireLease(deps(kms, 'run-a'), LINEAGE, 'onboard')).rejects.toBe(refusal);
  });

  it('rethrows a permission refusal of PutSecretValue when nobody holds the lease', async () => {
    const fake = new FakeSecretsKms();
    await releasedLease(fake);
    const refusal = kmsRefusal('PutSecretValue', 'Forbidden.NoPermission', 403);
    const kms: LeaseKmsPort = {
      ...recoded(fake, 'InvalidParameter', 400),
      putSecretValue: () => Promise.reject(refusal),
    };
    await expect(acquireLease(deps(kms, 'run-a'), LINEAGE, 'rotate')).rejects.toBe(refusal);
  });

  it('rethrows a permission refusal when taking over a lease whose holder expired', async () => {
    const fake = new FakeSecretsKms();
    await acquireLease({ ...deps(fake, 'crashed-run'), nowMs: () => NOW - 2 * TTL }, LINEAGE, 'crashed');
    const refusal = kmsRefusal('PutSecretValue', 'Forbidden.NoPermission', 403);
    const kms: LeaseKmsPort = {
      ...recoded(fake, 'InvalidParameter', 400),
      putSecretValue: () => Promise.reject(refusal),
    };
    await expect(acquireLease(deps(kms, 'run-a'), LINEAGE, 'rotate')).rejects.toBe(refusal);
  });
});

describe('a write whose answer was lost', () => {
  it('holds the lease when the write landed but the call failed (network error after retries)', async () => {
    const fake = new FakeSecretsKms();
    await releasedLease(fake);
    const kms: LeaseKmsPort = {
      ...recoded(fake, 'InvalidParameter', 400),
      putSecretValue: async (input) => {
        await fake.putSecretValue(input);
        throw new OrchestratorError(ErrorCode.KmsNetwork, 'KMS PutSecretValue failed: network error ECONNRESET', {
          retryable: true,
          details: { action: 'PutSecretValue' },
        });
      },
    };
    const lease = await acquireLease(deps(kms, 'run-a'), LINEAGE, 'rotate');
    expect(lease.seq).toBe(3);
  });
});

describe('a lease whose read-back or release failed (issue 8)', () => {
  const networkError = (action: string) =>
    new OrchestratorError(ErrorCode.KmsNetwork, `KMS ${action} failed: network error ECONNRESET`, {
      retryable: true,
      details: { action },
    });

  /** The fake, with the next `n` GetSecretValue calls (after `skip` good ones) failing. */
  function flakyReads(fake: FakeSecretsKms, skip: number, n: number): LeaseKmsPort & { failing: boolean } {
    let calls = 0;
    const kms = {
      failing: true,
      ...recoded(fake, 'InvalidParameter', 400),
      getSecretValue: async (input: Parameters<LeaseKmsPort['getSecretValue']>[0]) => {
        calls++;
        if (kms.failing && calls > skip && calls <= skip + n) throw networkError('GetSecretValue');
        return fake.getSecretValue(input);
      },
    };
    return kms;
  }

  it('retries the confirming read of an accepted write', async () => {
    const fake = new FakeSecretsKms();
    await releasedLease(fake);
    const lease = await acquireLease(deps(flakyReads(fake, 1, 1), 'run-a'), LINEAGE, 'rotate');
    expect(lease.seq).toBe(3);
  });

  it('gives the lease back when the confirming read keeps failing, so the next run is not blocked', async () => {
    const fake = new FakeSecretsKms();
    await releasedLease(fake);
    const err = await acquireLease(deps(flakyReads(fake, 1, 100), 'run-a'), LINEAGE, 'rotate').catch((e) => e);
    expect(err).toMatchObject({ code: ErrorCode.KmsNetwork });
    const next = await acquireLease(deps(fake, 'run-b'), LINEAGE, 'rotate');
    expect(next.seq).toBe(5); // 3 = run-a's write, 4 = its release, 5 = run-b
  });

  it('retries the release, so the lineage is free at once', async () => {
    const fake = new FakeSecretsKms();
    const kms = flakyReads(fake, 2, 2); // acquire reads twice; the release's first two reads fail
    const lease = await acquireLease(deps(kms, 'run-a'), LINEAGE, 'rotate');
    await lease.release();
    kms.failing = false;
    expect((await acquireLease(deps(fake, 'run-b'), LINEAGE, 'rotate')).seq).toBe(3);
  });
});
