/**
 * observe with values: the configured KMS 3.0 instances are read into the snapshot, one failure to
 * read does not stop the sweep, and escrow records with stray versions stay in the index.
 */
import { describe, expect, it } from 'vitest';
import { ErrorCode, OrchestratorError } from '../../../shared/errors.js';
import type { KmsInstanceInfo, KmsPort } from '../../../shared/kms/port.js';
import { observe } from '../../../shared/lifecycle/observe.js';
import type { EscrowListing } from '../../../shared/escrow/store.js';

const NOW = Date.UTC(2027, 0, 1);
const KEYS = 'kst-hzz65f176a0keys0001';
const ESCROW = 'kst-hzz65f176a0escrow01';

/** A KmsPort with an empty account and the given instance answers; any other call fails the test. */
function account(instances: Record<string, () => Promise<KmsInstanceInfo>>, calls: string[] = []): KmsPort {
  const impl: Partial<KmsPort> = {
    listKeys: async () => [],
    listAliases: async () => [],
    getKmsInstance: async (id) => {
      calls.push(id);
      const answer = instances[id];
      if (!answer) throw new Error(`unexpected GetKmsInstance ${id}`);
      return answer();
    },
  };
  return new Proxy(impl as KmsPort, {
    get: (target, prop) => {
      const v = (target as unknown as Record<string | symbol, unknown>)[prop];
      if (v === undefined && typeof prop === 'string')
        return () => Promise.reject(new Error(`unexpected KMS call ${prop}`));
      return v;
    },
  });
}

const noEscrow = { list: async (): Promise<EscrowListing> => ({ records: [], unreadable: [] }) };
const info = (instanceId: string, over: Partial<KmsInstanceInfo> = {}): KmsInstanceInfo => ({
  requestId: 'r',
  instanceId,
  status: 'Connected',
  endDateMs: NOW + 100 * 86_400_000,
  ...over,
});

describe('observe: KMS instances', () => {
  it('reads each configured instance into the snapshot with its role, status and end date', async () => {
    const kms = account({
      [KEYS]: async () => info(KEYS),
      [ESCROW]: async () => info(ESCROW, { status: 'Disconnected', endDateMs: NOW + 5 }),
    });
    const snap = await observe({ kms, escrow: noEscrow, nowMs: () => NOW, instances: { keys: KEYS, escrow: ESCROW } });
    expect(snap.instances).toEqual([
      { instanceId: ESCROW, roles: ['escrow'], status: 'Disconnected', endDateMs: NOW + 5 },
      { instanceId: KEYS, roles: ['keys'], status: 'Connected', endDateMs: NOW + 100 * 86_400_000 },
    ]);
  });

  it('reads an instance shared by keys and escrow once, with both roles', async () => {
    const calls: string[] = [];
    const snap = await observe({
      kms: account({ [KEYS]: async () => info(KEYS) }, calls),
      escrow: noEscrow,
      nowMs: () => NOW,
      instances: { keys: KEYS, escrow: KEYS },
    });
    expect([calls, snap.instances.map((i) => i.roles)]).toEqual([[KEYS], [['escrow', 'keys']]]);
  });

  it('reports an instance it cannot read with the error codes and still completes the snapshot', async () => {
    const released = new OrchestratorError(
      ErrorCode.KmsForbidden,
      'KMS GetKmsInstance failed: Forbidden.DKMSInstanceNotFound (HTTP 403)',
      {
        details: { action: 'GetKmsInstance', kmsCode: 'Forbidden.DKMSInstanceNotFound', httpStatus: 403 },
      },
    );
    const kms = account({ [KEYS]: async () => Promise.reject(released), [ESCROW]: async () => info(ESCROW) });
    const snap = await observe({ kms, escrow: noEscrow, nowMs: () => NOW, instances: { keys: KEYS, escrow: ESCROW } });
    expect(snap.instances).toEqual([
      { instanceId: ESCROW, roles: ['escrow'], status: 'Connected', endDateMs: NOW + 100 * 86_400_000 },
      {
        instanceId: KEYS,
        roles: ['keys'],
        readError: { code: ErrorCode.KmsForbidden, kmsCode: 'Forbidden.DKMSInstanceNotFound' },
      },
    ]);
  });

  it('reports an uncoded failure as an internal error rather than throwing', async () => {
    const kms = account({ [KEYS]: async () => Promise.reject(new TypeError('boom')) });
    const snap = await observe({ kms, escrow: noEscrow, nowMs: () => NOW, instances: { keys: KEYS } });
    expect(snap.instances).toEqual([{ instanceId: KEYS, roles: ['keys'], readError: { code: ErrorCode.Internal } }]);
  });

  it('calls no instance API when no instance is configured (KMS 1.0)', async () => {
    const calls: string[] = [];
    const snap = await observe({ kms: account({}, calls), escrow: noEscrow, nowMs: () => NOW });
    expect([calls, snap.instances]).toEqual([[], []]);
  });
});

describe('observe: escrow with stray versions', () => {
  it('keeps the record in the index and carries its version count', async () => {
    const escrow = {
      list: async (): Promise<EscrowListing> => ({
        records: [
          {
            keyId: 'k1',
            lineage: 'payments',
            generation: 1,
            keySpec: 'Aliyun_AES_256',
            fingerprint: 'kcv1:aaaaaaaaaaaaaaaaaaaaaaaa',
            createdAtMs: 1,
            version: 'kcv1-aaaaaaaaaaaaaaaaaaaaaaaa',
            versionCount: 3,
          },
        ],
        unreadable: [],
      }),
    };
    const snap = await observe({ kms: account({}), escrow, nowMs: () => NOW });
    expect(snap.escrow).toEqual({
      k1: { fingerprint: 'kcv1:aaaaaaaaaaaaaaaaaaaaaaaa', lineage: 'payments', generation: 1, versionCount: 3 },
    });
  });
});
