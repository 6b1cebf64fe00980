/**
 * The on-call commands, each a single-lineage plan: the command resolves its target (which key,
 * which lineage, under which policy: the only reads outside the lease), builds one action whose
 * reason is the command's intent ("operator rotate") and whose actor is the operator, and hands it
 * to the same executor a sweep uses (execute.ts): same lease, same audit, same deadline, same fresh
 * precondition checks. What the executor reports back becomes the command's answer or its error:
 * an action skipped because its precondition no longer holds is a PreconditionFailed naming why.
 *
 * Longer than ~300 lines on purpose: one short function per on-call command, side by side, so the
 * mapping from command to action and from outcome to answer reads in one place.
 */
import { ErrorCode, OrchestratorError } from '../errors.js';
import { KeyState } from '../kms/port.js';
import { ALIAS_PREFIX, isLineage, parseLineage } from '../lineage.js';
import { adoptMaterials } from './apply.js';
import { type ActionRun, runPlan } from './execute.js';
import { isTagged, toKeyView } from './key-view.js';
import {
  type ActionPolicy,
  actionPolicy,
  aliasOf,
  type KeyView,
  type LineagePolicy,
  Phase,
  policyFor,
} from './model.js';
import { planIdOf, type Action, type Plan } from './plan.js';
import type { EngineDeps } from './ports.js';
import { nextGeneration } from './provision.js';

/** The single-lineage plan of one operator command: one action, the operator as its actor. */
export function operatorPlan(deps: EngineDeps, action: Action): Plan {
  const createdAtMs = deps.clock.nowMs();
  return { planId: planIdOf([action], createdAtMs), createdAtMs, actor: deps.actor, actions: [action] };
}

/** Executes an operator's action; the error it stopped on (a failure, the lease refused) is the command's. */
async function execute(deps: EngineDeps, action: Action, material?: Buffer): Promise<ActionRun> {
  const plan = operatorPlan(deps, action);
  const [planned] = plan.actions;
  if (material !== undefined && planned !== undefined) adoptMaterials.set(planned, material);
  const [run] = await runPlan(deps, plan, { announce: false });
  if (run === undefined)
    throw new OrchestratorError(ErrorCode.Internal, `${action.kind}: the executor returned no result`);
  if (run.error !== undefined) throw run.error;
  return run;
}

/** The error of an action that was skipped: it was not done, and why. */
function notDone(what: string, run: ActionRun, keyId: string): OrchestratorError {
  return new OrchestratorError(ErrorCode.PreconditionFailed, `not ${what}: ${run.detail}`, { details: { keyId } });
}

/** Resolves an alias or key id to a managed key: it names the lineage whose lease the command takes. */
async function managedKey(deps: EngineDeps, aliasOrKey: string): Promise<KeyView & { lineage: string }> {
  const meta = await describeTarget(deps, aliasOrKey);
  const key = toKeyView(meta, await deps.kms.listResourceTags(meta.keyId), []);
  if (!isTagged(key) || key.lineage === undefined) {
    const text =
      `key ${meta.keyId} is not managed by this tool: adopt it with \`npm run ops -- adopt ${meta.keyId} ` +
      '--material-file <path> --alias <alias>` (the raw material you imported), or use the right key';
    throw new OrchestratorError(ErrorCode.NotManaged, text, { details: { keyId: meta.keyId } });
  }
  return { ...key, lineage: key.lineage };
}

/**
 * Describes a key id, `alias/<lineage>`, or a bare lineage name (the forms `onboard` accepts): a
 * target that is not found as given but is a valid lineage name is looked up as its alias.
 */
async function describeTarget(deps: EngineDeps, target: string) {
  try {
    return await deps.kms.describeKey(target);
  } catch (err) {
    const notFound = err instanceof OrchestratorError && err.code === ErrorCode.KmsNotFound;
    if (!notFound || target.startsWith(ALIAS_PREFIX) || !isLineage(target)) throw err;
    return deps.kms.describeKey(aliasOf(target));
  }
}

/**
 * The policy a re-import or restore of `k` runs under: a retired (dormant) generation is revived,
 * its material valid for the lineage's `reviveValidityDays` only (it lapses again unless renewed).
 */
function importOf(deps: EngineDeps, k: KeyView & { lineage: string }): { policy: ActionPolicy; revive?: true } {
  const policy = actionPolicy(deps.policies, k.lineage, k.validityDaysOverride);
  if (k.phase !== Phase.Retired) return { policy };
  const reviveDays = policyFor(deps.policies, k.lineage).reviveValidityDays;
  return { policy: { ...policy, validityDays: reviveDays }, revive: true };
}

/**
 * The re-import an operator's `reimport` or `restore` asks for: the escrowed material with the key's
 * policy, or, for a dormant (retired) generation, a revival with the bounded revive validity.
 */
function importAction(deps: EngineDeps, k: KeyView & { lineage: string }, kind: 'reimport' | 'restore'): Action {
  return {
    kind,
    keyId: k.keyId,
    lineage: k.lineage,
    generation: k.generation ?? 0,
    ...importOf(deps, k),
    reason: k.phase === Phase.Retired ? `operator revive (${kind} of a dormant generation)` : `operator ${kind}`,
  };
}

/** Onboards a lineage: generation 1 with fresh material, escrowed, imported, self-tested, aliased. Idempotent. */
export async function onboard(
  deps: EngineDeps,
  input: { alias: string; validityDays?: number; keySpec?: LineagePolicy['keySpec'] },
): Promise<{ lineage: string; keyId: string; created: boolean }> {
  const lineage = parseLineage(input.alias);
  const days = input.validityDays;
  if (days !== undefined && (!Number.isInteger(days) || days < 2 || days > 3650)) {
    const text = 'validity-days: must be a whole number from 2 to 3650';
    throw new OrchestratorError(ErrorCode.InvalidInput, text, { details: { field: 'validity-days' } });
  }
  let policy = actionPolicy(deps.policies, lineage, days);
  if (input.keySpec) policy = { ...policy, keySpec: input.keySpec };
  if (policy.renewBeforeDays >= policy.validityDays) {
    const text = `validity-days: must be greater than renewBeforeDays (${policy.renewBeforeDays})`;
    throw new OrchestratorError(ErrorCode.InvalidInput, text, { details: { field: 'validity-days' } });
  }
  const run = await execute(deps, { kind: 'onboard', lineage, policy, reason: 'operator onboard' });
  const keyId = run.value?.keyId;
  if (keyId === undefined)
    throw new OrchestratorError(ErrorCode.Internal, `onboard: no key for ${aliasOf(lineage)} (${run.detail})`);
  return { lineage, keyId, created: run.outcome === 'ok' };
}

/** Renews one key now (re-import from escrow with a fresh Valid Until), whatever its time left. */
export async function renewNow(
  deps: EngineDeps,
  aliasOrKey: string,
): Promise<{ keyId: string; expireAtMs?: number; detail: string }> {
  const k = await managedKey(deps, aliasOrKey);
  const run = await execute(deps, {
    kind: 'renew',
    keyId: k.keyId,
    lineage: k.lineage,
    generation: k.generation ?? 0,
    ...(k.materialExpireAtMs === undefined ? {} : { expiresAtMs: k.materialExpireAtMs }),
    force: true,
    policy: actionPolicy(deps.policies, k.lineage, k.validityDaysOverride),
    reason: 'operator renew',
  });
  if (run.outcome !== 'ok') throw notDone('renewed', run, k.keyId);
  return { keyId: k.keyId, expireAtMs: run.value?.expireAtMs, detail: run.detail };
}

/**
 * Rotates a lineage now: next generation (or the one an interrupted run left), self-tested, alias
 * moved. The generation is decided under the lease; if the alias moved meanwhile, nothing is done.
 */
export async function rotateNow(
  deps: EngineDeps,
  alias: string,
): Promise<{ lineage: string; keyId: string; previousKeyId?: string; generation: number }> {
  const lineage = parseLineage(alias);
  const current = await managedKey(deps, aliasOf(lineage));
  const policy = actionPolicy(deps.policies, lineage, current.validityDaysOverride);
  const run = await execute(deps, {
    kind: 'rotate',
    lineage,
    fromKeyId: current.keyId,
    policy,
    reason: 'operator rotate',
  });
  const value = run.value;
  if (run.outcome !== 'ok' || value?.keyId === undefined || value.generation === undefined)
    throw notDone('rotated', run, current.keyId);
  return {
    lineage,
    keyId: value.keyId,
    ...(value.previousKeyId ? { previousKeyId: value.previousKeyId } : {}),
    generation: value.generation,
  };
}

/** Re-imports escrowed material into a key in PendingImport (not if revoked or disabled: use restore). */
export async function reimportNow(
  deps: EngineDeps,
  keyId: string,
): Promise<{ keyId: string; expireAtMs?: number; unchanged?: boolean }> {
  const k = await managedKey(deps, keyId);
  // An Enabled key has its material: nothing to re-import (renew extends it).
  if (k.state === KeyState.Enabled) {
    return {
      keyId: k.keyId,
      ...(k.materialExpireAtMs === undefined ? {} : { expireAtMs: k.materialExpireAtMs }),
      unchanged: true,
    };
  }
  const run = await execute(deps, importAction(deps, k, 'reimport'));
  if (run.outcome !== 'ok') throw notDone('re-imported', run, k.keyId);
  return { keyId: k.keyId, expireAtMs: run.value?.expireAtMs };
}

/**
 * Revokes on purpose (crypto-shred / kill switch): marks the key revoked, then deletes its
 * material. Escrow is kept, so `restore` can bring it back. Needs `confirm` equal to the key id.
 */
export async function revoke(deps: EngineDeps, keyId: string, confirm: string | undefined): Promise<{ keyId: string }> {
  const k = await managedKey(deps, keyId);
  if (confirm !== k.keyId) {
    const text = `revoke deletes the key material of ${k.keyId}; repeat the key id with --confirm to proceed`;
    throw new OrchestratorError(ErrorCode.ConfirmationRequired, text, {
      details: { field: 'confirm', keyId: k.keyId },
    });
  }
  const run = await execute(deps, { kind: 'revoke', keyId: k.keyId, lineage: k.lineage, reason: 'operator revoke' });
  if (run.outcome !== 'ok') throw notDone('revoked', run, k.keyId);
  return { keyId: k.keyId };
}

/** Restores a revoked (or operator-held) key: clears the hold and re-imports the escrowed material. */
export async function restore(
  deps: EngineDeps,
  keyId: string,
): Promise<{ keyId: string; expireAtMs?: number; keyState?: string }> {
  const k = await managedKey(deps, keyId);
  const run = await execute(deps, importAction(deps, k, 'restore'));
  if (run.outcome !== 'ok') throw notDone('restored', run, k.keyId);
  // The role cannot EnableKey (by design): a Disabled key stays Disabled; say so, with its state.
  const after = await deps.kms.describeKey(k.keyId);
  return { keyId: k.keyId, expireAtMs: run.value?.expireAtMs ?? after.materialExpireAtMs, keyState: after.keyState };
}

/**
 * Retires a superseded generation on purpose: it is no longer renewed, its material lapses at its
 * Valid Until and data under it is unreadable until revived (`reimport`/`restore`, bounded validity).
 * Escrow is kept. Never the alias target. Needs `confirm` equal to the key id.
 */
export async function retire(deps: EngineDeps, keyId: string, confirm: string | undefined): Promise<{ keyId: string }> {
  const k = await managedKey(deps, keyId);
  if (confirm !== k.keyId) {
    const text = `retire stops renewing ${k.keyId} (its material lapses); repeat the key id with --confirm to proceed`;
    throw new OrchestratorError(ErrorCode.ConfirmationRequired, text, {
      details: { field: 'confirm', keyId: k.keyId },
    });
  }
  if (k.phase === Phase.Retired) return { keyId: k.keyId };
  const run = await execute(deps, {
    kind: 'retire',
    keyId: k.keyId,
    lineage: k.lineage,
    generation: k.generation ?? 0,
    reason: 'operator retire',
  });
  if (run.outcome !== 'ok') throw notDone('retired', run, k.keyId);
  return { keyId: k.keyId };
}

/** Material lengths KMS imports per key spec. */
const MATERIAL_BYTES: Record<string, number> = {
  Aliyun_AES_256: 32,
  Aliyun_AES_192: 24,
  Aliyun_AES_128: 16,
  Aliyun_SM4: 16,
};

/**
 * Adopts an EXTERNAL key whose material an operator imported by hand: proves `material` is the
 * key's own by re-importing it (KMS refuses any other), escrows and reads it back, tags it and
 * aliases it to the lineage (generation 1, or the next one of an existing lineage). The order and
 * why: apply.ts `adopt`. The caller owns `material` and zeroes it.
 */
export async function adopt(
  deps: EngineDeps,
  input: { keyId: string; alias: string; material: Buffer },
): Promise<{ keyId: string; lineage: string; generation: number; previousKeyId?: string }> {
  const lineage = parseLineage(input.alias);
  const meta = await deps.kms.describeKey(input.keyId);
  const key = toKeyView(meta, await deps.kms.listResourceTags(meta.keyId), []);
  const refuse = (text: string) =>
    new OrchestratorError(ErrorCode.PreconditionFailed, text, { details: { keyId: meta.keyId } });
  if (input.keyId.startsWith(ALIAS_PREFIX)) throw refuse('adopt: name the key by its key id, not an alias');
  if (isTagged(key))
    throw refuse(
      `key ${meta.keyId} is already managed (lineage ${key.lineage}, generation ${key.generation}): nothing to adopt`,
    );
  if (meta.origin !== 'EXTERNAL')
    throw refuse(`key ${meta.keyId} is not EXTERNAL (origin ${meta.origin}): not adopted`);
  if (key.state !== KeyState.Enabled)
    throw refuse(
      `key ${meta.keyId} is ${key.state}: only an Enabled key is adopted (its material is proven by ` +
        're-importing it with its current Valid Until); import the material by hand first, then adopt',
    );
  const bytes = MATERIAL_BYTES[meta.keySpec];
  if (bytes === undefined) throw refuse(`key ${meta.keyId} has key spec ${meta.keySpec}: not adoptable`);
  if (input.material.length !== bytes) {
    const text = `material-file: ${input.material.length} bytes; a ${meta.keySpec} key takes exactly ${bytes}`;
    throw new OrchestratorError(ErrorCode.InvalidInput, text, { details: { field: 'material-file' } });
  }
  let generation = 1;
  let target: string | undefined;
  try {
    target = (await deps.kms.describeKey(aliasOf(lineage))).keyId;
  } catch (err) {
    if (!(err instanceof OrchestratorError && err.code === ErrorCode.KmsNotFound)) throw err;
  }
  if (target !== undefined) {
    const current = toKeyView(await deps.kms.describeKey(target), await deps.kms.listResourceTags(target), []);
    if (!isTagged(current) || current.lineage !== lineage)
      throw refuse(`${aliasOf(lineage)} already points at a key this tool does not manage (${target})`);
    const next = await nextGeneration(deps, lineage);
    if (next.keyId !== undefined)
      throw refuse(`${aliasOf(lineage)}: generation ${next.generation} is being provisioned; let it finish first`);
    generation = next.generation;
  }
  const action: Action = {
    kind: 'adopt',
    keyId: meta.keyId,
    lineage,
    generation,
    keySpec: meta.keySpec,
    wrappingAlgorithm: actionPolicy(deps.policies, lineage).wrappingAlgorithm,
    reason: 'operator adopt',
  };
  const run = await execute(deps, action, input.material);
  if (run.outcome !== 'ok') throw notDone('adopted', run, meta.keyId);
  return {
    keyId: meta.keyId,
    lineage,
    generation,
    ...(run.value?.previousKeyId ? { previousKeyId: run.value.previousKeyId } : {}),
  };
}
