/**
 * docs/design.md §5 invariants that need a failure to be provoked: each test would fail if its guard
 * were removed. Faults are provoked with decorators around the real SDK adapter and escrow store
 * (the emulator stays the only KMS), or with the emulator itself.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { onboard, revoke, sweep } from '../../../shared/lifecycle/engine.js';
import { Tag } from '../../../shared/lifecycle/model.js';
import { CheckpointAbort, type EngineDeps } from '../../../shared/lifecycle/ports.js';
import { OrchestratorError, ErrorCode } from '../../../shared/errors.js';
import { startHarness, type Harness } from '../../support/engine-harness.js';

let h: Harness;

const crashAfter = (step: string, seen: { keyId?: string }) => async (name: string, info: { keyId?: string }) => {
  if (name === step) {
    seen.keyId = info.keyId;
    throw new CheckpointAbort(`crash after ${step}`);
  }
};

async function generations(lineage: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const id of await h.kms.listKeys()) {
    const tags = await h.kms.listResourceTags(id);
    if (tags[Tag.Lineage] === lineage) out[tags[Tag.Generation]!] = id;
  }
  return out;
}

// Every invariant holds whichever escrow backend is configured: the suite runs once per backend.
describe.each(['file', 'kms-secrets'] as const)('with the %s escrow backend', (backend) => {
  beforeEach(async () => {
    h = await startHarness({ escrow: backend });
  });
  afterEach(async () => {
    await h?.close();
  });

  describe('invariant 8: revoked or disabled keys are never brought back, nor aliased', () => {
    it('does not finish a rotation whose new key an operator revoked mid-provisioning', async () => {
      await onboard(h.deps(), { alias: 'alias/inv-a', validityDays: 400 });
      h.advanceDays(365);
      const seen: { keyId?: string } = {};
      await expect(sweep(h.deps({ onCheckpoint: crashAfter('imported', seen) }))).rejects.toBeInstanceOf(
        CheckpointAbort,
      );
      h.advanceDays(1);
      await revoke(h.deps(), seen.keyId!, seen.keyId!);
      const r = await sweep(h.deps());
      expect(r.results.filter((x) => x.action.kind === 'resume')).toEqual([]);
      expect(r.results).toContainEqual(
        expect.objectContaining({ outcome: 'alerted', action: expect.objectContaining({ keyId: seen.keyId }) }),
      );
      expect((await h.kms.describeKey(seen.keyId!)).keyState).toBe('PendingImport');
      expect((await h.kms.describeKey('alias/inv-a')).keyId).not.toBe(seen.keyId);
    });

    it('does not move the alias onto a ready key that was disabled before the move', async () => {
      const first = await onboard(h.deps(), { alias: 'alias/inv-b', validityDays: 400 });
      h.advanceDays(365);
      const seen: { keyId?: string } = {};
      await expect(sweep(h.deps({ onCheckpoint: crashAfter('ready', seen) }))).rejects.toBeInstanceOf(CheckpointAbort);
      h.advanceDays(1);
      await h.console.disableKey(seen.keyId!);
      await sweep(h.deps());
      await sweep(h.deps());
      expect((await h.kms.describeKey('alias/inv-b')).keyId).toBe(first.keyId);
      expect((await h.kms.describeKey(seen.keyId!)).keyState).toBe('Disabled');
    });

    it('never moves the alias onto a key that failed its self-test', async () => {
      const first = await onboard(h.deps(), { alias: 'alias/inv-c', validityDays: 400 });
      h.advanceDays(365);
      const base = h.deps();
      // Decrypt of the new generation's probe comes back wrong: the self-test must fail.
      const broken: EngineDeps = {
        ...base,
        kms: {
          ...base.kms,
          async decrypt(input) {
            const r = await base.kms.decrypt(input);
            return r.keyId === first.keyId ? r : { ...r, plaintext: `${r.plaintext}tampered` };
          },
        },
      };
      const r = await sweep(broken);
      expect(r.results.find((x) => x.action.kind === 'rotate')).toMatchObject({
        outcome: 'failed',
        errorCode: ErrorCode.SelfTestFailed,
      });
      const gens = await generations('inv-c');
      expect((await h.kms.listResourceTags(gens['2']!))[Tag.Phase]).toBe('failed-self-test');
      expect((await h.kms.describeKey('alias/inv-c')).keyId).toBe(first.keyId);
      // And the next sweep alerts instead of trying again.
      const next = await sweep(h.deps());
      expect(next.results.map((x) => [x.action.kind, x.outcome])).toContainEqual(['alert', 'alerted']);
      expect(next.results.filter((x) => x.action.kind === 'rotate' || x.action.kind === 'resume')).toEqual([]);
    });

    it('renews a key re-enabled close to expiry in the same sweep that releases its hold', async () => {
      const r = await onboard(h.deps(), { alias: 'alias/inv-d' });
      await h.console.disableKey(r.keyId);
      await sweep(h.deps()); // records the hold
      h.advanceDays(28);
      await h.console.enableKey(r.keyId);
      const s = await sweep(h.deps());
      expect(s.results.map((x) => [x.action.kind, x.outcome])).toEqual([
        ['release-hold', 'ok'],
        ['renew', 'ok'],
      ]);
      h.advanceDays(3);
      expect((await h.kms.describeKey(r.keyId)).keyState).toBe('Enabled');
    });
  });

  describe('invariant 1: escrow is read back and compared before any import', () => {
    it('stops provisioning without importing when the escrow read-back differs', async () => {
      const base = h.deps();
      let puts = 0;
      const lying: EngineDeps = {
        ...base,
        escrow: {
          ...base.escrow,
          put: async (rec) => {
            puts++;
            return base.escrow.put(rec);
          },
          get: async (keyId) => {
            const rec = await base.escrow.get(keyId);
            rec.material[0] = (rec.material[0] ?? 0) ^ 0xff; // storage returned other bytes than were written
            return rec;
          },
        },
      };
      await expect(onboard(lying, { alias: 'alias/inv-e' })).rejects.toMatchObject({ code: ErrorCode.EscrowMismatch });
      expect(puts).toBe(1);
      const gens = await generations('inv-e');
      const meta = await h.kms.describeKey(gens['1']!);
      expect(meta.keyState).toBe('PendingImport'); // never imported
    });
  });

  describe('invariant 7: a failure on one key never stops the others', () => {
    it('renews the healthy lineage when another key cannot even be described', async () => {
      const good = await onboard(h.deps(), { alias: 'alias/inv-f' });
      const bad = await onboard(h.deps(), { alias: 'alias/inv-g' });
      h.advanceDays(25);
      const base = h.deps();
      const denied: EngineDeps = {
        ...base,
        kms: {
          ...base.kms,
          async describeKey(id) {
            if (id === bad.keyId)
              throw new OrchestratorError(ErrorCode.KmsForbidden, 'KMS DescribeKey failed: Forbidden.NoPermission', {
                details: { kmsCode: 'Forbidden.NoPermission' },
              });
            return base.kms.describeKey(id);
          },
        },
      };
      const r = await sweep(denied);
      expect(r.results).toContainEqual(
        expect.objectContaining({
          outcome: 'ok',
          action: expect.objectContaining({ kind: 'renew', keyId: good.keyId }),
        }),
      );
      expect(r.results).toContainEqual(
        expect.objectContaining({
          outcome: 'alerted',
          action: expect.objectContaining({ kind: 'alert', severity: 'critical', keyId: bad.keyId }),
        }),
      );
      expect(r.alertWorthy).toBe(true);
    });

    it('keeps going after one action fails, reporting it', async () => {
      const a = await onboard(h.deps(), { alias: 'alias/inv-h' });
      const b = await onboard(h.deps(), { alias: 'alias/inv-i' });
      h.advanceDays(25);
      const base = h.deps();
      const failing: EngineDeps = {
        ...base,
        kms: {
          ...base.kms,
          async importKeyMaterial(input) {
            if (input.keyId === a.keyId)
              throw new OrchestratorError(
                ErrorCode.KmsInvalidKeyMaterial,
                'KMS ImportKeyMaterial failed: InvalidKeyMaterial',
              );
            return base.kms.importKeyMaterial(input);
          },
        },
      };
      const r = await sweep(failing);
      const byKey = Object.fromEntries(
        r.results
          .filter((x) => x.action.kind === 'renew')
          .map((x) => [(x.action as { keyId: string }).keyId, x.outcome]),
      );
      expect(byKey).toEqual({ [a.keyId]: 'failed', [b.keyId]: 'ok' });
      expect(r.counts.failed).toBe(1);
    });
  });

  describe('invariant 9: the time budget', () => {
    it('defers every write when the deadline has passed, and the next run does the work', async () => {
      const r0 = await onboard(h.deps(), { alias: 'alias/inv-j' });
      h.advanceDays(25);
      const before = (await h.kms.describeKey(r0.keyId)).materialExpireAtMs;
      const late = await sweep(h.deps({ deadlineMs: h.nowMs() - 1 }));
      expect(late.results.map((x) => x.outcome)).toEqual(['deferred']);
      expect((await h.kms.describeKey(r0.keyId)).materialExpireAtMs).toBe(before);
      const next = await sweep(h.deps());
      expect(next.results.map((x) => [x.action.kind, x.outcome])).toEqual([['renew', 'ok']]);
    });
  });

  describe('invariant 2: escrow is never deleted', () => {
    it('offers no delete on the escrow backend', () => {
      // mirrorKeyTags writes one tag of metadata, never data or versions (test/unit/escrow/metadata-listing.test.ts).
      const methods = Object.keys(h.escrow).filter((k) => k !== 'mirrorKeyTags');
      expect(methods.sort()).toEqual(['backend', 'get', 'list', 'put']);
    });
  });
});
