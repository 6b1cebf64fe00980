import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { onboard, restore, revoke, sweep } from '../../../shared/lifecycle/engine.js';
import { Tag } from '../../../shared/lifecycle/model.js';
import { startHarness, type Harness } from '../../support/engine-harness.js';

// A fresh emulator per test: no test depends on what another one left behind.
let h: Harness;
beforeEach(async () => {
  h = await startHarness();
});
afterEach(async () => {
  await h?.close();
});

const plaintext = Buffer.from('customer record 42').toString('base64');

describe('repairs and guard rails against the emulator', () => {
  it('onboards a lineage: EXTERNAL CMK, tagged, escrowed, imported with expiry, aliased', async () => {
    const r = await onboard(h.deps({ actor: { kind: 'operator', id: 'alice' } }), { alias: 'alias/payments' });
    expect(r.created).toBe(true);
    const meta = await h.kms.describeKey('alias/payments');
    expect(meta).toMatchObject({ keyId: r.keyId, origin: 'EXTERNAL', keyState: 'Enabled' });
    expect(meta.materialExpireAtMs! - h.nowMs()).toBeGreaterThan(29 * 86_400_000);
    const tags = await h.kms.listResourceTags(r.keyId);
    expect(tags).toMatchObject({
      [Tag.Managed]: 'true',
      [Tag.Lineage]: 'payments',
      [Tag.Generation]: '1',
      [Tag.Phase]: 'ready',
    });
    const escrow = await h.escrow.get(r.keyId);
    expect(escrow.fingerprint).toBe(tags[Tag.Fingerprint]);
    // Onboarding again is a no-op.
    expect(await onboard(h.deps(), { alias: 'alias/payments' })).toEqual({
      lineage: 'payments',
      keyId: r.keyId,
      created: false,
    });
  });

  it('re-imports after an out-of-band DeleteKeyMaterial and the old ciphertext decrypts', async () => {
    await onboard(h.deps(), { alias: 'alias/payments' });
    const enc = await h.kms.encrypt({ keyId: 'alias/payments', plaintext });
    await h.kms.deleteKeyMaterial(enc.keyId);
    await expect(h.kms.decrypt({ ciphertextBlob: enc.ciphertextBlob })).rejects.toMatchObject({
      details: { kmsCode: 'Rejected.PendingImport' },
    });
    const result = await sweep(h.deps());
    expect(result.results.map((r) => [r.action.kind, r.outcome])).toEqual([['reimport', 'ok']]);
    expect((await h.kms.describeKey(enc.keyId)).keyState).toBe('Enabled');
    expect((await h.kms.decrypt({ ciphertextBlob: enc.ciphertextBlob })).plaintext).toBe(plaintext);
  });

  it('keeps a disabled key disabled, even after its material expires', async () => {
    const r = await onboard(h.deps(), { alias: 'alias/disabled-lineage' });
    await h.console.disableKey(r.keyId);
    const first = await sweep(h.deps());
    expect(
      first.results.filter((x) => x.action.lineage === 'disabled-lineage').map((x) => [x.action.kind, x.outcome]),
    ).toEqual([['hold', 'ok']]);
    for (let day = 0; day < 40; day += 5) {
      h.advanceDays(5);
      await sweep(h.deps());
      expect((await h.kms.describeKey(r.keyId)).keyState).not.toBe('Enabled');
    }
    expect((await h.kms.describeKey(r.keyId)).keyState).toBe('PendingImport');
  });

  it('alerts on PendingDeletion and does not touch the key', async () => {
    const r = await onboard(h.deps(), { alias: 'alias/doomed' });
    await h.console.scheduleKeyDeletion(r.keyId, 30);
    h.advanceDays(29);
    const result = await sweep(h.deps());
    const mine = result.results.filter((x) => x.action.lineage === 'doomed');
    expect(mine.map((x) => [x.action.kind, x.outcome])).toEqual([['alert', 'alerted']]);
    expect(result.alertWorthy).toBe(true);
    expect((await h.kms.describeKey(r.keyId)).keyState).toBe('PendingDeletion');
  });

  it('keeps a revoked key revoked until restore', async () => {
    const r = await onboard(h.deps(), { alias: 'alias/shredme' });
    const enc = await h.kms.encrypt({ keyId: r.keyId, plaintext });
    await expect(revoke(h.deps(), r.keyId, undefined)).rejects.toMatchObject({ code: 'ERR_CONFIRMATION_REQUIRED' });
    expect((await h.kms.describeKey(r.keyId)).keyState).toBe('Enabled');
    await revoke(h.deps({ actor: { kind: 'operator', id: 'bob' } }), r.keyId, r.keyId);
    expect((await h.kms.describeKey(r.keyId)).keyState).toBe('PendingImport');
    for (let i = 0; i < 3; i++) {
      await sweep(h.deps());
      h.advanceDays(1);
    }
    expect((await h.kms.describeKey(r.keyId)).keyState).toBe('PendingImport');
    await restore(h.deps({ actor: { kind: 'operator', id: 'bob' } }), r.keyId);
    expect((await h.kms.describeKey(r.keyId)).keyState).toBe('Enabled');
    expect((await h.kms.decrypt({ ciphertextBlob: enc.ciphertextBlob })).plaintext).toBe(plaintext);
  });
});

describe('import token expiry', () => {
  it('fetches fresh parameters and re-wraps once when the import token expired in flight', async () => {
    let stalled = false;
    const fetched: string[] = [];
    const base = h.deps();
    // The first token "ages" 25 h before it is used: the emulator clock jumps after it is issued.
    const kms = {
      ...base.kms,
      async getParametersForImport(input: Parameters<typeof base.kms.getParametersForImport>[0]) {
        const p = await base.kms.getParametersForImport(input);
        fetched.push(p.importToken.slice(0, 8));
        if (!stalled) {
          stalled = true;
          h.emu.clock.advance(25 * 3600);
        }
        return p;
      },
    };
    // A lease long enough to cover the 25 h stall (otherwise the run rightly stops at its lease deadline).
    const r = await onboard({ ...base, kms, leaseTtlMs: 48 * 3600_000 }, { alias: 'alias/slow-token' });
    expect(fetched).toHaveLength(2);
    expect(fetched[0]).not.toBe(fetched[1]);
    expect((await h.kms.describeKey(r.keyId)).keyState).toBe('Enabled');
  });
});

describe('audit of provisioning', () => {
  it('records an intent before and an outcome after every provisioning write, in order', async () => {
    const from = h.audit.length;
    await onboard(h.deps(), { alias: 'alias/audited' });
    const seq = h.audit
      .slice(from)
      .filter((e) => e.action.startsWith('provision:'))
      .map((e) => `${e.phase}:${e.action.slice('provision:'.length)}`);
    expect(seq).toEqual([
      'intent:create',
      'outcome:created',
      'intent:tag',
      'outcome:tagged',
      'intent:escrow',
      'outcome:escrowed',
      'intent:fingerprint-tag',
      'outcome:fingerprint-tagged',
      'intent:import',
      'outcome:imported',
      'outcome:self-tested',
      'intent:ready-tag',
      'outcome:ready',
      'intent:alias-move',
      'outcome:alias-moved',
    ]);
  });
});
