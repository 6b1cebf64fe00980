/**
 * The dev-only workspaces stay independent of the product: no file under packages/ imports outside
 * its own package (only `node:` built-ins and the package's declared dependencies), so the
 * emulator's unwrapping is a real second implementation. SM2PKE goes through the `openssl` CLI.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { systemRandom } from '../../../shared/system.js';
import { wrapKeyMaterial } from '../../../shared/wrap/index.js';
import { EmulatorErrorCode } from '../../../packages/kms-emulator/src/errors.js';
import { isSingleDerSequence } from '../../../packages/kms-emulator/src/sm2-openssl.js';
import { generateWrappingKeyPair, unwrapKeyMaterial } from '../../../packages/kms-emulator/src/wrapping-keys.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sourceFiles(join(dir, e.name)) : /\.[cm]?[jt]s$/.test(e.name) ? [join(dir, e.name)] : [],
  );
}

/** Module specifiers of static imports, re-exports, dynamic imports and literal requires. */
function specifiers(text: string): string[] {
  const out: string[] = [];
  for (const re of [/\bfrom\s+'([^']+)'/g, /\bimport\s*\(\s*'([^']+)'\s*\)/g, /\brequire\(\s*'([^']+)'\s*\)/g]) {
    for (const m of text.matchAll(re)) out.push(m[1]!);
  }
  return out;
}

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return (err as { code?: string }).code;
  }
  return undefined;
}

describe.each(['kms-emulator', 'fc-local-host'])('packages/%s', (name) => {
  const dir = join(ROOT, 'packages', name);
  const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as {
    dependencies?: Record<string, string>;
  };
  const allowed = new Set(Object.keys(manifest.dependencies ?? {}));

  it('imports only node: built-ins, its own files and its declared dependencies', () => {
    const files = sourceFiles(join(dir, 'src'));
    expect(files.length).toBeGreaterThan(5);
    const offending: string[] = [];
    for (const file of files) {
      for (const spec of specifiers(readFileSync(file, 'utf8'))) {
        const ok = spec.startsWith('node:')
          ? true
          : spec.startsWith('.')
            ? !relative(dir, join(file, '..', spec)).startsWith('..')
            : allowed.has(spec);
        if (!ok) offending.push(`${relative(ROOT, file)}: ${spec}`);
      }
    }
    expect(offending).toEqual([]);
  });
});

describe('SM2PKE through openssl', () => {
  const material = Buffer.from('00112233445566778899aabbccddeeff', 'hex');
  const pair = generateWrappingKeyPair('EC_SM2');
  const wrapped = (): Buffer =>
    Buffer.from(
      wrapKeyMaterial(
        {
          material,
          keySpec: 'Aliyun_SM4',
          publicKeyBase64: pair.publicKeyBase64,
          wrappingAlgorithm: 'SM2PKE',
          wrappingKeySpec: 'EC_SM2',
        },
        systemRandom,
      ),
      'base64',
    );

  it('unwraps what the product wraps (sm-crypto-v2 on one side, OpenSSL on the other)', () => {
    expect(unwrapKeyMaterial(pair.privateKey, 'SM2PKE', wrapped().toString('base64'))).toEqual(material);
  });

  it('refuses trailing bytes after the SM2Cipher SEQUENCE, which OpenSSL alone would ignore', () => {
    const ct = Buffer.concat([wrapped(), Buffer.from([0])]);
    expect(codeOf(() => unwrapKeyMaterial(pair.privateKey, 'SM2PKE', ct.toString('base64')))).toBe(
      EmulatorErrorCode.UnwrapFailed,
    );
  });

  it('recognises exactly one DER SEQUENCE with a minimal length', () => {
    expect(isSingleDerSequence(Buffer.from('3000', 'hex'))).toBe(true);
    expect(isSingleDerSequence(Buffer.concat([Buffer.from('308180', 'hex'), Buffer.alloc(0x80)]))).toBe(true);
    expect(isSingleDerSequence(Buffer.from('300000', 'hex'))).toBe(false); // trailing byte
    expect(isSingleDerSequence(Buffer.from('3002', 'hex'))).toBe(false); // truncated
    expect(isSingleDerSequence(Buffer.from('30810100', 'hex'))).toBe(false); // non-minimal long form
    expect(isSingleDerSequence(Buffer.from('3101', 'hex'))).toBe(false);
    expect(isSingleDerSequence(Buffer.alloc(0))).toBe(false);
  });
});

describe('SM2PKE without a usable openssl', () => {
  afterEach(() => {
    vi.unstubAllEnvs();
    vi.resetModules();
  });

  it('refuses to issue an EC_SM2 wrapping key, naming the KMS_EMULATOR_OPENSSL setting', async () => {
    vi.stubEnv('KMS_EMULATOR_OPENSSL', join(ROOT, 'no-such-openssl'));
    vi.resetModules(); // a fresh module: the capability check runs once per process
    const fresh = await import('../../../packages/kms-emulator/src/wrapping-keys.js');
    let err: { code?: string; message?: string } | undefined;
    try {
      fresh.generateWrappingKeyPair('EC_SM2');
    } catch (e) {
      err = e as typeof err;
    }
    expect(err?.code).toBe(EmulatorErrorCode.Sm2Unavailable);
    expect(err?.message).toMatch(/KMS_EMULATOR_OPENSSL/);
    // RSA wrapping does not need openssl at all.
    expect(fresh.generateWrappingKeyPair('RSA_2048').privateKey.spec).toBe('RSA_2048');
  });
});
