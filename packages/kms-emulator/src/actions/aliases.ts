/**
 * Aliases: CreateAlias, UpdateAlias, DeleteAlias, ListAliases, ListAliasesByKeyId (docs/kms-api.md §2.9,
 * naming §4.3). One alias -> one CMK; a CMK may have many aliases; names unique per emulator.
 */
import { invalidParameter, kmsError } from '../errors.js';
import { pageOf, readPage } from '../params.js';
import type { AliasRecord } from '../store.js';
import { KeyOp, aliasArn, assertKeyUsable, resolveKeyIdOnly } from './context.js';
import type { ActionContext, ActionHandler } from './context.js';

/**
 * Alias names: 1-255 characters INCLUDING the `alias/` prefix (documented: TSM CreateAliasRequest,
 * docs/kms-3-instances.md §7), so at most 249 after it; letters, digits, `_ / -`; not `alias/acs…`.
 * Violations -> InvalidParameter (inferred).
 */
export const ALIAS_NAME_RE = /^alias\/(?!acs)[A-Za-z0-9_/-]{1,249}$/;

/** Reads and validates `AliasName`. */
function aliasName(ctx: ActionContext): string {
  const name = ctx.params.required('AliasName');
  if (!ALIAS_NAME_RE.test(name)) {
    throw invalidParameter(
      'AliasName',
      'It must match ^alias/(?!acs)[A-Za-z0-9_/-]{1,249}$ (at most 255 characters with the prefix).',
    );
  }
  return name;
}

function existingAlias(ctx: ActionContext, name: string): AliasRecord {
  const alias = ctx.store.aliases.get(name);
  // inferred (§2.9): unknown alias -> Forbidden.AliasNotFound 404
  if (alias === undefined) throw kmsError('Forbidden.AliasNotFound');
  return alias;
}

function aliasView(ctx: ActionContext, alias: AliasRecord): Record<string, string> {
  return { AliasName: alias.aliasName, KeyId: alias.keyId, AliasArn: aliasArn(ctx, alias.aliasName) };
}

function aliasPage(ctx: ActionContext, aliases: AliasRecord[]): Record<string, unknown> {
  const page = readPage(ctx.params);
  return {
    Aliases: { Alias: pageOf(aliases, page).map((alias) => aliasView(ctx, alias)) },
    TotalCount: aliases.length,
    PageNumber: page.pageNumber,
    PageSize: page.pageSize,
  };
}

const createAlias: ActionHandler = (ctx) => {
  const name = aliasName(ctx);
  const key = resolveKeyIdOnly(ctx);
  // documented (DOCS21 common errors): duplicate name -> AliasAlreadyExists 400
  if (ctx.store.aliases.has(name)) throw kmsError('AliasAlreadyExists');
  assertKeyUsable(ctx, key, KeyOp.CreateAlias); // PendingDeletion -> Rejected.StateModifiedFailed
  ctx.store.aliases.set(name, { aliasName: name, keyId: key.keyId, creationUnix: ctx.nowUnix });
  ctx.store.markDirty();
  return {};
};

const updateAlias: ActionHandler = (ctx) => {
  const name = aliasName(ctx);
  const alias = existingAlias(ctx, name);
  const key = resolveKeyIdOnly(ctx);
  // documented (STATE): depends only on the new target; PendingDeletion -> Rejected.PendingDeletion
  assertKeyUsable(ctx, key, KeyOp.UpdateAliasTarget);
  alias.keyId = key.keyId;
  ctx.store.markDirty();
  return {};
};

const deleteAlias: ActionHandler = (ctx) => {
  const name = ctx.params.required('AliasName');
  existingAlias(ctx, name);
  ctx.store.aliases.delete(name);
  ctx.store.markDirty();
  return {};
};

const listAliases: ActionHandler = (ctx) => aliasPage(ctx, [...ctx.store.aliases.values()]);

const listAliasesByKeyId: ActionHandler = (ctx) => {
  const key = resolveKeyIdOnly(ctx);
  return aliasPage(
    ctx,
    [...ctx.store.aliases.values()].filter((alias) => alias.keyId === key.keyId),
  );
};

/** Alias handlers by action name. */
export const aliasActions: Readonly<Record<string, ActionHandler>> = {
  CreateAlias: createAlias,
  UpdateAlias: updateAlias,
  DeleteAlias: deleteAlias,
  ListAliases: listAliases,
  ListAliasesByKeyId: listAliasesByKeyId,
};
