/**
 * The emulator's time-driven transitions come from a schedule (a min-heap of due times), not from a
 * scan of every record on each request: these tests pin the behaviour a full scan had, including
 * deadlines set, moved or cleared after a record was stored, and that a sweep with nothing due is
 * cheap however many records there are.
 */
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  EmulatorStore,
  INSTANCE_RELEASE_AFTER_EXPIRY_SECONDS,
  type KeyRecord,
  type SecretRecord,
} from '../../../packages/kms-emulator/src/store.js';

function key(overrides: Partial<KeyRecord> = {}): KeyRecord {
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
    materialExpireUnix: 0,
    boundFingerprint: 'ab',
    primaryKeyVersion: randomUUID(),
    versionCreationUnix: 1000,
    automaticRotation: 'Disabled',
    rotationIntervalSeconds: null,
    tags: [],
    ...overrides,
  };
}

function secret(name: string, overrides: Partial<SecretRecord> = {}): SecretRecord {
  return {
    secretName: name,
    encryptionKeyId: 'k',
    description: '',
    createUnix: 1000,
    updateUnix: 1000,
    plannedDeleteUnix: null,
    tags: [],
    versions: [],
    ...overrides,
  };
}

describe('scheduled time-driven transitions', () => {
  it('applies a deadline set on a stored key once it is watched', () => {
    const store = EmulatorStore.create();
    const k = key();
    store.putKey(k);
    k.materialExpireUnix = 5000;
    store.watchKey(k.keyId);
    store.sweep(4999);
    expect(k.state).toBe('Enabled');
    store.sweep(5000);
    expect(k).toMatchObject({ state: 'PendingImport', material: null, materialExpireUnix: 0 });
  });

  it('follows a deadline moved later, and ignores one cleared', () => {
    const store = EmulatorStore.create();
    const moved = key({ state: 'PendingDeletion', deleteUnix: 1000 });
    const cleared = key({ state: 'PendingDeletion', deleteUnix: 1000 });
    store.putKey(moved);
    store.putKey(cleared);
    moved.deleteUnix = 3000;
    store.watchKey(moved.keyId);
    cleared.state = 'Enabled';
    cleared.deleteUnix = null;
    store.sweep(2000);
    expect(store.keys.has(moved.keyId)).toBe(true);
    expect(store.keys.has(cleared.keyId)).toBe(true);
    store.sweep(3000);
    expect(store.keys.has(moved.keyId)).toBe(false);
    expect(store.keys.has(cleared.keyId)).toBe(true);
  });

  it('expires material first and deletes the key later when both are due at different times', () => {
    const store = EmulatorStore.create();
    const k = key({ state: 'PendingDeletion', deleteUnix: 9000, materialExpireUnix: 2000 });
    store.putKey(k);
    store.sweep(2500);
    expect(k).toMatchObject({ state: 'PendingDeletion', material: null });
    store.sweep(8999);
    expect(store.keys.has(k.keyId)).toBe(true);
    store.sweep(9000);
    expect(store.keys.has(k.keyId)).toBe(false);
  });

  it('purges a secret at the end of its recovery window, also when scheduled after it was stored', () => {
    const store = EmulatorStore.create();
    store.secrets.set('a', secret('a', { plannedDeleteUnix: 4000 }));
    const b = secret('b');
    store.secrets.set('b', b);
    b.plannedDeleteUnix = 6000;
    store.watchSecret('b');
    store.sweep(3999);
    expect([...store.secrets.keys()]).toEqual(['a', 'b']);
    store.sweep(4000);
    expect([...store.secrets.keys()]).toEqual(['b']);
    store.sweep(6000);
    expect(store.secrets.size).toBe(0);
  });

  it('releases an instance 15 days after its end date, with its keys', () => {
    const store = EmulatorStore.create();
    const id = 'kst-hzz65f176a0dueaaaaa01';
    store.instances.set(id, {
      instanceId: id,
      type: 'software',
      sharedGateway: true,
      createUnix: 0,
      startUnix: 0,
      endUnix: 10_000,
      releasedUnix: null,
    });
    const k = key({ dkmsInstanceId: id });
    store.putKey(k);
    store.sweep(10_000 + INSTANCE_RELEASE_AFTER_EXPIRY_SECONDS - 1);
    expect(store.instances.get(id)?.releasedUnix).toBeNull();
    store.sweep(10_000 + INSTANCE_RELEASE_AFTER_EXPIRY_SECONDS);
    expect(store.instances.get(id)?.releasedUnix).toBe(10_000 + INSTANCE_RELEASE_AFTER_EXPIRY_SECONDS);
    expect(store.keys.has(k.keyId)).toBe(false);
  });

  it('does not scan every record when nothing is due', () => {
    const store = EmulatorStore.create();
    for (let i = 0; i < 20_000; i++) store.putKey(key({ materialExpireUnix: 1_000_000 + i }));
    // A sweep with nothing due must not walk the records: make any walk of the maps throw.
    const maps = [store.keys, store.secrets, store.importTokens] as Map<string, unknown>[];
    const walked: string[] = [];
    for (const m of maps) {
      for (const method of ['values', 'entries', 'keys', 'forEach', Symbol.iterator] as const) {
        const original = (m as unknown as Record<PropertyKey, unknown>)[method] as (...a: unknown[]) => unknown;
        (m as unknown as Record<PropertyKey, unknown>)[method] = (...args: unknown[]) => {
          walked.push(String(method));
          return original.apply(m, args);
        };
      }
    }
    for (let now = 0; now < 20_000; now++) store.sweep(now);
    expect(walked).toEqual([]);
    store.sweep(1_000_000 + 9_999);
    expect([...store.keys.values()].filter((k) => k.state === 'PendingImport')).toHaveLength(10_000);
  });
});
