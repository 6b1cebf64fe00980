/**
 * Targeted observation: one lineage read without listing the account, for what must not cost a
 * call per key in the account (a webhook's check of one key, onboard and rotate deciding which
 * generation to provision). Where a lineage's CMKs are found:
 *
 * - its alias (DescribeKey `alias/<lineage>`): the current generation;
 * - its escrow secrets (`byok-escrow/<keyId>`, tagged `byok:lineage`): every generation that was
 *   ever escrowed, i.e. every generation past its escrow step, found by ListSecrets with a
 *   `TagValue` filter (docs/kms-api.md §2.12: keys SecretName, Description, TagKey, TagValue, at
 *   most one key-values pair; that the match is exact is inferred, so the tags are checked again
 *   here, and a filter the service ignored would cost time, never correctness);
 * - with the `file` escrow backend, the local escrow index (no KMS calls);
 * - its lease record (lease.ts `created`): the CMKs created under the lease, recorded right after
 *   CreateKey, so a key created just before a crash (untagged, or not yet escrowed) is found too.
 *   A CreateKey recorded as sent but without its result (the run died in between) makes the
 *   lease's holder scan the account once (observeLineageKeys); a webhook check ignores it (the
 *   next sweep's full observe sees such a CMK by its marker and resumes it). A lease record written
 *   before the record kept this list names nothing: a CMK that such an older run left half
 *   provisioned is found (and finished) by the next sweep's full observe, not here. A targeted
 *   observe returns this read (`leaseRead`) so that the check's executor takes the lease from it
 *   instead of reading the record again (lease.ts, LeaseRead: 1 call saved per repair, safe because
 *   the take is a conditional write on the version that read names).
 *
 * Every candidate is then described (DescribeKey + ListResourceTags) and read the one way tags are
 * read (key-view.ts); its lineage comes from its tags or its CreateKey Description marker.
 */
import { ErrorCode, OrchestratorError, isOrchestratorError } from '../errors.js';
import {
  ESCROW_SECRET_PREFIX,
  EscrowSecretTag,
  escrowSecretName,
  recordedCheck,
  summaryFromTags,
} from '../escrow/kms-secrets-store.js';
import type { EscrowListing } from '../escrow/store.js';
import { KeyOrigin, type KeyMetadata, type KmsPort, type SecretSummary } from '../kms/port.js';
import { parseLineage } from '../lineage.js';
import { toKeyView } from './key-view.js';
import { mapLimit } from './observe.js';
import { type CreatedKey, type LeaseRead, parseLeaseRecord, readLease } from './lease.js';
import { aliasOf, type KeyView, type Snapshot } from './model.js';
import type { EngineDeps } from './ports.js';

/** Candidates described at once (the adapter's limiter bounds the calls too). */
const DESCRIBE_CONCURRENCY = 4;

/** Where a lineage's CMKs may be: the alias target, escrow, the lease record. */
interface Candidates {
  aliasTarget?: KeyMetadata;
  keyIds: string[];
  /** Generations whose CreateKey outcome the lease record does not know (entries without a key id). */
  unresolved: number[];
  /** Escrow secrets of the lineage by key id (kms-secrets backend). */
  escrowSecrets: Map<string, SecretSummary>;
  /** The file backend's index, when that is the backend. */
  fileEscrow?: EscrowListing;
  /** The lease record as read here (not when the caller passed the `created` list of a held lease). */
  leaseRead?: LeaseRead;
}

/** DescribeKey, undefined when the key (or alias) does not exist. */
async function describeIfAny(kms: KmsPort, keyIdOrAlias: string): Promise<KeyMetadata | undefined> {
  try {
    return await kms.describeKey(keyIdOrAlias);
  } catch (err) {
    if (isOrchestratorError(err, ErrorCode.KmsNotFound)) return undefined;
    throw err;
  }
}

/**
 * The CMKs the lineage's lease record lists (read when the caller does not hold the lease), and the
 * read itself, which a lease take in the same run may use (lease.ts, LeaseRead).
 */
async function leaseCreated(
  deps: Pick<EngineDeps, 'kms' | 'clock'>,
  lineage: string,
): Promise<{ created: readonly CreatedKey[]; read: LeaseRead }> {
  const read = await readLease(deps.kms, lineage, deps.clock.nowMs());
  if (read.value === undefined) return { created: [], read }; // no lease yet: nothing recorded
  try {
    return { created: parseLeaseRecord(read.value.secretData).created ?? [], read };
  } catch (err) {
    // A record someone edited by hand: nothing recorded (the lease itself reports it, from this read too).
    if (isOrchestratorError(err, ErrorCode.PreconditionFailed)) return { created: [], read };
    throw err;
  }
}

/** The escrow backend's name when it says (`file` keeps its index on local disk). */
function escrowBackendOf(escrow: EngineDeps['escrow']): string | undefined {
  const backend = (escrow as { backend?: unknown }).backend;
  return typeof backend === 'string' ? backend : undefined;
}

/** Finds where a lineage's CMKs may be (see the file comment); `created` = the lease's list when held. */
async function candidatesOf(
  deps: Pick<EngineDeps, 'kms' | 'escrow' | 'clock'>,
  lineage: string,
  known: { created?: readonly CreatedKey[]; keyId?: string },
): Promise<Candidates> {
  const file = escrowBackendOf(deps.escrow) === 'file';
  const [aliasTarget, secrets, lease, fileEscrow] = await Promise.all([
    describeIfAny(deps.kms, aliasOf(lineage)),
    deps.kms.listSecrets({ key: 'TagValue', values: [lineage] }),
    known.created === undefined ? leaseCreated(deps, lineage) : { created: known.created },
    file ? deps.escrow.list() : undefined,
  ]);
  const { created } = lease;
  const escrowSecrets = new Map<string, SecretSummary>();
  for (const s of secrets) {
    if (!s.secretName.startsWith(ESCROW_SECRET_PREFIX) || s.tags[EscrowSecretTag.Lineage] !== lineage) continue;
    escrowSecrets.set(s.secretName.slice(ESCROW_SECRET_PREFIX.length), s);
  }
  const ids = new Set<string>();
  if (aliasTarget) ids.add(aliasTarget.keyId);
  for (const id of escrowSecrets.keys()) ids.add(id);
  for (const r of fileEscrow?.records ?? []) if (r.lineage === lineage) ids.add(r.keyId);
  for (const c of created) if (c.keyId !== undefined) ids.add(c.keyId);
  if (known.keyId !== undefined) ids.add(known.keyId);
  const unresolved = [...new Set(created.filter((c) => c.keyId === undefined).map((c) => c.generation))].sort();
  return {
    ...(aliasTarget ? { aliasTarget } : {}),
    keyIds: [...ids].sort(),
    unresolved,
    escrowSecrets,
    ...(fileEscrow ? { fileEscrow } : {}),
    ...('read' in lease ? { leaseRead: lease.read } : {}),
  };
}

/** One candidate described: its KeyView (EXTERNAL keys only, as observe), or why it could not be read. */
type Described = { view?: KeyView; unobservable?: { keyId: string; code: string } };

async function describeCandidate(
  kms: KmsPort,
  keyId: string,
  known: KeyMetadata | undefined,
  aliases: string[],
): Promise<Described> {
  try {
    const meta = known ?? (await describeIfAny(kms, keyId));
    if (!meta || meta.origin !== KeyOrigin.External) return {};
    return { view: toKeyView(meta, await kms.listResourceTags(meta.keyId), aliases) };
  } catch (err) {
    return { unobservable: { keyId, code: isOrchestratorError(err) ? err.code : ErrorCode.Internal } };
  }
}

/**
 * Every managed CMK of one lineage, by generation ascending, without listing the account (see the
 * file comment). Under the lineage's lease pass its `created` list (no extra read). Only when the
 * lease record holds a CreateKey whose outcome is unknown (`unresolved`, rare: a run died or lost
 * the answer between CreateKey and recording it) is the account scanned, as it always was before:
 * that CMK, if it exists, carries nothing but its Description marker. The caller, holding the
 * lease, records what the scan found (provision.ts), so the scan is not repeated.
 */
export async function observeLineageKeys(
  deps: Pick<EngineDeps, 'kms' | 'escrow' | 'clock'>,
  lineage: string,
  known: { created?: readonly CreatedKey[] } = {},
): Promise<{ keys: KeyView[]; unresolved: number[] }> {
  const c = await candidatesOf(deps, lineage, known);
  const ids = new Set(c.keyIds);
  if (c.unresolved.length > 0) for (const id of await deps.kms.listKeys()) ids.add(id);
  const described = await mapLimit([...ids].sort(), DESCRIBE_CONCURRENCY, (id) =>
    describeCandidate(deps.kms, id, c.aliasTarget?.keyId === id ? c.aliasTarget : undefined, []),
  );
  // Any key that cannot be read might be this lineage's (in a scan: the CMK the scan looks for).
  const failed = described.find((d) => d.unobservable);
  if (failed?.unobservable) {
    // A write decided on a partial view could make a second CMK of a generation: stop instead.
    const { keyId, code } = failed.unobservable;
    const text = `key ${keyId} of lineage ${lineage} could not be read (${code}); nothing is decided without it`;
    throw new OrchestratorError(ErrorCode.PreconditionFailed, text, { details: { keyId, lineage } });
  }
  const keys = described
    .flatMap((d) => (d.view?.managed && d.view.lineage === lineage ? [d.view] : []))
    .sort((a, b) => (a.generation ?? 0) - (b.generation ?? 0));
  return { keys, unresolved: c.unresolved };
}

/** How one escrow read ended, as the full listing classifies it (kms-secrets-store.ts list()). */
function escrowReadProblem(err: unknown): string | undefined {
  if (isOrchestratorError(err, ErrorCode.EscrowNotFound))
    return err.details.kmsCode === 'Rejected.ResourceInDeleteWindow' ? ErrorCode.EscrowNotFound : undefined;
  if (isOrchestratorError(err, ErrorCode.EscrowCorrupt) || isOrchestratorError(err, ErrorCode.InvalidInput))
    return ErrorCode.EscrowCorrupt;
  if (isOrchestratorError(err) && !err.retryable) return err.code;
  throw err; // throttling, network: the check fails and is retried, never half-reported
}

/** The escrow part of a lineage's snapshot: what the full listing would say about these keys. */
async function escrowOf(
  deps: Pick<EngineDeps, 'kms' | 'escrow'>,
  c: Candidates,
  keyIds: readonly string[],
): Promise<{ escrow: Snapshot['escrow']; unreadable: string[] }> {
  const escrow: Snapshot['escrow'] = {};
  const unreadable: string[] = [];
  if (c.fileEscrow) {
    const wanted = new Set(keyIds);
    for (const r of c.fileEscrow.records) {
      if (wanted.has(r.keyId))
        escrow[r.keyId] = { fingerprint: r.fingerprint, lineage: r.lineage, generation: r.generation };
    }
    for (const u of c.fileEscrow.unreadable) if (wanted.has(u.keyId)) unreadable.push(u.keyId);
    return { escrow, unreadable };
  }
  const listed = keyIds.filter((id) => c.escrowSecrets.has(id));
  await mapLimit(listed, DESCRIBE_CONCURRENCY, async (keyId) => {
    // As the listing does (kms-secrets-store.ts list()): a record's metadata tags summarise it and a
    // recorded read-back result stands; it is read back in full only when the tags are missing or
    // it is in its deletion window. (A webhook check adds no read-back sample of its own.)
    const secret = c.escrowSecrets.get(keyId)!;
    const fromTags = summaryFromTags(keyId, secret.tags);
    if (fromTags && secret.plannedDeleteTimeMs === undefined) {
      const recorded = recordedCheck(secret.tags[EscrowSecretTag.Check]);
      if (recorded && 'code' in recorded) unreadable.push(keyId);
      else {
        const { fingerprint, lineage, generation } = fromTags;
        escrow[keyId] = {
          fingerprint,
          lineage,
          generation,
          ...(recorded ? { versionCount: recorded.versionCount } : {}),
        };
      }
      return;
    }
    try {
      const record = await deps.escrow.get(keyId);
      record.material.fill(0);
      const versions = await deps.kms.listSecretVersionIds(escrowSecretName(keyId)).catch((err: unknown) => {
        if (isOrchestratorError(err) && !err.retryable) return []; // as the listing: "nothing extra seen"
        throw err;
      });
      escrow[keyId] = {
        fingerprint: record.fingerprint,
        lineage: record.lineage,
        generation: record.generation,
        ...(versions.length > 1 ? { versionCount: versions.length } : {}),
      };
    } catch (err) {
      if (escrowReadProblem(err) !== undefined) unreadable.push(keyId);
    }
  });
  return { escrow, unreadable: unreadable.sort() };
}

/** What a targeted observation saw: a snapshot holding one lineage only. */
export interface TargetObservation {
  snapshot: Snapshot;
  /** The lineage of the target (from the alias, or the key's tags/marker); undefined = none. */
  lineage?: string;
  /** The target key's view, when the target was a key id of an EXTERNAL key. */
  key?: KeyView;
  /**
   * The lineage's lease record as read for this observation: the executor takes the lease from it
   * (acquireLease `earlier`) instead of reading it again.
   */
  leaseRead?: LeaseRead;
}

/**
 * A snapshot of one key's (or alias's) lineage and nothing else: the target key (DescribeKey, tags),
 * the lineage's alias, generations and their escrow. Planned as a sweep would (planSweep), it gives
 * the sweep's plan restricted to that lineage; never a call per key in the account.
 */
export async function observeTarget(
  deps: Pick<EngineDeps, 'kms' | 'escrow' | 'clock'>,
  target: { keyId?: string; alias?: string },
): Promise<TargetObservation> {
  const empty: Snapshot = {
    takenAtMs: deps.clock.nowMs(),
    keys: [],
    aliases: {},
    escrow: {},
    escrowUnreadable: [],
    unobservable: [],
    instances: [],
  };
  let key: KeyView | undefined;
  let lineage = target.alias ? parseLineage(target.alias) : undefined;
  if (lineage === undefined && target.keyId !== undefined) {
    const meta = await describeIfAny(deps.kms, target.keyId);
    if (meta?.origin === KeyOrigin.External) key = toKeyView(meta, await deps.kms.listResourceTags(meta.keyId), []);
    lineage = key?.lineage;
  }
  if (lineage === undefined) return { snapshot: empty, ...(key ? { key } : {}) };
  const c = await candidatesOf(deps, lineage, key ? { keyId: key.keyId } : {});
  const aliasName = aliasOf(lineage);
  const described = await mapLimit(c.keyIds, DESCRIBE_CONCURRENCY, async (id): Promise<Described> => {
    const aliases = c.aliasTarget?.keyId === id ? [aliasName] : [];
    if (key?.keyId === id) return { view: { ...key, aliases } };
    return describeCandidate(deps.kms, id, c.aliasTarget?.keyId === id ? c.aliasTarget : undefined, aliases);
  });
  const views = described.flatMap((d) => (d.view ? [d.view] : []));
  const ours = views.filter((v) => v.managed && v.lineage === lineage).map((v) => v.keyId);
  const { escrow, unreadable } = await escrowOf(deps, c, ours);
  const keys = views
    .map((v) => (escrow[v.keyId] ? { ...v, escrowFingerprint: escrow[v.keyId]!.fingerprint } : v))
    .sort((a, b) => a.keyId.localeCompare(b.keyId));
  const snapshot: Snapshot = {
    ...empty,
    keys,
    aliases: c.aliasTarget ? { [aliasName]: c.aliasTarget.keyId } : {},
    escrow,
    escrowUnreadable: unreadable,
    unobservable: described
      .flatMap((d) => (d.unobservable ? [d.unobservable] : []))
      .sort((a, b) => a.keyId.localeCompare(b.keyId)),
  };
  const seen = key ? keys.find((k) => k.keyId === key.keyId) : undefined;
  const leaseRead = c.leaseRead ? { leaseRead: c.leaseRead } : {};
  return { snapshot, lineage, ...(seen ? { key: seen } : key ? { key } : {}), ...leaseRead };
}
