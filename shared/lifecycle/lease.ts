/**
 * A per-lineage lease, so concurrent runs (a timer firing while a webhook or an engineer acts)
 * never create two CMKs for one lineage nor interleave writes on one key (docs/design.md §4).
 *
 * Mechanism: a conditional write in KMS Secrets Manager. The lease is the secret
 * `byok-lease/<lineage>`; each change is a PutSecretValue with a VersionId derived from the next
 * sequence number (`lease-<seq>`). Two contenders that read the same state both try to write the
 * same VersionId with different data; Secrets Manager accepts the first and rejects the second
 * (`Rejected.ResourceExist`). That rejection code is inferred (docs/kms-api.md §2.12: same
 * VersionId + same data is documented as idempotent, the conflict code is not), so the winner is
 * additionally confirmed by reading ACSCurrent back and checking it is our version and holder.
 * A holder that crashes blocks its lineage for at most `ttlMs`; a live holder stops writing at
 * 80 % of `ttlMs` (leaseDeadline), so its lease cannot expire under it. Holders compare expiry on
 * their own clocks: keep them in sync (NTP in the cloud; the local stack shares the emulator's).
 */
import { ErrorCode, OrchestratorError, isOrchestratorError } from '../errors.js';
import { assertSecretInstance } from '../escrow/kms-secrets-store.js';
import type { KmsPort } from '../kms/port.js';
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
  return new OrchestratorError(ErrorCode.LeaseHeld, `lineage ${lineage} is being changed by another run${by ? ` (${by})` : ''}${untilMs ? ` until ${new Date(untilMs).toISOString()}` : ''}`, {
    retryable: true,
    details: { lineage },
  });
}

/** What taking a lease needs. */
export interface LeaseDeps {
  kms: KmsPort;
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
export async function acquireLease(
  deps: LeaseDeps,
  lineage: string,
  intent: string,
): Promise<Lease> {
  const name = leaseSecretName(lineage);
  const now = deps.nowMs();
  const mine = (seq: number): LeaseRecord => ({ v: 1, seq, holder: deps.holder, expiresAtMs: now + deps.ttlMs, intent });
  let seq: number;
  let current: LeaseRecord | undefined;
  try {
    current = parseRecord((await deps.kms.getSecretValue({ secretName: name })).secretData);
  } catch (err) {
    if (!isOrchestratorError(err, ErrorCode.KmsNotFound)) throw err;
  }
  if (!current) {
    seq = 1;
    try {
      await deps.kms.createSecret({
        secretName: name,
        versionId: versionOf(seq),
        secretData: JSON.stringify(mine(seq)),
        encryptionKeyId: deps.encryptionKeyId,
        description: `BYOK orchestrator lease for lineage ${lineage}`,
        tags: { 'byok:managed': 'true', 'byok:lineage': lineage },
        ...(deps.dkmsInstanceId === undefined ? {} : { dkmsInstanceId: deps.dkmsInstanceId }),
      });
      if (deps.dkmsInstanceId !== undefined) await assertSecretInstance(deps.kms, name, deps.dkmsInstanceId);
    } catch (err) {
      // Someone created it first, or this is our own retried create whose first answer was lost:
      // the confirming read below tells which.
      if (!isOrchestratorError(err, ErrorCode.KmsConflict)) throw err;
    }
  } else {
    if (current.holder && current.holder !== deps.holder && current.expiresAtMs > now) throw held(lineage, current.holder, current.expiresAtMs);
    seq = current.seq + 1;
    try {
      await deps.kms.putSecretValue({ secretName: name, versionId: versionOf(seq), secretData: JSON.stringify(mine(seq)) });
    } catch (err) {
      if (!isOrchestratorError(err, ErrorCode.KmsConflict)) throw err; // confirmed (or refused) below
    }
  }
  // Confirm: ACSCurrent must be our version with us as holder.
  const check = await deps.kms.getSecretValue({ secretName: name });
  const rec = parseRecord(check.secretData);
  if (check.versionId !== versionOf(seq) || rec.holder !== deps.holder) throw held(lineage, rec.holder, rec.expiresAtMs);

  return {
    lineage,
    seq,
    acquiredAtMs: now,
    async release() {
      try {
        const cur = await deps.kms.getSecretValue({ secretName: name });
        const r = parseRecord(cur.secretData);
        if (r.holder !== deps.holder || r.seq !== seq) return; // taken over after expiry: not ours to release
        await deps.kms.putSecretValue({ secretName: name, versionId: versionOf(seq + 1), secretData: JSON.stringify({ v: 1, seq: seq + 1, holder: null, expiresAtMs: 0 } satisfies LeaseRecord) });
      } catch {
        // Best effort: the lease expires by itself.
      }
    },
  };
}

/** The latest time a holder may start a write under `lease`: 80 % of its lifetime. */
export function leaseDeadline(lease: Lease, ttlMs: number): number {
  return lease.acquiredAtMs + Math.floor(ttlMs * 0.8);
}
