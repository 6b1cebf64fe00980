/**
 * Plan: pure. `planSweep(snapshot, policies, nowMs)` decides, per managed key and lineage, what the
 * next sweep does and why. The result is plain JSON a human can review before it runs (the
 * changesets model: read -> pure plan -> apply). "Nothing to do" is an empty action list.
 */
import { createHash } from 'node:crypto';
import { ErrorCode } from '../errors.js';
import { ESCROW_SECRET_PREFIX, ESCROW_VERSIONS_WRITTEN, SECRET_MAX_VERSIONS } from '../escrow/kms-secrets-store.js';
import { KeyState } from '../kms/port.js';
import { LINEAGE_MAX_CHARS } from '../lineage.js';
import { DAY_MS, Hold, Phase, lineagesOf, policyFor, type InstanceRole, type InstanceView, type KeyView, type LineageView, type Policies, type Snapshot } from './model.js';

/** Everything a sweep may do. */
export type Action =
  | { kind: 'reimport'; keyId: string; lineage: string; generation: number; validityDays: number; reason: string }
  | { kind: 'renew'; keyId: string; lineage: string; generation: number; validityDays: number; expiresAtMs: number; reason: string }
  | { kind: 'resume'; lineage: string; keyId: string; generation: number; reason: string }
  | { kind: 'rotate'; lineage: string; fromKeyId: string; nextGeneration: number; reason: string }
  | { kind: 'hold'; keyId: string; lineage: string; hold: Hold; reason: string }
  | { kind: 'release-hold'; keyId: string; lineage: string; reason: string }
  | { kind: 'retire'; keyId: string; lineage: string; generation: number; reason: string }
  | { kind: 'supersede'; keyId: string; lineage: string; generation: number; reason: string }
  | { kind: 'alert'; severity: 'warning' | 'critical'; keyId?: string; lineage?: string; instanceId?: string; reason: string };

/** Action kinds. */
export type ActionKind = Action['kind'];

/** A reviewable, serialisable plan. */
export interface Plan {
  /** Content hash: the same snapshot, policy and time give the same id. */
  planId: string;
  createdAtMs: number;
  actions: Action[];
}

// Holds first (a released hold lets the same sweep renew the key), then availability, then changes.
const urgency: Record<ActionKind, number> = { hold: 0, 'release-hold': 1, reimport: 2, renew: 3, resume: 4, rotate: 5, supersede: 6, retire: 7, alert: 8 };

const days = (ms: number) => Math.floor(ms / DAY_MS);

/** Plans one lineage; exported for targeted runs (a webhook about one key). */
export function planLineage(l: LineageView, snapshot: Snapshot, policies: Policies, nowMs: number): Action[] {
  const out: Action[] = [];
  const lineage = l.lineage;
  const current = l.keys.find((k) => k.keyId === l.aliasTargetKeyId);
  const policy = policyFor(policies, lineage, current?.validityDaysOverride ?? l.keys.find((k) => k.validityDaysOverride)?.validityDaysOverride);

  // 1. Interrupted provisioning (crash between steps of onboard/rotate): finish it, never start another.
  const provisioning = l.keys.filter((k) => k.untaggedMarker || k.phase === Phase.Provisioning);
  for (const k of provisioning) {
    if (k.state === KeyState.PendingDeletion) {
      out.push({ kind: 'alert', severity: 'warning', keyId: k.keyId, lineage, reason: `generation ${k.generation} was being provisioned but is scheduled for deletion; not touched` });
    } else if (k.hold || k.state === KeyState.Disabled || k.state === KeyState.Unavailable) {
      // Revoked or disabled by an operator mid-provisioning: never finished (imported, aliased) automatically.
      out.push({ kind: 'alert', severity: 'warning', keyId: k.keyId, lineage, reason: `generation ${k.generation} was being provisioned but is ${k.hold ? `held (${k.hold})` : k.state}; not resumed (restore it, or schedule its deletion)` });
    } else {
      out.push({ kind: 'resume', lineage, keyId: k.keyId, generation: k.generation ?? 0, reason: k.untaggedMarker ? 'CMK created but never tagged (interrupted run)' : 'provisioning was interrupted' });
    }
  }
  // 1b. A ready generation newer than the alias target, whose move was interrupted.
  // Only a usable key may receive the alias (invariant 8): Enabled, self-tested (ready), not held.
  const ready = l.keys.filter((k) => k.phase === Phase.Ready && k.state === KeyState.Enabled && !k.hold);
  const newestReady = ready[ready.length - 1];
  if (newestReady && newestReady.keyId !== l.aliasTargetKeyId && provisioning.length === 0) {
    const target = l.aliasTargetKeyId ? snapshot.keys.find((k) => k.keyId === l.aliasTargetKeyId) : undefined;
    if (!l.aliasTargetKeyId || (target && target.lineage === lineage && (target.generation ?? 0) < (newestReady.generation ?? 0) && target.supersededAtMs === undefined)) {
      out.push({ kind: 'resume', lineage, keyId: newestReady.keyId, generation: newestReady.generation ?? 0, reason: l.aliasTargetKeyId ? 'alias move to the new generation was interrupted' : 'alias missing for the lineage' });
    } else {
      out.push({ kind: 'alert', severity: 'warning', lineage, keyId: l.aliasTargetKeyId, reason: `drift: ${`alias/${lineage}`} points at ${l.aliasTargetKeyId} instead of generation ${newestReady.generation} (${newestReady.keyId}); moved by hand? not changed` });
    }
  }
  if (l.aliasTargetKeyId && !snapshot.keys.some((k) => k.keyId === l.aliasTargetKeyId && k.lineage === lineage)) {
    out.push({ kind: 'alert', severity: 'warning', lineage, keyId: l.aliasTargetKeyId, reason: `drift: alias/${lineage} points at a key that is not part of the lineage` });
  }

  // 2. Per key: availability first.
  for (const k of l.keys) {
    if (k.untaggedMarker || k.phase === Phase.Provisioning) continue;
    if (k.phase === Phase.FailedSelfTest) {
      out.push({ kind: 'alert', severity: 'critical', keyId: k.keyId, lineage, reason: `generation ${k.generation} failed its Encrypt/Decrypt self-test; the alias was not moved and rotation waits for an operator` });
      continue;
    }
    const retired = k.phase === Phase.Retired;
    switch (k.state) {
      case KeyState.PendingDeletion:
        out.push({ kind: 'alert', severity: retired ? 'warning' : 'critical', keyId: k.keyId, lineage, reason: `scheduled for deletion${k.deleteDateMs ? ` on ${new Date(k.deleteDateMs).toISOString()}` : ''}; not touched (cancel by hand if unintended)` });
        break;
      case KeyState.Disabled:
        if (k.hold !== Hold.Disabled && k.hold !== Hold.Revoked) {
          out.push({ kind: 'hold', keyId: k.keyId, lineage, hold: Hold.Disabled, reason: 'disabled by an operator: recorded so it is never re-enabled or re-imported automatically' });
        }
        break;
      case KeyState.Enabled:
        if (k.hold === Hold.Disabled) {
          out.push({ kind: 'release-hold', keyId: k.keyId, lineage, reason: 're-enabled by an operator' });
        } else if (k.hold === Hold.Revoked) {
          out.push({ kind: 'alert', severity: 'warning', keyId: k.keyId, lineage, reason: 'revoked key is usable again although nobody ran restore (out-of-band import?)' });
          break;
        }
        if (!retired && k.materialExpireAtMs !== undefined) {
          const leftMs = k.materialExpireAtMs - nowMs;
          if (leftMs <= policy.renewBeforeDays * DAY_MS) {
            out.push({ kind: 'renew', keyId: k.keyId, lineage, generation: k.generation ?? 0, validityDays: policy.validityDays, expiresAtMs: k.materialExpireAtMs, reason: `material expires in ${days(leftMs)} d (renew ${policy.renewBeforeDays} d before)` });
          }
        }
        break;
      case KeyState.PendingImport:
        if (retired || k.hold) break; // deliberately revoked / disabled / past retention: stays down
        if (!k.fingerprint) {
          out.push({ kind: 'alert', severity: 'critical', keyId: k.keyId, lineage, reason: 'material gone and the key has no fingerprint tag: cannot choose escrow' });
        } else if (k.escrowFingerprint !== k.fingerprint) {
          out.push({ kind: 'alert', severity: 'critical', keyId: k.keyId, lineage, reason: k.escrowFingerprint ? 'material gone and escrow holds different material' : 'material gone and no escrow record: data under this key is unreadable' });
        } else {
          out.push({ kind: 'reimport', keyId: k.keyId, lineage, generation: k.generation ?? 0, validityDays: policy.validityDays, reason: 'material deleted or expired (PendingImport)' });
        }
        break;
      case KeyState.Unavailable:
        out.push({ kind: 'alert', severity: 'critical', keyId: k.keyId, lineage, reason: 'key is Unavailable' });
        break;
      default: {
        const exhaustive: never = k.state;
        throw new Error(`unknown key state ${String(exhaustive)}`);
      }
    }
    if (snapshot.escrowUnreadable.includes(k.keyId)) {
      out.push({ kind: 'alert', severity: 'critical', keyId: k.keyId, lineage, reason: 'escrow record exists but fails verification (corrupt or sealed under another master key)' });
    } else if (k.phase === Phase.Ready && k.escrowFingerprint === undefined && k.state !== KeyState.PendingImport) {
      out.push({ kind: 'alert', severity: 'critical', keyId: k.keyId, lineage, reason: 'escrow record missing: the key cannot be restored if its material is lost' });
    }
    // An older generation the alias left without the superseded mark (crash right after the move).
    if (current && k.keyId !== current.keyId && k.phase === Phase.Ready && k.supersededAtMs === undefined && (k.generation ?? 0) < (current.generation ?? 0) && current.phase === Phase.Ready) {
      out.push({ kind: 'supersede', keyId: k.keyId, lineage, generation: k.generation ?? 0, reason: `alias moved to generation ${current.generation}; retention starts now` });
    }
    // Retention of superseded generations.
    if (!retired && k.keyId !== l.aliasTargetKeyId && k.supersededAtMs !== undefined && nowMs - k.supersededAtMs >= policy.retainPreviousDays * DAY_MS && k.phase === Phase.Ready) {
      out.push({ kind: 'retire', keyId: k.keyId, lineage, generation: k.generation ?? 0, reason: `superseded ${days(nowMs - k.supersededAtMs)} d ago (retain ${policy.retainPreviousDays} d): stop renewing` });
    }
  }

  // 2b. Stray versions on an escrow secret. The record read back intact, so it still serves the
  // repairs above; but every extra version brings the escrowed one closer to being dropped.
  for (const k of l.keys) {
    const count = snapshot.escrow[k.keyId]?.versionCount;
    if (count !== undefined && count > ESCROW_VERSIONS_WRITTEN) {
      out.push({ kind: 'alert', severity: count >= SECRET_MAX_VERSIONS ? 'critical' : 'warning', keyId: k.keyId, lineage, reason: strayEscrowVersionsReason(k.keyId, count) });
    }
  }

  // 3. Rotation of the current generation.
  if (current && policy.rotateAfterDays > 0 && provisioning.length === 0 && current.phase === Phase.Ready && current.state === KeyState.Enabled && !current.hold) {
    const newest = l.keys[l.keys.length - 1]!;
    const ageMs = nowMs - current.creationDateMs;
    if (newest.keyId === current.keyId && ageMs >= policy.rotateAfterDays * DAY_MS) {
      out.push({ kind: 'rotate', lineage, fromKeyId: current.keyId, nextGeneration: (newest.generation ?? 0) + 1, reason: `generation ${current.generation} is ${days(ageMs)} d old (rotate after ${policy.rotateAfterDays} d)` });
    }
  }
  return out;
}

/** Plans a whole sweep. Unmanaged EXTERNAL keys are reported by status, never acted on. */
export function planSweep(snapshot: Snapshot, policies: Policies, nowMs: number): Plan {
  const actions = lineagesOf(snapshot).flatMap((l) => planLineage(l, snapshot, policies, nowMs));
  for (const u of snapshot.unobservable) {
    actions.push({ kind: 'alert', severity: 'critical', keyId: u.keyId, reason: `key could not be read (${u.code}); it is neither checked nor repaired until it can` });
  }
  for (const k of snapshot.keys) {
    if (k.managed && k.lineageTagInvalid) {
      actions.push({ kind: 'alert', severity: 'critical', keyId: k.keyId, reason: LINEAGE_TAG_INVALID_REASON });
    }
  }
  actions.push(...planInstances(snapshot.instances, nowMs, escrowWithoutKeys(snapshot)));
  actions.sort((a, b) => urgency[a.kind] - urgency[b.kind] || (a.kind === 'renew' && b.kind === 'renew' ? a.expiresAtMs - b.expiresAtMs : 0));
  return { planId: planIdOf(actions, nowMs), createdAtMs: nowMs, actions };
}

/** Reason of the alert for a managed key whose `byok:lineage` tag is not a lineage name. */
export const LINEAGE_TAG_INVALID_REASON = `the byok:lineage tag is not a valid lineage name (1-${LINEAGE_MAX_CHARS} letters, digits, _ - /, not starting with acs): the key belongs to no lineage and is neither renewed nor repaired until the tag is fixed`;

/** Why an escrow secret with `count` versions is alarming, and what to do (plan alerts and verify-escrow). */
export function strayEscrowVersionsReason(keyId: string, count: number): string {
  return (
    `escrow secret ${ESCROW_SECRET_PREFIX}${keyId} has ${count} versions, but the orchestrator writes exactly ${ESCROW_VERSIONS_WRITTEN}: someone else wrote to it. ` +
    `Secrets Manager keeps at most ${SECRET_MAX_VERSIONS} versions and deletes the oldest, which is the escrowed material${count >= SECRET_MAX_VERSIONS ? ' (the next write deletes it)' : ''}. ` +
    'Find the writer in ActionTrail (PutSecretValue or UpdateSecretVersionStage on this secret) and attach the escrow deny policy (scripts/deploy/ram-policy-escrow-guard.json) to every principal that can write secrets'
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
const INSTANCE_GONE_CODES: ReadonlySet<string> = new Set(['Forbidden.DKMSInstanceNotFound', 'Rejected.Unavailable', 'Forbidden.DKMSInstanceStateInvalid']);

/** Keys named in one alert at most (the rest are counted). */
const MAX_LISTED_KEYS = 10;

/** Escrow records whose key KMS no longer lists (neither observed nor unreadable), by key id. */
function escrowWithoutKeys(snapshot: Snapshot): Array<{ keyId: string; lineage: string; generation: number }> {
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
export function planInstances(instances: readonly InstanceView[], nowMs: number, orphanedEscrow: ReadonlyArray<{ keyId: string; lineage: string; generation: number }> = []): Action[] {
  const out: Action[] = [];
  for (const inst of instances) {
    const problems: Array<{ critical: boolean; text: string }> = [];
    if (inst.readError) {
      const code = inst.readError.kmsCode ?? inst.readError.code;
      const gone = inst.readError.code === ErrorCode.KmsNotFound || (inst.readError.kmsCode !== undefined && INSTANCE_GONE_CODES.has(inst.readError.kmsCode));
      problems.push(
        gone
          ? { critical: true, text: `cannot be read (${code}): it may have lapsed or been released, which makes every key and secret in it unusable; check it in the KMS console` }
          : { critical: false, text: `could not be checked (${code}): its status and end date are unknown; the function role needs kms:GetKmsInstance on it` },
      );
      // A released keys instance takes its keys out of ListKeys: name what escrow still holds, so
      // the lineages that lost their keys are not silently dropped from the report.
      if (gone && inst.roles.includes('keys') && orphanedEscrow.length > 0) {
        const shown = orphanedEscrow.slice(0, MAX_LISTED_KEYS).map((e) => `${e.keyId} (alias/${e.lineage} generation ${e.generation})`);
        const more = orphanedEscrow.length > MAX_LISTED_KEYS ? ` and ${orphanedEscrow.length - MAX_LISTED_KEYS} more` : '';
        problems.push({ critical: true, text: `probably held these keys, which KMS no longer lists and whose material escrow still holds: ${shown.join(', ')}${more}` });
      }
    } else {
      if (inst.status !== 'Connected') problems.push({ critical: true, text: `is ${inst.status ?? 'in no reported state'}, not Connected: its keys and secrets may be unusable` });
      if (inst.endDateMs !== undefined) {
        const leftMs = inst.endDateMs - nowMs;
        const on = new Date(inst.endDateMs).toISOString();
        if (leftMs <= 0) {
          problems.push({ critical: true, text: `expired on ${on}: renew it now; its keys and secrets answer Rejected.Unavailable and KMS releases it 15 days after expiry` });
        } else if (leftMs <= INSTANCE_WARN_DAYS * DAY_MS) {
          problems.push({
            critical: leftMs <= INSTANCE_CRITICAL_DAYS * DAY_MS,
            text: `expires on ${on}, in ${days(leftMs)} d: renew it, or every key and secret in it becomes unusable (Rejected.Unavailable) and KMS releases it 15 days later`,
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

/** Deterministic plan id: a short hash of the actions and the planning time. */
export function planIdOf(actions: Action[], nowMs: number): string {
  return `plan-${createHash('sha256').update(JSON.stringify({ actions, nowMs })).digest('hex').slice(0, 16)}`;
}

/** Days of material left for a key at `nowMs` (undefined = never expires). */
export function daysLeft(k: Pick<KeyView, 'materialExpireAtMs'>, nowMs: number): number | undefined {
  return k.materialExpireAtMs === undefined ? undefined : Math.floor((k.materialExpireAtMs - nowMs) / DAY_MS);
}
