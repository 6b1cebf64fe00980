/**
 * The file backend's local I/O: the master key file (created once, mode 0600 enforced), the
 * AES-256-GCM envelope a record or the canary is sealed in, and atomic writes that never clobber
 * (temp file O_EXCL -> fsync -> link(2) -> unlink temp -> fsync dir).
 */
import { createCipheriv, createDecipheriv } from 'node:crypto';
import { promises as fs } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { ErrorCode, OrchestratorError } from '../errors.js';
import type { RandomSource } from '../runtime-types.js';
import { decodeCanonicalBase64 } from './record-json.js';

/** Bytes of the AES-256 master key. */
export const MASTER_KEY_BYTES = 32;
const IV_BYTES = 12; // NIST SP 800-38D §8.2: 96-bit IVs, random construction
const TAG_BYTES = 16;

/** Reads the master key, or creates it when the store is empty; refuses loose permissions. */
export async function loadMasterKey(file: string, random: RandomSource, initialised: boolean): Promise<Buffer> {
  const invalid = (rule: string): OrchestratorError =>
    new OrchestratorError(ErrorCode.InvalidConfig, `escrow master key file ${file}: ${rule}`, {
      details: { field: 'masterKeyFile' },
    });
  let handle: FileHandle;
  try {
    handle = await fs.open(file, 'r');
  } catch (err) {
    if (errno(err) !== 'ENOENT') throw ioError(`cannot open escrow master key file ${file}`, err);
    if (initialised) {
      // Never mint a new key next to records sealed under a lost one: that would hide the loss.
      throw new OrchestratorError(
        ErrorCode.EscrowWrongMasterKey,
        `escrow master key file ${file} is missing but the escrow store already holds sealed data`,
        { details: { field: 'masterKeyFile' } },
      );
    }
    return createMasterKey(file, random);
  }
  try {
    const stat = await handle.stat();
    if ((stat.mode & 0o077) !== 0)
      throw invalid(`mode ${(stat.mode & 0o777).toString(8)} lets group or others read it; chmod 600`);
    if (stat.size !== MASTER_KEY_BYTES)
      throw invalid(`must hold exactly ${MASTER_KEY_BYTES} raw bytes, has ${stat.size}`);
    const key = Buffer.alloc(MASTER_KEY_BYTES);
    const { bytesRead } = await handle.read(key, 0, MASTER_KEY_BYTES, 0);
    if (bytesRead !== MASTER_KEY_BYTES) throw invalid('short read');
    return key;
  } finally {
    await handle.close();
  }
}

async function createMasterKey(file: string, random: RandomSource): Promise<Buffer> {
  const key = random.bytes(MASTER_KEY_BYTES);
  if (!(key instanceof Uint8Array) || key.length !== MASTER_KEY_BYTES) {
    throw new OrchestratorError(ErrorCode.Internal, `random source returned a short master key`);
  }
  await fs.mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  let handle: FileHandle;
  try {
    handle = await fs.open(file, 'wx', 0o600);
  } catch (err) {
    if (errno(err) === 'EEXIST') return loadMasterKey(file, random, true); // another process won
    throw ioError(`cannot create escrow master key file ${file}`, err);
  }
  try {
    await handle.chmod(0o600); // umask can only remove bits; make the mode explicit anyway
    await handle.writeFile(key);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await fsyncDir(path.dirname(file));
  return Buffer.from(key);
}

/** Seals `plaintext` under `key` with `aad` as the envelope JSON line (a random 96-bit IV). */
export function sealEnvelope(key: Buffer, aad: string, plaintext: Buffer, random: RandomSource): Buffer {
  const iv = random.bytes(IV_BYTES);
  if (!(iv instanceof Uint8Array) || iv.length !== IV_BYTES) {
    throw new OrchestratorError(ErrorCode.Internal, 'random source returned a short IV');
  }
  const cipher = createCipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
  cipher.setAAD(Buffer.from(aad, 'utf8'));
  const ct = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  const envelope = {
    v: 1,
    alg: 'AES-256-GCM',
    keyId: aad,
    iv: Buffer.from(iv).toString('base64'),
    ct: ct.toString('base64'),
    tag: cipher.getAuthTag().toString('base64'),
  };
  return Buffer.from(`${JSON.stringify(envelope)}\n`, 'utf8');
}

/** Decrypts an envelope; undefined on any mismatch (shape, AAD, authentication). */
export function tryOpenEnvelope(key: Buffer, aad: string, text: string): Buffer | undefined {
  let env: Record<string, unknown>;
  try {
    env = JSON.parse(text) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  if (
    typeof env !== 'object' ||
    env === null ||
    env['v'] !== 1 ||
    env['alg'] !== 'AES-256-GCM' ||
    env['keyId'] !== aad
  ) {
    return undefined;
  }
  const iv = decodeCanonicalBase64(env['iv']);
  const ct = decodeCanonicalBase64(env['ct']);
  const tag = decodeCanonicalBase64(env['tag']);
  if (iv?.length !== IV_BYTES || tag?.length !== TAG_BYTES || ct === undefined) return undefined;
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
    decipher.setAAD(Buffer.from(aad, 'utf8'));
    decipher.setAuthTag(tag);
    return Buffer.concat([decipher.update(ct), decipher.final()]);
  } catch {
    return undefined;
  }
}

/** A directory to write into, and the randomness for temp-file names. */
export interface DirIo {
  dir: string;
  random: RandomSource;
}

async function writeTemp(io: DirIo, name: string, data: Buffer): Promise<string> {
  const tmp = path.join(io.dir, `.${name}.tmp-${Buffer.from(io.random.bytes(8)).toString('hex')}`);
  let handle: FileHandle;
  try {
    handle = await fs.open(tmp, 'wx', 0o600);
  } catch (err) {
    throw ioError(`cannot create a temporary file for ${name}`, err);
  }
  try {
    await handle.writeFile(data);
    await handle.sync();
  } catch (err) {
    await handle.close();
    await fs.rm(tmp, { force: true });
    throw ioError(`cannot write ${name}`, err);
  }
  await handle.close();
  return tmp;
}

/** Atomically creates `name` with `data`; false (and nothing written) if `name` already exists. */
export async function writeNoClobber(io: DirIo, name: string, data: Buffer): Promise<boolean> {
  const tmp = await writeTemp(io, name, data);
  try {
    await fs.link(tmp, path.join(io.dir, name));
  } catch (err) {
    if (errno(err) === 'EEXIST') return false;
    throw ioError(`cannot create ${name}`, err);
  } finally {
    await fs.rm(tmp, { force: true });
  }
  await fsyncDir(io.dir);
  return true;
}

/** Atomically creates or replaces `name` (used only for derived files such as break-glass copies). */
export async function writeReplace(io: DirIo, name: string, data: Buffer): Promise<void> {
  const tmp = await writeTemp(io, name, data);
  try {
    await fs.rename(tmp, path.join(io.dir, name));
  } catch (err) {
    await fs.rm(tmp, { force: true });
    throw ioError(`cannot write ${name}`, err);
  }
  await fsyncDir(io.dir);
}

async function fsyncDir(dir: string): Promise<void> {
  const handle = await fs.open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** An I/O failure as our error (the errno in the message, the cause kept). */
export function ioError(message: string, cause: unknown, keyId?: string): OrchestratorError {
  return new OrchestratorError(ErrorCode.Internal, `${message} (${errno(cause) ?? 'I/O error'})`, {
    cause,
    details: keyId === undefined ? {} : { keyId },
  });
}

/** The errno code of a failed fs call, if any. */
export function errno(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err ? String((err as { code: unknown }).code) : undefined;
}
