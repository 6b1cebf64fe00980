/**
 * KMS 3.0 instance actions: GetKmsInstance, ListKmsInstances, GetDefaultKmsInstance
 * (docs/kms-3-instances.md §4). With KMS 1.0 (an account without instances) the list is empty,
 * the default instance is `""` and every id is unknown.
 */
import { isoSeconds } from '../clock.js';
import { kmsError } from '../errors.js';
import { instanceCondition, keyQuotaOf, secretQuotaOf } from '../instances.js';
import { pageOf, readPage } from '../params.js';
import type { InstanceRecord } from '../store.js';
import type { ActionContext, ActionHandler } from './context.js';

/** Compute spec (`Spec`, QPS) reported for an emulated instance (inferred; not enforced). */
export const INSTANCE_SPEC_QPS = 1000;

/** Instance ARN (documented: META example `acs:kms:<region>:<uid>:keystore/<kst-id>`). */
export function instanceArn(ctx: ActionContext, instanceId: string): string {
  return `acs:kms:${ctx.region}:${ctx.accountId}:keystore/${instanceId}`;
}

/** Live (not released) instances in creation order. */
function liveInstances(ctx: ActionContext): InstanceRecord[] {
  if (ctx.store.kmsVersion !== 3) return [];
  return [...ctx.store.instances.values()].filter((i) => i.releasedUnix === null);
}

const getKmsInstance: ActionHandler = (ctx) => {
  const id = ctx.params.required('KmsInstanceId');
  const instance = liveInstances(ctx).find((i) => i.instanceId === id);
  // inferred (docs §4): META lists no not-found code for GetKmsInstance; the CreateKey one fits
  if (instance === undefined) throw kmsError('Forbidden.DKMSInstanceNotFound');
  const expired = instanceCondition(instance, ctx.nowUnix) === 'expired';
  return {
    // documented (TSM GetKmsInstanceResponseBody): the id field inside KmsInstance is InstanceId
    KmsInstance: {
      InstanceId: instance.instanceId,
      InstanceName: instance.instanceId, // inferred: the console shows the id when no name was set
      Status: 'Connected', // documented value for an enabled instance
      StartDate: isoSeconds(instance.startUnix),
      EndDate: isoSeconds(instance.endUnix),
      CreateTime: isoSeconds(instance.createUnix),
      ChargeType: 'PREPAY',
      ProductType: ctx.region.startsWith('cn-') ? 'kms_ddi_public_cn' : 'kms_ddi_public_intl',
      ProductVersion: '3',
      SaleStatus: expired ? 'Expired' : 'Normal', // 'Normal' documented; 'Expired' inferred
      Spec: INSTANCE_SPEC_QPS,
      KeyNum: keyQuotaOf(instance), // the instance's key quantity (its spec)
      SecretNum: String(secretQuotaOf(instance)), // documented: a string
      VpcNum: 1,
      VpcId: '',
      VswitchIds: [],
      ZoneIds: [],
      BindVpcs: { BindVpc: [] },
      CaCertificateChainPem: '',
      Log: 0,
      LogStorage: 0,
      DeletionProtection: false,
      DeletionProtectionDescription: '',
    },
  };
};

const listKmsInstances: ActionHandler = (ctx) => {
  // documented: PageSize 1-100, default 20. `Filters` is accepted and ignored (its format is undocumented: inferred).
  const page = readPage(ctx.params, 20);
  const all = liveInstances(ctx);
  return {
    KmsInstances: {
      KmsInstance: pageOf(all, page).map((i) => ({
        KmsInstanceId: i.instanceId,
        KmsInstanceArn: instanceArn(ctx, i.instanceId),
      })),
    },
    PageNumber: page.pageNumber,
    PageSize: page.pageSize,
    TotalCount: all.length,
  };
};

const getDefaultKmsInstance: ActionHandler = (ctx) => {
  const id = ctx.store.defaultInstanceId;
  const live = id !== null && liveInstances(ctx).some((i) => i.instanceId === id);
  // inferred (docs §4): no default instance -> 200 with ""
  return { DefaultKmsInstanceId: live ? id : '' };
};

/** Instance handlers by action name. */
export const instanceActions: Readonly<Record<string, ActionHandler>> = {
  GetKmsInstance: getKmsInstance,
  ListKmsInstances: listKmsInstances,
  GetDefaultKmsInstance: getDefaultKmsInstance,
};
