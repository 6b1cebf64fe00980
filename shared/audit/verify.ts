/**
 * verifyAuditChain: walks audit lines and reports the first line where the hash chain breaks.
 *
 * Any number of chains may share one log (one per FC invocation in a Log Service logstore, even
 * interleaved): an event either starts a chain (seq 1, prevHash = genesisHash(runId)) or extends
 * the head of a chain seen so far (prevHash = that head's hash, seq = head's seq + 1). The file
 * sink's chain continues across runs, so a link may cross run ids. Detected: an altered field
 * (hash mismatch), a deleted, duplicated or reordered line (prevHash matches no open head, or the
 * seq skips), a second genesis of one run id, and lines that are not audit events.
 * Not detectable from the lines alone: a cut-off tail, or a rewrite of every later hash; anchor
 * AuditLog.head() elsewhere (e.g. the function's response) for that.
 */
import { computeEventHash, genesisHash } from './event.js';

/** Why a chain failed to verify. */
export const AuditBreak = {
  BadJson: 'bad-json',
  BadSchema: 'bad-schema',
  HashMismatch: 'hash-mismatch',
  BrokenLink: 'broken-link',
  SeqMismatch: 'seq-mismatch',
  DuplicateGenesis: 'duplicate-genesis',
} as const;
/** A kind of break. */
export type AuditBreak = (typeof AuditBreak)[keyof typeof AuditBreak];

/** The verdict: counts when intact, else the first bad line (1-based) and why. */
export type AuditVerifyResult =
  | { ok: true; events: number; chains: number }
  | { ok: false; line: number; kind: AuditBreak; reason: string };

const HASH_PATTERN = /^[0-9a-f]{64}$/;

/** Verifies audit lines (an array, or the whole JSONL text); trailing empty lines are ignored. */
export function verifyAuditChain(input: string | readonly string[]): AuditVerifyResult {
  const lines = typeof input === 'string' ? input.split('\n') : [...input];
  while (lines.length > 0 && lines[lines.length - 1]?.trim() === '') lines.pop();

  /** Open chain heads: hash -> seq of the event that has it. */
  const heads = new Map<string, number>();
  const startedRuns = new Set<string>();
  let chains = 0;

  for (let i = 0; i < lines.length; i++) {
    const lineNo = i + 1;
    const fail = (kind: AuditBreak, reason: string): AuditVerifyResult => ({ ok: false, line: lineNo, kind, reason });
    let parsed: unknown;
    try {
      parsed = JSON.parse(lines[i] ?? '');
    } catch {
      return fail(AuditBreak.BadJson, 'not valid JSON');
    }
    const schemaError = checkShape(parsed);
    if (schemaError !== undefined) return fail(AuditBreak.BadSchema, schemaError);
    const e = parsed as { seq: number; runId: string; prevHash: string; hash: string };
    if (computeEventHash(parsed as Parameters<typeof computeEventHash>[0]) !== e.hash) {
      return fail(
        AuditBreak.HashMismatch,
        `event ${e.seq} of run ${e.runId} does not match its hash (a field was altered)`,
      );
    }
    if (e.prevHash === genesisHash(e.runId)) {
      if (e.seq !== 1)
        return fail(AuditBreak.SeqMismatch, `chain start of run ${e.runId} has seq ${e.seq}, expected 1`);
      if (startedRuns.has(e.runId)) return fail(AuditBreak.DuplicateGenesis, `run ${e.runId} starts a second chain`);
      startedRuns.add(e.runId);
      chains += 1;
    } else {
      const headSeq = heads.get(e.prevHash);
      if (headSeq === undefined) {
        return fail(
          AuditBreak.BrokenLink,
          `event ${e.seq} of run ${e.runId} links to no chain ` +
            `head: an earlier event is missing, reordered, duplicated or altered`,
        );
      }
      if (e.seq !== headSeq + 1) return fail(AuditBreak.SeqMismatch, `event has seq ${e.seq}, expected ${headSeq + 1}`);
      heads.delete(e.prevHash);
    }
    heads.set(e.hash, e.seq);
  }
  return { ok: true, events: lines.length, chains };
}

/** Undefined when `v` has the shape of an audit event, else what is wrong. */
function checkShape(v: unknown): string | undefined {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return 'not a JSON object';
  const e = v as Record<string, unknown>;
  if (e['v'] !== 1) return 'unknown event version';
  if (!Number.isSafeInteger(e['seq']) || (e['seq'] as number) < 1) return 'seq is not an integer >= 1';
  if (typeof e['runId'] !== 'string' || e['runId'] === '') return 'runId missing';
  if (!Number.isSafeInteger(e['timeMs'])) return 'timeMs is not an integer';
  if (e['time'] !== new Date(e['timeMs'] as number).toISOString()) return 'time does not match timeMs';
  const actor = e['actor'] as Record<string, unknown> | undefined;
  if (
    typeof actor !== 'object' ||
    actor === null ||
    typeof actor['kind'] !== 'string' ||
    typeof actor['id'] !== 'string'
  )
    return 'actor missing';
  if (typeof e['action'] !== 'string' || typeof e['phase'] !== 'string') return 'action or phase missing';
  if (typeof e['prevHash'] !== 'string' || !HASH_PATTERN.test(e['prevHash'])) return 'prevHash is not 64 hex digits';
  if (typeof e['hash'] !== 'string' || !HASH_PATTERN.test(e['hash'])) return 'hash is not 64 hex digits';
  return undefined;
}
