/**
 * The one contract every EscrowStore backend must pass. Run by test/unit/escrow/file-store.test.ts
 * and test/integration/escrow/kms-secrets-store.test.ts with a factory for their backend.
 */
import { createHash, generateKeyPair } from 'node:crypto';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode, OrchestratorError } from '../../../shared/errors.js';
import { openBreakGlass } from '../../../shared/escrow/break-glass.js';
import { fingerprintMaterial } from '../../../shared/escrow/fingerprint.js';
import type { EscrowRecord, EscrowStore } from '../../../shared/escrow/store.js';
import { sharedInRun } from '../../support/run-shared.js';

/** What a backend's factory hands the contract. */
export interface EscrowContractSubject {
  store: EscrowStore;
  /** A second store instance over the same storage (a later process or invocation). */
  reopen(): Promise<EscrowStore>;
  /** Replaces the stored material of `keyId` by other bytes of the same length, keeping its recorded fingerprint. */
  corruptMaterial(keyId: string): Promise<void>;
  /** The stored break-glass blob (base64) of `keyId`, if any. */
  readBreakGlass(keyId: string): Promise<string | undefined>;
}

/** Builds a fresh, empty store of the backend under test. */
export type EscrowContractFactory = (options: { recoveryPublicKeyPem?: string }) => Promise<EscrowContractSubject>;

/** Deterministic test material `n` of `bytes` length (never used outside tests). */
export function testMaterial(n: number, bytes = 32): Buffer {
  return createHash('sha512').update(`escrow-contract-material-${n}`).digest().subarray(0, bytes);
}

/** A valid record for key `n` with material `m` (default n). */
export function testRecord(n: number, overrides: Partial<EscrowRecord> & { materialSeed?: number } = {}): EscrowRecord {
  const { materialSeed, ...rest } = overrides;
  const material = rest.material ?? testMaterial(materialSeed ?? n);
  return {
    keyId: `1234abcd-12ab-34cd-56ef-${n.toString().padStart(12, '0')}`,
    lineage: 'alias/payments',
    generation: n,
    keySpec: 'Aliyun_AES_256',
    fingerprint: fingerprintMaterial(material),
    createdAtMs: 1_700_000_000_000 + n,
    ...rest,
    material: Buffer.from(material),
  };
}

/**
 * One RSA-4096 recovery key pair per test run (Node's keygen, fresh each run; 2-5 s of CPU on a
 * 2-core machine, so every worker and file shares the one test/support/run-shared.ts makes).
 */
export function testRecoveryKey(): Promise<{ publicKey: string; privateKey: string }> {
  return sharedInRun('escrow-recovery-rsa4096', () =>
    promisify(generateKeyPair)('rsa', {
      modulusLength: 4096,
      publicKeyEncoding: { type: 'spki', format: 'pem' },
      privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    }),
  );
}

/** Rejects with an OrchestratorError and returns it. */
export async function rejection(promise: Promise<unknown>): Promise<OrchestratorError> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(OrchestratorError);
    return err as OrchestratorError;
  }
  throw new Error('expected a rejection');
}

/** Asserts that `err`'s message and JSON view mention none of `materials` in hex or base64. */
export function expectNoMaterialIn(err: OrchestratorError, materials: Buffer[]): void {
  const text = `${err.message}\n${JSON.stringify(err.toJSON())}\n${String(err.stack)}`;
  for (const m of materials) {
    expect(text).not.toContain(m.toString('hex'));
    expect(text).not.toContain(m.toString('base64'));
    expect(text).not.toContain(m.toString('base64url'));
  }
}

/** Registers the EscrowStore contract tests for one backend. */
export function escrowStoreContract(backend: string, factory: EscrowContractFactory): void {
  describe(`EscrowStore contract: ${backend}`, () => {
    it('returns from get exactly the record that was put', async () => {
      const { store } = await factory({});
      const record = testRecord(1);
      await store.put(record);
      const got = await store.get(record.keyId);
      expect({ ...got, material: got.material.toString('hex') }).toEqual({
        ...record,
        material: record.material.toString('hex'),
      });
    });

    it('names the stored version after the fingerprint and reports it as created', async () => {
      const { store } = await factory({});
      const record = testRecord(1);
      const result = await store.put(record);
      expect(result).toEqual({ version: record.fingerprint.replace('kcv1:', 'kcv1-'), created: true });
    });

    it('treats a repeated put of the same record as success with the existing version', async () => {
      const { store } = await factory({});
      const first = await store.put(testRecord(1));
      const second = await store.put(testRecord(1));
      expect(second).toEqual({ version: first.version, created: false });
    });

    it('keeps the first createdAtMs when the same material is put again later', async () => {
      const { store } = await factory({});
      const record = testRecord(1);
      await store.put(record);
      const retried = await store.put({ ...testRecord(1), createdAtMs: record.createdAtMs + 60_000 });
      expect(retried.created).toBe(false);
      expect((await store.get(record.keyId)).createdAtMs).toBe(record.createdAtMs);
    });

    it('rejects other material for a key id that has escrow with EscrowConflict', async () => {
      const { store } = await factory({});
      await store.put(testRecord(1));
      const err = await rejection(store.put(testRecord(1, { materialSeed: 99 })));
      expect(err.code).toBe(ErrorCode.EscrowConflict);
      expect(err.details.keyId).toBe(testRecord(1).keyId);
    });

    it('keeps the first material after a conflicting put', async () => {
      const { store } = await factory({});
      await store.put(testRecord(1));
      await rejection(store.put(testRecord(1, { materialSeed: 99 })));
      expect((await store.get(testRecord(1).keyId)).material.toString('hex')).toBe(testMaterial(1).toString('hex'));
    });

    it('rejects the same material under other metadata (lineage) with EscrowConflict', async () => {
      const { store } = await factory({});
      await store.put(testRecord(1));
      const err = await rejection(store.put(testRecord(1, { lineage: 'alias/other' })));
      expect(err.code).toBe(ErrorCode.EscrowConflict);
    });

    it('lets exactly one of two concurrent puts of different material win', async () => {
      const { store } = await factory({});
      const results = await Promise.allSettled([
        store.put(testRecord(1)),
        store.put(testRecord(1, { materialSeed: 99 })),
      ]);
      const won = results.filter((r) => r.status === 'fulfilled');
      const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
      expect(won).toHaveLength(1);
      expect(lost.map((r) => (r.reason as OrchestratorError).code)).toEqual([ErrorCode.EscrowConflict]);
      const stored = await store.get(testRecord(1).keyId);
      const winner = results[0]?.status === 'fulfilled' ? testMaterial(1) : testMaterial(99);
      expect(stored.material.toString('hex')).toBe(winner.toString('hex'));
    });

    it('treats two concurrent puts of the same record as one creation', async () => {
      const { store } = await factory({});
      const results = await Promise.all([store.put(testRecord(1)), store.put(testRecord(1))]);
      expect(results.map((r) => r.created).sort()).toEqual([false, true]);
    });

    it('rejects a record whose fingerprint is not its material with EscrowMismatch and stores nothing', async () => {
      const { store } = await factory({});
      const record = { ...testRecord(1), fingerprint: fingerprintMaterial(testMaterial(2)) };
      const err = await rejection(store.put(record));
      expect(err.code).toBe(ErrorCode.EscrowMismatch);
      expect((await rejection(store.get(record.keyId))).code).toBe(ErrorCode.EscrowNotFound);
    });

    it('rejects a key id that could escape the store (path or name separators) with InvalidInput', async () => {
      const { store } = await factory({});
      expect((await rejection(store.put(testRecord(1, { keyId: '../etc/passwd' })))).code).toBe(ErrorCode.InvalidInput);
      expect((await rejection(store.get('a/b'))).code).toBe(ErrorCode.InvalidInput);
    });

    it('rejects a generation below 1 with InvalidInput naming the field', async () => {
      const { store } = await factory({});
      const err = await rejection(store.put(testRecord(1, { generation: 0 })));
      expect([err.code, err.details.field]).toEqual([ErrorCode.InvalidInput, 'generation']);
    });

    it('answers get of an unknown key id with EscrowNotFound naming the key', async () => {
      const { store } = await factory({});
      const err = await rejection(store.get('1234abcd-12ab-34cd-56ef-000000000404'));
      expect([err.code, err.details.keyId]).toEqual([ErrorCode.EscrowNotFound, '1234abcd-12ab-34cd-56ef-000000000404']);
    });

    it('reports material that no longer matches its recorded fingerprint as EscrowCorrupt', async () => {
      const subject = await factory({});
      await subject.store.put(testRecord(1));
      await subject.corruptMaterial(testRecord(1).keyId);
      const err = await rejection(subject.store.get(testRecord(1).keyId));
      expect(err.code).toBe(ErrorCode.EscrowCorrupt);
    });

    it('refuses to put over a corrupt record (EscrowCorrupt, not a silent repair)', async () => {
      const subject = await factory({});
      await subject.store.put(testRecord(1));
      await subject.corruptMaterial(testRecord(1).keyId);
      expect((await rejection(subject.store.put(testRecord(1)))).code).toBe(ErrorCode.EscrowCorrupt);
    });

    it('lists summaries sorted by key id, without material', async () => {
      const { store } = await factory({});
      await store.put(testRecord(2));
      await store.put(testRecord(1));
      const listing = await store.list();
      expect(listing).toEqual({
        records: [1, 2].map((n) => {
          const { material: _m, ...meta } = testRecord(n);
          return { ...meta, version: meta.fingerprint.replace(':', '-') };
        }),
        unreadable: [],
      });
    });

    it('lists an empty store as no records', async () => {
      const { store } = await factory({});
      expect(await store.list()).toEqual({ records: [], unreadable: [] });
    });

    it('lists a corrupt record as unreadable and still lists the others', async () => {
      const subject = await factory({});
      await subject.store.put(testRecord(1));
      await subject.store.put(testRecord(2));
      await subject.corruptMaterial(testRecord(1).keyId);
      // A deep listing reads every record back (kms-secrets otherwise summarises from metadata).
      const listing = await subject.store.list({ deepVerify: () => true });
      expect(listing.records.map((r) => r.keyId)).toEqual([testRecord(2).keyId]);
      expect(listing.unreadable).toEqual([{ keyId: testRecord(1).keyId, code: ErrorCode.EscrowCorrupt }]);
    });

    it('keeps records across store instances', async () => {
      const subject = await factory({});
      await subject.store.put(testRecord(1));
      const again = await subject.reopen();
      expect((await again.get(testRecord(1).keyId)).fingerprint).toBe(testRecord(1).fingerprint);
    });

    it('offers no way to delete or overwrite escrow (put, get, list, and a metadata-only tag mirror)', async () => {
      const { store } = await factory({});
      // mirrorKeyTags writes one tag of metadata, never data or versions (kms-secrets-store.test.ts).
      const methods = Object.keys(store).filter((k) => k !== 'mirrorKeyTags');
      expect(methods.sort()).toEqual(['backend', 'get', 'list', 'put']);
    });

    it('keeps material out of conflict, mismatch and corruption errors', async () => {
      const subject = await factory({});
      const materials = [testMaterial(1), testMaterial(99)];
      await subject.store.put(testRecord(1));
      const conflict = await rejection(subject.store.put(testRecord(1, { materialSeed: 99 })));
      const mismatch = await rejection(
        subject.store.put({ ...testRecord(3, { materialSeed: 99 }), fingerprint: testRecord(1).fingerprint }),
      );
      await subject.corruptMaterial(testRecord(1).keyId);
      const corrupt = await rejection(subject.store.get(testRecord(1).keyId));
      expect([conflict.code, mismatch.code, corrupt.code]).toEqual([
        ErrorCode.EscrowConflict,
        ErrorCode.EscrowMismatch,
        ErrorCode.EscrowCorrupt,
      ]);
      for (const err of [conflict, mismatch, corrupt]) expectNoMaterialIn(err, materials);
    });

    describe('with a recovery key (break-glass)', () => {
      let recovery: { publicKey: string; privateKey: string };
      beforeAll(async () => {
        recovery = await testRecoveryKey();
      });

      it('stores a break-glass blob that the recovery private key opens to the material', async () => {
        const subject = await factory({ recoveryPublicKeyPem: recovery.publicKey });
        await subject.store.put(testRecord(1));
        const blob = await subject.readBreakGlass(testRecord(1).keyId);
        const opened = openBreakGlass(recovery.privateKey, blob ?? '');
        expect({ ...opened, material: opened.material.toString('hex') }).toEqual({
          keyId: testRecord(1).keyId,
          fingerprint: testRecord(1).fingerprint,
          material: testMaterial(1).toString('hex'),
        });
      });

      it('stores no break-glass blob without a recovery key', async () => {
        const subject = await factory({});
        await subject.store.put(testRecord(1));
        expect(await subject.readBreakGlass(testRecord(1).keyId)).toBeUndefined();
      });

      it('rejects a recovery key smaller than 4096 bits with InvalidConfig', async () => {
        const small = await promisify(generateKeyPair)('rsa', {
          modulusLength: 2048,
          publicKeyEncoding: { type: 'spki', format: 'pem' },
          privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
        });
        const err = await rejection(factory({ recoveryPublicKeyPem: small.publicKey }));
        expect([err.code, err.details.field]).toEqual([ErrorCode.InvalidConfig, 'recoveryPublicKeyPem']);
      });
    });
  });
}
