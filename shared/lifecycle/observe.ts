/**
 * Observe: read-only. Builds a Snapshot from KMS (keys, their tags and aliases) and the escrow
 * index. Only EXTERNAL keys are described in full; unmanaged ones are reported, never touched.
 */
import { isOrchestratorError, ErrorCode } from '../errors.js';
import type { EscrowListing } from '../escrow/store.js';
import { KeyOrigin, type KeyMetadata, type KmsPort } from '../kms/port.js';
import type { Logger } from '../log.js';
import { toKeyView } from './key-view.js';
import type { InstanceRole, InstanceView, KeyView, Snapshot } from './model.js';

/** What observe needs from escrow: fingerprints by key id, never material. */
export interface EscrowIndex {
  list(): Promise<EscrowListing>;
}

/** Our code for a read that failed; an uncoded error (a bug) is logged with its stack. */
function readErrorCode(err: unknown, log: Logger | undefined, fields: Record<string, string>): string {
  if (isOrchestratorError(err)) return err.code;
  log?.error('internal error', err, fields);
  return ErrorCode.Internal;
}

/** Bounded parallel map (KMS calls go through the adapter's limiter too; this keeps memory flat). */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/** Describes one key fully; undefined when it vanished meanwhile (deleted after its window). */
export async function observeKey(
  kms: KmsPort,
  keyId: string,
  aliasesByKey: Map<string, string[]>,
  escrow: Snapshot['escrow'],
): Promise<KeyView | undefined> {
  let meta: KeyMetadata;
  try {
    meta = await kms.describeKey(keyId);
  } catch (err) {
    if (isOrchestratorError(err, ErrorCode.KmsNotFound)) return undefined;
    throw err;
  }
  if (meta.origin !== KeyOrigin.External) return undefined;
  const tags = await kms.listResourceTags(meta.keyId);
  return toKeyView(meta, tags, aliasesByKey.get(meta.keyId) ?? [], escrow[meta.keyId]?.fingerprint);
}

/**
 * Reads the configured KMS 3.0 instances (GetKmsInstance), one entry per distinct id. A lapsing or
 * lapsed instance is the same cliff as expiring material, so the plan alerts on it; an instance
 * that cannot be read is reported with the error, never allowed to stop the sweep.
 */
export async function observeInstances(
  kms: Pick<KmsPort, 'getKmsInstance'>,
  configured: { keys?: string; escrow?: string } | undefined,
  log?: Logger,
): Promise<InstanceView[]> {
  const roles = new Map<string, InstanceRole[]>();
  for (const role of ['keys', 'escrow'] as const) {
    const id = configured?.[role];
    if (id) roles.set(id, [...(roles.get(id) ?? []), role]);
  }
  const ids = [...roles.keys()].sort();
  return Promise.all(
    ids.map(async (instanceId): Promise<InstanceView> => {
      const base = { instanceId, roles: roles.get(instanceId)!.sort() };
      try {
        const info = await kms.getKmsInstance(instanceId);
        return { ...base, status: info.status, ...(info.endDateMs === undefined ? {} : { endDateMs: info.endDateMs }) };
      } catch (err) {
        const readError = isOrchestratorError(err)
          ? { code: err.code, ...(err.details.kmsCode === undefined ? {} : { kmsCode: err.details.kmsCode }) }
          : { code: readErrorCode(err, log, { instanceId }) };
        return { ...base, readError };
      }
    }),
  );
}

/** Takes a snapshot of the account: every EXTERNAL key, every alias, the escrow index, the configured instances. */
export async function observe(deps: {
  kms: KmsPort;
  escrow: EscrowIndex;
  nowMs: () => number;
  concurrency?: number;
  /** KMS 3.0 instances the configuration names (EngineDeps.instances); each is read and reported. */
  instances?: { keys?: string; escrow?: string };
  /** Where an uncoded error (a bug) is logged with its stack. */
  log?: Logger;
}): Promise<Snapshot> {
  const [keyIds, aliasList, escrowList, instances] = await Promise.all([
    deps.kms.listKeys(),
    deps.kms.listAliases(),
    deps.escrow.list(),
    observeInstances(deps.kms, deps.instances, deps.log),
  ]);
  const aliases: Record<string, string> = {};
  const aliasesByKey = new Map<string, string[]>();
  for (const a of aliasList) {
    aliases[a.aliasName] = a.keyId;
    aliasesByKey.set(a.keyId, [...(aliasesByKey.get(a.keyId) ?? []), a.aliasName]);
  }
  const escrow: Snapshot['escrow'] = {};
  for (const e of escrowList.records) {
    // A record with stray versions stays in the index: it is still the material to repair from.
    escrow[e.keyId] = {
      fingerprint: e.fingerprint,
      lineage: e.lineage,
      generation: e.generation,
      ...(e.versionCount === undefined ? {} : { versionCount: e.versionCount }),
    };
  }
  // One key that cannot be read (a RAM deny on it, persistent errors) must not hide the others
  // (invariant 7): it is reported, and the plan raises an alert for it.
  const unobservable: Snapshot['unobservable'] = [];
  const views = await mapLimit(keyIds, deps.concurrency ?? 4, async (id) => {
    try {
      return await observeKey(deps.kms, id, aliasesByKey, escrow);
    } catch (err) {
      unobservable.push({ keyId: id, code: readErrorCode(err, deps.log, { keyId: id }) });
      return undefined;
    }
  });
  const keys = views.filter((v): v is KeyView => v !== undefined).sort((a, b) => a.keyId.localeCompare(b.keyId));
  unobservable.sort((a, b) => a.keyId.localeCompare(b.keyId));
  return {
    takenAtMs: deps.nowMs(),
    keys,
    aliases,
    escrow,
    escrowUnreadable: escrowList.unreadable.map((u) => u.keyId).sort(),
    unobservable,
    instances,
  };
}

/**
 * Every managed key of one lineage in the account right now: a full scan of the account (rare and
 * authoritative; run under the lineage's lease when its result decides a write).
 */
export async function observeLineage(kms: KmsPort, lineage: string): Promise<KeyView[]> {
  const found: KeyView[] = [];
  for (const id of await kms.listKeys()) {
    const v = await observeKey(kms, id, new Map(), {});
    if (v?.managed && v.lineage === lineage) found.push(v);
  }
  return found.sort((a, b) => (a.generation ?? 0) - (b.generation ?? 0));
}
