import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { ConfigError, SecretString, parseConfig, redactConfig } from '../../../shared/config/index.js';
import { ErrorCode } from '../../../shared/errors.js';

const KEYS = 'kst-hzz65f176a0keys0001';
const ESCROW = 'kst-hzz65f176a0escrow01';
/** The smallest valid environment: region, escrow CMK (kms-secrets backend by default), two KMS instances. */
const base = {
  BYOK_REGION: 'cn-hangzhou',
  BYOK_ESCROW_KEY_ID: 'key-escrow-0001',
  BYOK_KMS_INSTANCE_ID: KEYS,
  BYOK_ESCROW_INSTANCE_ID: ESCROW,
};

/** Parses and returns the ConfigError, failing the test if parsing succeeded. */
function problemsOf(env: Record<string, string | undefined>): ConfigError {
  try {
    parseConfig(env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error('parseConfig accepted an invalid environment');
}

describe('parseConfig defaults', () => {
  it('fills every default from region and escrow key alone', () => {
    expect(parseConfig(base)).toEqual({
      region: 'cn-hangzhou',
      // Concurrency derived (no fixed value); 80 % of each documented QPS quota.
      kms: { endpoint: 'kms.cn-hangzhou.aliyuncs.com', protocol: 'https', qpsShare: 0.8 },
      sweep: { shardLineages: 10_000, parallelShards: 4, escrowVerifyDays: 30, tagReconcileDays: 30 },
      escrow: { backend: 'kms-secrets', keyId: 'key-escrow-0001' },
      instances: { keys: KEYS, escrow: ESCROW },
      leaseKeyId: 'key-escrow-0001',
      leaseTtlSeconds: 900,
      audit: { sink: 'stdout' },
      policies: {
        defaults: {
          validityDays: 30,
          renewBeforeDays: 7,
          rotateAfterDays: 365,
          retainPreviousDays: 0,
          reviveValidityDays: 7,
          wrappingAlgorithm: 'RSAES_OAEP_SHA_256',
          keySpec: 'Aliyun_AES_256',
        },
        lineages: {},
      },
      webhook: { selfRoleNames: [], selfSessionNames: [] },
      alerts: { resendHours: { critical: 24, warning: 168 } },
      warnings: [],
    });
  });

  it('treats empty values as unset and trims others', () => {
    const c = parseConfig({ ...base, BYOK_KMS_ENDPOINT: '', BYOK_POLICY_VALIDITY_DAYS: ' 45 ', BYOK_AUDIT_SINK: '  ' });
    expect([c.kms.endpoint, c.policies.defaults.validityDays, c.audit.sink]).toEqual([
      'kms.cn-hangzhou.aliyuncs.com',
      45,
      'stdout',
    ]);
  });

  it('takes the emulator endpoint and http', () => {
    const c = parseConfig({
      ...base,
      BYOK_KMS_ENDPOINT: '127.0.0.1:8765',
      BYOK_KMS_PROTOCOL: 'http',
      BYOK_KMS_MAX_RPS: '2.5',
      BYOK_KMS_CONCURRENCY: '16',
      BYOK_KMS_QPS_SHARE: 'off',
    });
    expect(c.kms).toEqual({ endpoint: '127.0.0.1:8765', protocol: 'http', maxRequestsPerSecond: 2.5, concurrency: 16 });
  });

  it('takes a QPS share and a shard size', () => {
    const c = parseConfig({ ...base, BYOK_KMS_QPS_SHARE: '0.5', BYOK_SWEEP_SHARD_LINEAGES: '500' });
    expect([c.kms.qpsShare, c.sweep.shardLineages]).toEqual([0.5, 500]);
  });

  it('uses the file backend with its directory and master key, and a separate lease key', () => {
    const c = parseConfig({
      BYOK_REGION: 'cn-shanghai',
      BYOK_ESCROW_BACKEND: 'file',
      BYOK_ESCROW_DIR: '/var/escrow',
      BYOK_ESCROW_MASTER_KEY_FILE: '/etc/byok/master.key',
      BYOK_LEASE_KEY_ID: 'key-lease-1',
      BYOK_RECOVERY_PUBLIC_KEY_FILE: '/etc/byok/recovery.pem',
    });
    expect(c.escrow).toEqual({
      backend: 'file',
      dir: '/var/escrow',
      masterKeyFile: '/etc/byok/master.key',
      recoveryPublicKeyFile: '/etc/byok/recovery.pem',
    });
    expect(c.leaseKeyId).toBe('key-lease-1');
  });

  it('prefers BYOK_LEASE_KEY_ID over the escrow key for leases', () => {
    expect(parseConfig({ ...base, BYOK_LEASE_KEY_ID: 'key-lease-2' }).leaseKeyId).toBe('key-lease-2');
  });

  it('accepts rotate-after 0 as never', () => {
    expect(parseConfig({ ...base, BYOK_POLICY_ROTATE_AFTER_DAYS: '0' }).policies.defaults.rotateAfterDays).toBe(0);
  });

  it('keeps previous generations forever by default; a retention and a revive validity are configurable', () => {
    const d = parseConfig(base).policies.defaults;
    expect([d.retainPreviousDays, d.reviveValidityDays]).toEqual([0, 7]);
    const c = parseConfig({
      ...base,
      BYOK_POLICY_RETAIN_PREVIOUS_DAYS: '90',
      BYOK_POLICY_REVIVE_VALIDITY_DAYS: '3',
      BYOK_POLICY_OVERRIDES: '{"payments": {"retainPreviousDays": 0, "reviveValidityDays": 14}}',
    });
    expect([c.policies.defaults.retainPreviousDays, c.policies.defaults.reviveValidityDays]).toEqual([90, 3]);
    expect(c.policies.lineages).toEqual({ payments: { retainPreviousDays: 0, reviveValidityDays: 14 } });
    expect(() => parseConfig({ ...base, BYOK_POLICY_OVERRIDES: '{"p": {"reviveValidityDays": 0}}' })).toThrow(
      'BYOK_POLICY_OVERRIDES.p.reviveValidityDays: must be a whole number from 1 to 3650, got 0',
    );
  });

  it('parses per-lineage overrides field by field', () => {
    const c = parseConfig({
      ...base,
      BYOK_POLICY_OVERRIDES:
        '{"payments": {"validityDays": 10, "renewBeforeDays": 3}, "sm/legacy": ' +
        '{"keySpec": "Aliyun_SM4", "wrappingAlgorithm": "SM2PKE", "rotateAfterDays": 0}}',
    });
    expect(c.policies.lineages).toEqual({
      payments: { validityDays: 10, renewBeforeDays: 3 },
      'sm/legacy': { keySpec: 'Aliyun_SM4', wrappingAlgorithm: 'SM2PKE', rotateAfterDays: 0 },
    });
  });

  it('reads the webhook secret from a KMS secret name', () => {
    expect(
      parseConfig({
        ...base,
        BYOK_WEBHOOK_SECRET_NAME: 'byok-webhook-auth',
        BYOK_WEBHOOK_URL_TOKEN_NAME: 'byok-webhook-auth',
      }).webhook,
    ).toEqual({
      secret: { source: 'kms-secret', secretName: 'byok-webhook-auth' },
      urlToken: { source: 'kms-secret', secretName: 'byok-webhook-auth' },
      selfRoleNames: [],
      selfSessionNames: [],
    });
  });
});

describe('parseConfig rules (each names the variable and the rule)', () => {
  it.each([
    [{ BYOK_REGION: undefined }, 'BYOK_REGION: required: the KMS region id, e.g. cn-hangzhou'],
    [{ BYOK_REGION: 'Hangzhou' }, 'BYOK_REGION: must be a region id such as cn-hangzhou, got "Hangzhou"'],
    [
      { BYOK_KMS_ENDPOINT: 'https://kms.cn-hangzhou.aliyuncs.com' },
      'BYOK_KMS_ENDPOINT: must be host[:port] without a scheme (set ' +
        'BYOK_KMS_PROTOCOL instead), got "https://kms.cn-hangzhou.aliyuncs.com"',
    ],
    [
      { BYOK_KMS_ENDPOINT: '127.0.0.1:99999' },
      'BYOK_KMS_ENDPOINT: must be host[:port] with a port from 1 to 65535, got "127.0.0.1:99999"',
    ],
    [
      { BYOK_KMS_ENDPOINT: 'kms host' },
      'BYOK_KMS_ENDPOINT: must be host[:port] with a port from 1 to 65535, got "kms host"',
    ],
    [{ BYOK_KMS_PROTOCOL: 'HTTPS' }, 'BYOK_KMS_PROTOCOL: must be one of http, https, got "HTTPS"'],
    [{ BYOK_KMS_MAX_RPS: '0' }, 'BYOK_KMS_MAX_RPS: must be a number greater than 0 and at most 1000, got "0"'],
    [{ BYOK_KMS_CONCURRENCY: '65' }, 'BYOK_KMS_CONCURRENCY: must be a whole number from 1 to 64, got "65"'],
    [{ BYOK_KMS_QPS_SHARE: '0' }, 'BYOK_KMS_QPS_SHARE: must be a number greater than 0 and at most 1, or off, got "0"'],
    [
      { BYOK_KMS_QPS_SHARE: '1.5' },
      'BYOK_KMS_QPS_SHARE: must be a number greater than 0 and at most 1, or off, got "1.5"',
    ],
    [
      { BYOK_SWEEP_SHARD_LINEAGES: '5' },
      'BYOK_SWEEP_SHARD_LINEAGES: must be a whole number from 10 to 1000000, got "5"',
    ],
    [{ BYOK_ESCROW_VERIFY_DAYS: '0' }, 'BYOK_ESCROW_VERIFY_DAYS: must be a whole number from 1 to 366, got "0"'],
    [{ BYOK_TAG_RECONCILE_DAYS: '400' }, 'BYOK_TAG_RECONCILE_DAYS: must be a whole number from 1 to 366, got "400"'],
    [{ BYOK_ESCROW_BACKEND: 's3' }, 'BYOK_ESCROW_BACKEND: must be one of file, kms-secrets, got "s3"'],
    [
      { BYOK_ESCROW_KEY_ID: 'key with space' },
      'BYOK_ESCROW_KEY_ID: must be a CMK id, alias/<name> or ARN without spaces, got "key with space"',
    ],
    [{ BYOK_LEASE_TTL_SECONDS: '30' }, 'BYOK_LEASE_TTL_SECONDS: must be a whole number from 60 to 86400, got "30"'],
    [{ BYOK_AUDIT_SINK: 'syslog' }, 'BYOK_AUDIT_SINK: must be one of stdout, file, both, got "syslog"'],
    [{ BYOK_AUDIT_SINK: 'both' }, 'BYOK_AUDIT_FILE: required: the audit JSONL file (BYOK_AUDIT_SINK=both)'],
    [
      { BYOK_POLICY_VALIDITY_DAYS: 'abc' },
      'BYOK_POLICY_VALIDITY_DAYS: must be a whole number from 2 to 3650, got "abc"',
    ],
    [{ BYOK_POLICY_VALIDITY_DAYS: '1' }, 'BYOK_POLICY_VALIDITY_DAYS: must be a whole number from 2 to 3650, got "1"'],
    [
      { BYOK_POLICY_VALIDITY_DAYS: '30.5' },
      'BYOK_POLICY_VALIDITY_DAYS: must be a whole number from 2 to 3650, got "30.5"',
    ],
    [
      { BYOK_POLICY_VALIDITY_DAYS: '1e3' },
      'BYOK_POLICY_VALIDITY_DAYS: must be a whole number from 2 to 3650, got "1e3"',
    ],
    [
      { BYOK_POLICY_RENEW_BEFORE_DAYS: '0' },
      'BYOK_POLICY_RENEW_BEFORE_DAYS: must be a whole number from 1 to 3649, got "0"',
    ],
    [
      { BYOK_POLICY_VALIDITY_DAYS: '10', BYOK_POLICY_RENEW_BEFORE_DAYS: '10' },
      'BYOK_POLICY_RENEW_BEFORE_DAYS: must be less than BYOK_POLICY_VALIDITY_DAYS (10), got 10',
    ],
    [
      { BYOK_POLICY_RENEW_BEFORE_DAYS: '30' },
      'BYOK_POLICY_RENEW_BEFORE_DAYS: must be less than BYOK_POLICY_VALIDITY_DAYS (30), got 30',
    ],
    [
      { BYOK_POLICY_ROTATE_AFTER_DAYS: '-1' },
      'BYOK_POLICY_ROTATE_AFTER_DAYS: must be a whole number from 0 to 36500 (0 = never), got "-1"',
    ],
    [
      { BYOK_POLICY_RETAIN_PREVIOUS_DAYS: '-1' },
      'BYOK_POLICY_RETAIN_PREVIOUS_DAYS: must be a whole number from 0 to 36500 (0 = forever), got "-1"',
    ],
    [
      { BYOK_POLICY_REVIVE_VALIDITY_DAYS: '0' },
      'BYOK_POLICY_REVIVE_VALIDITY_DAYS: must be a whole number from 1 to 3650, got "0"',
    ],
    [
      { BYOK_POLICY_WRAPPING_ALGORITHM: 'RSA_OAEP' },
      'BYOK_POLICY_WRAPPING_ALGORITHM: must be one of RSAES_OAEP_SHA_256, ' +
        'RSAES_OAEP_SHA_1, RSAES_PKCS1_V1_5, SM2PKE, got "RSA_OAEP"',
    ],
    [
      { BYOK_POLICY_KEY_SPEC: 'RSA_2048' },
      'BYOK_POLICY_KEY_SPEC: must be one of Aliyun_AES_256, Aliyun_AES_192, Aliyun_AES_128, Aliyun_SM4, got "RSA_2048"',
    ],
    [
      { BYOK_WEBHOOK_SECRET_NAME: 'bad name!' },
      'BYOK_WEBHOOK_SECRET_NAME: must be a Secrets Manager secret ' +
        'name (1-192 letters, digits and _ / + = . @ -), got "bad name!"',
    ],
  ])('%o -> %s', (patch, message) => {
    const err = problemsOf({ ...base, ...patch });
    expect(err.code).toBe(ErrorCode.InvalidConfig);
    expect(err.message).toBe(message);
    expect(err.problems).toHaveLength(1);
  });

  it('requires the escrow key for the kms-secrets backend (and then for leases)', () => {
    const err = problemsOf({ BYOK_REGION: 'cn-hangzhou', BYOK_KMS_INSTANCE_ID: KEYS, BYOK_ESCROW_INSTANCE_ID: ESCROW });
    expect(err.problems.map((p) => p.message)).toEqual([
      'BYOK_ESCROW_KEY_ID: required: the Aliyun_KMS CMK that encrypts escrow secrets (BYOK_ESCROW_BACKEND=kms-secrets)',
      'BYOK_LEASE_KEY_ID: required: the Aliyun_KMS CMK that ' +
        'encrypts lineage lease secrets; set it or BYOK_ESCROW_KEY_ID',
    ]);
  });

  it('requires directory, master key file and a lease key for the file backend', () => {
    const err = problemsOf({ BYOK_REGION: 'cn-hangzhou', BYOK_ESCROW_BACKEND: 'file' });
    expect(err.problems.map((p) => p.variable)).toEqual([
      'BYOK_ESCROW_DIR',
      'BYOK_ESCROW_MASTER_KEY_FILE',
      'BYOK_LEASE_KEY_ID',
    ]);
  });

  it('refuses both a webhook secret value and its secret name', () => {
    const err = problemsOf({
      ...base,
      BYOK_WEBHOOK_SECRET: 'x'.repeat(32),
      BYOK_WEBHOOK_SECRET_NAME: 'byok-webhook-auth',
    });
    expect(err.message).toBe(
      'BYOK_WEBHOOK_SECRET: set either BYOK_WEBHOOK_SECRET or BYOK_WEBHOOK_SECRET_NAME, not both',
    );
  });
});

describe('BYOK_POLICY_OVERRIDES validation', () => {
  const overrides = (json: string) => problemsOf({ ...base, BYOK_POLICY_OVERRIDES: json });

  it('rejects text that is not JSON without quoting it', () => {
    expect(overrides('{payments: 10}').message).toBe(
      'BYOK_POLICY_OVERRIDES: must be a JSON object {"<lineage>": ' +
        '{"validityDays": 10, ...}}, got text that is not valid JSON',
    );
  });

  it('rejects a JSON array', () => {
    expect(overrides('[1]').message).toBe(
      'BYOK_POLICY_OVERRIDES: must be a JSON object {"<lineage>": {...}}, got an array',
    );
  });

  it('names the lineage and the field of each bad value', () => {
    const err = overrides(
      '{"payments": {"validityDays": "10", "rotateAfterDays": 1.5, ' +
        '"keySpec": "AES"}, "orders": {"retention": 3}, "alias/x": {}}',
    );
    expect(err.problems.map((p) => p.message)).toEqual([
      'BYOK_POLICY_OVERRIDES.payments.validityDays: must be a whole number from 2 to 3650, got "10"',
      'BYOK_POLICY_OVERRIDES.payments.rotateAfterDays: must be a whole number from 0 to 36500 (0 = never), got 1.5',
      'BYOK_POLICY_OVERRIDES.payments.keySpec: must be one of ' +
        'Aliyun_AES_256, Aliyun_AES_192, Aliyun_AES_128, Aliyun_SM4, got "AES"',
      'BYOK_POLICY_OVERRIDES.orders: unknown field "retention" (allowed: validityDays, ' +
        'renewBeforeDays, rotateAfterDays, retainPreviousDays, reviveValidityDays, wrappingAlgorithm, keySpec)',
      'BYOK_POLICY_OVERRIDES: lineage "alias/x" must be written without the alias/ prefix',
    ]);
  });

  it('checks renew-before against the effective validity (override + defaults)', () => {
    expect(overrides('{"payments": {"validityDays": 7}}').message).toBe(
      'BYOK_POLICY_OVERRIDES.payments: renewBeforeDays (7) must be less than validityDays (7)',
    );
  });

  it('rejects a lineage name with characters an alias cannot have', () => {
    expect(overrides('{"pay ments": {}}').message).toBe(
      'BYOK_POLICY_OVERRIDES: lineage "pay ments": a lineage name may contain ' +
        'only letters, digits, _, - and / (the characters KMS allows in an alias name)',
    );
  });

  it('accepts a lineage name of exactly 128 characters', () => {
    const lineage = 'a'.repeat(128);
    expect(
      parseConfig({ ...base, BYOK_POLICY_OVERRIDES: JSON.stringify({ [lineage]: { validityDays: 10 } }) }).policies
        .lineages[lineage],
    ).toEqual({ validityDays: 10 });
  });

  it('refuses a lineage name of 129 characters, naming the tag-value limit', () => {
    expect(overrides(JSON.stringify({ ['a'.repeat(129)]: {} })).message).toBe(
      `BYOK_POLICY_OVERRIDES: lineage "${'a'.repeat(64)}...": a lineage name must be 1-128 ` +
        `characters (it is stored as the byok:lineage tag value, which KMS limits to 128), got 129`,
    );
  });

  it('refuses a lineage name starting with acs, which KMS reserves for its aliases', () => {
    expect(overrides('{"acs-payments": {}}').message).toBe(
      'BYOK_POLICY_OVERRIDES: lineage "acs-payments": a lineage name must ' +
        'not start with "acs" (KMS reserves alias names starting with alias/acs)',
    );
  });
});

describe('several problems at once', () => {
  it('lists every problem in one error, in variable order', () => {
    const err = problemsOf({
      BYOK_KMS_PROTOCOL: 'ftp',
      BYOK_POLICY_VALIDITY_DAYS: 'abc',
      BYOK_AUDIT_SINK: 'file',
      BYOK_ESCROW_KEY_ID: 'k1',
      BYOK_KMS_INSTANCE_ID: KEYS,
      BYOK_ESCROW_INSTANCE_ID: ESCROW,
    });
    expect(err.problems.map((p) => p.variable)).toEqual([
      'BYOK_REGION',
      'BYOK_KMS_PROTOCOL',
      'BYOK_AUDIT_FILE',
      'BYOK_POLICY_VALIDITY_DAYS',
    ]);
    expect(err.message).toBe(
      '4 configuration problems: BYOK_REGION: required: the KMS region id, ' +
        'e.g. cn-hangzhou; BYOK_KMS_PROTOCOL: must be one of http, https, got "ftp"; ' +
        'BYOK_AUDIT_FILE: required: the audit JSONL file (BYOK_AUDIT_SINK=file); ' +
        'BYOK_POLICY_VALIDITY_DAYS: must be a whole number from 2 to 3650, got "abc"',
    );
    expect(err.details).toMatchObject({
      field: 'BYOK_REGION',
      variables: 'BYOK_REGION,BYOK_KMS_PROTOCOL,BYOK_AUDIT_FILE,BYOK_POLICY_VALIDITY_DAYS',
    });
  });
});

describe('warnings', () => {
  it('flags unknown BYOK_* variables with the nearest known name', () => {
    const c = parseConfig({ ...base, BYOK_POLICY_RETAIN_DAYS: '730', BYOK_ZZZ: '1', PATH: '/bin' });
    expect(c.warnings).toEqual([
      'BYOK_POLICY_RETAIN_DAYS is not a known variable and is ignored (did you mean BYOK_POLICY_RETAIN_PREVIOUS_DAYS?)',
      'BYOK_ZZZ is not a known variable and is ignored',
    ]);
  });

  it('flags file-backend variables that the kms-secrets backend ignores', () => {
    expect(parseConfig({ ...base, BYOK_ESCROW_DIR: '/tmp/e' }).warnings).toEqual([
      'BYOK_ESCROW_DIR is ignored: BYOK_ESCROW_BACKEND is kms-secrets',
    ]);
  });

  it('does not warn about BYOK_DEBUG', () => {
    expect(parseConfig({ ...base, BYOK_DEBUG: '1' }).warnings).toEqual([]);
  });
});

describe('secrets are never echoed', () => {
  const secret = 'hmac-S3cr3t-value-that-must-not-leak';
  const token = 'tok_Abcdefghijklmnop0123';

  it('keeps secret values in a SecretString that prints as [redacted]', () => {
    const c = parseConfig({ ...base, BYOK_WEBHOOK_SECRET: secret, BYOK_WEBHOOK_URL_TOKEN: token });
    const s = c.webhook.secret;
    expect(s?.source === 'value' && s.value.reveal()).toBe(secret);
    const u = c.webhook.urlToken;
    expect(u?.source === 'value' && u.value.reveal()).toBe(token);
    for (const text of [
      JSON.stringify(c),
      inspect(c, { depth: 10 }),
      String(s?.source === 'value' ? s.value : ''),
      `${JSON.stringify(redactConfig(c))}`,
    ]) {
      expect(text).not.toContain(secret);
      expect(text).not.toContain(token);
    }
  });

  it('redactConfig shows [redacted] where a secret value was, and secret names as they are', () => {
    const c = parseConfig({ ...base, BYOK_WEBHOOK_SECRET: secret, BYOK_WEBHOOK_URL_TOKEN_NAME: 'byok-webhook-auth' });
    expect(redactConfig(c)['webhook']).toEqual({
      secret: { source: 'value', value: '[redacted]' },
      urlToken: { source: 'kms-secret', secretName: 'byok-webhook-auth' },
    });
  });

  it('does not quote a secret value that breaks a rule', () => {
    const short = 'sh0rt-s3cret';
    const err = problemsOf({
      ...base,
      BYOK_WEBHOOK_SECRET: short,
      BYOK_WEBHOOK_URL_TOKEN: 'has spaces in the token value',
    });
    expect(err.problems.map((p) => p.message)).toEqual([
      'BYOK_WEBHOOK_SECRET: must be at least 16 characters (value not shown)',
      'BYOK_WEBHOOK_URL_TOKEN: must be at least 16 characters of A-Z a-z 0-9 . _ ~ - (value not shown)',
    ]);
    expect(JSON.stringify(err.toJSON())).not.toContain(short);
    expect(JSON.stringify(err.toJSON())).not.toContain('has spaces');
  });

  it('SecretString hides itself from JSON, String() and inspect', () => {
    const s = new SecretString('abc-secret');
    expect([JSON.stringify({ s }), String(s), inspect(s)]).toEqual(['{"s":"[redacted]"}', '[redacted]', '[redacted]']);
  });
});

describe('KMS 3.0 instances and escrow placement', () => {
  const refusal = 'BYOK_ESCROW_INSTANCE_ID: must name a different KMS instance than BYOK_KMS_INSTANCE_ID';

  it('places keys and escrow in the two instances it is given', () => {
    expect(parseConfig(base).instances).toEqual({ keys: KEYS, escrow: ESCROW });
  });

  it("refuses to start when escrow would live in the keys' own instance", () => {
    const err = problemsOf({ ...base, BYOK_ESCROW_INSTANCE_ID: KEYS });
    expect(err.code).toBe(ErrorCode.InvalidConfig);
    expect(err.message).toContain(`${refusal} (both ${KEYS})`);
    expect(err.message).toContain('BYOK_RECOVERY_PUBLIC_KEY_FILE');
    expect(err.message).toContain('BYOK_ALLOW_ESCROW_IN_KEY_INSTANCE=true');
  });

  it('refuses to start when neither instance is set (both would be the default instance)', () => {
    const err = problemsOf({ BYOK_REGION: 'cn-hangzhou', BYOK_ESCROW_KEY_ID: 'key-escrow-0001' });
    expect(err.message).toContain(`${refusal} (both unset, so both would live in the default instance)`);
  });

  it('starts with a warning when the offline break-glass copy is configured', () => {
    const c = parseConfig({
      ...base,
      BYOK_ESCROW_INSTANCE_ID: KEYS,
      BYOK_RECOVERY_PUBLIC_KEY_FILE: '/etc/byok/recovery.pem',
    });
    expect(c.warnings).toEqual([
      `BYOK_ESCROW_INSTANCE_ID and BYOK_KMS_INSTANCE_ID name the same instance (both ${KEYS}): escrow ` +
        `shares fate with the keys; the offline break-glass copy ` +
        `(BYOK_RECOVERY_PUBLIC_KEY_FILE) is the only way back if that instance is released or lapses`,
    ]);
  });

  it('starts with a warning when the operator accepts the risk explicitly', () => {
    const c = parseConfig({ ...base, BYOK_ESCROW_INSTANCE_ID: KEYS, BYOK_ALLOW_ESCROW_IN_KEY_INSTANCE: 'true' });
    expect(c.warnings).toEqual([
      `BYOK_ESCROW_INSTANCE_ID and BYOK_KMS_INSTANCE_ID name the same instance (both ${KEYS}): ` +
        `escrow shares fate with the keys; accepted by BYOK_ALLOW_ESCROW_IN_KEY_INSTANCE=true`,
    ]);
  });

  it('does not apply the placement rule to the file escrow backend', () => {
    const c = parseConfig({
      BYOK_REGION: 'cn-hangzhou',
      BYOK_ESCROW_BACKEND: 'file',
      BYOK_ESCROW_DIR: '/e',
      BYOK_ESCROW_MASTER_KEY_FILE: '/m',
      BYOK_LEASE_KEY_ID: 'k',
      BYOK_KMS_INSTANCE_ID: KEYS,
    });
    expect(c.instances).toEqual({ keys: KEYS });
    expect(c.warnings).toEqual([]);
  });

  it('warns what an unset keys instance means', () => {
    const c = parseConfig({
      BYOK_REGION: 'cn-hangzhou',
      BYOK_ESCROW_BACKEND: 'file',
      BYOK_ESCROW_DIR: '/e',
      BYOK_ESCROW_MASTER_KEY_FILE: '/m',
      BYOK_LEASE_KEY_ID: 'k',
    });
    expect(c.warnings).toHaveLength(1);
    expect(c.warnings[0]).toMatch(
      /^BYOK_KMS_INSTANCE_ID is unset: on KMS 3\.0 new CMKs become the region's default key \(at most one/,
    );
  });

  it.each([
    ['BYOK_KMS_INSTANCE_ID', 'key-123'],
    ['BYOK_ESCROW_INSTANCE_ID', 'kst-UPPER0000000'],
    ['BYOK_ALLOW_ESCROW_IN_KEY_INSTANCE', 'yes'],
  ])('names %s when its value %s breaks the rule', (variable, value) => {
    const err = problemsOf({ ...base, [variable]: value });
    expect(err.problems.map((p) => p.variable)).toEqual([variable]);
  });
});

describe("the orchestrator's own identity (webhook ignores its own ActionTrail events)", () => {
  it('reads comma-separated role and session names', () => {
    const c = parseConfig({
      ...base,
      BYOK_SELF_ROLE_NAMES: 'byok-orchestrator, byok-ops',
      BYOK_SELF_SESSION_NAMES: 'fc-session',
    });
    expect([c.webhook.selfRoleNames, c.webhook.selfSessionNames]).toEqual([
      ['byok-orchestrator', 'byok-ops'],
      ['fc-session'],
    ]);
  });

  it('names the variable when a name has characters RAM names cannot have', () => {
    const err = problemsOf({ ...base, BYOK_SELF_ROLE_NAMES: 'ok-role,bad role' });
    expect(err.problems.map((p) => p.message)).toEqual([
      'BYOK_SELF_ROLE_NAMES: must be comma-separated RAM role or session names ' +
        '(1-64 of A-Z a-z 0-9 . _ @ -), got "bad role"',
    ]);
  });
});
