/**
 * SM2PKE decryption for ImportKeyMaterial, done by the `openssl` CLI (OpenSSL >= 1.1.1, tested with
 * 3.0), not by the product's SM2 code (sm-crypto-v2 on @noble/curves): curve arithmetic, the SM3
 * KDF, the C3 check and the GM/T 0009 `SM2Cipher` DER decoding are OpenSSL's, so an SM2PKE import
 * into the emulator is an independent check of the product's wrapping. Node's crypto cannot do it
 * in-process: `privateDecrypt` refuses EC keys, SM2 included ("operation not supported for this
 * keytype").
 *
 *   openssl pkeyutl -decrypt -inkey <dir>/key.der      (ciphertext on stdin, material on stdout)
 *
 * The key is a SEC1 ECPrivateKey DER built from the stored scalar, written with mode 0600 into a
 * fresh 0700 temp directory that is removed right after (the state file holds the same key, see
 * README). It cannot go through stdin: Node's child stdio are sockets, which OpenSSL cannot open as
 * `/dev/stdin`. The binary is `$KMS_EMULATOR_OPENSSL`, else `openssl` on PATH.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmulatorErrorCode, KmsEmulatorError } from './errors.js';

// SEC1 ECPrivateKey (RFC 5915 §3): SEQUENCE { INTEGER 1, OCTET STRING d (32), [0] OID SM2 }, where
// the SM2 curve is 1.2.156.10197.1.301 (GM/T 0006). OpenSSL derives the public point itself.
const SEC1_HEAD = Buffer.from('30310201010420', 'hex');
const SEC1_TAIL = Buffer.from('a00a06082a811ccf5501822d', 'hex');

// Known answer, made with `openssl pkeyutl -encrypt` (SM2 key below, plaintext "kms-emulator-sm2"):
// proves the configured openssl decrypts SM2 before the emulator hands out an EC_SM2 wrapping key.
const KAT_SCALAR_HEX = 'a1742bb86cd73aca15ed7f7eae4a17a328c298534a3c0bb683d343f534672bfe';
const KAT_CIPHERTEXT = Buffer.from(
  'MHkCIQDD4IhC9CrWsYMnNZ5QREsRT9g7J44luCcHKT/pxUKz1AIgUEQBVCpCDzpQI0/qe7UKTVYCt2HWUv2y4lnk+l0a9S4E' +
    'IBQgfURzUlrfdNHgyOQGBU0fL1Rfb4g/FhrnCoKZxcPZBBC7U6Zr7tZ7m1oWR2u0qJoY',
  'base64',
);
const KAT_PLAINTEXT = 'kms-emulator-sm2';

/** The openssl binary used for SM2PKE. */
export function opensslBinary(): string {
  const configured = process.env['KMS_EMULATOR_OPENSSL'];
  return configured === undefined || configured === '' ? 'openssl' : configured;
}

/** Outcome of one `pkeyutl -decrypt`: the plaintext, or why there is none. */
type DecryptOutcome = { ok: true; plaintext: Buffer } | { ok: false; missing: boolean; reason: string };

function pkeyutlDecrypt(scalarHex: string, ciphertext: Buffer): DecryptOutcome {
  const dir = mkdtempSync(join(tmpdir(), 'kms-emulator-sm2-'));
  const keyDer = Buffer.concat([SEC1_HEAD, Buffer.from(scalarHex, 'hex'), SEC1_TAIL]);
  try {
    const keyFile = join(dir, 'key.der');
    writeFileSync(keyFile, keyDer, { mode: 0o600 });
    const plaintext = execFileSync(opensslBinary(), ['pkeyutl', '-decrypt', '-inkey', keyFile], {
      input: ciphertext,
      stdio: ['pipe', 'pipe', 'pipe'],
      timeout: 10_000,
    });
    return { ok: true, plaintext };
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: Buffer };
    const missing = e.code === 'ENOENT' || e.code === 'EACCES';
    const firstLine = e.stderr?.toString('utf8').split('\n')[0]?.slice(0, 200) ?? '';
    const reason = missing ? `${opensslBinary()} not found` : firstLine || String(e.code ?? 'failed');
    return { ok: false, missing, reason };
  } finally {
    keyDer.fill(0);
    rmSync(dir, { recursive: true, force: true });
  }
}

let capability: { ok: true } | { ok: false; reason: string } | undefined;

/**
 * Throws `Sm2Unavailable` unless the configured openssl decrypts the known answer (checked once per
 * process; a failure is remembered too, so a broken setup fails fast).
 */
export function assertSm2Available(): void {
  if (capability === undefined) {
    const out = pkeyutlDecrypt(KAT_SCALAR_HEX, KAT_CIPHERTEXT);
    const ok = out.ok && out.plaintext.toString('latin1') === KAT_PLAINTEXT;
    capability = ok ? { ok: true } : { ok: false, reason: out.ok ? 'wrong plaintext' : out.reason };
  }
  if (!capability.ok) {
    throw new KmsEmulatorError(
      EmulatorErrorCode.Sm2Unavailable,
      'EC_SM2/SM2PKE needs an openssl CLI with SM2 (OpenSSL >= 1.1.1; set KMS_EMULATOR_OPENSSL to its path): ' +
        capability.reason,
    );
  }
}

/**
 * Decrypts a GM/T 0009 DER `SM2Cipher` (C1C3C2) with the 32-byte scalar (hex). Returns undefined on
 * any decryption failure (bad DER, point off the curve, C3 mismatch, trailing bytes), so the caller
 * raises one fixed error; throws `Sm2Unavailable` when openssl itself is missing or lacks SM2.
 */
export function sm2DecryptWithOpenssl(scalarHex: string, ciphertext: Buffer): Buffer | undefined {
  assertSm2Available();
  // OpenSSL's d2i ignores bytes after the SEQUENCE; the product sends exactly one, so insist on it.
  if (!isSingleDerSequence(ciphertext)) return undefined;
  const out = pkeyutlDecrypt(scalarHex, ciphertext);
  if (out.ok) return out.plaintext.length > 0 ? out.plaintext : undefined;
  if (out.missing) {
    capability = { ok: false, reason: out.reason };
    throw new KmsEmulatorError(EmulatorErrorCode.Sm2Unavailable, `SM2PKE: ${out.reason}`);
  }
  return undefined;
}

/** True when `buf` is exactly one DER SEQUENCE with a minimal definite length (X.690 §10.1). */
export function isSingleDerSequence(buf: Buffer): boolean {
  if (buf.length < 2 || buf[0] !== 0x30) return false;
  const first = buf[1]!;
  if (first < 0x80) return 2 + first === buf.length;
  const n = first & 0x7f;
  if (n === 0 || n > 2 || buf.length < 2 + n || buf[2] === 0) return false;
  let length = 0;
  for (let i = 0; i < n; i++) length = length * 256 + buf[2 + i]!;
  return length >= 0x80 && 2 + n + length === buf.length;
}
