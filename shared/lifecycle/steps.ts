/**
 * The write steps of the lifecycle, each preceded by a fresh precondition check (a fresh KeyView)
 * and each safe to repeat (docs/design.md §5.6): import from escrow, self-test, move the alias,
 * set or clear a hold. Provisioning a generation is in provision.ts. Material exists in memory
 * only between escrow read and wrap.
 */
import { ErrorCode, OrchestratorError, isOrchestratorError } from '../errors.js';
import { fingerprintMaterial } from '../escrow/fingerprint.js';
import type { EscrowRecord } from '../escrow/store.js';
import { KeyState } from '../kms/port.js';
import { wrapKeyMaterial, wrappingKeySpecFor, type KeySpec, type WrappingAlgorithm } from '../wrap/index.js';
import { isTagged, mirrorKeyTags, toKeyView } from './key-view.js';
import { DAY_MS, Phase, Tag, aliasOf, type ActionPolicy, type Hold, type KeyView } from './model.js';
import type { EngineDeps } from './ports.js';

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
    throw new OrchestratorError(
      ErrorCode.TimeBudgetExhausted,
      `time budget exhausted before ${what}; the next run resumes`,
      { retryable: true },
    );
  }
}

/** Fresh DescribeKey + tags of one key, read the one way tags are read (toKeyView). */
export async function freshKey(deps: EngineDeps, keyId: string, log: RequestLog): Promise<KeyView> {
  const meta = log.note(await deps.kms.describeKey(keyId));
  const tags = await deps.kms.listResourceTags(meta.keyId);
  return toKeyView(meta, tags, []);
}

/**
 * Reads escrow for a key and checks it is the material the key's tag names (invariant 3).
 * Returns the record; throws EscrowMismatch / EscrowNotFound otherwise.
 */
export async function escrowFor(
  deps: EngineDeps,
  keyId: string,
  expectedFingerprint: string | undefined,
): Promise<EscrowRecord> {
  const rec = await deps.escrow.get(keyId);
  if (
    expectedFingerprint === undefined ||
    rec.fingerprint !== expectedFingerprint ||
    fingerprintMaterial(rec.material) !== expectedFingerprint
  ) {
    throw new OrchestratorError(
      ErrorCode.EscrowMismatch,
      `escrow of key ${keyId} does not match the fingerprint tagged on the key`,
      { details: { keyId } },
    );
  }
  return rec;
}

/**
 * GetParametersForImport -> wrap -> ImportKeyMaterial. A fresh token every time (24 h validity,
 * docs/kms-api.md §2.4); on ExpiredImportToken (slow run, skewed clock) fetch new parameters and re-wrap once.
 */
export async function importMaterial(
  deps: EngineDeps,
  input: { keyId: string; material: Buffer; keySpec: KeySpec; algorithm: WrappingAlgorithm; expireAtMs: number },
  log: RequestLog,
): Promise<void> {
  const wrappingKeySpec = wrappingKeySpecFor(input.algorithm);
  for (let attempt = 0; ; attempt++) {
    const params = log.note(
      await deps.kms.getParametersForImport({
        keyId: input.keyId,
        wrappingAlgorithm: input.algorithm,
        wrappingKeySpec,
      }),
    );
    const encryptedKeyMaterial = wrapKeyMaterial(
      {
        material: input.material,
        keySpec: input.keySpec,
        publicKeyBase64: params.publicKeyBase64,
        wrappingAlgorithm: input.algorithm,
        wrappingKeySpec,
      },
      deps.random,
    );
    try {
      log.note(
        await deps.kms.importKeyMaterial({
          keyId: input.keyId,
          encryptedKeyMaterial,
          importToken: params.importToken,
          keyMaterialExpireUnix: Math.floor(input.expireAtMs / 1000),
        }),
      );
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
export async function selfTest(
  deps: EngineDeps,
  keyId: string,
  log: RequestLog,
  instanceId?: string,
): Promise<boolean> {
  const probe = deps.random.bytes(32).toString('base64');
  try {
    // No EncryptionContext: SDK 1.2.0 flattens it to EncryptionContext.k=v, a form real KMS is not
    // documented to accept (docs/kms-api.md §1.11); a rejection would fail every self-test.
    const enc = log.note(await deps.kms.encrypt({ keyId, plaintext: probe }));
    const dec = log.note(await deps.kms.decrypt({ ciphertextBlob: enc.ciphertextBlob }));
    return dec.plaintext === probe && dec.keyId === keyId;
  } catch (err) {
    if (instanceId !== undefined && isOrchestratorError(err, ErrorCode.KmsForbidden))
      throw instanceCryptoDenied(keyId, instanceId, err);
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
    `Encrypt/Decrypt on key ${keyId} in KMS instance ${instanceId} was ` +
      `refused (${cause.details.kmsCode ?? cause.code}); the alias was not moved. ` +
      `Turn on Internet access (shared gateway) for ${instanceId} ` +
      `in the KMS console (Instances > ${instanceId} > Share Resources), ` +
      'or check that the role may call kms:Encrypt and kms:Decrypt on it',
    { cause, details: { keyId, instanceId, kmsCode: cause.details.kmsCode, requestId: cause.details.requestId } },
  );
}

/**
 * Re-imports escrowed material into a managed key with a new Valid Until (renew and re-import).
 * A renew inside the renew window only, unless `force` (an operator's renew).
 */
export async function reimportFromEscrow(
  deps: EngineDeps,
  input: {
    keyId: string;
    policy: ActionPolicy;
    expect: 'renew' | 'reimport';
    force?: boolean;
    /** A revival: a retired (dormant) key may be re-imported. */
    revive?: boolean;
    /** A restore: a held key may be re-imported (the caller clears the hold only after success). */
    held?: boolean;
  },
  log: RequestLog,
): Promise<{ done: boolean; reason: string; expireAtMs?: number }> {
  checkBudget(deps, `${input.expect} of ${input.keyId}`);
  const k = await freshKey(deps, input.keyId, log);
  // Fresh preconditions (invariants 6 and 8).
  if (!isTagged(k)) return { done: false, reason: 'key is not tagged as managed' };
  if (k.state === KeyState.PendingDeletion)
    return { done: false, reason: 'key is PendingDeletion: never imported into' };
  if (k.hold && !input.held) return { done: false, reason: `key is held (${k.hold}): not brought back automatically` };
  if (k.phase === Phase.Retired && !input.revive) return { done: false, reason: 'key is retired' };
  const now = deps.clock.nowMs();
  if (input.expect === 'reimport' && k.state !== KeyState.PendingImport) {
    return { done: false, reason: `key is ${k.state} now: nothing to re-import` };
  }
  if (input.expect === 'renew') {
    if (k.state !== KeyState.Enabled) return { done: false, reason: `key is ${k.state} now: not renewed` };
    if (k.materialExpireAtMs === undefined) return { done: false, reason: 'material never expires' };
    const renewWindowMs = input.policy.renewBeforeDays * DAY_MS;
    if (!input.force && k.materialExpireAtMs - now > renewWindowMs)
      return { done: false, reason: 'already renewed by another run' };
  }
  const rec = await escrowFor(deps, k.keyId, k.fingerprint);
  const expireAtMs = now + input.policy.validityDays * DAY_MS;
  checkBudget(deps, `import into ${input.keyId}`);
  try {
    const algorithm = input.policy.wrappingAlgorithm;
    await importMaterial(
      deps,
      { keyId: k.keyId, material: rec.material, keySpec: rec.keySpec as KeySpec, algorithm, expireAtMs },
      log,
    );
  } finally {
    rec.material.fill(0);
  }
  return { done: true, reason: input.expect === 'renew' ? 'renewed' : 're-imported', expireAtMs };
}

/** Points the lineage alias at `keyId` (create or update); returns the key it pointed at before. */
export async function moveAlias(
  deps: EngineDeps,
  lineage: string,
  keyId: string,
  log: RequestLog,
): Promise<string | undefined> {
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

/** Records a hold (an operator's disable, or a revoke) or clears it (restore, re-enable). */
export async function setHold(deps: EngineDeps, keyId: string, hold: Hold | null, log: RequestLog): Promise<void> {
  if (hold) log.note(await deps.kms.tagResource(keyId, { [Tag.Hold]: hold }));
  else log.note(await deps.kms.untagResource(keyId, [Tag.Hold]));
  await mirrorKeyTags(deps, keyId);
}
