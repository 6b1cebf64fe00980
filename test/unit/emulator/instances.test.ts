import { describe, expect, it } from 'vitest';
import { secretActions } from '../../../packages/kms-emulator/src/actions/secrets.js';
import { FaultInjector, SECRETS_MANAGER_ACTIONS } from '../../../packages/kms-emulator/src/faults.js';
import {
  INSTANCE_ID_RE,
  INSTANCE_KEY_ID_RE,
  newInstanceId,
  newInstanceKeyId,
  parseAdminInstanceBody,
  parseInstanceFlag,
  regionCode,
} from '../../../packages/kms-emulator/src/instances.js';
import { parsePersistedState } from '../../../packages/kms-emulator/src/store.js';

describe('instance ids', () => {
  it('accepts the documented shapes and refuses others', () => {
    for (const id of ['kst-bjj62d8f5e0sgtx8habcd', 'kst-phzz64c9f84eo32dbsabcd', 'kst-hzz6651c7d1xxxxxx'])
      expect(INSTANCE_ID_RE.test(id)).toBe(true);
    for (const id of [
      'kst-',
      'kst-HZZ62d8f5e0sgtx8habcd',
      'key-hzz62d8f5e0sgtx8habcd',
      'kst-hzz62d8f5e0sgtx8h****',
      'kst-hzzxyzxyzxy0sgtx8habcd',
    ]) {
      expect(INSTANCE_ID_RE.test(id)).toBe(false);
    }
  });

  it('generates ids in the same shape: region code, creation time in hex, random tail', () => {
    const id = newInstanceId('cn-beijing', 0x65f176a0);
    expect(id).toMatch(/^kst-bjj65f176a0[0-9a-z]{10}$/);
    expect(INSTANCE_ID_RE.test(id)).toBe(true);
    const keyId = newInstanceKeyId(id, 0x66000000);
    expect(keyId).toMatch(/^key-bjj66000000[0-9a-z]{10}$/);
    expect(INSTANCE_KEY_ID_RE.test(keyId)).toBe(true);
    expect(newInstanceKeyId(id, 0x66000000)).not.toBe(keyId);
    expect([regionCode('cn-hangzhou'), regionCode('eu-central-1'), regionCode('us-west-1')]).toEqual([
      'hzz',
      'cen',
      'wes',
    ]);
  });
});

describe('instance specs', () => {
  it('parses the CLI form <id>:<type>[:no-shared-gateway]', () => {
    expect(parseInstanceFlag('kst-hzz65f176a0aaaaaaaaaa:hardware')).toEqual({
      id: 'kst-hzz65f176a0aaaaaaaaaa',
      type: 'hardware',
      sharedGateway: true,
    });
    expect(parseInstanceFlag('kst-hzz65f176a0aaaaaaaaaa:software:no-shared-gateway')).toMatchObject({
      sharedGateway: false,
    });
    expect(() => parseInstanceFlag('kst-hzz65f176a0aaaaaaaaaa:software:x:y')).toThrow(/the options are/);
    expect(() => parseInstanceFlag('kst-hzz65f176a0aaaaaaaaaa')).toThrow(/--instance must be/);
  });

  it('takes the key and secret quantities in the CLI form and the admin body, as positive integers', () => {
    const id = 'kst-hzz65f176a0aaaaaaaaaa';
    expect(parseInstanceFlag(`${id}:software:keys=4000:no-shared-gateway:secrets=3500`)).toEqual({
      id,
      type: 'software',
      sharedGateway: false,
      keyQuota: 4000,
      secretQuota: 3500,
    });
    expect(parseInstanceFlag(`${id}:hardware:secrets=7`)).toEqual({
      id,
      type: 'hardware',
      sharedGateway: true,
      secretQuota: 7,
    });
    for (const bad of ['keys=0', 'keys=-1', 'keys=1e3', 'keys=', 'secrets=9999999', 'vpc=2']) {
      expect(() => parseInstanceFlag(`${id}:software:${bad}`), bad).toThrow(/keys=|secrets=|the options are/);
    }
    expect(() => parseInstanceFlag(`${id}:software:keys=5:keys=6`)).toThrow(/"keys" is given twice/);
    expect(parseAdminInstanceBody({ id, type: 'software', keyQuota: 2000, secretQuota: 10 })).toEqual({
      id,
      type: 'software',
      keyQuota: 2000,
      secretQuota: 10,
    });
    expect(() => parseAdminInstanceBody({ id, type: 'software', keyQuota: '2000' })).toThrow(/"keyQuota"/);
    expect(() => parseAdminInstanceBody({ id, type: 'software', secretQuota: 1_000_001 })).toThrow(/"secretQuota"/);
  });

  it('parses the admin body, endDate as ISO 8601', () => {
    expect(
      parseAdminInstanceBody({ id: 'kst-hzz65f176a0aaaaaaaaaa', type: 'software', endDate: '2030-01-01T00:00:00Z' }),
    ).toEqual({
      id: 'kst-hzz65f176a0aaaaaaaaaa',
      type: 'software',
      endUnix: 1_893_456_000,
    });
    expect(
      parseAdminInstanceBody({ id: 'kst-hzz65f176a0aaaaaaaaaa', type: 'software', endDate: '2030-01-01' }).endUnix,
    ).toBe(1_893_456_000);
    expect(() =>
      parseAdminInstanceBody({ id: 'kst-hzz65f176a0aaaaaaaaaa', type: 'software', endDate: 1_893_456_000 }),
    ).toThrow(/"endDate"/);
  });
});

describe('Secrets Manager throttling', () => {
  it('lists exactly the emulated Secrets Manager actions', () => {
    expect([...SECRETS_MANAGER_ACTIONS].sort()).toEqual(Object.keys(secretActions).sort());
  });

  it('answers Rejected.Throttling for secret actions and Throttling for key actions', () => {
    const faults = new FaultInjector(1);
    faults.inject({ kind: 'throttle' });
    expect(faults.decide('GetSecretValue').error).toBe('Rejected.Throttling');
    expect(faults.decide('Encrypt').error).toBe('Throttling');
  });
});

describe('state file format', () => {
  const base = {
    format: 'byok-kms-emulator-state',
    emulatorSecret: Buffer.alloc(32).toString('base64'),
    clockOffsetMs: 0,
    serviceKeyId: null,
    keys: [],
    aliases: [],
    importTokens: [],
    secrets: [],
  };

  it('loads version 1 (no instances) and version 2; refuses a malformed version 2', () => {
    expect(parsePersistedState({ ...base, version: 1 }, 'f').version).toBe(1);
    expect(parsePersistedState({ ...base, version: 2, kmsVersion: 3, instances: [] }, 'f').kmsVersion).toBe(3);
    expect(() => parsePersistedState({ ...base, version: 2, kmsVersion: 2, instances: [] }, 'f')).toThrow(/kmsVersion/);
    expect(() =>
      parsePersistedState({ ...base, version: 2, kmsVersion: 3, instances: [{ instanceId: 'x' }] }, 'f'),
    ).toThrow(/instance record/);
    const instance = { instanceId: 'kst-hzz65f176a0aaaaaaaaaa', type: 'software', endUnix: 1 };
    const withQuota = { ...base, version: 2, kmsVersion: 3, instances: [{ ...instance, keyQuota: 5 }] };
    expect(parsePersistedState(withQuota, 'f').instances?.[0]?.keyQuota).toBe(5);
    expect(() =>
      parsePersistedState({ ...base, version: 2, kmsVersion: 3, instances: [{ ...instance, secretQuota: 0 }] }, 'f'),
    ).toThrow(/"secretQuota"/);
    expect(() => parsePersistedState({ ...base, version: 3 }, 'f')).toThrow(/version/);
  });
});
