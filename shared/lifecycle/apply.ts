/**
 * Applying one action: its fresh precondition checks (a fresh KeyView, the alias as it is now) and
 * its writes, through the steps. The caller (execute.ts) holds the lineage lease and audits; an
 * action whose precondition no longer holds is `skipped` with the reason, never forced.
 * Everything an action needs is in the action (its resolved policy included): nothing is looked up
 * in a snapshot or in the configuration here.
 */
import { ErrorCode, OrchestratorError, isOrchestratorError } from '../errors.js';
import { KeyState } from '../kms/port.js';
import { isTagged } from './key-view.js';
import { Hold, Phase, Tag, aliasOf } from './model.js';
import type { Action } from './plan.js';
import type { EngineDeps } from './ports.js';
import { nextGeneration, provisionGeneration } from './provision.js';
import { type RequestLog, checkBudget, freshKey, reimportFromEscrow, setHold } from './steps.js';

/** What an action produced, for the operator command that asked for it. */
export interface AppliedValue {
  keyId?: string;
  expireAtMs?: number;
  previousKeyId?: string;
  generation?: number;
}

/** How applying one action ended (a failure is thrown). */
export interface Applied {
  outcome: 'ok' | 'skipped' | 'alerted';
  detail: string;
  value?: AppliedValue;
}

const ok = (detail: string, value?: AppliedValue): Applied => ({ outcome: 'ok', detail, ...(value ? { value } : {}) });
const skipped = (detail: string, value?: AppliedValue): Applied => ({
  outcome: 'skipped',
  detail,
  ...(value ? { value } : {}),
});
const until = (ms: number | undefined) => (ms === undefined ? 'never' : new Date(ms).toISOString());

/** The key the lineage's alias points at now; undefined when there is no alias. */
async function aliasTarget(deps: EngineDeps, lineage: string): Promise<string | undefined> {
  try {
    return (await deps.kms.describeKey(aliasOf(lineage))).keyId;
  } catch (err) {
    if (isOrchestratorError(err, ErrorCode.KmsNotFound)) return undefined;
    throw err;
  }
}

/** Applies one action (the caller holds the lineage lease). */
export async function applyAction(deps: EngineDeps, a: Action, log: RequestLog): Promise<Applied> {
  switch (a.kind) {
    case 'alert':
      return { outcome: 'alerted', detail: a.reason };
    case 'renew':
    case 'reimport': {
      const expect = a.kind;
      const force = a.kind === 'renew' && a.force === true;
      const revive = a.kind === 'reimport' && a.revive === true;
      const r = await reimportFromEscrow(deps, { keyId: a.keyId, policy: a.policy, expect, force, revive }, log);
      if (!r.done) return skipped(r.reason);
      const value = { keyId: a.keyId, expireAtMs: r.expireAtMs };
      if (revive) return ok(`revived (dormant generation), valid until ${until(r.expireAtMs)}`, value);
      return ok(
        expect === 'renew' ? `renewed until ${until(r.expireAtMs)}` : `re-imported, valid until ${until(r.expireAtMs)}`,
        value,
      );
    }
    case 'resume': {
      const r = await provisionGeneration(
        deps,
        { lineage: a.lineage, generation: a.generation, policy: a.policy, keyId: a.keyId },
        log,
      );
      return ok(`generation ${a.generation} (${r.keyId}) completed`, { keyId: r.keyId, generation: a.generation });
    }
    case 'rotate': {
      // Fresh precondition under the lease: the alias still points where the plan saw it.
      const target = (await deps.kms.describeKey(aliasOf(a.lineage))).keyId;
      if (target !== a.fromKeyId) return skipped(`alias already moved to ${target} (another run rotated)`);
      // An operator's rotate names no generation: finish one being provisioned, else the next.
      const next =
        a.nextGeneration === undefined ? await nextGeneration(deps, a.lineage) : { generation: a.nextGeneration };
      const input = {
        lineage: a.lineage,
        generation: next.generation,
        policy: a.policy,
        ...(next.keyId ? { keyId: next.keyId } : {}),
      };
      const r = await provisionGeneration(deps, input, log);
      const value = {
        keyId: r.keyId,
        generation: next.generation,
        ...(r.previousKeyId ? { previousKeyId: r.previousKeyId } : {}),
      };
      return ok(`rotated to generation ${next.generation} (${r.keyId})`, value);
    }
    case 'onboard':
      return onboard(deps, a, log);
    case 'hold': {
      const k = await freshKey(deps, a.keyId, log);
      if (k.state !== KeyState.Disabled || k.hold)
        return skipped(`key is ${k.state}${k.hold ? ` with hold ${k.hold}` : ''} now`);
      await setHold(deps, a.keyId, a.hold, log);
      return ok(`hold ${a.hold} recorded`);
    }
    case 'release-hold': {
      const k = await freshKey(deps, a.keyId, log);
      if (k.state !== KeyState.Enabled || k.hold !== Hold.Disabled) return skipped('no longer applicable');
      await setHold(deps, a.keyId, null, log);
      return ok('hold released (operator re-enabled the key)');
    }
    case 'supersede': {
      const k = await freshKey(deps, a.keyId, log);
      if (k.supersededAtMs !== undefined) return skipped('already marked superseded');
      if ((await deps.kms.describeKey(aliasOf(a.lineage))).keyId === a.keyId)
        return skipped('the alias points at this key again');
      log.note(
        await deps.kms.tagResource(a.keyId, { [Tag.SupersededAt]: String(Math.floor(deps.clock.nowMs() / 1000)) }),
      );
      return ok('marked superseded; retention starts now');
    }
    case 'retire': {
      checkBudget(deps, `retire ${a.keyId}`);
      if ((await deps.kms.describeKey(aliasOf(a.lineage))).keyId === a.keyId) {
        return skipped('the alias points at this key again: not retired');
      }
      log.note(await deps.kms.tagResource(a.keyId, { [Tag.Phase]: Phase.Retired }));
      return ok('retired: no longer renewed; escrow kept for restore');
    }
    case 'revoke': {
      const k = await freshKey(deps, a.keyId, log);
      // Hold first: a sweep that sees PendingImport in between must not re-import.
      await setHold(deps, a.keyId, Hold.Revoked, log);
      if (k.state !== KeyState.PendingDeletion) log.note(await deps.kms.deleteKeyMaterial(a.keyId));
      return ok('revoked: hold recorded, material deleted; escrow kept', { keyId: a.keyId });
    }
    case 'restore': {
      const k = await freshKey(deps, a.keyId, log);
      if (k.state !== KeyState.PendingImport) {
        if (k.hold) await setHold(deps, a.keyId, null, log);
        return ok(`hold cleared; key is ${k.state}`, { keyId: a.keyId, expireAtMs: k.materialExpireAtMs });
      }
      // The hold stays until the material is back: a restore that fails or is refused keeps it.
      const revive = a.revive === true;
      const input = { keyId: a.keyId, policy: a.policy, expect: 'reimport' as const, revive, held: true };
      const r = await reimportFromEscrow(deps, input, log);
      if (!r.done) return skipped(r.reason);
      if (k.hold) await setHold(deps, a.keyId, null, log);
      const what = revive ? 'revived (dormant generation)' : 'restored';
      return ok(`${what}, valid until ${until(r.expireAtMs)}`, { keyId: a.keyId, expireAtMs: r.expireAtMs });
    }
    default: {
      const exhaustive: never = a;
      throw new Error(`unknown action ${JSON.stringify(exhaustive)}`);
    }
  }
}

/**
 * Generation 1 of a lineage, unless the alias already names the lineage's ready key (skipped, with
 * that key). An alias pointing at a key this tool does not manage is refused.
 */
async function onboard(deps: EngineDeps, a: Extract<Action, { kind: 'onboard' }>, log: RequestLog): Promise<Applied> {
  const existing = await aliasTarget(deps, a.lineage);
  if (existing !== undefined) {
    const k = await freshKey(deps, existing, log);
    if (isTagged(k) && k.lineage === a.lineage && k.phase === Phase.Ready) {
      return skipped(`already onboarded: ${aliasOf(a.lineage)} names generation ${k.generation} (${k.keyId})`, {
        keyId: k.keyId,
      });
    }
    if (!isTagged(k) || k.lineage !== a.lineage) {
      const text = `${aliasOf(a.lineage)} already points at a key this tool does not manage (${existing})`;
      throw new OrchestratorError(ErrorCode.PreconditionFailed, text, { details: { field: 'alias', keyId: existing } });
    }
  }
  const r = await provisionGeneration(deps, { lineage: a.lineage, generation: 1, policy: a.policy }, log);
  return ok(`onboarded: generation 1 is ${r.keyId}`, { keyId: r.keyId, generation: 1 });
}
