/**
 * The engine: observe -> plan -> execute, and the on-call commands built on the same steps.
 * Every decision and every write is audited (an intent before, an outcome after, with KMS request
 * ids). A failure on one lineage never stops the others (invariant 7); writes on a lineage happen
 * only under its lease (docs/design.md §4).
 */
import { ErrorCode, OrchestratorError, isOrchestratorError } from '../errors.js';
import { KeyOrigin, KeyState } from '../kms/port.js';
import { parseLineage } from '../lineage.js';
import { acquireLease, leaseDeadline, leaseDeps, type Lease } from './lease.js';
import { DAY_MS, Hold, Phase, Tag, aliasOf, lineagesOf, policyFor, type LineagePolicy, type Snapshot } from './model.js';
import { observe } from './observe.js';
import { planSweep, strayEscrowVersionsReason, type Action, type Plan } from './plan.js';
import { CheckpointAbort, type EngineDeps } from './ports.js';
import { RequestLog, checkBudget, freshKey, provisionGeneration, reimportFromEscrow, setHold } from './steps.js';

/** How one action ended. */
export type Outcome = 'ok' | 'failed' | 'skipped' | 'deferred' | 'alerted';

/** One executed action. */
export interface ActionResult {
  action: Action;
  outcome: Outcome;
  detail: string;
  errorCode?: string;
  kmsRequestIds: string[];
}

/** What a sweep did. */
export interface SweepResult {
  planId: string;
  results: ActionResult[];
  counts: Record<Outcome, number>;
  /** True when a critical alert was raised or an action failed: worth paging someone. */
  alertWorthy: boolean;
}

/** A stable, secret-free one-line summary of an error for results and audit. */
function errorSummary(err: unknown): { code: string; message: string } {
  if (isOrchestratorError(err)) return { code: err.code, message: err.message };
  return { code: ErrorCode.Internal, message: 'internal error' };
}

/** Runs one action (the caller holds the lineage lease). */
async function runAction(deps: EngineDeps, a: Action, log: RequestLog, snapshot: Snapshot): Promise<{ outcome: Outcome; detail: string }> {
  const policy = (lineage: string): LineagePolicy => policyFor(deps.policies, lineage);
  switch (a.kind) {
    case 'alert':
      return { outcome: 'alerted', detail: a.reason };
    case 'renew': {
      const r = await reimportFromEscrow(deps, { keyId: a.keyId, validityDays: a.validityDays, expect: 'renew', renewBeforeDays: policy(a.lineage).renewBeforeDays }, log);
      return r.done ? { outcome: 'ok', detail: `renewed until ${new Date(r.expireAtMs!).toISOString()}` } : { outcome: 'skipped', detail: r.reason };
    }
    case 'reimport': {
      const r = await reimportFromEscrow(deps, { keyId: a.keyId, validityDays: a.validityDays, expect: 'reimport' }, log);
      return r.done ? { outcome: 'ok', detail: `re-imported, valid until ${new Date(r.expireAtMs!).toISOString()}` } : { outcome: 'skipped', detail: r.reason };
    }
    case 'resume': {
      const key = snapshot.keys.find((k) => k.keyId === a.keyId);
      const r = await provisionGeneration(deps, { lineage: a.lineage, generation: a.generation, policy: policyFor(deps.policies, a.lineage, key?.validityDaysOverride), keyId: a.keyId, validityDaysTag: key?.validityDaysOverride }, log);
      return { outcome: 'ok', detail: `generation ${a.generation} (${r.keyId}) completed` };
    }
    case 'rotate': {
      // Fresh precondition under the lease: the alias still points where the plan saw it.
      const target = (await deps.kms.describeKey(aliasOf(a.lineage))).keyId;
      if (target !== a.fromKeyId) return { outcome: 'skipped', detail: `alias already moved to ${target} (another run rotated)` };
      const from = snapshot.keys.find((k) => k.keyId === a.fromKeyId);
      const r = await provisionGeneration(deps, { lineage: a.lineage, generation: a.nextGeneration, policy: policyFor(deps.policies, a.lineage, from?.validityDaysOverride), validityDaysTag: from?.validityDaysOverride }, log);
      return { outcome: 'ok', detail: `rotated to generation ${a.nextGeneration} (${r.keyId})` };
    }
    case 'hold': {
      const { meta, tags } = await freshKey(deps, a.keyId, log);
      if (meta.keyState !== KeyState.Disabled || tags[Tag.Hold]) return { outcome: 'skipped', detail: `key is ${meta.keyState}${tags[Tag.Hold] ? ` with hold ${tags[Tag.Hold]}` : ''} now` };
      await setHold(deps, a.keyId, a.hold, log);
      return { outcome: 'ok', detail: `hold ${a.hold} recorded` };
    }
    case 'release-hold': {
      const { meta, tags } = await freshKey(deps, a.keyId, log);
      if (meta.keyState !== KeyState.Enabled || tags[Tag.Hold] !== Hold.Disabled) return { outcome: 'skipped', detail: 'no longer applicable' };
      await setHold(deps, a.keyId, null, log);
      return { outcome: 'ok', detail: 'hold released (operator re-enabled the key)' };
    }
    case 'supersede': {
      const tags = await deps.kms.listResourceTags(a.keyId);
      if (tags[Tag.SupersededAt]) return { outcome: 'skipped', detail: 'already marked superseded' };
      if ((await deps.kms.describeKey(aliasOf(a.lineage))).keyId === a.keyId) return { outcome: 'skipped', detail: 'the alias points at this key again' };
      log.note(await deps.kms.tagResource(a.keyId, { [Tag.SupersededAt]: String(Math.floor(deps.clock.nowMs() / 1000)) }));
      return { outcome: 'ok', detail: 'marked superseded; retention starts now' };
    }
    case 'retire': {
      checkBudget(deps, `retire ${a.keyId}`);
      if ((await deps.kms.describeKey(aliasOf(a.lineage))).keyId === a.keyId) return { outcome: 'skipped', detail: 'the alias points at this key again: not retired' };
      log.note(await deps.kms.tagResource(a.keyId, { [Tag.Phase]: Phase.Retired }));
      return { outcome: 'ok', detail: 'retired: no longer renewed; escrow kept for restore' };
    }
    default: {
      const exhaustive: never = a;
      throw new Error(`unknown action ${JSON.stringify(exhaustive)}`);
    }
  }
}

/** Executes a plan: per lineage, under its lease, each action audited. */
export async function executePlan(deps: EngineDeps, plan: Plan, snapshot: Snapshot): Promise<SweepResult> {
  const results: ActionResult[] = [];
  const audit = (e: Parameters<EngineDeps['audit']['record']>[0]) => deps.audit.record({ planId: plan.planId, ...e });
  for (const a of plan.actions) {
    await audit({ action: a.kind, phase: 'decision', keyId: 'keyId' in a ? a.keyId : undefined, lineage: a.lineage, reason: a.reason });
  }
  // Group by lineage, keeping plan order inside a lineage; alerts need no lease.
  const groups = new Map<string, Action[]>();
  for (const a of plan.actions) {
    if (a.kind === 'alert') {
      results.push({ action: a, outcome: 'alerted', detail: a.reason, kmsRequestIds: [] });
      continue;
    }
    const key = a.lineage ?? '';
    groups.set(key, [...(groups.get(key) ?? []), a]);
  }
  for (const [lineage, actions] of groups) {
    let lease: Lease | undefined;
    try {
      checkBudget(deps, `lineage ${lineage}`);
      lease = await acquireLease(leaseDeps(deps), lineage, actions.map((a) => a.kind).join(','));
    } catch (err) {
      const e = errorSummary(err);
      const outcome: Outcome = e.code === ErrorCode.LeaseHeld ? 'skipped' : e.code === ErrorCode.TimeBudgetExhausted ? 'deferred' : 'failed';
      for (const a of actions) {
        results.push({ action: a, outcome, detail: e.message, errorCode: e.code, kmsRequestIds: [] });
        await audit({ action: a.kind, phase: 'outcome', keyId: 'keyId' in a ? a.keyId : undefined, lineage, outcome: outcome === 'failed' ? 'failed' : 'skipped', errorCode: e.code, reason: e.message });
      }
      continue;
    }
    let abandoned = false;
    const leased: EngineDeps = { ...deps, deadlineMs: Math.min(deps.deadlineMs ?? Infinity, leaseDeadline(lease, deps.leaseTtlMs)) };
    await audit({ action: 'lease', phase: 'outcome', lineage, outcome: 'ok', reason: `lineage lease ${lease.seq} taken`, details: { seq: lease.seq } });
    try {
      for (const a of actions) {
        const log = new RequestLog();
        const keyId = 'keyId' in a ? a.keyId : undefined;
        deps.progress?.(`${a.kind} ${lineage}${keyId ? ` ${keyId}` : ''}: ${a.reason}`);
        await audit({ action: a.kind, phase: 'intent', keyId, lineage, reason: a.reason });
        try {
          const r = await runAction(leased, a, log, snapshot);
          results.push({ action: a, outcome: r.outcome, detail: r.detail, kmsRequestIds: log.ids });
          await audit({ action: a.kind, phase: 'outcome', keyId, lineage, outcome: r.outcome === 'ok' ? 'ok' : 'skipped', reason: r.detail, kmsRequestIds: log.ids });
        } catch (err) {
          if (err instanceof CheckpointAbort) {
            abandoned = true; // a simulated process death: no outcome, no lease release
            throw err;
          }
          const e = errorSummary(err);
          const outcome: Outcome = e.code === ErrorCode.TimeBudgetExhausted ? 'deferred' : 'failed';
          results.push({ action: a, outcome, detail: e.message, errorCode: e.code, kmsRequestIds: log.ids });
          await audit({ action: a.kind, phase: 'outcome', keyId, lineage, outcome: outcome === 'failed' ? 'failed' : 'skipped', errorCode: e.code, reason: e.message, kmsRequestIds: log.ids });
          if (outcome === 'deferred') break;
        }
      }
    } finally {
      if (!abandoned) await lease.release();
    }
  }
  return summarise(plan.planId, results);
}

function summarise(planId: string, results: ActionResult[]): SweepResult {
  const counts: Record<Outcome, number> = { ok: 0, failed: 0, skipped: 0, deferred: 0, alerted: 0 };
  for (const r of results) counts[r.outcome]++;
  const alertWorthy = counts.failed > 0 || results.some((r) => r.action.kind === 'alert' && r.action.severity === 'critical');
  return { planId, results, counts, alertWorthy };
}

/** Observe the account (read-only). */
export function snapshotOf(deps: EngineDeps): Promise<Snapshot> {
  return observe({ kms: deps.kms, escrow: deps.escrow, nowMs: () => deps.clock.nowMs(), ...(deps.instances === undefined ? {} : { instances: deps.instances }) });
}

/** A dry run: what the next sweep would do. */
export async function planNow(deps: EngineDeps): Promise<{ snapshot: Snapshot; plan: Plan }> {
  const snapshot = await snapshotOf(deps);
  return { snapshot, plan: planSweep(snapshot, deps.policies, deps.clock.nowMs()) };
}

/** The main loop body: observe, plan, execute. */
export async function sweep(deps: EngineDeps, options: { lineage?: string } = {}): Promise<SweepResult & { plan: Plan }> {
  const snapshot = await snapshotOf(deps);
  let plan = planSweep(snapshot, deps.policies, deps.clock.nowMs());
  if (options.lineage) plan = { ...plan, actions: plan.actions.filter((a) => a.lineage === options.lineage) };
  const result = await executePlan(deps, plan, snapshot);
  return { ...result, plan };
}

/** Runs one operator command's writes on a lineage under its lease, audited. */
async function underLease<T>(deps: EngineDeps, lineage: string, action: string, keyId: string | undefined, reason: string, fn: (log: RequestLog, leased: EngineDeps) => Promise<T>): Promise<T> {
  const lease = await acquireLease(leaseDeps(deps), lineage, action);
  const log = new RequestLog();
  let abandoned = false;
  try {
    await deps.audit.record({ action, phase: 'intent', keyId, lineage, reason, details: { leaseSeq: lease.seq } });
    const out = await fn(log, { ...deps, deadlineMs: Math.min(deps.deadlineMs ?? Infinity, leaseDeadline(lease, deps.leaseTtlMs)) });
    await deps.audit.record({ action, phase: 'outcome', keyId, lineage, outcome: 'ok', reason, kmsRequestIds: log.ids });
    return out;
  } catch (err) {
    if (err instanceof CheckpointAbort) {
      abandoned = true;
      throw err;
    }
    const e = errorSummary(err);
    await deps.audit.record({ action, phase: 'outcome', keyId, lineage, outcome: 'failed', errorCode: e.code, reason: e.message, kmsRequestIds: log.ids });
    throw err;
  } finally {
    if (!abandoned) await lease.release();
  }
}

/** The one lineage-name parser (shared/lineage.ts), re-exported where the commands live. */
export { parseLineage } from '../lineage.js';

/** Onboards a lineage: generation 1 with fresh material, escrowed, imported, self-tested, aliased. Idempotent. */
export async function onboard(deps: EngineDeps, input: { alias: string; validityDays?: number; keySpec?: LineagePolicy['keySpec'] }): Promise<{ lineage: string; keyId: string; created: boolean }> {
  const lineage = parseLineage(input.alias);
  if (input.validityDays !== undefined && (!Number.isInteger(input.validityDays) || input.validityDays < 2 || input.validityDays > 3650)) {
    throw new OrchestratorError(ErrorCode.InvalidInput, 'validity-days: must be a whole number from 2 to 3650', { details: { field: 'validity-days' } });
  }
  let policy = policyFor(deps.policies, lineage, input.validityDays);
  if (input.keySpec) policy = { ...policy, keySpec: input.keySpec };
  if (policy.renewBeforeDays >= policy.validityDays) {
    throw new OrchestratorError(ErrorCode.InvalidInput, `validity-days: must be greater than renewBeforeDays (${policy.renewBeforeDays})`, { details: { field: 'validity-days' } });
  }
  // Already onboarded? The alias names a managed, ready key of this lineage.
  try {
    const existing = await deps.kms.describeKey(aliasOf(lineage));
    const tags = await deps.kms.listResourceTags(existing.keyId);
    if (tags[Tag.Lineage] === lineage && tags[Tag.Phase] === Phase.Ready) return { lineage, keyId: existing.keyId, created: false };
    if (tags[Tag.Lineage] !== lineage) {
      throw new OrchestratorError(ErrorCode.PreconditionFailed, `alias/${lineage} already points at a key this tool does not manage (${existing.keyId})`, { details: { field: 'alias', keyId: existing.keyId } });
    }
  } catch (err) {
    if (!isOrchestratorError(err, ErrorCode.KmsNotFound)) throw err;
  }
  return underLease(deps, lineage, 'onboard', undefined, `onboard alias/${lineage}`, async (log, d) => {
    const r = await provisionGeneration(d, { lineage, generation: 1, policy, validityDaysTag: input.validityDays }, log);
    return { lineage, keyId: r.keyId, created: true };
  });
}

/** Resolves an alias or key id to a managed key's id and tags. */
async function managedKey(deps: EngineDeps, aliasOrKey: string): Promise<{ keyId: string; lineage: string; tags: Record<string, string>; state: string }> {
  const meta = await deps.kms.describeKey(aliasOrKey);
  const tags = await deps.kms.listResourceTags(meta.keyId);
  const lineage = tags[Tag.Lineage];
  if (tags[Tag.Managed] !== 'true' || !lineage) {
    throw new OrchestratorError(ErrorCode.NotManaged, `key ${meta.keyId} is not managed by this tool`, { details: { keyId: meta.keyId } });
  }
  return { keyId: meta.keyId, lineage, tags, state: meta.keyState };
}

/** Renews one key now (re-import from escrow with a fresh Valid Until), whatever its time left. */
export async function renewNow(deps: EngineDeps, aliasOrKey: string): Promise<{ keyId: string; expireAtMs?: number; detail: string }> {
  const k = await managedKey(deps, aliasOrKey);
  const policy = policyFor(deps.policies, k.lineage, Number(k.tags[Tag.ValidityDays]) || undefined);
  return underLease(deps, k.lineage, 'renew', k.keyId, 'operator renew', async (log, d) => {
    const r = await reimportFromEscrow(d, { keyId: k.keyId, validityDays: policy.validityDays, expect: 'renew' }, log);
    if (!r.done) throw new OrchestratorError(ErrorCode.PreconditionFailed, `not renewed: ${r.reason}`, { details: { keyId: k.keyId } });
    return { keyId: k.keyId, expireAtMs: r.expireAtMs, detail: r.reason };
  });
}

/** Rotates a lineage now: next generation, self-tested, alias moved. */
export async function rotateNow(deps: EngineDeps, alias: string): Promise<{ lineage: string; keyId: string; previousKeyId?: string; generation: number }> {
  const lineage = parseLineage(alias);
  const current = await managedKey(deps, aliasOf(lineage));
  const snapshot = await snapshotOf(deps);
  const l = lineagesOf(snapshot).find((x) => x.lineage === lineage);
  const pending = l?.keys.find((k) => k.untaggedMarker || k.phase === Phase.Provisioning);
  const next = pending?.generation ?? Math.max(...(l?.keys.map((k) => k.generation ?? 0) ?? [0])) + 1;
  const override = Number(current.tags[Tag.ValidityDays]) || undefined;
  return underLease(deps, lineage, 'rotate', current.keyId, 'operator rotate', async (log, d) => {
    const r = await provisionGeneration(d, { lineage, generation: next, policy: policyFor(d.policies, lineage, override), keyId: pending?.keyId, validityDaysTag: override }, log);
    return { lineage, keyId: r.keyId, previousKeyId: r.previousKeyId, generation: next };
  });
}

/** Re-imports escrowed material into a key in PendingImport (not if revoked or disabled: use restore). */
export async function reimportNow(deps: EngineDeps, keyId: string): Promise<{ keyId: string; expireAtMs?: number }> {
  const k = await managedKey(deps, keyId);
  const policy = policyFor(deps.policies, k.lineage, Number(k.tags[Tag.ValidityDays]) || undefined);
  return underLease(deps, k.lineage, 'reimport', k.keyId, 'operator reimport', async (log, d) => {
    const r = await reimportFromEscrow(d, { keyId: k.keyId, validityDays: policy.validityDays, expect: 'reimport' }, log);
    if (!r.done) throw new OrchestratorError(ErrorCode.PreconditionFailed, `not re-imported: ${r.reason}`, { details: { keyId: k.keyId } });
    return { keyId: k.keyId, expireAtMs: r.expireAtMs };
  });
}

/**
 * Revokes on purpose (crypto-shred / kill switch): marks the key revoked, then deletes its
 * material. Escrow is kept, so `restore` can bring it back. Needs `confirm` equal to the key id.
 */
export async function revoke(deps: EngineDeps, keyId: string, confirm: string | undefined): Promise<{ keyId: string }> {
  const k = await managedKey(deps, keyId);
  if (confirm !== k.keyId) {
    throw new OrchestratorError(ErrorCode.ConfirmationRequired, `revoke deletes the key material of ${k.keyId}; repeat the key id with --confirm to proceed`, { details: { field: 'confirm', keyId: k.keyId } });
  }
  return underLease(deps, k.lineage, 'revoke', k.keyId, 'operator revoke', async (log, d) => {
    // Hold first: a sweep that sees PendingImport in between must not re-import.
    await setHold(d, k.keyId, Hold.Revoked, log);
    if (k.state !== KeyState.PendingDeletion) log.note(await d.kms.deleteKeyMaterial(k.keyId));
    return { keyId: k.keyId };
  });
}

/** Restores a revoked (or operator-held) key: clears the hold and re-imports the escrowed material. */
export async function restore(deps: EngineDeps, keyId: string): Promise<{ keyId: string; expireAtMs?: number }> {
  const k = await managedKey(deps, keyId);
  const policy = policyFor(deps.policies, k.lineage, Number(k.tags[Tag.ValidityDays]) || undefined);
  return underLease(deps, k.lineage, 'restore', k.keyId, 'operator restore', async (log, d) => {
    if (k.tags[Tag.Hold]) await setHold(d, k.keyId, null, log);
    const { meta } = await freshKey(d, k.keyId, log);
    if (meta.keyState !== KeyState.PendingImport) return { keyId: k.keyId, expireAtMs: meta.materialExpireAtMs };
    const r = await reimportFromEscrow(d, { keyId: k.keyId, validityDays: policy.validityDays, expect: 'reimport' }, log);
    if (!r.done) throw new OrchestratorError(ErrorCode.PreconditionFailed, `not restored: ${r.reason}`, { details: { keyId: k.keyId } });
    return { keyId: k.keyId, expireAtMs: r.expireAtMs };
  });
}

/** One row of verify-escrow. */
export interface EscrowCheck {
  keyId: string;
  lineage?: string;
  ok: boolean;
  detail: string;
}

/**
 * Reads every managed key's escrow back and checks it against the key's fingerprint tag; a record
 * whose secret holds more versions than the orchestrator wrote fails the check, with the fix.
 */
export async function verifyEscrow(deps: EngineDeps): Promise<EscrowCheck[]> {
  const snapshot = await snapshotOf(deps);
  const out: EscrowCheck[] = [];
  for (const k of snapshot.keys.filter((x) => x.managed)) {
    if (!k.fingerprint) {
      out.push({ keyId: k.keyId, lineage: k.lineage, ok: k.phase !== Phase.Ready, detail: k.phase === Phase.Ready ? 'no fingerprint tag' : 'provisioning: no material yet' });
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
        out.push({ keyId: k.keyId, lineage: k.lineage, ok: false, detail: `escrow matches the key fingerprint, but ${strayEscrowVersionsReason(k.keyId, versions)}` });
      } else {
        out.push({ keyId: k.keyId, lineage: k.lineage, ok, detail: ok ? 'escrow matches the key fingerprint' : 'escrow holds different material' });
      }
    } catch (err) {
      out.push({ keyId: k.keyId, lineage: k.lineage, ok: false, detail: errorSummary(err).message });
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
    const a = plan.actions.filter((x) => ('keyId' in x && x.keyId === keyId) || (x.kind === 'rotate' && x.fromKeyId === keyId));
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
      daysLeft: k.materialExpireAtMs === undefined ? undefined : Math.floor(((k.materialExpireAtMs - nowMs) / DAY_MS) * 10) / 10,
      escrowOk: k.managed ? k.escrowFingerprint !== undefined && k.escrowFingerprint === k.fingerprint : false,
      next: k.managed ? nextFor(k.keyId) : 'not managed (report only)',
    }))
    .sort((a, b) => (a.lineage ?? '~').localeCompare(b.lineage ?? '~') || (a.generation ?? 0) - (b.generation ?? 0));
  return { nowMs, rows, plan };
}

/** Plans and executes for one key's or alias's lineage only (webhook-targeted checks). */
export async function checkTarget(deps: EngineDeps, target: { keyId?: string; alias?: string }): Promise<SweepResult & { plan: Plan; lineage?: string }> {
  const snapshot = await snapshotOf(deps);
  const lineage = target.alias ? parseLineage(target.alias) : snapshot.keys.find((k) => k.keyId === target.keyId)?.lineage;
  const full = planSweep(snapshot, deps.policies, deps.clock.nowMs());
  const plan: Plan = { ...full, actions: lineage ? full.actions.filter((a) => a.lineage === lineage) : [] };
  const result = await executePlan(deps, plan, snapshot);
  return { ...result, plan, lineage };
}
