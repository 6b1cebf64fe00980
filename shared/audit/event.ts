/**
 * Audit events: the schema, the canonical form they are hashed in, and the builder that turns
 * what a caller knows (action, phase, key, reason...) into a chained, hashed event.
 *
 * Hash chain (documented contract, verified by verify.ts):
 * - `hash` = SHA-256 hex of canonicalJson(event without `hash`);
 * - `prevHash` = the `hash` of the previous event of the chain;
 * - the first event of a chain has `seq` 1 and `prevHash` = genesisHash(runId) =
 *   SHA-256 hex of the UTF-8 string `genesis:<runId>`.
 * canonicalJson is RFC 8785 (JCS) for the values events hold: object keys sorted, no whitespace,
 * ECMAScript number and string serialisation; `undefined` members are omitted.
 *
 * Why about 300 lines in one file: the schema, the validation of every field and the hashing must
 * agree exactly (verify.ts re-hashes what the builder hashed), so they are read together here.
 */
import { createHash } from 'node:crypto';
import { ErrorCode, OrchestratorError } from '../errors.js';
import { LINEAGE_MAX_CHARS, isLineage } from '../lineage.js';
import { SECRET_DETAIL_KEYS, findSecretLikeRuns, redactSecretLike } from './guard.js';

/** Who asks for something, and so causes its events. */
export const ActorKind = { Timer: 'timer', Webhook: 'webhook', Operator: 'operator', System: 'system' } as const;
/** An actor kind. */
export type ActorKind = (typeof ActorKind)[keyof typeof ActorKind];

/** Decision (what the plan chose and why), intent (about to write), outcome (what happened). */
export const AuditPhase = { Decision: 'decision', Intent: 'intent', Outcome: 'outcome' } as const;
/** An event phase. */
export type AuditPhase = (typeof AuditPhase)[keyof typeof AuditPhase];

/** How an intent ended. */
export const AuditOutcome = { Ok: 'ok', Failed: 'failed', Skipped: 'skipped' } as const;
/** An outcome. */
export type AuditOutcome = (typeof AuditOutcome)[keyof typeof AuditOutcome];

/**
 * Who asked: the timer, a webhook source, an operator (with identity), or the system itself. The
 * engine runs for one actor (EngineDeps.actor) and every audit event records one.
 */
export interface Actor {
  kind: ActorKind;
  id: string;
}

/** Scalar detail values only: nothing nested, nothing binary. */
export type AuditDetails = Record<string, string | number | boolean>;

/** One audit event, exactly as written (one canonical JSON line). */
export interface AuditEvent {
  v: 1;
  /** Position in its chain, from 1. */
  seq: number;
  timeMs: number;
  /** ISO-8601 of timeMs, for people and log search. */
  time: string;
  runId: string;
  planId?: string;
  actor: Actor;
  action: string;
  phase: AuditPhase;
  keyId?: string;
  lineage?: string;
  reason?: string;
  outcome?: AuditOutcome;
  errorCode?: string;
  kmsRequestIds?: string[];
  details?: AuditDetails;
  prevHash: string;
  hash: string;
}

/**
 * One audit record as a caller (the engine) supplies it; the log adds v, seq, time, runId, chain
 * hashes (and the actor if omitted).
 */
export interface AuditInput {
  action: string;
  phase: AuditPhase;
  actor?: Actor;
  planId?: string;
  keyId?: string;
  lineage?: string;
  reason?: string;
  outcome?: AuditOutcome;
  errorCode?: string;
  kmsRequestIds?: string[];
  details?: AuditDetails;
}

/** Where the next event goes in its chain. */
export interface ChainPosition {
  runId: string;
  seq: number;
  prevHash: string;
}

/** Longest `reason` kept; longer ones are cut (reasons often quote error messages). */
export const MAX_REASON_CHARS = 1000;
const MAX_DETAIL_ENTRIES = 32;
const MAX_DETAIL_STRING_CHARS = 512;
const MAX_REQUEST_IDS = 64;

const ACTION_PATTERN = /^[A-Za-z][A-Za-z0-9._:-]{0,63}$/;
const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:@/+=-]{0,127}$/;
/** KMS key ids: a UUID, or `key-` and lower-case letters and digits (KMS 3.0). */
const KMS_KEY_ID =
  /^(?:[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|key-[a-z0-9]{1,64})$/;
/** Identifier detail values (targets, aliases, key ids, lineages, secret names): their grammar, no scan. */
const IDENTIFIER_VALUE = /^[A-Za-z0-9][A-Za-z0-9._:@/+=-]{0,255}$/;
/**
 * Detail keys holding identifiers. Identifiers are not secrets: they are validated by their grammar
 * and the secret scan is kept for free-text fields (an alias such as `alias/PaymentsAPIKeyForEUWest2Prod`
 * mixes cases and digits the way random bytes do, yet is a name).
 */
export const IDENTIFIER_DETAIL_KEYS: ReadonlySet<string> = new Set([
  'target',
  'alias',
  'aliasname',
  'keyid',
  'lineage',
  'secretname',
  'actor',
  'actorid',
  'source',
]);
const ERROR_CODE_PATTERN = /^[A-Za-z0-9_.:-]{1,64}$/;
const DETAIL_KEY_PATTERN = /^[A-Za-z][A-Za-z0-9_.-]{0,63}$/;
const ACTOR_KINDS: readonly string[] = Object.values(ActorKind);
const PHASES: readonly string[] = Object.values(AuditPhase);
const OUTCOMES: readonly string[] = Object.values(AuditOutcome);

/** RFC 8785-style canonical JSON: sorted keys, no whitespace, undefined members dropped. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    if (typeof value === 'number' && !Number.isFinite(value))
      throw new OrchestratorError(ErrorCode.InvalidInput, 'canonicalJson: non-finite number');
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) return `[${value.map((v) => canonicalJson(v)).join(',')}]`;
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj)
    .filter((k) => obj[k] !== undefined)
    .sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(obj[k])}`).join(',')}}`;
}

/** SHA-256 hex of a UTF-8 string. */
export function sha256Hex(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

/** The `prevHash` of the first event of a chain: SHA-256 hex of `genesis:<runId>`. */
export function genesisHash(runId: string): string {
  return sha256Hex(`genesis:${runId}`);
}

/** The `hash` an event must carry: SHA-256 hex of its canonical JSON without `hash`. */
export function computeEventHash(event: Omit<AuditEvent, 'hash'> | AuditEvent): string {
  const { hash: _ignored, ...rest } = event as AuditEvent;
  return sha256Hex(canonicalJson(rest));
}

/**
 * Builds the event `input` becomes at `position` and `timeMs`: validates every field, refuses
 * secret-looking identifiers and details (InvalidInput naming the field, never the value),
 * redacts secret-looking runs in `reason`, and computes the hash.
 */
export function buildAuditEvent(
  input: AuditInput & { actor: Actor },
  position: ChainPosition,
  timeMs: number,
): AuditEvent {
  if (!Number.isSafeInteger(timeMs) || timeMs < 0)
    throw invalid('timeMs', 'must be a non-negative integer of epoch milliseconds');
  if (!Number.isSafeInteger(position.seq) || position.seq < 1) throw invalid('seq', 'must be an integer >= 1');
  assertId('runId', position.runId);
  if (typeof input.action !== 'string' || !ACTION_PATTERN.test(input.action))
    throw invalid('action', 'must be 1-64 chars of letters, digits and . _ : -, starting with a letter');
  if (!PHASES.includes(input.phase)) throw invalid('phase', `must be one of ${PHASES.join(', ')}`);
  if (typeof input.actor !== 'object' || input.actor === null || !ACTOR_KINDS.includes(input.actor.kind)) {
    throw invalid('actor.kind', `must be one of ${ACTOR_KINDS.join(', ')}`);
  }
  // Actor ids are names (RAM users, roles, sources): their grammar only, never the secret scan.
  assertId('actor.id', input.actor.id, { identifier: true });
  if (input.planId !== undefined) assertId('planId', input.planId);
  if (input.keyId !== undefined)
    assertId('keyId', input.keyId, { identifier: typeof input.keyId === 'string' && KMS_KEY_ID.test(input.keyId) });
  if (input.lineage !== undefined && !isLineage(input.lineage)) {
    throw invalid(
      'lineage',
      `must be a lineage name: 1-${LINEAGE_MAX_CHARS} letters, digits, _ - /, not starting with acs`,
    );
  }
  if (input.outcome !== undefined && !OUTCOMES.includes(input.outcome))
    throw invalid('outcome', `must be one of ${OUTCOMES.join(', ')}`);
  if (
    input.errorCode !== undefined &&
    (typeof input.errorCode !== 'string' || !ERROR_CODE_PATTERN.test(input.errorCode))
  ) {
    throw invalid('errorCode', 'must be 1-64 chars of letters, digits and _ . : -');
  }
  if (input.kmsRequestIds !== undefined) {
    if (!Array.isArray(input.kmsRequestIds) || input.kmsRequestIds.length > MAX_REQUEST_IDS) {
      throw invalid('kmsRequestIds', `must be an array of at most ${MAX_REQUEST_IDS} ids`);
    }
    for (const [i, id] of input.kmsRequestIds.entries()) assertId(`kmsRequestIds[${i}]`, id);
  }
  const details = input.details === undefined ? undefined : checkDetails(input.details);
  let reason: string | undefined;
  if (input.reason !== undefined) {
    if (typeof input.reason !== 'string') throw invalid('reason', 'must be a string');
    // Reasons often quote error messages on failure paths; refusing them would lose the failure
    // itself from the audit trail, so secret-looking runs are redacted instead.
    const cut =
      input.reason.length > MAX_REASON_CHARS ? `${input.reason.slice(0, MAX_REASON_CHARS - 1)}…` : input.reason;
    reason = redactSecretLike(cut).text;
  }

  const body: Omit<AuditEvent, 'hash'> = {
    v: 1,
    seq: position.seq,
    timeMs,
    time: new Date(timeMs).toISOString(),
    runId: position.runId,
    planId: input.planId,
    actor: { kind: input.actor.kind, id: input.actor.id },
    action: input.action,
    phase: input.phase,
    keyId: input.keyId,
    lineage: input.lineage,
    reason,
    outcome: input.outcome,
    errorCode: input.errorCode,
    kmsRequestIds: input.kmsRequestIds === undefined ? undefined : [...input.kmsRequestIds],
    details,
    prevHash: position.prevHash,
  };
  const event = dropUndefined(body) as Omit<AuditEvent, 'hash'>;
  return { ...event, hash: computeEventHash(event) };
}

/** The one JSON line an event is written as (canonical, so re-hashing the parsed line is exact). */
export function serializeAuditEvent(event: AuditEvent): string {
  return canonicalJson(event);
}

function checkDetails(details: AuditDetails): AuditDetails {
  if (typeof details !== 'object' || details === null || Array.isArray(details))
    throw invalid('details', 'must be an object');
  const entries = Object.entries(details);
  if (entries.length > MAX_DETAIL_ENTRIES) throw invalid('details', `at most ${MAX_DETAIL_ENTRIES} entries`);
  const out: AuditDetails = {};
  for (const [key, value] of entries) {
    // The key is shown only when it is well-formed (then it is our own field name, not data).
    if (!DETAIL_KEY_PATTERN.test(key))
      throw invalid('details', 'keys must be 1-64 chars of letters, digits and _ . -, starting with a letter');
    const field = `details.${key}`;
    if (typeof value === 'string') {
      if (SECRET_DETAIL_KEYS.has(key.toLowerCase())) throw secretRefused(field, 'its name marks it as a secret');
      if (value.length > MAX_DETAIL_STRING_CHARS) throw invalid(field, `at most ${MAX_DETAIL_STRING_CHARS} characters`);
      if (IDENTIFIER_DETAIL_KEYS.has(key.toLowerCase())) {
        if (!IDENTIFIER_VALUE.test(value))
          throw invalid(field, 'must be an identifier: letters, digits and . _ : @ / + = -');
      } else {
        assertNotSecret(field, value);
      }
    } else if (typeof value === 'number') {
      if (!Number.isFinite(value)) throw invalid(field, 'must be a finite number');
    } else if (typeof value !== 'boolean') {
      throw invalid(field, 'must be a string, number or boolean');
    }
    out[key] = value;
  }
  return out;
}

function assertId(field: string, value: unknown, opts: { identifier?: boolean } = {}): void {
  if (typeof value !== 'string' || !ID_PATTERN.test(value)) {
    throw invalid(field, 'must be 1-128 chars of letters, digits and . _ : @ / + = -, starting with a letter or digit');
  }
  if (!opts.identifier) assertNotSecret(field, value);
}

function assertNotSecret(field: string, value: string): void {
  const runs = findSecretLikeRuns(value);
  const first = runs[0];
  if (first !== undefined) throw secretRefused(field, `it holds a ${first.length}-character base64/hex run`);
}

function secretRefused(field: string, why: string): OrchestratorError {
  return new OrchestratorError(
    ErrorCode.InvalidInput,
    `${field}: refused because it looks like secret material ` +
      `(${why}); audit events never carry material, tokens or secrets`,
    { details: { field } },
  );
}

function invalid(field: string, rule: string): OrchestratorError {
  return new OrchestratorError(ErrorCode.InvalidInput, `audit ${field}: ${rule}`, { details: { field } });
}

function dropUndefined<T extends object>(obj: T): T {
  return Object.fromEntries(Object.entries(obj).filter(([, v]) => v !== undefined)) as T;
}
