/**
 * Old ciphertext stays readable (issue 8 §1): an operator retires a generation explicitly, a
 * retired (dormant) generation is revived on demand with a bounded validity and lapses again, and no
 * command drops a `revoked` hold unless it restored the key.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { EscrowPort } from '../../../shared/lifecycle/ports.js';
import {
  checkTarget,
  onboard,
  reimportNow,
  restore,
  retire,
  revoke,
  rotateNow,
  sweep,
} from '../../../shared/lifecycle/engine.js';
import { DAY_MS, Tag } from '../../../shared/lifecycle/model.js';
import { checkWebhookTarget } from '../../../shared/webhook/intake.js';
import { startHarness, type Harness } from '../../support/engine-harness.js';

let h: Harness;
beforeEach(async () => {
  h = await startHarness();
});
afterEach(async () => {
  await h?.close();
});

const alice = { kind: 'operator' as const, id: 'alice' };
const keyOf = (a: object) => (a as { keyId?: string }).keyId;

/** Onboards `alias`, encrypts under generation 1, rotates: generation 1 is the previous one. */
async function twoGenerations(alias: string) {
  const { keyId: k1 } = await onboard(h.deps(), { alias });
  const plaintext = Buffer.from('backup written under generation 1').toString('base64');
  const { ciphertextBlob } = await h.kms.encrypt({ keyId: alias, plaintext });
  const { keyId: k2 } = await rotateNow(h.deps(), alias);
  return { k1, k2, plaintext, ciphertextBlob };
}

/** Lets generation 1's material lapse while the current generation is kept alive by sweeps. */
async function lapse(): Promise<void> {
  h.advanceDays(24);
  await sweep(h.deps());
  h.advanceDays(7);
  await sweep(h.deps());
}

describe('retire <key> --confirm <key>', () => {
  it('retires a previous generation only with confirmation, audited, never the alias target', async () => {
    const { k1, k2 } = await twoGenerations('alias/dorm-a');
    await expect(retire(h.deps({ actor: alice }), k1, undefined)).rejects.toMatchObject({
      code: 'ERR_CONFIRMATION_REQUIRED',
    });
    expect((await h.kms.listResourceTags(k1))[Tag.Phase]).toBe('ready');
    const from = h.audit.length;
    await retire(h.deps({ actor: alice }), k1, k1);
    expect((await h.kms.listResourceTags(k1))[Tag.Phase]).toBe('retired');
    const events = h.audit.slice(from).filter((e) => e.action === 'retire' && e.phase !== 'decision');
    expect(events.map((e) => [e.phase, e.keyId, e.phase === 'intent' ? e.reason : e.outcome])).toEqual([
      ['intent', k1, 'operator retire'],
      ['outcome', k1, 'ok'],
    ]);
    await expect(retire(h.deps({ actor: alice }), k2, k2)).rejects.toMatchObject({
      code: 'ERR_PRECONDITION_FAILED',
    });
    expect((await h.kms.listResourceTags(k2))[Tag.Phase]).toBe('ready');
  });

  it('by default a previous generation is renewed for as long as it exists', async () => {
    const { k1, plaintext, ciphertextBlob } = await twoGenerations('alias/dorm-b');
    for (let i = 0; i < 12; i++) {
      h.advanceDays(20);
      await sweep(h.deps());
    }
    expect((await h.kms.listResourceTags(k1))[Tag.Phase]).toBe('ready');
    expect((await h.kms.describeKey(k1)).keyState).toBe('Enabled');
    expect((await h.kms.decrypt({ ciphertextBlob })).plaintext).toBe(plaintext);
  });
});

describe('a dormant (retired) generation is revived', () => {
  it('by reimport: escrowed material for reviveValidityDays (7), audited as a revival, then lapses', async () => {
    const { k1, plaintext, ciphertextBlob } = await twoGenerations('alias/dorm-c');
    await retire(h.deps(), k1, k1);
    await lapse();
    expect((await h.kms.describeKey(k1)).keyState).toBe('PendingImport');
    const from = h.audit.length;
    const r = await reimportNow(h.deps({ actor: alice }), k1);
    expect(r.expireAtMs! - h.nowMs()).toBeGreaterThan(6 * DAY_MS);
    expect(r.expireAtMs! - h.nowMs()).toBeLessThanOrEqual(7 * DAY_MS + 60_000);
    expect((await h.kms.decrypt({ ciphertextBlob })).plaintext).toBe(plaintext);
    const events = h.audit.slice(from).filter((e) => e.action === 'reimport' && e.phase !== 'decision');
    expect(events.map((e) => e.reason)).toEqual([
      'operator revive (reimport of a dormant generation)',
      expect.stringMatching(/^revived \(dormant generation\), valid until /),
    ]);
    expect((await h.kms.listResourceTags(k1))[Tag.Phase]).toBe('retired');
    // Not renewed by policy: it lapses again, and the sweep leaves it so.
    h.advanceDays(5);
    const during = await sweep(h.deps());
    expect(during.results.filter((x) => keyOf(x.action) === k1)).toEqual([]);
    h.advanceDays(3);
    await sweep(h.deps());
    expect((await h.kms.describeKey(k1)).keyState).toBe('PendingImport');
  });

  it('by restore, and on demand by a webhook check that names a refused read', async () => {
    const { k1, plaintext, ciphertextBlob } = await twoGenerations('alias/dorm-d');
    await retire(h.deps(), k1, k1);
    await lapse();
    // A plain check of the key changes nothing; a check for a refused read revives it.
    const plain = await checkTarget(h.deps(), { keyId: k1 });
    expect(plain.results.filter((x) => keyOf(x.action) === k1)).toEqual([]);
    const revived = await checkWebhookTarget(h.deps(), { keyId: k1, revive: true });
    expect(revived.results.filter((x) => keyOf(x.action) === k1).map((x) => [x.action.kind, x.outcome])).toEqual([
      ['reimport', 'ok'],
    ]);
    expect((await h.kms.decrypt({ ciphertextBlob })).plaintext).toBe(plaintext);
    h.advanceDays(8);
    await sweep(h.deps());
    expect((await h.kms.describeKey(k1)).keyState).toBe('PendingImport');
    const r = await restore(h.deps({ actor: alice }), k1);
    expect(r.expireAtMs! - h.nowMs()).toBeLessThanOrEqual(7 * DAY_MS + 60_000);
    expect((await h.kms.decrypt({ ciphertextBlob })).plaintext).toBe(plaintext);
  });
});

describe('a revoked hold is removed only by a restore that restored the key', () => {
  const failingEscrow = (): EscrowPort => ({
    ...h.escrow,
    async get() {
      throw new Error('escrow unavailable');
    },
  });

  it('keeps the hold when restore fails on a key that was revoked and then retired', async () => {
    const { k1, plaintext, ciphertextBlob } = await twoGenerations('alias/dorm-e');
    await revoke(h.deps(), k1, k1);
    await retire(h.deps(), k1, k1);
    await expect(restore(h.deps({ escrow: failingEscrow() }), k1)).rejects.toBeDefined();
    expect((await h.kms.listResourceTags(k1))[Tag.Hold]).toBe('revoked');
    await restore(h.deps(), k1);
    expect((await h.kms.listResourceTags(k1))[Tag.Hold]).toBeUndefined();
    expect((await h.kms.decrypt({ ciphertextBlob })).plaintext).toBe(plaintext);
  });

  it('keeps the hold when restore fails on a revoked key', async () => {
    const { keyId } = await onboard(h.deps(), { alias: 'alias/dorm-f' });
    await revoke(h.deps(), keyId, keyId);
    await expect(restore(h.deps({ escrow: failingEscrow() }), keyId)).rejects.toBeDefined();
    expect((await h.kms.listResourceTags(keyId))[Tag.Hold]).toBe('revoked');
  });
});
