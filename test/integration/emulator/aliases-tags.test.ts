import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startKmsEmulator } from '@byok/kms-emulator';
import type { KmsEmulator } from '@byok/kms-emulator';
import { $Kms, expectKmsError, sdkClient } from './helpers.js';
import type Client from '@alicloud/kms20160120';

let emu: KmsEmulator;
let kms: Client;

beforeAll(async () => {
  emu = await startKmsEmulator({ kmsVersion: 1, port: 0 });
  kms = sdkClient(emu);
});
afterAll(() => emu.close());

const newKey = async (fields: Record<string, unknown> = {}) =>
  (await kms.createKey(new $Kms.CreateKeyRequest(fields))).keyMetadata.keyId;
const createAlias = (aliasName: string, keyId: string) =>
  kms.createAlias(new $Kms.CreateAliasRequest({ aliasName, keyId }));
const updateAlias = (aliasName: string, keyId: string) =>
  kms.updateAlias(new $Kms.UpdateAliasRequest({ aliasName, keyId }));
const deleteAlias = (aliasName: string) => kms.deleteAlias(new $Kms.DeleteAliasRequest({ aliasName }));
const aliasesOf = async (keyId: string) =>
  (await kms.listAliasesByKeyId(new $Kms.ListAliasesByKeyIdRequest({ keyId, pageSize: 100 }))).aliases.alias.map(
    (a) => a.aliasName,
  );

describe('aliases', () => {
  it('creates, lists, moves and deletes an alias', async () => {
    const gen1 = await newKey();
    const gen2 = await newKey();
    await createAlias('alias/payments', gen1);
    await createAlias('alias/payments-backup', gen1);
    expect(await aliasesOf(gen1)).toEqual(['alias/payments', 'alias/payments-backup']);
    await updateAlias('alias/payments', gen2);
    expect((await kms.describeKey(new $Kms.DescribeKeyRequest({ keyId: 'alias/payments' }))).keyMetadata.keyId).toBe(
      gen2,
    );
    expect(await aliasesOf(gen1)).toEqual(['alias/payments-backup']);
    const page = await kms.listAliasesByKeyId(new $Kms.ListAliasesByKeyIdRequest({ keyId: gen2 }));
    expect(page).toMatchObject({ totalCount: 1, pageNumber: 1, pageSize: 10 });
    expect(page.aliases.alias[0]).toEqual({
      aliasName: 'alias/payments',
      keyId: gen2,
      aliasArn: 'acs:kms:cn-hangzhou:1234567890123456:alias/payments',
    });
    await deleteAlias('alias/payments');
    expect(await aliasesOf(gen2)).toEqual([]);
    expect((await kms.describeKey(new $Kms.DescribeKeyRequest({ keyId: gen2 }))).keyMetadata.keyState).toBe('Enabled');
  });

  it('pages ListAliases', async () => {
    const keyId = await newKey();
    for (const n of ['alias/page-a', 'alias/page-b', 'alias/page-c']) await createAlias(n, keyId);
    const all = await kms.listAliases(new $Kms.ListAliasesRequest({ pageSize: 100 }));
    const p = await kms.listAliases(new $Kms.ListAliasesRequest({ pageNumber: 2, pageSize: 1 }));
    expect(p.totalCount).toBe(all.totalCount);
    expect(p.aliases.alias).toHaveLength(1);
    expect(p.aliases.alias[0]!.aliasName).toBe(all.aliases.alias[1]!.aliasName);
  });

  it('refuses a duplicate name with AliasAlreadyExists 400', async () => {
    const keyId = await newKey();
    await createAlias('alias/dup', keyId);
    await expectKmsError(createAlias('alias/dup', await newKey()), 'AliasAlreadyExists', 400);
  });

  it.each(['payments', 'alias/acs-reserved', 'alias/has space', 'alias/'])(
    'refuses the name %s with InvalidParameter',
    async (name) => {
      await expectKmsError(createAlias(name, await newKey()), 'InvalidParameter', 400);
    },
  );

  it(
    'answers Forbidden.AliasNotFound for update/delete of an ' + 'unknown alias and KeyNotFound for an unknown key',
    async () => {
      await expectKmsError(updateAlias('alias/ghost', await newKey()), 'Forbidden.AliasNotFound', 404);
      await expectKmsError(deleteAlias('alias/ghost'), 'Forbidden.AliasNotFound', 404);
      await expectKmsError(
        createAlias('alias/orphan', '00000000-0000-4000-8000-000000000000'),
        'Forbidden.KeyNotFound',
        404,
      );
    },
  );

  it(
    'allows aliases on PendingImport keys; refuses moving onto ' +
      'a PendingDeletion key with Rejected.PendingDeletion',
    async () => {
      const external = await newKey({ origin: 'EXTERNAL' });
      await createAlias('alias/pending-import', external);
      const doomed = await newKey();
      await kms.scheduleKeyDeletion(new $Kms.ScheduleKeyDeletionRequest({ keyId: doomed, pendingWindowInDays: 7 }));
      await expectKmsError(updateAlias('alias/pending-import', doomed), 'Rejected.PendingDeletion', 409);
      await expectKmsError(createAlias('alias/on-doomed', doomed), 'Rejected.StateModifiedFailed', 409);
    },
  );
});

describe('tags', () => {
  const tag = (keyId: string, tags: unknown) =>
    kms.tagResource(
      new $Kms.TagResourceRequest({ keyId, tags: typeof tags === 'string' ? tags : JSON.stringify(tags) }),
    );
  const untag = (keyId: string, tagKeys: string) =>
    kms.untagResource(new $Kms.UntagResourceRequest({ keyId, tagKeys }));
  const list = async (keyId: string) =>
    (await kms.listResourceTags(new $Kms.ListResourceTagsRequest({ keyId }))).tags.tag;

  it('tags, overwrites, lists (echoing KeyId) and untags a key', async () => {
    const keyId = await newKey();
    await tag(keyId, [
      { TagKey: 'byok:managed', TagValue: 'true' },
      { TagKey: 'byok:lineage', TagValue: 'payments' },
    ]);
    await tag(keyId, [{ TagKey: 'byok:lineage', TagValue: 'billing' }]);
    expect(await list(keyId)).toEqual([
      { keyId, tagKey: 'byok:managed', tagValue: 'true' },
      { keyId, tagKey: 'byok:lineage', tagValue: 'billing' },
    ]);
    await untag(keyId, '["byok:managed"]');
    expect((await list(keyId)).map((t) => t.tagKey)).toEqual(['byok:lineage']);
    await tag(keyId, [
      { TagKey: 'a', TagValue: '1' },
      { TagKey: 'b', TagValue: '2' },
    ]);
    await untag(keyId, 'a,b');
    expect((await list(keyId)).map((t) => t.tagKey)).toEqual(['byok:lineage']);
  });

  it('allows at most 10 tags per key', async () => {
    const keyId = await newKey();
    await tag(
      keyId,
      Array.from({ length: 10 }, (_, i) => ({ TagKey: `k${i}`, TagValue: 'v' })),
    );
    await expectKmsError(tag(keyId, [{ TagKey: 'k10', TagValue: 'v' }]), 'Rejected.LimitExceeded', 400);
    await tag(keyId, [{ TagKey: 'k0', TagValue: 'overwrite-is-fine' }]);
    expect(await list(keyId)).toHaveLength(10);
  });

  it('refuses reserved prefixes and malformed Tags with InvalidParameter', async () => {
    const keyId = await newKey();
    await expectKmsError(tag(keyId, [{ TagKey: 'aliyun:x', TagValue: 'v' }]), 'InvalidParameter', 400);
    await expectKmsError(tag(keyId, [{ TagKey: 'acs:x', TagValue: 'v' }]), 'InvalidParameter', 400);
    await expectKmsError(tag(keyId, 'not json'), 'InvalidParameter', 400);
    await expectKmsError(untag(keyId, '[1,2]'), 'InvalidParameter', 400);
  });

  it('refuses tagging a PendingDeletion key with Rejected.PendingDeletion but still lists its tags', async () => {
    const keyId = await newKey();
    await tag(keyId, [{ TagKey: 'keep', TagValue: 'me' }]);
    await kms.scheduleKeyDeletion(new $Kms.ScheduleKeyDeletionRequest({ keyId, pendingWindowInDays: 7 }));
    await expectKmsError(tag(keyId, [{ TagKey: 'x', TagValue: 'y' }]), 'Rejected.PendingDeletion', 409);
    await expectKmsError(untag(keyId, '["keep"]'), 'Rejected.PendingDeletion', 409);
    expect((await list(keyId)).map((t) => t.tagKey)).toEqual(['keep']);
  });

  it('requires a resource and answers KeyNotFound for unknown keys', async () => {
    await expectKmsError(kms.tagResource(new $Kms.TagResourceRequest({ tags: '[]' })), 'MissingParameter', 400);
    await expectKmsError(tag('00000000-0000-4000-8000-000000000000', []), 'Forbidden.KeyNotFound', 404);
  });
});
