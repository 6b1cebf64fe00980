/**
 * The JSON form both escrow backends store inside their sealed file or secret: serialised from a
 * record, parsed back and checked against the key id and its own fingerprint (EscrowCorrupt with a
 * fixed reason, never content), and summarised without its material for list().
 */
import { ErrorCode, OrchestratorError } from '../errors.js';
import {
  type EscrowRecord,
  type EscrowSummary,
  escrowCorrupt,
  escrowVersionId,
  validateEscrowRecord,
} from './store.js';

/** Standard base64, canonical (RFC 4648 §4): Buffer.from(s, 'base64') alone skips junk silently. */
export function decodeCanonicalBase64(text: unknown): Buffer | undefined {
  if (typeof text !== 'string' || !/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(text)) {
    return undefined;
  }
  const bytes = Buffer.from(text, 'base64');
  return bytes.toString('base64') === text ? bytes : undefined;
}

/**
 * Parses the JSON form both backends store inside their sealed/secret payload and checks it
 * against `keyId` and its own fingerprint. Throws EscrowCorrupt (fixed reasons, no content).
 */
export function parseStoredRecord(keyId: string, value: unknown): EscrowRecord & { breakglass?: string } {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw escrowCorrupt(keyId, 'not a JSON object');
  const v = value as Record<string, unknown>;
  if (v['v'] !== 1) throw escrowCorrupt(keyId, 'unknown record version');
  if (v['keyId'] !== keyId) throw escrowCorrupt(keyId, 'record names another key id');
  const material = decodeCanonicalBase64(v['material']);
  if (material === undefined) throw escrowCorrupt(keyId, 'material is not canonical base64');
  const record: EscrowRecord = {
    keyId,
    lineage: v['lineage'] as string,
    generation: v['generation'] as number,
    keySpec: v['keySpec'] as string,
    fingerprint: v['fingerprint'] as string,
    createdAtMs: v['createdAtMs'] as number,
    material,
  };
  try {
    validateEscrowRecord(record);
  } catch (err) {
    material.fill(0);
    if (err instanceof OrchestratorError && err.code === ErrorCode.EscrowMismatch) {
      throw escrowCorrupt(keyId, 'material does not match the recorded fingerprint');
    }
    throw escrowCorrupt(
      keyId,
      `invalid field ${err instanceof OrchestratorError ? String(err.details.field) : ''}`.trim(),
    );
  }
  const breakglass = v['breakglass'];
  if (breakglass !== undefined && decodeCanonicalBase64(breakglass) === undefined) {
    material.fill(0);
    throw escrowCorrupt(keyId, 'breakglass is not canonical base64');
  }
  return breakglass === undefined ? record : { ...record, breakglass: breakglass as string };
}

/** The JSON object both backends store: metadata, base64 material, optional break-glass blob. */
export function storedRecordJson(record: EscrowRecord, breakglass?: string): string {
  return JSON.stringify({
    v: 1,
    keyId: record.keyId,
    lineage: record.lineage,
    generation: record.generation,
    keySpec: record.keySpec,
    fingerprint: record.fingerprint,
    createdAtMs: record.createdAtMs,
    material: record.material.toString('base64'),
    ...(breakglass === undefined ? {} : { breakglass }),
  });
}

/** A summary (no material) of `record`. */
export function summarize(record: EscrowRecord): EscrowSummary {
  return {
    keyId: record.keyId,
    lineage: record.lineage,
    generation: record.generation,
    keySpec: record.keySpec,
    fingerprint: record.fingerprint,
    createdAtMs: record.createdAtMs,
    version: escrowVersionId(record.fingerprint),
  };
}
