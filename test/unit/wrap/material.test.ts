import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../../shared/errors.js';
import { KeySpec, generateKeyMaterial, materialLengthFor, validateKeyMaterial } from '../../../shared/wrap/index.js';
import { countingRandom, thrown } from './helpers.js';

describe('generateKeyMaterial', () => {
  it('draws exactly the material from the injected RandomSource', () => {
    const random = countingRandom();
    const material = generateKeyMaterial(KeySpec.Aes256, random);
    expect(material.toString('hex')).toBe('000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f');
    expect(random.calls).toEqual([32]);
  });

  it('makes 32 bytes for Aliyun_AES_256', () => {
    expect(generateKeyMaterial('Aliyun_AES_256', countingRandom())).toHaveLength(32);
  });

  it('makes 16 bytes for Aliyun_SM4', () => {
    const random = countingRandom();
    expect(generateKeyMaterial('Aliyun_SM4', random).toString('hex')).toBe('000102030405060708090a0b0c0d0e0f');
  });

  it('makes 16 and 24 bytes for Aliyun_AES_128 and Aliyun_AES_192 (inferred lengths)', () => {
    expect(generateKeyMaterial('Aliyun_AES_128', countingRandom())).toHaveLength(16);
    expect(generateKeyMaterial('Aliyun_AES_192', countingRandom())).toHaveLength(24);
  });

  it('rejects key specs that cannot take imported material with UnsupportedAlgorithm', () => {
    for (const spec of ['RSA_2048', 'EC_SM2', 'Aliyun_AES_512', '']) {
      expect(thrown(() => generateKeyMaterial(spec as KeySpec, countingRandom())).code).toBe(
        ErrorCode.UnsupportedAlgorithm,
      );
    }
  });

  it('refuses a RandomSource that returns the wrong number of bytes', () => {
    const short = { bytes: (n: number) => Buffer.alloc(n - 1) };
    expect(thrown(() => generateKeyMaterial(KeySpec.Aes256, short)).code).toBe(ErrorCode.Internal);
  });
});

describe('validateKeyMaterial', () => {
  it('accepts exactly the length of the key spec', () => {
    expect(materialLengthFor(KeySpec.Aes256)).toBe(32);
    expect(materialLengthFor(KeySpec.Sm4)).toBe(16);
    expect(() => validateKeyMaterial(Buffer.alloc(32, 7), KeySpec.Aes256)).not.toThrow();
    expect(() => validateKeyMaterial(Buffer.alloc(16, 7), KeySpec.Sm4)).not.toThrow();
  });

  it('rejects 31, 33 and 0 bytes for Aliyun_AES_256 with InvalidMaterial', () => {
    for (const n of [31, 33, 0]) {
      const err = thrown(() => validateKeyMaterial(Buffer.alloc(n, 7), KeySpec.Aes256));
      expect(err.code).toBe(ErrorCode.InvalidMaterial);
      expect(err.message).toBe(`material: Aliyun_AES_256 needs 32 bytes, got ${n} bytes`);
    }
  });

  it('rejects 16 bytes for Aliyun_AES_256 and 32 bytes for Aliyun_SM4', () => {
    expect(thrown(() => validateKeyMaterial(Buffer.alloc(16), KeySpec.Aes256)).code).toBe(ErrorCode.InvalidMaterial);
    expect(thrown(() => validateKeyMaterial(Buffer.alloc(32), KeySpec.Sm4)).code).toBe(ErrorCode.InvalidMaterial);
  });
});

describe('shared/wrap source', () => {
  it('never references Math.random', () => {
    const dir = join(__dirname, '../../../shared/wrap');
    const files = readdirSync(dir).filter((f) => f.endsWith('.ts'));
    expect(files.length).toBeGreaterThanOrEqual(5);
    for (const file of files) {
      expect(readFileSync(join(dir, file), 'utf8'), file).not.toMatch(/Math\s*\.\s*random/);
    }
  });

  it('never reads process.env or the wall clock', () => {
    const dir = join(__dirname, '../../../shared/wrap');
    for (const file of readdirSync(dir).filter((f) => f.endsWith('.ts'))) {
      expect(readFileSync(join(dir, file), 'utf8'), file).not.toMatch(/process\.env|Date\.now|new Date\(/);
    }
  });
});
