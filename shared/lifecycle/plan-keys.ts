/**
 * The rules for one key of a lineage (pure): availability first (renew, re-import, record or
 * release a hold, alert on what must not be touched), then its escrow, the superseded mark the
 * alias move may have left undone, and the end of its retention.
 */
import { KeyState } from '../kms/port.js';
import {
  DAY_MS,
  Hold,
  Phase,
  actionPolicy,
  policyFor,
  type ActionPolicy,
  type KeyView,
  type LineagePolicy,
  type Policies,
  type Snapshot,
} from './model.js';
import type { Action } from './plan.js';

const days = (ms: number) => Math.floor(ms / DAY_MS);

/** What planning one key needs to know about its lineage. */
export interface KeyPlanContext {
  lineage: string;
  aliasTargetKeyId: string | undefined;
  /** The alias target, when it is a key of the lineage. */
  current: KeyView | undefined;
  policy: LineagePolicy;
  /** What the key's renewal or re-import runs under. */
  importPolicy: ActionPolicy;
  snapshot: Snapshot;
  nowMs: number;
}

/** Alert for a key in a state this code does not know: reported, never acted on. */
function unknownStateAlert(k: KeyView, lineage: string): Action {
  const word = k.unknownState ?? String(k.state);
  const reason = `key is in a state this tool does not know (${word}); not touched until it is one it knows`;
  return { kind: 'alert', severity: 'critical', keyId: k.keyId, lineage, reason };
}

/** Plans one key that is not being provisioned. */
export function planKey(k: KeyView, context: KeyPlanContext): Action[] {
  const { lineage, aliasTargetKeyId, current, policy, importPolicy, snapshot, nowMs } = context;
  const out: Action[] = [];
  if (k.phase === Phase.FailedSelfTest) {
    out.push({
      kind: 'alert',
      severity: 'critical',
      keyId: k.keyId,
      lineage,
      reason:
        `generation ${k.generation} failed its Encrypt/Decrypt ` +
        `self-test; the alias was not moved and rotation waits for an operator`,
    });
    return out;
  }
  const retired = k.phase === Phase.Retired;
  // Past its retention (0 = forever): retired now, and not renewed or re-imported one last time first.
  const retireDue =
    !retired &&
    policy.retainPreviousDays > 0 &&
    k.keyId !== aliasTargetKeyId &&
    k.supersededAtMs !== undefined &&
    nowMs - k.supersededAtMs >= policy.retainPreviousDays * DAY_MS &&
    k.phase === Phase.Ready;
  switch (k.state) {
    case KeyState.PendingDeletion:
      out.push({
        kind: 'alert',
        severity: retired ? 'warning' : 'critical',
        keyId: k.keyId,
        lineage,
        reason:
          `scheduled for deletion${k.deleteDateMs ? ` on ${new Date(k.deleteDateMs).toISOString()}` : ''}; ` +
          `not touched (cancel by hand if unintended)`,
      });
      break;
    case KeyState.Disabled:
      if (k.hold !== Hold.Disabled && k.hold !== Hold.Revoked) {
        out.push({
          kind: 'hold',
          keyId: k.keyId,
          lineage,
          hold: Hold.Disabled,
          reason: 'disabled by an operator: recorded so it is never re-enabled or re-imported automatically',
        });
      }
      break;
    case KeyState.Enabled:
      if (k.hold === Hold.Disabled) {
        out.push({ kind: 'release-hold', keyId: k.keyId, lineage, reason: 're-enabled by an operator' });
      } else if (k.hold === Hold.Revoked) {
        out.push({
          kind: 'alert',
          severity: 'warning',
          keyId: k.keyId,
          lineage,
          reason: 'revoked key is usable again although nobody ran restore (out-of-band import?)',
        });
        break;
      }
      if (!retired && !retireDue && k.materialExpireAtMs !== undefined) {
        const leftMs = k.materialExpireAtMs - nowMs;
        if (leftMs <= policy.renewBeforeDays * DAY_MS) {
          const reason = `material expires in ${days(leftMs)} d (renew ${policy.renewBeforeDays} d before)`;
          const expiresAtMs = k.materialExpireAtMs;
          out.push({
            kind: 'renew',
            keyId: k.keyId,
            lineage,
            generation: k.generation ?? 0,
            expiresAtMs,
            policy: importPolicy,
            reason,
          });
        }
      }
      break;
    case KeyState.PendingImport:
      if (retired || retireDue || k.hold) break; // deliberately revoked / disabled / past retention: stays down
      if (!k.fingerprint) {
        out.push({
          kind: 'alert',
          severity: 'critical',
          keyId: k.keyId,
          lineage,
          reason: 'material gone and the key has no fingerprint tag: cannot choose escrow',
        });
      } else if (k.escrowFingerprint !== k.fingerprint) {
        out.push({
          kind: 'alert',
          severity: 'critical',
          keyId: k.keyId,
          lineage,
          reason: k.escrowFingerprint
            ? 'material gone and escrow holds different material'
            : 'material gone and no escrow record: data under this key is unreadable',
        });
      } else {
        const reason = 'material deleted or expired (PendingImport)';
        out.push({
          kind: 'reimport',
          keyId: k.keyId,
          lineage,
          generation: k.generation ?? 0,
          policy: importPolicy,
          reason,
        });
      }
      break;
    case KeyState.Unavailable:
      out.push({ kind: 'alert', severity: 'critical', keyId: k.keyId, lineage, reason: 'key is Unavailable' });
      break;
    case KeyState.Unknown:
      out.push(unknownStateAlert(k, lineage));
      break;
    default: {
      // Never a throw: a state the type does not know either is reported like Unknown.
      const unexpected: never = k.state;
      out.push(unknownStateAlert({ ...k, state: unexpected }, lineage));
    }
  }
  if (snapshot.escrowUnreadable.includes(k.keyId)) {
    out.push({
      kind: 'alert',
      severity: 'critical',
      keyId: k.keyId,
      lineage,
      reason: 'escrow record exists but fails verification (corrupt or sealed under another master key)',
    });
  } else if (k.phase === Phase.Ready && k.escrowFingerprint === undefined && k.state !== KeyState.PendingImport) {
    out.push({
      kind: 'alert',
      severity: 'critical',
      keyId: k.keyId,
      lineage,
      reason: 'escrow record missing: the key cannot be restored if its material is lost',
    });
  }
  // An older generation the alias left without the superseded mark (crash right after the move).
  if (
    current &&
    k.keyId !== current.keyId &&
    k.phase === Phase.Ready &&
    k.supersededAtMs === undefined &&
    (k.generation ?? 0) < (current.generation ?? 0) &&
    current.phase === Phase.Ready
  ) {
    out.push({
      kind: 'supersede',
      keyId: k.keyId,
      lineage,
      generation: k.generation ?? 0,
      reason: `alias moved to generation ${current.generation}; retention starts now`,
    });
  }
  // Retention of superseded generations.
  if (retireDue && k.supersededAtMs !== undefined) {
    out.push({
      kind: 'retire',
      keyId: k.keyId,
      lineage,
      generation: k.generation ?? 0,
      reason:
        `superseded ${days(nowMs - k.supersededAtMs)} ` +
        `d ago (retain ${policy.retainPreviousDays} d): stop renewing`,
    });
  }
  return out;
}

/**
 * The revival of a dormant generation on demand (a read refused with Rejected.PendingImport): a
 * re-import of its escrowed material valid for the lineage's `reviveValidityDays`, only for a managed
 * retired key in PendingImport with no hold and an escrow record of its own material. It stays
 * retired, so it lapses again afterwards.
 */
export function planRevival(k: KeyView, snapshot: Snapshot, policies: Policies): Action | undefined {
  const lineage = k.lineage;
  if (!k.managed || lineage === undefined || k.phase !== Phase.Retired) return undefined;
  if (k.state !== KeyState.PendingImport || k.hold) return undefined;
  if (!k.fingerprint || k.escrowFingerprint !== k.fingerprint) return undefined;
  if (snapshot.escrowUnreadable.includes(k.keyId)) return undefined;
  const policy = actionPolicy(policies, lineage, k.validityDaysOverride);
  const days = policyFor(policies, lineage).reviveValidityDays;
  return {
    kind: 'reimport',
    keyId: k.keyId,
    lineage,
    generation: k.generation ?? 0,
    policy: { ...policy, validityDays: days },
    revive: true,
    reason: `revive on demand: a read was refused (Rejected.PendingImport); valid ${days} d, then lapses again`,
  };
}
