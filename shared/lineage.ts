/**
 * Lineage names: the one rule, in one place. A lineage name is written verbatim into three KMS
 * resources, so it must satisfy all three at once:
 *
 * - the `byok:lineage` tag value: at most 128 characters of letters, digits and `/ \ _ - . + = : @`
 *   (docs/kms-api.md §2.10);
 * - the alias `alias/<lineage>`: at most 255 characters including `alias/`, only letters, digits,
 *   `_ - /` after the prefix, and not starting with `alias/acs` (docs/kms-api.md §4.3);
 * - the lease secret `byok-lease/<lineage>`: at most 192 characters of letters, digits and
 *   `_ / + = . @ -` (docs/kms-api.md §2.12), i.e. at most 181 for the lineage.
 *
 * The intersection: 1-128 letters, digits, `_`, `-` and `/`, not starting with `acs`.
 * This module imports nothing but the error type, so configuration and escrow can use it too; it
 * also names the tags a managed CMK carries (`Tag`), which the escrow's tag mirror copies.
 */
import { ErrorCode, OrchestratorError } from './errors.js';

/** Longest lineage name: the tag-value limit, the tightest of the three. */
export const LINEAGE_MAX_CHARS = 128;

/** Prefix KMS requires on alias names. */
export const ALIAS_PREFIX = 'alias/';

/** Characters a lineage may use: the alias character set, which the tag and secret sets contain. */
export const LINEAGE_CHARS_SOURCE = '[A-Za-z0-9_/-]';

const ONLY_LINEAGE_CHARS = new RegExp(`^${LINEAGE_CHARS_SOURCE}*$`);
/** KMS reserves aliases starting with `alias/acs` (docs/kms-api.md §4.3). */
const RESERVED_PREFIX = 'acs';

/** Which part of the rule a name broke (carried as `details.rule` of the InvalidInput). */
export const LineageRule = {
  Length: 'lineage-length',
  Characters: 'lineage-characters',
  ReservedPrefix: 'lineage-reserved-prefix',
} as const;
/** A lineage rule id. */
export type LineageRule = (typeof LineageRule)[keyof typeof LineageRule];

/** What is wrong with `name` as a lineage name (the rule and a sentence naming it), or undefined when it is fine. */
export function lineageProblem(name: string): { rule: LineageRule; text: string } | undefined {
  if (name.length < 1 || name.length > LINEAGE_MAX_CHARS) {
    return {
      rule: LineageRule.Length,
      text:
        `a lineage name must be 1-${LINEAGE_MAX_CHARS} characters (it is stored as ` +
        `the byok:lineage tag value, which KMS limits to ${LINEAGE_MAX_CHARS}), got ${name.length}`,
    };
  }
  if (!ONLY_LINEAGE_CHARS.test(name)) {
    return {
      rule: LineageRule.Characters,
      text: 'a lineage name may contain only letters, digits, _, - and / (the characters KMS allows in an alias name)',
    };
  }
  if (name.startsWith(RESERVED_PREFIX)) {
    return {
      rule: LineageRule.ReservedPrefix,
      text:
        `a lineage name must not start with "${RESERVED_PREFIX}" (KMS ` +
        `reserves alias names starting with ${ALIAS_PREFIX}${RESERVED_PREFIX})`,
    };
  }
  return undefined;
}

/** True when `value` is a valid lineage name. */
export function isLineage(value: unknown): value is string {
  return typeof value === 'string' && lineageProblem(value) === undefined;
}

/**
 * The lineage of `alias/<lineage>` or of a bare lineage name. Throws InvalidInput naming `field`
 * and the rule broken (`details.rule`); the message never repeats the input.
 */
export function parseLineage(aliasOrLineage: string, field = 'alias'): string {
  const text = typeof aliasOrLineage === 'string' ? aliasOrLineage : '';
  const lineage = text.startsWith(ALIAS_PREFIX) ? text.slice(ALIAS_PREFIX.length) : text;
  const problem = lineageProblem(lineage);
  if (problem !== undefined) {
    throw new OrchestratorError(ErrorCode.InvalidInput, `${field}: ${problem.text}`, {
      details: { field, rule: problem.rule },
    });
  }
  return lineage;
}

/**
 * Tag keys on managed CMKs. KMS tag keys must not start with `aliyun` or `acs:`; keys and values
 * are ≤128 chars of letters, digits and `/ \ _ - . + = : @` (docs/kms-api.md §2.10).
 */
export const Tag = {
  /** `true` on every CMK this tool manages. */
  Managed: 'byok:managed',
  /** Lineage name: the alias without its `alias/` prefix. */
  Lineage: 'byok:lineage',
  /** Generation number within the lineage, 1-based. */
  Generation: 'byok:generation',
  /** Key check value of the material (never the material): selects the escrow record on re-import. */
  Fingerprint: 'byok:fingerprint',
  /** `provisioning` until imported and self-tested, then `ready`; `retired` after retention. */
  Phase: 'byok:phase',
  /** Why the orchestrator must not bring this key back by itself: `revoked` or `disabled`. */
  Hold: 'byok:hold',
  /** Unix seconds when the alias moved away from this CMK. */
  SupersededAt: 'byok:superseded-at',
  /** Validity override for this lineage, days (set by onboard --validity-days). */
  ValidityDays: 'byok:validity-days',
} as const;
