/** Alias drift (issue 9 §2): a held current generation is not "alias moved by hand". */
import { describe, expect, it } from 'vitest';
import { DEFAULT_POLICY } from '../../../shared/config/index.js';
import { DAY_MS, type KeyView, type Policies, type Snapshot } from '../../../shared/lifecycle/model.js';
import { planSweep } from '../../../shared/lifecycle/plan.js';

const NOW = Date.UTC(2027, 0, 1, 0, 0, 0);
const policies: Policies = { defaults: DEFAULT_POLICY, lineages: {} };

function key(over: Partial<KeyView>): KeyView {
  return {
    keyId: 'k1',
    state: 'Enabled',
    origin: 'EXTERNAL',
    keySpec: 'Aliyun_AES_256',
    creationDateMs: NOW - 40 * DAY_MS,
    materialExpireAtMs: NOW + 20 * DAY_MS,
    managed: true,
    lineage: 'payments',
    generation: 1,
    fingerprint: 'kcv1:aaaaaaaaaaaaaaaaaaaaaaaa',
    phase: 'ready',
    untaggedMarker: false,
    aliases: [],
    escrowFingerprint: 'kcv1:aaaaaaaaaaaaaaaaaaaaaaaa',
    ...over,
  };
}

function snap(keys: KeyView[], aliases: Record<string, string>): Snapshot {
  const escrow: Snapshot['escrow'] = {};
  for (const k of keys)
    if (k.escrowFingerprint)
      escrow[k.keyId] = { fingerprint: k.escrowFingerprint, lineage: k.lineage ?? '', generation: k.generation ?? 0 };
  return { takenAtMs: NOW, keys, aliases, escrow, escrowUnreadable: [], unobservable: [], instances: [] };
}

const gen1 = key({ supersededAtMs: NOW - 10 * DAY_MS });
const gen2: Partial<KeyView> = {
  keyId: 'k2',
  generation: 2,
  creationDateMs: NOW - 10 * DAY_MS,
  fingerprint: 'kcv1:bbbbbbbbbbbbbbbbbbbbbbbb',
  escrowFingerprint: 'kcv1:bbbbbbbbbbbbbbbbbbbbbbbb',
  aliases: ['alias/payments'],
};

const drift = (keys: KeyView[], aliases: Record<string, string>) =>
  planSweep(snap(keys, aliases), policies, NOW).actions.filter((a) => a.reason.startsWith('drift'));

describe('alias drift', () => {
  it.each([
    [
      'revoked',
      (() => {
        const { materialExpireAtMs: _gone, ...k } = key({ ...gen2, state: 'PendingImport', hold: 'revoked' });
        return k;
      })(),
    ],
    ['disabled', key({ ...gen2, state: 'Disabled', hold: 'disabled' })],
  ])('no "moved by hand?" alert while the current generation is held (%s)', (_hold, current) => {
    expect(drift([gen1, current], { 'alias/payments': 'k2' })).toEqual([]);
  });

  it('still alerts when the alias was moved back to an older generation', () => {
    const current = key({ ...gen2, aliases: [] });
    expect(drift([{ ...gen1, aliases: ['alias/payments'] }, current], { 'alias/payments': 'k1' })).toMatchObject([
      { kind: 'alert', severity: 'warning', keyId: 'k1' },
    ]);
  });
});

describe('alias drift outside the lineage (the target found by key id, once per snapshot)', () => {
  const notInLineage = 'drift: alias/payments points at a key that is not part of the lineage';
  const other = key({ keyId: 'k9', lineage: 'billing', fingerprint: 'kcv1:cccccccccccccccccccccccc' });

  it.each([
    ['a key of another lineage', [key({ aliases: [] }), other], 'k9'],
    ['a key the snapshot does not hold', [key({ aliases: [] }), other], 'k404'],
  ])('alerts when the alias points at %s', (_what, keys, target) => {
    const found = drift(keys, { 'alias/payments': target, 'alias/billing': 'k9' });
    expect(found.filter((a) => a.reason === notInLineage).map((a) => 'keyId' in a && a.keyId)).toEqual([target]);
  });

  it('is silent when every alias points at its own lineage, among many lineages', () => {
    const keys = Array.from({ length: 50 }, (_, i) =>
      key({ keyId: `k${i}`, lineage: `l${i}`, aliases: [`alias/l${i}`] }),
    );
    const aliases = Object.fromEntries(keys.map((k) => [`alias/${k.lineage}`, k.keyId]));
    expect(drift(keys, aliases)).toEqual([]);
    // Moving one alias onto another lineage's key is found, for that lineage only.
    const moved = drift(keys, { ...aliases, 'alias/l7': 'k8' });
    expect([...new Set(moved.map((a) => a.lineage))]).toEqual(['l7']);
    expect(moved.map((a) => a.reason)).toContain('drift: alias/l7 points at a key that is not part of the lineage');
  });
});
