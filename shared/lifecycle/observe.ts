/**
 * Observe: read-only. Builds a Snapshot from KMS (keys, their tags and aliases) and the escrow
 * index. Only EXTERNAL keys are described in full; unmanaged ones are reported, never touched.
 */
import { isOrchestratorError, ErrorCode } from '../errors.js';
import { KeyOrigin, type KeyMetadata, type KmsPort } from '../kms/port.js';
import type { EscrowListingLike } from './ports.js';
import { Tag, parseMarker, type Hold, type KeyView, type Phase, type Snapshot } from './model.js';

/** What observe needs from escrow: fingerprints by key id, never material. */
export interface EscrowIndex {
  list(): Promise<EscrowListingLike>;
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

/** Turns metadata + tags into a KeyView. */
export function toKeyView(meta: KeyMetadata, tags: Record<string, string>, aliases: string[], escrowFingerprint?: string): KeyView {
  const marker = parseMarker(meta.description);
  const tagged = tags[Tag.Managed] === 'true';
  const num = (v: string | undefined) => (v !== undefined && /^\d+$/.test(v) ? Number(v) : undefined);
  const supersededUnix = num(tags[Tag.SupersededAt]);
  return {
    keyId: meta.keyId,
    state: meta.keyState,
    origin: meta.origin,
    keySpec: meta.keySpec,
    creationDateMs: meta.creationDateMs,
    materialExpireAtMs: meta.materialExpireAtMs,
    deleteDateMs: meta.deleteDateMs,
    managed: tagged || marker !== undefined,
    lineage: tags[Tag.Lineage] ?? marker?.lineage,
    generation: num(tags[Tag.Generation]) ?? marker?.generation,
    fingerprint: tags[Tag.Fingerprint],
    phase: tags[Tag.Phase] as Phase | undefined,
    hold: tags[Tag.Hold] as Hold | undefined,
    supersededAtMs: supersededUnix === undefined ? undefined : supersededUnix * 1000,
    validityDaysOverride: num(tags[Tag.ValidityDays]),
    untaggedMarker: !tagged && marker !== undefined,
    aliases,
    escrowFingerprint,
  };
}

/** Describes one key fully; undefined when it vanished meanwhile (deleted after its window). */
export async function observeKey(kms: KmsPort, keyId: string, aliasesByKey: Map<string, string[]>, escrow: Snapshot['escrow']): Promise<KeyView | undefined> {
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

/** Takes a snapshot of the account: every EXTERNAL key, every alias, the escrow index. */
export async function observe(deps: { kms: KmsPort; escrow: EscrowIndex; nowMs: () => number; concurrency?: number }): Promise<Snapshot> {
  const [keyIds, aliasList, escrowList] = await Promise.all([deps.kms.listKeys(), deps.kms.listAliases(), deps.escrow.list()]);
  const aliases: Record<string, string> = {};
  const aliasesByKey = new Map<string, string[]>();
  for (const a of aliasList) {
    aliases[a.aliasName] = a.keyId;
    aliasesByKey.set(a.keyId, [...(aliasesByKey.get(a.keyId) ?? []), a.aliasName]);
  }
  const escrow: Snapshot['escrow'] = {};
  for (const e of escrowList.records) escrow[e.keyId] = { fingerprint: e.fingerprint, lineage: e.lineage, generation: e.generation };
  // One key that cannot be read (a RAM deny on it, persistent errors) must not hide the others
  // (invariant 7): it is reported, and the plan raises an alert for it.
  const unobservable: Snapshot['unobservable'] = [];
  const views = await mapLimit(keyIds, deps.concurrency ?? 4, async (id) => {
    try {
      return await observeKey(deps.kms, id, aliasesByKey, escrow);
    } catch (err) {
      unobservable.push({ keyId: id, code: isOrchestratorError(err) ? err.code : ErrorCode.Internal });
      return undefined;
    }
  });
  const keys = views.filter((v): v is KeyView => v !== undefined).sort((a, b) => a.keyId.localeCompare(b.keyId));
  unobservable.sort((a, b) => a.keyId.localeCompare(b.keyId));
  return { takenAtMs: deps.nowMs(), keys, aliases, escrow, escrowUnreadable: escrowList.unreadable.map((u) => u.keyId).sort(), unobservable };
}
