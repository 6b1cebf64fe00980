/**
 * The one reading of our tags: KMS metadata + tags -> KeyView. Observe builds the snapshot with it,
 * and every fresh precondition check of the executor reads a key through it too, so the planner and
 * the executor can never disagree about what a tag means.
 */
import { ErrorCode, isOrchestratorError } from '../errors.js';
import type { KeyMetadata, KmsPort } from '../kms/port.js';
import { isLineage } from '../lineage.js';
import type { Logger } from '../log.js';
import { Hold, Phase, Tag, parseMarker, type KeyView } from './model.js';

const PHASES: ReadonlySet<string> = new Set(Object.values(Phase));

/** A whole number written as decimal digits, else undefined. */
function wholeNumber(v: string | undefined): number | undefined {
  return v !== undefined && /^\d+$/.test(v) ? Number(v) : undefined;
}

/**
 * The hold a tag value means. Any value other than ours still holds the key back (it must never be
 * repaired automatically), as the strictest hold: `revoked`, which only restore clears.
 */
function parseHold(v: string | undefined): Hold | undefined {
  if (v === undefined || v === '') return undefined;
  return v === Hold.Disabled ? Hold.Disabled : Hold.Revoked;
}

/** Turns metadata + tags into a KeyView (aliases and the escrow fingerprint come from observe). */
export function toKeyView(
  meta: KeyMetadata,
  tags: Record<string, string>,
  aliases: string[],
  escrowFingerprint?: string,
): KeyView {
  const marker = parseMarker(meta.description);
  const tagged = tags[Tag.Managed] === 'true';
  // A lineage tag edited by hand into something no alias or lease can carry: no lineage at all.
  const lineageTag = tags[Tag.Lineage];
  const lineageTagInvalid = lineageTag !== undefined && !isLineage(lineageTag);
  const supersededUnix = wholeNumber(tags[Tag.SupersededAt]);
  const phaseTag = tags[Tag.Phase];
  return {
    keyId: meta.keyId,
    state: meta.keyState,
    ...(meta.unknownKeyState === undefined ? {} : { unknownState: meta.unknownKeyState }),
    origin: meta.origin,
    keySpec: meta.keySpec,
    creationDateMs: meta.creationDateMs,
    materialExpireAtMs: meta.materialExpireAtMs,
    deleteDateMs: meta.deleteDateMs,
    ...(meta.dkmsInstanceId === undefined ? {} : { dkmsInstanceId: meta.dkmsInstanceId }),
    managed: tagged || marker !== undefined,
    lineage: lineageTagInvalid ? undefined : (lineageTag ?? marker?.lineage),
    generation: wholeNumber(tags[Tag.Generation]) ?? marker?.generation,
    fingerprint: tags[Tag.Fingerprint],
    phase: phaseTag !== undefined && PHASES.has(phaseTag) ? (phaseTag as Phase) : undefined,
    hold: parseHold(tags[Tag.Hold]),
    supersededAtMs: supersededUnix === undefined ? undefined : supersededUnix * 1000,
    validityDaysOverride: wholeNumber(tags[Tag.ValidityDays]),
    untaggedMarker: !tagged && marker !== undefined,
    aliases,
    escrowFingerprint,
    ...(lineageTagInvalid ? { lineageTagInvalid } : {}),
  };
}

/** True when the key carries our managed tag (not only the CreateKey marker of an interrupted run). */
export function isTagged(v: KeyView): boolean {
  return v.managed && !v.untaggedMarker;
}

/**
 * After the orchestrator wrote a key's tags: reads them back and mirrors them onto the key's escrow
 * record (observe reads the mirror instead of each key's tags, docs/design.md, observe). Best
 * effort: a failure is logged and leaves an older mirror, which observe only ever treats as a hint
 * (never a write is planned on it). No-op for an escrow backend without a mirror.
 */
export async function mirrorKeyTags(
  deps: {
    kms: Pick<KmsPort, 'listResourceTags'>;
    escrow: { mirrorKeyTags?: (keyId: string, keyTags: Record<string, string>, nowMs: number) => Promise<void> };
    clock: { nowMs(): number };
    log?: Logger;
  },
  keyId: string,
): Promise<void> {
  if (deps.escrow.mirrorKeyTags === undefined) return;
  try {
    const tags = await deps.kms.listResourceTags(keyId);
    await deps.escrow.mirrorKeyTags(keyId, tags, deps.clock.nowMs());
  } catch (err) {
    deps.log?.warn('tag mirror not updated; observe reads the key itself until it is', {
      keyId,
      code: isOrchestratorError(err) ? err.code : ErrorCode.Internal,
    });
  }
}
