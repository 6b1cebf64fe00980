/**
 * Reports (read-only): status of every lineage and EXTERNAL key with the next action a sweep would
 * take, and verify-escrow, which reads every escrow record back against its key's fingerprint tag.
 */
import { KeyOrigin } from '../kms/port.js';
import { errorSummary } from './execute.js';
import { DAY_MS, Phase } from './model.js';
import { strayEscrowVersionsReason } from './plan-alerts.js';
import type { Plan } from './plan.js';
import type { EngineDeps } from './ports.js';
import { observe } from './observe.js';
import { planNow } from './sweep.js';

/** One row of verify-escrow. */
export interface EscrowCheck {
  keyId: string;
  lineage?: string;
  ok: boolean;
  detail: string;
}

/**
 * Reads every managed key's escrow back and checks it against the key's fingerprint tag; a record
 * whose secret holds more versions than the orchestrator wrote fails the check, with the fix. Deep
 * on purpose: every key's own tags (no mirror) and every record read back in full (versions
 * counted), whatever the day's samples.
 */
export async function verifyEscrow(deps: EngineDeps): Promise<EscrowCheck[]> {
  const snapshot = await observe({
    kms: deps.kms,
    escrow: deps.escrow,
    nowMs: () => deps.clock.nowMs(),
    ...(deps.kmsConcurrency === undefined ? {} : { concurrency: deps.kmsConcurrency }),
    ...(deps.instances === undefined ? {} : { instances: deps.instances }),
    ...(deps.log === undefined ? {} : { log: deps.log }),
    useMirror: false,
    escrowList: { deepVerify: () => true },
  });
  const out: EscrowCheck[] = [];
  for (const k of snapshot.keys.filter((x) => x.managed)) {
    if (!k.fingerprint) {
      out.push({
        keyId: k.keyId,
        lineage: k.lineage,
        ok: k.phase !== Phase.Ready,
        detail: k.phase === Phase.Ready ? 'no fingerprint tag' : 'provisioning: no material yet',
      });
      continue;
    }
    try {
      const rec = await deps.escrow.get(k.keyId);
      const ok = rec.fingerprint === k.fingerprint;
      rec.material.fill(0);
      // Matching material in a secret others have written to is not "ok": the escrowed version is
      // the oldest, the first one Secrets Manager drops (observe counted the versions).
      const versions = snapshot.escrow[k.keyId]?.versionCount;
      if (ok && versions !== undefined) {
        out.push({
          keyId: k.keyId,
          lineage: k.lineage,
          ok: false,
          detail: `escrow matches the key fingerprint, but ${strayEscrowVersionsReason(k.keyId, versions)}`,
        });
      } else {
        out.push({
          keyId: k.keyId,
          lineage: k.lineage,
          ok,
          detail: ok ? 'escrow matches the key fingerprint' : 'escrow holds different material',
        });
      }
    } catch (err) {
      out.push({
        keyId: k.keyId,
        lineage: k.lineage,
        ok: false,
        detail: errorSummary(err, deps.log, { keyId: k.keyId }).message,
      });
    }
  }
  return out;
}

/** One status row per EXTERNAL key, managed or not. */
export interface StatusRow {
  alias: string;
  keyId: string;
  lineage?: string;
  generation?: number;
  managed: boolean;
  state: string;
  phase?: string;
  hold?: string;
  materialExpireAtMs?: number;
  /** Days of material left, one decimal, rounded down. */
  daysLeft?: number;
  escrowOk: boolean;
  next: string;
}

/** Status: every lineage and EXTERNAL key, with the next action the sweep would take. */
export async function status(deps: EngineDeps): Promise<{ nowMs: number; rows: StatusRow[]; plan: Plan }> {
  const { snapshot, plan } = await planNow(deps);
  const nowMs = deps.clock.nowMs();
  const nextFor = (keyId: string): string => {
    const a = plan.actions.filter(
      (x) => ('keyId' in x && x.keyId === keyId) || (x.kind === 'rotate' && x.fromKeyId === keyId),
    );
    return a.length ? a.map((x) => (x.kind === 'alert' ? `alert(${x.severity})` : x.kind)).join(', ') : 'nothing';
  };
  const rows: StatusRow[] = snapshot.keys
    .filter((k) => k.origin === KeyOrigin.External)
    .map((k) => ({
      alias: k.aliases.join(' ') || '-',
      keyId: k.keyId,
      lineage: k.lineage,
      generation: k.generation,
      managed: k.managed,
      state: k.state,
      phase: k.phase,
      hold: k.hold,
      materialExpireAtMs: k.materialExpireAtMs,
      // One decimal, rounded down: a key onboarded with 30 days shows 29.9, not a misleading 29.
      daysLeft:
        k.materialExpireAtMs === undefined
          ? undefined
          : Math.floor(((k.materialExpireAtMs - nowMs) / DAY_MS) * 10) / 10,
      escrowOk: k.managed ? k.escrowFingerprint !== undefined && k.escrowFingerprint === k.fingerprint : false,
      next: k.managed ? nextFor(k.keyId) : 'not managed (report only)',
    }))
    .sort((a, b) => (a.lineage ?? '~').localeCompare(b.lineage ?? '~') || (a.generation ?? 0) - (b.generation ?? 0));
  return { nowMs, rows, plan };
}
