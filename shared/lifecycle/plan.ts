/**
 * Plan: pure. `planSweep(snapshot, policies, nowMs)` decides, per managed key and lineage, what the
 * next sweep does and why. The result is plain JSON a human can review before it runs (the
 * changesets model: read -> pure plan -> apply). "Nothing to do" is an empty action list.
 *
 * An operator command is a plan too: one action on one lineage (commands.ts), with the operator as
 * its actor, run by the same executor (execute.ts). Every action that imports carries the policy it
 * runs under, resolved here, so the executor never looks one up.
 * The rules: plan-lineage.ts (one lineage), plan-keys.ts (one key), plan-alerts.ts (escrow, instances).
 */
import { createHash } from 'node:crypto';
import type { Actor } from '../audit/event.js';
import { LINEAGE_TAG_INVALID_REASON, escrowWithoutKeys, planInstances } from './plan-alerts.js';
import { keysById, planLineage } from './plan-lineage.js';
import { lineagesOf, type ActionPolicy, type Hold, type Policies, type Snapshot } from './model.js';

/**
 * Everything the engine may do to KMS state, as data. A sweep plans the first nine; an operator
 * command plans one action of any kind (renew with `force`, rotate without `nextGeneration`,
 * onboard, revoke, restore).
 */
export type Action =
  | {
      kind: 'reimport';
      keyId: string;
      lineage: string;
      generation: number;
      policy: ActionPolicy;
      /** An operator's revival of a retired (dormant) generation: re-imported with the bounded revive validity. */
      revive?: true;
      reason: string;
    }
  | {
      kind: 'renew';
      keyId: string;
      lineage: string;
      generation: number;
      /** Valid Until the plan saw (none: material that never expires, which is not renewed). */
      expiresAtMs?: number;
      /** An operator's renew: whatever the time left (a sweep renews only inside the renew window). */
      force?: true;
      policy: ActionPolicy;
      reason: string;
    }
  | { kind: 'resume'; lineage: string; keyId: string; generation: number; policy: ActionPolicy; reason: string }
  | {
      kind: 'rotate';
      lineage: string;
      /** The alias target the plan saw: the rotation is skipped if the alias has moved since. */
      fromKeyId: string;
      /** Unset for an operator's rotate: the executor finds it (or a generation being provisioned) under the lease. */
      nextGeneration?: number;
      policy: ActionPolicy;
      reason: string;
    }
  | { kind: 'hold'; keyId: string; lineage: string; hold: Hold; reason: string }
  | { kind: 'release-hold'; keyId: string; lineage: string; reason: string }
  | { kind: 'retire'; keyId: string; lineage: string; generation: number; reason: string }
  | { kind: 'supersede'; keyId: string; lineage: string; generation: number; reason: string }
  | {
      kind: 'alert';
      severity: 'warning' | 'critical';
      keyId?: string;
      lineage?: string;
      instanceId?: string;
      reason: string;
    }
  /** Generation 1 of a new lineage (idempotent: an onboarded lineage is left as it is). */
  | { kind: 'onboard'; lineage: string; policy: ActionPolicy; reason: string }
  /** Takes an EXTERNAL key under management; its material travels beside the action (apply.ts), never in it. */
  | {
      kind: 'adopt';
      keyId: string;
      lineage: string;
      generation: number;
      keySpec: string;
      /** The lineage policy's wrapping algorithm (the one its renewals use). */
      wrappingAlgorithm: ActionPolicy['wrappingAlgorithm'];
      reason: string;
    }
  /** Crypto-shred on purpose: hold the key as revoked, then delete its material (escrow is kept). */
  | { kind: 'revoke'; keyId: string; lineage: string; reason: string }
  /** Clear a revoke/disable hold and re-import the escrowed material. */
  | {
      kind: 'restore';
      keyId: string;
      lineage: string;
      generation: number;
      policy: ActionPolicy;
      /** The key is retired (dormant): a revival, with the bounded revive validity. */
      revive?: true;
      reason: string;
    };

/** Action kinds. */
export type ActionKind = Action['kind'];

/** A reviewable, serialisable plan. */
export interface Plan {
  /** Content hash: the same snapshot, policy and time give the same id. */
  planId: string;
  createdAtMs: number;
  /** Who asked, when it is not the run's own actor's sweep: the operator of a command plan. */
  actor?: Actor;
  actions: Action[];
}

// Holds first (a released hold lets the same sweep renew the key), then availability, then changes.
// Operator kinds never share a plan with others; they are placed where their effect belongs.
const urgency: Record<ActionKind, number> = {
  hold: 0,
  'release-hold': 1,
  revoke: 2,
  reimport: 3,
  restore: 4,
  renew: 5,
  onboard: 6,
  adopt: 6,
  resume: 7,
  rotate: 8,
  supersede: 9,
  retire: 10,
  alert: 11,
};

/** Plans a whole sweep. Unmanaged EXTERNAL keys are reported by status, never acted on. */
export function planSweep(snapshot: Snapshot, policies: Policies, nowMs: number): Plan {
  const byId = keysById(snapshot);
  const actions = lineagesOf(snapshot).flatMap((l) => planLineage(l, snapshot, policies, nowMs, byId));
  for (const u of snapshot.unobservable) {
    actions.push({
      kind: 'alert',
      severity: 'critical',
      keyId: u.keyId,
      reason: `key could not be read (${u.code}); it is neither checked nor repaired until it can`,
    });
  }
  for (const k of snapshot.keys) {
    if (k.managed && k.lineageTagInvalid) {
      actions.push({ kind: 'alert', severity: 'critical', keyId: k.keyId, reason: LINEAGE_TAG_INVALID_REASON });
    }
  }
  actions.push(...planInstances(snapshot.instances, nowMs, escrowWithoutKeys(snapshot)));
  actions.sort(
    (a, b) =>
      urgency[a.kind] - urgency[b.kind] ||
      (a.kind === 'renew' && b.kind === 'renew' ? (a.expiresAtMs ?? 0) - (b.expiresAtMs ?? 0) : 0),
  );
  return { planId: planIdOf(actions, nowMs), createdAtMs: nowMs, actions };
}

/** Deterministic plan id: a short hash of the actions and the planning time. */
export function planIdOf(actions: Action[], nowMs: number): string {
  return `plan-${createHash('sha256').update(JSON.stringify({ actions, nowMs })).digest('hex').slice(0, 16)}`;
}
