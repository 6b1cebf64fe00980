/**
 * The emulator's state model and its persistence.
 *
 * The state file holds PLAINTEXT key material, the private halves of import wrapping keys and
 * secret-encrypting material: it is a local development tool's file and must stay private
 * (written with mode 0600 through an atomic temp-file + fsync + rename).
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import {
  closeSync,
  existsSync,
  fchmodSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { EmulatorErrorCode, KmsEmulatorError } from './errors.js';
import type { WrappingPrivateKey } from './wrapping-keys.js';

/** CMK states (docs/kms-api.md §2.2). */
export const KeyState = {
  Enabled: 'Enabled',
  Disabled: 'Disabled',
  PendingDeletion: 'PendingDeletion',
  PendingImport: 'PendingImport',
} as const;
/** One CMK state. */
export type KeyState = (typeof KeyState)[keyof typeof KeyState];

/** A tag on a key or a secret; kept as an ordered list (object keys would reorder numeric names). */
export interface Tag {
  key: string;
  value: string;
}

/** A customer master key (docs/kms-api.md §6 data model). */
export interface KeyRecord {
  keyId: string;
  origin: 'Aliyun_KMS' | 'EXTERNAL';
  keySpec: string;
  keyUsage: string;
  protectionLevel: 'SOFTWARE' | 'HSM';
  description: string;
  creator: string;
  creationUnix: number;
  state: KeyState;
  /** Set only while PendingDeletion. */
  deleteUnix: number | null;
  /** Base64 of the raw symmetric material; null while PendingImport or for material-less keys. */
  material: string | null;
  /** Unix seconds when imported material expires; 0 = never. */
  materialExpireUnix: number;
  /** Hex HMAC-SHA256 of the first imported material under the emulator secret; never cleared. */
  boundFingerprint: string | null;
  primaryKeyVersion: string;
  versionCreationUnix: number;
  automaticRotation: 'Enabled' | 'Disabled';
  rotationIntervalSeconds: number | null;
  tags: Tag[];
  /**
   * KMS 3.0: the instance holding the key (`kst-…`). Absent for KMS 1.0 shared keys, the
   * version-3 region default key and the Secrets Manager service key.
   */
  dkmsInstanceId?: string;
  /** KMS 3.0: the region's single default CMK (created by CreateKey without an instance). */
  defaultCmk?: boolean;
}

/** KMS 3.0 instance types (emulator names; the console calls them software / hardware key management). */
export type InstanceType = 'software' | 'hardware';

/** A KMS 3.0 instance (docs/kms-3-instances.md). */
export interface InstanceRecord {
  instanceId: string;
  type: InstanceType;
  /** Whether crypto calls through the shared (public) KMS endpoint reach its keys (the "Internet access" switch). */
  sharedGateway: boolean;
  createUnix: number;
  startUnix: number;
  /** Subscription end (Unix seconds); past it the instance's keys and secrets are unusable. */
  endUnix: number;
  /** Set when the instance was released; its keys and secrets are unusable from then on. */
  releasedUnix: number | null;
  /** Key quantity bought (`KeyNum`); absent = DEFAULT_INSTANCE_KEY_QUOTA (state files before it). */
  keyQuota?: number;
  /** Secret quantity bought (`SecretNum`); absent = DEFAULT_INSTANCE_SECRET_QUOTA. */
  secretQuota?: number;
}

/** An alias; names are unique per emulator (one account, one region). */
export interface AliasRecord {
  aliasName: string;
  keyId: string;
  creationUnix: number;
}

/** An import token issued by GetParametersForImport, stored by the SHA-256 of the token text. */
export interface ImportTokenRecord {
  tokenHash: string;
  keyId: string;
  wrappingAlgorithm: string;
  wrappingKeySpec: string;
  /** Dropped once the token expires; the record stays a while so a late use says "expired". */
  privateKey: WrappingPrivateKey | null;
  issuedUnix: number;
  expiresUnix: number;
}

/** One version of a secret; data is encrypted under the secret's CMK. */
export interface SecretVersionRecord {
  versionId: string;
  dataType: 'text' | 'binary';
  /** CiphertextBlob-format base64 (see actions/crypto.ts). */
  blob: string;
  /** Hex HMAC-SHA256 of type + data under the emulator secret: idempotency check without decrypting. */
  fingerprint: string;
  createUnix: number;
  stages: string[];
}

/** A Secrets Manager secret (Generic). */
export interface SecretRecord {
  secretName: string;
  encryptionKeyId: string;
  description: string;
  createUnix: number;
  updateUnix: number;
  /** Set while in the recovery window. */
  plannedDeleteUnix: number | null;
  tags: Tag[];
  versions: SecretVersionRecord[];
  /** KMS 3.0: the instance holding the secret; absent for KMS 1.0 secrets. */
  dkmsInstanceId?: string;
}

/** The KMS generation the emulator models: 1 = shared KMS 1.0, 3 = KMS 3.0 instances. */
export type KmsVersion = 1 | 3;

/** The JSON document written to the state file. */
export interface PersistedState {
  format: typeof STATE_FORMAT;
  /** 1: KMS 1.0 only (no instances); 2: adds `kmsVersion` and `instances`. Both load. */
  version: 1 | 2;
  /** Present from format version 2 on; a version-1 file counts as KMS 1.0 with no instances. */
  kmsVersion?: KmsVersion;
  instances?: InstanceRecord[];
  emulatorSecret: string;
  clockOffsetMs: number;
  serviceKeyId: string | null;
  keys: KeyRecord[];
  aliases: AliasRecord[];
  importTokens: ImportTokenRecord[];
  secrets: SecretRecord[];
}

const STATE_FORMAT = 'byok-kms-emulator-state';
/** Expired token records are kept this long so late uses answer ExpiredImportToken (inferred). */
const EXPIRED_TOKEN_RETENTION_SECONDS = 7 * 86_400;
/** An expired instance is released 15 days after its end date (documented: secrets FAQ). */
export const INSTANCE_RELEASE_AFTER_EXPIRY_SECONDS = 15 * 86_400;

/** Records with time-driven transitions, in the order a sweep applies them. */
type DueKind = 0 | 1 | 2 | 3; // instance, key, token, secret
const DueKind = { Instance: 0, Key: 1, Token: 2, Secret: 3 } as const;

/** A point in time when one record may need a transition (entries are re-checked when they come up). */
interface DueEntry {
  atUnix: number;
  kind: DueKind;
  id: string;
}

/** Binary min-heap of due entries by time. */
class DueHeap {
  private readonly items: DueEntry[] = [];

  get size(): number {
    return this.items.length;
  }

  peek(): DueEntry | undefined {
    return this.items[0];
  }

  push(entry: DueEntry): void {
    const a = this.items;
    a.push(entry);
    let i = a.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (a[parent]!.atUnix <= entry.atUnix) break;
      a[i] = a[parent]!;
      i = parent;
    }
    a[i] = entry;
  }

  pop(): DueEntry | undefined {
    const a = this.items;
    const top = a[0];
    const last = a.pop();
    if (top === undefined || last === undefined || a.length === 0) return top;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= a.length) break;
      const r = l + 1;
      const c = r < a.length && a[r]!.atUnix < a[l]!.atUnix ? r : l;
      if (a[c]!.atUnix >= last.atUnix) break;
      a[i] = a[c]!;
      i = c;
    }
    a[i] = last;
    return top;
  }
}

/** A Map that reports every `set`, so records put by any path are scheduled for their transitions. */
class WatchedMap<V> extends Map<string, V> {
  constructor(private readonly onSet: (key: string) => void) {
    super();
  }

  override set(key: string, value: V): this {
    super.set(key, value);
    this.onSet(key);
    return this;
  }
}

/** In-memory state; every mutation calls `markDirty()` so the server persists before answering. */
export class EmulatorStore {
  readonly keys: Map<string, KeyRecord> = new WatchedMap((id) => this.watchKey(id));
  readonly aliases = new Map<string, AliasRecord>();
  readonly importTokens: Map<string, ImportTokenRecord> = new WatchedMap((id) => this.watchToken(id));
  readonly secrets: Map<string, SecretRecord> = new WatchedMap((id) => this.watchSecret(id));
  /** KMS 3.0 instances by id, released ones included (their keys report them). */
  readonly instances: Map<string, InstanceRecord> = new WatchedMap((id) => this.watchInstance(id));
  /**
   * When records may next need a time-driven transition, so `sweep` costs O(due · log n) rather
   * than a scan of every record on each request. Every place that sets a deadline on a record
   * already in a map calls the matching `watch…` (putting a record into a map does it by itself).
   */
  private readonly due = new DueHeap();
  /** Which KMS generation is modelled (not a mutation: set once at start). */
  kmsVersion: KmsVersion = 3;
  /** KMS 3.0: where CreateKey/CreateSecret without DKMSInstanceId go (configuration, not persisted). */
  defaultInstanceId: string | null = null;
  /** KeyVersionId -> KeyId, so Decrypt finds the CMK named by a blob. */
  readonly versionIndex = new Map<string, string>();
  serviceKeyId: string | null = null;
  private dirty = false;

  constructor(private readonly emulatorSecret: Buffer) {}

  /** A fresh store with a new random per-emulator secret. */
  static create(): EmulatorStore {
    return new EmulatorStore(randomBytes(32));
  }

  /** Rebuilds a store from a persisted document. */
  static fromPersisted(doc: PersistedState): EmulatorStore {
    const store = new EmulatorStore(Buffer.from(doc.emulatorSecret, 'base64'));
    for (const key of doc.keys) store.putKey(key);
    for (const alias of doc.aliases) store.aliases.set(alias.aliasName, alias);
    for (const token of doc.importTokens) store.importTokens.set(token.tokenHash, token);
    for (const secret of doc.secrets) store.secrets.set(secret.secretName, secret);
    for (const instance of doc.instances ?? []) store.instances.set(instance.instanceId, instance);
    store.kmsVersion = doc.kmsVersion ?? 1;
    store.serviceKeyId = doc.serviceKeyId;
    store.dirty = false;
    return store;
  }

  /** Serialisable snapshot (includes plaintext material: the file must stay private). */
  toPersisted(clockOffsetMs: number): PersistedState {
    return {
      format: STATE_FORMAT,
      version: 2,
      kmsVersion: this.kmsVersion,
      instances: [...this.instances.values()],
      emulatorSecret: this.emulatorSecret.toString('base64'),
      clockOffsetMs,
      serviceKeyId: this.serviceKeyId,
      keys: [...this.keys.values()],
      aliases: [...this.aliases.values()],
      importTokens: [...this.importTokens.values()],
      secrets: [...this.secrets.values()],
    };
  }

  markDirty(): void {
    this.dirty = true;
  }

  /** Whether anything changed since the last successful save. */
  isDirty(): boolean {
    return this.dirty;
  }

  /** Called after a successful save. */
  clearDirty(): void {
    this.dirty = false;
  }

  /** Keyed fingerprint (HMAC-SHA256 under the per-emulator secret); never a plain hash. */
  fingerprint(data: Buffer): string {
    return createHmac('sha256', this.emulatorSecret).update(data).digest('hex');
  }

  /** Constant-time fingerprint comparison. */
  static sameFingerprint(a: string, b: string): boolean {
    const x = Buffer.from(a, 'hex');
    const y = Buffer.from(b, 'hex');
    return x.length === y.length && timingSafeEqual(x, y);
  }

  /** Adds or replaces a key and indexes its version. */
  putKey(key: KeyRecord): void {
    this.keys.set(key.keyId, key);
    this.versionIndex.set(key.primaryKeyVersion, key.keyId);
    this.dirty = true;
  }

  /** Removes a key for good (deletion window elapsed), with its aliases and import tokens. */
  private purgeKey(keyId: string): void {
    const key = this.keys.get(keyId);
    if (key === undefined) return;
    this.keys.delete(keyId);
    this.versionIndex.delete(key.primaryKeyVersion);
    // inferred: aliases and pending import tokens of a deleted CMK disappear with it.
    for (const [name, alias] of this.aliases) if (alias.keyId === keyId) this.aliases.delete(name);
    for (const [hash, token] of this.importTokens) if (token.keyId === keyId) this.importTokens.delete(hash);
    if (this.serviceKeyId === keyId) this.serviceKeyId = null;
    this.dirty = true;
  }

  /**
   * Releases a KMS 3.0 instance (explicitly, or 15 days after its subscription ended): its keys
   * (with their aliases and import tokens) and its secrets are removed for good. Idempotent.
   */
  releaseInstance(instanceId: string, nowUnix: number): void {
    const instance = this.instances.get(instanceId);
    if (instance === undefined) return;
    if (instance.releasedUnix === null) {
      instance.releasedUnix = nowUnix;
      this.dirty = true;
    }
    for (const key of [...this.keys.values()]) if (key.dkmsInstanceId === instanceId) this.purgeKey(key.keyId);
    for (const [name, secret] of this.secrets) {
      if (secret.dkmsInstanceId === instanceId) {
        this.secrets.delete(name);
        this.dirty = true;
      }
    }
  }

  /**
   * Applies every time-driven transition due at `nowUnix` (lazy enforcement on each request):
   * keys whose deletion window ended are removed; expired material is dropped and the key goes
   * to PendingImport unless it is PendingDeletion (documented: DOCS21 "Delete key material");
   * expired tokens lose their private key; secrets past their recovery window are purged;
   * instances 15 days past their end date are released (docs/kms-3-instances.md §5).
   */
  sweep(nowUnix: number): void {
    const top = this.due.peek();
    if (top === undefined || top.atUnix > nowUnix) return;
    // Everything due, applied in the order of a full scan: instances, keys, tokens, secrets.
    const dueNow: DueEntry[] = [];
    while ((this.due.peek()?.atUnix ?? Number.POSITIVE_INFINITY) <= nowUnix) dueNow.push(this.due.pop()!);
    dueNow.sort((a, b) => a.kind - b.kind);
    const seen = new Set<string>();
    for (const { kind, id } of dueNow) {
      const tag = `${kind}:${id}`;
      if (seen.has(tag)) continue; // several entries for one record: one check is enough
      seen.add(tag);
      if (kind === DueKind.Instance) this.sweepInstance(id, nowUnix);
      else if (kind === DueKind.Key) this.sweepKey(id, nowUnix);
      else if (kind === DueKind.Token) this.sweepToken(id, nowUnix);
      else this.sweepSecret(id, nowUnix);
    }
  }

  private sweepInstance(id: string, nowUnix: number): void {
    const instance = this.instances.get(id);
    if (instance === undefined) return;
    if (instance.releasedUnix === null && nowUnix >= instance.endUnix + INSTANCE_RELEASE_AFTER_EXPIRY_SECONDS) {
      this.releaseInstance(instance.instanceId, nowUnix);
    }
    this.watchInstance(id);
  }

  private sweepKey(id: string, nowUnix: number): void {
    const key = this.keys.get(id);
    if (key === undefined) return;
    if (key.state === KeyState.PendingDeletion && key.deleteUnix !== null && nowUnix >= key.deleteUnix) {
      this.purgeKey(key.keyId);
      return;
    }
    if (key.material !== null && key.materialExpireUnix > 0 && nowUnix >= key.materialExpireUnix) {
      key.material = null;
      key.materialExpireUnix = 0;
      if (key.state !== KeyState.PendingDeletion) key.state = KeyState.PendingImport;
      this.dirty = true;
    }
    this.watchKey(id);
  }

  private sweepToken(hash: string, nowUnix: number): void {
    const token = this.importTokens.get(hash);
    if (token === undefined) return;
    if (nowUnix >= token.expiresUnix + EXPIRED_TOKEN_RETENTION_SECONDS) {
      this.importTokens.delete(hash);
      this.dirty = true;
      return;
    }
    if (nowUnix >= token.expiresUnix && token.privateKey !== null) {
      token.privateKey = null;
      this.dirty = true;
    }
    this.watchToken(hash);
  }

  private sweepSecret(name: string, nowUnix: number): void {
    const secret = this.secrets.get(name);
    if (secret === undefined) return;
    if (secret.plannedDeleteUnix !== null && nowUnix >= secret.plannedDeleteUnix) {
      this.secrets.delete(name);
      this.dirty = true;
      return;
    }
    this.watchSecret(name);
  }

  /** Schedules the key's next time-driven transition (deletion or material expiry), if any. */
  watchKey(keyId: string): void {
    const key = this.keys.get(keyId);
    if (key === undefined) return;
    let at = Number.POSITIVE_INFINITY;
    if (key.state === KeyState.PendingDeletion && key.deleteUnix !== null) at = key.deleteUnix;
    if (key.material !== null && key.materialExpireUnix > 0) at = Math.min(at, key.materialExpireUnix);
    this.schedule(at, DueKind.Key, keyId);
  }

  /** Schedules the token's expiry (private key dropped), then the end of its retention. */
  watchToken(tokenHash: string): void {
    const token = this.importTokens.get(tokenHash);
    if (token === undefined) return;
    const at = token.privateKey !== null ? token.expiresUnix : token.expiresUnix + EXPIRED_TOKEN_RETENTION_SECONDS;
    this.schedule(at, DueKind.Token, tokenHash);
  }

  /** Schedules the secret's purge at the end of its recovery window, if it is in one. */
  watchSecret(secretName: string): void {
    const secret = this.secrets.get(secretName);
    if (secret === undefined || secret.plannedDeleteUnix === null) return;
    this.schedule(secret.plannedDeleteUnix, DueKind.Secret, secretName);
  }

  /** Schedules the instance's release 15 days after its end date, unless it is released already. */
  watchInstance(instanceId: string): void {
    const instance = this.instances.get(instanceId);
    if (instance === undefined || instance.releasedUnix !== null) return;
    this.schedule(instance.endUnix + INSTANCE_RELEASE_AFTER_EXPIRY_SECONDS, DueKind.Instance, instanceId);
  }

  private schedule(atUnix: number, kind: DueKind, id: string): void {
    if (Number.isFinite(atUnix)) this.due.push({ atUnix, kind, id });
  }

  /** Hash under which an import token is stored (the token text itself is never persisted). */
  static tokenHash(token: string): string {
    return createHash('sha256').update(token, 'utf8').digest('hex');
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Validates the outer shape of a state document (our own file: records are trusted beyond that). */
export function parsePersistedState(json: unknown, path: string): PersistedState {
  const bad = (why: string): KmsEmulatorError =>
    new KmsEmulatorError(EmulatorErrorCode.InvalidStateFile, `KMS emulator state file ${path} is not usable: ${why}`, {
      field: 'stateFile',
    });
  if (!isRecord(json)) throw bad('not a JSON object');
  if (json['format'] !== STATE_FORMAT) throw bad(`"format" is not "${STATE_FORMAT}"`);
  if (json['version'] !== 1 && json['version'] !== 2) throw bad('unsupported "version"');
  if (json['version'] === 2) {
    if (json['kmsVersion'] !== 1 && json['kmsVersion'] !== 3) throw bad('"kmsVersion" must be 1 or 3');
    if (!Array.isArray(json['instances']) || !json['instances'].every(isRecord))
      throw bad('"instances" is not a list of objects');
    for (const instance of json['instances'] as Record<string, unknown>[]) {
      if (
        typeof instance['instanceId'] !== 'string' ||
        (instance['type'] !== 'software' && instance['type'] !== 'hardware') ||
        typeof instance['endUnix'] !== 'number'
      ) {
        throw bad('an instance record lacks instanceId/type/endUnix');
      }
      for (const quota of ['keyQuota', 'secretQuota']) {
        const value = instance[quota];
        if (value !== undefined && !(Number.isSafeInteger(value) && (value as number) >= 1))
          throw bad(`an instance's "${quota}" is not a positive integer`);
      }
    }
  }
  if (typeof json['emulatorSecret'] !== 'string' || Buffer.from(json['emulatorSecret'], 'base64').length !== 32) {
    throw bad('"emulatorSecret" is missing or malformed');
  }
  if (typeof json['clockOffsetMs'] !== 'number' || !Number.isFinite(json['clockOffsetMs']))
    throw bad('"clockOffsetMs"');
  for (const list of ['keys', 'aliases', 'importTokens', 'secrets'] as const) {
    if (!Array.isArray(json[list]) || !json[list].every(isRecord)) throw bad(`"${list}" is not a list of objects`);
  }
  const serviceKeyId = json['serviceKeyId'];
  if (serviceKeyId !== null && typeof serviceKeyId !== 'string') throw bad('"serviceKeyId"');
  for (const key of json['keys'] as Record<string, unknown>[]) {
    if (
      typeof key['keyId'] !== 'string' ||
      typeof key['primaryKeyVersion'] !== 'string' ||
      typeof key['state'] !== 'string'
    ) {
      throw bad('a key record lacks keyId/primaryKeyVersion/state');
    }
  }
  return json as unknown as PersistedState;
}

/** Reads the state file; `undefined` when it does not exist yet. Throws on a corrupt file. */
export function loadStateFile(path: string): PersistedState | undefined {
  if (!existsSync(path)) return undefined;
  const text = readFileSync(path, 'utf8');
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new KmsEmulatorError(
      EmulatorErrorCode.InvalidStateFile,
      `KMS emulator state file ${path} is not valid JSON`,
      {
        field: 'stateFile',
      },
    );
  }
  return parsePersistedState(json, path);
}

/**
 * Atomic, private write: temp file in the same directory (mode 0600), write, fsync, rename over
 * the target, then fsync the directory (best effort). A crash leaves either the old or the new file.
 */
export function writeFileAtomic(path: string, data: string): void {
  const dir = dirname(path);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  const fd = openSync(tmp, 'wx', 0o600);
  try {
    fchmodSync(fd, 0o600); // the umask can only remove bits, but be explicit
    writeSync(fd, data);
    fsyncSync(fd);
  } catch (err) {
    closeSync(fd);
    unlinkSync(tmp);
    throw err;
  }
  closeSync(fd);
  try {
    renameSync(tmp, path);
  } catch (err) {
    unlinkSync(tmp);
    throw err;
  }
  try {
    const dirFd = openSync(dir, 'r');
    try {
      fsyncSync(dirFd);
    } finally {
      closeSync(dirFd);
    }
  } catch {
    // directory fsync is not supported everywhere; the rename is still atomic
  }
}

/** Writes a state document atomically with mode 0600. */
export function saveStateFile(path: string, state: PersistedState): void {
  writeFileAtomic(path, `${JSON.stringify(state)}\n`);
}
