/**
 * The emulator's seeding by cloning (packages/kms-emulator/src/seed.ts, used by `npm run bench`):
 * clones of a lineage the engine onboarded must be lineages the engine itself finds healthy, each
 * with its own material (escrow record, key tags and the key's bound material agree), and a repair
 * of a clone must re-import its own material.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AdminInputError, EmulatorErrorCode } from '@byok/kms-emulator';
import { fingerprintMaterial } from '../../../shared/escrow/fingerprint.js';
import { checkTarget, onboard, sweep } from '../../../shared/lifecycle/engine.js';
import { Tag } from '../../../shared/lifecycle/model.js';
import { type Harness, startHarness } from '../../support/engine-harness.js';

describe('emu.seed.cloneTemplate', () => {
  let h: Harness;
  let templateKeyId: string;
  const materials = [randomBytes(32), randomBytes(32)];
  let report: ReturnType<Harness['emu']['seed']['cloneTemplate']>;

  beforeAll(async () => {
    h = await startHarness({ escrow: 'kms-secrets' });
    await onboard(h.deps(), { alias: 'alias/seed-tpl' });
    templateKeyId = (await h.kms.describeKey('alias/seed-tpl')).keyId;
    const record = await h.escrow.get(templateKeyId);
    const templateMaterial = record.material.toString('base64');
    const templateKcv = record.fingerprint.replace('kcv1:', '');
    report = h.emu.seed.cloneTemplate({
      token: 'seed-tpl',
      clones: materials.map((m, i) => ({
        replace: [
          ['seed-tpl', `seed-c${i}`],
          [templateMaterial, m.toString('base64')],
          [templateKcv, fingerprintMaterial(m).replace('kcv1:', '')],
        ],
        materials: { [templateKeyId]: m.toString('base64') },
      })),
    });
  });
  afterAll(async () => {
    await h.close();
  });

  it('gives each clone a new key, its alias, its tags and an escrow record of its own material', async () => {
    expect(report.templateKeyIds).toEqual([templateKeyId]);
    expect(report.aliases).toBe(2);
    for (const [i, m] of materials.entries()) {
      const key = await h.kms.describeKey(`alias/seed-c${i}`);
      expect(key.keyId).toBe(report.keyIds[i]![templateKeyId]);
      expect(key.keyId).not.toBe(templateKeyId);
      const tags = await h.kms.listResourceTags(key.keyId);
      expect(tags[Tag.Lineage]).toBe(`seed-c${i}`);
      expect(tags[Tag.Fingerprint]).toBe(fingerprintMaterial(m));
      const record = await h.escrow.get(key.keyId);
      expect(record.lineage).toBe(`seed-c${i}`);
      expect(record.fingerprint).toBe(fingerprintMaterial(m));
      expect(record.material.equals(m)).toBe(true);
    }
  });

  it('leaves an account the engine finds healthy: the sweep plans nothing', async () => {
    const result = await sweep(h.deps());
    expect(result.plan.actions).toEqual([]);
  });

  it("binds the clone's own material: its material deleted out of band is re-imported from its escrow", async () => {
    const keyId = report.keyIds[1]![templateKeyId]!;
    await h.kms.deleteKeyMaterial(keyId);
    const result = await checkTarget(h.deps(), { keyId });
    expect(result.results.map((r) => [r.action.kind, r.outcome])).toEqual([['reimport', 'ok']]);
    expect((await h.kms.describeKey(keyId)).keyState).toBe('Enabled');
  });

  it('refuses a token no key carries, naming the field', () => {
    let caught: unknown;
    try {
      h.emu.seed.cloneTemplate({ token: 'no-such-lineage', clones: [{ replace: [] }] });
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(AdminInputError);
    expect((caught as AdminInputError).code).toBe(EmulatorErrorCode.InvalidInput);
    expect((caught as Error).message).toMatch(/^token: /);
  });
});
