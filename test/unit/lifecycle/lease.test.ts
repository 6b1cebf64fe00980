/**
 * The lineage lease over the in-memory Secrets Manager fake, with its conditional write refused
 * under codes other than Rejected.ResourceExist (the real code is undocumented): any refusal counts
 * as "maybe lost" and the read-back decides. Contenders run concurrently; the fake yields before
 * every call, so they interleave as they would over HTTP.
 */
import { describe, expect, it } from 'vitest';
import { ErrorCode, OrchestratorError, isOrchestratorError } from '../../../shared/errors.js';
import { classifyKmsError } from '../../../shared/kms/error-mapping.js';
import { CREATED_KEYS_KEPT, acquireLease, type LeaseKmsPort } from '../../../shared/lifecycle/lease.js';
import { FakeSecretsKms } from '../../support/fake-secrets-kms.js';
import { LINEAGE, NAME, NOW, TTL, deps } from '../../support/lease-fixture.js';

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

  /** The fake, with the next `n` calls of `method` (after `skip` good ones) failing. */
  function flaky(
    fake: FakeSecretsKms,
    method: 'getSecretValue' | 'putSecretValue',
    skip: number,
    n: number,
  ): LeaseKmsPort & { failing: boolean } {
    let calls = 0;
    const base = recoded(fake, 'InvalidParameter', 400);
    const kms = {
      failing: true,
      ...base,
      [method]: async (input: never) => {
        calls++;
        if (kms.failing && calls > skip && calls <= skip + n) throw networkError(method);
        return (base[method] as (i: never) => Promise<unknown>)(input);
      },
    } as LeaseKmsPort & { failing: boolean };
    return kms;
  }

  it('retries the read-back of a write whose answer was lost', async () => {
    const fake = new FakeSecretsKms();
    await releasedLease(fake);
    // The write lands but its answer is lost; the first read-back fails too, the second decides.
    const lost: LeaseKmsPort = {
      ...flaky(fake, 'getSecretValue', 1, 1),
      putSecretValue: async (input) => {
        await fake.putSecretValue(input);
        throw networkError('PutSecretValue');
      },
    };
    expect((await acquireLease(deps(lost, 'run-a'), LINEAGE, 'rotate')).seq).toBe(3);
  });

  it('reports the refusal, never "held", when the read-back after a lost answer keeps failing', async () => {
    const fake = new FakeSecretsKms();
    await releasedLease(fake);
    const refusal = kmsRefusal('PutSecretValue', 'InternalFailure', 500);
    const kms: LeaseKmsPort = {
      ...flaky(fake, 'getSecretValue', 1, 100),
      putSecretValue: () => Promise.reject(refusal),
    };
    await expect(acquireLease(deps(kms, 'run-a'), LINEAGE, 'rotate')).rejects.toBe(refusal);
    // Nothing was written: the next run takes the next sequence number at once.
    expect((await acquireLease(deps(fake, 'run-b'), LINEAGE, 'rotate')).seq).toBe(3);
  });

  it('retries the release, so the lineage is free at once', async () => {
    const fake = new FakeSecretsKms();
    const kms = flaky(fake, 'putSecretValue', 0, 2); // take is a CreateSecret; the release's first two writes fail
    const lease = await acquireLease(deps(kms, 'run-a'), LINEAGE, 'rotate');
    await lease.release();
    kms.failing = false;
    expect((await acquireLease(deps(fake, 'run-b'), LINEAGE, 'rotate')).seq).toBe(3);
  });
});

describe('what a lease costs (issue 10)', () => {
  it('takes a new lease in 2 calls, an existing one in 2, and releases in 1', async () => {
    const fake = new FakeSecretsKms();
    const first = await acquireLease(deps(fake, 'run-a'), LINEAGE, 'onboard');
    expect(fake.calls.splice(0)).toEqual(['GetSecretValue', 'CreateSecret']);
    await first.release();
    expect(fake.calls.splice(0)).toEqual(['PutSecretValue']);
    const second = await acquireLease(deps(fake, 'run-b'), LINEAGE, 'renew');
    expect(fake.calls.splice(0)).toEqual(['GetSecretValue', 'PutSecretValue']);
    expect(second.seq).toBe(3);
    const current = JSON.parse((await fake.getSecretValue({ secretName: NAME })).secretData) as { holder: string };
    expect(current.holder).toBe('run-b');
  });

  it('a held lease is refused after 1 call', async () => {
    const fake = new FakeSecretsKms();
    await acquireLease(deps(fake, 'run-a'), LINEAGE, 'rotate');
    fake.calls.splice(0);
    await expect(acquireLease(deps(fake, 'run-b'), LINEAGE, 'rotate')).rejects.toMatchObject({
      code: ErrorCode.LeaseHeld,
    });
    expect(fake.calls).toEqual(['GetSecretValue']);
  });

  it('the release of a lease taken over after expiry is refused and leaves the new holder in place', async () => {
    const fake = new FakeSecretsKms();
    const stale = await acquireLease({ ...deps(fake, 'slow-run'), nowMs: () => NOW - 2 * TTL }, LINEAGE, 'rotate');
    const taker = await acquireLease(deps(fake, 'run-b'), LINEAGE, 'rotate');
    await stale.release();
    const current = JSON.parse((await fake.getSecretValue({ secretName: NAME })).secretData) as { holder: string };
    expect([taker.seq, current.holder]).toEqual([2, 'run-b']);
    await expect(acquireLease(deps(fake, 'run-c'), LINEAGE, 'rotate')).rejects.toMatchObject({
      code: ErrorCode.LeaseHeld,
    });
  });
});

describe('CreateKey results in the lease record (issue 10)', () => {
  it('the next holder finds a CMK its crashed predecessor created', async () => {
    const fake = new FakeSecretsKms();
    const crashed = await acquireLease({ ...deps(fake, 'crashed'), nowMs: () => NOW - 2 * TTL }, LINEAGE, 'rotate');
    await crashed.noteCreatedKey({ generation: 2, keyId: 'key-gen-2' });
    expect(crashed.seq).toBe(2);
    const next = await acquireLease(deps(fake, 'run-b'), LINEAGE, 'rotate'); // no release: a crash
    expect([next.seq, next.created]).toEqual([3, [{ generation: 2, keyId: 'key-gen-2' }]]);
  });

  it('carries the list through releases and keeps the latest few', async () => {
    const fake = new FakeSecretsKms();
    for (let g = 1; g <= CREATED_KEYS_KEPT + 2; g++) {
      const lease = await acquireLease(deps(fake, `run-${g}`), LINEAGE, 'rotate');
      await lease.noteCreatedKey({ generation: g, keyId: `key-${g}` });
      await lease.release();
    }
    const last = await acquireLease(deps(fake, 'run-last'), LINEAGE, 'rotate');
    expect(last.created.map((c) => c.generation)).toEqual(Array.from({ length: CREATED_KEYS_KEPT }, (_, i) => i + 3));
  });

  it('keeps a CreateKey without a result until its result or a resolution replaces it', async () => {
    const fake = new FakeSecretsKms();
    const first = await acquireLease(deps(fake, 'run-a'), LINEAGE, 'rotate');
    await first.noteCreatedKey({ generation: 1, keyId: 'key-1' });
    await first.noteCreatedKey({ generation: 2 }); // sent; the run dies before the answer is recorded
    await first.release();
    const second = await acquireLease(deps(fake, 'run-b'), LINEAGE, 'rotate');
    expect(second.created).toEqual([{ generation: 1, keyId: 'key-1' }, { generation: 2 }]);
    await second.noteCreatedKey({ generation: 2, keyId: 'key-2' });
    expect(second.created).toEqual([
      { generation: 1, keyId: 'key-1' },
      { generation: 2, keyId: 'key-2' },
    ]);
    await second.noteCreatedKey({ generation: 3 });
    await second.resolveCreateKey(3); // a scan found no CMK for it
    await second.release();
    const third = await acquireLease(deps(fake, 'run-c'), LINEAGE, 'rotate');
    expect(third.created).toEqual([
      { generation: 1, keyId: 'key-1' },
      { generation: 2, keyId: 'key-2' },
    ]);
  });

  it('refuses to record once another run took the lease over', async () => {
    const fake = new FakeSecretsKms();
    const stale = await acquireLease({ ...deps(fake, 'slow-run'), nowMs: () => NOW - 2 * TTL }, LINEAGE, 'rotate');
    await acquireLease(deps(fake, 'run-b'), LINEAGE, 'rotate');
    await expect(stale.noteCreatedKey({ generation: 2, keyId: 'key-x' })).rejects.toMatchObject({
      code: ErrorCode.KmsConflict,
    });
    const current = JSON.parse((await fake.getSecretValue({ secretName: NAME })).secretData) as { holder: string };
    expect(current.holder).toBe('run-b');
  });
});
