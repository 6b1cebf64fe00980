/**
 * Tags are read one way, by toKeyView: the planner (from the snapshot) and the executor (from a
 * fresh read) see the same KeyView. A key state this code does not know is planned as an alert,
 * never a throw.
 */
import { describe, expect, it } from 'vitest';
import { parseKeyMetadata } from '../../../shared/kms/parse.js';
import type { KeyMetadata } from '../../../shared/kms/port.js';
import { isTagged, toKeyView } from '../../../shared/lifecycle/key-view.js';
import { DEFAULT_POLICY } from '../../../shared/config/index.js';
import { DAY_MS, Tag, describeMarker, type Snapshot } from '../../../shared/lifecycle/model.js';
import { planSweep } from '../../../shared/lifecycle/plan.js';

const NOW = Date.UTC(2027, 0, 1);
const meta: KeyMetadata = {
  keyId: 'k1',
  arn: 'acs:kms:cn-hangzhou:1:key/k1',
  keyState: 'Enabled',
  keySpec: 'Aliyun_AES_256',
  keyUsage: 'ENCRYPT/DECRYPT',
  origin: 'EXTERNAL',
  protectionLevel: 'SOFTWARE',
  description: '',
  creationDateMs: NOW - DAY_MS,
  materialExpireAtMs: NOW + 20 * DAY_MS,
};
const tags = {
  [Tag.Managed]: 'true',
  [Tag.Lineage]: 'payments',
  [Tag.Generation]: '2',
  [Tag.Phase]: 'ready',
  [Tag.ValidityDays]: '14',
  [Tag.SupersededAt]: '1800000000',
};

describe('toKeyView', () => {
  it('parses numbers once: generation, validity override, superseded time (seconds to ms)', () => {
    const v = toKeyView(meta, tags, ['alias/payments']);
    expect([v.generation, v.validityDaysOverride, v.supersededAtMs, v.phase]).toEqual([
      2,
      14,
      1_800_000_000_000,
      'ready',
    ]);
    expect(isTagged(v)).toBe(true);
  });

  it('ignores numbers that are not whole decimal numbers', () => {
    const v = toKeyView(
      meta,
      { ...tags, [Tag.Generation]: '2x', [Tag.ValidityDays]: '-3', [Tag.SupersededAt]: '' },
      [],
    );
    expect([v.generation, v.validityDaysOverride, v.supersededAtMs]).toEqual([undefined, undefined, undefined]);
  });

  it('reads a phase it does not know as no phase', () => {
    expect(toKeyView(meta, { ...tags, [Tag.Phase]: 'half-done' }, []).phase).toBeUndefined();
  });

  it('treats a hold value it does not know as the strictest hold, never as none', () => {
    expect(toKeyView(meta, { ...tags, [Tag.Hold]: 'disabled' }, []).hold).toBe('disabled');
    expect(toKeyView(meta, { ...tags, [Tag.Hold]: 'revoked' }, []).hold).toBe('revoked');
    expect(toKeyView(meta, { ...tags, [Tag.Hold]: 'by-hand' }, []).hold).toBe('revoked');
    expect(toKeyView(meta, tags, []).hold).toBeUndefined();
  });

  it('knows a key carrying only our CreateKey marker as managed but not tagged', () => {
    const v = toKeyView({ ...meta, description: describeMarker('payments', 3) }, {}, []);
    expect([v.managed, v.untaggedMarker, isTagged(v), v.lineage, v.generation]).toEqual([
      true,
      true,
      false,
      'payments',
      3,
    ]);
  });

  it('keeps the KMS 3.0 instance and an unknown state word', () => {
    const v = toKeyView(
      { ...meta, keyState: 'Unknown', unknownKeyState: 'Archived', dkmsInstanceId: 'kst-abc123456' },
      tags,
      [],
    );
    expect([v.state, v.unknownState, v.dkmsInstanceId]).toEqual(['Unknown', 'Archived', 'kst-abc123456']);
  });
});

describe('planSweep: a key state KMS answered that this code does not know', () => {
  const snapshot = (state: Snapshot['keys'][number]): Snapshot => ({
    takenAtMs: NOW,
    keys: [state],
    aliases: { 'alias/payments': 'k1' },
    escrow: { k1: { fingerprint: 'kcv1:aaaaaaaaaaaaaaaaaaaaaaaa', lineage: 'payments', generation: 2 } },
    escrowUnreadable: [],
    unobservable: [],
    instances: [],
  });
  const view = {
    ...toKeyView(meta, { ...tags, [Tag.Fingerprint]: 'kcv1:aaaaaaaaaaaaaaaaaaaaaaaa' }, ['alias/payments']),
    escrowFingerprint: 'kcv1:aaaaaaaaaaaaaaaaaaaaaaaa',
  };
  const policies = { defaults: DEFAULT_POLICY, lineages: {} };

  it('raises a critical alert naming the word, and plans nothing else for the key', () => {
    const plan = planSweep(snapshot({ ...view, state: 'Unknown', unknownState: 'Archived' }), policies, NOW);
    expect(plan.actions).toEqual([
      {
        kind: 'alert',
        severity: 'critical',
        keyId: 'k1',
        lineage: 'payments',
        reason: 'key is in a state this tool does not know (Archived); not touched until it is one it knows',
      },
    ]);
  });

  it('does not throw even on a state outside the type (a cast somewhere upstream)', () => {
    const odd = { ...view, state: 'Archived' as unknown as 'Enabled' };
    expect(planSweep(snapshot(odd), policies, NOW).actions).toMatchObject([
      { kind: 'alert', severity: 'critical', keyId: 'k1' },
    ]);
  });

  it('does not resume a generation being provisioned whose state is unknown', () => {
    const provisioning = {
      ...view,
      phase: 'provisioning' as const,
      state: 'Unknown' as const,
      unknownState: 'Archived',
    };
    expect(planSweep(snapshot(provisioning), policies, NOW).actions).toMatchObject([{ kind: 'alert', keyId: 'k1' }]);
  });
});

describe('one key in an unknown state never stops the sweep (issue 8)', () => {
  /** A raw DescribeKey `KeyMetadata` as the SDK returns it, for the adapter's parser. */
  const raw = (keyId: string, state: string, expiresAtMs: number) => ({
    KeyId: keyId,
    Arn: `acs:kms:cn-hangzhou:1:key/${keyId}`,
    KeyState: state,
    KeySpec: 'Aliyun_AES_256',
    KeyUsage: 'ENCRYPT/DECRYPT',
    Origin: 'EXTERNAL',
    ProtectionLevel: 'SOFTWARE',
    Description: '',
    CreationDate: new Date(NOW - 30 * DAY_MS).toISOString().replace(/\.\d{3}Z$/, 'Z'),
    MaterialExpireTime: new Date(expiresAtMs).toISOString().replace(/\.\d{3}Z$/, 'Z'),
    DeleteDate: '',
  });
  const fp = (c: string) => `kcv1:${c.repeat(24)}`;
  const view = (keyId: string, lineage: string, state: string, expiresAtMs: number, c: string) => ({
    ...toKeyView(
      parseKeyMetadata(raw(keyId, state, expiresAtMs), 'DescribeKey'),
      { ...tags, [Tag.Lineage]: lineage, [Tag.Fingerprint]: fp(c), [Tag.SupersededAt]: '' },
      [`alias/${lineage}`],
    ),
    escrowFingerprint: fp(c),
  });

  it('alerts on Archived and on a word beyond it, and still renews a healthy key a day from expiry', () => {
    const keys = [
      view('key-archived', 'archive', 'Archived', NOW + 20 * DAY_MS, 'a'),
      view('key-odd', 'odd', 'SomethingNew', NOW + 20 * DAY_MS, 'b'),
      view('key-healthy', 'payments', 'Enabled', NOW + DAY_MS, 'c'),
    ];
    const snapshot: Snapshot = {
      takenAtMs: NOW,
      keys,
      aliases: { 'alias/archive': 'key-archived', 'alias/odd': 'key-odd', 'alias/payments': 'key-healthy' },
      escrow: {
        'key-archived': { fingerprint: fp('a'), lineage: 'archive', generation: 2 },
        'key-odd': { fingerprint: fp('b'), lineage: 'odd', generation: 2 },
        'key-healthy': { fingerprint: fp('c'), lineage: 'payments', generation: 2 },
      },
      escrowUnreadable: [],
      unobservable: [],
      instances: [],
    };
    const plan = planSweep(snapshot, { defaults: DEFAULT_POLICY, lineages: {} }, NOW);
    const summary = plan.actions.map((a) => `${a.kind} ${'keyId' in a ? a.keyId : ''}`);
    expect(summary).toEqual(expect.arrayContaining(['alert key-archived', 'alert key-odd', 'renew key-healthy']));
    expect(summary.filter((s) => !s.startsWith('alert'))).toEqual(['renew key-healthy']);
  });
});
