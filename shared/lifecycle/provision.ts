/**
 * Provisioning a generation (onboard, rotate, resume), from wherever a previous run stopped:
 * create CMK (tagged provisioning) -> material -> escrow + read-back -> fingerprint tag -> import
 * -> Encrypt/Decrypt self-test -> ready tag -> move alias -> mark the previous generation
 * superseded. Each step is skipped when already done, so a crash after any step converges; each
 * write is announced by an intent event and confirmed by an outcome event. The caller holds the
 * lineage lease.
 */
import { ErrorCode, OrchestratorError, isOrchestratorError } from '../errors.js';
import { fingerprintMaterial } from '../escrow/fingerprint.js';
import type { EscrowRecord } from '../escrow/store.js';
import { KeyOrigin, KeyState } from '../kms/port.js';
import { generateKeyMaterial, type KeySpec } from '../wrap/index.js';
import { isTagged, mirrorKeyTags } from './key-view.js';
import { DAY_MS, Phase, Tag, describeMarker, type ActionPolicy, type KeyView } from './model.js';
import { observeLineageKeys } from './observe-target.js';
import type { EngineDeps } from './ports.js';
import { type RequestLog, checkBudget, freshKey, importMaterial, moveAlias, selfTest } from './steps.js';

/**
 * The managed keys of a lineage, read without listing the account (observe-target.ts): its alias,
 * its escrow secrets and the CreateKey results its lease record keeps (the held lease's, no read).
 */
async function lineageKeys(deps: EngineDeps, lineage: string): Promise<KeyView[]> {
  const lease = deps.lease?.lineage === lineage ? deps.lease : undefined;
  const { keys, unresolved } = await observeLineageKeys(deps, lineage, lease ? { created: lease.created } : {});
  // A CreateKey whose outcome the lease record did not know was settled by a scan: record what it
  // found (its one CMK, or none), so the next holder need not scan again.
  for (const generation of lease ? unresolved : []) {
    const found = keys.filter((k) => k.generation === generation && k.state !== KeyState.PendingDeletion);
    if (found.length === 1) await lease?.noteCreatedKey({ generation, keyId: found[0]!.keyId });
    else if (found.length === 0) await lease?.resolveCreateKey(generation);
  }
  return keys;
}

/** Every managed key of a lineage/generation right now, not PendingDeletion (no account scan). */
export async function findGeneration(deps: EngineDeps, lineage: string, generation: number): Promise<string[]> {
  const keys = await lineageKeys(deps, lineage);
  return keys.filter((v) => v.generation === generation && v.state !== KeyState.PendingDeletion).map((v) => v.keyId);
}

/**
 * The generation an operator's rotate provisions, decided under the lease from the lineage's keys:
 * one already being provisioned (an interrupted run) is finished, else the next number.
 */
export async function nextGeneration(
  deps: EngineDeps,
  lineage: string,
): Promise<{ generation: number; keyId?: string }> {
  const keys = await lineageKeys(deps, lineage);
  const pending = keys.find((k) => k.untaggedMarker || k.phase === Phase.Provisioning);
  if (pending?.generation !== undefined) return { generation: pending.generation, keyId: pending.keyId };
  return { generation: Math.max(0, ...keys.map((k) => k.generation ?? 0)) + 1 };
}

/** What provisioning one generation needs. */
export interface ProvisionInput {
  lineage: string;
  generation: number;
  policy: ActionPolicy;
  /** The CMK of this generation when known (resume); else found among the lineage's keys, or created. */
  keyId?: string;
}

/** Provisions generation `generation` of a lineage (see the file comment). */
export async function provisionGeneration(
  deps: EngineDeps,
  input: ProvisionInput,
  log: RequestLog,
): Promise<{ keyId: string; previousKeyId?: string }> {
  const { lineage, generation, policy } = input;
  // Each completed write step is its own audit outcome (with the request ids so far), so an
  // interrupted provisioning shows exactly how far it got.
  const step = async (name: string, keyId?: string) => {
    deps.progress?.(`  ${lineage} gen ${generation}: ${name}${keyId ? ` (${keyId})` : ''}`);
    const kmsRequestIds = [...log.ids];
    const event = { action: `provision:${name}`, phase: 'outcome' as const, outcome: 'ok' as const };
    await deps.audit.record({ ...event, keyId, lineage, details: { generation }, kmsRequestIds });
    await deps.onCheckpoint?.(name, { lineage, generation, keyId });
  };
  // An intent event before each write of provisioning (the matching outcome is `step`).
  const intent = async (write: string, keyId?: string) => {
    await deps.audit.record({ action: `provision:${write}`, phase: 'intent', keyId, lineage, details: { generation } });
  };

  // 1. The CMK: reuse one from an interrupted run, else create it.
  let keyId = input.keyId;
  if (!keyId) {
    const existing = await findGeneration(deps, lineage, generation);
    if (existing.length > 1) {
      const count = `${existing.length} CMKs for generation ${generation}`;
      const text = `lineage ${lineage} already has ${count}; resolve by hand`;
      throw new OrchestratorError(ErrorCode.PreconditionFailed, text, { details: { lineage } });
    }
    keyId = existing[0];
  }
  if (!keyId) {
    checkBudget(deps, 'CreateKey');
    await intent('create');
    // The lease record says a CreateKey for this generation is under way before it is sent: if the
    // run dies or loses the answer, the next holder knows to look for the CMK (observe-target.ts).
    await deps.lease?.noteCreatedKey({ generation });
    const instance = deps.instances?.keys;
    const created = log.note(
      await deps.kms.createKey({
        origin: KeyOrigin.External,
        keySpec: policy.keySpec,
        description: describeMarker(lineage, generation),
        ...(instance === undefined ? {} : { dkmsInstanceId: instance }),
      }),
    );
    keyId = created.keyId;
    // Recorded before anything else can lose it: the next holder of the lease finds this CMK even if
    // this run dies before tagging or escrowing it (no account scan needed).
    await deps.lease?.noteCreatedKey({ generation, keyId });
    await step('created', keyId);
  }
  let key = await freshKey(deps, keyId, log);
  assertProvisionable(key);
  assertKeyInstance(deps, key);
  // What the tags say from here on (updated as this run writes them).
  let fingerprint = key.fingerprint;
  let phase = key.phase;
  if (!isTagged(key)) {
    checkBudget(deps, 'TagResource');
    await intent('tag', keyId);
    const t: Record<string, string> = {
      [Tag.Managed]: 'true',
      [Tag.Lineage]: lineage,
      [Tag.Generation]: String(generation),
      [Tag.Phase]: Phase.Provisioning,
    };
    if (policy.validityDaysOverride) t[Tag.ValidityDays] = String(policy.validityDaysOverride);
    log.note(await deps.kms.tagResource(keyId, t));
    phase = Phase.Provisioning;
    await step('tagged', keyId);
  }

  // 2. Material: from escrow when a previous run saved it, else fresh from the CSPRNG.
  let rec: EscrowRecord | undefined;
  try {
    rec = await deps.escrow.get(keyId);
  } catch (err) {
    if (!isOrchestratorError(err, ErrorCode.EscrowNotFound)) throw err;
  }
  if (fingerprint && (!rec || rec.fingerprint !== fingerprint)) {
    throw new OrchestratorError(ErrorCode.EscrowMismatch, `key ${keyId} names material the escrow does not hold`, {
      details: { keyId },
    });
  }
  if (!rec) {
    if (key.state !== KeyState.PendingImport || key.materialExpireAtMs !== undefined) {
      // Imported without escrow can only be someone else's doing: we escrow before import.
      const text = `key ${keyId} has material but no escrow; not managed safely`;
      throw new OrchestratorError(ErrorCode.PreconditionFailed, text, { details: { keyId } });
    }
    rec = await escrowFresh(deps, { keyId, lineage, generation, keySpec: policy.keySpec }, intent);
    await step('escrowed', keyId);
  }
  try {
    if (fingerprint !== rec.fingerprint) {
      await intent('fingerprint-tag', keyId);
      log.note(await deps.kms.tagResource(keyId, { [Tag.Fingerprint]: rec.fingerprint }));
      fingerprint = rec.fingerprint;
      await step('fingerprint-tagged', keyId);
    }

    // 3. Import (again, harmlessly, if a previous run already did).
    if (phase === Phase.Provisioning) {
      key = await freshKey(deps, keyId, log);
      assertProvisionable(key); // fresh: an operator may have revoked or disabled it meanwhile
      const renewBy = deps.clock.nowMs() + policy.renewBeforeDays * DAY_MS;
      if (
        key.state === KeyState.PendingImport ||
        key.materialExpireAtMs === undefined ||
        key.materialExpireAtMs < renewBy
      ) {
        checkBudget(deps, 'ImportKeyMaterial');
        await intent('import', keyId);
        const expireAtMs = deps.clock.nowMs() + policy.validityDays * DAY_MS;
        const material = { keyId, material: rec.material, keySpec: rec.keySpec as KeySpec, expireAtMs };
        await importMaterial(deps, { ...material, algorithm: policy.wrappingAlgorithm }, log);
        await step('imported', keyId);
      }
      // 4. Self-test before anything points at the key (invariant 8).
      checkBudget(deps, 'self-test');
      if (!(await selfTest(deps, keyId, log, key.dkmsInstanceId))) {
        log.note(await deps.kms.tagResource(keyId, { [Tag.Phase]: Phase.FailedSelfTest }));
        const text = `key ${keyId} failed its Encrypt/Decrypt self-test; alias not moved`;
        throw new OrchestratorError(ErrorCode.SelfTestFailed, text, { details: { keyId, lineage } });
      }
      await step('self-tested', keyId);
      await intent('ready-tag', keyId);
      log.note(await deps.kms.tagResource(keyId, { [Tag.Phase]: Phase.Ready }));
      await mirrorKeyTags(deps, keyId);
      phase = Phase.Ready;
      await step('ready', keyId);
    }
  } finally {
    rec.material.fill(0);
  }
  if (phase !== Phase.Ready) {
    const text = `key ${keyId} is in phase ${phase}; not moving the alias`;
    throw new OrchestratorError(ErrorCode.PreconditionFailed, text, { details: { keyId } });
  }

  // 5. Move the alias, then mark the generation it left. Fresh check first (invariants 6 and 8):
  // only an Enabled, self-tested, unheld key of this lineage receives the alias.
  key = await freshKey(deps, keyId, log);
  if (
    key.state !== KeyState.Enabled ||
    key.hold ||
    key.phase !== Phase.Ready ||
    !isTagged(key) ||
    key.lineage !== lineage
  ) {
    const held = key.hold ? ` (held: ${key.hold})` : '';
    const text = `key ${keyId} is ${key.state}${held} in phase ${key.phase ?? 'none'}; the alias is not moved onto it`;
    throw new OrchestratorError(ErrorCode.PreconditionFailed, text, { details: { keyId, lineage } });
  }
  await intent('alias-move', keyId);
  const previousKeyId = await moveAlias(deps, lineage, keyId, log);
  await step('alias-moved', keyId);
  if (previousKeyId && previousKeyId !== keyId) {
    const previous = await freshKey(deps, previousKeyId, log);
    if (previous.lineage === lineage && isTagged(previous) && previous.supersededAtMs === undefined) {
      await intent('supersede-tag', previousKeyId);
      log.note(
        await deps.kms.tagResource(previousKeyId, {
          [Tag.SupersededAt]: String(Math.floor(deps.clock.nowMs() / 1000)),
        }),
      );
      await mirrorKeyTags(deps, previousKeyId);
    }
    await step('superseded', previousKeyId);
  }
  return { keyId, previousKeyId };
}

/**
 * Fresh material from the CSPRNG, escrowed and read back and compared before it is ever imported
 * (invariant 1). Returns the read-back record (the caller zeroes its material).
 */
async function escrowFresh(
  deps: EngineDeps,
  key: { keyId: string; lineage: string; generation: number; keySpec: KeySpec },
  intent: (write: string, keyId?: string) => Promise<void>,
): Promise<EscrowRecord> {
  checkBudget(deps, 'escrow');
  await intent('escrow', key.keyId);
  const material = generateKeyMaterial(key.keySpec, deps.random);
  try {
    const fingerprint = fingerprintMaterial(material);
    await deps.escrow.put({ ...key, fingerprint, createdAtMs: deps.clock.nowMs(), material });
    const back = await deps.escrow.get(key.keyId);
    if (back.fingerprint !== fingerprint || !back.material.equals(material)) {
      back.material.fill(0);
      const text = `escrow read-back of key ${key.keyId} differs from what was written`;
      throw new OrchestratorError(ErrorCode.EscrowMismatch, text, { details: { keyId: key.keyId } });
    }
    return back;
  } finally {
    material.fill(0);
  }
}

/** Provisioning never continues on a key that is PendingDeletion, Disabled, Unavailable, Unknown or held. */
function assertProvisionable(key: KeyView): void {
  const stopped: KeyView['state'][] = [
    KeyState.PendingDeletion,
    KeyState.Disabled,
    KeyState.Unavailable,
    KeyState.Unknown,
  ];
  if (stopped.includes(key.state) || key.hold) {
    const held = key.hold ? ` (held: ${key.hold})` : '';
    const text = `key ${key.keyId} is ${key.state}${held}; provisioning stopped`;
    throw new OrchestratorError(ErrorCode.PreconditionFailed, text, { details: { keyId: key.keyId } });
  }
}

/** A managed CMK must be in the configured instance (read-back of CreateKey's placement). */
function assertKeyInstance(deps: EngineDeps, key: KeyView): void {
  const expected = deps.instances?.keys;
  if (expected === undefined || key.dkmsInstanceId === expected) return;
  const actual = key.dkmsInstanceId ?? 'none';
  const where = key.dkmsInstanceId ?? 'no KMS instance';
  const text = `key ${key.keyId} is in ${where}, not in ${expected} as configured; provisioning stopped`;
  throw new OrchestratorError(ErrorCode.InstanceMismatch, text, { details: { keyId: key.keyId, expected, actual } });
}
