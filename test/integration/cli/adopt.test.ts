/**
 * `adopt` (issue 9 §3): an EXTERNAL key whose material was imported by hand is taken under
 * management, through the CLI in direct mode against the emulator: raw material (binary and Base64),
 * the wrapped form (refused: only KMS can unwrap it), wrong material (refused by KMS, nothing
 * changed), a key already managed (refused), and the material never printed or audited.
 */
import { randomBytes } from 'node:crypto';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KmsEmulator } from '@byok/kms-emulator';
import { type CliTestEnv, startCliTestEnv } from '../../support/cli-env.js';
import { KEYS_INSTANCE } from '../../support/engine-harness.js';
import { ExitCode, runCli } from '../../../scripts/ops/cli.js';
import { parseOpsRequest } from '../../../shared/ops/commands.js';
import type { KmsPort } from '../../../shared/kms/port.js';
import { systemRandom } from '../../../shared/system.js';
import { wrapKeyMaterial } from '../../../shared/wrap/index.js';

const AK = { accessKeyId: 'adopt-ak-0001', accessKeySecret: 'adopt-SECRET-value-do-not-print-0123456789' };

let emu: KmsEmulator;
let kms: KmsPort;
let env: Record<string, string | undefined>;
let dir: string;
let world: CliTestEnv | undefined;

async function ops(argv: string[]) {
  let stdout = '';
  let stderr = '';
  const code = await runCli(argv, {
    env,
    stdout: (s) => (stdout += s),
    stderr: (s) => (stderr += s),
    now: () => emu.clock.nowUnix() * 1000,
  });
  return { code, stdout, stderr };
}

/** The seed procedure by hand: an EXTERNAL key, material wrapped to its public key, imported. */
async function handImportedKey(material: Buffer): Promise<{ keyId: string; expireUnix: number; wrapped: string }> {
  const { keyId } = await kms.createKey({
    origin: 'EXTERNAL',
    keySpec: 'Aliyun_AES_256',
    dkmsInstanceId: KEYS_INSTANCE,
  });
  const params = await kms.getParametersForImport({
    keyId,
    wrappingAlgorithm: 'RSAES_OAEP_SHA_256',
    wrappingKeySpec: 'RSA_2048',
  });
  const wrapped = wrapKeyMaterial(
    {
      material,
      keySpec: 'Aliyun_AES_256',
      publicKeyBase64: params.publicKeyBase64,
      wrappingAlgorithm: 'RSAES_OAEP_SHA_256',
      wrappingKeySpec: 'RSA_2048',
    },
    systemRandom,
  );
  const expireUnix = emu.clock.nowUnix() + 30 * 86400;
  await kms.importKeyMaterial({
    keyId,
    encryptedKeyMaterial: wrapped,
    importToken: params.importToken,
    keyMaterialExpireUnix: expireUnix,
  });
  return {
    keyId,
    expireUnix,
    wrapped: JSON.stringify({ encryptedKeyMaterial: wrapped, importToken: params.importToken }),
  };
}

/** Every form the material could leak in. */
const forms = (m: Buffer) => [m.toString('base64'), m.toString('hex'), m.toString('base64url')];

async function byokTags(keyId: string): Promise<string[]> {
  return Object.keys(await kms.listResourceTags(keyId)).filter((t) => t.startsWith('byok:'));
}

async function aliasTarget(alias: string): Promise<string | undefined> {
  try {
    return (await kms.describeKey(alias)).keyId;
  } catch {
    return undefined;
  }
}

async function escrowFiles(keyId: string): Promise<string[]> {
  const names = await readdir(join(dir, 'escrow')).catch(() => [] as string[]);
  return names.filter((n) => n.includes(keyId));
}

const secrets: Buffer[] = [];
let out = '';

beforeAll(async () => {
  world = await startCliTestEnv(AK, 'byok-adopt-');
  ({ emu, kms, env, dir } = world);
});

afterAll(async () => {
  await world?.close();
});

describe('adopt', () => {
  let first: string;

  it('adopts a hand-imported key from its raw material: proven, escrowed, tagged, aliased, shred advice', async () => {
    const material = randomBytes(32);
    secrets.push(material);
    const { keyId, expireUnix } = await handImportedKey(material);
    const file = join(dir, 'KeyMaterial.bin');
    await writeFile(file, material);
    const r = await ops(['adopt', keyId, '--material-file', file, '--alias', 'alias/legacy']);
    out += r.stdout + r.stderr;
    expect(r.stderr).toBe('');
    expect(r.code).toBe(ExitCode.Ok);
    expect(r.stdout).toContain(`Adopted ${keyId} as generation 1 of alias/legacy`);
    expect(r.stdout).toContain(`shred -u ${file}`);
    const tags = await kms.listResourceTags(keyId);
    expect(tags['byok:managed']).toBe('true');
    expect(tags['byok:lineage']).toBe('legacy');
    expect(tags['byok:generation']).toBe('1');
    expect(tags['byok:phase']).toBe('ready');
    expect(tags['byok:fingerprint']).toMatch(/\S/);
    expect(await aliasTarget('alias/legacy')).toBe(keyId);
    // The proof import kept the key's Valid Until.
    expect((await kms.describeKey(keyId)).materialExpireAtMs).toBe(expireUnix * 1000);
    const v = await ops(['verify-escrow']);
    expect(v.code).toBe(ExitCode.Ok);
    expect(v.stdout).toContain(keyId);
    first = keyId;
  });

  it('adopts a second key (material as Base64 text) as the next generation and moves the alias', async () => {
    const material = randomBytes(32);
    secrets.push(material);
    const { keyId } = await handImportedKey(material);
    const file = join(dir, 'material.b64');
    await writeFile(file, `${material.toString('base64')}\n`);
    const r = await ops(['adopt', keyId, '--material-file', file, '--alias', 'legacy', '--json']);
    out += r.stdout + r.stderr;
    expect(r.code).toBe(ExitCode.Ok);
    const doc = JSON.parse(r.stdout) as Record<string, unknown>;
    expect(doc).toMatchObject({ command: 'adopt', keyId, lineage: 'legacy', generation: 2, previousKeyId: first });
    expect(await aliasTarget('alias/legacy')).toBe(keyId);
    // As after a rotation: the previous generation is marked superseded, and the next sweep has nothing to do.
    expect((await kms.listResourceTags(first))['byok:superseded-at']).toMatch(/^\d+$/);
    const plan = await ops(['plan', '--json']);
    const actions = (JSON.parse(plan.stdout) as { plan: { actions: { kind: string; keyId?: string }[] } }).plan.actions;
    expect(actions.filter((x) => x.keyId === keyId || x.keyId === first)).toEqual([]);
  });

  it('refuses a key that is already managed, nothing changed', async () => {
    const file = join(dir, 'KeyMaterial.bin');
    const before = await kms.listResourceTags(first);
    const r = await ops(['adopt', first, '--material-file', file, '--alias', 'alias/other']);
    out += r.stdout + r.stderr;
    expect(r.code).toBe(ExitCode.Failure);
    expect(r.stderr).toContain(`key ${first} is already managed (lineage legacy, generation 1): nothing to adopt`);
    expect(await kms.listResourceTags(first)).toEqual(before);
    expect(await aliasTarget('alias/other')).toBeUndefined();
  });

  it('refuses wrong material (InvalidKeyMaterial): no tags, alias or escrow; the right one then works', async () => {
    const material = randomBytes(32);
    const wrong = randomBytes(32);
    secrets.push(material, wrong);
    const { keyId, expireUnix } = await handImportedKey(material);
    const file = join(dir, 'wrong.bin');
    await writeFile(file, wrong);
    const r = await ops(['adopt', keyId, '--material-file', file, '--alias', 'alias/wrong']);
    out += r.stdout + r.stderr;
    expect(r.code).toBe(ExitCode.Failure);
    expect(r.stderr).toContain("the material is not the key's own: KMS refused it (InvalidKeyMaterial)");
    expect(r.stderr).not.toContain('shred');
    expect(await byokTags(keyId)).toEqual([]);
    expect(await aliasTarget('alias/wrong')).toBeUndefined();
    expect(await escrowFiles(keyId)).toEqual([]);
    const meta = await kms.describeKey(keyId);
    expect(meta.keyState).toBe('Enabled');
    expect(meta.materialExpireAtMs).toBe(expireUnix * 1000);
    // Nothing was left under the key id that could block the right material.
    const right = join(dir, 'right.bin');
    await writeFile(right, material);
    const ok = await ops(['adopt', keyId, '--material-file', right, '--alias', 'alias/wrong']);
    out += ok.stdout + ok.stderr;
    expect(ok.code).toBe(ExitCode.Ok);
    expect(await aliasTarget('alias/wrong')).toBe(keyId);
  });

  it('refuses the wrapped form (JSON and the seed Base64 file): only KMS can unwrap it', async () => {
    const material = randomBytes(32);
    secrets.push(material);
    const { keyId, wrapped } = await handImportedKey(material);
    const json = join(dir, 'wrapped.json');
    await writeFile(json, wrapped);
    const seed = join(dir, 'EncryptedKeyMaterial_base64.txt');
    await writeFile(seed, (JSON.parse(wrapped) as { encryptedKeyMaterial: string }).encryptedKeyMaterial);
    for (const file of [json, seed]) {
      const r = await ops(['adopt', keyId, '--material-file', file, '--alias', 'alias/wrapped']);
      out += r.stdout + r.stderr;
      expect(r.code).toBe(ExitCode.Usage);
      expect(r.stderr).toContain('this is the wrapped form');
      expect(r.stderr).toContain('only KMS can unwrap it');
    }
    expect(await byokTags(keyId)).toEqual([]);
    expect(await aliasTarget('alias/wrapped')).toBeUndefined();
    expect(await escrowFiles(keyId)).toEqual([]);
  });

  it('refuses --remote (the material never travels) and a missing --alias', async () => {
    const r = await ops(['--remote', 'adopt', 'key-x', '--material-file', '/nonexistent', '--alias', 'a']);
    expect(r.code).toBe(ExitCode.Usage);
    expect(r.stderr).toContain('adopt --remote: not available');
    const m = await ops(['adopt', 'key-x', '--material-file', '/nonexistent']);
    expect(m.code).toBe(ExitCode.Usage);
    expect(m.stderr).toContain('--alias <alias> is required');
    // The ops function never takes an adopt request (no material in an invocation payload).
    expect(() => parseOpsRequest({ command: 'adopt', keyId: 'k', alias: 'a', materialFile: '/x' })).toThrow(
      /adopt runs in direct mode only/,
    );
  });

  it('audits adopt as the operator and never prints or audits the material', async () => {
    const audit = await readFile(env['BYOK_AUDIT_FILE']!, 'utf8');
    const adopts = audit
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => JSON.parse(l) as { action?: string; actor?: { kind?: string } })
      .filter((e) => e.action === 'adopt');
    expect(adopts.length).toBeGreaterThan(0);
    expect(adopts.every((e) => e.actor?.kind === 'operator')).toBe(true);
    for (const m of secrets)
      for (const f of forms(m)) {
        expect(out).not.toContain(f);
        expect(audit).not.toContain(f);
      }
  });
});
