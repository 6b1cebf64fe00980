/**
 * The rules for one key of a lineage (pure): availability first (renew, re-import, record or
 * release a hold, alert on what must not be touched), then its escrow, the superseded mark the
 * alias move may have left undone, and the end of its retention.
 */
import { KeyState } from '../kms/port.js';
import { DAY_MS, Hold, Phase, type ActionPolicy, type KeyView, type LineagePolicy, type Snapshot } from './model.js';
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
      if (!retired && k.materialExpireAtMs !== undefined) {
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
      if (retired || k.hold) break; // deliberately revoked / disabled / past retention: stays down
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
  if (
    !retired &&
    k.keyId !== aliasTargetKeyId &&
    k.supersededAtMs !== undefined &&
    nowMs - k.supersededAtMs >= policy.retainPreviousDays * DAY_MS &&
    k.phase === Phase.Ready
  ) {
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
