/**
 * Plan: pure. `planSweep(snapshot, policies, nowMs)` decides, per managed key and lineage, what the
 * next sweep does and why. The result is plain JSON a human can review before it runs (the
 * changesets model: read -> pure plan -> apply). "Nothing to do" is an empty action list.
 */
import { createHash } from 'node:crypto';
import { KeyState } from '../kms/port.js';
import { DAY_MS, Hold, Phase, lineagesOf, policyFor, type KeyView, type LineageView, type Policies, type Snapshot } from './model.js';

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
  | { kind: 'alert'; severity: 'warning' | 'critical'; keyId?: string; lineage?: string; reason: string };

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
  actions.sort((a, b) => urgency[a.kind] - urgency[b.kind] || (a.kind === 'renew' && b.kind === 'renew' ? a.expiresAtMs - b.expiresAtMs : 0));
  return { planId: planIdOf(actions, nowMs), createdAtMs: nowMs, actions };
}

/** Deterministic plan id: a short hash of the actions and the planning time. */
export function planIdOf(actions: Action[], nowMs: number): string {
  return `plan-${createHash('sha256').update(JSON.stringify({ actions, nowMs })).digest('hex').slice(0, 16)}`;
}

/** Days of material left for a key at `nowMs` (undefined = never expires). */
export function daysLeft(k: Pick<KeyView, 'materialExpireAtMs'>, nowMs: number): number | undefined {
  return k.materialExpireAtMs === undefined ? undefined : Math.floor((k.materialExpireAtMs - nowMs) / DAY_MS);
}
