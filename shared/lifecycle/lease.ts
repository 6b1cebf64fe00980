/**
 * A per-lineage lease, so concurrent runs (a timer firing while a webhook or an engineer acts)
 * never create two CMKs for one lineage nor interleave writes on one key (docs/design.md §4).
 *
 * Mechanism: a conditional write in KMS Secrets Manager. The lease is the secret
 * `byok-lease/<lineage>`; each change is a write of the next sequence number: CreateSecret for
 * seq 1, else a PutSecretValue with VersionId `lease-<seq>`. Two contenders that read the same
 * state both try to write the same VersionId (or create the same name) with different data;
 * Secrets Manager accepts the first and refuses the second.
 *
 * What is relied on about PutSecretValue (docs/kms-api.md §2.12): re-sending an existing VersionId
 * with identical data succeeds (documented: idempotent); with different data it is refused
 * (documented that it is refused; the code, `Rejected.ResourceExist`, is inferred). Our data names
 * our holder id (unique per run) and our expiry, so an ACCEPTED write of `lease-<seq>` means the
 * version is ours, written by this very run (the adapter's own retry of a write that landed is
 * the idempotent case), and, the version id being new when we read seq - 1, that it is ACSCurrent
 * (inferred: PutSecretValue moves ACSCurrent to the new version unless VersionStages says
 * otherwise, documented, and nobody can write `lease-<seq>` after us). So an accepted write needs
 * no read-back: taking a lease is 2 calls (GetSecretValue + the write); releasing it is 1.
 *
 * How a refusal looks is not relied on (other codes are possible), so ANY coded refusal of the
 * conditional write (after the adapter's retries) counts as "maybe lost" and the lease is read
 * back: ACSCurrent with our version and holder = ours (our write landed, its answer was lost);
 * another holder's unexpired lease current, or our version id taken by another write =
 * LeaseHeld; otherwise nobody else has it, so the refusal was something else (a RAM deny, a bad
 * parameter) and is rethrown as it came, never reported as "held". The read-back is retried
 * (LEASE_CALL_ATTEMPTS); when it keeps failing the refusal is reported (never "held", never ours).
 *
 * Release is one conditional write of `lease-<seq + 1>` (holder none), retried: if another run took
 * the lease over after ours expired, it wrote `lease-<seq + 1>` first and our release is refused,
 * which is right (it is not ours to release). A holder that crashes blocks its lineage for at most
 * `ttlMs`; a live holder stops writing at 80 % of `ttlMs` (leaseDeadline), so its lease cannot
 * expire under it. Holders compare expiry on their own clocks: keep them in sync (NTP in the
 * cloud; the local stack shares the emulator's).
 *
 * The record also carries the lineage's recent CreateKey calls (`created`): before a CreateKey the
 * holder records the generation it is about to create, and right after it the key id (two more
 * conditional writes, `noteCreatedKey`); every take and release carries the list forward, so the
 * next holder finds a CMK created just before a crash without listing the account, and an entry
 * still without a key id (the process died, or CreateKey's answer was lost, in between) tells it
 * that only a scan of the account can say whether that CreateKey made a CMK (observe-target.ts).
 *
 * The read may be one made earlier in the same run (`LeaseRead`: a webhook's targeted observe reads
 * the record for its `created` list, observe-target.ts), at most LEASE_READ_REUSE_MS old: the take
 * is then 1 call. That is as safe as a fresh read, because the read only chooses which version id
 * to write and what to carry forward: exclusion is the conditional write. If the record moved on
 * since (another run took, or took and released, the lease), our `lease-<seq>` already exists with
 * other data and the write is refused; the read-back then says "held" when another run holds it,
 * and otherwise the take starts again from a fresh read (so an out-of-date read never reports a
 * free lineage as held, nor a refusal as something else). An earlier read that says "held" or
 * cannot be parsed is not trusted either: the lease is read again before that is reported.
 *
 * Not guarded (as before this design): Secrets Manager keeps 10 versions per secret, so a contender
 * stalled between its read and its write while five or more other runs take and release the same
 * lineage could write a version id that was already dropped; the window is the adapter's retry
 * time of one call (or the age of a reused read, at most LEASE_READ_REUSE_MS), far below the
 * minutes between runs of one lineage.
 */
import { ErrorCode, OrchestratorError, isOrchestratorError } from '../errors.js';
import { assertSecretInstance } from '../escrow/kms-secrets-store.js';
import type { KmsPort, SecretValue } from '../kms/port.js';
import type { EngineDeps } from './ports.js';

/**
 * A CreateKey under a lineage's lease: recorded before the call (no `keyId` yet) and again with its
 * result, before the key is tagged. An entry left without a key id is a CreateKey whose outcome is
 * unknown (the run died, or the answer was lost): it may have made a CMK.
 */
export interface CreatedKey {
  generation: number;
  keyId?: string;
}

/** The lease secret's content (not sensitive). */
export interface LeaseRecord {
  v: 1;
  seq: number;
  holder: string | null;
  expiresAtMs: number;
  /** What the holder is doing, for operators reading the secret. */
  intent?: string;
  /** The lineage's most recent CreateKey results, oldest first (at most CREATED_KEYS_KEPT). */
  created?: CreatedKey[];
}

/** CreateKey results a lease record keeps: older generations are escrowed (found by their escrow tags). */
export const CREATED_KEYS_KEPT = 4;

/** A held lease. */
export interface Lease {
  lineage: string;
  /** The sequence number of the lease's latest version (noteCreatedKey moves it on). */
  seq: number;
  /** When it was taken (the holder's clock); work under it must end well before acquiredAtMs + ttl. */
  acquiredAtMs: number;
  /** The lineage's recent CreateKey results as the record held them when taken, plus this holder's. */
  readonly created: readonly CreatedKey[];
  /**
   * Records a CreateKey about to be sent (no key id) or its result in the lease record (a
   * conditional write of the next version); throws when the write is refused (the lease was lost)
   * or keeps failing. A result replaces the generation's entry without a key id.
   */
  noteCreatedKey(key: CreatedKey): Promise<void>;
  /** Drops the generation's entry without a key id (a scan found what that CreateKey did). */
  resolveCreateKey(generation: number): Promise<void>;
  /** Gives the lease up (best effort; expiry covers a crash). */
  release(): Promise<void>;
}

/** Secret name of a lineage's lease. */
export function leaseSecretName(lineage: string): string {
  return `byok-lease/${lineage}`;
}

const versionOf = (seq: number) => `lease-${seq}`;

/** Parses a lease secret's data (PreconditionFailed when it is not a lease record). */
export function parseLeaseRecord(data: string): LeaseRecord {
  try {
    const r = JSON.parse(data) as LeaseRecord;
    if (r && r.v === 1 && Number.isInteger(r.seq)) return { ...r, created: createdKeysOf(r.created) };
  } catch {
    /* fall through */
  }
  throw new OrchestratorError(ErrorCode.PreconditionFailed, 'lease secret has an unexpected format');
}

/** The well-formed entries of a record's `created` list (a hand-edited record loses only bad entries). */
function createdKeysOf(raw: unknown): CreatedKey[] {
  if (!Array.isArray(raw)) return [];
  return raw.filter(
    (c): c is CreatedKey =>
      typeof c === 'object' &&
      c !== null &&
      Number.isInteger((c as CreatedKey).generation) &&
      ((c as CreatedKey).keyId === undefined ||
        (typeof (c as CreatedKey).keyId === 'string' && (c as CreatedKey).keyId !== '')),
  );
}

/** `list` without the generation's entry that has no key id. */
function withoutUnresolved(list: readonly CreatedKey[], generation: number): CreatedKey[] {
  return list.filter((c) => c.keyId !== undefined || c.generation !== generation);
}

/** `list` with `key` added (replacing an entry of the same key id), trimmed to CREATED_KEYS_KEPT. */
function withCreated(list: readonly CreatedKey[], key: CreatedKey): CreatedKey[] {
  const others = withoutUnresolved(list, key.generation).filter(
    (c) => key.keyId === undefined || c.keyId !== key.keyId,
  );
  return [...others, key].slice(-CREATED_KEYS_KEPT);
}

function held(lineage: string, by: string | null, untilMs: number): OrchestratorError {
  return new OrchestratorError(
    ErrorCode.LeaseHeld,
    `lineage ${lineage} is being changed by another ` +
      `run${by ? ` (${by})` : ''}${untilMs ? ` until ${new Date(untilMs).toISOString()}` : ''}`,
    {
      retryable: true,
      details: { lineage },
    },
  );
}

/** The Secrets Manager calls a lease makes. */
export type LeaseKmsPort = Pick<KmsPort, 'createSecret' | 'getSecretValue' | 'putSecretValue' | 'describeSecret'>;

/** What taking a lease needs. */
export interface LeaseDeps {
  kms: LeaseKmsPort;
  encryptionKeyId: string;
  /** KMS 3.0 instance of the lease secret (the lease key's instance); verified by read-back on create. */
  dkmsInstanceId?: string;
  nowMs: () => number;
  ttlMs: number;
  holder: string;
}

/** The lease dependencies of an engine run. */
export function leaseDeps(deps: EngineDeps): LeaseDeps {
  const instance = deps.instances?.escrow;
  return {
    kms: deps.kms,
    encryptionKeyId: deps.leaseKeyId,
    ...(instance === undefined ? {} : { dkmsInstanceId: instance }),
    nowMs: () => deps.clock.nowMs(),
    ttlMs: deps.leaseTtlMs,
    holder: deps.runId,
  };
}

/**
 * A read of a lineage's lease secret (GetSecretValue of ACSCurrent), kept so that a take later in
 * the same run can use it instead of reading again (see the file comment). `value` undefined = the
 * secret did not exist.
 */
export interface LeaseRead {
  lineage: string;
  /** The run's clock just before the read was sent (so its age is never underestimated). */
  readAtMs: number;
  value?: SecretValue;
}

/**
 * How old (ms, the run's clock) an earlier read may be for acquireLease to take the lease from it
 * (the same order as one call's retries in the adapter: see "Not guarded" in the file comment).
 */
export const LEASE_READ_REUSE_MS = 10_000;

/** Reads a lineage's lease secret: 1 call (GetSecretValue); a missing secret is a read without a value. */
export async function readLease(
  kms: Pick<KmsPort, 'getSecretValue'>,
  lineage: string,
  nowMs: number,
): Promise<LeaseRead> {
  try {
    return { lineage, readAtMs: nowMs, value: await kms.getSecretValue({ secretName: leaseSecretName(lineage) }) };
  } catch (err) {
    if (isOrchestratorError(err, ErrorCode.KmsNotFound)) return { lineage, readAtMs: nowMs };
    throw err;
  }
}

/**
 * Acquires the lineage lease or throws LeaseHeld: 2 calls (the read and the conditional write), or 1
 * when `earlier` is a read of this lineage's lease made at most LEASE_READ_REUSE_MS ago in the same
 * run (the file comment says why that is safe, and when the lease is read again anyway).
 */
export async function acquireLease(
  deps: LeaseDeps,
  lineage: string,
  intent: string,
  earlier?: LeaseRead,
): Promise<Lease> {
  if (earlier !== undefined && earlier.lineage === lineage) {
    const age = deps.nowMs() - earlier.readAtMs;
    if (age >= 0 && age <= LEASE_READ_REUSE_MS) {
      const lease = await takeLease(deps, lineage, intent, earlier, true);
      if (lease !== 'read-again') return lease;
    }
  }
  const lease = await takeLease(deps, lineage, intent, await readLease(deps.kms, lineage, deps.nowMs()), false);
  if (lease === 'read-again') throw new OrchestratorError(ErrorCode.Internal, 'lease: a fresh read judged out of date');
  return lease;
}

/**
 * The take from `read`: the conditional write of the next version. `reused` (an earlier read): where
 * the read might merely be out of date (it says held, cannot be parsed, or the write was refused and
 * nobody holds the lease now), answers 'read-again' instead of deciding.
 */
async function takeLease(
  deps: LeaseDeps,
  lineage: string,
  intent: string,
  read: LeaseRead,
  reused: boolean,
): Promise<Lease | 'read-again'> {
  const name = leaseSecretName(lineage);
  const now = deps.nowMs();
  let current: LeaseRecord | undefined;
  if (read.value !== undefined) {
    try {
      current = parseLeaseRecord(read.value.secretData);
    } catch (err) {
      if (reused) return 'read-again';
      throw err;
    }
  }
  if (current?.holder && current.holder !== deps.holder && current.expiresAtMs > now) {
    if (reused) return 'read-again'; // it may have been released since: only a fresh read reports "held"
    throw held(lineage, current.holder, current.expiresAtMs);
  }
  const seq = current ? current.seq + 1 : 1;
  let created: CreatedKey[] = current?.created ?? [];
  const mine = (at: number): string =>
    recordJson({ v: 1, seq: at, holder: deps.holder, expiresAtMs: now + deps.ttlMs, intent }, created);
  // The conditional write. Any coded refusal may mean a contender won (or that our own write landed
  // and only its answer was lost): judged by the read-back. An accepted write is ours (header).
  let refused: OrchestratorError | undefined;
  try {
    if (seq === 1) {
      await deps.kms.createSecret({
        secretName: name,
        versionId: versionOf(1),
        secretData: mine(1),
        encryptionKeyId: deps.encryptionKeyId,
        description: `BYOK orchestrator lease for lineage ${lineage}`,
        tags: { 'byok:managed': 'true', 'byok:lineage': lineage },
        ...(deps.dkmsInstanceId === undefined ? {} : { dkmsInstanceId: deps.dkmsInstanceId }),
      });
    } else {
      await deps.kms.putSecretValue({ secretName: name, versionId: versionOf(seq), secretData: mine(seq) });
    }
  } catch (err) {
    if (!isOrchestratorError(err)) throw err;
    refused = err;
  }
  if (refused !== undefined && (await confirmHeld(deps, { name, lineage, seq, now, refused, reused })) === 'stale')
    return 'read-again';
  // Outside the refusal handling on purpose: a lease secret in the wrong instance is an
  // InstanceMismatch, never "maybe lost".
  if (seq === 1 && deps.dkmsInstanceId !== undefined) await assertSecretInstance(deps.kms, name, deps.dkmsInstanceId);

  let latest = seq;
  /** Writes the record with `list` as the next version, still held by us with the same expiry. */
  const writeCreated = async (list: CreatedKey[], what: string): Promise<void> => {
    const next = latest + 1;
    const record = {
      v: 1 as const,
      seq: next,
      holder: deps.holder,
      expiresAtMs: now + deps.ttlMs,
      intent: `${intent} (${what})`,
    };
    const data = recordJson(record, list);
    await retried(() => deps.kms.putSecretValue({ secretName: name, versionId: versionOf(next), secretData: data }));
    created = list;
    latest = next;
  };
  return {
    lineage,
    get seq() {
      return latest;
    },
    acquiredAtMs: now,
    get created() {
      return created;
    },
    async noteCreatedKey(key) {
      const what = key.keyId === undefined ? `creating generation ${key.generation}` : `created ${key.keyId}`;
      await writeCreated(withCreated(created, key), what);
    },
    async resolveCreateKey(generation) {
      await writeCreated(withoutUnresolved(created, generation), `resolved generation ${generation}`);
    },
    async release() {
      try {
        await releaseVersion(deps, name, latest, created);
      } catch {
        // Refused (taken over after expiry: not ours to release) or still failing: expiry covers it.
      }
    },
  };
}

/** A record as stored: `created` only when there is something in it. */
function recordJson(r: Omit<LeaseRecord, 'created'>, created: readonly CreatedKey[]): string {
  return JSON.stringify(created.length === 0 ? r : { ...r, created });
}

/**
 * The read-back after a refused conditional write: returns 'ours' when ACSCurrent is our version with
 * us as holder (our write landed, its answer was lost); otherwise throws LeaseHeld when another run
 * has the lineage, or the write's own refusal when nobody else does (so a RAM deny or a bad
 * parameter is reported as itself, not as "held"). With a `reused` (earlier) read, "nobody holds it
 * now" answers 'stale' instead: the refusal may only mean that the record moved on since that read,
 * and the caller takes the lease again from a fresh read, which decides as above.
 */
async function confirmHeld(
  deps: LeaseDeps,
  attempt: { name: string; lineage: string; seq: number; now: number; refused: OrchestratorError; reused: boolean },
): Promise<'ours' | 'stale'> {
  const { name, lineage, seq, now, refused, reused } = attempt;
  let check: SecretValue;
  try {
    check = await retried(() => deps.kms.getSecretValue({ secretName: name }));
  } catch {
    throw refused; // e.g. a refused CreateSecret and no secret at all: the refusal is the news
  }
  const rec = parseLeaseRecord(check.secretData);
  if (check.versionId === versionOf(seq) && rec.holder === deps.holder) return 'ours';
  if (rec.holder && rec.holder !== deps.holder && rec.expiresAtMs > now)
    throw held(lineage, rec.holder, rec.expiresAtMs);
  if (reused) return 'stale';
  // Refused, and nobody holds the lease now. If our version id exists, a contender wrote it first
  // (and has already moved on), or the record moved past it: we lost the race. If it does not, the
  // refusal was something else.
  if (rec.seq > seq || (await versionExists(deps.kms, name, versionOf(seq)))) throw held(lineage, null, 0);
  throw refused;
}

/** Attempts of a lease read-back, record or release (on top of the KMS adapter's own retries). */
export const LEASE_CALL_ATTEMPTS = 3;

/**
 * `call`, tried up to LEASE_CALL_ATTEMPTS times. A KmsNotFound or KmsConflict answer is final:
 * nothing to retry (a conflict is a conditional write refused).
 */
async function retried<T>(call: () => Promise<T>): Promise<T> {
  let last: unknown;
  for (let attempt = 1; attempt <= LEASE_CALL_ATTEMPTS; attempt++) {
    try {
      return await call();
    } catch (err) {
      if (isOrchestratorError(err, ErrorCode.KmsNotFound) || isOrchestratorError(err, ErrorCode.KmsConflict)) throw err;
      last = err;
    }
  }
  throw last;
}

/** Writes the "released" record as version `seq + 1` (a conditional write: it fails if taken). */
async function releaseVersion(
  deps: LeaseDeps,
  name: string,
  seq: number,
  created: readonly CreatedKey[],
): Promise<void> {
  const data = recordJson({ v: 1, seq: seq + 1, holder: null, expiresAtMs: 0 }, created);
  await retried(() => deps.kms.putSecretValue({ secretName: name, versionId: versionOf(seq + 1), secretData: data }));
}

async function versionExists(kms: LeaseKmsPort, secretName: string, versionId: string): Promise<boolean> {
  try {
    await kms.getSecretValue({ secretName, versionId });
    return true;
  } catch {
    return false; // not found, or not readable either: no evidence of a contender
  }
}

/** The latest time a holder may start a write under `lease`: 80 % of its lifetime. */
export function leaseDeadline(lease: Lease, ttlMs: number): number {
  return lease.acquiredAtMs + Math.floor(ttlMs * 0.8);
}
