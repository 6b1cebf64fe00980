import { constants, publicEncrypt, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { EmulatorErrorCode as ErrorCode } from '../../../packages/kms-emulator/src/errors.js';
import { sm2Encrypt } from '../../../shared/wrap/sm2.js';
import {
  checkPkcs1Type2,
  generateWrappingKeyPair,
  unwrapKeyMaterial,
} from '../../../packages/kms-emulator/src/wrapping-keys.js';

const rsa = generateWrappingKeyPair('RSA_2048');
const sm2 = generateWrappingKeyPair('EC_SM2');
const rsaPublic = { key: Buffer.from(rsa.publicKeyBase64, 'base64'), format: 'der', type: 'spki' } as const;
const material = randomBytes(32);

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return (err as { code?: string }).code;
  }
  return undefined;
}

describe('emulator wrapping keys', () => {
  it('round-trips JSON: the private key survives JSON.stringify/parse', () => {
    const revived = JSON.parse(JSON.stringify(rsa.privateKey));
    const ct = publicEncrypt({ ...rsaPublic, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, material);
    expect(unwrapKeyMaterial(revived, 'RSAES_OAEP_SHA_256', ct.toString('base64'))).toEqual(material);
  });

  it('unwraps OAEP SHA-1 produced by node:crypto', () => {
    const ct = publicEncrypt({ ...rsaPublic, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' }, material);
    expect(unwrapKeyMaterial(rsa.privateKey, 'RSAES_OAEP_SHA_1', ct.toString('base64'))).toEqual(material);
  });

  it('unwraps PKCS#1 v1.5 produced by node:crypto', () => {
    const ct = publicEncrypt({ ...rsaPublic, padding: constants.RSA_PKCS1_PADDING }, material);
    expect(unwrapKeyMaterial(rsa.privateKey, 'RSAES_PKCS1_V1_5', ct.toString('base64'))).toEqual(material);
  });

  it('unwraps SM2PKE produced by sm2Encrypt', () => {
    const spki = Buffer.from(sm2.publicKeyBase64, 'base64');
    const ct = sm2Encrypt(spki.subarray(spki.length - 65), material.subarray(0, 16));
    expect(unwrapKeyMaterial(sm2.privateKey, 'SM2PKE', ct.toString('base64'))).toEqual(material.subarray(0, 16));
  });

  it('rejects an algorithm that does not match the key spec with AlgorithmMismatch', () => {
    expect(codeOf(() => unwrapKeyMaterial(rsa.privateKey, 'SM2PKE', 'AAAA'))).toBe(ErrorCode.AlgorithmMismatch);
    expect(codeOf(() => unwrapKeyMaterial(sm2.privateKey, 'RSAES_OAEP_SHA_1', 'AAAA'))).toBe(
      ErrorCode.AlgorithmMismatch,
    );
  });

  it('rejects OAEP ciphertext decrypted as the other OAEP hash with UnwrapFailed', () => {
    const ct = publicEncrypt({ ...rsaPublic, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' }, material);
    expect(codeOf(() => unwrapKeyMaterial(rsa.privateKey, 'RSAES_OAEP_SHA_256', ct.toString('base64')))).toBe(
      ErrorCode.UnwrapFailed,
    );
  });

  it('rejects OAEP ciphertext presented as PKCS#1 v1.5 with UnwrapFailed', () => {
    const ct = publicEncrypt({ ...rsaPublic, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, material);
    expect(codeOf(() => unwrapKeyMaterial(rsa.privateKey, 'RSAES_PKCS1_V1_5', ct.toString('base64')))).toBe(
      ErrorCode.UnwrapFailed,
    );
  });

  it('rejects bad base64 with InvalidBase64', () => {
    expect(codeOf(() => unwrapKeyMaterial(rsa.privateKey, 'RSAES_OAEP_SHA_1', 'not base64!'))).toBe(
      ErrorCode.InvalidBase64,
    );
  });

  it('rejects a ciphertext of the wrong length with UnwrapFailed', () => {
    const short = randomBytes(255).toString('base64');
    expect(codeOf(() => unwrapKeyMaterial(rsa.privateKey, 'RSAES_PKCS1_V1_5', short))).toBe(ErrorCode.UnwrapFailed);
    expect(codeOf(() => unwrapKeyMaterial(rsa.privateKey, 'RSAES_OAEP_SHA_256', short))).toBe(ErrorCode.UnwrapFailed);
  });

  it('rejects a tampered SM2 ciphertext with UnwrapFailed', () => {
    const spki = Buffer.from(sm2.publicKeyBase64, 'base64');
    const ct = sm2Encrypt(spki.subarray(spki.length - 65), material.subarray(0, 16));
    ct[ct.length - 1]! ^= 1;
    expect(codeOf(() => unwrapKeyMaterial(sm2.privateKey, 'SM2PKE', ct.toString('base64')))).toBe(
      ErrorCode.UnwrapFailed,
    );
  });

  it('rejects a corrupt private key from the state file with UnwrapFailed', () => {
    const ct = publicEncrypt(
      { ...rsaPublic, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' },
      material,
    ).toString('base64');
    const corrupt = [{ spec: 'RSA_4096', pkcs8DerBase64: '' }, { spec: 'RSA_2048', pkcs8DerBase64: 'AAAA' }, null];
    for (const key of corrupt) {
      expect(codeOf(() => unwrapKeyMaterial(key as never, 'RSAES_OAEP_SHA_1', ct))).toBe(ErrorCode.UnwrapFailed);
    }
    expect(codeOf(() => unwrapKeyMaterial({ spec: 'EC_SM2', privateKeyHex: 'zz' }, 'SM2PKE', ct))).toBe(
      ErrorCode.UnwrapFailed,
    );
  });

  it('rejects an unknown algorithm with UnsupportedAlgorithm', () => {
    expect(codeOf(() => unwrapKeyMaterial(rsa.privateKey, 'RSAES_OAEP_SHA_512', 'AAAA'))).toBe(
      ErrorCode.UnsupportedAlgorithm,
    );
  });
});

describe('PKCS#1 v1.5 type-2 check', () => {
  const block = (edit: (b: Buffer) => void): Buffer => {
    const b = Buffer.alloc(256, 0xaa);
    b[0] = 0;
    b[1] = 2;
    b[256 - 33] = 0;
    edit(b);
    return b;
  };

  it('accepts 00 02 PS 00 M and points just past the separator', () => {
    expect(checkPkcs1Type2(block(() => undefined))).toEqual({ ok: 1, messageStart: 256 - 32 });
  });

  it('rejects a first byte other than 00', () => {
    expect(checkPkcs1Type2(block((b) => (b[0] = 1))).ok).toBe(0);
  });

  it('rejects a block type other than 02', () => {
    expect(checkPkcs1Type2(block((b) => (b[1] = 1))).ok).toBe(0);
  });

  it('rejects a block with no 00 separator', () => {
    expect(checkPkcs1Type2(block((b) => (b[256 - 33] = 0x01))).ok).toBe(0);
  });

  it('rejects padding shorter than 8 bytes', () => {
    expect(checkPkcs1Type2(block((b) => (b[9] = 0))).ok).toBe(0);
  });

  it('accepts padding of exactly 8 bytes', () => {
    expect(checkPkcs1Type2(block((b) => (b[10] = 0)))).toEqual({ ok: 1, messageStart: 11 });
  });

  it('rejects a block that is not 256 bytes', () => {
    expect(checkPkcs1Type2(block(() => undefined).subarray(1)).ok).toBe(0);
  });
});
