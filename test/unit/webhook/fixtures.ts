/**
 * Webhook payload fixtures built from docs/fc-runtime.md §7: the real form-encoded CloudMonitor
 * capture (§7.1, fields as captured, metric/dimensions adapted to a KMS key), the documented JSON-style
 * sample (`ALARM`, seconds timestamp, JSON dimensions), and the synthesised EventBridge
 * `DeleteKeyMaterial` CloudEvent (§7.2). Builders return fresh objects so tests can modify them.
 */

/** The key the fixtures talk about. */
export const KEY_ID = 'key-hzz6xxxx';
/** The account of the fixtures. */
export const ACCOUNT_ID = '1234567890123456';

/** CloudMonitor callback fields, in the order of the real capture (§7.1). */
export function cloudMonitorFields(overrides: Record<string, string> = {}): Record<string, string> {
  return {
    lastTime: '0分钟',
    rawMetricName: 'byok_days_to_expiry',
    expression: '$Value <= 7',
    metricName: 'byok_days_to_expiry',
    instanceName: 'null',
    signature: 'FpaZx5JmbQaKGAKM90Wj95oZh/o=',
    transId: 'db5f2204-00ae-11ee-a24f-00163e205386',
    groupId: '4126****',
    regionName: 'null',
    productGroupName: 'byok',
    metricProject: 'byok_custom',
    userId: ACCOUNT_ID,
    curValue: '5',
    unit: '天',
    alertName: 'BYOK material expires soon',
    regionId: 'null',
    namespace: 'byok_custom',
    triggerLevel: 'CRITICAL',
    alertState: 'ALERT',
    preTriggerLevel: 'null',
    ruleId: 'alarmRule_uuid_bf585f0992efef820bdab9920a57e178d8ae545f32f',
    dimensions: `{keyId=${KEY_ID}, region=cn-hangzhou, userId=${ACCOUNT_ID}}`,
    timestamp: '1685646149981',
    ...overrides,
  };
}

/** Form-encodes fields as CloudMonitor posts them (application/x-www-form-urlencoded). */
export function formBody(fields: Record<string, string>): string {
  return new URLSearchParams(fields).toString();
}

/** The documented (older) sample: `ALARM`, seconds timestamp, JSON array dimensions without a key id. */
export function cloudMonitorDocSample(): Record<string, string> {
  return {
    userId: '12345',
    alertName: 'putNewAlarm_group_a37cd898-ea6b-4b7b-a8a8-de017a8327f6',
    timestamp: '1508136760',
    alertState: 'ALARM',
    dimensions: '[{"userId":"12345","instanceId":"i-12345"}]',
    expression: '[{"expression":"$Average>90","level":4,"times":2}]',
    curValue: '95',
    metricName: 'CPUUtilization',
    metricProject: 'acs_ecs_dashboard',
  };
}

/** A KMS ActionTrail CloudEvent (§7.2 synthesised fixture) for `eventName`, with optional data overrides. */
export function kmsCloudEvent(
  eventName: string,
  data: Record<string, unknown> = {},
  envelope: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    id: '0f4c5d1e-7c35-447a-bd93-fixture00001',
    source: 'acs.kms',
    specversion: '1.0',
    type: 'kms:ActionTrail:ApiCall',
    subject: `acs.kms:cn-hangzhou:${ACCOUNT_ID}:key/${KEY_ID}`,
    time: '2025-06-01T02:03:04Z',
    datacontenttype: 'application/json;charset=utf-8',
    aliyunaccountid: ACCOUNT_ID,
    aliyunregionid: 'cn-hangzhou',
    aliyuneventbusname: 'default',
    aliyunpublishtime: '2025-06-01T02:03:05.123Z',
    data: {
      eventId: 'a1b2c3d4-fixture',
      eventVersion: 1,
      eventType: 'ApiCall',
      eventRW: 'Write',
      eventName,
      serviceName: 'Kms',
      acsRegion: 'cn-hangzhou',
      eventTime: '2025-06-01T02:03:04Z',
      requestId: '32B7EB75-62EE-511E-9449-E19EBF67C2ED',
      sourceIpAddress: '203.0.113.10',
      userIdentity: { type: 'ram-user', accountId: ACCOUNT_ID, principalId: '2xxxxxxxxxxx', userName: 'oncall-bob' },
      requestParameters: { KeyId: KEY_ID, RegionId: 'cn-hangzhou' },
      referencedResources: { 'ACS::KMS::Key': [KEY_ID] },
      ...data,
    },
    ...envelope,
  };
}

/** The ActionTrail identity of the orchestrator's own function role. */
export const SELF_IDENTITY = {
  type: 'assumed-role',
  accountId: ACCOUNT_ID,
  principalId: '3xxxxxxxxxxx:byok-sweep',
  arn: `acs:ram::${ACCOUNT_ID}:assumed-role/byok-orchestrator/byok-sweep`,
  sessionName: 'byok-sweep',
};
