import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../../shared/errors.js';
import { decodeBase64Strict, parseWrappingPublicKey } from '../../../shared/wrap/index.js';
import { ecFixture, rsaFixture, thrown } from './helpers.js';

const rsa2048 = rsaFixture(2048);
const rsa1024 = rsaFixture(1024);
const rsa3072 = rsaFixture(3072);
const p256 = ecFixture('prime256v1');
const sm2 = ecFixture('SM2');

describe('parseWrappingPublicKey for RSA_2048', () => {
  it('accepts a 2048-bit RSA SubjectPublicKeyInfo', () => {
    const key = parseWrappingPublicKey(rsa2048.spkiBase64, 'RSA_2048');
    expect(key.spec).toBe('RSA_2048');
    expect(key.spec === 'RSA_2048' && key.modulusBits).toBe(2048);
  });

  it('rejects a 1024-bit RSA key, naming the size', () => {
    const err = thrown(() => parseWrappingPublicKey(rsa1024.spkiBase64, 'RSA_2048'));
    expect(err.code).toBe(ErrorCode.InvalidPublicKey);
    expect(err.message).toBe('PublicKey: RSA modulus is 1024 bits, RSA_2048 needs 2048');
  });

  it('rejects a 3072-bit RSA key, naming the size', () => {
    const err = thrown(() => parseWrappingPublicKey(rsa3072.spkiBase64, 'RSA_2048'));
    expect(err.code).toBe(ErrorCode.InvalidPublicKey);
    expect(err.message).toBe('PublicKey: RSA modulus is 3072 bits, RSA_2048 needs 2048');
  });

  it('rejects an EC P-256 key, naming the curve', () => {
    const err = thrown(() => parseWrappingPublicKey(p256.spkiBase64, 'RSA_2048'));
    expect(err.code).toBe(ErrorCode.InvalidPublicKey);
    expect(err.message).toBe('PublicKey: is an EC key on P-256 (1.2.840.10045.3.1.7), RSA_2048 needs an RSA key');
  });

  it('rejects an SM2 key', () => {
    const err = thrown(() => parseWrappingPublicKey(sm2.spkiBase64, 'RSA_2048'));
    expect(err.code).toBe(ErrorCode.InvalidPublicKey);
    expect(err.message).toBe('PublicKey: is an SM2 key, RSA_2048 needs an RSA key');
  });

  it('rejects an RSASSA-PSS key', () => {
    const { publicKey } = generateKeyPairSync('rsa-pss', { modulusLength: 2048 });
    const b64 = publicKey.export({ format: 'der', type: 'spki' }).toString('base64');
    expect(thrown(() => parseWrappingPublicKey(b64, 'RSA_2048')).message).toBe(
      'PublicKey: is an RSASSA-PSS key, RSA_2048 needs an RSA key',
    );
  });
});

describe('parseWrappingPublicKey for EC_SM2', () => {
  it('accepts an SM2 key and returns its 65-byte uncompressed point', () => {
    const key = parseWrappingPublicKey(sm2.spkiBase64, 'EC_SM2');
    const der = Buffer.from(sm2.spkiBase64, 'base64');
    expect(key.spec === 'EC_SM2' && key.point).toEqual(der.subarray(der.length - 65));
  });

  it('rejects an RSA key', () => {
    const err = thrown(() => parseWrappingPublicKey(rsa2048.spkiBase64, 'EC_SM2'));
    expect(err.code).toBe(ErrorCode.InvalidPublicKey);
    expect(err.message).toBe('PublicKey: is an RSA key, EC_SM2 needs an SM2 key');
  });

  it('rejects a P-256 key even though it is id-ecPublicKey', () => {
    expect(thrown(() => parseWrappingPublicKey(p256.spkiBase64, 'EC_SM2')).message).toBe(
      'PublicKey: is an EC key on P-256 (1.2.840.10045.3.1.7), EC_SM2 needs an SM2 key',
    );
  });

  it('rejects a point that is not on the SM2 curve', () => {
    const der = Buffer.from(sm2.spkiBase64, 'base64');
    der[der.length - 1]! ^= 0x01;
    const err = thrown(() => parseWrappingPublicKey(der.toString('base64'), 'EC_SM2'));
    expect(err.code).toBe(ErrorCode.InvalidPublicKey);
    expect(err.message).toBe('PublicKey: SM2 point is not on the SM2 curve');
  });

  it('rejects a compressed SM2 point', () => {
    const der = Buffer.from(sm2.spkiBase64, 'base64');
    const point = der.subarray(der.length - 65);
    const compressed = Buffer.concat([Buffer.from([0x02 | (point[64]! & 1)]), point.subarray(1, 33)]);
    // SEQUENCE(57) { AlgorithmIdentifier (21 bytes incl. header), BIT STRING(34) { 00, 33-byte point } }
    const spki = Buffer.concat([
      Buffer.from('3039', 'hex'),
      der.subarray(2, 23),
      Buffer.from('032200', 'hex'),
      compressed,
    ]);
    expect(thrown(() => parseWrappingPublicKey(spki.toString('base64'), 'EC_SM2')).message).toBe(
      'PublicKey: SM2 point is 33 bytes, EC_SM2 needs a 65-byte uncompressed point (04||x||y)',
    );
  });
});

describe('parseWrappingPublicKey input checks', () => {
  it('rejects bytes that are not a DER SubjectPublicKeyInfo with InvalidPublicKey', () => {
    for (const junk of [
      'AAAA',
      Buffer.from('hello world').toString('base64'),
      Buffer.from(rsa2048.spkiBase64, 'base64').subarray(0, 100).toString('base64'),
    ]) {
      const err = thrown(() => parseWrappingPublicKey(junk, 'RSA_2048'));
      expect(err.code).toBe(ErrorCode.InvalidPublicKey);
      expect(err.message).toBe('PublicKey: not a DER SubjectPublicKeyInfo');
    }
  });

  it('rejects trailing bytes after the SubjectPublicKeyInfo', () => {
    const der = Buffer.concat([Buffer.from(rsa2048.spkiBase64, 'base64'), Buffer.from([0])]);
    expect(thrown(() => parseWrappingPublicKey(der.toString('base64'), 'RSA_2048')).code).toBe(
      ErrorCode.InvalidPublicKey,
    );
  });

  it('rejects a PEM public key with InvalidBase64 (headers and line breaks are not base64)', () => {
    const pem = rsa2048.publicKey.export({ format: 'pem', type: 'spki' }).toString();
    expect(thrown(() => parseWrappingPublicKey(pem, 'RSA_2048')).code).toBe(ErrorCode.InvalidBase64);
  });

  it('rejects an unknown wrapping key spec with UnsupportedAlgorithm', () => {
    expect(thrown(() => parseWrappingPublicKey(rsa2048.spkiBase64, 'RSA_3072' as 'RSA_2048')).code).toBe(
      ErrorCode.UnsupportedAlgorithm,
    );
  });
});

describe('decodeBase64Strict', () => {
  it('decodes canonical standard base64', () => {
    expect(decodeBase64Strict('AAECAw==', 'f')).toEqual(Buffer.from([0, 1, 2, 3]));
    expect(decodeBase64Strict('+/+/', 'f')).toEqual(Buffer.from([0xfb, 0xff, 0xbf]));
  });

  it('rejects characters outside the alphabet, whitespace and URL-safe characters', () => {
    for (const bad of ['AA*A', 'AAEC Aw==', 'AAECAw==\n', 'AAEC\nAw==', '-_-_', 'AAECAw==\u0000']) {
      expect(thrown(() => decodeBase64Strict(bad, 'PublicKey')).code).toBe(ErrorCode.InvalidBase64);
    }
  });

  it('rejects bad padding: missing, misplaced or excess', () => {
    for (const bad of ['AAECAw', 'AAECAw=', 'AAECAw===', 'AA=A', '=AAA', 'AAECA']) {
      expect(thrown(() => decodeBase64Strict(bad, 'PublicKey')).code).toBe(ErrorCode.InvalidBase64);
    }
  });

  it('rejects non-canonical padding bits', () => {
    expect(decodeBase64Strict('QQ==', 'f')).toEqual(Buffer.from('A'));
    expect(thrown(() => decodeBase64Strict('QR==', 'f')).code).toBe(ErrorCode.InvalidBase64);
  });

  it('rejects the empty string', () => {
    expect(thrown(() => decodeBase64Strict('', 'f')).code).toBe(ErrorCode.InvalidBase64);
  });

  it('names the field in the message', () => {
    expect(thrown(() => decodeBase64Strict('!!', 'PublicKey')).message).toBe('PublicKey: not valid standard base64');
  });
});
