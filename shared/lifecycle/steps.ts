/**
 * The write steps of the lifecycle, each preceded by a fresh precondition check and each safe to
 * repeat (docs/design.md §5.6): import from escrow, provision a generation (onboard/rotate/resume),
 * move the alias. Material exists in memory only between escrow read and wrap.
 */
import { ErrorCode, OrchestratorError, isOrchestratorError } from '../errors.js';
import { KeyOrigin, KeyState, type KeyMetadata } from '../kms/port.js';
import { generateKeyMaterial, wrapKeyMaterial, wrappingKeySpecFor, type KeySpec, type WrappingAlgorithm } from '../wrap/index.js';
import { fingerprintMaterial } from '../escrow/fingerprint.js';
import { DAY_MS, type Hold, Phase, Tag, aliasOf, describeMarker, policyFor, type LineagePolicy } from './model.js';
import { observeKey } from './observe.js';
import type { EngineDeps, EscrowRecordLike } from './ports.js';

/** Collects KMS request ids of one operation for its audit outcome. */
export class RequestLog {
  readonly ids: string[] = [];
  /** Records a result's request id and returns the result. */
  note<T extends { requestId?: string }>(r: T): T {
    if (r.requestId) this.ids.push(r.requestId);
    return r;
  }
}

/** Throws TimeBudgetExhausted when the deadline is too close to start another write. */
export function checkBudget(deps: EngineDeps, what: string): void {
  if (deps.deadlineMs !== undefined && deps.clock.nowMs() >= deps.deadlineMs) {
    throw new OrchestratorError(ErrorCode.TimeBudgetExhausted, `time budget exhausted before ${what}; the next run resumes`, { retryable: true });
  }
}

/** Fresh DescribeKey + tags of one key. */
export async function freshKey(deps: EngineDeps, keyId: string, log: RequestLog): Promise<{ meta: KeyMetadata; tags: Record<string, string> }> {
  const meta = log.note(await deps.kms.describeKey(keyId));
  const tags = await deps.kms.listResourceTags(meta.keyId);
  return { meta, tags };
}

/**
 * Reads escrow for a key and checks it is the material the key's tag names (invariant 3).
 * Returns the record; throws EscrowMismatch / EscrowNotFound otherwise.
 */
export async function escrowFor(deps: EngineDeps, keyId: string, expectedFingerprint: string | undefined): Promise<EscrowRecordLike> {
  const rec = await deps.escrow.get(keyId);
  if (expectedFingerprint === undefined || rec.fingerprint !== expectedFingerprint || fingerprintMaterial(rec.material) !== expectedFingerprint) {
    throw new OrchestratorError(ErrorCode.EscrowMismatch, `escrow of key ${keyId} does not match the fingerprint tagged on the key`, { details: { keyId } });
  }
  return rec;
}

/**
 * GetParametersForImport -> wrap -> ImportKeyMaterial. A fresh token every time (24 h validity,
 * docs/kms-api.md §2.4); on ExpiredImportToken (slow run, skewed clock) fetch new parameters and re-wrap once.
 */
export async function importMaterial(deps: EngineDeps, input: { keyId: string; material: Buffer; keySpec: KeySpec; algorithm: WrappingAlgorithm; expireAtMs: number }, log: RequestLog): Promise<void> {
  const wrappingKeySpec = wrappingKeySpecFor(input.algorithm);
  for (let attempt = 0; ; attempt++) {
    const params = log.note(await deps.kms.getParametersForImport({ keyId: input.keyId, wrappingAlgorithm: input.algorithm, wrappingKeySpec }));
    const encryptedKeyMaterial = wrapKeyMaterial(
      { material: input.material, keySpec: input.keySpec, publicKeyBase64: params.publicKeyBase64, wrappingAlgorithm: input.algorithm, wrappingKeySpec },
      deps.random,
    );
    try {
      log.note(await deps.kms.importKeyMaterial({ keyId: input.keyId, encryptedKeyMaterial, importToken: params.importToken, keyMaterialExpireUnix: Math.floor(input.expireAtMs / 1000) }));
      return;
    } catch (err) {
      if (attempt === 0 && isOrchestratorError(err, ErrorCode.KmsExpiredImportToken)) continue;
      throw err;
    }
  }
}

/**
 * Encrypt then Decrypt a random probe under the key; true when it round-trips, false when the key
 * itself fails. A key in a KMS 3.0 instance whose crypto calls are refused through the shared
 * gateway is not a bad key: the instance does not allow that access (or RAM denies it), so this
 * throws InstanceCryptoDenied naming the setting, and nothing is tagged (the next run tries again).
 */
export async function selfTest(deps: EngineDeps, keyId: string, log: RequestLog, instanceId?: string): Promise<boolean> {
  const probe = deps.random.bytes(32).toString('base64');
  try {
    // No EncryptionContext: SDK 1.2.0 flattens it to EncryptionContext.k=v, a form real KMS is not
    // documented to accept (docs/kms-api.md §1.11); a rejection would fail every self-test.
    const enc = log.note(await deps.kms.encrypt({ keyId, plaintext: probe }));
    const dec = log.note(await deps.kms.decrypt({ ciphertextBlob: enc.ciphertextBlob }));
    return dec.plaintext === probe && dec.keyId === keyId;
  } catch (err) {
    if (instanceId !== undefined && isOrchestratorError(err, ErrorCode.KmsForbidden)) throw instanceCryptoDenied(keyId, instanceId, err);
    if (isOrchestratorError(err) && !err.retryable) return false;
    throw err;
  }
}

/**
 * Real KMS publishes no code for "Internet access is off on this instance"; a refusal on an
 * instance key through the shared endpoint is taken to be Forbidden.* (inferred,
 * docs/kms-3-instances.md §6). It could also be a RAM deny, so the message names both.
 */
function instanceCryptoDenied(keyId: string, instanceId: string, cause: OrchestratorError): OrchestratorError {
  return new OrchestratorError(
    ErrorCode.InstanceCryptoDenied,
    `Encrypt/Decrypt on key ${keyId} in KMS instance ${instanceId} was refused (${cause.details.kmsCode ?? cause.code}); the alias was not moved. ` +
      `Turn on Internet access (shared gateway) for ${instanceId} in the KMS console (Instances > ${instanceId} > Share Resources), ` +
      'or check that the role may call kms:Encrypt and kms:Decrypt on it',
    { cause, details: { keyId, instanceId, kmsCode: cause.details.kmsCode, requestId: cause.details.requestId } },
  );
}

/** A managed CMK must be in the configured instance (read-back of CreateKey's placement). */
function assertKeyInstance(deps: EngineDeps, meta: KeyMetadata): void {
  const expected = deps.instances?.keys;
  if (expected === undefined || meta.dkmsInstanceId === expected) return;
  throw new OrchestratorError(ErrorCode.InstanceMismatch, `key ${meta.keyId} is in ${meta.dkmsInstanceId ?? 'no KMS instance'}, not in ${expected} as configured; provisioning stopped`, {
    details: { keyId: meta.keyId, expected, actual: meta.dkmsInstanceId ?? 'none' },
  });
}

/** Re-imports escrowed material into a managed key with a new Valid Until (renew and re-import). */
export async function reimportFromEscrow(
  deps: EngineDeps,
  input: { keyId: string; validityDays: number; expect: 'renew' | 'reimport'; renewBeforeDays?: number },
  log: RequestLog,
): Promise<{ done: boolean; reason: string; expireAtMs?: number }> {
  checkBudget(deps, `${input.expect} of ${input.keyId}`);
  const { meta, tags } = await freshKey(deps, input.keyId, log);
  // Fresh preconditions (invariants 6 and 8).
  if (tags[Tag.Managed] !== 'true') return { done: false, reason: 'key is not tagged as managed' };
  if (meta.keyState === KeyState.PendingDeletion) return { done: false, reason: 'key is PendingDeletion: never imported into' };
  if (tags[Tag.Hold]) return { done: false, reason: `key is held (${tags[Tag.Hold]}): not brought back automatically` };
  if (tags[Tag.Phase] === Phase.Retired) return { done: false, reason: 'key is retired' };
  const now = deps.clock.nowMs();
  if (input.expect === 'reimport' && meta.keyState !== KeyState.PendingImport) return { done: false, reason: `key is ${meta.keyState} now: nothing to re-import` };
  if (input.expect === 'renew') {
    if (meta.keyState !== KeyState.Enabled) return { done: false, reason: `key is ${meta.keyState} now: not renewed` };
    if (meta.materialExpireAtMs === undefined) return { done: false, reason: 'material never expires' };
    if (input.renewBeforeDays !== undefined && meta.materialExpireAtMs - now > input.renewBeforeDays * DAY_MS) return { done: false, reason: 'already renewed by another run' };
  }
  const rec = await escrowFor(deps, meta.keyId, tags[Tag.Fingerprint]);
  const expireAtMs = now + input.validityDays * DAY_MS;
  checkBudget(deps, `import into ${input.keyId}`);
  try {
    await importMaterial(deps, { keyId: meta.keyId, material: rec.material, keySpec: rec.keySpec as KeySpec, algorithm: policyFor(deps.policies, tags[Tag.Lineage] ?? '').wrappingAlgorithm, expireAtMs }, log);
  } finally {
    rec.material.fill(0);
  }
  return { done: true, reason: input.expect === 'renew' ? 'renewed' : 're-imported', expireAtMs };
}

/** Every managed key of a lineage/generation in the account right now (a full scan: rare, authoritative). */
export async function findGeneration(deps: EngineDeps, lineage: string, generation: number): Promise<string[]> {
  const ids = await deps.kms.listKeys();
  const found: string[] = [];
  for (const id of ids) {
    const v = await observeKey(deps.kms, id, new Map(), {});
    if (v?.managed && v.lineage === lineage && v.generation === generation && v.state !== KeyState.PendingDeletion) found.push(v.keyId);
  }
  return found;
}

/**
 * Provisions generation `generation` of a lineage, from wherever a previous run stopped:
 * create CMK (tagged provisioning) -> material -> escrow + read-back -> fingerprint tag -> import
 * -> Encrypt/Decrypt self-test -> ready tag -> move alias -> mark the previous generation
 * superseded. Each step is skipped when already done, so a crash after any step converges.
 * The caller holds the lineage lease.
 */
export async function provisionGeneration(
  deps: EngineDeps,
  input: { lineage: string; generation: number; policy: LineagePolicy; keyId?: string; validityDaysTag?: number },
  log: RequestLog,
): Promise<{ keyId: string; previousKeyId?: string }> {
  const { lineage, generation, policy } = input;
  // Each completed write step is its own audit outcome (with the request ids so far), so an
  // interrupted provisioning shows exactly how far it got.
  const step = async (name: string, keyId?: string) => {
    deps.progress?.(`  ${lineage} gen ${generation}: ${name}${keyId ? ` (${keyId})` : ''}`);
    await deps.audit.record({ action: `provision:${name}`, phase: 'outcome', outcome: 'ok', keyId, lineage, details: { generation }, kmsRequestIds: [...log.ids] });
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
    if (existing.length > 1) throw new OrchestratorError(ErrorCode.PreconditionFailed, `lineage ${lineage} already has ${existing.length} CMKs for generation ${generation}; resolve by hand`, { details: { lineage } });
    keyId = existing[0];
  }
  if (!keyId) {
    checkBudget(deps, 'CreateKey');
    await intent('create');
    const instance = deps.instances?.keys;
    const created = log.note(
      await deps.kms.createKey({ origin: KeyOrigin.External, keySpec: policy.keySpec, description: describeMarker(lineage, generation), ...(instance === undefined ? {} : { dkmsInstanceId: instance }) }),
    );
    keyId = created.keyId;
    await step('created', keyId);
  }
  let { meta, tags } = await freshKey(deps, keyId, log);
  assertProvisionable(meta, tags);
  assertKeyInstance(deps, meta);
  if (tags[Tag.Managed] !== 'true') {
    checkBudget(deps, 'TagResource');
    await intent('tag', keyId);
    const t: Record<string, string> = { [Tag.Managed]: 'true', [Tag.Lineage]: lineage, [Tag.Generation]: String(generation), [Tag.Phase]: Phase.Provisioning };
    if (input.validityDaysTag) t[Tag.ValidityDays] = String(input.validityDaysTag);
    log.note(await deps.kms.tagResource(keyId, t));
    tags = { ...tags, ...t };
    await step('tagged', keyId);
  }

  // 2. Material: from escrow when a previous run saved it, else fresh from the CSPRNG.
  let rec: EscrowRecordLike | undefined;
  try {
    rec = await deps.escrow.get(keyId);
  } catch (err) {
    if (!isOrchestratorError(err, ErrorCode.EscrowNotFound)) throw err;
  }
  if (tags[Tag.Fingerprint] && (!rec || rec.fingerprint !== tags[Tag.Fingerprint])) {
    throw new OrchestratorError(ErrorCode.EscrowMismatch, `key ${keyId} names material the escrow does not hold`, { details: { keyId } });
  }
  if (!rec) {
    if (meta.keyState !== KeyState.PendingImport || meta.materialExpireAtMs !== undefined) {
      // Imported without escrow can only be someone else's doing: we escrow before import.
      throw new OrchestratorError(ErrorCode.PreconditionFailed, `key ${keyId} has material but no escrow; not managed safely`, { details: { keyId } });
    }
    checkBudget(deps, 'escrow');
    await intent('escrow', keyId);
    const material = generateKeyMaterial(policy.keySpec, deps.random);
    const fresh: EscrowRecordLike = { keyId, lineage, generation, keySpec: policy.keySpec, fingerprint: fingerprintMaterial(material), createdAtMs: deps.clock.nowMs(), material };
    await deps.escrow.put(fresh);
    // Invariant 1: read the escrow back and compare before the material is ever imported.
    const back = await deps.escrow.get(keyId);
    if (back.fingerprint !== fresh.fingerprint || !back.material.equals(material)) {
      throw new OrchestratorError(ErrorCode.EscrowMismatch, `escrow read-back of key ${keyId} differs from what was written`, { details: { keyId } });
    }
    material.fill(0);
    rec = back;
    await step('escrowed', keyId);
  }
  try {
    if (tags[Tag.Fingerprint] !== rec.fingerprint) {
      await intent('fingerprint-tag', keyId);
      log.note(await deps.kms.tagResource(keyId, { [Tag.Fingerprint]: rec.fingerprint }));
      tags[Tag.Fingerprint] = rec.fingerprint;
      await step('fingerprint-tagged', keyId);
    }

    // 3. Import (again, harmlessly, if a previous run already did).
    if (tags[Tag.Phase] === Phase.Provisioning) {
      ({ meta, tags } = await freshKey(deps, keyId, log));
      assertProvisionable(meta, tags); // fresh: an operator may have revoked or disabled it meanwhile
      if (meta.keyState === KeyState.PendingImport || meta.materialExpireAtMs === undefined || meta.materialExpireAtMs < deps.clock.nowMs() + policy.renewBeforeDays * DAY_MS) {
        checkBudget(deps, 'ImportKeyMaterial');
        await intent('import', keyId);
        const validityDays = input.validityDaysTag ?? policy.validityDays;
        await importMaterial(deps, { keyId, material: rec.material, keySpec: rec.keySpec as KeySpec, algorithm: policy.wrappingAlgorithm, expireAtMs: deps.clock.nowMs() + validityDays * DAY_MS }, log);
        await step('imported', keyId);
      }
      // 4. Self-test before anything points at the key (invariant 8).
      checkBudget(deps, 'self-test');
      if (!(await selfTest(deps, keyId, log, meta.dkmsInstanceId))) {
        log.note(await deps.kms.tagResource(keyId, { [Tag.Phase]: Phase.FailedSelfTest }));
        throw new OrchestratorError(ErrorCode.SelfTestFailed, `key ${keyId} failed its Encrypt/Decrypt self-test; alias not moved`, { details: { keyId, lineage } });
      }
      await step('self-tested', keyId);
      await intent('ready-tag', keyId);
      log.note(await deps.kms.tagResource(keyId, { [Tag.Phase]: Phase.Ready }));
      tags[Tag.Phase] = Phase.Ready;
      await step('ready', keyId);
    }
  } finally {
    rec.material.fill(0);
  }
  if (tags[Tag.Phase] !== Phase.Ready) throw new OrchestratorError(ErrorCode.PreconditionFailed, `key ${keyId} is in phase ${tags[Tag.Phase]}; not moving the alias`, { details: { keyId } });

  // 5. Move the alias, then mark the generation it left. Fresh check first (invariants 6 and 8):
  // only an Enabled, self-tested, unheld key of this lineage receives the alias.
  ({ meta, tags } = await freshKey(deps, keyId, log));
  if (meta.keyState !== KeyState.Enabled || tags[Tag.Hold] || tags[Tag.Phase] !== Phase.Ready || tags[Tag.Lineage] !== lineage) {
    throw new OrchestratorError(ErrorCode.PreconditionFailed, `key ${keyId} is ${meta.keyState}${tags[Tag.Hold] ? ` (held: ${tags[Tag.Hold]})` : ''} in phase ${tags[Tag.Phase] ?? 'none'}; the alias is not moved onto it`, { details: { keyId, lineage } });
  }
  await intent('alias-move', keyId);
  const previousKeyId = await moveAlias(deps, lineage, keyId, log);
  await step('alias-moved', keyId);
  if (previousKeyId && previousKeyId !== keyId) {
    const prevTags = await deps.kms.listResourceTags(previousKeyId);
    if (prevTags[Tag.Lineage] === lineage && !prevTags[Tag.SupersededAt]) {
      await intent('supersede-tag', previousKeyId);
      log.note(await deps.kms.tagResource(previousKeyId, { [Tag.SupersededAt]: String(Math.floor(deps.clock.nowMs() / 1000)) }));
    }
    await step('superseded', previousKeyId);
  }
  return { keyId, previousKeyId };
}

/** Provisioning never continues on a key that is PendingDeletion, Disabled or held (revoked/disabled). */
function assertProvisionable(meta: KeyMetadata, tags: Record<string, string>): void {
  if (meta.keyState === KeyState.PendingDeletion || meta.keyState === KeyState.Disabled || meta.keyState === KeyState.Unavailable || tags[Tag.Hold]) {
    throw new OrchestratorError(ErrorCode.PreconditionFailed, `key ${meta.keyId} is ${meta.keyState}${tags[Tag.Hold] ? ` (held: ${tags[Tag.Hold]})` : ''}; provisioning stopped`, { details: { keyId: meta.keyId } });
  }
}

/** Points the lineage alias at `keyId` (create or update); returns the key it pointed at before. */
export async function moveAlias(deps: EngineDeps, lineage: string, keyId: string, log: RequestLog): Promise<string | undefined> {
  const alias = aliasOf(lineage);
  let previous: string | undefined;
  try {
    previous = (await deps.kms.describeKey(alias)).keyId;
  } catch (err) {
    if (!isOrchestratorError(err, ErrorCode.KmsNotFound)) throw err;
  }
  if (previous === keyId) return previous;
  checkBudget(deps, 'alias move');
  if (previous === undefined) log.note(await deps.kms.createAlias(alias, keyId));
  else log.note(await deps.kms.updateAlias(alias, keyId));
  return previous;
}

/** Records an operator disable so the key is never re-enabled or re-imported automatically. */
export async function setHold(deps: EngineDeps, keyId: string, hold: Hold | null, log: RequestLog): Promise<void> {
  if (hold) log.note(await deps.kms.tagResource(keyId, { [Tag.Hold]: hold }));
  else log.note(await deps.kms.untagResource(keyId, [Tag.Hold]));
}
