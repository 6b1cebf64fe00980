import { constants, privateDecrypt, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../../shared/errors.js';
import { systemRandom } from '../../../shared/system.js';
import {
  type KeySpec,
  type WrappingAlgorithm,
  type WrappingKeySpec,
  wrapKeyMaterial,
} from '../../../shared/wrap/index.js';
import { generateWrappingKeyPair, unwrapKeyMaterial } from '../../../packages/kms-emulator/src/wrapping-keys.js';
import { ecFixture, ecScalarHex, rsaFixture, thrown } from './helpers.js';

// One key pair of each kind per file: RSA key generation dominates the run time.
const rsa = rsaFixture(2048);
const sm2 = ecFixture('SM2');
const emulatorRsa = generateWrappingKeyPair('RSA_2048');
const emulatorSm2 = generateWrappingKeyPair('EC_SM2');
const rsaPrivate = {
  spec: 'RSA_2048',
  pkcs8DerBase64: rsa.privateKey.export({ format: 'der', type: 'pkcs8' }).toString('base64'),
} as const;
const sm2Private = { spec: 'EC_SM2', privateKeyHex: ecScalarHex(sm2.privateKey) } as const;
const aes = randomBytes(32);
const sm4 = randomBytes(16);

function wrap(
  wrappingAlgorithm: WrappingAlgorithm,
  over: { material?: Uint8Array; keySpec?: KeySpec; publicKeyBase64?: string; wrappingKeySpec?: WrappingKeySpec } = {},
): string {
  const rsaAlg = wrappingAlgorithm !== 'SM2PKE';
  return wrapKeyMaterial(
    {
      material: over.material ?? (rsaAlg ? aes : sm4),
      keySpec: over.keySpec ?? (rsaAlg ? 'Aliyun_AES_256' : 'Aliyun_SM4'),
      publicKeyBase64: over.publicKeyBase64 ?? (rsaAlg ? rsa.spkiBase64 : sm2.spkiBase64),
      wrappingAlgorithm,
      wrappingKeySpec: over.wrappingKeySpec ?? (rsaAlg ? 'RSA_2048' : 'EC_SM2'),
    },
    systemRandom,
  );
}

describe('wrapKeyMaterial round trips', () => {
  it('RSAES_OAEP_SHA_256 unwraps with unwrapKeyMaterial', () => {
    expect(unwrapKeyMaterial(rsaPrivate, 'RSAES_OAEP_SHA_256', wrap('RSAES_OAEP_SHA_256'))).toEqual(aes);
  });

  it('RSAES_OAEP_SHA_256 decrypts with node:crypto OAEP SHA-256', () => {
    const ct = Buffer.from(wrap('RSAES_OAEP_SHA_256'), 'base64');
    expect(
      privateDecrypt({ key: rsa.privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, ct),
    ).toEqual(aes);
  });

  it('RSAES_OAEP_SHA_256 does not decrypt as OAEP SHA-1 (the hash is really SHA-256)', () => {
    const ct = Buffer.from(wrap('RSAES_OAEP_SHA_256'), 'base64');
    expect(() =>
      privateDecrypt({ key: rsa.privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' }, ct),
    ).toThrow();
  });

  it('RSAES_OAEP_SHA_1 unwraps with unwrapKeyMaterial', () => {
    expect(unwrapKeyMaterial(rsaPrivate, 'RSAES_OAEP_SHA_1', wrap('RSAES_OAEP_SHA_1'))).toEqual(aes);
  });

  it('RSAES_OAEP_SHA_1 decrypts with node:crypto OAEP SHA-1', () => {
    const ct = Buffer.from(wrap('RSAES_OAEP_SHA_1'), 'base64');
    expect(
      privateDecrypt({ key: rsa.privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' }, ct),
    ).toEqual(aes);
  });

  it('RSAES_PKCS1_V1_5 unwraps with unwrapKeyMaterial', () => {
    expect(unwrapKeyMaterial(rsaPrivate, 'RSAES_PKCS1_V1_5', wrap('RSAES_PKCS1_V1_5'))).toEqual(aes);
  });

  it('RSAES_PKCS1_V1_5 raw-decrypts with node:crypto to 00 02 PS(nonzero) 00 material', () => {
    // Node 20 refuses RSA_PKCS1_PADDING for private decryption, so inspect the raw block instead.
    const em = privateDecrypt(
      { key: rsa.privateKey, padding: constants.RSA_NO_PADDING },
      Buffer.from(wrap('RSAES_PKCS1_V1_5'), 'base64'),
    );
    expect(em).toHaveLength(256);
    expect([em[0], em[1]]).toEqual([0, 2]);
    const ps = em.subarray(2, 256 - 33);
    expect(ps.every((b) => b !== 0)).toBe(true);
    expect(em[256 - 33]).toBe(0);
    expect(em.subarray(256 - 32)).toEqual(aes);
  });

  it('SM2PKE unwraps with unwrapKeyMaterial', () => {
    expect(unwrapKeyMaterial(sm2Private, 'SM2PKE', wrap('SM2PKE'))).toEqual(sm4);
  });

  it('SM2PKE output is a GM/T 0009 DER SEQUENCE of two INTEGERs and two OCTET STRINGs', () => {
    const ct = Buffer.from(wrap('SM2PKE'), 'base64');
    expect(ct[0]).toBe(0x30);
    // x, y (32 bytes, maybe a 00 sign byte or shorter), 32-byte hash, 16-byte ciphertext
    expect(ct.length).toBeGreaterThanOrEqual(2 + 2 * (2 + 31) + 34 + 18);
    expect(ct.length).toBeLessThanOrEqual(2 + 2 * (2 + 33) + 34 + 18);
    expect(ct.subarray(ct.length - 18, ct.length - 16)).toEqual(Buffer.from([0x04, 0x10]));
  });

  it('wraps for emulator-generated RSA_2048 and EC_SM2 public keys', () => {
    expect(
      unwrapKeyMaterial(
        emulatorRsa.privateKey,
        'RSAES_OAEP_SHA_256',
        wrap('RSAES_OAEP_SHA_256', { publicKeyBase64: emulatorRsa.publicKeyBase64 }),
      ),
    ).toEqual(aes);
    expect(
      unwrapKeyMaterial(
        emulatorSm2.privateKey,
        'SM2PKE',
        wrap('SM2PKE', { publicKeyBase64: emulatorSm2.publicKeyBase64 }),
      ),
    ).toEqual(sm4);
  });

  it('allows Aliyun_SM4 material under an RSA wrapping algorithm', () => {
    const ct = wrap('RSAES_OAEP_SHA_256', { material: sm4, keySpec: 'Aliyun_SM4' });
    expect(unwrapKeyMaterial(rsaPrivate, 'RSAES_OAEP_SHA_256', ct)).toEqual(sm4);
  });

  it('returns canonical standard base64 of a 256-byte block for RSA', () => {
    const b64 = wrap('RSAES_OAEP_SHA_1');
    expect(b64).toMatch(/^[A-Za-z0-9+/]+={0,2}$/);
    expect(Buffer.from(b64, 'base64')).toHaveLength(256);
  });

  it('is randomised: two wraps of the same material differ', () => {
    for (const alg of ['RSAES_OAEP_SHA_256', 'RSAES_OAEP_SHA_1', 'RSAES_PKCS1_V1_5', 'SM2PKE'] as const) {
      expect(wrap(alg), alg).not.toBe(wrap(alg));
    }
  });
});

describe('wrapKeyMaterial rejects', () => {
  it('SM2PKE with RSA_2048 as AlgorithmMismatch', () => {
    expect(thrown(() => wrap('SM2PKE', { wrappingKeySpec: 'RSA_2048', publicKeyBase64: rsa.spkiBase64 })).code).toBe(
      ErrorCode.AlgorithmMismatch,
    );
  });

  it('OAEP and PKCS#1 v1.5 with EC_SM2 as AlgorithmMismatch', () => {
    for (const alg of ['RSAES_OAEP_SHA_256', 'RSAES_OAEP_SHA_1', 'RSAES_PKCS1_V1_5'] as const) {
      const err = thrown(() => wrap(alg, { wrappingKeySpec: 'EC_SM2', publicKeyBase64: sm2.spkiBase64 }));
      expect(err.code, alg).toBe(ErrorCode.AlgorithmMismatch);
      expect(err.message).toBe(`wrappingAlgorithm: ${alg} needs wrapping key spec RSA_2048, got EC_SM2`);
    }
  });

  it('an SM2 public key declared as RSA_2048 as InvalidPublicKey', () => {
    expect(thrown(() => wrap('RSAES_OAEP_SHA_256', { publicKeyBase64: sm2.spkiBase64 })).code).toBe(
      ErrorCode.InvalidPublicKey,
    );
  });

  it('an RSA public key declared as EC_SM2 as InvalidPublicKey', () => {
    expect(thrown(() => wrap('SM2PKE', { publicKeyBase64: rsa.spkiBase64 })).code).toBe(ErrorCode.InvalidPublicKey);
  });

  it('31, 33 and 0 bytes of AES_256 material as InvalidMaterial', () => {
    for (const n of [31, 33, 0]) {
      expect(thrown(() => wrap('RSAES_OAEP_SHA_256', { material: randomBytes(n) })).code, `${n}`).toBe(
        ErrorCode.InvalidMaterial,
      );
    }
  });

  it('16 bytes declared as Aliyun_AES_256 as InvalidMaterial', () => {
    expect(thrown(() => wrap('RSAES_OAEP_SHA_256', { material: sm4 })).message).toBe(
      'material: Aliyun_AES_256 needs 32 bytes, got 16 bytes',
    );
  });

  it('32 bytes declared as Aliyun_SM4 as InvalidMaterial', () => {
    expect(thrown(() => wrap('SM2PKE', { material: aes })).code).toBe(ErrorCode.InvalidMaterial);
  });

  it('a public key that is not base64 as InvalidBase64', () => {
    expect(
      thrown(() =>
        wrap('RSAES_OAEP_SHA_256', { publicKeyBase64: `${rsa.spkiBase64.slice(0, 40)}\n${rsa.spkiBase64.slice(40)}` }),
      ).code,
    ).toBe(ErrorCode.InvalidBase64);
  });

  it('an unknown wrapping algorithm as UnsupportedAlgorithm', () => {
    expect(thrown(() => wrap('RSAES_OAEP_SHA_512' as WrappingAlgorithm, { wrappingKeySpec: 'RSA_2048' })).code).toBe(
      ErrorCode.UnsupportedAlgorithm,
    );
  });

  it('an unknown wrapping key spec as UnsupportedAlgorithm', () => {
    expect(thrown(() => wrap('RSAES_OAEP_SHA_256', { wrappingKeySpec: 'RSA_4096' as WrappingKeySpec })).code).toBe(
      ErrorCode.UnsupportedAlgorithm,
    );
  });

  it('an unknown key spec as UnsupportedAlgorithm', () => {
    expect(thrown(() => wrap('RSAES_OAEP_SHA_256', { keySpec: 'Aliyun_AES_512' as KeySpec })).code).toBe(
      ErrorCode.UnsupportedAlgorithm,
    );
  });
});

describe('error messages', () => {
  it('never contain the material in hex or base64', () => {
    const material = Buffer.from('a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f', 'hex'); // 31 bytes
    const valid = Buffer.concat([material, Buffer.from([0x42])]);
    const ct = wrap('RSAES_OAEP_SHA_1', { material: valid });
    const errors = [
      thrown(() => wrap('RSAES_OAEP_SHA_256', { material })),
      thrown(() => wrap('RSAES_OAEP_SHA_256', { material: valid, keySpec: 'Aliyun_SM4' })),
      thrown(() => wrap('SM2PKE', { material: valid, keySpec: 'Aliyun_AES_256', wrappingKeySpec: 'RSA_2048' })),
      thrown(() => wrap('RSAES_OAEP_SHA_256', { material: valid, publicKeyBase64: 'x' })),
      thrown(() => wrap('RSAES_OAEP_SHA_256', { material: valid, publicKeyBase64: sm2.spkiBase64 })),
      thrown(() => unwrapKeyMaterial(rsaPrivate, 'RSAES_OAEP_SHA_256', ct)),
      thrown(() => unwrapKeyMaterial(rsaPrivate, 'RSAES_PKCS1_V1_5', ct)),
      thrown(() => unwrapKeyMaterial(sm2Private, 'RSAES_OAEP_SHA_1', ct)),
    ];
    const secrets = [material, valid].flatMap((m) => [
      m.toString('hex'),
      m.toString('hex').toUpperCase(),
      m.toString('base64'),
      m.toString('base64').slice(0, 16),
    ]);
    expect(errors).toHaveLength(8);
    for (const err of errors) {
      const text = `${err.message} ${JSON.stringify(err)}`;
      for (const secret of [...secrets, ct, ct.slice(0, 16)]) expect(text).not.toContain(secret);
    }
  });
});
