/**
 * The rules for one lineage (pure): finish interrupted provisioning and alias moves, report alias
 * drift, plan each key (plan-keys.ts), alert on stray escrow versions, and rotate on age. Every
 * importing action carries its resolved policy.
 */
import { ESCROW_VERSIONS_WRITTEN, SECRET_MAX_VERSIONS } from '../escrow/kms-secrets-store.js';
import { KeyState } from '../kms/port.js';
import { strayEscrowVersionsReason } from './plan-alerts.js';
import { planKey } from './plan-keys.js';
import type { Action } from './plan.js';
import {
  DAY_MS,
  Phase,
  actionPolicy,
  aliasOf,
  policyFor,
  type KeyView,
  type LineageView,
  type Policies,
  type Snapshot,
} from './model.js';

const days = (ms: number) => Math.floor(ms / DAY_MS);

/** The snapshot's keys by key id (the first of each id, as a search of `snapshot.keys` finds it). */
export function keysById(snapshot: Snapshot): ReadonlyMap<string, KeyView> {
  const byId = new Map<string, KeyView>();
  for (const k of snapshot.keys) if (!byId.has(k.keyId)) byId.set(k.keyId, k);
  return byId;
}

/**
 * Plans one lineage; exported for targeted runs (a webhook about one key). `byId`: keysById of the
 * snapshot, built once by a caller that plans every lineage (a search per lineage is quadratic).
 */
export function planLineage(
  l: LineageView,
  snapshot: Snapshot,
  policies: Policies,
  nowMs: number,
  byId: ReadonlyMap<string, KeyView> = keysById(snapshot),
): Action[] {
  const out: Action[] = [];
  const lineage = l.lineage;
  const current = l.keys.find((k) => k.keyId === l.aliasTargetKeyId);
  // The lineage's validity override: the alias target's tag, else any generation's.
  const override = current?.validityDaysOverride ?? l.keys.find((k) => k.validityDaysOverride)?.validityDaysOverride;
  const policy = policyFor(policies, lineage, override);
  // What renewals and re-imports run under; a resumed or rotated-from key brings its own override.
  const importPolicy = actionPolicy(policies, lineage, override);
  const keyPolicy = (k: KeyView) => actionPolicy(policies, lineage, k.validityDaysOverride);

  // 1. Interrupted provisioning (crash between steps of onboard/rotate): finish it, never start another.
  const provisioning = l.keys.filter((k) => k.untaggedMarker || k.phase === Phase.Provisioning);
  for (const k of provisioning) {
    if (k.state === KeyState.PendingDeletion) {
      out.push({
        kind: 'alert',
        severity: 'warning',
        keyId: k.keyId,
        lineage,
        reason: `generation ${k.generation} was being provisioned but is scheduled for deletion; not touched`,
      });
    } else if (
      k.hold ||
      k.state === KeyState.Disabled ||
      k.state === KeyState.Unavailable ||
      k.state === KeyState.Unknown
    ) {
      // Revoked or disabled by an operator mid-provisioning: never finished (imported, aliased) automatically.
      out.push({
        kind: 'alert',
        severity: 'warning',
        keyId: k.keyId,
        lineage,
        reason:
          `generation ${k.generation} was being provisioned but ` +
          `is ${k.hold ? `held (${k.hold})` : k.state}; not resumed (restore it, or schedule its deletion)`,
      });
    } else {
      const reason = k.untaggedMarker
        ? 'CMK created but never tagged (interrupted run)'
        : 'provisioning was interrupted';
      out.push({
        kind: 'resume',
        lineage,
        keyId: k.keyId,
        generation: k.generation ?? 0,
        policy: keyPolicy(k),
        reason,
      });
    }
  }
  // 1b. A ready generation newer than the alias target, whose move was interrupted.
  // Only a usable key may receive the alias (invariant 8): Enabled, self-tested (ready), not held.
  const ready = l.keys.filter((k) => k.phase === Phase.Ready && k.state === KeyState.Enabled && !k.hold);
  const newestReady = ready[ready.length - 1];
  if (newestReady && newestReady.keyId !== l.aliasTargetKeyId && provisioning.length === 0) {
    const target = l.aliasTargetKeyId ? byId.get(l.aliasTargetKeyId) : undefined;
    if (
      !l.aliasTargetKeyId ||
      (target &&
        target.lineage === lineage &&
        (target.generation ?? 0) < (newestReady.generation ?? 0) &&
        target.supersededAtMs === undefined)
    ) {
      const reason = l.aliasTargetKeyId
        ? 'alias move to the new generation was interrupted'
        : 'alias missing for the lineage';
      const generation = newestReady.generation ?? 0;
      out.push({
        kind: 'resume',
        lineage,
        keyId: newestReady.keyId,
        generation,
        policy: keyPolicy(newestReady),
        reason,
      });
    } else if (
      // The alias on a newer generation of the lineage that is not usable (held, disabled, ...) is
      // not drift: that generation's own state is planned (and alerted on) per key below.
      !(target && target.lineage === lineage && (target.generation ?? 0) > (newestReady.generation ?? 0))
    ) {
      out.push({
        kind: 'alert',
        severity: 'warning',
        lineage,
        keyId: l.aliasTargetKeyId,
        reason:
          `drift: ${aliasOf(lineage)} points at ${l.aliasTargetKeyId} instead of ` +
          `generation ${newestReady.generation} (${newestReady.keyId}); moved by hand? not changed`,
      });
    }
  }
  if (l.aliasTargetKeyId && byId.get(l.aliasTargetKeyId)?.lineage !== lineage) {
    out.push({
      kind: 'alert',
      severity: 'warning',
      lineage,
      keyId: l.aliasTargetKeyId,
      reason: `drift: ${aliasOf(lineage)} points at a key that is not part of the lineage`,
    });
  }

  // 2. Per key: availability first, then escrow, supersede and retention (plan-keys.ts).
  const context = { lineage, aliasTargetKeyId: l.aliasTargetKeyId, current, policy, importPolicy, snapshot, nowMs };
  for (const k of l.keys) {
    if (k.untaggedMarker || k.phase === Phase.Provisioning) continue;
    out.push(...planKey(k, context));
  }

  // 2b. Stray versions on an escrow secret. The record read back intact, so it still serves the
  // repairs above; but every extra version brings the escrowed one closer to being dropped.
  for (const k of l.keys) {
    const count = snapshot.escrow[k.keyId]?.versionCount;
    if (count !== undefined && count > ESCROW_VERSIONS_WRITTEN) {
      out.push({
        kind: 'alert',
        severity: count >= SECRET_MAX_VERSIONS ? 'critical' : 'warning',
        keyId: k.keyId,
        lineage,
        reason: strayEscrowVersionsReason(k.keyId, count),
      });
    }
  }

  // 3. Rotation of the current generation.
  if (
    current &&
    policy.rotateAfterDays > 0 &&
    provisioning.length === 0 &&
    current.phase === Phase.Ready &&
    current.state === KeyState.Enabled &&
    !current.hold
  ) {
    const newest = l.keys[l.keys.length - 1]!;
    const ageMs = nowMs - current.creationDateMs;
    if (newest.keyId === current.keyId && ageMs >= policy.rotateAfterDays * DAY_MS) {
      const age = `${days(ageMs)} d old (rotate after ${policy.rotateAfterDays} d)`;
      const reason = `generation ${current.generation} is ${age}`;
      const nextGeneration = (newest.generation ?? 0) + 1;
      out.push({
        kind: 'rotate',
        lineage,
        fromKeyId: current.keyId,
        nextGeneration,
        policy: keyPolicy(current),
        reason,
      });
    }
  }
  return out;
}
