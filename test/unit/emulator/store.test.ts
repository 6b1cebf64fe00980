import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { EmulatorErrorCode, KmsEmulatorError } from '../../../packages/kms-emulator/src/errors.js';
import {
  EmulatorStore,
  loadStateFile,
  saveStateFile,
  writeFileAtomic,
} from '../../../packages/kms-emulator/src/store.js';
import type { KeyRecord } from '../../../packages/kms-emulator/src/store.js';
import { OffsetClock } from '../../../packages/kms-emulator/src/clock.js';

const dir = mkdtempSync(join(tmpdir(), 'kms-emu-store-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function externalKey(overrides: Partial<KeyRecord> = {}): KeyRecord {
  return {
    keyId: randomUUID(),
    origin: 'EXTERNAL',
    keySpec: 'Aliyun_AES_256',
    keyUsage: 'ENCRYPT/DECRYPT',
    protectionLevel: 'SOFTWARE',
    description: '',
    creator: '1',
    creationUnix: 1000,
    state: 'Enabled',
    deleteUnix: null,
    material: Buffer.alloc(32, 7).toString('base64'),
    materialExpireUnix: 2000,
    boundFingerprint: 'ab',
    primaryKeyVersion: randomUUID(),
    versionCreationUnix: 1000,
    automaticRotation: 'Disabled',
    rotationIntervalSeconds: null,
    tags: [],
    ...overrides,
  };
}

describe('atomic state file', () => {
  it('writes with mode 0600 and leaves no temp file behind', () => {
    const path = join(dir, 'a', 'state.json');
    writeFileAtomic(path, '{"x":1}');
    writeFileAtomic(path, '{"x":2}');
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(readFileSync(path, 'utf8')).toBe('{"x":2}');
    expect(readdirSync(join(dir, 'a'))).toEqual(['state.json']);
  });

  it('round-trips a store, including the emulator secret used for fingerprints', () => {
    const store = EmulatorStore.create();
    const key = externalKey();
    store.putKey(key);
    store.aliases.set('alias/x', { aliasName: 'alias/x', keyId: key.keyId, creationUnix: 1 });
    const path = join(dir, 'round.json');
    saveStateFile(path, store.toPersisted(12_345));
    const doc = loadStateFile(path)!;
    expect(doc.clockOffsetMs).toBe(12_345);
    const again = EmulatorStore.fromPersisted(doc);
    expect(again.keys.get(key.keyId)).toEqual(key);
    expect(again.versionIndex.get(key.primaryKeyVersion)).toBe(key.keyId);
    expect(again.fingerprint(Buffer.from('m'))).toBe(store.fingerprint(Buffer.from('m')));
  });

  it('refuses a corrupt or foreign file with an InvalidStateFile error naming the file', () => {
    const path = join(dir, 'corrupt.json');
    writeFileSync(path, '{"format":"something-else"}');
    try {
      loadStateFile(path);
      expect.unreachable();
    } catch (err) {
      expect(err instanceof KmsEmulatorError && err.code === EmulatorErrorCode.InvalidStateFile).toBe(true);
      expect((err as Error).message).toContain(path);
    }
  });

  it('returns undefined when the file does not exist yet', () => {
    expect(loadStateFile(join(dir, 'missing.json'))).toBeUndefined();
  });
});

describe('lazy time-driven transitions (sweep)', () => {
  it('drops expired material and moves the key to PendingImport', () => {
    const store = EmulatorStore.create();
    const key = externalKey({ materialExpireUnix: 2000 });
    store.putKey(key);
    store.sweep(1999);
    expect(key.state).toBe('Enabled');
    store.sweep(2000);
    expect(key).toMatchObject({
      state: 'PendingImport',
      material: null,
      materialExpireUnix: 0,
      boundFingerprint: 'ab',
    });
  });

  it('keeps PendingDeletion when material expires', () => {
    const store = EmulatorStore.create();
    const key = externalKey({ state: 'PendingDeletion', deleteUnix: 9000 });
    store.putKey(key);
    store.sweep(2500);
    expect(key).toMatchObject({ state: 'PendingDeletion', material: null });
  });

  it('removes a key, its aliases and tokens once the deletion window ends', () => {
    const store = EmulatorStore.create();
    const key = externalKey({ state: 'PendingDeletion', deleteUnix: 3000, materialExpireUnix: 0 });
    store.putKey(key);
    store.aliases.set('alias/k', { aliasName: 'alias/k', keyId: key.keyId, creationUnix: 1 });
    store.importTokens.set('h', {
      tokenHash: 'h',
      keyId: key.keyId,
      wrappingAlgorithm: 'RSAES_OAEP_SHA_256',
      wrappingKeySpec: 'RSA_2048',
      privateKey: null,
      issuedUnix: 2900,
      expiresUnix: 2900 + 86_400,
    });
    store.sweep(3000);
    expect(store.keys.size).toBe(0);
    expect(store.aliases.size).toBe(0);
    expect(store.importTokens.size).toBe(0);
    expect(store.versionIndex.size).toBe(0);
  });

  it('forgets the private key of an expired import token but keeps the record for a while', () => {
    const store = EmulatorStore.create();
    store.importTokens.set('h', {
      tokenHash: 'h',
      keyId: 'k',
      wrappingAlgorithm: 'RSAES_OAEP_SHA_256',
      wrappingKeySpec: 'RSA_2048',
      privateKey: { spec: 'RSA_2048', pkcs8DerBase64: 'AA==' } as never,
      issuedUnix: 0,
      expiresUnix: 86_400,
    });
    store.sweep(86_400);
    expect(store.importTokens.get('h')?.privateKey).toBeNull();
    store.sweep(86_400 + 7 * 86_400);
    expect(store.importTokens.has('h')).toBe(false);
  });
});

describe('emulator clock', () => {
  it('runs with real time plus an offset that advance/set change', () => {
    let real = 1_000_000_000_000;
    let changes = 0;
    const clock = new OffsetClock(
      0,
      () => real,
      () => (changes += 1),
    );
    expect(clock.nowUnix()).toBe(1_000_000_000);
    real += 5000;
    expect(clock.nowUnix()).toBe(1_000_000_005);
    clock.advance(86_400);
    expect(clock.nowUnix()).toBe(1_000_086_405);
    clock.set(2_000_000_000);
    expect(clock.nowUnix()).toBe(2_000_000_000);
    expect(changes).toBe(2);
    expect(() => clock.advance(-1)).toThrow(RangeError);
  });
});
