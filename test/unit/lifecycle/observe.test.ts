/**
 * observe with values: the configured KMS 3.0 instances are read into the snapshot, one failure to
 * read does not stop the sweep, escrow records with stray versions stay in the index, and the
 * DescribeKeys overlap the other listings (a failed listing still fails the snapshot; a shard still
 * describes only what its lineages may hold).
 */
import { describe, expect, it } from 'vitest';
import { ErrorCode, OrchestratorError } from '../../../shared/errors.js';
import type { EscrowListing, EscrowSummary } from '../../../shared/escrow/store.js';
import { KeyOrigin, KeyState, type KeyMetadata, type KmsInstanceInfo, type KmsPort } from '../../../shared/kms/port.js';
import { Phase, Tag, describeMarker } from '../../../shared/lifecycle/model.js';
import { observe } from '../../../shared/lifecycle/observe.js';

const NOW = Date.UTC(2027, 0, 1);
const KEYS = 'kst-hzz65f176a0keys0001';
const ESCROW = 'kst-hzz65f176a0escrow01';

/** A KmsPort with an empty account (or `more`) and the given instance answers; any other call fails the test. */
function account(
  instances: Record<string, () => Promise<KmsInstanceInfo>>,
  calls: string[] = [],
  more: Partial<KmsPort> = {},
): KmsPort {
  const impl: Partial<KmsPort> = {
    listKeys: async () => [],
    listAliases: async () => [],
    ...more,
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

/** One healthy managed key of lineage `l<i>` as DescribeKey answers it. */
function keyMeta(i: number): KeyMetadata & { requestId: string } {
  return {
    requestId: 'r',
    keyId: `key-${String(i).padStart(3, '0')}`,
    arn: `acs:kms:cn-hangzhou:1:key/key-${i}`,
    keyState: KeyState.Enabled,
    keySpec: 'Aliyun_AES_256',
    keyUsage: 'ENCRYPT/DECRYPT',
    origin: KeyOrigin.External,
    protectionLevel: 'SOFTWARE',
    description: describeMarker(`l${i}`, 1),
    creationDateMs: NOW - 86_400_000,
    materialExpireAtMs: NOW + 20 * 86_400_000,
  };
}

/** Its escrow record, with a usable mirror of its tags. */
function record(i: number): EscrowSummary {
  const keyId = keyMeta(i).keyId;
  const fingerprint = `kcv1:${String(i).padStart(24, '0')}`;
  return {
    keyId,
    lineage: `l${i}`,
    generation: 1,
    keySpec: 'Aliyun_AES_256',
    fingerprint,
    createdAtMs: NOW - 86_400_000,
    version: fingerprint.replace(':', '-'),
    keyTags: {
      [Tag.Managed]: 'true',
      [Tag.Lineage]: `l${i}`,
      [Tag.Generation]: '1',
      [Tag.Fingerprint]: fingerprint,
      [Tag.Phase]: Phase.Ready,
    },
    keyTagsDay: Math.floor(NOW / 86_400_000),
  };
}

/**
 * An account of `n` managed keys: DescribeKey (one timer tick each) and ListResourceTags (the
 * mirrored tags) recorded; any other call but the listings fails.
 */
function keysAccount(n: number, described: string[], tagReads: string[] = []): KmsPort {
  const metas = new Map(Array.from({ length: n }, (_, i) => [keyMeta(i).keyId, keyMeta(i)] as const));
  return account({}, [], {
    listKeys: async () => [...metas.keys()],
    listAliases: async () => [...metas.values()].map((m, i) => ({ aliasName: `alias/l${i}`, keyId: m.keyId })),
    describeKey: async (id: string) => {
      described.push(id);
      await new Promise((resolve) => setTimeout(resolve, 1));
      const meta = metas.get(id);
      if (!meta) throw new OrchestratorError(ErrorCode.KmsNotFound, `no key ${id}`);
      return meta;
    },
    listResourceTags: async (id: string) => {
      tagReads.push(id);
      return record(Number(id.slice('key-'.length))).keyTags ?? {};
    },
  });
}

describe('observe: the listings overlap the DescribeKeys', () => {
  it('describes every key while the escrow listing still pages, and builds the same snapshot from it', async () => {
    const n = 12;
    const described: string[] = [];
    // The escrow listing answers only once every key was described (or, failing that, after 2 s):
    // the DescribeKeys must not wait for it.
    let answeredEarly = false;
    const escrow = {
      list: async (): Promise<EscrowListing> => {
        for (const started = Date.now(); Date.now() - started < 2_000; ) {
          if (described.length === n) {
            answeredEarly = true;
            break;
          }
          await new Promise((resolve) => setTimeout(resolve, 1));
        }
        return { records: Array.from({ length: n }, (_, i) => record(i)), unreadable: [] };
      },
    };
    const tagReads: string[] = [];
    const snap = await observe({ kms: keysAccount(n, described, tagReads), escrow, nowMs: () => NOW });
    expect([answeredEarly, tagReads]).toEqual([true, []]);
    expect([...described].sort()).toEqual(Array.from({ length: n }, (_, i) => keyMeta(i).keyId));
    // Tags from the mirror (no ListResourceTags), aliases and escrow joined in.
    expect(snap.keys.map((k) => [k.keyId, k.lineage, k.aliases, k.escrowFingerprint])).toEqual(
      Array.from({ length: n }, (_, i) => [keyMeta(i).keyId, `l${i}`, [`alias/l${i}`], record(i).fingerprint]),
    );
    expect(snap.unobservable).toEqual([]);
  });

  it('fails with the listing error when the escrow listing fails, and stops describing', async () => {
    const n = 200;
    const described: string[] = [];
    const refused = new OrchestratorError(ErrorCode.KmsForbidden, 'KMS ListSecrets failed: Forbidden.RAM (HTTP 403)');
    const escrow = {
      list: async (): Promise<EscrowListing> => {
        await new Promise((resolve) => setTimeout(resolve, 5));
        throw refused;
      },
    };
    await expect(observe({ kms: keysAccount(n, described), escrow, nowMs: () => NOW })).rejects.toBe(refused);
    // 4 at a time, 1 ms each: 200 keys take 50 rounds; the listing failed after about 5.
    expect(described.length).toBeLessThan(n / 2);
  });

  it('a shard waits for the escrow index and describes only the keys its lineages may hold', async () => {
    const n = 6;
    const described: string[] = [];
    const tagReads: string[] = [];
    // Records for keys 0-3 only: 4 and 5 are known by their CreateKey marker alone (and own tags).
    const escrow = {
      list: async (): Promise<EscrowListing> => ({ records: [0, 1, 2, 3].map(record), unreadable: [] }),
    };
    const mine = new Set(['l1', 'l3', 'l5']);
    const snap = await observe({
      kms: keysAccount(n, described, tagReads),
      escrow,
      nowMs: () => NOW,
      lineageFilter: (l) => mine.has(l),
      useMirror: true,
    });
    const id = (i: number) => keyMeta(i).keyId;
    expect([[...described].sort(), tagReads]).toEqual([[id(1), id(3), id(4), id(5)], [id(5)]]);
    expect([snap.keys.map((k) => k.keyId), Object.keys(snap.escrow).sort(), snap.unobservable]).toEqual([
      [id(1), id(3), id(5)],
      [id(1), id(3)],
      [],
    ]);
  });
});
