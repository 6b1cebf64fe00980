/**
 * The `file` escrow backend (local default): one sealed file per CMK in a directory.
 *
 * Layout of `dir` (mode 0700, files 0600):
 *   <keyId>.escrow      JSON envelope {v:1, alg:"AES-256-GCM", keyId, iv, ct, tag}; the plaintext
 *                       is the record JSON (store.ts storedRecordJson), AAD = keyId, so a record
 *                       copied under another key id fails authentication.
 *   <keyId>.breakglass  optional: base64 RSA-OAEP blob for the offline recovery key (BREAK-GLASS.md).
 *   .canary             a fixed plaintext sealed under the master key: a wrong master key is
 *                       reported at open (EscrowWrongMasterKey), not as corruption later.
 * The 32-byte master key lives in its own file (`masterKeyFile`, raw bytes, mode 0600), created
 * from the injected RandomSource on first use of an empty store, e.g. `openssl rand -out key 32`.
 *
 * Writes are atomic and never clobber: temp file (O_EXCL, 0600) -> fsync -> link(2) to the final
 * name -> unlink temp -> fsync dir. link fails with EEXIST if the name exists, which rename(2)
 * would not: two processes escrowing different material for one key id cannot both "win".
 */
import { createCipheriv, createDecipheriv } from 'node:crypto';
import { promises as fs } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';
import type { KeyObject } from 'node:crypto';
import { ErrorCode, OrchestratorError, isOrchestratorError } from '../errors.js';
import type { RandomSource } from '../runtime-types.js';
import { parseRecoveryPublicKey, sealBreakGlass } from './break-glass.js';
import {
  EscrowBackend,
  assertKeyId,
  decodeCanonicalBase64,
  escrowConflict,
  escrowCorrupt,
  escrowNotFound,
  escrowVersionId,
  parseStoredRecord,
  sameEscrow,
  storedRecordJson,
  summarize,
  validateEscrowRecord,
} from './store.js';
import type { EscrowListing, EscrowPutResult, EscrowRecord, EscrowStore, EscrowSummary, EscrowUnreadable } from './store.js';

/** Options of the file backend. */
export interface FileEscrowOptions {
  /** Directory of sealed records; created (0700) if missing. */
  dir: string;
  /** Path of the 32-byte master key file; created (0600) only when the store is empty. */
  masterKeyFile: string;
  /** CSPRNG for the master key, GCM IVs and temp-file names. */
  random: RandomSource;
  /** Optional offline recovery RSA-4096 public key (PEM): adds `<keyId>.breakglass` files. */
  recoveryPublicKeyPem?: string;
}

/** Bytes of the AES-256 master key. */
export const MASTER_KEY_BYTES = 32;
const IV_BYTES = 12; // NIST SP 800-38D §8.2: 96-bit IVs, random construction
const TAG_BYTES = 16;
const RECORD_SUFFIX = '.escrow';
const BREAKGLASS_SUFFIX = '.breakglass';
const CANARY_FILE = '.canary';
/** AAD of the canary: starts with a dot, so it can never equal a key id (store.ts KEY_ID_PATTERN). */
const CANARY_AAD = '.canary';
const CANARY_PLAINTEXT = 'byok-orchestrator escrow canary v1';

/** Opens (initialising if empty) a file escrow store; EscrowWrongMasterKey if the key does not fit. */
export async function openFileEscrowStore(options: FileEscrowOptions): Promise<EscrowStore> {
  const { dir, masterKeyFile, random } = options;
  const recoveryKey = options.recoveryPublicKeyPem === undefined ? undefined : parseRecoveryPublicKey(options.recoveryPublicKeyPem);
  await fs.mkdir(dir, { recursive: true, mode: 0o700 });

  const names = await fs.readdir(dir);
  const recordNames = names.filter((n) => n.endsWith(RECORD_SUFFIX) && !n.startsWith('.')).sort();
  const hasCanary = names.includes(CANARY_FILE);
  const initialised = hasCanary || recordNames.length > 0;

  const masterKey = await loadMasterKey(masterKeyFile, random, initialised);
  const io = { dir, random };

  if (hasCanary) {
    const text = await fs.readFile(path.join(dir, CANARY_FILE), 'utf8');
    const plain = tryOpenEnvelope(masterKey, CANARY_AAD, text);
    if (plain === undefined || plain.toString('utf8') !== CANARY_PLAINTEXT) throw wrongMasterKey(masterKeyFile);
  } else {
    // No canary: a fresh store, or one whose canary was lost. Check the key on an existing record
    // before writing a canary, so a wrong key is never blessed.
    const first = recordNames[0];
    if (first !== undefined) {
      const text = await fs.readFile(path.join(dir, first), 'utf8');
      const plain = tryOpenEnvelope(masterKey, first.slice(0, -RECORD_SUFFIX.length), text);
      if (plain === undefined) throw wrongMasterKey(masterKeyFile);
      plain.fill(0);
    }
    await writeNoClobber(io, CANARY_FILE, sealEnvelope(masterKey, CANARY_AAD, Buffer.from(CANARY_PLAINTEXT, 'utf8'), random));
  }

  const recordPath = (keyId: string): string => path.join(dir, keyId + RECORD_SUFFIX);

  async function get(keyId: string): Promise<EscrowRecord> {
    assertKeyId(keyId);
    let text: string;
    try {
      text = await fs.readFile(recordPath(keyId), 'utf8');
    } catch (err) {
      if (errno(err) === 'ENOENT') throw escrowNotFound(keyId);
      throw ioError(`cannot read the escrow record for ${keyId}`, err, keyId);
    }
    return openRecord(masterKey, keyId, text);
  }

  async function ensureBreakGlass(record: EscrowRecord, key: KeyObject): Promise<void> {
    const name = record.keyId + BREAKGLASS_SUFFIX;
    try {
      await fs.access(path.join(dir, name));
      return;
    } catch {
      // missing: (re)create below, e.g. after a crash between the record and its break-glass copy
    }
    const blob = sealBreakGlass(key, { keyId: record.keyId, fingerprint: record.fingerprint, material: record.material });
    await writeReplace(io, name, Buffer.from(`${blob}\n`, 'utf8'));
  }

  /** Existing record matches: idempotent success; otherwise EscrowConflict. */
  async function settleExisting(record: EscrowRecord, existing: EscrowRecord): Promise<EscrowPutResult> {
    try {
      if (!sameEscrow(existing, record)) throw escrowConflict(record.keyId, existing, record);
    } finally {
      existing.material.fill(0);
    }
    if (recoveryKey !== undefined) await ensureBreakGlass(record, recoveryKey);
    return { version: escrowVersionId(record.fingerprint), created: false };
  }

  async function put(record: EscrowRecord): Promise<EscrowPutResult> {
    validateEscrowRecord(record);
    const existing = await getIfPresent(record.keyId);
    if (existing !== undefined) return settleExisting(record, existing);

    const plaintext = Buffer.from(storedRecordJson(record), 'utf8');
    let sealed: Buffer;
    try {
      sealed = sealEnvelope(masterKey, record.keyId, plaintext, random);
    } finally {
      plaintext.fill(0);
    }
    const created = await writeNoClobber(io, record.keyId + RECORD_SUFFIX, sealed);
    if (!created) {
      // Lost a race with another put for the same key id: judge against what won.
      return settleExisting(record, await get(record.keyId));
    }
    // The break-glass copy follows the record (never precedes it), so a racing loser can never
    // leave a break-glass blob of material that is not the escrowed one.
    if (recoveryKey !== undefined) await ensureBreakGlass(record, recoveryKey);
    return { version: escrowVersionId(record.fingerprint), created: true };
  }

  async function getIfPresent(keyId: string): Promise<EscrowRecord | undefined> {
    try {
      return await get(keyId);
    } catch (err) {
      if (isOrchestratorError(err, ErrorCode.EscrowNotFound)) return undefined;
      throw err; // corrupt or unreadable: never write over it
    }
  }

  async function list(): Promise<EscrowListing> {
    const entries = (await fs.readdir(dir)).filter((n) => n.endsWith(RECORD_SUFFIX) && !n.startsWith('.')).sort();
    const records: EscrowSummary[] = [];
    const unreadable: EscrowUnreadable[] = [];
    for (const name of entries) {
      const keyId = name.slice(0, -RECORD_SUFFIX.length);
      try {
        const record = await get(keyId);
        records.push(summarize(record));
        record.material.fill(0);
      } catch (err) {
        if (isOrchestratorError(err, ErrorCode.EscrowNotFound)) continue;
        if (isOrchestratorError(err, ErrorCode.EscrowCorrupt) || isOrchestratorError(err, ErrorCode.InvalidInput)) {
          unreadable.push({ keyId, code: ErrorCode.EscrowCorrupt });
          continue;
        }
        throw err;
      }
    }
    return { records, unreadable };
  }

  return { backend: EscrowBackend.File, put, get, list };
}

/** Reads the master key, or creates it when the store is empty; refuses loose permissions. */
async function loadMasterKey(file: string, random: RandomSource, initialised: boolean): Promise<Buffer> {
  const invalid = (rule: string): OrchestratorError =>
    new OrchestratorError(ErrorCode.InvalidConfig, `escrow master key file ${file}: ${rule}`, { details: { field: 'masterKeyFile' } });
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
    if ((stat.mode & 0o077) !== 0) throw invalid(`mode ${(stat.mode & 0o777).toString(8)} lets group or others read it; chmod 600`);
    if (stat.size !== MASTER_KEY_BYTES) throw invalid(`must hold exactly ${MASTER_KEY_BYTES} raw bytes, has ${stat.size}`);
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

function sealEnvelope(key: Buffer, aad: string, plaintext: Buffer, random: RandomSource): Buffer {
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
function tryOpenEnvelope(key: Buffer, aad: string, text: string): Buffer | undefined {
  let env: Record<string, unknown>;
  try {
    env = JSON.parse(text) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  if (typeof env !== 'object' || env === null || env['v'] !== 1 || env['alg'] !== 'AES-256-GCM' || env['keyId'] !== aad) {
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

function openRecord(masterKey: Buffer, keyId: string, text: string): EscrowRecord {
  const plain = tryOpenEnvelope(masterKey, keyId, text);
  // The canary proved the master key at open, so failing here means the file was altered,
  // truncated, or sealed for another key id.
  if (plain === undefined) throw escrowCorrupt(keyId, 'sealed envelope failed authentication');
  try {
    let parsed: unknown;
    try {
      parsed = JSON.parse(plain.toString('utf8'));
    } catch {
      throw escrowCorrupt(keyId, 'sealed payload is not JSON');
    }
    const { breakglass: _ignored, ...record } = parseStoredRecord(keyId, parsed);
    return record;
  } finally {
    plain.fill(0);
  }
}

interface DirIo {
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
async function writeNoClobber(io: DirIo, name: string, data: Buffer): Promise<boolean> {
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
async function writeReplace(io: DirIo, name: string, data: Buffer): Promise<void> {
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

function wrongMasterKey(file: string): OrchestratorError {
  return new OrchestratorError(
    ErrorCode.EscrowWrongMasterKey,
    `escrow master key file ${file} does not open this escrow store (canary check failed)`,
    { details: { field: 'masterKeyFile' } },
  );
}

function ioError(message: string, cause: unknown, keyId?: string): OrchestratorError {
  return new OrchestratorError(ErrorCode.Internal, `${message} (${errno(cause) ?? 'I/O error'})`, {
    cause,
    details: keyId === undefined ? {} : { keyId },
  });
}

function errno(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err ? String((err as { code: unknown }).code) : undefined;
}
