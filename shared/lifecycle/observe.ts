/**
 * Observe: read-only. Builds a Snapshot from KMS (keys, their tags and aliases) and the escrow
 * index. Only EXTERNAL keys are described in full; unmanaged ones are reported, never touched.
 *
 * About one KMS call per healthy managed key (docs/design.md, observe): the escrow listing gives
 * each record's fingerprint from metadata (no decryption) and a mirror of its key's `byok:*` tags,
 * so a key is DescribeKey'd and its tags read from the mirror when the mirror is usable; its own
 * tags (ListResourceTags) are read when the mirror is missing or disagrees with what DescribeKey
 * says, when the key's periodic reconcile is due, and when `confirm` (the plan) says the key's
 * lineage has something to do. Every write is planned on the key's own tags.
 */
import { DEFAULT_CHECK_PERIOD_DAYS } from '../config/index.js';
import { isOrchestratorError, ErrorCode } from '../errors.js';
import type { EscrowListOptions, EscrowListing, EscrowStore } from '../escrow/store.js';
import { dayIndex, isDue } from '../escrow/due.js';
import { READ_BACK_SALT } from '../escrow/kms-secrets-store.js';
import { byokTagsOf, decodeTagMirror, encodeTagMirror } from '../escrow/tag-mirror.js';
import { KeyOrigin, KeyState, type AliasEntry, type KeyMetadata, type KmsPort } from '../kms/port.js';
import type { Logger } from '../log.js';
import { toKeyView } from './key-view.js';
import {
  DAY_MS,
  Phase,
  Tag,
  parseMarker,
  policyFor,
  type InstanceRole,
  type InstanceView,
  type KeyView,
  type Policies,
  type Snapshot,
} from './model.js';
import { planSweep, type Plan } from './plan.js';
import type { EngineDeps } from './ports.js';

/** What observe needs from escrow: fingerprints by key id, never material (and the tag mirror writer). */
export interface EscrowIndex {
  list(options?: EscrowListOptions): Promise<EscrowListing>;
  mirrorKeyTags?: EscrowStore['mirrorKeyTags'];
}

/** Default period (days) within which every escrow record is read back in full by some sweep. */
export const DEFAULT_ESCROW_VERIFY_DAYS = DEFAULT_CHECK_PERIOD_DAYS;
/** Default period (days) within which every managed key's own tags are read by some sweep. */
export const DEFAULT_TAG_RECONCILE_DAYS = DEFAULT_CHECK_PERIOD_DAYS;

/** Salt of the tag reconcile's phase days (escrow read-backs use another: they spread apart). */
export const TAG_RECONCILE_SALT = 'tag-reconcile';

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

/** DescribeKey; undefined when the key vanished meanwhile (deleted after its window). */
async function describeIfPresent(kms: KmsPort, keyId: string): Promise<KeyMetadata | undefined> {
  try {
    return await kms.describeKey(keyId);
  } catch (err) {
    if (isOrchestratorError(err, ErrorCode.KmsNotFound)) return undefined;
    throw err;
  }
}

/**
 * Whether a key's mirrored tags may stand in for its own in a snapshot: the mirror names the
 * lineage and generation of the key's CreateKey marker (when it has one), and the key is in a
 * steady state: Enabled, or a retired generation whose material has run out (PendingImport).
 * Anything else (disabled, pending deletion, unavailable, a state we do not know) is read in full.
 */
export function mirrorUsable(meta: KeyMetadata, mirror: Readonly<Record<string, string>>): boolean {
  const marker = parseMarker(meta.description);
  if (marker && (marker.lineage !== mirror[Tag.Lineage] || String(marker.generation) !== mirror[Tag.Generation]))
    return false;
  if (meta.keyState === KeyState.Enabled) return true;
  return meta.keyState === KeyState.PendingImport && mirror[Tag.Phase] === Phase.Retired;
}

/**
 * The keys whose own tags must be read before `plan` may be trusted: every key an action names,
 * every key of a lineage with an action, and every key whose material is inside (or one day before)
 * its renew window, so a stale mirror (a hold or phase that is no longer true) can never hide a
 * renewal. Pure; observe re-reads those that came from the mirror and plans again.
 */
export function keysToConfirm(snapshot: Snapshot, plan: Plan, policies: Policies, nowMs: number): string[] {
  const lineages = new Set<string>();
  const ids = new Set<string>();
  for (const a of plan.actions) {
    if (a.lineage !== undefined) lineages.add(a.lineage);
    if ('keyId' in a && a.keyId !== undefined) ids.add(a.keyId);
    if (a.kind === 'rotate') ids.add(a.fromKeyId);
  }
  for (const k of snapshot.keys) {
    if (k.lineage !== undefined && lineages.has(k.lineage)) ids.add(k.keyId);
    if (k.materialExpireAtMs !== undefined && k.lineage !== undefined) {
      const renewBeforeDays = policyFor(policies, k.lineage, k.validityDaysOverride).renewBeforeDays;
      if (k.materialExpireAtMs <= nowMs + (renewBeforeDays + 1) * DAY_MS) ids.add(k.keyId);
    }
  }
  return [...ids].sort();
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

/** How observe may save calls (all optional: unset = the key's own tags for every key, as before). */
export interface ObserveOptions {
  /** Use the escrow records' tag mirror for keys where it is usable (mirrorUsable). Default true. */
  useMirror?: boolean;
  /**
   * Keys whose own tags are read even with a usable mirror (the periodic full reconcile), given the
   * day the mirror was written from the key's own tags; with `repairMirror`, the mirror is then
   * rewritten (dated today) even when it agreed.
   */
  reconcile?: (keyId: string, mirroredDay: number | undefined) => boolean;
  /**
   * Called with each snapshot; the keys it names that came from the mirror are read in full, and
   * it is called again, until it names no such key (see keysToConfirm).
   */
  confirm?: (snapshot: Snapshot) => Iterable<string>;
  /**
   * Only these lineages (a shard of a sweep). A key with an escrow record is observed iff the filter
   * accepts the record's lineage (no DescribeKey otherwise). A key without one is DescribeKey'd,
   * then kept iff the filter accepts its CreateKey marker's lineage, or, with no marker, accepts ''
   * (give '' to exactly one shard: it reads those keys' tags and reports unmanaged keys). Escrow
   * records are kept in the snapshot iff the filter accepts their lineage; unreadable ones (no
   * lineage known) are reported by every shard.
   */
  lineageFilter?: (lineage: string) => boolean;
  /** Passed to the escrow listing (periodic read-back, metadata writes). */
  escrowList?: EscrowListOptions;
  /**
   * When a key's own tags were read and its record's mirror says otherwise (or nothing), rewrite
   * the mirror (a sweep sets it; read-only commands write nothing).
   */
  repairMirror?: boolean;
}

/** The listings of a snapshot, indexed: aliases by key, escrow records by key id, the records a shard keeps. */
function indexListing(
  [, aliasList, escrowList, instances]: [string[], AliasEntry[], EscrowListing, InstanceView[]],
  accepts: (lineage: string) => boolean,
) {
  const aliases: Record<string, string> = {};
  const aliasesByKey = new Map<string, string[]>();
  for (const a of aliasList) {
    aliases[a.aliasName] = a.keyId;
    aliasesByKey.set(a.keyId, [...(aliasesByKey.get(a.keyId) ?? []), a.aliasName]);
  }
  const escrow: Snapshot['escrow'] = {};
  const summaries = new Map<string, EscrowListing['records'][number]>();
  for (const e of escrowList.records) {
    summaries.set(e.keyId, e);
    if (!accepts(e.lineage)) continue;
    // A record with stray versions stays in the index: it is still the material to repair from.
    escrow[e.keyId] = {
      fingerprint: e.fingerprint,
      lineage: e.lineage,
      generation: e.generation,
      ...(e.versionCount === undefined ? {} : { versionCount: e.versionCount }),
    };
  }
  return { aliases, aliasesByKey, escrow, summaries, escrowList, instances };
}

/** Takes a snapshot of the account: every EXTERNAL key, every alias, the escrow index, the configured instances. */
export async function observe(
  deps: {
    kms: KmsPort;
    escrow: EscrowIndex;
    nowMs: () => number;
    concurrency?: number;
    /** KMS 3.0 instances the configuration names (EngineDeps.instances); each is read and reported. */
    instances?: { keys?: string; escrow?: string };
    /** Where an uncoded error (a bug) is logged with its stack. */
    log?: Logger;
  } & ObserveOptions,
): Promise<Snapshot> {
  // The listings run at once, and the DescribeKeys start as soon as ListKeys has answered: a key
  // needs the aliases and the escrow index only once described (a shard waits for the index first:
  // it decides which keys to describe). Every call still goes through the KMS client's concurrency
  // and pacing; this only keeps its slots busy while the other listings page.
  const keysListed = deps.kms.listKeys();
  const listed = Promise.all([
    keysListed,
    deps.kms.listAliases(),
    deps.escrow.list(deps.escrowList),
    observeInstances(deps.kms, deps.instances, deps.log),
  ]);
  const accepts = deps.lineageFilter ?? (() => true);
  /** What the listings tell, indexed; set as soon as they have all answered. */
  let index: ReturnType<typeof indexListing> | undefined;
  const indexed = listed.then((listing) => {
    index = indexListing(listing, accepts);
    return index;
  });
  // A failed listing fails the snapshot, with the first listing error (as awaiting them together
  // would), and stops the DescribeKeys that have not started yet.
  let listingFailed = false;
  indexed.catch(() => {
    listingFailed = true;
  });
  const keyIds = await Promise.race([keysListed, listed.then(([ids]) => ids)]);
  if (deps.lineageFilter !== undefined) await indexed;

  const useMirror = deps.useMirror !== false;
  const concurrency = deps.concurrency ?? 4;
  const views = new Map<string, KeyView>();
  const metas = new Map<string, KeyMetadata>();
  const fromMirror = new Set<string>();

  /** The key's own tags -> its view; the mirror rewritten when it says otherwise (repairMirror). */
  const readTags = async (meta: KeyMetadata, known: NonNullable<typeof index>, refresh = false): Promise<KeyView> => {
    const tags = await deps.kms.listResourceTags(meta.keyId);
    const summary = known.summaries.get(meta.keyId);
    if (deps.repairMirror && summary !== undefined && deps.escrow.mirrorKeyTags !== undefined) {
      const nowMs = deps.nowMs();
      const truth = decodeTagMirror(encodeTagMirror(byokTagsOf(tags), dayIndex(nowMs)), summary)?.tags;
      if (refresh || JSON.stringify(truth) !== JSON.stringify(summary.keyTags)) {
        try {
          await deps.escrow.mirrorKeyTags(meta.keyId, tags, nowMs);
        } catch (err) {
          // Only a hint is lost: the key was read in full, and will be again until the mirror agrees.
          deps.log?.warn('tag mirror not repaired', { keyId: meta.keyId, code: readErrorCode(err, deps.log, {}) });
        }
      }
    }
    fromMirror.delete(meta.keyId);
    return toKeyView(meta, tags, known.aliasesByKey.get(meta.keyId) ?? [], known.escrow[meta.keyId]?.fingerprint);
  };

  /** A described key's view: from its record's mirror when usable, else (or when its reconcile is due) its own tags. */
  const view = async (meta: KeyMetadata, known: NonNullable<typeof index>): Promise<void> => {
    const summary = known.summaries.get(meta.keyId);
    const mirror = useMirror ? summary?.keyTags : undefined;
    const reconcile = mirror !== undefined && deps.reconcile?.(meta.keyId, summary?.keyTagsDay) === true;
    if (mirror !== undefined && mirrorUsable(meta, mirror) && !reconcile) {
      fromMirror.add(meta.keyId);
      views.set(meta.keyId, toKeyView(meta, mirror, known.aliasesByKey.get(meta.keyId) ?? [], summary?.fingerprint));
    } else {
      views.set(meta.keyId, await readTags(meta, known, reconcile));
    }
  };

  // One key that cannot be read (a RAM deny on it, persistent errors) must not hide the others
  // (invariant 7): it is reported, and the plan raises an alert for it.
  const unobservable = new Map<string, string>();
  const guarded = async (keyId: string, fn: () => Promise<void>): Promise<void> => {
    try {
      await fn();
    } catch (err) {
      unobservable.set(keyId, readErrorCode(err, deps.log, { keyId }));
      views.delete(keyId);
    }
  };
  // Keys described before the listings had all answered: viewed once they have.
  const early: KeyMetadata[] = [];
  await mapLimit(keyIds, concurrency, (id) =>
    guarded(id, async () => {
      if (listingFailed) return;
      const summary = index?.summaries.get(id);
      if (summary !== undefined && !accepts(summary.lineage)) return; // another shard's lineage
      const meta = await describeIfPresent(deps.kms, id);
      if (meta === undefined || meta.origin !== KeyOrigin.External) return;
      if (deps.lineageFilter !== undefined && summary === undefined) {
        const marker = parseMarker(meta.description);
        if (!accepts(marker?.lineage ?? '')) return;
      }
      metas.set(meta.keyId, meta);
      if (index === undefined) early.push(meta);
      else await view(meta, index);
    }),
  );
  const known = await indexed;
  early.sort((a, b) => a.keyId.localeCompare(b.keyId));
  await mapLimit(early, concurrency, (meta) => guarded(meta.keyId, () => view(meta, known)));
  const { aliases, escrow, escrowList, instances } = known;

  const snapshotNow = (): Snapshot => ({
    takenAtMs: deps.nowMs(),
    keys: [...views.values()].sort((a, b) => a.keyId.localeCompare(b.keyId)),
    aliases,
    escrow,
    // A record that cannot be read names no lineage: every shard reports it.
    escrowUnreadable: escrowList.unreadable.map((u) => u.keyId).sort(),
    unobservable: [...unobservable]
      .map(([keyId, code]) => ({ keyId, code }))
      .sort((a, b) => a.keyId.localeCompare(b.keyId)),
    instances,
  });
  let snapshot = snapshotNow();
  // Keys the plan would act or alert on were planned on the mirror: read their own tags, plan again.
  // Ends: each round takes every key it names out of fromMirror, read or not (a key whose tags
  // cannot be read is reported unobservable, never retried here), so fromMirror shrinks or it stops.
  while (deps.confirm !== undefined && fromMirror.size > 0) {
    const todo = [...new Set(deps.confirm(snapshot))].filter((id) => fromMirror.has(id));
    if (todo.length === 0) break;
    for (const id of todo) fromMirror.delete(id);
    await mapLimit(todo, concurrency, (id) =>
      guarded(id, async () => {
        views.set(id, await readTags(metas.get(id)!, known));
      }),
    );
    snapshot = snapshotNow();
  }
  return snapshot;
}

/**
 * The observe options of the engine's snapshots. Every snapshot uses the tag mirror, reads in full
 * the keys whose reconcile is due (shared/escrow/due.ts) and confirms on the plan (keysToConfirm),
 * planned when the snapshot is (`planned` is told each such plan: the last one is the plan of the
 * snapshot observe returns when it confirmed nothing more on it, so the caller need not plan again).
 * Only a sweep (`sweep: true`) reads back the escrow records that are due and writes metadata
 * (read-back days, back-fills, failed read-backs, mirror repairs): `status` and `plan` decrypt
 * nothing and write nothing.
 */
export function engineObserveOptions(
  deps: EngineDeps,
  mode: { sweep?: boolean } = {},
  planned?: (snapshot: Snapshot, plan: Plan) => void,
): ObserveOptions {
  const nowMs = deps.clock.nowMs();
  const today = dayIndex(nowMs);
  const verifyDays = deps.escrowVerifyDays ?? DEFAULT_ESCROW_VERIFY_DAYS;
  const reconcileDays = deps.tagReconcileDays ?? DEFAULT_TAG_RECONCILE_DAYS;
  return {
    reconcile: (keyId, mirroredDay) => isDue(keyId, mirroredDay, today, reconcileDays, TAG_RECONCILE_SALT),
    confirm: (snapshot) => {
      const at = deps.clock.nowMs();
      const plan = planSweep(snapshot, deps.policies, at);
      planned?.(snapshot, plan);
      return keysToConfirm(snapshot, plan, deps.policies, at);
    },
    ...(mode.sweep
      ? { escrowList: { readBack: { nowMs, periodDays: verifyDays }, writeMetadata: true }, repairMirror: true }
      : {}),
  };
}

/** Whether a record's periodic read-back is due today (what a sweep's escrow listing decides). */
export function readBackDue(keyId: string, lastDay: number | undefined, nowMs: number, periodDays: number): boolean {
  return isDue(keyId, lastDay, dayIndex(nowMs), periodDays, READ_BACK_SALT);
}
