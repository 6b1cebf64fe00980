/**
 * Alerts that are not about one lineage's keys (pure): escrow secrets with stray versions, keys
 * whose lineage tag is not a lineage name, KMS 3.0 instances that lapse or cannot be read.
 */
import { ErrorCode } from '../errors.js';
import { ESCROW_SECRET_PREFIX, ESCROW_VERSIONS_WRITTEN, SECRET_MAX_VERSIONS } from '../escrow/kms-secrets-store.js';
import { ALIAS_PREFIX, LINEAGE_MAX_CHARS } from '../lineage.js';
import { DAY_MS, type InstanceRole, type InstanceView, type Snapshot } from './model.js';
import type { Action } from './plan.js';

const days = (ms: number) => Math.floor(ms / DAY_MS);

/** Reason of the alert for a managed key whose `byok:lineage` tag is not a lineage name. */
export const LINEAGE_TAG_INVALID_REASON =
  `the byok:lineage tag is not a valid lineage name ` +
  `(1-${LINEAGE_MAX_CHARS} letters, digits, _ - /, not starting with acs): the key ` +
  `belongs to no lineage and is neither renewed nor repaired until the tag is fixed`;

/** Why an escrow secret with `count` versions is alarming, and what to do (plan alerts and verify-escrow). */
export function strayEscrowVersionsReason(keyId: string, count: number): string {
  return (
    `escrow secret ${ESCROW_SECRET_PREFIX}${keyId} has ${count} versions, but the ` +
    `orchestrator writes exactly ${ESCROW_VERSIONS_WRITTEN}: someone else wrote to it. ` +
    `Secrets Manager keeps at most ${SECRET_MAX_VERSIONS} versions and deletes the oldest, which ` +
    `is the escrowed material${count >= SECRET_MAX_VERSIONS ? ' (the next write deletes it)' : ''}. ` +
    'Find the writer in ActionTrail (PutSecretValue or UpdateSecretVersionStage on this secret) and ' +
    'attach the escrow deny policy (scripts/deploy/ram-policy-escrow-guard.json) ' +
    'to every principal that can write secrets'
  );
}

/** Days before a KMS instance's end date when the sweep starts warning. */
export const INSTANCE_WARN_DAYS = 30;
/** Days before a KMS instance's end date when the warning becomes critical. */
export const INSTANCE_CRITICAL_DAYS = 7;

/**
 * KMS codes that mean the instance itself is gone or unusable, not that we may not look at it:
 * released (`Forbidden.DKMSInstanceNotFound`), expired (`Rejected.Unavailable`), not connected
 * (`Forbidden.DKMSInstanceStateInvalid`) (docs/kms-3-instances.md §1, §5; for GetKmsInstance inferred).
 */
const INSTANCE_GONE_CODES: ReadonlySet<string> = new Set([
  'Forbidden.DKMSInstanceNotFound',
  'Rejected.Unavailable',
  'Forbidden.DKMSInstanceStateInvalid',
]);

/** Keys named in one alert at most (the rest are counted). */
const MAX_LISTED_KEYS = 10;

/** Escrow records whose key KMS no longer lists (neither observed nor unreadable), by key id. */
export function escrowWithoutKeys(snapshot: Snapshot): Array<{ keyId: string; lineage: string; generation: number }> {
  const known = new Set([...snapshot.keys.map((k) => k.keyId), ...snapshot.unobservable.map((u) => u.keyId)]);
  return Object.entries(snapshot.escrow)
    .filter(([keyId]) => !known.has(keyId))
    .map(([keyId, e]) => ({ keyId, lineage: e.lineage, generation: e.generation }))
    .sort((a, b) => a.keyId.localeCompare(b.keyId));
}

const ROLE_TEXT: Record<InstanceRole, string> = { keys: 'the managed keys', escrow: 'the escrow and lease secrets' };

/**
 * One alert per configured instance that lapses soon, has lapsed, is not `Connected`, or cannot be
 * read: when it lapses every key and secret in it answers Rejected.Unavailable (docs/kms-3-instances.md §5).
 * `orphanedEscrow` (escrow records whose key KMS no longer lists) is named when the keys' instance is gone.
 */
export function planInstances(
  instances: readonly InstanceView[],
  nowMs: number,
  orphanedEscrow: ReadonlyArray<{ keyId: string; lineage: string; generation: number }> = [],
): Action[] {
  const out: Action[] = [];
  for (const inst of instances) {
    const problems: Array<{ critical: boolean; text: string }> = [];
    if (inst.readError) {
      const code = inst.readError.kmsCode ?? inst.readError.code;
      const gone =
        inst.readError.code === ErrorCode.KmsNotFound ||
        (inst.readError.kmsCode !== undefined && INSTANCE_GONE_CODES.has(inst.readError.kmsCode));
      problems.push(
        gone
          ? {
              critical: true,
              text:
                `cannot be read (${code}): it may have lapsed or been released, ` +
                `which makes every key and secret in it unusable; check it in the KMS console`,
            }
          : {
              critical: false,
              text:
                `could not be checked (${code}): its status and ` +
                `end date are unknown; the function role needs kms:GetKmsInstance on it`,
            },
      );
      // A released keys instance takes its keys out of ListKeys: name what escrow still holds, so
      // the lineages that lost their keys are not silently dropped from the report.
      if (gone && inst.roles.includes('keys') && orphanedEscrow.length > 0) {
        const shown = orphanedEscrow
          .slice(0, MAX_LISTED_KEYS)
          .map((e) => `${e.keyId} (${ALIAS_PREFIX}${e.lineage} generation ${e.generation})`);
        const more =
          orphanedEscrow.length > MAX_LISTED_KEYS ? ` and ${orphanedEscrow.length - MAX_LISTED_KEYS} more` : '';
        problems.push({
          critical: true,
          text:
            `probably held these keys, which KMS no longer lists ` +
            `and whose material escrow still holds: ${shown.join(', ')}${more}`,
        });
      }
    } else {
      if (inst.status !== 'Connected')
        problems.push({
          critical: true,
          text: `is ${inst.status ?? 'in no reported state'}, not Connected: its keys and secrets may be unusable`,
        });
      if (inst.endDateMs !== undefined) {
        const leftMs = inst.endDateMs - nowMs;
        const on = new Date(inst.endDateMs).toISOString();
        if (leftMs <= 0) {
          problems.push({
            critical: true,
            text:
              `expired on ${on}: renew it now; its keys and secrets ` +
              `answer Rejected.Unavailable and KMS releases it 15 days after expiry`,
          });
        } else if (leftMs <= INSTANCE_WARN_DAYS * DAY_MS) {
          problems.push({
            critical: leftMs <= INSTANCE_CRITICAL_DAYS * DAY_MS,
            text:
              `expires on ${on}, in ${days(leftMs)} d: renew it, or every key and ` +
              `secret in it becomes unusable (Rejected.Unavailable) and KMS releases it 15 days later`,
          });
        }
      }
    }
    if (problems.length === 0) continue;
    const holds = inst.roles.map((r) => ROLE_TEXT[r]).join(' and ');
    out.push({
      kind: 'alert',
      severity: problems.some((p) => p.critical) ? 'critical' : 'warning',
      instanceId: inst.instanceId,
      reason: `KMS instance ${inst.instanceId} (holds ${holds}) ${problems.map((p) => p.text).join('; it ')}`,
    });
  }
  return out;
}
