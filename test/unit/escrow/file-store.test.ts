import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ErrorCode } from '../../../shared/errors.js';
import { openFileEscrowStore } from '../../../shared/escrow/file-store.js';
import type { RandomSource } from '../../../shared/runtime-types.js';
import {
  escrowStoreContract,
  expectNoMaterialIn,
  rejection,
  testMaterial,
  testRecord,
  testRecoveryKey,
} from './contract.js';

const tmpRoots: string[] = [];
afterAll(async () => {
  await Promise.all(tmpRoots.map((d) => fs.rm(d, { recursive: true, force: true })));
});

async function tempRoot(): Promise<{ dir: string; masterKeyFile: string }> {
  const root = await fs.mkdtemp(path.join(os.tmpdir(), 'escrow-file-'));
  tmpRoots.push(root);
  return { dir: path.join(root, 'escrow'), masterKeyFile: path.join(root, 'keys', 'master.key') };
}

const systemRandomSource: RandomSource = { bytes: (n) => randomBytes(n) };

/** A reproducible RandomSource that also remembers what it handed out. */
function countingRandom(): RandomSource & { handedOut: Buffer[] } {
  let counter = 0;
  const handedOut: Buffer[] = [];
  return {
    handedOut,
    bytes(n: number): Buffer {
      const out = Buffer.alloc(n);
      for (let off = 0; off < n; off += 32) createHash('sha256').update(`rng-${counter++}`).digest().copy(out, off);
      handedOut.push(Buffer.from(out));
      return out;
    },
  };
}

/** Opens a sealed record with the store's master key (test-side, independent of the store code). */
async function unsealRecord(dir: string, masterKeyFile: string, keyId: string): Promise<Record<string, unknown>> {
  const env = JSON.parse(await fs.readFile(path.join(dir, `${keyId}.escrow`), 'utf8')) as Record<string, string>;
  const d = createDecipheriv('aes-256-gcm', await fs.readFile(masterKeyFile), Buffer.from(env['iv'] ?? '', 'base64'));
  d.setAAD(Buffer.from(keyId, 'utf8'));
  d.setAuthTag(Buffer.from(env['tag'] ?? '', 'base64'));
  return JSON.parse(
    Buffer.concat([d.update(Buffer.from(env['ct'] ?? '', 'base64')), d.final()]).toString('utf8'),
  ) as Record<string, unknown>;
}

/** Re-seals a (modified) record payload correctly, as someone holding the master key could. */
async function resealRecord(
  dir: string,
  masterKeyFile: string,
  keyId: string,
  payload: Record<string, unknown>,
): Promise<void> {
  const iv = randomBytes(12);
  const c = createCipheriv('aes-256-gcm', await fs.readFile(masterKeyFile), iv);
  c.setAAD(Buffer.from(keyId, 'utf8'));
  const ct = Buffer.concat([c.update(JSON.stringify(payload), 'utf8'), c.final()]);
  const env = {
    v: 1,
    alg: 'AES-256-GCM',
    keyId,
    iv: iv.toString('base64'),
    ct: ct.toString('base64'),
    tag: c.getAuthTag().toString('base64'),
  };
  await fs.writeFile(path.join(dir, `${keyId}.escrow`), JSON.stringify(env));
}

escrowStoreContract('file', async (options) => {
  const { dir, masterKeyFile } = await tempRoot();
  const open = () => openFileEscrowStore({ dir, masterKeyFile, random: systemRandomSource, ...options });
  return {
    store: await open(),
    reopen: open,
    async corruptMaterial(keyId) {
      const payload = await unsealRecord(dir, masterKeyFile, keyId);
      const material = Buffer.from(String(payload['material']), 'base64').map((b) => b ^ 0xff);
      await resealRecord(dir, masterKeyFile, keyId, { ...payload, material: Buffer.from(material).toString('base64') });
    },
    async readBreakGlass(keyId) {
      try {
        return (await fs.readFile(path.join(dir, `${keyId}.breakglass`), 'utf8')).trim();
      } catch {
        return undefined;
      }
    },
  };
});

describe('file escrow backend', () => {
  it('creates the master key file with mode 0600 on first use', async () => {
    const { dir, masterKeyFile } = await tempRoot();
    await openFileEscrowStore({ dir, masterKeyFile, random: systemRandomSource });
    const stat = await fs.stat(masterKeyFile);
    expect([stat.mode & 0o777, stat.size]).toEqual([0o600, 32]);
  });

  it('draws the master key from the injected RandomSource', async () => {
    const { dir, masterKeyFile } = await tempRoot();
    const random = countingRandom();
    await openFileEscrowStore({ dir, masterKeyFile, random });
    expect((await fs.readFile(masterKeyFile)).toString('hex')).toBe(random.handedOut[0]?.toString('hex'));
  });

  it('writes record and break-glass files with mode 0600 in a 0700 directory', async () => {
    const { dir, masterKeyFile } = await tempRoot();
    const { publicKey } = await testRecoveryKey();
    const store = await openFileEscrowStore({
      dir,
      masterKeyFile,
      random: systemRandomSource,
      recoveryPublicKeyPem: publicKey,
    });
    await store.put(testRecord(1));
    const modes = await Promise.all(
      [dir, `${testRecord(1).keyId}.escrow`, `${testRecord(1).keyId}.breakglass`, '.canary'].map(async (p) =>
        ((await fs.stat(path.isAbsolute(p) ? p : path.join(dir, p))).mode & 0o777).toString(8),
      ),
    );
    expect(modes).toEqual(['700', '600', '600', '600']);
  });

  it('seals records with a GCM IV taken from the injected RandomSource', async () => {
    const { dir, masterKeyFile } = await tempRoot();
    const random = countingRandom();
    const store = await openFileEscrowStore({ dir, masterKeyFile, random });
    const before = random.handedOut.length;
    await store.put(testRecord(1));
    const env = JSON.parse(await fs.readFile(path.join(dir, `${testRecord(1).keyId}.escrow`), 'utf8')) as {
      iv: string;
    };
    expect(env.iv).toBe(random.handedOut[before]?.toString('base64'));
  });

  it('never writes the material in the clear', async () => {
    const { dir, masterKeyFile } = await tempRoot();
    const store = await openFileEscrowStore({ dir, masterKeyFile, random: systemRandomSource });
    await store.put(testRecord(1));
    const bytes = await fs.readFile(path.join(dir, `${testRecord(1).keyId}.escrow`));
    const m = testMaterial(1);
    expect([bytes.includes(m), bytes.includes(m.toString('hex')), bytes.includes(m.toString('base64'))]).toEqual([
      false,
      false,
      false,
    ]);
  });

  it('leaves no temporary files behind after puts', async () => {
    const { dir, masterKeyFile } = await tempRoot();
    const store = await openFileEscrowStore({ dir, masterKeyFile, random: systemRandomSource });
    await store.put(testRecord(1));
    await store.put(testRecord(1));
    await store.put(testRecord(2));
    expect((await fs.readdir(dir)).sort()).toEqual([
      '.canary',
      `${testRecord(1).keyId}.escrow`,
      `${testRecord(2).keyId}.escrow`,
    ]);
  });

  it("fails at open with EscrowWrongMasterKey when the master key is not the store's", async () => {
    const { dir, masterKeyFile } = await tempRoot();
    await openFileEscrowStore({ dir, masterKeyFile, random: systemRandomSource });
    await fs.writeFile(masterKeyFile, randomBytes(32), { mode: 0o600 });
    const err = await rejection(openFileEscrowStore({ dir, masterKeyFile, random: systemRandomSource }));
    expect([err.code, err.details.field]).toEqual([ErrorCode.EscrowWrongMasterKey, 'masterKeyFile']);
  });

  it('keeps both master keys out of the wrong-master-key error', async () => {
    const { dir, masterKeyFile } = await tempRoot();
    await openFileEscrowStore({ dir, masterKeyFile, random: systemRandomSource });
    const right = await fs.readFile(masterKeyFile);
    const wrong = randomBytes(32);
    await fs.writeFile(masterKeyFile, wrong);
    const err = await rejection(openFileEscrowStore({ dir, masterKeyFile, random: systemRandomSource }));
    expectNoMaterialIn(err, [right, wrong]);
  });

  it('refuses to mint a new master key for a store that already holds sealed data', async () => {
    const { dir, masterKeyFile } = await tempRoot();
    const store = await openFileEscrowStore({ dir, masterKeyFile, random: systemRandomSource });
    await store.put(testRecord(1));
    await fs.rm(masterKeyFile);
    const err = await rejection(openFileEscrowStore({ dir, masterKeyFile, random: systemRandomSource }));
    expect(err.code).toBe(ErrorCode.EscrowWrongMasterKey);
    await expect(fs.access(masterKeyFile)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('rejects a master key file readable by group or others with InvalidConfig', async () => {
    const { dir, masterKeyFile } = await tempRoot();
    await openFileEscrowStore({ dir, masterKeyFile, random: systemRandomSource });
    await fs.chmod(masterKeyFile, 0o640);
    const err = await rejection(openFileEscrowStore({ dir, masterKeyFile, random: systemRandomSource }));
    expect([err.code, err.details.field]).toEqual([ErrorCode.InvalidConfig, 'masterKeyFile']);
  });

  it('rejects a master key file that is not exactly 32 bytes with InvalidConfig', async () => {
    const { dir, masterKeyFile } = await tempRoot();
    await fs.mkdir(path.dirname(masterKeyFile), { recursive: true });
    await fs.writeFile(masterKeyFile, randomBytes(31), { mode: 0o600 });
    const err = await rejection(openFileEscrowStore({ dir, masterKeyFile, random: systemRandomSource }));
    expect(err.code).toBe(ErrorCode.InvalidConfig);
  });

  it('uses an operator-provided 32-byte key file as is', async () => {
    const { dir, masterKeyFile } = await tempRoot();
    const key = randomBytes(32);
    await fs.mkdir(path.dirname(masterKeyFile), { recursive: true });
    await fs.writeFile(masterKeyFile, key, { mode: 0o600 });
    const store = await openFileEscrowStore({ dir, masterKeyFile, random: systemRandomSource });
    await store.put(testRecord(1));
    expect((await unsealRecord(dir, masterKeyFile, testRecord(1).keyId))['fingerprint']).toBe(
      testRecord(1).fingerprint,
    );
  });

  it('reports a flipped ciphertext byte as EscrowCorrupt', async () => {
    const { dir, masterKeyFile } = await tempRoot();
    const store = await openFileEscrowStore({ dir, masterKeyFile, random: systemRandomSource });
    await store.put(testRecord(1));
    const file = path.join(dir, `${testRecord(1).keyId}.escrow`);
    const env = JSON.parse(await fs.readFile(file, 'utf8')) as { ct: string };
    const ct = Buffer.from(env.ct, 'base64');
    ct[5] = (ct[5] ?? 0) ^ 0x01;
    await fs.writeFile(file, JSON.stringify({ ...env, ct: ct.toString('base64') }));
    expect((await rejection(store.get(testRecord(1).keyId))).code).toBe(ErrorCode.EscrowCorrupt);
  });

  it('reports a truncated record file as EscrowCorrupt', async () => {
    const { dir, masterKeyFile } = await tempRoot();
    const store = await openFileEscrowStore({ dir, masterKeyFile, random: systemRandomSource });
    await store.put(testRecord(1));
    const file = path.join(dir, `${testRecord(1).keyId}.escrow`);
    await fs.truncate(file, 40);
    expect((await rejection(store.get(testRecord(1).keyId))).code).toBe(ErrorCode.EscrowCorrupt);
  });

  it('reports one unreadable entry (EISDIR, EACCES) per record and still lists the others (issue 8)', async () => {
    const { dir, masterKeyFile } = await tempRoot();
    const store = await openFileEscrowStore({ dir, masterKeyFile, random: systemRandomSource });
    await store.put(testRecord(1));
    await store.put(testRecord(3));
    await fs.mkdir(path.join(dir, `${testRecord(2).keyId}.escrow`)); // EISDIR on read
    const unreadableFile = path.join(dir, `${testRecord(3).keyId}.escrow`);
    await fs.chmod(unreadableFile, 0o000); // EACCES (unless running as root)
    const rootCanRead = await fs.readFile(unreadableFile).then(
      () => true,
      () => false,
    );
    const listing = await store.list();
    expect(listing.records.map((r) => r.keyId)).toEqual(
      rootCanRead ? [testRecord(1).keyId, testRecord(3).keyId] : [testRecord(1).keyId],
    );
    expect(listing.unreadable.map((u) => u.keyId)).toEqual(
      rootCanRead ? [testRecord(2).keyId] : [testRecord(2).keyId, testRecord(3).keyId],
    );
    await fs.chmod(unreadableFile, 0o600);
  });

  it('refuses to start on a missing or emptied directory where this master key sealed a store (issue 8)', async () => {
    const { dir, masterKeyFile } = await tempRoot();
    const store = await openFileEscrowStore({ dir, masterKeyFile, random: systemRandomSource });
    await store.put(testRecord(1));
    await fs.rename(dir, `${dir}.elsewhere`); // unmounted: the mount point is gone...
    const missing = await rejection(openFileEscrowStore({ dir, masterKeyFile, random: systemRandomSource }));
    await fs.mkdir(dir, { mode: 0o700 }); // ...or an empty mount point
    const empty = await rejection(openFileEscrowStore({ dir, masterKeyFile, random: systemRandomSource }));
    expect([missing.code, empty.code]).toEqual([ErrorCode.InvalidConfig, ErrorCode.InvalidConfig]);
    await fs.rm(dir, { recursive: true });
    await fs.rename(`${dir}.elsewhere`, dir); // mounted again: opens with its records
    const again = await openFileEscrowStore({ dir, masterKeyFile, random: systemRandomSource });
    expect((await again.list()).records.map((r) => r.keyId)).toEqual([testRecord(1).keyId]);
  });

  it('reports a record copied under another key id as EscrowCorrupt (AAD binds the key id)', async () => {
    const { dir, masterKeyFile } = await tempRoot();
    const store = await openFileEscrowStore({ dir, masterKeyFile, random: systemRandomSource });
    await store.put(testRecord(1));
    const env = JSON.parse(await fs.readFile(path.join(dir, `${testRecord(1).keyId}.escrow`), 'utf8')) as Record<
      string,
      unknown
    >;
    await fs.writeFile(
      path.join(dir, `${testRecord(2).keyId}.escrow`),
      JSON.stringify({ ...env, keyId: testRecord(2).keyId }),
    );
    expect((await rejection(store.get(testRecord(2).keyId))).code).toBe(ErrorCode.EscrowCorrupt);
  });

  it('recreates a lost canary after checking the key against an existing record', async () => {
    const { dir, masterKeyFile } = await tempRoot();
    const store = await openFileEscrowStore({ dir, masterKeyFile, random: systemRandomSource });
    await store.put(testRecord(1));
    await fs.rm(path.join(dir, '.canary'));
    const reopened = await openFileEscrowStore({ dir, masterKeyFile, random: systemRandomSource });
    expect([
      (await reopened.get(testRecord(1).keyId)).fingerprint,
      (await fs.stat(path.join(dir, '.canary'))).isFile(),
    ]).toEqual([testRecord(1).fingerprint, true]);
  });

  it('fails with EscrowWrongMasterKey when the canary is lost and the key does not open the records', async () => {
    const { dir, masterKeyFile } = await tempRoot();
    const store = await openFileEscrowStore({ dir, masterKeyFile, random: systemRandomSource });
    await store.put(testRecord(1));
    await fs.rm(path.join(dir, '.canary'));
    await fs.writeFile(masterKeyFile, randomBytes(32));
    expect((await rejection(openFileEscrowStore({ dir, masterKeyFile, random: systemRandomSource }))).code).toBe(
      ErrorCode.EscrowWrongMasterKey,
    );
    await expect(fs.access(path.join(dir, '.canary'))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('restores a missing break-glass copy when the same record is put again', async () => {
    const { dir, masterKeyFile } = await tempRoot();
    const { publicKey } = await testRecoveryKey();
    const store = await openFileEscrowStore({
      dir,
      masterKeyFile,
      random: systemRandomSource,
      recoveryPublicKeyPem: publicKey,
    });
    await store.put(testRecord(1));
    const bg = path.join(dir, `${testRecord(1).keyId}.breakglass`);
    await fs.rm(bg); // as after a crash between the record and its break-glass copy
    await store.put(testRecord(1));
    expect((await fs.readFile(bg, 'utf8')).trim()).toMatch(/^[A-Za-z0-9+/]{683}=$/);
  });
});
