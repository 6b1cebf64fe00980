import { describe, expect, it } from 'vitest';
import { ALIAS_NAME_RE } from '../../../packages/kms-emulator/src/actions/aliases.js';
import { parseMaterialExpiry } from '../../../packages/kms-emulator/src/actions/import.js';
import { parseRotationInterval } from '../../../packages/kms-emulator/src/actions/keys.js';
import { SECRET_NAME_RE, parseVersionStages } from '../../../packages/kms-emulator/src/actions/secrets.js';
import { parseTagKeys, parseTags } from '../../../packages/kms-emulator/src/actions/tags.js';
import { parseClockRequest } from '../../../packages/kms-emulator/src/admin.js';
import { KmsApiError } from '../../../packages/kms-emulator/src/errors.js';
import {
  AdminInputError,
  FaultInjector,
  parseFaultRequest,
  parseQpsRequest,
} from '../../../packages/kms-emulator/src/faults.js';
import { RequestParams } from '../../../packages/kms-emulator/src/params.js';
import { decodeParams } from '../../../packages/kms-emulator/src/protocol.js';

function kmsCode(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    if (err instanceof KmsApiError) return err.kmsCode;
    throw err;
  }
  return undefined;
}

function adminReason(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    if (err instanceof AdminInputError) return err.message;
    throw err;
  }
  return undefined;
}

describe('alias names (docs/kms-api.md §4.3)', () => {
  it.each(['alias/payments', 'alias/a', 'alias/Team_1/db-key', `alias/${'x'.repeat(249)}`])('accepts %s', (name) => {
    expect(ALIAS_NAME_RE.test(name)).toBe(true);
  });
  it.each([
    'payments',
    'alias/',
    'alias/acs',
    'alias/acsKey',
    'alias/with space',
    'alias/dot.ted',
    `alias/${'x'.repeat(250)}`,
  ])('refuses %s', (name) => {
    expect(ALIAS_NAME_RE.test(name)).toBe(false);
  });
});

describe('tags (docs/kms-api.md §2.10)', () => {
  it('parses the Tags JSON string, later duplicates winning', () => {
    expect(
      parseTags('[{"TagKey":"a","TagValue":"1"},{"TagKey":"b","TagValue":""},{"TagKey":"a","TagValue":"3"}]'),
    ).toEqual([
      { key: 'a', value: '3' },
      { key: 'b', value: '' },
    ]);
  });

  it.each([
    ['not JSON', '{'],
    ['an object', '{"TagKey":"a","TagValue":"1"}'],
    ['a non-string value', '[{"TagKey":"a","TagValue":1}]'],
    ['the aliyun prefix', '[{"TagKey":"aliyunX","TagValue":"1"}]'],
    ['the acs: prefix', '[{"TagKey":"acs:x","TagValue":"1"}]'],
    ['an empty key', '[{"TagKey":"","TagValue":"1"}]'],
    ['a 129-char key', `[{"TagKey":"${'k'.repeat(129)}","TagValue":"1"}]`],
    ['a space in the key', '[{"TagKey":"a b","TagValue":"1"}]'],
  ])('refuses %s with InvalidParameter', (_what, text) => {
    expect(kmsCode(() => parseTags(text))).toBe('InvalidParameter');
  });

  it('refuses more tags than the limit with Rejected.LimitExceeded', () => {
    const many = JSON.stringify(Array.from({ length: 11 }, (_, i) => ({ TagKey: `k${i}`, TagValue: 'v' })));
    expect(kmsCode(() => parseTags(many, 'Tags', 10))).toBe('Rejected.LimitExceeded');
  });

  it('reads TagKeys as a JSON array or a comma list', () => {
    expect(parseTagKeys('["a","b"]')).toEqual(['a', 'b']);
    expect(parseTagKeys('a, b,c')).toEqual(['a', 'b', 'c']);
    expect(kmsCode(() => parseTagKeys('[1]'))).toBe('InvalidParameter');
    expect(kmsCode(() => parseTagKeys('a,,b'))).toBe('InvalidParameter');
  });
});

describe('KeyMaterialExpireUnix (docs/kms-api.md §2.5)', () => {
  it('treats absent, empty and 0 as "never"', () => {
    expect(parseMaterialExpiry(undefined, 100)).toBe(0);
    expect(parseMaterialExpiry('', 100)).toBe(0);
    expect(parseMaterialExpiry('0', 100)).toBe(0);
  });
  it('accepts a future time and refuses now, the past and non-numbers', () => {
    expect(parseMaterialExpiry('101', 100)).toBe(101);
    expect(kmsCode(() => parseMaterialExpiry('100', 100))).toBe('InvalidParameter');
    expect(kmsCode(() => parseMaterialExpiry('99', 100))).toBe('InvalidParameter');
    expect(kmsCode(() => parseMaterialExpiry('-5', 100))).toBe('InvalidParameter');
    expect(kmsCode(() => parseMaterialExpiry('1e9', 100))).toBe('InvalidParameter');
  });
});

describe('RotationInterval', () => {
  it('converts d/h/m/s to seconds within 7-730 days', () => {
    expect(parseRotationInterval('365d')).toBe(31_536_000);
    expect(parseRotationInterval('604800s')).toBe(604_800);
    expect(kmsCode(() => parseRotationInterval('6d'))).toBe('InvalidParameter');
    expect(kmsCode(() => parseRotationInterval('731d'))).toBe('InvalidParameter');
    expect(kmsCode(() => parseRotationInterval('1y'))).toBe('InvalidParameter');
  });
});

describe('secrets parsing', () => {
  it('accepts both VersionStages forms and defaults to ACSCurrent', () => {
    expect(parseVersionStages(undefined)).toEqual(['ACSCurrent']);
    expect(parseVersionStages('["ACSCurrent","ACSNext"]')).toEqual(['ACSCurrent', 'ACSNext']);
    expect(parseVersionStages('{"VersionStage":["ACSNext"]}')).toEqual(['ACSNext']);
    expect(kmsCode(() => parseVersionStages('[]'))).toBe('InvalidParameter');
  });
  it('validates secret names', () => {
    expect(SECRET_NAME_RE.test('escrow/payments/gen-1@x+y=z.v')).toBe(true);
    expect(SECRET_NAME_RE.test('acs/ram/user')).toBe(false);
    expect(SECRET_NAME_RE.test('has space')).toBe(false);
    expect(SECRET_NAME_RE.test('x'.repeat(193))).toBe(false);
  });
});

describe('request parameters', () => {
  it('merges query and form body', () => {
    const decoded = decodeParams('/?Action=A&X=1', 'application/x-www-form-urlencoded', Buffer.from('Y=2%2B3&Z=a+b'));
    expect(Object.fromEntries(decoded)).toEqual({ Action: 'A', X: '1', Y: '2+3', Z: 'a b' });
  });
  it('refuses a parameter sent twice (ambiguous signed set)', () => {
    expect(kmsCode(() => decodeParams('/?X=1&X=2', undefined, Buffer.alloc(0)))).toBe('ParseRequestParameterException');
    expect(kmsCode(() => decodeParams('/?X=1', 'application/x-www-form-urlencoded', Buffer.from('X=2')))).toBe(
      'ParseRequestParameterException',
    );
  });
  it('reads integers and booleans with MissingParameter/InvalidParameter', () => {
    const p = new RequestParams(new Map(Object.entries({ N: '12', B: 'TRUE', Bad: '1.5', Empty: '' })));
    expect(p.int('N', { min: 1, max: 100 })).toBe(12);
    expect(p.int('Empty', { min: 1, max: 100 }, 7)).toBe(7);
    expect(kmsCode(() => p.int('N', { min: 1, max: 10 }))).toBe('InvalidParameter');
    expect(kmsCode(() => p.int('Bad', { min: 1, max: 10 }))).toBe('InvalidParameter');
    expect(p.bool('B', false)).toBe(true);
    expect(kmsCode(() => p.required('Empty'))).toBe('MissingParameter');
  });
});

describe('admin bodies', () => {
  const known = new Set(['Encrypt', 'Decrypt']);
  it('validates fault requests with a reason', () => {
    expect(parseFaultRequest({ kind: 'throttle', rate: 0.5, actions: ['Encrypt'], count: 2 }, known)).toEqual({
      kind: 'throttle',
      rate: 0.5,
      actions: ['Encrypt'],
      count: 2,
    });
    expect(adminReason(() => parseFaultRequest({ kind: 'explode' }, known))).toContain('"kind"');
    expect(adminReason(() => parseFaultRequest({ kind: 'throttle', rate: 2 }, known))).toContain('"rate"');
    expect(adminReason(() => parseFaultRequest({ kind: 'throttle', actions: ['Nope'] }, known))).toContain('Nope');
    expect(adminReason(() => parseFaultRequest({ kind: 'throttle', count: 0 }, known))).toContain('"count"');
    expect(adminReason(() => parseFaultRequest({ kind: 'latency' }, known))).toContain('"latencyMs"');
    expect(adminReason(() => parseFaultRequest({ kind: 'throttle', extra: 1 }, known))).toContain('extra');
    expect(adminReason(() => parseFaultRequest([], known))).toContain('JSON object');
  });
  it('validates clock and qps requests', () => {
    expect(parseClockRequest({ advanceSeconds: 60 })).toEqual({ advanceSeconds: 60 });
    expect(parseClockRequest({ setUnix: 1_900_000_000 })).toEqual({ setUnix: 1_900_000_000 });
    expect(adminReason(() => parseClockRequest({ advanceSeconds: 1, setUnix: 2 }))).toContain('exactly one');
    expect(adminReason(() => parseClockRequest({ advanceSeconds: -1 }))).toContain('non-negative');
    expect(parseQpsRequest({ limit: 5 })).toBe(5);
    expect(parseQpsRequest({})).toBe(0);
    expect(adminReason(() => parseQpsRequest({ limit: 1.5 }))).toContain('"limit"');
  });
});

describe('fault injector', () => {
  it('affects exactly `count` requests, then the rule disappears', () => {
    const f = new FaultInjector(1);
    f.inject({ kind: 'error5xx', count: 2 });
    expect([f.decide('Encrypt').error, f.decide('Encrypt').error, f.decide('Encrypt').error]).toEqual([
      'ServiceUnavailableTemporary',
      'ServiceUnavailableTemporary',
      null,
    ]);
    expect(f.active()).toEqual([]);
  });

  it('only affects the listed actions', () => {
    const f = new FaultInjector(1);
    f.inject({ kind: 'throttle', actions: ['Decrypt'] });
    expect(f.decide('Encrypt').error).toBeNull();
    expect(f.decide('Decrypt').error).toBe('Throttling');
  });

  it('draws the rate from the (seeded) generator: rate 0.3 hits roughly 30%', () => {
    const f = new FaultInjector(42);
    f.inject({ kind: 'throttle', rate: 0.3 });
    let hits = 0;
    for (let i = 0; i < 2000; i += 1) if (f.decide('Encrypt').error !== null) hits += 1;
    expect(hits).toBeGreaterThan(500);
    expect(hits).toBeLessThan(700);
  });

  it('adds up latency rules', () => {
    const f = new FaultInjector(undefined);
    f.inject({ kind: 'latency', latencyMs: 20 });
    f.inject({ kind: 'latency', latencyMs: 30, count: 1 });
    expect(f.decide('Encrypt')).toEqual({ latencyMs: 50, error: null });
    expect(f.decide('Encrypt')).toEqual({ latencyMs: 20, error: null });
  });

  it('enforces the QPS token bucket against the (fake) real clock', () => {
    let now = 1_000_000;
    const f = new FaultInjector(undefined, () => now);
    f.setQpsLimit(2);
    expect([f.decide('A').error, f.decide('A').error, f.decide('A').error]).toEqual([null, null, 'Throttling']);
    now += 500; // half a second refills one token
    expect([f.decide('A').error, f.decide('A').error]).toEqual([null, 'Throttling']);
    f.setQpsLimit(0);
    expect(f.decide('A').error).toBeNull();
  });
});
