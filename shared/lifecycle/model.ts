/**
 * The lifecycle's vocabulary: the tags that hold its state in KMS (docs/design.md §4), the snapshot that
 * observe produces, and the per-lineage policy.
 */
import type { LineagePolicy, Policies } from '../config/index.js';
import type { KeyState } from '../kms/port.js';
import { ALIAS_PREFIX, LINEAGE_CHARS_SOURCE, isLineage } from '../lineage.js';
import type { KeySpec, WrappingAlgorithm } from '../wrap/index.js';

/** Tag keys on managed CMKs (defined beside the lineage rule, so escrow can use them too). */
export { Tag } from '../lineage.js';

/** Provisioning phases of a managed CMK. */
export const Phase = {
  Provisioning: 'provisioning',
  Ready: 'ready',
  Retired: 'retired',
  FailedSelfTest: 'failed-self-test',
} as const;
/** A provisioning phase. */
export type Phase = (typeof Phase)[keyof typeof Phase];

/** Why a key is held back from automatic repair. */
export const Hold = { Revoked: 'revoked', Disabled: 'disabled' } as const;
/** A hold reason. */
export type Hold = (typeof Hold)[keyof typeof Hold];

/** CreateKey Description marker, so a CMK created just before a crash (untagged) is still recognised. */
export function describeMarker(lineage: string, generation: number): string {
  return `byok-orchestrator lineage=${lineage} generation=${generation}`;
}

const MARKER_PATTERN = new RegExp(`^byok-orchestrator lineage=(${LINEAGE_CHARS_SOURCE}+) generation=(\\d+)$`);

/** Parses the Description marker back; undefined when absent or when the lineage in it is not a valid lineage name. */
export function parseMarker(description: string): { lineage: string; generation: number } | undefined {
  const m = MARKER_PATTERN.exec(description);
  return m && isLineage(m[1]) ? { lineage: m[1]!, generation: Number(m[2]) } : undefined;
}

/** Alias of a lineage. */
export function aliasOf(lineage: string): string {
  return `${ALIAS_PREFIX}${lineage}`;
}

/**
 * One CMK as the orchestrator sees it: KMS metadata and our tags, parsed once (key-view.ts). The
 * planner reads it from the snapshot, the executor from a fresh read just before it writes.
 */
export interface KeyView {
  keyId: string;
  state: KeyState;
  /** KMS's word when `state` is Unknown (a state this code does not know). */
  unknownState?: string;
  origin: string;
  keySpec: string;
  creationDateMs: number;
  materialExpireAtMs?: number;
  deleteDateMs?: number;
  /** KMS 3.0: the instance the key lives in; undefined for a default key or on KMS 1.0. */
  dkmsInstanceId?: string;
  /** True when tagged managed, or carrying our CreateKey marker. */
  managed: boolean;
  lineage?: string;
  generation?: number;
  fingerprint?: string;
  /** Undefined when untagged, or when the tag holds no phase we know. */
  phase?: Phase;
  /** Undefined when there is none; a hold tag with a value we do not know counts as `revoked`. */
  hold?: Hold;
  supersededAtMs?: number;
  validityDaysOverride?: number;
  /** True when the key carries our Description marker but not yet our tags (crash right after CreateKey). */
  untaggedMarker: boolean;
  /** Aliases pointing at this key. */
  aliases: string[];
  /** Escrow record present for this key id, and its fingerprint. */
  escrowFingerprint?: string;
  /**
   * True when the key carries a `byok:lineage` tag that is not a valid lineage name (set by hand):
   * it belongs to no lineage, so nothing is done to it, and the plan alerts.
   */
  lineageTagInvalid?: boolean;
}

/** What the configuration uses a KMS 3.0 instance for. */
export type InstanceRole = 'keys' | 'escrow';

/** A configured KMS 3.0 instance as observe saw it (GetKmsInstance). */
export interface InstanceView {
  instanceId: string;
  /** Sorted; both when the keys and the escrow share the instance. */
  roles: InstanceRole[];
  /** KMS's own word: Uninitialized, Connecting, Connected, Disconnected or Error. */
  status?: string;
  /** End of the subscription; undefined when KMS gives none. */
  endDateMs?: number;
  /** Set when GetKmsInstance failed: our error code and KMS's code, if any. */
  readError?: { code: string; kmsCode?: string };
}

/** Everything observe saw, as plain data (JSON-serialisable). */
export interface Snapshot {
  takenAtMs: number;
  keys: KeyView[];
  /** alias name -> key id, every alias in the account. */
  aliases: Record<string, string>;
  /**
   * Escrow records by key id (fingerprints only). `versionCount` is set when the backend holds more
   * versions of the record than the one the orchestrator wrote (stray writes on an escrow secret).
   */
  escrow: Record<string, { fingerprint: string; lineage: string; generation: number; versionCount?: number }>;
  /** Key ids whose escrow record exists but failed verification (corrupt, wrong key). */
  escrowUnreadable: string[];
  /** Keys listed by KMS that could not be described (with the error code); alerted, never acted on. */
  unobservable: Array<{ keyId: string; code: string }>;
  /** The configured KMS 3.0 instances (keys, escrow), sorted by id; empty when none is configured. */
  instances: InstanceView[];
}

/** Per-lineage policy and the policies of all lineages: shapes the config module owns (one name each). */
export type { LineagePolicy, Policies } from '../config/index.js';

/** Resolves the effective policy for a lineage (a key's validity-days tag wins over config). */
export function policyFor(policies: Policies, lineage: string, validityDaysOverride?: number): LineagePolicy {
  const p = { ...policies.defaults, ...(policies.lineages[lineage] ?? {}) };
  return validityDaysOverride ? { ...p, validityDays: validityDaysOverride } : p;
}

/**
 * The policy one action runs under, resolved when its plan is made: the executor never looks a
 * policy up, nor back into the snapshot.
 */
export interface ActionPolicy {
  /** Valid Until of each import, in days from the import (the override, when there is one). */
  validityDays: number;
  renewBeforeDays: number;
  wrappingAlgorithm: WrappingAlgorithm;
  /** Key spec of a CMK this action creates. */
  keySpec: KeySpec;
  /** The `byok:validity-days` override in force (a key's tag, or onboard's); tagged on a new generation. */
  validityDaysOverride?: number;
}

/** The ActionPolicy of a lineage, with the validity override of the key the action concerns. */
export function actionPolicy(policies: Policies, lineage: string, validityDaysOverride?: number): ActionPolicy {
  const p = policyFor(policies, lineage, validityDaysOverride);
  return {
    validityDays: p.validityDays,
    renewBeforeDays: p.renewBeforeDays,
    wrappingAlgorithm: p.wrappingAlgorithm,
    keySpec: p.keySpec,
    ...(validityDaysOverride ? { validityDaysOverride } : {}),
  };
}

/** Milliseconds in a day. */
export const DAY_MS = 86_400_000;

/** A lineage's keys grouped: the alias target and every generation. */
export interface LineageView {
  lineage: string;
  aliasTargetKeyId?: string;
  /** Managed keys of this lineage, by generation ascending. */
  keys: KeyView[];
}

/** Groups managed keys by lineage. */
export function lineagesOf(snapshot: Snapshot): LineageView[] {
  const byName = new Map<string, LineageView>();
  for (const k of snapshot.keys) {
    if (!k.managed || !k.lineage) continue;
    let l = byName.get(k.lineage);
    if (!l) {
      l = { lineage: k.lineage, aliasTargetKeyId: snapshot.aliases[aliasOf(k.lineage)], keys: [] };
      byName.set(k.lineage, l);
    }
    l.keys.push(k);
  }
  for (const l of byName.values()) l.keys.sort((a, b) => (a.generation ?? 0) - (b.generation ?? 0));
  return [...byName.values()].sort((a, b) => a.lineage.localeCompare(b.lineage));
}
