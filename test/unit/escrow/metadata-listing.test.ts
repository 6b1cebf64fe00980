/**
 * The kms-secrets listing from metadata (issue 10): records are summarised from their secret's
 * tags (ListSecrets only), read back in full only when asked or when their metadata is missing,
 * and a failed read-back stays reported between deep reads. Plus the key-tag mirror codec and the
 * rotating sample that observe uses.
 */
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../../shared/errors.js';
import {
  EscrowSecretTag,
  createKmsSecretsEscrowStore,
  escrowSecretName,
} from '../../../shared/escrow/kms-secrets-store.js';
import { MIRROR_NONE, MirroredTag, decodeTagMirror, encodeTagMirror } from '../../../shared/escrow/tag-mirror.js';
import { Tag } from '../../../shared/lifecycle/model.js';
import { dayIndex, isDue, phaseOf } from '../../../shared/escrow/due.js';
import { FakeSecretsKms } from '../../support/fake-secrets-kms.js';
import { testRecord } from './contract.js';

const ESCROW_CMK = '9f8e7d6c-5b4a-4321-8765-0123456789ab';
const NOW = Date.UTC(2027, 0, 1, 6);

function setup() {
  const kms = new FakeSecretsKms();
  const store = createKmsSecretsEscrowStore({ kms, encryptionKeyId: ESCROW_CMK });
  return { kms, store };
}

/** Flips the material inside the current version, as tampering would (the VersionId stays). */
function corrupt(kms: FakeSecretsKms, keyId: string): void {
  kms.setSecretData(escrowSecretName(keyId), (data) => {
    const parsed = JSON.parse(data) as { material: string };
    const flipped = Buffer.from(parsed.material, 'base64').map((b) => b ^ 0xff);
    return JSON.stringify({ ...parsed, material: Buffer.from(flipped).toString('base64') });
  });
}

const keyTagsOf = (n: number, extra: Record<string, string> = {}) => ({
  [Tag.Managed]: 'true',
  [Tag.Lineage]: testRecord(n).lineage,
  [Tag.Generation]: String(testRecord(n).generation),
  [Tag.Fingerprint]: testRecord(n).fingerprint,
  [Tag.Phase]: 'ready',
  ...extra,
});

describe('kms-secrets list() from metadata', () => {
  it('summarises every record from ListSecrets alone, exactly as a deep read would', async () => {
    const { kms, store } = setup();
    for (const n of [1, 2, 3]) await store.put(testRecord(n));
    const deep = await store.list({ deepVerify: () => true });
    kms.calls.length = 0;
    const shallow = await store.list();
    expect([kms.calls, shallow]).toEqual([['ListSecrets'], deep]);
  });

  it('reads back only the records deepVerify picks', async () => {
    const { kms, store } = setup();
    for (const n of [1, 2, 3]) await store.put(testRecord(n));
    kms.calls.length = 0;
    await store.list({ deepVerify: (keyId) => keyId === testRecord(2).keyId });
    expect(kms.calls.sort()).toEqual(['GetSecretValue', 'ListSecretVersionIds', 'ListSecrets']);
  });

  it('reads a record without metadata tags (an older version wrote it) in full; a sweep back-fills', async () => {
    const { kms, store } = setup();
    await store.put(testRecord(1));
    const secret = kms.secrets.get(escrowSecretName(testRecord(1).keyId))!;
    // What the previous version wrote: managed, key id and lineage only.
    secret.tags = {
      [EscrowSecretTag.Managed]: 'true',
      [EscrowSecretTag.KeyId]: testRecord(1).keyId,
      [EscrowSecretTag.Lineage]: testRecord(1).lineage,
    };
    kms.calls.length = 0;
    const readOnly = await store.list();
    const afterReadOnly = [...kms.calls];
    await store.list({ writeMetadata: true });
    kms.calls.length = 0;
    const later = await store.list();
    expect([afterReadOnly.sort(), later.records.map((r) => r.fingerprint), kms.calls]).toEqual([
      ['GetSecretValue', 'ListSecretVersionIds', 'ListSecrets'],
      [testRecord(1).fingerprint],
      ['ListSecrets'],
    ]);
    expect(readOnly.records.map((r) => r.fingerprint)).toEqual([testRecord(1).fingerprint]);
  });

  it('keeps reporting a corrupt record a deep read found, without decrypting, until a read-back succeeds', async () => {
    const { kms, store } = setup();
    await store.put(testRecord(1));
    await store.put(testRecord(2));
    const original = kms.secrets.get(escrowSecretName(testRecord(1).keyId))!.versions[0]!.secretData;
    corrupt(kms, testRecord(1).keyId);
    // Metadata alone cannot see the corruption: that is what the deep sample is for.
    const unseen = await store.list();
    const found = await store.list({ deepVerify: (k) => k === testRecord(1).keyId, writeMetadata: true });
    kms.calls.length = 0;
    const between = await store.list(); // read-only, no sample: the recorded failure is reported
    const betweenCalls = [...kms.calls];
    kms.setSecretData(escrowSecretName(testRecord(1).keyId), () => original);
    const healed = await store.list({ writeMetadata: true }); // a sweep re-reads recorded failures
    const expected = [{ keyId: testRecord(1).keyId, code: ErrorCode.EscrowCorrupt }];
    expect([unseen.unreadable, found.unreadable, between.unreadable, betweenCalls]).toEqual([
      [],
      expected,
      expected,
      ['ListSecrets'],
    ]);
    expect([healed.unreadable, healed.records.map((r) => r.keyId)]).toEqual([
      [],
      [testRecord(1).keyId, testRecord(2).keyId],
    ]);
    expect((await store.list()).unreadable).toEqual([]);
  });

  it('keeps reporting stray versions a deep read counted, without reading them again', async () => {
    const { kms, store } = setup();
    await store.put(testRecord(1));
    for (const n of [1, 2])
      await kms.putSecretValue({
        secretName: escrowSecretName(testRecord(1).keyId),
        versionId: `stray-${n}`,
        secretData: 'x',
        versionStages: [`Stray${n}`],
      });
    await store.list({ deepVerify: () => true, writeMetadata: true });
    kms.calls.length = 0;
    const listing = await store.list();
    expect([listing.records.map((r) => r.versionCount), kms.calls]).toEqual([[3], ['ListSecrets']]);
  });

  it('writes nothing from a read-only listing', async () => {
    const { kms, store } = setup();
    await store.put(testRecord(1));
    corrupt(kms, testRecord(1).keyId);
    kms.calls.length = 0;
    await store.list({ deepVerify: () => true });
    expect(kms.calls).not.toContain('TagResource');
  });
});

describe('the key-tag mirror on the escrow secret', () => {
  it('writes one tag and leaves the data and versions alone', async () => {
    const { kms, store } = setup();
    await store.put(testRecord(1));
    const secret = kms.secrets.get(escrowSecretName(testRecord(1).keyId))!;
    const before = JSON.stringify(secret.versions);
    const tagsBefore = { ...secret.tags };
    await store.mirrorKeyTags!(testRecord(1).keyId, keyTagsOf(1, { 'cost-center': 'x' }), NOW);
    const { [EscrowSecretTag.KeyTags]: mirror, ...rest } = secret.tags;
    expect([JSON.stringify(secret.versions) === before, rest, typeof mirror]).toEqual([true, tagsBefore, 'string']);
  });

  it('lists the mirrored tags with the record, and is a no-op for a key without escrow', async () => {
    const { kms, store } = setup();
    await store.put(testRecord(1));
    await store.mirrorKeyTags!(testRecord(1).keyId, keyTagsOf(1, { [Tag.SupersededAt]: '1700000000' }), NOW);
    await store.mirrorKeyTags!(testRecord(2).keyId, keyTagsOf(2), NOW);
    const listing = await store.list();
    expect([listing.records.map((r) => r.keyTags), kms.secrets.size]).toEqual([
      [keyTagsOf(1, { [Tag.SupersededAt]: '1700000000' })],
      1,
    ]);
  });

  it('is not used when the key names other material than the record (no fingerprint tag yet)', async () => {
    const { store } = setup();
    await store.put(testRecord(1));
    const { [Tag.Fingerprint]: _f, ...withoutFingerprint } = keyTagsOf(1);
    await store.mirrorKeyTags!(testRecord(1).keyId, withoutFingerprint, NOW);
    expect((await store.list()).records[0]?.keyTags).toBeUndefined();
  });
});

describe('tag-mirror codec', () => {
  const record = { lineage: 'payments', generation: 3, fingerprint: testRecord(1).fingerprint };
  const tags = {
    [Tag.Managed]: 'true',
    [Tag.Lineage]: 'payments',
    [Tag.Generation]: '3',
    [Tag.Fingerprint]: record.fingerprint,
    [Tag.Phase]: 'failed-self-test',
    [Tag.Hold]: 'revoked',
    [Tag.SupersededAt]: '1733000000',
    [Tag.ValidityDays]: '90',
  };

  it('names the same tag keys as the lifecycle', () => {
    expect(Object.values(MirroredTag).sort()).toEqual(
      [
        Tag.Managed,
        Tag.Lineage,
        Tag.Generation,
        Tag.Fingerprint,
        Tag.Phase,
        Tag.Hold,
        Tag.SupersededAt,
        Tag.ValidityDays,
      ].sort(),
    );
  });

  it('round-trips every mirrored tag within one 128-char tag value', () => {
    const value = encodeTagMirror(tags, 99_999);
    expect([decodeTagMirror(value, record), value.length <= 128, /^[A-Za-z0-9/\\_\-.+=:@]+$/.test(value)]).toEqual([
      { tags, day: 99_999 },
      true,
      true,
    ]);
  });

  it('refuses a mirror whose identity is not the record (other lineage, generation or fingerprint)', () => {
    const value = encodeTagMirror(tags, 1);
    expect(
      [
        { ...record, lineage: 'orders' },
        { ...record, generation: 4 },
        { ...record, fingerprint: testRecord(2).fingerprint },
      ].map((r) => decodeTagMirror(value, r)),
    ).toEqual([undefined, undefined, undefined]);
  });

  it('mirrors a key it cannot carry as none (an unknown byok tag, a value with other characters)', () => {
    expect([
      encodeTagMirror({ ...tags, 'byok:future': 'x' }, 1),
      encodeTagMirror({ ...tags, [Tag.Hold]: 'a/b' }, 1),
      decodeTagMirror(MIRROR_NONE, record),
    ]).toEqual([MIRROR_NONE, MIRROR_NONE, undefined]);
  });
});

describe('periodic checks (due.ts)', () => {
  const ids = Array.from({ length: 300 }, (_, i) => `key-${i}`);
  const start = dayIndex(NOW);

  /** Simulates `days` days of sweeps (`perDay` a day): which days each id is checked on. */
  function simulate(period: number, days: number, perDay: number, skip: (day: number) => boolean = () => false) {
    const last = new Map<string, number>(ids.map((id) => [id, start - 1]));
    const checked = new Map<string, number[]>(ids.map((id) => [id, []]));
    let checks = 0;
    for (let day = start; day < start + days; day++) {
      if (skip(day)) continue;
      for (let sweep = 0; sweep < perDay; sweep++) {
        for (const id of ids) {
          if (!isDue(id, last.get(id), day, period, 'test')) continue;
          last.set(id, day);
          checked.get(id)!.push(day);
          checks++;
        }
      }
    }
    return { checked, checks };
  }

  it('checks every id at least once in any window of `period` days, once a day at most', () => {
    const period = 7;
    const { checked } = simulate(period, 40, 4);
    for (const days of checked.values()) {
      expect(new Set(days).size).toBe(days.length); // never twice on one day
      const gaps = days.slice(1).map((d, i) => d - days[i]!);
      expect(Math.max(...gaps)).toBeLessThanOrEqual(period);
    }
  });

  it('costs about one check per id per period, whatever the number of sweeps a day', () => {
    const once = simulate(7, 70, 1).checks;
    const four = simulate(7, 70, 4).checks;
    // 70 days / 7 = 10 phase days per id, plus at most one first check.
    expect([once, four]).toEqual([four, four]);
    expect(four).toBeLessThanOrEqual(ids.length * 11);
  });

  it('catches up on the next sweep when the phase day had none', () => {
    const period = 5;
    const skip = (day: number) => (day - start) % 3 === 1;
    const { checked } = simulate(period, 30, 2, skip);
    const late: number[] = [];
    for (const days of checked.values()) {
      // A check later than `period` days happens only because every day from the due day on had no sweep.
      days.slice(1).forEach((d, i) => {
        for (let day = days[i]! + period; day < d; day++) if (!skip(day)) late.push(day);
      });
    }
    expect(late).toEqual([]);
  });

  it('spreads ids over the phase days (records created together do not come due together)', () => {
    const counts = new Array(7).fill(0) as number[];
    for (const id of ids) counts[phaseOf(id, 7, 'test')]! += 1;
    expect(Math.min(...counts)).toBeGreaterThan(20);
  });

  it('treats never and a date in the future as due', () => {
    expect([isDue('a', undefined, start, 7, 'x'), isDue('a', start + 3, start, 7, 'x')]).toEqual([true, true]);
  });
});

describe('the periodic read-back in list()', () => {
  it('reads each record back on its phase day once, records the day, and not again that day', async () => {
    const { kms, store } = setup();
    for (const n of [1, 2, 3, 4, 5, 6]) await store.put(testRecord(n));
    const period = 3;
    const readBacks: number[] = [];
    for (let d = 0; d < 2 * period; d++) {
      const nowMs = NOW + d * 86_400_000;
      for (let sweep = 0; sweep < 2; sweep++) {
        kms.calls.length = 0;
        await store.list({ readBack: { nowMs, periodDays: period }, writeMetadata: true });
        readBacks.push(kms.calls.filter((c) => c === 'GetSecretValue').length);
      }
    }
    // Sweeps 2, 4, ... of a day read nothing back; over two periods each record is read back twice.
    expect(readBacks.filter((_, i) => i % 2 === 1)).toEqual(new Array(2 * period).fill(0));
    expect(readBacks.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(6 * 2);
    expect(readBacks.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(6 * 3);
    const tags = kms.secrets.get(escrowSecretName(testRecord(1).keyId))!.tags;
    expect(tags[EscrowSecretTag.Check]).toMatch(/^ok-\d+$/);
  });
});
