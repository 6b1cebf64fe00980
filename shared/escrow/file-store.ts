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
 * The master key, the envelope and the writes are in file-io.ts.
 */
import type { KeyObject } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { ErrorCode, OrchestratorError, isOrchestratorError } from '../errors.js';
import type { RandomSource } from '../runtime-types.js';
import { parseRecoveryPublicKey, sealBreakGlass } from './break-glass.js';
import {
  errno,
  ioError,
  loadMasterKey,
  sealEnvelope,
  tryOpenEnvelope,
  writeNoClobber,
  writeReplace,
} from './file-io.js';
import {
  EscrowBackend,
  assertKeyId,
  escrowConflict,
  escrowCorrupt,
  escrowNotFound,
  escrowVersionId,
  sameEscrow,
  validateEscrowRecord,
} from './store.js';
import { parseStoredRecord, storedRecordJson, summarize } from './record-json.js';
import type {
  EscrowListing,
  EscrowPutResult,
  EscrowRecord,
  EscrowStore,
  EscrowSummary,
  EscrowUnreadable,
} from './store.js';

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

const RECORD_SUFFIX = '.escrow';
const BREAKGLASS_SUFFIX = '.breakglass';
const CANARY_FILE = '.canary';
/** AAD of the canary: starts with a dot, so it can never equal a key id (store.ts KEY_ID_PATTERN). */
const CANARY_AAD = '.canary';
const CANARY_PLAINTEXT = 'byok-orchestrator escrow canary v1';

/** Opens (initialising if empty) a file escrow store; EscrowWrongMasterKey if the key does not fit. */
export async function openFileEscrowStore(options: FileEscrowOptions): Promise<EscrowStore> {
  const { dir, masterKeyFile, random } = options;
  const recoveryKey =
    options.recoveryPublicKeyPem === undefined ? undefined : parseRecoveryPublicKey(options.recoveryPublicKeyPem);
  // A master key that already sealed a store in `dir` (listed in `<masterKeyFile>.stores`) next to
  // a missing or empty `dir` means a lost or unmounted volume, never an empty store: starting empty
  // would hide every record. (An operator-provided key that sealed nothing yet starts a store.)
  const sealedHere = (await exists(masterKeyFile)) && (await storesOf(masterKeyFile)).includes(path.resolve(dir));
  if (!(await exists(dir))) {
    if (sealedHere) throw storeMissing(dir, masterKeyFile, 'does not exist');
    await fs.mkdir(dir, { recursive: true, mode: 0o700 });
  }

  const names = await fs.readdir(dir);
  const recordNames = names.filter((n) => n.endsWith(RECORD_SUFFIX) && !n.startsWith('.')).sort();
  const hasCanary = names.includes(CANARY_FILE);
  const initialised = hasCanary || recordNames.length > 0;
  if (!initialised && sealedHere) throw storeMissing(dir, masterKeyFile, 'is empty');

  const masterKey = await loadMasterKey(masterKeyFile, random, initialised);
  const io = { dir, random };
  await rememberStore(masterKeyFile, dir);

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
    await writeNoClobber(
      io,
      CANARY_FILE,
      sealEnvelope(masterKey, CANARY_AAD, Buffer.from(CANARY_PLAINTEXT, 'utf8'), random),
    );
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
    const blob = sealBreakGlass(key, {
      keyId: record.keyId,
      fingerprint: record.fingerprint,
      material: record.material,
    });
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
        // One entry that cannot be read (EISDIR, EACCES, EIO...) is reported for that record, like
        // the kms-secrets backend does: it must not stop the repairs of every other key.
        if (isOrchestratorError(err)) {
          unreadable.push({ keyId, code: err.code });
          continue;
        }
        throw err;
      }
    }
    return { records, unreadable };
  }

  return { backend: EscrowBackend.File, put, get, list };
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

async function exists(file: string): Promise<boolean> {
  try {
    await fs.stat(file);
    return true;
  } catch (err) {
    if (errno(err) === 'ENOENT') return false;
    throw ioError(`cannot stat ${file}`, err);
  }
}

/** File next to the master key listing the directories it sealed a store in (one absolute path a line). */
const storesFile = (masterKeyFile: string): string => `${masterKeyFile}.stores`;

async function storesOf(masterKeyFile: string): Promise<string[]> {
  try {
    return (await fs.readFile(storesFile(masterKeyFile), 'utf8')).split('\n').filter((l) => l !== '');
  } catch {
    return [];
  }
}

/** Records that this master key seals a store in `dir` (best effort: a read-only key mount skips it). */
async function rememberStore(masterKeyFile: string, dir: string): Promise<void> {
  const resolved = path.resolve(dir);
  if ((await storesOf(masterKeyFile)).includes(resolved)) return;
  try {
    await fs.appendFile(storesFile(masterKeyFile), `${resolved}\n`, { mode: 0o600 });
  } catch {
    // The protection against an unmounted directory is then the missing-directory check only.
  }
}

function storeMissing(dir: string, masterKeyFile: string, what: string): OrchestratorError {
  return new OrchestratorError(
    ErrorCode.InvalidConfig,
    `escrow directory ${dir} ${what} but the master key ${masterKeyFile} already seals a store there; ` +
      'mount or restore the escrow directory (an empty store would hide every record)',
    { details: { field: 'BYOK_ESCROW_DIR' } },
  );
}

function wrongMasterKey(file: string): OrchestratorError {
  return new OrchestratorError(
    ErrorCode.EscrowWrongMasterKey,
    `escrow master key file ${file} does not open this escrow store (canary check failed)`,
    { details: { field: 'masterKeyFile' } },
  );
}
