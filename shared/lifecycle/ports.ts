/**
 * Everything the engine is given (EngineDeps), and the slices of escrow and audit it uses, stated
 * as ports so the engine depends on behaviour, not on a backend.
 */
import type { AlertNotifier } from '../alerts/notifier.js';
import type { Actor, AuditInput } from '../audit/event.js';
import type { EscrowStore } from '../escrow/store.js';
import type { KmsPort } from '../kms/port.js';
import type { Logger } from '../log.js';
import type { Lease } from './lease.js';
import type { Clock, RandomSource } from '../runtime-types.js';
import type { Policies } from './model.js';

/** The one Actor type (audit's), named where EngineDeps is for the callers that build deps. */
export type { Actor } from '../audit/event.js';

/** The escrow operations the engine uses (there is no delete: escrow is never deleted while a CMK exists). */
export type EscrowPort = Pick<EscrowStore, 'put' | 'get' | 'list' | 'mirrorKeyTags'>;

/** Where audit records go (an AuditLog, or a list in tests). */
export interface AuditRecorder {
  record(event: AuditInput): Promise<unknown> | unknown;
}

/** Everything the engine is given (nothing is reached for globally). */
export interface EngineDeps {
  kms: KmsPort;
  escrow: EscrowPort;
  audit: AuditRecorder;
  clock: Clock;
  random: RandomSource;
  policies: Policies;
  /** Aliyun_KMS CMK that encrypts the lease secrets (normally the escrow CMK). */
  leaseKeyId: string;
  /**
   * KMS 3.0 placement: `keys` = instance new managed CMKs are created in, `escrow` = instance of the
   * lease secrets (and the escrow). Unset = no DKMSInstanceId is sent. Verified by read-back.
   */
  instances?: { keys?: string; escrow?: string };
  /** How long a lineage lease lasts before another run may take it over (≥ the function timeout). */
  leaseTtlMs: number;
  actor: Actor;
  /** Unique per invocation; also the lease holder id. */
  runId: string;
  /** Absolute time (clock ms) by which the engine must have stopped writing; undefined = no budget. */
  deadlineMs?: number;
  /** Progress lines for people (no secrets are ever passed here). */
  progress?: (line: string) => void;
  /**
   * Where the engine logs what results and audit must not carry: an uncoded error (a bug) with its
   * stack, at error level. Unset = not logged.
   */
  log?: Logger;
  /**
   * Told what each sweep and targeted check found (shared/alerts): de-duplicates and sends alerts to
   * people. Unset = nobody is told (tests, one-shot commands). Never throws.
   */
  alerts?: AlertNotifier;
  /**
   * Lineages the executor writes at once (each under its own lease, its actions in order);
   * undefined = DEFAULT_WRITE_CONCURRENCY (execute.ts).
   */
  writeConcurrency?: number;
  /**
   * KMS calls the client keeps in flight (fixed, or derived from the paced rate and the observed
   * latency, shared/kms/resilience.ts): observe's parallelism. Undefined = observe's default.
   */
  kmsConcurrency?: number;
  /**
   * The lease of the lineage being written: set by the executor for the actions it runs under that
   * lease (provisioning records a CreateKey result in it), never by callers.
   */
  lease?: Lease;
  /**
   * Days within which a sweep reads every escrow record back in full (spread over the days,
   * shared/escrow/due.ts); undefined = DEFAULT_ESCROW_VERIFY_DAYS (7). BYOK_ESCROW_VERIFY_DAYS.
   */
  escrowVerifyDays?: number;
  /**
   * Days within which observe reads every managed key's own tags (the tag mirror's full reconcile);
   * undefined = DEFAULT_TAG_RECONCILE_DAYS (7). BYOK_TAG_RECONCILE_DAYS.
   */
  tagReconcileDays?: number;
  /** Called after each completed provisioning step; tests inject crashes here. */
  onCheckpoint?: (step: string, info: { lineage: string; generation: number; keyId?: string }) => void | Promise<void>;
}

/**
 * Thrown from `onCheckpoint` to simulate the process dying at that point: the engine records no
 * outcome and does not release the lease, exactly as a killed function would leave things.
 */
export class CheckpointAbort extends Error {
  override readonly name = 'CheckpointAbort';
}
