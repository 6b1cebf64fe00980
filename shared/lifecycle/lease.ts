/**
 * A per-lineage lease, so concurrent runs (a timer firing while a webhook or an engineer acts)
 * never create two CMKs for one lineage nor interleave writes on one key (docs/design.md §4).
 *
 * Mechanism: a conditional write in KMS Secrets Manager. The lease is the secret
 * `byok-lease/<lineage>`; each change is a PutSecretValue with a VersionId derived from the next
 * sequence number (`lease-<seq>`). Two contenders that read the same state both try to write the
 * same VersionId with different data; Secrets Manager accepts the first and rejects the second.
 * How it rejects is not something to rely on (docs/kms-api.md §2.12 documents only the idempotent
 * same-data case; `Rejected.ResourceExist` is META's word, and other codes are possible), so ANY
 * refusal of the conditional write (after the adapter's retries) counts as "maybe lost" and the
 * lease is read back: ACSCurrent with our version and holder = ours (also when our write landed
 * but its answer was lost); another holder's unexpired lease current, or our version id taken by
 * another write = LeaseHeld; otherwise nobody else has it, so the refusal was something else
 * (a RAM deny, a bad parameter) and is rethrown as it came, never reported as "held".
 * A write that was accepted is confirmed by the same read-back.
 * The read-back and the release are retried (LEASE_CALL_ATTEMPTS), and an accepted write whose
 * read-back still fails is released before the error is reported, so a run never leaves its own
 * lease behind on an ordinary error.
 * A holder that crashes blocks its lineage for at most `ttlMs`; a live holder stops writing at
 * 80 % of `ttlMs` (leaseDeadline), so its lease cannot expire under it. Holders compare expiry on
 * their own clocks: keep them in sync (NTP in the cloud; the local stack shares the emulator's).
 */
import { ErrorCode, OrchestratorError, isOrchestratorError } from '../errors.js';
import { assertSecretInstance } from '../escrow/kms-secrets-store.js';
import type { KmsPort, SecretValue } from '../kms/port.js';
import type { EngineDeps } from './ports.js';

/** The lease secret's content (not sensitive). */
export interface LeaseRecord {
  v: 1;
  seq: number;
  holder: string | null;
  expiresAtMs: number;
  /** What the holder is doing, for operators reading the secret. */
  intent?: string;
}

/** A held lease. */
export interface Lease {
  lineage: string;
  seq: number;
  /** When it was taken (the holder's clock); work under it must end well before acquiredAtMs + ttl. */
  acquiredAtMs: number;
  /** Gives the lease up (best effort; expiry covers a crash). */
  release(): Promise<void>;
}

/** Secret name of a lineage's lease. */
export function leaseSecretName(lineage: string): string {
  return `byok-lease/${lineage}`;
}

const versionOf = (seq: number) => `lease-${seq}`;

function parseRecord(data: string): LeaseRecord {
  try {
    const r = JSON.parse(data) as LeaseRecord;
    if (r && r.v === 1 && Number.isInteger(r.seq)) return r;
  } catch {
    /* fall through */
  }
  throw new OrchestratorError(ErrorCode.PreconditionFailed, 'lease secret has an unexpected format');
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

/** Acquires the lineage lease or throws LeaseHeld. */
export async function acquireLease(deps: LeaseDeps, lineage: string, intent: string): Promise<Lease> {
  const name = leaseSecretName(lineage);
  const now = deps.nowMs();
  const mine = (seq: number): LeaseRecord => ({
    v: 1,
    seq,
    holder: deps.holder,
    expiresAtMs: now + deps.ttlMs,
    intent,
  });
  let seq: number;
  let current: LeaseRecord | undefined;
  try {
    current = parseRecord((await deps.kms.getSecretValue({ secretName: name })).secretData);
  } catch (err) {
    if (!isOrchestratorError(err, ErrorCode.KmsNotFound)) throw err;
  }
  // The conditional write. Any coded refusal may mean a contender won (or that our own write landed
  // and only its answer was lost): kept, and judged by the read-back below.
  let refused: OrchestratorError | undefined;
  const conditionalWrite = async (write: () => Promise<unknown>): Promise<void> => {
    try {
      await write();
    } catch (err) {
      if (!isOrchestratorError(err)) throw err;
      refused = err;
    }
  };
  if (!current) {
    seq = 1;
    await conditionalWrite(() =>
      deps.kms.createSecret({
        secretName: name,
        versionId: versionOf(1),
        secretData: JSON.stringify(mine(1)),
        encryptionKeyId: deps.encryptionKeyId,
        description: `BYOK orchestrator lease for lineage ${lineage}`,
        tags: { 'byok:managed': 'true', 'byok:lineage': lineage },
        ...(deps.dkmsInstanceId === undefined ? {} : { dkmsInstanceId: deps.dkmsInstanceId }),
      }),
    );
  } else {
    if (current.holder && current.holder !== deps.holder && current.expiresAtMs > now)
      throw held(lineage, current.holder, current.expiresAtMs);
    seq = current.seq + 1;
    const next = seq;
    await conditionalWrite(() =>
      deps.kms.putSecretValue({ secretName: name, versionId: versionOf(next), secretData: JSON.stringify(mine(next)) }),
    );
  }
  try {
    await confirmHeld(deps, { name, lineage, seq, now, refused });
  } catch (err) {
    // Our write was accepted but could not be confirmed (the read-back kept failing): the lease
    // may well be ours. Give it back rather than block the lineage for the whole TTL. Only an
    // accepted write makes version `seq` ours, so only then is writing `seq + 1` safe.
    if (refused === undefined && !isOrchestratorError(err, ErrorCode.LeaseHeld)) {
      await releaseVersion(deps, name, seq).catch(() => undefined);
    }
    throw err;
  }
  // Outside the refusal handling on purpose: a lease secret in the wrong instance is an
  // InstanceMismatch, never "maybe lost".
  if (seq === 1 && deps.dkmsInstanceId !== undefined) await assertSecretInstance(deps.kms, name, deps.dkmsInstanceId);

  return {
    lineage,
    seq,
    acquiredAtMs: now,
    async release() {
      try {
        await retried(async () => {
          const cur = await deps.kms.getSecretValue({ secretName: name });
          const r = parseRecord(cur.secretData);
          if (r.holder !== deps.holder || r.seq !== seq) return; // taken over after expiry: not ours to release
          await releaseVersion(deps, name, seq);
        });
      } catch {
        // Retried, still failing: the lease expires by itself.
      }
    },
  };
}

/**
 * The read-back after a conditional write: returns when ACSCurrent is our version with us as holder;
 * otherwise throws LeaseHeld when another run has the lineage, or the write's own refusal when
 * nobody else does (so a RAM deny or a bad parameter is reported as itself, not as "held").
 */
async function confirmHeld(
  deps: LeaseDeps,
  attempt: { name: string; lineage: string; seq: number; now: number; refused: OrchestratorError | undefined },
): Promise<void> {
  const { name, lineage, seq, now, refused } = attempt;
  let check: SecretValue;
  try {
    // Retried: a write that landed but could not be confirmed would otherwise block the lineage.
    check = await retried(() => deps.kms.getSecretValue({ secretName: name }));
  } catch (err) {
    throw refused ?? err; // e.g. a refused CreateSecret and no secret at all: the refusal is the news
  }
  const rec = parseRecord(check.secretData);
  if (check.versionId === versionOf(seq) && rec.holder === deps.holder) return;
  if (rec.holder && rec.holder !== deps.holder && rec.expiresAtMs > now)
    throw held(lineage, rec.holder, rec.expiresAtMs);
  // Accepted, yet not current: another run moved the lease on since (the original rule).
  if (refused === undefined) throw held(lineage, rec.holder, rec.expiresAtMs);
  // Refused, and nobody holds the lease now. If our version id exists, a contender wrote it first
  // (and has already moved on): we lost the race. If it does not, the refusal was something else.
  if (await versionExists(deps.kms, name, versionOf(seq))) throw held(lineage, null, 0);
  throw refused;
}

/** Attempts of a lease read-back or release (on top of the KMS adapter's own retries). */
export const LEASE_CALL_ATTEMPTS = 3;

/** `call`, tried up to LEASE_CALL_ATTEMPTS times; a KmsNotFound answer is final (nothing to retry). */
async function retried<T>(call: () => Promise<T>): Promise<T> {
  let last: unknown;
  for (let attempt = 1; attempt <= LEASE_CALL_ATTEMPTS; attempt++) {
    try {
      return await call();
    } catch (err) {
      if (isOrchestratorError(err, ErrorCode.KmsNotFound)) throw err;
      last = err;
    }
  }
  throw last;
}

/** Writes the "released" record as version `seq + 1` (a conditional write: it fails if taken). */
async function releaseVersion(deps: LeaseDeps, name: string, seq: number): Promise<void> {
  await retried(() =>
    deps.kms.putSecretValue({
      secretName: name,
      versionId: versionOf(seq + 1),
      secretData: JSON.stringify({ v: 1, seq: seq + 1, holder: null, expiresAtMs: 0 } satisfies LeaseRecord),
    }),
  );
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
