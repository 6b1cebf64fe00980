/**
 * Parses and checks GetParametersForImport's `PublicKey`: standard base64 (no line breaks) of a
 * DER SubjectPublicKeyInfo (RFC 5280 §4.1.2.7; docs/kms-api.md §2.4). RSA_2048 must be an
 * rsaEncryption key (RFC 8017 App. C) with a 2048-bit modulus; EC_SM2 must be id-ecPublicKey on
 * the SM2 curve 1.2.156.10197.1.301 (RFC 5480 §2, GM/T 0006) with a 65-byte uncompressed point.
 * Errors name what was wrong; public keys are not secret, but we still print no key bytes.
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import { ErrorCode, OrchestratorError } from '../errors.js';
import { decodeBase64Strict } from './base64.js';
import { DerError, DerTag, oidToString, readDer, readOnly, readSequence } from './der.js';
import { loadSm2 } from './sm2.js';
import { WrappingKeySpec, parseWrappingKeySpec } from './material.js';

/** A checked wrapping public key, ready for the matching algorithm. */
export type WrappingPublicKey =
  | { spec: 'RSA_2048'; keyObject: KeyObject; modulusBits: number }
  | { spec: 'EC_SM2'; point: Buffer };

/** OIDs we recognise in a SubjectPublicKeyInfo (names are used in error messages). */
export const Oid = {
  RsaEncryption: '1.2.840.113549.1.1.1',
  RsassaPss: '1.2.840.113549.1.1.10',
  EcPublicKey: '1.2.840.10045.2.1',
  Sm2Curve: '1.2.156.10197.1.301',
  P256: '1.2.840.10045.3.1.7',
  P384: '1.3.132.0.34',
  P521: '1.3.132.0.35',
  Secp256k1: '1.3.132.0.10',
} as const;

const CURVE_NAMES: Readonly<Record<string, string>> = {
  [Oid.Sm2Curve]: 'SM2',
  [Oid.P256]: 'P-256',
  [Oid.P384]: 'P-384',
  [Oid.P521]: 'P-521',
  [Oid.Secp256k1]: 'secp256k1',
};

const RSA_2048_BITS = 2048;
const SM2_POINT_BYTES = 65;

/** What an SPKI turned out to hold, before checking it against the requested spec. */
type Spki =
  | { kind: 'rsa'; der: Buffer }
  | { kind: 'ec'; curveOid: string; point: Buffer }
  | { kind: 'other'; algorithmOid: string };

/** Decodes `publicKeyBase64` and checks it is a usable key of `wrappingKeySpec`. */
export function parseWrappingPublicKey(publicKeyBase64: string, wrappingKeySpec: WrappingKeySpec): WrappingPublicKey {
  const spec = parseWrappingKeySpec(wrappingKeySpec);
  const der = decodeBase64Strict(publicKeyBase64, 'PublicKey');
  const spki = readSpki(der);
  switch (spec) {
    case WrappingKeySpec.Rsa2048:
      return checkRsa2048(spki);
    case WrappingKeySpec.EcSm2:
      return checkSm2(spki);
    default:
      return assertNever(spec);
  }
}

function readSpki(der: Buffer): Spki {
  try {
    const [algorithm, subjectPublicKey] = readSequence(readOnly(der, DerTag.Sequence), [
      DerTag.Sequence,
      DerTag.BitString,
    ]) as [Buffer, Buffer];
    const oid = readDer(algorithm, 0);
    if (oid.tag !== DerTag.ObjectIdentifier) throw new DerError('algorithm is not an OID');
    const algorithmOid = oidToString(oid.content);
    if (algorithmOid === Oid.RsaEncryption) return { kind: 'rsa', der };
    if (algorithmOid !== Oid.EcPublicKey) return { kind: 'other', algorithmOid };
    // RFC 5480 §2.1.1: parameters are a namedCurve OID; implicit/explicit curves are not supported.
    const params = readDer(algorithm, oid.end);
    if (params.tag !== DerTag.ObjectIdentifier || params.end !== algorithm.length)
      throw new DerError('EC parameters are not a named curve');
    // BIT STRING: first content byte is the count of unused bits, which must be 0 for a point.
    if (subjectPublicKey.length < 1 || subjectPublicKey[0] !== 0) throw new DerError('bad bit string');
    return { kind: 'ec', curveOid: oidToString(params.content), point: subjectPublicKey.subarray(1) };
  } catch (err) {
    if (err instanceof DerError) throw invalidPublicKey('not a DER SubjectPublicKeyInfo');
    throw err;
  }
}

function checkRsa2048(spki: Spki): WrappingPublicKey {
  if (spki.kind !== 'rsa') throw invalidPublicKey(`is ${describe(spki)}, RSA_2048 needs an RSA key`);
  let keyObject: KeyObject;
  try {
    keyObject = createPublicKey({ key: spki.der, format: 'der', type: 'spki' });
  } catch {
    throw invalidPublicKey('RSA key could not be parsed');
  }
  const bits = keyObject.asymmetricKeyDetails?.modulusLength;
  if (keyObject.asymmetricKeyType !== 'rsa' || bits === undefined)
    throw invalidPublicKey('RSA key could not be parsed');
  if (bits !== RSA_2048_BITS) throw invalidPublicKey(`RSA modulus is ${bits} bits, RSA_2048 needs ${RSA_2048_BITS}`);
  return { spec: WrappingKeySpec.Rsa2048, keyObject, modulusBits: bits };
}

function checkSm2(spki: Spki): WrappingPublicKey {
  if (spki.kind !== 'ec' || spki.curveOid !== Oid.Sm2Curve)
    throw invalidPublicKey(`is ${describe(spki)}, EC_SM2 needs an SM2 key`);
  const { point } = spki;
  if (point.length !== SM2_POINT_BYTES || point[0] !== 0x04) {
    throw invalidPublicKey(`SM2 point is ${point.length} bytes, EC_SM2 needs a 65-byte uncompressed point (04||x||y)`);
  }
  let onCurve = false;
  try {
    onCurve = loadSm2().verifyPublicKey(point.toString('hex'));
  } catch {
    onCurve = false;
  }
  if (!onCurve) throw invalidPublicKey('SM2 point is not on the SM2 curve');
  return { spec: WrappingKeySpec.EcSm2, point: Buffer.from(point) };
}

function describe(spki: Spki): string {
  switch (spki.kind) {
    case 'rsa':
      return 'an RSA key';
    case 'ec': {
      const name = CURVE_NAMES[spki.curveOid];
      if (name === 'SM2') return 'an SM2 key';
      return name === undefined ? `an EC key on curve ${spki.curveOid}` : `an EC key on ${name} (${spki.curveOid})`;
    }
    case 'other':
      return spki.algorithmOid === Oid.RsassaPss ? 'an RSASSA-PSS key' : `a key of algorithm ${spki.algorithmOid}`;
    default:
      return assertNever(spki);
  }
}

function invalidPublicKey(what: string): OrchestratorError {
  return new OrchestratorError(ErrorCode.InvalidPublicKey, `PublicKey: ${what}`, { details: { field: 'PublicKey' } });
}

function assertNever(value: never): never {
  throw new OrchestratorError(ErrorCode.Internal, `unhandled case ${String(value)}`);
}
