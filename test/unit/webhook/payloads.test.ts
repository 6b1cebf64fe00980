import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ErrorCode, OrchestratorError } from '../../../shared/errors.js';
import {
  DEFAULT_MAX_BODY_BYTES,
  MAX_REASON_LENGTH,
  parseCloudMonitorDimensions,
  parseWebhookPayload,
  type ParsedWebhook,
  type WebhookPayloadOptions,
  type WebhookPayloadRequest,
} from '../../../shared/webhook/payloads.js';
import {
  ACCOUNT_ID,
  KEY_ID,
  SELF_IDENTITY,
  cloudMonitorDocSample,
  cloudMonitorFields,
  formBody,
  kmsCloudEvent,
} from './fixtures.js';

const FORM = 'application/x-www-form-urlencoded; charset=UTF-8';
const JSON_TYPE = 'application/json';

const form = (fields: Record<string, string>): WebhookPayloadRequest => ({ body: formBody(fields), contentType: FORM });
const json = (value: unknown): WebhookPayloadRequest => ({ body: JSON.stringify(value), contentType: JSON_TYPE });

/** The coded error parseWebhookPayload throws (fails the test when it returns). */
function failure(req: WebhookPayloadRequest, opts?: WebhookPayloadOptions): OrchestratorError {
  try {
    parseWebhookPayload(req, opts);
  } catch (err) {
    if (err instanceof OrchestratorError) return err;
    throw err;
  }
  throw new Error('expected parseWebhookPayload to throw');
}

const kinds = (p: ParsedWebhook) => p.intents.map((i) => (i.kind === 'alert' ? `alert:${i.severity}` : i.kind));

describe('CloudMonitor alarm callbacks (form-encoded)', () => {
  it('turns an ALERT into an alert (severity from triggerLevel) and a check of the key in dimensions', () => {
    const parsed = parseWebhookPayload(form(cloudMonitorFields()));
    expect([parsed.source, kinds(parsed), parsed.intents.map((i) => i.target)]).toEqual([
      'cloudmonitor',
      ['alert:critical', 'check'],
      [{ keyId: KEY_ID }, { keyId: KEY_ID }],
    ]);
  });

  it('derives dedupe keys from rule id, timestamp and state, one per intent kind', () => {
    const parsed = parseWebhookPayload(form(cloudMonitorFields()));
    const base = 'cloudmonitor:alarmRule_uuid_bf585f0992efef820bdab9920a57e178d8ae545f32f:1685646149981:ALERT:';
    expect(parsed.intents.map((i) => i.dedupeKey.startsWith(base))).toEqual([true, true]);
    expect(parsed.intents.map((i) => i.dedupeKey.split(':').pop())).toEqual(['alert', 'check']);
  });

  it('gives alerts of one rule for different resources different dedupe keys (issue 8)', () => {
    const other = JSON.stringify({ keyId: 'key-hzz6other0000000000' });
    const a = parseWebhookPayload(form(cloudMonitorFields()));
    const b = parseWebhookPayload(form(cloudMonitorFields({ dimensions: other })));
    expect(a.intents[1]?.dedupeKey).not.toBe(b.intents[1]?.dedupeKey);
  });

  it('gives a repeated callback the same dedupe keys', () => {
    const a = parseWebhookPayload(form(cloudMonitorFields()));
    const b = parseWebhookPayload(form(cloudMonitorFields({ transId: 'retry-has-another-trans-id' })));
    expect(b.intents.map((i) => i.dedupeKey)).toEqual(a.intents.map((i) => i.dedupeKey));
  });

  it('writes a reason naming the alarm, metric, expression and value', () => {
    expect(parseWebhookPayload(form(cloudMonitorFields())).intents[0]?.reason).toBe(
      `CloudMonitor ALERT BYOK material expires soon ` +
        `(byok_custom/byok_days_to_expiry $Value <= 7, current 5) for key ${KEY_ID}`,
    );
  });

  it('accepts the documented sample: ALARM state, JSON dimensions without a key -> all keys, default warning', () => {
    const parsed = parseWebhookPayload(form(cloudMonitorDocSample()));
    expect([kinds(parsed), parsed.intents[0]?.target]).toEqual([['alert:warning', 'check'], { all: true }]);
  });

  it('uses alertName in the dedupe key when ruleId is the literal "null"', () => {
    const parsed = parseWebhookPayload(form(cloudMonitorFields({ ruleId: 'null' })));
    expect(parsed.intents[1]?.dedupeKey).toMatch(
      /^cloudmonitor:BYOK material expires soon:1685646149981:ALERT:\w+:check$/,
    );
  });

  it('reads an alias from the dimensions', () => {
    const parsed = parseWebhookPayload(form(cloudMonitorFields({ dimensions: '{"alias":"alias/payments"}' })));
    expect(parsed.intents[0]?.target).toEqual({ alias: 'alias/payments' });
  });

  it('asks only for a check on INSUFFICIENT_DATA', () => {
    expect(kinds(parseWebhookPayload(form(cloudMonitorFields({ alertState: 'INSUFFICIENT_DATA' }))))).toEqual([
      'check',
    ]);
  });

  it('does nothing on a recovery (OK) and says why', () => {
    const parsed = parseWebhookPayload(form(cloudMonitorFields({ alertState: 'OK' })));
    expect([parsed.intents, parsed.ignored]).toEqual([[], ['CloudMonitor BYOK material expires soon: back to OK']]);
  });

  it('recognises a form body without a Content-Type header', () => {
    expect(parseWebhookPayload({ body: formBody(cloudMonitorFields()) }).source).toBe('cloudmonitor');
  });

  it('rejects a callback without alertName as UnknownPayload naming the field', () => {
    const { alertName: _dropped, ...rest } = cloudMonitorFields();
    const err = failure(form(rest));
    expect([err.code, err.message]).toEqual([
      ErrorCode.UnknownPayload,
      'webhook: unrecognised payload: CloudMonitor callback without alertName',
    ]);
  });

  it('rejects a callback without alertState as UnknownPayload', () => {
    const { alertState: _dropped, ...rest } = cloudMonitorFields();
    expect(failure(form(rest)).message).toContain('without alertState');
  });

  it('rejects an unknown alertState as InvalidInput', () => {
    expect(failure(form(cloudMonitorFields({ alertState: 'MAYBE' }))).details['field']).toBe('alertState');
  });
});

describe('parseCloudMonitorDimensions', () => {
  it('reads a Java-map string', () => {
    expect(parseCloudMonitorDimensions('{apiStageName=RELEASE, region=cn-shenzhen}')).toEqual({
      apiStageName: 'RELEASE',
      region: 'cn-shenzhen',
    });
  });

  it('reads a JSON array of objects', () => {
    expect(parseCloudMonitorDimensions('[{"userId":"12345","instanceId":"i-12345"}]')).toEqual({
      userId: '12345',
      instanceId: 'i-12345',
    });
  });

  it('reads a JSON object', () => {
    expect(parseCloudMonitorDimensions('{"keyId":"k-1"}')).toEqual({ keyId: 'k-1' });
  });
});

describe('EventBridge CloudEvents (ActionTrail KMS calls)', () => {
  it('turns DeleteKeyMaterial into a check of the key, with the caller as actor', () => {
    const parsed = parseWebhookPayload(json(kmsCloudEvent('DeleteKeyMaterial')));
    expect(parsed.intents).toEqual([
      {
        kind: 'check',
        target: { keyId: KEY_ID },
        reason: `DeleteKeyMaterial on key ${KEY_ID} by oncall-bob (EventBridge kms:ActionTrail:ApiCall)`,
        source: 'eventbridge',
        dedupeKey: 'eventbridge:acs.kms:0f4c5d1e-7c35-447a-bd93-fixture00001:check',
        actor: { type: 'ram-user', name: 'oncall-bob', principalId: '2xxxxxxxxxxx', accountId: ACCOUNT_ID },
      },
    ]);
  });

  it('turns ScheduleKeyDeletion into a critical alert and a check', () => {
    expect(kinds(parseWebhookPayload(json(kmsCloudEvent('ScheduleKeyDeletion'))))).toEqual(['alert:critical', 'check']);
  });

  it('turns DisableKey into a warning alert and a check', () => {
    expect(kinds(parseWebhookPayload(json(kmsCloudEvent('DisableKey'))))).toEqual(['alert:warning', 'check']);
  });

  it('turns ImportKeyMaterial by someone else into a check', () => {
    expect(kinds(parseWebhookPayload(json(kmsCloudEvent('ImportKeyMaterial'))))).toEqual(['check']);
  });

  it("ignores the orchestrator's own ImportKeyMaterial (its role name configured)", () => {
    const parsed = parseWebhookPayload(json(kmsCloudEvent('ImportKeyMaterial', { userIdentity: SELF_IDENTITY })), {
      selfRoleNames: ['byok-orchestrator'],
    });
    expect([parsed.intents, parsed.ignored]).toEqual([
      [],
      ['CloudEvent 0f4c5d1e-7c35-447a-bd93-fixture00001: ImportKeyMaterial made by the orchestrator itself'],
    ]);
  });

  it('takes the key id from resourceName when requestParameters has none', () => {
    const event = kmsCloudEvent('DeleteKeyMaterial', {
      requestParameters: {},
      referencedResources: {},
      resourceName: `acs:kms:cn-hangzhou:${ACCOUNT_ID}:key/key-from-arn-0001`,
    });
    expect(parseWebhookPayload(json(event)).intents[0]?.target).toEqual({ keyId: 'key-from-arn-0001' });
  });

  it('falls back to the CloudEvent subject for the key id', () => {
    const event = kmsCloudEvent('DeleteKeyMaterial', { requestParameters: {}, referencedResources: {} });
    expect(parseWebhookPayload(json(event)).intents[0]?.target).toEqual({ keyId: KEY_ID });
  });

  it('targets the alias of an UpdateAlias call', () => {
    const event = kmsCloudEvent(
      'UpdateAlias',
      { requestParameters: { AliasName: 'alias/payments', KeyId: undefined }, referencedResources: {} },
      { subject: 'acs.kms:cn-hangzhou:x:alias/payments' },
    );
    expect(parseWebhookPayload(json(event)).intents[0]?.target).toEqual({ alias: 'alias/payments' });
  });

  it('parses a batch (JSON array) of events in order', () => {
    const batch = [kmsCloudEvent('DeleteKeyMaterial'), kmsCloudEvent('DisableKey', {}, { id: 'second-event' })];
    const parsed = parseWebhookPayload(json(batch));
    expect(parsed.intents.map((i) => i.dedupeKey)).toEqual([
      'eventbridge:acs.kms:0f4c5d1e-7c35-447a-bd93-fixture00001:check',
      'eventbridge:acs.kms:second-event:alert',
      'eventbridge:acs.kms:second-event:check',
    ]);
  });

  it('ignores a KMS call it does not act on (CreateKey)', () => {
    const parsed = parseWebhookPayload(json(kmsCloudEvent('CreateKey')));
    expect([parsed.intents, parsed.ignored]).toEqual([
      [],
      ['CloudEvent 0f4c5d1e-7c35-447a-bd93-fixture00001: CreateKey needs no action'],
    ]);
  });

  it('turns a Decrypt refused with Rejected.PendingImport into a check that may revive the key', () => {
    const event = kmsCloudEvent('Decrypt', { eventRW: 'Read', errorCode: 'Rejected.PendingImport' });
    expect(parseWebhookPayload(json(event)).intents).toEqual([
      {
        kind: 'check',
        target: { keyId: KEY_ID, revive: true },
        reason:
          `Decrypt on key ${KEY_ID} by oncall-bob refused (Rejected.PendingImport): ` +
          'revive if dormant (EventBridge kms:ActionTrail:ApiCall)',
        source: 'eventbridge',
        dedupeKey: 'eventbridge:acs.kms:0f4c5d1e-7c35-447a-bd93-fixture00001:revive',
        actor: { type: 'ram-user', name: 'oncall-bob', principalId: '2xxxxxxxxxxx', accountId: ACCOUNT_ID },
      },
    ]);
    const gdk = kmsCloudEvent('GenerateDataKey', { errorCode: 'Rejected.PendingImport' });
    expect(parseWebhookPayload(json(gdk)).intents.map((i) => i.target)).toEqual([{ keyId: KEY_ID, revive: true }]);
  });

  it('ignores a Decrypt that succeeded or failed for another reason', () => {
    const ok = parseWebhookPayload(json(kmsCloudEvent('Decrypt')));
    const other = parseWebhookPayload(json(kmsCloudEvent('Decrypt', { errorCode: 'Forbidden.KeyNotFound' })));
    expect([ok.intents, other.intents]).toEqual([[], []]);
    expect(other.ignored).toEqual([
      'CloudEvent 0f4c5d1e-7c35-447a-bd93-fixture00001: Decrypt failed with Forbidden.KeyNotFound, nothing to revive',
    ]);
  });

  it('ignores a call that failed (errorCode set)', () => {
    const parsed = parseWebhookPayload(
      json(kmsCloudEvent('DeleteKeyMaterial', { errorCode: 'Forbidden.KeyNotFound' })),
    );
    expect(parsed.intents).toEqual([]);
  });

  it('ignores a KMS event that is not an ActionTrail record (secret rotation)', () => {
    const event = kmsCloudEvent('RotateSecret', {}, { type: 'kms:CloudMonitor:Secret[RotateSecret:Failure]' });
    expect(parseWebhookPayload(json(event)).ignored).toEqual([
      'CloudEvent 0f4c5d1e-7c35-447a-bd93-fixture00001: type ' +
        'kms:CloudMonitor:Secret[RotateSecret:Failure] is not a KMS ActionTrail event',
    ]);
  });

  it('rejects an ActionTrail event without data.eventName, naming it', () => {
    const event = kmsCloudEvent('X', { eventName: undefined });
    const err = failure(json(event));
    expect([err.code, err.message]).toEqual([
      ErrorCode.UnknownPayload,
      'webhook: unrecognised payload: CloudEvent 0f4c5d1e-7c35-447a-bd93-fixture00001 ' +
        '(kms:ActionTrail:ApiCall) without data.eventName',
    ]);
  });

  it('rejects a CloudEvent without id', () => {
    expect(failure(json(kmsCloudEvent('DeleteKeyMaterial', {}, { id: undefined }))).message).toBe(
      'webhook: unrecognised payload: CloudEvent without id',
    );
  });
});

describe('generic JSON', () => {
  it('asks for a check of a key', () => {
    const body = { action: 'check', key: KEY_ID, reason: 'dashboard says 3 days left' };
    expect(parseWebhookPayload(json(body)).intents).toEqual([
      {
        kind: 'check',
        target: { keyId: KEY_ID },
        reason: 'dashboard says 3 days left',
        source: 'generic',
        dedupeKey: `generic:ts::${createHash('sha256').update(JSON.stringify(body)).digest('hex')}:check`,
      },
    ]);
  });

  it('normalises a bare alias name for reimport', () => {
    expect(parseWebhookPayload(json({ action: 'reimport', alias: 'payments' })).intents[0]?.target).toEqual({
      alias: 'alias/payments',
    });
  });

  it('accepts a key ARN and keeps the key id', () => {
    const arn = `acs:kms:cn-hangzhou:${ACCOUNT_ID}:key/${KEY_ID}`;
    expect(parseWebhookPayload(json({ action: 'check', key: arn })).intents[0]?.target).toEqual({ keyId: KEY_ID });
  });

  it('checks all managed keys when neither key nor alias is given', () => {
    const intent = parseWebhookPayload(json({ action: 'check' })).intents[0];
    expect([intent?.target, intent?.reason]).toEqual([{ all: true }, 'generic webhook: check all managed keys']);
  });

  it('raises an alert with the given severity', () => {
    expect(
      kinds(parseWebhookPayload(json({ action: 'alert', alias: 'alias/payments', severity: 'critical' }))),
    ).toEqual(['alert:critical']);
  });

  it('refuses a reimport without a target', () => {
    expect(failure(json({ action: 'reimport' })).details['field']).toBe('key');
  });

  it('refuses an unknown action as InvalidInput', () => {
    const err = failure(json({ action: 'delete', key: KEY_ID }));
    expect([err.code, err.details['field']]).toEqual([ErrorCode.InvalidInput, 'action']);
  });

  it('refuses key and alias together', () => {
    expect(failure(json({ action: 'check', key: KEY_ID, alias: 'alias/payments' })).code).toBe(ErrorCode.InvalidInput);
  });

  it('refuses a malformed alias', () => {
    expect(failure(json({ action: 'check', alias: 'alias/has spaces' })).details['field']).toBe('alias');
  });

  it('gives the same body the same dedupe key and a different body another', () => {
    const key = (body: string) => parseWebhookPayload({ body, contentType: JSON_TYPE }).intents[0]?.dedupeKey;
    const a = '{"action":"check","key":"key-hzz6xxxx"}';
    const [first, again, other] = [key(a), key(a), key('{"action":"check","key":"key-other"}')];
    expect([first === again, first === other]).toEqual([true, false]);
  });

  it('de-duplicates on an explicit delivery id (id field or header), else on signature timestamp + body', () => {
    const body = '{"action":"check","key":"key-hzz6xxxx"}';
    const key = (extra: Partial<{ deliveryId: string; signatureTimestamp: string }>, b = body) =>
      parseWebhookPayload({ body: b, contentType: JSON_TYPE, ...extra }).intents[0]?.dedupeKey;
    // Same body signed at two times: two deliveries (issue 8: the second was dropped as a duplicate).
    expect(key({ signatureTimestamp: '1700000000' })).not.toBe(key({ signatureTimestamp: '1700000600' }));
    expect(key({ signatureTimestamp: '1700000000' })).toBe(key({ signatureTimestamp: '1700000000' }));
    // An explicit id: a retry (re-signed later) is the same delivery.
    expect(key({ deliveryId: 'd-1', signatureTimestamp: '1' })).toBe(
      key({ deliveryId: 'd-1', signatureTimestamp: '2' }),
    );
    const withId = '{"action":"check","key":"key-hzz6xxxx","id":"d-2"}';
    expect(key({ signatureTimestamp: '1' }, withId)).toBe(key({ signatureTimestamp: '2' }, withId));
    expect(key({ deliveryId: 'd-1' })).not.toBe(key({ deliveryId: 'd-3' }));
  });

  it('strips control characters and cuts the reason to 512 characters', () => {
    const reason =
      parseWebhookPayload(json({ action: 'check', reason: `line1\nline2\u0007${'x'.repeat(1000)}` })).intents[0]
        ?.reason ?? '';
    expect([reason.length, reason.startsWith('line1 line2 x'), reason.endsWith('…')]).toEqual([
      MAX_REASON_LENGTH,
      true,
      true,
    ]);
  });

  it('accepts a Buffer body', () => {
    expect(parseWebhookPayload({ body: Buffer.from('{"action":"check"}'), contentType: JSON_TYPE }).source).toBe(
      'generic',
    );
  });
});

describe('unknown and oversized payloads', () => {
  it('rejects JSON that is neither a CloudEvent nor a generic request', () => {
    expect(failure(json({ hello: 'world' })).message).toBe(
      'webhook: unrecognised payload: JSON without specversion (CloudEvent) or action (generic)',
    );
  });

  it('rejects text that is neither JSON nor a CloudMonitor form', () => {
    expect(failure({ body: 'ping', contentType: 'text/plain' }).code).toBe(ErrorCode.UnknownPayload);
  });

  it('rejects an empty body', () => {
    expect(failure({ body: '   ' }).message).toBe('webhook: unrecognised payload: empty body');
  });

  it('rejects a body one byte over 64 KiB as PayloadTooLarge', () => {
    const body = JSON.stringify({ action: 'check', reason: 'x'.repeat(DEFAULT_MAX_BODY_BYTES) }).slice(
      0,
      DEFAULT_MAX_BODY_BYTES + 1,
    );
    const err = failure({ body, contentType: JSON_TYPE });
    expect([err.code, err.details]).toEqual([ErrorCode.PayloadTooLarge, { bytes: 65_537, limitBytes: 65_536 }]);
  });

  it('counts bytes, not characters (multi-byte UTF-8)', () => {
    const body = JSON.stringify({ action: 'check', reason: '密'.repeat(30) }); // 30 chars, 90 bytes
    expect(failure({ body, contentType: JSON_TYPE }, { maxBodyBytes: 100 }).code).toBe(ErrorCode.PayloadTooLarge);
  });

  it('accepts a body exactly at the limit', () => {
    const body = JSON.stringify({ action: 'check' });
    expect(
      parseWebhookPayload({ body, contentType: JSON_TYPE }, { maxBodyBytes: Buffer.byteLength(body) }).intents,
    ).toHaveLength(1);
  });
});
