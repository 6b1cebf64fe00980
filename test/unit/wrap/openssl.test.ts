/**
 * Cross-checks against the `openssl` CLI (OpenSSL 3): what we wrap, OpenSSL unwraps, and what
 * OpenSSL wraps (including the seed document's exact recipe), the emulator unwraps.
 */
import { execFileSync } from 'node:child_process';
import { createPrivateKey, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { systemRandom } from '../../../shared/system.js';
import { type WrappingAlgorithm, wrapKeyMaterial } from '../../../shared/wrap/index.js';
import { generateWrappingKeyPair, unwrapKeyMaterial } from '../../../packages/kms-emulator/src/wrapping-keys.js';
import { ecFixture, ecScalarHex } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'wrap-openssl-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// The emulator's key pair (what GetParametersForImport would hand out) and its private key as PEM.
const rsa = generateWrappingKeyPair('RSA_2048');
if (rsa.privateKey.spec !== 'RSA_2048') throw new Error('unexpected key spec');
const rsaPem = join(dir, 'rsa.pem');
writeFileSync(
  rsaPem,
  createPrivateKey({ key: Buffer.from(rsa.privateKey.pkcs8DerBase64, 'base64'), format: 'der', type: 'pkcs8' }).export({
    format: 'pem',
    type: 'pkcs8',
  }),
);
const rsaPubDer = join(dir, 'rsa-pub.der');
writeFileSync(rsaPubDer, Buffer.from(rsa.publicKeyBase64, 'base64'));

const sm2 = ecFixture('SM2');
const sm2Private = { spec: 'EC_SM2', privateKeyHex: ecScalarHex(sm2.privateKey) } as const;
const sm2Pem = join(dir, 'sm2.pem');
writeFileSync(sm2Pem, sm2.privateKey.export({ format: 'pem', type: 'pkcs8' }));
const sm2PubPem = join(dir, 'sm2-pub.pem');
writeFileSync(sm2PubPem, sm2.publicKey.export({ format: 'pem', type: 'spki' }));

let n = 0;
function file(name: string, content?: Buffer | string): string {
  const path = join(dir, `${n++}-${name}`);
  if (content !== undefined) writeFileSync(path, content);
  return path;
}

function openssl(...args: string[]): Buffer {
  // stderr is captured (rsautl prints a deprecation warning) rather than spilled into test output.
  return execFileSync('openssl', args, { stdio: ['ignore', 'pipe', 'pipe'] });
}

function ourWrap(material: Buffer, wrappingAlgorithm: WrappingAlgorithm): Buffer {
  const sm2Alg = wrappingAlgorithm === 'SM2PKE';
  const b64 = wrapKeyMaterial(
    {
      material,
      keySpec: sm2Alg ? 'Aliyun_SM4' : 'Aliyun_AES_256',
      publicKeyBase64: sm2Alg ? sm2.spkiBase64 : rsa.publicKeyBase64,
      wrappingAlgorithm,
      wrappingKeySpec: sm2Alg ? 'EC_SM2' : 'RSA_2048',
    },
    systemRandom,
  );
  return Buffer.from(b64, 'base64');
}

describe('openssl unwraps what wrapKeyMaterial produces', () => {
  it('RSAES_OAEP_SHA_256 = pkeyutl OAEP with sha256 and MGF1-sha256', () => {
    const material = randomBytes(32);
    const ct = file('ct.bin', ourWrap(material, 'RSAES_OAEP_SHA_256'));
    const out = openssl(
      'pkeyutl',
      '-decrypt',
      '-inkey',
      rsaPem,
      '-in',
      ct,
      '-pkeyopt',
      'rsa_padding_mode:oaep',
      '-pkeyopt',
      'rsa_oaep_md:sha256',
      '-pkeyopt',
      'rsa_mgf1_md:sha256',
    );
    expect(out).toEqual(material);
  });

  it('RSAES_OAEP_SHA_256 is not OAEP sha256 with MGF1-sha1', () => {
    const ct = file('ct.bin', ourWrap(randomBytes(32), 'RSAES_OAEP_SHA_256'));
    expect(() =>
      openssl(
        'pkeyutl',
        '-decrypt',
        '-inkey',
        rsaPem,
        '-in',
        ct,
        '-pkeyopt',
        'rsa_padding_mode:oaep',
        '-pkeyopt',
        'rsa_oaep_md:sha256',
        '-pkeyopt',
        'rsa_mgf1_md:sha1',
      ),
    ).toThrow();
  });

  it('RSAES_OAEP_SHA_1 = pkeyutl OAEP with sha1 and MGF1-sha1', () => {
    const material = randomBytes(32);
    const ct = file('ct.bin', ourWrap(material, 'RSAES_OAEP_SHA_1'));
    const out = openssl(
      'pkeyutl',
      '-decrypt',
      '-inkey',
      rsaPem,
      '-in',
      ct,
      '-pkeyopt',
      'rsa_padding_mode:oaep',
      '-pkeyopt',
      'rsa_oaep_md:sha1',
      '-pkeyopt',
      'rsa_mgf1_md:sha1',
    );
    expect(out).toEqual(material);
  });

  it('RSAES_PKCS1_V1_5 = pkeyutl pkcs1 padding', () => {
    const material = randomBytes(32);
    const ct = file('ct.bin', ourWrap(material, 'RSAES_PKCS1_V1_5'));
    expect(openssl('pkeyutl', '-decrypt', '-inkey', rsaPem, '-in', ct, '-pkeyopt', 'rsa_padding_mode:pkcs1')).toEqual(
      material,
    );
  });

  it('SM2PKE = pkeyutl decrypt with an SM2 key (GM/T 0009 DER ciphertext)', () => {
    const material = randomBytes(16);
    const ct = file('ct.bin', ourWrap(material, 'SM2PKE'));
    expect(openssl('pkeyutl', '-decrypt', '-inkey', sm2Pem, '-in', ct)).toEqual(material);
  });
});

describe('unwrapKeyMaterial accepts what openssl produces', () => {
  it('the seed document recipe, run as written, imports as RSAES_OAEP_SHA_1', () => {
    // docs/import-key-material.md step 3, with the file names it uses, in a fresh directory.
    const work = mkdtempSync(join(dir, 'seed-'));
    writeFileSync(join(work, 'PublicKey_base64.txt'), rsa.publicKeyBase64);
    const run = (...args: string[]) => execFileSync('openssl', args, { cwd: work, stdio: ['ignore', 'pipe', 'pipe'] });
    run('rand', '-out', 'KeyMaterial.bin', '32');
    run('enc', '-d', '-base64', '-A', '-in', 'PublicKey_base64.txt', '-out', 'PublicKey.bin');
    run(
      'rsautl',
      '-encrypt',
      '-in',
      'KeyMaterial.bin',
      '-oaep',
      '-inkey',
      'PublicKey.bin',
      '-keyform',
      'DER',
      '-pubin',
      '-out',
      'EncryptedKeyMaterial.bin',
    );
    run('enc', '-e', '-base64', '-A', '-in', 'EncryptedKeyMaterial.bin', '-out', 'EncryptedKeyMaterial_base64.txt');

    const keyMaterial = readFileSync(join(work, 'KeyMaterial.bin'));
    const encrypted = readFileSync(join(work, 'EncryptedKeyMaterial_base64.txt'), 'utf8').trim();
    expect(keyMaterial).toHaveLength(32);
    expect(unwrapKeyMaterial(rsa.privateKey, 'RSAES_OAEP_SHA_1', encrypted)).toEqual(keyMaterial);
  });

  it('pkeyutl OAEP sha256/MGF1-sha256 imports as RSAES_OAEP_SHA_256', () => {
    const material = randomBytes(32);
    const ct = openssl(
      'pkeyutl',
      '-encrypt',
      '-pubin',
      '-inkey',
      rsaPubDer,
      '-keyform',
      'DER',
      '-in',
      file('m.bin', material),
      '-pkeyopt',
      'rsa_padding_mode:oaep',
      '-pkeyopt',
      'rsa_oaep_md:sha256',
      '-pkeyopt',
      'rsa_mgf1_md:sha256',
    );
    expect(unwrapKeyMaterial(rsa.privateKey, 'RSAES_OAEP_SHA_256', ct.toString('base64'))).toEqual(material);
  });

  it('pkeyutl pkcs1 imports as RSAES_PKCS1_V1_5', () => {
    const material = randomBytes(32);
    const ct = openssl(
      'pkeyutl',
      '-encrypt',
      '-pubin',
      '-inkey',
      rsaPubDer,
      '-keyform',
      'DER',
      '-in',
      file('m.bin', material),
      '-pkeyopt',
      'rsa_padding_mode:pkcs1',
    );
    expect(unwrapKeyMaterial(rsa.privateKey, 'RSAES_PKCS1_V1_5', ct.toString('base64'))).toEqual(material);
  });

  it('pkeyutl encrypt with an SM2 public key imports as SM2PKE', () => {
    const material = randomBytes(16);
    const ct = openssl('pkeyutl', '-encrypt', '-pubin', '-inkey', sm2PubPem, '-in', file('m.bin', material));
    expect(unwrapKeyMaterial(sm2Private, 'SM2PKE', ct.toString('base64'))).toEqual(material);
  });
});
