/**
 * Old-style tag actions present in SDK v1.2.0: TagResource, UntagResource, ListResourceTags
 * (docs/kms-api.md §2.10). Tags live on keys and on secrets.
 */
import { invalidParameter, kmsError, missingParameter } from '../errors.js';
import { assertInstanceAvailable } from '../instances.js';
import type { Tag } from '../store.js';
import { KeyOp, assertKeyUsable, resolveKeyIdOnly, resolveSecret } from './context.js';
import type { ActionContext, ActionHandler } from './context.js';

/** At most 10 tags per resource via TagResource (documented: DOCS21 TagResource). */
export const MAX_TAGS_PER_RESOURCE = 10;
/** CreateSecret (and CreateKey) accept up to 20 tags (documented: TSM). */
export const MAX_TAGS_ON_CREATE = 20;

/** Key/value characters: letters, digits and `/ \ _ - . + = : @` (documented: TSM CreateKeyRequest). */
const TAG_TEXT_RE = /^[A-Za-z0-9/\\_\-.+=:@]*$/;

/** Validates one tag key/value pair (reserved prefixes `aliyun`, `acs:`; ≤128 chars). */
export function validateTag(param: string, key: string, value: string): void {
  if (key.length < 1 || key.length > 128 || !TAG_TEXT_RE.test(key)) {
    throw invalidParameter(param, 'Tag keys are 1-128 letters, digits or / \\ _ - . + = : @.');
  }
  const lower = key.toLowerCase();
  if (lower.startsWith('aliyun') || lower.startsWith('acs:')) {
    throw invalidParameter(param, 'Tag keys must not start with "aliyun" or "acs:".');
  }
  if (value.length > 128 || !TAG_TEXT_RE.test(value)) {
    throw invalidParameter(param, 'Tag values are 0-128 letters, digits or / \\ _ - . + = : @.');
  }
}

/** Parses a `Tags` JSON string `[{"TagKey":"k","TagValue":"v"}, …]`; later duplicates win. */
export function parseTags(text: string, param = 'Tags', max = MAX_TAGS_ON_CREATE): Tag[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw invalidParameter(param, 'It must be a JSON array of {"TagKey","TagValue"} objects.');
  }
  if (!Array.isArray(parsed))
    throw invalidParameter(param, 'It must be a JSON array of {"TagKey","TagValue"} objects.');
  const tags: Tag[] = [];
  for (const item of parsed as unknown[]) {
    if (typeof item !== 'object' || item === null) throw invalidParameter(param, 'Each tag must be an object.');
    const { TagKey: key, TagValue: value } = item as Record<string, unknown>;
    if (typeof key !== 'string' || typeof value !== 'string') {
      throw invalidParameter(param, 'Each tag needs string TagKey and TagValue.');
    }
    validateTag(param, key, value);
    mergeTag(tags, { key, value });
  }
  if (tags.length > max) throw kmsError('Rejected.LimitExceeded', `At most ${max} tags are allowed per resource.`);
  return tags;
}

/** Parses `TagKeys`: a JSON array string (every documented example) or a comma list (documented prose). */
export function parseTagKeys(text: string): string[] {
  let keys: string[];
  if (text.trimStart().startsWith('[')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw invalidParameter('TagKeys', 'It must be a JSON array of strings or a comma-separated list.');
    }
    if (!Array.isArray(parsed) || !parsed.every((k) => typeof k === 'string')) {
      throw invalidParameter('TagKeys', 'It must be a JSON array of strings.');
    }
    keys = parsed as string[];
  } else {
    keys = text.split(',').map((k) => k.trim());
  }
  for (const key of keys) {
    if (key.length < 1 || key.length > 128) throw invalidParameter('TagKeys', 'Each tag key is 1-128 characters.');
  }
  return keys;
}

function mergeTag(tags: Tag[], tag: Tag): void {
  const existing = tags.find((t) => t.key === tag.key);
  if (existing === undefined) tags.push({ ...tag });
  else existing.value = tag.value;
}

/** The tag list of the one resource named by KeyId / SecretName (exactly one; docs/kms-api.md §2.10). */
function taggedResource(ctx: ActionContext): { tags: Tag[]; touch: () => void } {
  const named = ['KeyId', 'SecretName', 'CertificateId'].filter((n) => ctx.params.optional(n) !== undefined);
  if (named.length === 0) throw missingParameter('KeyId');
  if (named.length > 1) throw invalidParameter(named[1]!, 'Specify exactly one of KeyId, SecretName or CertificateId.');
  if (named[0] === 'CertificateId') throw kmsError('UnsupportedOperation', 'Certificates are not emulated.');
  if (named[0] === 'SecretName') {
    const secret = resolveSecret(ctx);
    assertInstanceAvailable(ctx.store, secret, ctx.nowUnix); // expired instance -> Rejected.Unavailable (inferred)
    return { tags: secret.tags, touch: () => (secret.updateUnix = ctx.nowUnix) };
  }
  const key = resolveKeyIdOnly(ctx);
  assertKeyUsable(ctx, key, KeyOp.Tag); // documented (STATE): PendingDeletion -> Rejected.PendingDeletion
  return { tags: key.tags, touch: () => {} };
}

const tagResource: ActionHandler = (ctx) => {
  const incoming = parseTags(ctx.params.required('Tags'), 'Tags', MAX_TAGS_PER_RESOURCE);
  const resource = taggedResource(ctx);
  const merged = resource.tags.map((t) => ({ ...t }));
  for (const tag of incoming) mergeTag(merged, tag);
  // inferred: exceeding the per-resource limit -> Rejected.LimitExceeded (documented name, 400)
  if (merged.length > MAX_TAGS_PER_RESOURCE) {
    throw kmsError('Rejected.LimitExceeded', `At most ${MAX_TAGS_PER_RESOURCE} tags are allowed per resource.`);
  }
  resource.tags.splice(0, resource.tags.length, ...merged);
  resource.touch();
  ctx.store.markDirty();
  return {};
};

const untagResource: ActionHandler = (ctx) => {
  const keys = new Set(parseTagKeys(ctx.params.required('TagKeys')));
  const resource = taggedResource(ctx);
  const kept = resource.tags.filter((t) => !keys.has(t.key));
  if (kept.length !== resource.tags.length) {
    resource.tags.splice(0, resource.tags.length, ...kept);
    resource.touch();
    ctx.store.markDirty();
  }
  return {};
};

const listResourceTags: ActionHandler = (ctx) => {
  const key = resolveKeyIdOnly(ctx);
  return { Tags: { Tag: key.tags.map((t) => ({ KeyId: key.keyId, TagKey: t.key, TagValue: t.value })) } };
};

/** Tag handlers by action name. */
export const tagActions: Readonly<Record<string, ActionHandler>> = {
  TagResource: tagResource,
  UntagResource: untagResource,
  ListResourceTags: listResourceTags,
};
