/**
 * Runs the `sh` blocks of shared/escrow/BREAK-GLASS.md verbatim with the openssl CLI, against
 * blobs written by both escrow backends, and checks the material that comes out.
 */
import { execFileSync } from 'node:child_process';
import { constants, generateKeyPairSync, privateDecrypt, randomBytes } from 'node:crypto';
import { promises as fs, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { escrowSecretName, createKmsSecretsEscrowStore } from '../../../shared/escrow/kms-secrets-store.js';
import { openFileEscrowStore } from '../../../shared/escrow/file-store.js';
import { FakeSecretsKms } from '../../support/fake-secrets-kms.js';
import { testMaterial, testRecord } from '../../unit/escrow/contract.js';

const DOC = fileURLToPath(new URL('../../../shared/escrow/BREAK-GLASS.md', import.meta.url));
const random = { bytes: (n: number) => randomBytes(n) };

/** The `sh` blocks of the document, by their `# step:` name, in document order. */
function documentedSteps(): Map<string, string> {
  const steps = new Map<string, string>();
  for (const m of readFileSync(DOC, 'utf8').matchAll(/```sh\n# step: ([a-z-]+)\n([\s\S]*?)```/g)) {
    steps.set(m[1] ?? '', m[2] ?? '');
  }
  return steps;
}

const steps = documentedSteps();
let work: string;

/** Runs one documented step exactly as written, with POSIX sh, in `cwd`. */
function run(step: string, cwd: string, env: Record<string, string> = {}): string {
  const script = steps.get(step);
  if (script === undefined) throw new Error(`BREAK-GLASS.md has no step ${step}`);
  return execFileSync('sh', ['-eu', '-c', script], {
    cwd,
    env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', ...env },
    encoding: 'utf8',
  });
}

async function freshDir(name: string): Promise<string> {
  const dir = path.join(work, name);
  await fs.mkdir(dir);
  await fs.copyFile(path.join(work, 'ceremony', 'recovery.pem'), path.join(dir, 'recovery.pem'));
  return dir;
}

beforeAll(async () => {
  work = await fs.mkdtemp(path.join(os.tmpdir(), 'break-glass-'));
  await fs.mkdir(path.join(work, 'ceremony'));
  run('make-recovery-key', path.join(work, 'ceremony'));
});

afterAll(async () => {
  await fs.rm(work, { recursive: true, force: true });
});

describe('BREAK-GLASS.md', () => {
  it('documents the tested steps in this order', () => {
    expect([...steps.keys()]).toEqual([
      'make-recovery-key',
      'fetch-file',
      'fetch-kms',
      'decrypt',
      'extract-material',
      'check-fingerprint',
      'wrap-for-kms',
      'cleanup',
    ]);
  });

  it('creates an RSA-4096 recovery key with the documented ceremony', () => {
    const text = execFileSync(
      'openssl',
      ['pkey', '-pubin', '-in', path.join(work, 'ceremony', 'recovery.pub.pem'), '-noout', '-text'],
      { encoding: 'utf8' },
    );
    expect(text).toMatch(/Public-Key: \(4096 bit\)/);
  });

  it('recovers the material of a file-backend record with openssl only', async () => {
    const dir = await freshDir('file');
    const escrowDir = path.join(dir, 'escrow');
    const recoveryPublicKeyPem = await fs.readFile(path.join(work, 'ceremony', 'recovery.pub.pem'), 'utf8');
    const store = await openFileEscrowStore({
      dir: escrowDir,
      masterKeyFile: path.join(dir, 'master.key'),
      random,
      recoveryPublicKeyPem,
    });
    await store.put(testRecord(1));
    const env = { KEY_ID: testRecord(1).keyId, ESCROW_DIR: escrowDir };
    run('fetch-file', dir, env);
    run('decrypt', dir, env);
    const printed = run('extract-material', dir, env);
    expect([printed, (await fs.readFile(path.join(dir, 'KeyMaterial.bin'))).toString('hex')]).toEqual([
      `${testRecord(1).keyId}\n`,
      testMaterial(1).toString('hex'),
    ]);
  });

  it('recovers the material of a kms-secrets record from a saved GetSecretValue answer', async () => {
    const dir = await freshDir('kms');
    const kms = new FakeSecretsKms();
    const recoveryPublicKeyPem = await fs.readFile(path.join(work, 'ceremony', 'recovery.pub.pem'), 'utf8');
    await createKmsSecretsEscrowStore({ kms, encryptionKeyId: 'escrow-cmk', recoveryPublicKeyPem }).put(testRecord(2));
    const value = await kms.getSecretValue({ secretName: escrowSecretName(testRecord(2).keyId) });
    // The shape `aliyun kms GetSecretValue` prints: SecretData is a JSON string inside JSON.
    const answer = {
      RequestId: value.requestId,
      SecretName: value.secretName,
      VersionId: value.versionId,
      SecretData: value.secretData,
      SecretDataType: 'text',
    };
    await fs.writeFile(path.join(dir, 'secret.json'), JSON.stringify(answer, null, 2));
    const env = { KEY_ID: testRecord(2).keyId };
    run('fetch-kms', dir, env);
    run('decrypt', dir, env);
    run('extract-material', dir, env);
    expect((await fs.readFile(path.join(dir, 'KeyMaterial.bin'))).toString('hex')).toBe(
      testMaterial(2).toString('hex'),
    );
  });

  it('recomputes the recorded fingerprint from the recovered material', async () => {
    const dir = await freshDir('fingerprint');
    const escrowDir = path.join(dir, 'escrow');
    const recoveryPublicKeyPem = await fs.readFile(path.join(work, 'ceremony', 'recovery.pub.pem'), 'utf8');
    const store = await openFileEscrowStore({
      dir: escrowDir,
      masterKeyFile: path.join(dir, 'master.key'),
      random,
      recoveryPublicKeyPem,
    });
    await store.put(testRecord(3));
    const env = { KEY_ID: testRecord(3).keyId, ESCROW_DIR: escrowDir };
    for (const step of ['fetch-file', 'decrypt', 'extract-material']) run(step, dir, env);
    expect(run('check-fingerprint', dir, env)).toBe(`${testRecord(3).fingerprint}\n${testRecord(3).fingerprint}\n`);
  });

  it('wraps the recovered material so the KMS import key (RSAES_OAEP_SHA_256) unwraps it', async () => {
    const dir = await freshDir('wrap');
    const escrowDir = path.join(dir, 'escrow');
    const recoveryPublicKeyPem = await fs.readFile(path.join(work, 'ceremony', 'recovery.pub.pem'), 'utf8');
    const store = await openFileEscrowStore({
      dir: escrowDir,
      masterKeyFile: path.join(dir, 'master.key'),
      random,
      recoveryPublicKeyPem,
    });
    await store.put(testRecord(4));
    const env = { KEY_ID: testRecord(4).keyId, ESCROW_DIR: escrowDir };
    for (const step of ['fetch-file', 'decrypt', 'extract-material']) run(step, dir, env);
    // Stands in for GetParametersForImport: a one-time RSA-2048 key, public half as base64 DER.
    const importKey = generateKeyPairSync('rsa', { modulusLength: 2048 });
    await fs.writeFile(
      path.join(dir, 'PublicKey_base64.txt'),
      importKey.publicKey.export({ type: 'spki', format: 'der' }).toString('base64'),
    );
    run('wrap-for-kms', dir, env);
    const wrapped = Buffer.from(await fs.readFile(path.join(dir, 'EncryptedKeyMaterial_base64.txt'), 'utf8'), 'base64');
    const unwrapped = privateDecrypt(
      { key: importKey.privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' },
      wrapped,
    );
    expect(unwrapped.toString('hex')).toBe(testMaterial(4).toString('hex'));
  });

  it('cleans up every plaintext and intermediate file', async () => {
    const dir = await freshDir('cleanup');
    await Promise.all(
      ['KeyMaterial.bin', 'payload.json', 'breakglass.bin', 'EncryptedKeyMaterial.bin'].map((f) =>
        fs.writeFile(path.join(dir, f), 'x'),
      ),
    );
    run('cleanup', dir);
    expect((await fs.readdir(dir)).sort()).toEqual(['recovery.pem']);
  });
});
