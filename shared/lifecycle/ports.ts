/**
 * What the lifecycle needs from escrow and audit, stated structurally so the engine depends on
 * behaviour, not on a backend.
 */
import type { Clock, RandomSource } from '../runtime-types.js';
import type { KmsPort } from '../kms/port.js';
import type { Policies } from './model.js';
import type { EscrowListing, EscrowRecord, EscrowStore } from '../escrow/store.js';

/** A saved copy of one CMK's material (the escrow module's record). */
export type EscrowRecordLike = EscrowRecord;

/** The escrow operations the engine uses (there is no delete: escrow is never deleted while a CMK exists). */
export type EscrowPort = Pick<EscrowStore, 'put' | 'get' | 'list'>;

/** Escrow index: readable summaries (never material) and entries that failed verification. */
export type EscrowListingLike = EscrowListing;

/** Who asked: the timer, a webhook, or an operator (with identity). */
export interface Actor {
  kind: 'timer' | 'webhook' | 'operator' | 'system';
  id: string;
}

/** One audit record as the engine emits it; the audit log adds time, sequence and hash chain. */
export interface AuditInput {
  action: string;
  phase: 'decision' | 'intent' | 'outcome';
  planId?: string;
  keyId?: string;
  lineage?: string;
  reason?: string;
  outcome?: 'ok' | 'failed' | 'skipped';
  errorCode?: string;
  kmsRequestIds?: string[];
  details?: Record<string, string | number | boolean>;
}

/** Where audit records go. */
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
