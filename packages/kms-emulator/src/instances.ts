/**
 * KMS 3.0 instances (docs/kms-3-instances.md): id formats, the instance specs accepted by the
 * in-process API, the CLI and the admin API, the instance lifecycle (active -> expired ->
 * released) and the gates the actions apply to keys and secrets that live in an instance.
 *
 * Lifecycle (docs §5): an instance is usable until its subscription `EndDate`; after it, its keys
 * report `KeyState: Unavailable` and every use answers `Rejected.Unavailable` 409. Fifteen days
 * after the end date (documented: "renew within 15 days ... otherwise released"), or when released
 * explicitly, its keys and secrets are gone (`Forbidden.KeyNotFound` / `Forbidden.ResourceNotFound`)
 * and the id answers `Forbidden.DKMSInstanceNotFound` 403.
 */
import { randomBytes } from 'node:crypto';
import { isoSeconds } from './clock.js';
import { kmsError } from './errors.js';
import { AdminInputError } from './faults.js';
import type { EmulatorStore, InstanceRecord, InstanceType, KeyRecord, SecretRecord } from './store.js';

/**
 * Instance ids: `kst-` + region code (3-4 lower-case letters: `hzz`, `bjj`, `phzz`) + 8 hex digits
 * (the creation time in the documented examples, e.g. `kst-hzz65f176a0ogplgq****`) + 6-12 lower-case
 * letters or digits (the examples show 10, partly masked). Documented examples; the exact grammar
 * is inferred.
 */
export const INSTANCE_ID_RE = /^kst-[a-z]{3,4}[0-9a-f]{8}[0-9a-z]{6,12}$/;
/** Instance-key ids: `key-` + the same shape (documented example `key-hzz62f1cb66fa42qo****`). */
export const INSTANCE_KEY_ID_RE = /^key-[a-z]{3,4}[0-9a-f]{8}[0-9a-z]{6,12}$/;
/**
 * Subscription length when none is given (inferred: long, so long-running simulations that
 * advance the clock by years keep working; declare `endUnix`/`endDate` to test expiry).
 */
export const DEFAULT_SUBSCRIPTION_SECONDS = 10 * 365 * 86_400;
/**
 * Key quantity (`KeyNum`) of an instance declared without `keyQuota` (inferred: a typical
 * purchasable size). A real KMS 3.0 instance is bought with a key quantity and a secret quantity
 * (its spec); the emulator takes both per instance (`keyQuota`, `secretQuota`).
 */
export const INSTANCE_KEY_QUOTA = 1000;
/** Secret quantity (`SecretNum`) of an instance declared without `secretQuota` (inferred). */
export const INSTANCE_SECRET_QUOTA = 1000;
/** Largest quota the emulator accepts (inferred bound: far above any purchasable spec; keeps input sane). */
export const MAX_INSTANCE_QUOTA = 1_000_000;

/** An instance as declared in-process (`instances` option, `emu.instances.upsert`). */
export interface InstanceSpec {
  /** `kst-…` (see INSTANCE_ID_RE). */
  id: string;
  type: InstanceType;
  /** Whether crypto through the shared endpoint reaches its keys (console "Internet access"); default true. */
  sharedGateway?: boolean;
  /** Subscription end, Unix seconds. Default on creation: 10 years after the emulator's now; kept on update. */
  endUnix?: number;
  /** Key quantity bought (`KeyNum`, enforced by CreateKey). Default on creation INSTANCE_KEY_QUOTA; kept on update. */
  keyQuota?: number;
  /** Secret quantity bought (`SecretNum`, enforced by CreateSecret). Default INSTANCE_SECRET_QUOTA; kept on update. */
  secretQuota?: number;
}

/** What `emu.instances.list()` and `GET /__emulator/state` report per instance. */
export interface InstanceSummary {
  id: string;
  type: InstanceType;
  sharedGateway: boolean;
  /** `active`, `expired` (past its end date: keys Unavailable) or `released` (keys and secrets gone). */
  condition: InstanceCondition;
  startUnix: number;
  endUnix: number;
  endDate: string;
  releasedUnix: number | null;
  keyCount: number;
  secretCount: number;
  /** Key and secret quantities (`KeyNum`, `SecretNum`). */
  keyQuota: number;
  secretQuota: number;
  isDefault: boolean;
}

/** Where an instance is in its lifecycle. */
export type InstanceCondition = 'active' | 'expired' | 'released';

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Throws AdminInputError unless `id` looks like a real instance id. */
export function validateInstanceId(id: unknown, field = 'id'): string {
  if (typeof id !== 'string' || !INSTANCE_ID_RE.test(id)) {
    throw new AdminInputError(
      `${field} must be a KMS instance id like kst-hzz65f176a0ogplgqabcd ("kst-", a 3-4 letter region code, ` +
        `8 hex digits, 6-12 lower-case letters or digits); ` +
        `got ${JSON.stringify(typeof id === 'string' ? id.slice(0, 80) : id)}`,
    );
  }
  return id;
}

function validateType(type: unknown): InstanceType {
  if (type !== 'software' && type !== 'hardware') throw new AdminInputError('"type" must be "software" or "hardware"');
  return type;
}

function validateQuota(value: unknown, field: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1 || value > MAX_INSTANCE_QUOTA) {
    throw new AdminInputError(`${field} must be an integer from 1 to ${MAX_INSTANCE_QUOTA}`);
  }
  return value;
}

/** The key quantity of an instance (`KeyNum`): its `keyQuota`, else INSTANCE_KEY_QUOTA. */
export function keyQuotaOf(instance: InstanceRecord): number {
  return instance.keyQuota ?? INSTANCE_KEY_QUOTA;
}

/** The secret quantity of an instance (`SecretNum`): its `secretQuota`, else INSTANCE_SECRET_QUOTA. */
export function secretQuotaOf(instance: InstanceRecord): number {
  return instance.secretQuota ?? INSTANCE_SECRET_QUOTA;
}

function validateEndUnix(endUnix: unknown, field: string): number {
  if (typeof endUnix !== 'number' || !Number.isSafeInteger(endUnix) || endUnix < 0) {
    throw new AdminInputError(`${field} must be a non-negative integer (Unix seconds)`);
  }
  return endUnix;
}

/** Validates an in-process spec (the `instances` option or `emu.instances.upsert`). */
export function parseInstanceSpec(value: unknown): InstanceSpec {
  if (!isRecord(value)) {
    throw new AdminInputError(
      'an instance must be an object {id, type, sharedGateway?, endUnix?, keyQuota?, secretQuota?}',
    );
  }
  for (const field of Object.keys(value)) {
    if (!['id', 'type', 'sharedGateway', 'endUnix', 'keyQuota', 'secretQuota'].includes(field))
      throw new AdminInputError(`unknown instance field "${field}"`);
  }
  const spec: InstanceSpec = { id: validateInstanceId(value['id']), type: validateType(value['type']) };
  if (value['sharedGateway'] !== undefined) {
    if (typeof value['sharedGateway'] !== 'boolean') throw new AdminInputError('"sharedGateway" must be true or false');
    spec.sharedGateway = value['sharedGateway'];
  }
  if (value['endUnix'] !== undefined) spec.endUnix = validateEndUnix(value['endUnix'], '"endUnix"');
  if (value['keyQuota'] !== undefined) spec.keyQuota = validateQuota(value['keyQuota'], '"keyQuota"');
  if (value['secretQuota'] !== undefined) spec.secretQuota = validateQuota(value['secretQuota'], '"secretQuota"');
  return spec;
}

/** Parses the admin body `{"id","type","sharedGateway"?,"endDate"? (ISO 8601),"keyQuota"?,"secretQuota"?}`. */
export function parseAdminInstanceBody(body: unknown): InstanceSpec {
  if (!isRecord(body)) throw new AdminInputError('body must be a JSON object');
  for (const field of Object.keys(body)) {
    if (!['id', 'type', 'sharedGateway', 'endDate', 'keyQuota', 'secretQuota'].includes(field))
      throw new AdminInputError(`unknown field "${field}"`);
  }
  const { endDate, ...rest } = body;
  const spec = parseInstanceSpec(rest);
  if (endDate !== undefined) {
    const ms =
      typeof endDate === 'string' &&
      /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?(Z|[+-]\d{2}:\d{2}))?$/.test(endDate)
        ? Date.parse(endDate)
        : NaN;
    if (Number.isNaN(ms) || ms < 0)
      throw new AdminInputError('"endDate" must be an ISO 8601 date, e.g. 2030-01-31T00:00:00Z');
    spec.endUnix = Math.floor(ms / 1000);
  }
  return spec;
}

/** The CLI form of an instance, as usage text shows it. */
export const INSTANCE_FLAG_FORM = '<id>:<software|hardware>[:no-shared-gateway][:keys=<n>][:secrets=<n>]';

/** Parses the CLI form INSTANCE_FLAG_FORM (options in any order, each at most once). */
export function parseInstanceFlag(text: string): InstanceSpec {
  const parts = text.split(':');
  if (parts.length < 2 || parts.length > 5) {
    throw new AdminInputError(`--instance must be ${INSTANCE_FLAG_FORM} (got "${text}")`);
  }
  const [id, type, ...options] = parts as [string, string, ...string[]];
  if (type !== 'software' && type !== 'hardware') {
    throw new AdminInputError(`--instance ${id}: the type must be "software" or "hardware" (got "${type}")`);
  }
  const spec: InstanceSpec = { id: validateInstanceId(id, '--instance id'), type, sharedGateway: true };
  const seen = new Set<string>();
  for (const option of options) {
    const name = option.split('=')[0] ?? option;
    if (seen.has(name)) throw new AdminInputError(`--instance ${id}: "${name}" is given twice`);
    seen.add(name);
    const quota = /^(keys|secrets)=(\d{1,7})$/.exec(option);
    if (option === 'no-shared-gateway') spec.sharedGateway = false;
    else if (quota?.[1] === 'keys') spec.keyQuota = validateQuota(Number(quota[2]), `--instance ${id}: keys=`);
    else if (quota?.[1] === 'secrets') spec.secretQuota = validateQuota(Number(quota[2]), `--instance ${id}: secrets=`);
    else {
      throw new AdminInputError(
        `--instance ${id}: the options are "no-shared-gateway", "keys=<n>" and "secrets=<n>" (got "${option}")`,
      );
    }
  }
  return spec;
}

/** The lifecycle position of an instance at `nowUnix`. */
export function instanceCondition(instance: InstanceRecord, nowUnix: number): InstanceCondition {
  if (instance.releasedUnix !== null) return 'released';
  return nowUnix >= instance.endUnix ? 'expired' : 'active';
}

/**
 * Region code of ids (inferred from the documented examples: `hzz` Hangzhou, `bjj` Beijing,
 * `gzz` Guangzhou): the first letter of the city doubled into three letters for the known ones,
 * else the first three letters of the region's last alphabetic part.
 */
export function regionCode(region: string): string {
  const known: Record<string, string> = {
    'cn-hangzhou': 'hzz',
    'cn-beijing': 'bjj',
    'cn-shanghai': 'shh',
    'cn-shenzhen': 'szz',
    'cn-guangzhou': 'gzz',
    'cn-qingdao': 'qdd',
    'cn-zhangjiakou': 'zjk',
    'cn-hongkong': 'hkk',
    'ap-southeast-1': 'sgg',
  };
  const code = known[region];
  if (code !== undefined) return code;
  const letters = region
    .split('-')
    .filter((p) => /^[a-z]+$/.test(p))
    .pop();
  return `${letters ?? 'xxx'}xxx`.slice(0, 3);
}

const ALNUM = '0123456789abcdefghijklmnopqrstuvwxyz';

/** `n` uniformly random lower-case letters and digits (CSPRNG, rejection sampling). */
function randomAlnum(n: number): string {
  let out = '';
  while (out.length < n) {
    for (const b of randomBytes(n * 2)) {
      if (b < 252 && out.length < n) out += ALNUM[b % 36];
    }
  }
  return out;
}

function idBody(code: string, nowUnix: number): string {
  return `${code}${(nowUnix >>> 0).toString(16).padStart(8, '0').slice(-8)}${randomAlnum(10)}`;
}

/** A fresh instance id for `region` (e.g. for tests that need a valid id). */
export function newInstanceId(region: string, nowUnix: number): string {
  return `kst-${idBody(regionCode(region), nowUnix)}`;
}

/** A fresh key id for a key in `instanceId`: `key-` + the instance's region code + time + random. */
export function newInstanceKeyId(instanceId: string, nowUnix: number): string {
  const code = /^kst-([a-z]{3,4})/.exec(instanceId)?.[1] ?? 'xxx';
  return `key-${idBody(code, nowUnix)}`;
}

/** Creates or updates an instance. The type of an existing instance and a released id cannot change. */
export function upsertInstance(store: EmulatorStore, spec: InstanceSpec, nowUnix: number): InstanceRecord {
  if (store.kmsVersion !== 3)
    throw new AdminInputError('instances exist only with kmsVersion 3 (the emulator runs KMS 1.0)');
  const existing = store.instances.get(spec.id);
  if (existing !== undefined) {
    if (existing.releasedUnix !== null) {
      // inferred: instance ids are never reused
      throw new AdminInputError(`instance ${spec.id} was released; a released instance id cannot be used again`);
    }
    if (existing.type !== spec.type) {
      throw new AdminInputError(`instance ${spec.id} is a ${existing.type} instance; its type cannot change`);
    }
    if (spec.sharedGateway !== undefined) existing.sharedGateway = spec.sharedGateway;
    if (spec.endUnix !== undefined) existing.endUnix = spec.endUnix;
    if (spec.keyQuota !== undefined) existing.keyQuota = spec.keyQuota;
    if (spec.secretQuota !== undefined) existing.secretQuota = spec.secretQuota;
    store.watchInstance(existing.instanceId);
    store.markDirty();
    return existing;
  }
  const record: InstanceRecord = {
    instanceId: spec.id,
    type: spec.type,
    sharedGateway: spec.sharedGateway ?? true,
    createUnix: nowUnix,
    startUnix: nowUnix,
    endUnix: spec.endUnix ?? nowUnix + DEFAULT_SUBSCRIPTION_SECONDS,
    releasedUnix: null,
    ...(spec.keyQuota === undefined ? {} : { keyQuota: spec.keyQuota }),
    ...(spec.secretQuota === undefined ? {} : { secretQuota: spec.secretQuota }),
  };
  store.instances.set(record.instanceId, record);
  store.markDirty();
  return record;
}

/** Releases an instance: its keys, their aliases and tokens, and its secrets are removed. Idempotent. */
export function releaseInstance(store: EmulatorStore, id: string, nowUnix: number): InstanceRecord {
  const instance = store.instances.get(id);
  if (instance === undefined) throw new AdminInputError(`no instance ${id}`);
  store.releaseInstance(id, nowUnix);
  return instance;
}

/** Summary of one instance (admin state, `emu.instances.list()`). */
export function instanceSummary(store: EmulatorStore, instance: InstanceRecord, nowUnix: number): InstanceSummary {
  let keyCount = 0;
  let secretCount = 0;
  for (const key of store.keys.values()) if (key.dkmsInstanceId === instance.instanceId) keyCount += 1;
  for (const secret of store.secrets.values()) if (secret.dkmsInstanceId === instance.instanceId) secretCount += 1;
  return {
    id: instance.instanceId,
    type: instance.type,
    sharedGateway: instance.sharedGateway,
    condition: instanceCondition(instance, nowUnix),
    startUnix: instance.startUnix,
    endUnix: instance.endUnix,
    endDate: isoSeconds(instance.endUnix),
    releasedUnix: instance.releasedUnix,
    keyCount,
    secretCount,
    keyQuota: keyQuotaOf(instance),
    secretQuota: secretQuotaOf(instance),
    isDefault: store.defaultInstanceId === instance.instanceId,
  };
}

/**
 * The instance a new key or secret goes into (KMS 3.0): `DKMSInstanceId` when given, else the
 * configured default instance, else none. Unknown or released -> Forbidden.DKMSInstanceNotFound 403
 * (documented); expired -> Forbidden.DKMSInstanceStateInvalid 403 (inferred, docs §1/§5).
 * With KMS 1.0 every instance id is unknown (an account without instances).
 */
export function targetInstance(
  store: EmulatorStore,
  requested: string | undefined,
  nowUnix: number,
): InstanceRecord | undefined {
  const id = requested ?? (store.kmsVersion === 3 ? (store.defaultInstanceId ?? undefined) : undefined);
  if (id === undefined) return undefined;
  const instance = store.kmsVersion === 3 ? store.instances.get(id) : undefined;
  if (instance === undefined || instance.releasedUnix !== null) throw kmsError('Forbidden.DKMSInstanceNotFound');
  if (instanceCondition(instance, nowUnix) === 'expired') throw kmsError('Forbidden.DKMSInstanceStateInvalid');
  return instance;
}

/** The instance holding a key or secret (undefined for keys and secrets outside any instance). */
export function instanceOf(store: EmulatorStore, resource: KeyRecord | SecretRecord): InstanceRecord | undefined {
  return resource.dkmsInstanceId === undefined ? undefined : store.instances.get(resource.dkmsInstanceId);
}

/** Whether the resource's instance has expired (its keys report `Unavailable`). */
export function isUnavailable(store: EmulatorStore, resource: KeyRecord | SecretRecord, nowUnix: number): boolean {
  const instance = instanceOf(store, resource);
  return instance !== undefined && instanceCondition(instance, nowUnix) !== 'active';
}

/** Refuses any use of a key or secret whose instance has expired: `Rejected.Unavailable` 409 (documented). */
export function assertInstanceAvailable(
  store: EmulatorStore,
  resource: KeyRecord | SecretRecord,
  nowUnix: number,
): void {
  if (isUnavailable(store, resource, nowUnix)) throw kmsError('Rejected.Unavailable');
}

/**
 * Crypto through the shared endpoint: an instance key needs the instance's Internet access switch
 * (`sharedGateway`), else `Forbidden.NoPermission` 403 (inferred; the real code is unpublished).
 */
export function assertSharedGatewayAllowed(store: EmulatorStore, key: KeyRecord): void {
  const instance = instanceOf(store, key);
  if (instance !== undefined && !instance.sharedGateway) {
    throw kmsError(
      'Forbidden.NoPermission',
      'This operation is forbidden by permission system. The key ' +
        'is in a KMS instance without Internet access (shared gateway).',
    );
  }
}

/** The instance part of `startKmsEmulator`'s options. */
export interface InstanceOptions {
  kmsVersion?: 1 | 3;
  instances?: InstanceSpec[];
  defaultInstanceId?: string;
}

/**
 * Applies the start-up options to a fresh or restored store: the KMS generation (default 3),
 * the declared instances (created, or updated when the state file already has them) and the
 * default instance. Throws AdminInputError with a clear message on any inconsistency.
 */
export function configureInstances(store: EmulatorStore, options: InstanceOptions, nowUnix: number): void {
  const version = options.kmsVersion ?? 3;
  if (version !== 1 && version !== 3) throw new AdminInputError('kmsVersion must be 1 or 3');
  if (version === 1) {
    if ((options.instances ?? []).length > 0 || options.defaultInstanceId !== undefined) {
      throw new AdminInputError('instances and defaultInstanceId need kmsVersion 3 (KMS 1.0 has no instances)');
    }
    const inInstance = [...store.keys.values(), ...store.secrets.values()].some((r) => r.dkmsInstanceId !== undefined);
    if (store.instances.size > 0 || inInstance) {
      throw new AdminInputError('the state file holds KMS 3.0 instances; start the emulator with kmsVersion 3');
    }
  }
  if (store.kmsVersion !== version) {
    store.kmsVersion = version;
    store.markDirty();
  }
  if (options.instances !== undefined && !Array.isArray(options.instances))
    throw new AdminInputError('instances must be an array');
  const specs = (options.instances ?? []).map(parseInstanceSpec);
  const seen = new Set<string>();
  for (const spec of specs) {
    if (seen.has(spec.id)) throw new AdminInputError(`instance ${spec.id} is declared twice`);
    seen.add(spec.id);
  }
  for (const spec of specs) upsertInstance(store, spec, nowUnix);
  if (options.defaultInstanceId !== undefined) {
    const id = validateInstanceId(options.defaultInstanceId, 'defaultInstanceId');
    const instance = store.instances.get(id);
    if (instance === undefined || instance.releasedUnix !== null) {
      throw new AdminInputError(`defaultInstanceId ${id} is not a declared (or persisted, unreleased) instance`);
    }
    store.defaultInstanceId = id;
  }
}

/** In-process instance controls (`emu.instances`). */
export interface InstanceControls {
  /** Creates or updates an instance (type fixed once created; `endUnix` sets the subscription end). */
  upsert(spec: InstanceSpec): InstanceSummary;
  /** Releases an instance: its keys and secrets are gone, its id answers Forbidden.DKMSInstanceNotFound. */
  release(id: string): InstanceSummary;
  /** Every instance, released ones included. */
  list(): InstanceSummary[];
}

/** Builds `emu.instances`; `settle` applies time-driven transitions and persists. */
export function instanceControls(store: EmulatorStore, nowUnix: () => number, settle: () => void): InstanceControls {
  const summary = (instance: InstanceRecord): InstanceSummary => instanceSummary(store, instance, nowUnix());
  return {
    upsert(spec) {
      const parsed = parseInstanceSpec(spec);
      settle();
      const instance = upsertInstance(store, parsed, nowUnix());
      settle();
      return summary(instance);
    },
    release(id) {
      settle();
      const instance = releaseInstance(store, validateInstanceId(id), nowUnix());
      settle();
      return summary(instance);
    },
    list() {
      settle();
      return [...store.instances.values()].map(summary);
    },
  };
}
