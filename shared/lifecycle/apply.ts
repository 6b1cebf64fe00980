/**
 * Applying one action: its fresh precondition checks (a fresh KeyView, the alias as it is now) and
 * its writes, through the steps. The caller (execute.ts) holds the lineage lease and audits; an
 * action whose precondition no longer holds is `skipped` with the reason, never forced.
 * Everything an action needs is in the action (its resolved policy included): nothing is looked up
 * in a snapshot or in the configuration here.
 */
import { ErrorCode, OrchestratorError, isOrchestratorError } from '../errors.js';
import { KeyState } from '../kms/port.js';
import { isTagged, mirrorKeyTags } from './key-view.js';
import { Hold, Phase, Tag, aliasOf } from './model.js';
import type { Action } from './plan.js';
import type { EngineDeps } from './ports.js';
import { nextGeneration, provisionGeneration } from './provision.js';
import { fingerprintMaterial } from '../escrow/fingerprint.js';
import type { KeySpec } from '../wrap/index.js';
import {
  type RequestLog,
  checkBudget,
  freshKey,
  importMaterial,
  moveAlias,
  reimportFromEscrow,
  setHold,
} from './steps.js';

/**
 * The material of an `adopt` action, kept beside the action (never in it: actions are audited and
 * hashed into plan ids). The caller sets it before running the plan and zeroes it afterwards.
 */
export const adoptMaterials = new WeakMap<Action, Buffer>();

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
    case 'adopt':
      return adopt(deps, a, log);
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
      await mirrorKeyTags(deps, a.keyId);
      return ok('marked superseded; retention starts now');
    }
    case 'retire': {
      checkBudget(deps, `retire ${a.keyId}`);
      if ((await deps.kms.describeKey(aliasOf(a.lineage))).keyId === a.keyId) {
        return skipped('the alias points at this key again: not retired');
      }
      log.note(await deps.kms.tagResource(a.keyId, { [Tag.Phase]: Phase.Retired }));
      await mirrorKeyTags(deps, a.keyId);
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

/**
 * Takes an EXTERNAL key an operator filled by hand under management. The order, and why:
 * 1. Prove: re-import the given material with the key's current Valid Until. KMS binds a CMK to
 *    its first material and refuses any other (InvalidKeyMaterial): then we stop, nothing written.
 *    Only an Enabled key is adopted, so this import never makes usable any material that was not
 *    already usable: it writes the same material and the same expiry back.
 * 2. Escrow and read back, under the key id. Escrow has no delete and put never overwrites (a
 *    second put with other material is EscrowConflict forever), so escrowing before the proof would
 *    leave wrong material under the key id for good and block the right one: hence proof first.
 *    Invariant 1 (escrowed and read back before imported) holds for every import that adds
 *    material; a failure here leaves the key exactly as the operator had it, untagged.
 * 3. Tags (managed, lineage, generation, fingerprint, phase ready) only after the read-back, so the
 *    fingerprint tag always names a verified escrow record; then the alias.
 */
async function adopt(deps: EngineDeps, a: Extract<Action, { kind: 'adopt' }>, log: RequestLog): Promise<Applied> {
  const material = adoptMaterials.get(a);
  if (material === undefined) throw new OrchestratorError(ErrorCode.Internal, 'adopt: no material beside the action');
  const k = await freshKey(deps, a.keyId, log);
  if (isTagged(k)) return skipped(`already managed (lineage ${k.lineage}, generation ${k.generation}): not adopted`);
  if (k.state !== KeyState.Enabled) return skipped(`key is ${k.state} now: only an Enabled key is adopted`);
  // The generation decided before the lease is still the lineage's next one (no rotate in between).
  const target = await aliasTarget(deps, a.lineage);
  if (a.generation === 1 && target !== undefined && target !== a.keyId)
    return skipped(`${aliasOf(a.lineage)} now points at ${target}: not adopted`);
  if (a.generation > 1) {
    const next = await nextGeneration(deps, a.lineage);
    if (next.generation !== a.generation || next.keyId !== undefined)
      return skipped(`${aliasOf(a.lineage)} changed meanwhile (next generation ${next.generation}): not adopted`);
  }
  checkBudget(deps, `adopt ${a.keyId}`);
  const expireAtMs = k.materialExpireAtMs ?? 0;
  const keySpec = a.keySpec as KeySpec;
  const algorithm = a.wrappingAlgorithm;
  try {
    await importMaterial(deps, { keyId: a.keyId, material, keySpec, algorithm, expireAtMs }, log);
  } catch (err) {
    if (!isOrchestratorError(err, ErrorCode.KmsInvalidKeyMaterial)) throw err;
    const text =
      `the material is not the key's own: KMS refused it (InvalidKeyMaterial) for ${a.keyId}; ` +
      'nothing changed (no escrow, no tags, no alias)';
    throw new OrchestratorError(ErrorCode.PreconditionFailed, text, { details: { keyId: a.keyId } });
  }
  const fingerprint = fingerprintMaterial(material);
  const record = { keyId: a.keyId, lineage: a.lineage, generation: a.generation, keySpec: a.keySpec, fingerprint };
  await deps.escrow.put({ ...record, createdAtMs: deps.clock.nowMs(), material });
  const back = await deps.escrow.get(a.keyId);
  const same = back.fingerprint === fingerprint && back.material.equals(material);
  back.material.fill(0);
  if (!same) {
    const text = `escrow read-back of key ${a.keyId} differs from what was written; the key was not tagged`;
    throw new OrchestratorError(ErrorCode.EscrowMismatch, text, { details: { keyId: a.keyId } });
  }
  checkBudget(deps, `tag ${a.keyId}`);
  log.note(
    await deps.kms.tagResource(a.keyId, {
      [Tag.Managed]: 'true',
      [Tag.Lineage]: a.lineage,
      [Tag.Generation]: String(a.generation),
      [Tag.Fingerprint]: fingerprint,
      [Tag.Phase]: Phase.Ready,
    }),
  );
  await mirrorKeyTags(deps, a.keyId);
  const previous = await moveAlias(deps, a.lineage, a.keyId, log);
  if (previous !== undefined && previous !== a.keyId) {
    // As a rotation does: the generation the alias left is superseded (retention counts from now).
    const old = await freshKey(deps, previous, log);
    if (isTagged(old) && old.lineage === a.lineage && old.supersededAtMs === undefined) {
      const at = String(Math.floor(deps.clock.nowMs() / 1000));
      log.note(await deps.kms.tagResource(previous, { [Tag.SupersededAt]: at }));
      await mirrorKeyTags(deps, previous);
    }
  }
  const value = {
    keyId: a.keyId,
    generation: a.generation,
    ...(previous && previous !== a.keyId ? { previousKeyId: previous } : {}),
  };
  return ok(`adopted as generation ${a.generation} of ${aliasOf(a.lineage)}`, value);
}
