import { createDecipheriv, createHash, randomBytes, randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  BLOB_IV_LENGTH,
  BLOB_TAG_LENGTH,
  BLOB_VERSION_ID_LENGTH,
  canonicalEncryptionContext,
  openBlob,
  parseBlob,
  parseEncryptionContext,
  sealBlob,
} from '../../../packages/kms-emulator/src/actions/crypto.js';
import { KmsApiError } from '../../../packages/kms-emulator/src/errors.js';
import { RequestParams } from '../../../packages/kms-emulator/src/params.js';
import type { KeyRecord } from '../../../packages/kms-emulator/src/store.js';

function key(material: Buffer, keySpec = 'Aliyun_AES_256'): KeyRecord {
  return {
    keyId: randomUUID(),
    origin: 'EXTERNAL',
    keySpec,
    keyUsage: 'ENCRYPT/DECRYPT',
    protectionLevel: 'SOFTWARE',
    description: '',
    creator: '1',
    creationUnix: 1,
    state: 'Enabled',
    deleteUnix: null,
    material: material.toString('base64'),
    materialExpireUnix: 0,
    boundFingerprint: null,
    primaryKeyVersion: randomUUID(),
    versionCreationUnix: 1,
    automaticRotation: 'Disabled',
    rotationIntervalSeconds: null,
    tags: [],
  };
}

function kmsCode(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    if (err instanceof KmsApiError) return err.kmsCode;
    throw err;
  }
  return undefined;
}

describe('CiphertextBlob format (docs/kms-api.md §2.11)', () => {
  it('is base64(KeyVersionId 36 ASCII ‖ IV 12 ‖ ciphertext ‖ tag 16)', () => {
    const k = key(randomBytes(32));
    const raw = Buffer.from(sealBlob(k, Buffer.from('hello'), {}), 'base64');
    expect(raw.subarray(0, 36).toString('ascii')).toBe(k.primaryKeyVersion);
    expect(raw.length).toBe(BLOB_VERSION_ID_LENGTH + BLOB_IV_LENGTH + 5 + BLOB_TAG_LENGTH);
  });

  it('is AES-256-GCM under the material with AAD = version id ‖ SHA-256(sorted context)', () => {
    const material = randomBytes(32);
    const k = key(material);
    const raw = Buffer.from(sealBlob(k, Buffer.from('payload'), { b: '2', a: '1' }), 'base64');
    const iv = raw.subarray(36, 48);
    const tag = raw.subarray(raw.length - 16);
    const decipher = createDecipheriv('aes-256-gcm', material, iv);
    decipher.setAAD(Buffer.concat([Buffer.from(k.primaryKeyVersion), createHash('sha256').update('a=1&b=2').digest()]));
    decipher.setAuthTag(tag);
    const pt = Buffer.concat([decipher.update(raw.subarray(48, raw.length - 16)), decipher.final()]);
    expect(pt.toString()).toBe('payload');
  });

  it('never opens under another CMK holding the same material, even with a doctored header', () => {
    const material = randomBytes(32);
    const a = key(material);
    const b = key(material);
    const raw = Buffer.from(sealBlob(a, Buffer.from('secret'), {}), 'base64');
    Buffer.from(b.primaryKeyVersion, 'ascii').copy(raw, 0);
    const doctored = parseBlob(raw.toString('base64'));
    expect(kmsCode(() => openBlob(b, doctored, {}))).toBe('InvalidParameter');
  });

  it('refuses a different EncryptionContext', () => {
    const k = key(randomBytes(32));
    const blob = parseBlob(sealBlob(k, Buffer.from('x'), { purpose: 'a' }));
    expect(openBlob(k, blob, { purpose: 'a' }).toString()).toBe('x');
    expect(kmsCode(() => openBlob(k, blob, { purpose: 'b' }))).toBe('InvalidParameter');
  });

  it('uses AES-128-GCM for 16-byte (SM4 stand-in) material', () => {
    const k = key(randomBytes(16), 'Aliyun_SM4');
    const blob = parseBlob(sealBlob(k, Buffer.from('sm4'), {}));
    expect(openBlob(k, blob, {}).toString()).toBe('sm4');
  });

  it('rejects non-base64 and too-short blobs with InvalidParameter', () => {
    expect(kmsCode(() => parseBlob('not base64!'))).toBe('InvalidParameter');
    expect(kmsCode(() => parseBlob(Buffer.alloc(63).toString('base64')))).toBe('InvalidParameter');
  });
});

describe('EncryptionContext', () => {
  const params = (o: Record<string, string>): RequestParams => new RequestParams(new Map(Object.entries(o)));

  it('sorts keys ascending for the canonical k=v&… string', () => {
    expect(canonicalEncryptionContext({ z: '1', a: '2', M: '3' })).toBe('M=3&a=2&z=1');
  });

  it('accepts the flattened v1.2.0 form', () => {
    expect(parseEncryptionContext(params({ 'EncryptionContext.b': '2', 'EncryptionContext.a': '1' }))).toEqual({
      a: '1',
      b: '2',
    });
  });

  it('accepts the JSON string form', () => {
    expect(parseEncryptionContext(params({ EncryptionContext: '{"a":"1","b":"2"}' }))).toEqual({ a: '1', b: '2' });
  });

  it('refuses both forms at once, arrays and non-string values', () => {
    expect(kmsCode(() => parseEncryptionContext(params({ EncryptionContext: '{}', 'EncryptionContext.a': '1' })))).toBe(
      'InvalidParameter',
    );
    expect(kmsCode(() => parseEncryptionContext(params({ EncryptionContext: '["a"]' })))).toBe('InvalidParameter');
    expect(kmsCode(() => parseEncryptionContext(params({ EncryptionContext: '{"a":1}' })))).toBe('InvalidParameter');
    expect(kmsCode(() => parseEncryptionContext(params({ EncryptionContext: '{' })))).toBe('InvalidParameter');
  });

  it('refuses a context longer than 8192 characters', () => {
    expect(
      kmsCode(() => parseEncryptionContext(params({ EncryptionContext: JSON.stringify({ a: 'x'.repeat(8200) }) }))),
    ).toBe('InvalidParameter');
  });
});
