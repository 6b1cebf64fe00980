/**
 * The key-tag mirror: a copy of a managed CMK's `byok:*` tags kept in ONE tag on its escrow record
 * (kms-secrets: tag `byok:key-tags` on the escrow secret), so a sweep can read every managed key's
 * tags from the escrow listing (ListSecrets with tags, 100 a page) instead of one ListResourceTags
 * per key. It is a hint: observe uses it only where docs/design.md (observe) says it may, and every
 * write is planned and checked on the key's own tags.
 *
 * Value grammar (<= 128 chars of tag-value characters, docs/kms-api.md §2.10):
 *
 *     v1/<identity>/<phase>/<hold>/<superseded-at>/<validity-days>/<day>
 *
 * `_` stands for an absent tag; `<day>` is the UTC day (since the epoch) on which the mirror was
 * written from the key's own tags (read just before), which dates the mirror for the reconcile.
 * `<identity>` is 12 hex digits of SHA-256 over the key's managed/lineage/generation/fingerprint
 * tags: it matches only when those tags are exactly what the escrow record says (managed, the
 * record's lineage, generation and fingerprint), which keeps the value short (a lineage alone may
 * take 128 chars). A key whose tags the grammar cannot carry (an
 * unknown `byok:` tag, a value with other characters) is mirrored as `none`: never used.
 */
import { createHash } from 'node:crypto';
import { Tag } from '../lineage.js';

/** The managed key's tag keys the mirror carries: all of them (shared/lineage.ts `Tag`). */
export const MirroredTag = Tag;

/** The mirror of a key whose tags the grammar cannot carry. */
export const MIRROR_NONE = 'none';

const ABSENT = '_';
const WORD = /^[a-z][a-z-]{0,23}$/;
const DIGITS = /^\d{1,12}$/;
const VARIABLE: ReadonlyArray<[string, RegExp]> = [
  [MirroredTag.Phase, WORD],
  [MirroredTag.Hold, WORD],
  [MirroredTag.SupersededAt, DIGITS],
  [MirroredTag.ValidityDays, DIGITS],
];
const KNOWN: ReadonlySet<string> = new Set(Object.values(MirroredTag));

/** What an escrow record says about its key. */
export interface MirrorIdentity {
  lineage: string;
  generation: number;
  fingerprint: string;
}

function identityHash(managed?: string, lineage?: string, generation?: string, fingerprint?: string): string {
  const part = (v: string | undefined) => (v === undefined ? '\u0000' : `=${v}`);
  return createHash('sha256')
    .update([managed, lineage, generation, fingerprint].map(part).join('\n'))
    .digest('hex')
    .slice(0, 12);
}

/**
 * The mirror value of `keyTags` (only `byok:` tags matter; other tags are the operator's), read on
 * UTC day `day`.
 */
export function encodeTagMirror(keyTags: Readonly<Record<string, string>>, day: number): string {
  for (const k of Object.keys(keyTags)) if (k.startsWith('byok:') && !KNOWN.has(k)) return MIRROR_NONE;
  const parts = ['v1'];
  parts.push(
    identityHash(
      keyTags[MirroredTag.Managed],
      keyTags[MirroredTag.Lineage],
      keyTags[MirroredTag.Generation],
      keyTags[MirroredTag.Fingerprint],
    ),
  );
  for (const [tag, pattern] of VARIABLE) {
    const v = keyTags[tag];
    if (v === undefined) parts.push(ABSENT);
    else if (pattern.test(v)) parts.push(v);
    else return MIRROR_NONE;
  }
  parts.push(String(Math.max(0, Math.floor(day))));
  return parts.join('/');
}

/** A decoded mirror: the key's `byok:` tags and the day they were read. */
export interface TagMirror {
  tags: Record<string, string>;
  day: number;
}

/**
 * The key's `byok:` tags a mirror value says, given what the escrow record says; undefined when the
 * value is absent, `none`, malformed, or names other identity tags than the record's.
 */
export function decodeTagMirror(value: string | undefined, record: MirrorIdentity): TagMirror | undefined {
  if (value === undefined) return undefined;
  const parts = value.split('/');
  if (parts.length !== 3 + VARIABLE.length || parts[0] !== 'v1') return undefined;
  const day = parts[2 + VARIABLE.length]!;
  if (!DIGITS.test(day)) return undefined;
  const generation = String(record.generation);
  if (parts[1] !== identityHash('true', record.lineage, generation, record.fingerprint)) return undefined;
  const tags: Record<string, string> = {
    [MirroredTag.Managed]: 'true',
    [MirroredTag.Lineage]: record.lineage,
    [MirroredTag.Generation]: generation,
    [MirroredTag.Fingerprint]: record.fingerprint,
  };
  for (let i = 0; i < VARIABLE.length; i++) {
    const [tag, pattern] = VARIABLE[i]!;
    const v = parts[2 + i]!;
    if (v === ABSENT) continue;
    if (!pattern.test(v)) return undefined;
    tags[tag] = v;
  }
  return { tags, day: Number(day) };
}

/** The key's `byok:` tags only (what the mirror compares). */
export function byokTagsOf(tags: Readonly<Record<string, string>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(tags)) if (k.startsWith('byok:')) out[k] = v;
  return out;
}
