/**
 * The pure parts of `doctor` (shared/ops/doctor-checks.ts, doctor-secrets.ts, doctor-ram.ts and
 * doctor-render.ts, imported through shared/ops/doctor.ts): thresholds, verdict builders and the output
 * format, with values. The probing itself runs against the emulator in
 * test/integration/cli/doctor.test.ts.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { calledKmsMethods } from '../../support/kms-calls.js';
import { SecretString } from '../../../shared/config/index.js';
import { DAY_MS } from '../../../shared/lifecycle/model.js';
import {
  INSTANCE_FAIL_DAYS,
  INSTANCE_WARN_DAYS,
  KMS_ACTIONS,
  credentialsCheck,
  daysUntil,
  escrowPlacementCheck,
  instanceCheck,
  instanceExpiryStatus,
  protectorKeyCheck,
  ramReadCheck,
  ramWriteCheck,
  renderDoctor,
  ungrantedActions,
  webhookSecretCheck,
  worstStatus,
  type DoctorCheck,
} from '../../../shared/ops/doctor.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const NOW = Date.UTC(2026, 0, 1);
const KEYS = 'kst-hzz65f176a0keys000001';
const ESCROW = 'kst-hzz65f176a0escrow0001';
const connected = (endMs: number | undefined) => ({
  requestId: 'r',
  instanceId: KEYS,
  status: 'Connected',
  ...(endMs === undefined ? {} : { endDateMs: endMs }),
});
const check = (endMs: number) =>
  instanceCheck('keys instance', 'BYOK_KMS_INSTANCE_ID', KEYS, connected(endMs), NOW, 'cn-hangzhou');

describe('instance subscription thresholds (warn at <= 30 days, fail at <= 7)', () => {
  it('counts whole days left, rounded down, negative once past', () => {
    expect([
      daysUntil(NOW + 7 * DAY_MS, NOW),
      daysUntil(NOW + 8 * DAY_MS - 1, NOW),
      daysUntil(NOW + 8 * DAY_MS, NOW),
      daysUntil(NOW - 1, NOW),
    ]).toEqual([7, 7, 8, -1]);
  });

  it.each([
    [0, 'fail'],
    [INSTANCE_FAIL_DAYS, 'fail'],
    [INSTANCE_FAIL_DAYS + 1, 'warn'],
    [INSTANCE_WARN_DAYS, 'warn'],
    [INSTANCE_WARN_DAYS + 1, 'ok'],
    [365, 'ok'],
  ])('%i days left -> %s', (days, status) => {
    expect(instanceExpiryStatus(days)).toBe(status);
  });

  it('at the boundaries, from end dates: 7 d 23 h fails, 8 d warns, 30 d 23 h warns, 31 d is ok', () => {
    expect([
      check(NOW + 8 * DAY_MS - 3_600_000).status,
      check(NOW + 8 * DAY_MS).status,
      check(NOW + 31 * DAY_MS - 3_600_000).status,
      check(NOW + 31 * DAY_MS).status,
    ]).toEqual(['fail', 'warn', 'warn', 'ok']);
  });

  it('an ending instance says when, how many days, and to renew (15 days, then released)', () => {
    expect(check(NOW + 5 * DAY_MS)).toEqual({
      name: 'keys instance',
      status: 'fail',
      detail: `${KEYS} Connected, subscription ends 2026-01-06T00:00:00Z (5 days left)`,
      fix:
        `renew ${KEYS}: past its end date every key and secret in it stops working, and ` +
        `an instance not renewed within 15 days of expiry is released with every key and secret in it`,
    });
    expect(check(NOW + 400 * DAY_MS)).toEqual({
      name: 'keys instance',
      status: 'ok',
      detail: `${KEYS} Connected, subscription ends 2027-02-05T00:00:00Z (400 days left)`,
    });
  });

  it('an instance past its end date, not Connected, unknown, or without an end date', () => {
    expect(check(NOW - 2 * DAY_MS)).toMatchObject({
      status: 'fail',
      detail:
        `${KEYS} subscription ended 2025-12-30T00:00:00Z ` +
        `(2 days ago): its keys and secrets answer Rejected.Unavailable`,
    });
    expect(
      instanceCheck(
        'keys instance',
        'BYOK_KMS_INSTANCE_ID',
        KEYS,
        { ...connected(NOW + 100 * DAY_MS), status: 'Connecting' },
        NOW,
        'cn-hangzhou',
      ),
    ).toMatchObject({
      status: 'fail',
      detail: `${KEYS} is Connecting, not Connected`,
    });
    expect(
      instanceCheck(
        'keys instance',
        'BYOK_KMS_INSTANCE_ID',
        KEYS,
        { code: 'ERR_KMS_FORBIDDEN', kmsCode: 'Forbidden.DKMSInstanceNotFound' },
        NOW,
        'cn-hangzhou',
      ),
    ).toEqual({
      name: 'keys instance',
      status: 'fail',
      detail: `${KEYS} not found in cn-hangzhou (Forbidden.DKMSInstanceNotFound)`,
      fix: 'check BYOK_KMS_INSTANCE_ID and BYOK_REGION',
    });
    expect(
      instanceCheck('keys instance', 'BYOK_KMS_INSTANCE_ID', KEYS, connected(undefined), NOW, 'cn-hangzhou'),
    ).toMatchObject({ status: 'ok', detail: `${KEYS} Connected, no subscription end date reported` });
  });
});

describe('output', () => {
  const checks: DoctorCheck[] = [
    { name: 'credentials', status: 'ok', detail: 'fine' },
    { name: 'shared gateway', status: 'fail', detail: 'refused', fix: 'turn it on' },
    { name: 'webhook secret', status: 'warn', detail: 'unset' },
  ];

  it('prints one line per check: status and name aligned, then the finding and "-> fix"', () => {
    expect(renderDoctor(checks)).toBe(
      [
        'ok    credentials     fine',
        'fail  shared gateway  refused  -> turn it on',
        'warn  webhook secret  unset',
        '',
      ].join('\n'),
    );
  });

  it('the worst verdict decides: any fail, else any warn, else ok', () => {
    expect([
      worstStatus(checks),
      worstStatus(checks.filter((c) => c.status !== 'fail')),
      worstStatus(checks.slice(0, 1)),
      worstStatus([]),
    ]).toEqual(['fail', 'warn', 'ok', 'ok']);
  });
});

describe('credentials', () => {
  const config = {
    region: 'cn-hangzhou',
    kms: { endpoint: 'kms.cn-hangzhou.aliyuncs.com', protocol: 'https' as const, concurrency: 4 },
  };
  it.each([
    ['InvalidAccessKeyId.NotFound', 'KMS does not know the access key id'],
    ['SignatureDoesNotMatch', 'the access key secret does not match the access key id'],
    ['InvalidSecurityToken.Expired', 'the STS security token is invalid or expired'],
    ['Forbidden.RAM', 'the permission system refuses kms:ListKeys'],
  ])('%s is named with what it means', (kmsCode, meaning) => {
    expect(credentialsCheck(config, { code: 'ERR_KMS_FORBIDDEN', kmsCode })).toMatchObject({
      status: 'fail',
      detail: `ListKeys at https://kms.cn-hangzhou.aliyuncs.com (cn-hangzhou) failed: ${meaning} (${kmsCode})`,
    });
  });

  it('a network error points at the region and endpoint', () => {
    expect(credentialsCheck(config, { code: 'ERR_KMS_NETWORK' })).toMatchObject({
      status: 'fail',
      fix: 'check BYOK_REGION and BYOK_KMS_ENDPOINT (and the network route to it)',
    });
  });
});

describe('escrow and lease keys', () => {
  const instances = { keys: KEYS, escrow: ESCROW };
  const meta = { keyId: 'key-e', keyState: 'Enabled' as const, origin: 'Aliyun_KMS' as const, dkmsInstanceId: ESCROW };
  const tagged = { 'byok:escrow': 'true' };

  it('ok: Enabled, Aliyun_KMS, in the escrow instance, tagged for the role policy', () => {
    expect(protectorKeyCheck('escrow key', 'BYOK_ESCROW_KEY_ID', 'key-e', { meta, tags: tagged }, instances)).toEqual({
      name: 'escrow key',
      status: 'ok',
      detail: `key-e Enabled, Aliyun_KMS, in ${ESCROW}, tagged byok:escrow=true`,
    });
  });

  it("fail: in the keys' instance, EXTERNAL and Disabled are all named", () => {
    const r = protectorKeyCheck(
      'escrow key',
      'BYOK_ESCROW_KEY_ID',
      'key-e',
      { meta: { ...meta, keyState: 'Disabled', origin: 'EXTERNAL', dkmsInstanceId: KEYS }, tags: tagged },
      instances,
    );
    expect(r.status).toBe('fail');
    expect(r.detail).toBe(
      `key-e is Disabled, not Enabled; has Origin EXTERNAL, not Aliyun_KMS; is ` +
        `in ${KEYS} (the keys' instance), not in ${ESCROW} (BYOK_ESCROW_INSTANCE_ID)`,
    );
  });

  it('warn: without the byok:escrow tag the deployed role cannot use it for secrets', () => {
    expect(protectorKeyCheck('lease key', 'BYOK_LEASE_KEY_ID', 'key-e', { meta, tags: {} }, instances)).toMatchObject({
      status: 'warn',
      fix: 'tag key-e byok:escrow=true',
    });
  });
});

describe('escrow placement', () => {
  const base = { escrow: { backend: 'kms-secrets' as const, keyId: 'key-e' } };
  it('ok when escrow and keys are in different instances', () => {
    expect(escrowPlacementCheck({ ...base, instances: { keys: KEYS, escrow: ESCROW } }, ESCROW)).toEqual({
      name: 'escrow placement',
      status: 'ok',
      detail: `escrow in ${ESCROW}, keys in ${KEYS}`,
    });
  });
  it('warn when the config shares one instance (only possible with the override or break-glass), naming which', () => {
    expect(escrowPlacementCheck({ ...base, instances: { keys: KEYS, escrow: KEYS } }, KEYS).detail).toMatch(
      /accepted by BYOK_ALLOW_ESCROW_IN_KEY_INSTANCE=true$/,
    );
    expect(
      escrowPlacementCheck({ escrow: { ...base.escrow, recoveryPublicKeyFile: '/r.pem' }, instances: {} }, undefined),
    ).toMatchObject({ status: 'warn', detail: expect.stringContaining('share the default instance (both unset)') });
  });
  it("fail when the escrow key itself sits in the keys' instance whatever the config says", () => {
    expect(escrowPlacementCheck({ ...base, instances: { keys: KEYS, escrow: ESCROW } }, KEYS).status).toBe('fail');
  });
  it('the file backend is in no instance', () => {
    expect(
      escrowPlacementCheck(
        { escrow: { backend: 'file', dir: '/d', masterKeyFile: '/m' }, instances: { keys: KEYS } },
        undefined,
      ).status,
    ).toBe('ok');
  });
});

describe('RAM', () => {
  const policy = JSON.parse(readFileSync(`${root}scripts/deploy/ram-policy-function.json`, 'utf8')) as unknown;

  it(
    'the shipped policy grants every action the product calls: ' +
      'write calls ok, and the detail says they were not probed',
    () => {
      const r = ramWriteCheck(policy);
      expect([
        r.status,
        r.detail.startsWith(
          'not probed (write): CreateKey, TagResource, UntagResource, CreateAlias, UpdateAlias, ' +
            'GetParametersForImport, ImportKeyMaterial, ' +
            'DeleteKeyMaterial, CreateSecret, PutSecretValue; checked statically',
        ),
      ]).toEqual(['ok', true]);
    },
  );

  it('a policy without ImportKeyMaterial and GetKmsInstance fails naming both', () => {
    const trimmed = JSON.parse(JSON.stringify(policy)) as { Statement: Array<{ Action: string[] | string }> };
    for (const s of trimmed.Statement)
      s.Action = (Array.isArray(s.Action) ? s.Action : [s.Action]).filter(
        (a) => a !== 'kms:ImportKeyMaterial' && a !== 'kms:GetKmsInstance',
      );
    expect(ungrantedActions(trimmed, [...KMS_ACTIONS.read, ...KMS_ACTIONS.write])).toEqual([
      'kms:GetKmsInstance',
      'kms:ImportKeyMaterial',
    ]);
    expect(ramWriteCheck(trimmed)).toMatchObject({
      status: 'fail',
      detail: expect.stringMatching(
        /ram-policy-function\.json does not grant kms:GetKmsInstance, kms:ImportKeyMaterial$/,
      ),
    });
  });

  it('wildcards grant as RAM reads them', () => {
    expect(
      ungrantedActions(
        {
          Statement: [
            { Effect: 'Allow', Action: 'kms:Get*' },
            { Effect: 'Deny', Action: 'kms:List*' },
          ],
        },
        ['GetSecretValue', 'ListKeys'],
      ),
    ).toEqual(['kms:ListKeys']);
  });

  it(
    'read probes: a refusal fails and is named; an unprobed read warns ' +
      'with the reason; "not found" still proves the call is allowed',
    () => {
      const expected = ['ListKeys', 'ListSecrets', 'GetSecretValue', 'DescribeKey'];
      const refused = ramReadCheck({
        identity: 'the function role',
        expected,
        records: [
          { action: 'ListKeys' },
          { action: 'ListSecrets', error: { code: 'ERR_KMS_FORBIDDEN', kmsCode: 'Forbidden.RAM' } },
          { action: 'DescribeKey', error: { code: 'ERR_KMS_NOT_FOUND', kmsCode: 'Forbidden.KeyNotFound' } },
        ],
        skipped: { GetSecretValue: 'ListSecrets failed' },
      });
      expect(refused).toEqual({
        name: 'ram read calls',
        status: 'fail',
        detail:
          'probed as the function role; answered: ListKeys, DescribeKey; refused: ' +
          'ListSecrets (Forbidden.RAM); not probed: GetSecretValue (ListSecrets failed)',
        fix: 'grant kms:ListSecrets to the function role (scripts/deploy/ram-policy-function.json)',
      });
      const unprobed = ramReadCheck({
        identity: 'access key a',
        expected,
        records: [{ action: 'ListKeys' }, { action: 'ListSecrets' }, { action: 'DescribeKey' }],
        skipped: { GetSecretValue: 'no escrow or lease secret yet' },
      });
      expect([unprobed.status, unprobed.detail]).toEqual([
        'warn',
        'probed as access key a; answered: ListKeys, ListSecrets, ' +
          'DescribeKey; not probed: GetSecretValue (no escrow or lease secret yet)',
      ]);
    },
  );

  it('KMS_ACTIONS lists exactly the KMS calls in shared/ and functions/ (kms.<method>( call sites)', () => {
    const action = (method: string) => method.charAt(0).toUpperCase() + method.slice(1);
    expect(calledKmsMethods().map(action).sort()).toEqual([...KMS_ACTIONS.read, ...KMS_ACTIONS.write].sort());
  });
});

describe('webhook secrets (values are never shown)', () => {
  const VALUE = 'whsec-0123456789abcdef-SECRET';
  it('a literal value: ok, set, value not shown', () => {
    const r = webhookSecretCheck('secret', { source: 'value', value: new SecretString(VALUE) });
    expect(r).toEqual({ name: 'webhook secret', status: 'ok', detail: 'set in BYOK_WEBHOOK_SECRET (value not shown)' });
    expect(JSON.stringify(r)).not.toContain(VALUE);
  });
  it('unset: warn, naming what the webhook then rejects', () => {
    expect(webhookSecretCheck('urlToken', undefined)).toMatchObject({
      status: 'warn',
      detail:
        'BYOK_WEBHOOK_URL_TOKEN_NAME and BYOK_WEBHOOK_URL_TOKEN ' +
        'unset: the webhook rejects every CloudMonitor callback (?token=)',
    });
  });
  it('a named secret: readable -> ok; missing -> fail with the fix; refused -> fail', () => {
    const setting = { source: 'kms-secret' as const, secretName: 'byok-webhook-hmac' };
    expect(webhookSecretCheck('secret', setting, 'readable').status).toBe('ok');
    expect(
      webhookSecretCheck('secret', setting, { code: 'ERR_KMS_NOT_FOUND', kmsCode: 'Forbidden.ResourceNotFound' }),
    ).toEqual({
      name: 'webhook secret',
      status: 'fail',
      detail: 'secret byok-webhook-hmac (BYOK_WEBHOOK_SECRET_NAME) does not exist (Forbidden.ResourceNotFound)',
      fix: 'create it (scripts/deploy/README.md) or correct BYOK_WEBHOOK_SECRET_NAME',
    });
    expect(
      webhookSecretCheck('secret', setting, { code: 'ERR_KMS_FORBIDDEN', kmsCode: 'Forbidden.NoPermission' }).detail,
    ).toBe('reading secret byok-webhook-hmac (BYOK_WEBHOOK_SECRET_NAME) refused (Forbidden.NoPermission)');
  });
});
