/** Shared fixtures for the wrap tests: key pairs generated once per test file, and error capture. */
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import type { RandomSource } from '../../../shared/runtime-types.js';
import { DerTag, readDer, readOnly } from '../../../shared/wrap/der.js';

/** A key pair plus its SPKI DER as base64, the form GetParametersForImport returns. */
export interface Fixture {
  publicKey: KeyObject;
  privateKey: KeyObject;
  spkiBase64: string;
}

/** RSA key pair of `bits`. */
export function rsaFixture(bits: number): Fixture {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: bits });
  return { publicKey, privateKey, spkiBase64: publicKey.export({ format: 'der', type: 'spki' }).toString('base64') };
}

/** EC key pair on a named curve (`SM2`, `prime256v1`, ...). */
export function ecFixture(namedCurve: string): Fixture {
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve });
  return { publicKey, privateKey, spkiBase64: publicKey.export({ format: 'der', type: 'spki' }).toString('base64') };
}

/** The 32-byte private scalar of an EC key, hex (SEC1 ECPrivateKey, RFC 5915). */
export function ecScalarHex(privateKey: KeyObject): string {
  const sec1 = readOnly(privateKey.export({ format: 'der', type: 'sec1' }), DerTag.Sequence);
  const version = readDer(sec1, 0);
  return readDer(sec1, version.end).content.toString('hex');
}

/** A deterministic RandomSource returning 0, 1, 2, ... (mod 256) across calls; counts calls. */
export function countingRandom(): RandomSource & { calls: number[] } {
  let next = 0;
  const calls: number[] = [];
  return {
    calls,
    bytes(n: number): Buffer {
      calls.push(n);
      const out = Buffer.alloc(n);
      for (let i = 0; i < n; i++) out[i] = next++ & 0xff;
      return out;
    },
  };
}

/** Runs `fn` and returns the thrown error (fails the test if nothing was thrown). */
export function thrown(fn: () => unknown): { code: string; message: string } {
  try {
    fn();
  } catch (err) {
    return err as { code: string; message: string };
  }
  throw new Error('expected an error, none was thrown');
}
