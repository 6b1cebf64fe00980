/**
 * Configuration: parsed and validated once, from a plain map of environment variables (the caller
 * passes `process.env`; nothing in shared/ reads it). Every problem is collected, and all of them
 * are reported in one InvalidConfig error whose message names each variable and the rule it broke.
 *
 * About 300 lines because this comment lists every variable once, next to the code that reads them.
 *
 * Variables, as `name (default): meaning` (the README has the same list as a table):
 *
 * - `BYOK_REGION` (required): KMS region id, e.g. `cn-hangzhou`
 * - `BYOK_KMS_ENDPOINT` (`kms.<region>.aliyuncs.com`): KMS endpoint as `host[:port]`, no scheme (a VPC endpoint, or
 *   `127.0.0.1:PORT` for the emulator)
 * - `BYOK_KMS_PROTOCOL` (`https`): `http` or `https` (`http` only for the local emulator)
 * - `BYOK_KMS_MAX_RPS` (none): client-side ceiling on KMS requests per second (a number > 0, at most 1000)
 * - `BYOK_KMS_CONCURRENCY` (derived): fixed KMS calls in flight, 1-64; unset = rate x observed latency (2-32)
 * - `BYOK_KMS_QPS_SHARE` (`0.8`): share (0-1] of each documented per-account KMS QPS quota, or `off`
 * - `BYOK_SWEEP_SHARD_LINEAGES` (`10000`): most lineages one sweep function handles before it shards, 10-1000000
 * - `BYOK_SWEEP_PARALLEL_SHARDS` (`4`): shards running at once (= the sweep's reservedConcurrency), 1-100
 * - `BYOK_KMS_INSTANCE_ID` (none, warned): KMS 3.0 instance (`kst-...`) the managed CMKs are created in; unset = the
 *   region's default key (only one) or the default instance of a migrated account
 * - `BYOK_ESCROW_INSTANCE_ID` (none): KMS 3.0 instance of the escrow CMK and of the escrow and lease secrets; must
 *   differ from `BYOK_KMS_INSTANCE_ID` (see `BYOK_ALLOW_ESCROW_IN_KEY_INSTANCE`)
 * - `BYOK_ALLOW_ESCROW_IN_KEY_INSTANCE` (`false`): `true` accepts escrow in the keys' own instance (one released or
 *   lapsed instance then loses keys and escrow together); not needed when `BYOK_RECOVERY_PUBLIC_KEY_FILE` is set
 * - `BYOK_ESCROW_BACKEND` (`kms-secrets`): where escrowed material lives: `kms-secrets` (KMS Secrets Manager) or `file`
 *   (sealed local files)
 * - `BYOK_ESCROW_KEY_ID` (required for `kms-secrets`): the `Aliyun_KMS` CMK that encrypts escrow secrets (also the
 *   default lease key)
 * - `BYOK_ESCROW_DIR` (required for `file`): directory of sealed escrow files
 * - `BYOK_ESCROW_MASTER_KEY_FILE` (required for `file`): 32-byte master key of the file backend (created when the store
 *   is empty)
 * - `BYOK_RECOVERY_PUBLIC_KEY_FILE` (none): PEM of an offline RSA-4096 break-glass public key; every escrow record is
 *   also sealed to it
 * - `BYOK_LEASE_KEY_ID` (`BYOK_ESCROW_KEY_ID`): the `Aliyun_KMS` CMK that encrypts lineage lease secrets; one of the
 *   two is required
 * - `BYOK_ESCROW_VERIFY_DAYS` (`30`): every escrow record is decrypted and checked at least once in this many days
 *   (1-366; spread over the days, docs/design.md "Observe")
 * - `BYOK_TAG_RECONCILE_DAYS` (`30`): every managed key's own tags are read at least once in this many days (1-366);
 *   in between, a sweep reads them from the mirror on its escrow secret
 * - `BYOK_LEASE_TTL_SECONDS` (`900`): how long a lineage lease lasts (60-86400); keep it above the function timeout
 * - `BYOK_AUDIT_SINK` (`stdout`): `stdout`, `file` or `both`
 * - `BYOK_AUDIT_FILE` (required for `file`/`both`): audit JSONL file (appended)
 * - `BYOK_POLICY_VALIDITY_DAYS` (`30`): Valid Until of each import, days from now (2-3650)
 * - `BYOK_POLICY_RENEW_BEFORE_DAYS` (`7`): renew this many days before Valid Until (1-3649, less than the validity)
 * - `BYOK_POLICY_ROTATE_AFTER_DAYS` (`365`): new generation after this many days (0 = never, else 1-36500)
 * - `BYOK_POLICY_RETAIN_PREVIOUS_DAYS` (`0`): keep renewing a superseded generation this long (0-36500, 0 = forever)
 * - `BYOK_POLICY_REVIVE_VALIDITY_DAYS` (`7`): Valid Until of a retired generation revived on demand (1-3650)
 * - `BYOK_POLICY_WRAPPING_ALGORITHM` (`RSAES_OAEP_SHA_256`): `RSAES_OAEP_SHA_256`, `RSAES_OAEP_SHA_1`,
 *   `RSAES_PKCS1_V1_5` or `SM2PKE`
 * - `BYOK_POLICY_KEY_SPEC` (`Aliyun_AES_256`): key spec of new CMKs: `Aliyun_AES_256`, `Aliyun_AES_192`,
 *   `Aliyun_AES_128`, `Aliyun_SM4`
 * - `BYOK_POLICY_OVERRIDES` (none): JSON `{"<lineage>": {"validityDays": 10, ...}}`; fields as the policy variables in
 *   camelCase
 * - `BYOK_WEBHOOK_SECRET` (none): webhook HMAC secret (>= 16 characters); prefer `..._NAME`
 * - `BYOK_WEBHOOK_SECRET_NAME` (none): name of the KMS secret holding the webhook HMAC secret (set one of the two at
 *   most)
 * - `BYOK_WEBHOOK_URL_TOKEN` (none): webhook URL token (>= 16 URL-safe characters); prefer `..._NAME`
 * - `BYOK_WEBHOOK_URL_TOKEN_NAME` (none): name of the KMS secret holding the URL token (set one of the two at most)
 * - `BYOK_SELF_ROLE_NAMES`, `BYOK_SELF_SESSION_NAMES` (none): the orchestrator's own RAM role / session names;
 *   the webhook ignores ActionTrail events they caused
 *
 * An empty value counts as unset. Values are trimmed, except secrets. Secret values are kept in a
 * SecretString, which prints and serialises as `[redacted]`; `redactConfig` is the only view of a
 * Config meant for output.
 *
 * Layout: this file reads the variables in order (parseConfig) and redacts; variables.ts names
 * them, schema.ts is the resulting shape and its defaults, reader.ts the value rules, policy.ts the
 * policy variables, placement.ts the escrow-instance rule, secrets.ts the webhook secrets,
 * warnings.ts the unknown-variable hints.
 */
import { EscrowBackend, type EscrowConfig } from '../escrow/store.js';
import { parseAlerts } from './alerts.js';
import { checkEscrowPlacement } from './placement.js';
import { parseOverrides, parsePolicyDefaults } from './policy.js';
import {
  ENDPOINT_PATTERN,
  INSTANCE_ID_PATTERN,
  KEY_ID_PATTERN,
  MIN_SECRET_CHARS,
  REGION_PATTERN,
  Reader,
  URL_TOKEN_PATTERN,
  opt,
  shown,
} from './reader.js';
import {
  AuditSinkChoice,
  ConfigError,
  DEFAULT_KMS_CONCURRENCY,
  DEFAULT_CHECK_PERIOD_DAYS,
  DEFAULT_KMS_QPS_SHARE,
  DEFAULT_LEASE_TTL_SECONDS,
  DEFAULT_SWEEP_PARALLEL_SHARDS,
  DEFAULT_SWEEP_SHARD_LINEAGES,
  KmsProtocol,
  REDACTED,
  Range,
  type Config,
  type LineagePolicy,
  type SecretSetting,
} from './schema.js';
import { parseSecretSetting } from './secrets.js';
import { ConfigVariable } from './variables.js';
import { warnUnknown } from './warnings.js';

export {
  AuditSinkChoice,
  ConfigError,
  DEFAULT_CHECK_PERIOD_DAYS,
  DEFAULT_KMS_CONCURRENCY,
  DEFAULT_KMS_QPS_SHARE,
  DEFAULT_LEASE_TTL_SECONDS,
  DEFAULT_POLICY,
  DEFAULT_SWEEP_SHARD_LINEAGES,
  KmsProtocol,
  REDACTED,
  SecretString,
} from './schema.js';
export type { Config, ConfigProblem, Policies, LineagePolicy, SecretSetting } from './schema.js';
export { ConfigVariable } from './variables.js';

/** Parses and validates the whole configuration, or throws one ConfigError listing every problem. */
export function parseConfig(env: Record<string, string | undefined>): Config {
  const r = new Reader(env);
  const V = ConfigVariable;

  // Region and KMS endpoint.
  const region = r.required(
    V.Region,
    'the KMS region id, e.g. cn-hangzhou',
    r.string(V.Region, REGION_PATTERN, 'must be a region id such as cn-hangzhou'),
  );
  let endpoint: string | undefined;
  const rawEndpoint = r.raw(V.KmsEndpoint);
  if (rawEndpoint !== undefined) {
    const m = ENDPOINT_PATTERN.exec(rawEndpoint);
    if (/^[a-z][a-z0-9+.-]*:\/\//i.test(rawEndpoint)) {
      r.fail(
        V.KmsEndpoint,
        `must be host[:port] without a scheme (set ${V.KmsProtocol} instead), got ${shown(V.KmsEndpoint, rawEndpoint)}`,
      );
    } else if (!m || (m[2] !== undefined && (Number(m[2]) < 1 || Number(m[2]) > 65535))) {
      r.fail(
        V.KmsEndpoint,
        `must be host[:port] with a port from 1 to 65535, got ${shown(V.KmsEndpoint, rawEndpoint)}`,
      );
    } else {
      endpoint = rawEndpoint;
    }
  } else if (region !== undefined) {
    endpoint = `kms.${region}.aliyuncs.com`;
  }
  const protocol = r.oneOf(V.KmsProtocol, Object.values(KmsProtocol), KmsProtocol.Https);
  let maxRequestsPerSecond: number | undefined;
  const rawRps = r.raw(V.KmsMaxRps);
  if (rawRps !== undefined) {
    const n = /^\d+(?:\.\d+)?$/.test(rawRps) ? Number(rawRps) : NaN;
    if (n > 0 && n <= 1000) maxRequestsPerSecond = n;
    else r.fail(V.KmsMaxRps, `must be a number greater than 0 and at most 1000, got ${shown(V.KmsMaxRps, rawRps)}`);
  }
  // Unset = derived (Little's law on the paced rate and the observed latency, shared/kms/resilience.ts).
  const concurrency = r.isSet(V.KmsConcurrency)
    ? r.int(V.KmsConcurrency, Range.concurrency, DEFAULT_KMS_CONCURRENCY)
    : undefined;
  let qpsShare: number | undefined = DEFAULT_KMS_QPS_SHARE;
  const rawShare = r.raw(V.KmsQpsShare);
  if (rawShare === 'off') qpsShare = undefined;
  else if (rawShare !== undefined) {
    const n = /^(?:0(?:\.\d+)?|1(?:\.0+)?)$/.test(rawShare) ? Number(rawShare) : NaN;
    if (n > 0 && n <= 1) qpsShare = n;
    else
      r.fail(
        V.KmsQpsShare,
        `must be a number greater than 0 and at most 1, or off, got ${shown(V.KmsQpsShare, rawShare)}`,
      );
  }
  const shardLineages = r.int(V.SweepShardLineages, Range.sweepShardLineages, DEFAULT_SWEEP_SHARD_LINEAGES);
  const parallelShards = r.int(V.SweepParallelShards, Range.sweepParallelShards, DEFAULT_SWEEP_PARALLEL_SHARDS);
  const escrowVerifyDays = r.int(V.EscrowVerifyDays, Range.checkPeriodDays, DEFAULT_CHECK_PERIOD_DAYS);
  const tagReconcileDays = r.int(V.TagReconcileDays, Range.checkPeriodDays, DEFAULT_CHECK_PERIOD_DAYS);

  // Escrow and leases.
  const backend = r.oneOf(V.EscrowBackend, Object.values(EscrowBackend), EscrowBackend.KmsSecrets);
  const keyIdRule = 'must be a CMK id, alias/<name> or ARN without spaces';
  const escrowKeyId = r.string(V.EscrowKeyId, KEY_ID_PATTERN, keyIdRule);
  const recoveryPublicKeyFile = r.raw(V.RecoveryPublicKeyFile);
  let escrow: EscrowConfig | undefined;
  if (backend === EscrowBackend.File) {
    const dir = r.required(
      V.EscrowDir,
      `the directory of sealed escrow files (${V.EscrowBackend}=file)`,
      r.raw(V.EscrowDir),
    );
    const masterKeyFile = r.required(
      V.EscrowMasterKeyFile,
      `the escrow master key file (${V.EscrowBackend}=file)`,
      r.raw(V.EscrowMasterKeyFile),
    );
    if (dir !== undefined && masterKeyFile !== undefined)
      escrow = { backend, dir, masterKeyFile, ...opt('recoveryPublicKeyFile', recoveryPublicKeyFile) };
  } else if (backend === EscrowBackend.KmsSecrets) {
    const keyId = r.required(
      V.EscrowKeyId,
      `the Aliyun_KMS CMK that encrypts escrow secrets (${V.EscrowBackend}=kms-secrets)`,
      escrowKeyId,
    );
    if (keyId !== undefined) escrow = { backend, keyId, ...opt('recoveryPublicKeyFile', recoveryPublicKeyFile) };
    for (const ignored of [V.EscrowDir, V.EscrowMasterKeyFile]) {
      if (r.isSet(ignored)) r.warnings.push(`${ignored} is ignored: ${V.EscrowBackend} is kms-secrets`);
    }
  }
  let leaseKeyId = r.string(V.LeaseKeyId, KEY_ID_PATTERN, keyIdRule);
  if (!r.isSet(V.LeaseKeyId)) {
    leaseKeyId = escrowKeyId;
    if (!r.isSet(V.EscrowKeyId)) {
      r.fail(
        V.LeaseKeyId,
        `required: the Aliyun_KMS CMK that encrypts lineage lease secrets; set it or ${V.EscrowKeyId}`,
      );
    }
  }
  const leaseTtlSeconds = r.int(V.LeaseTtlSeconds, Range.leaseTtlSeconds, DEFAULT_LEASE_TTL_SECONDS);

  // KMS 3.0 instances, and the rule that escrow must not share fate with the keys it protects.
  const instanceRule = 'must be a KMS instance id such as kst-hzz62ee817bvyyr5x0000';
  const keysInstance = r.string(V.KmsInstanceId, INSTANCE_ID_PATTERN, instanceRule);
  const escrowInstance = r.string(V.EscrowInstanceId, INSTANCE_ID_PATTERN, instanceRule);
  const allowShared = r.oneOf(V.AllowEscrowInKeyInstance, ['true', 'false'] as const, 'false');
  if (!r.isSet(V.KmsInstanceId)) {
    r.warnings.push(
      `${V.KmsInstanceId} is unset: on KMS 3.0 new CMKs become the region's default key (at most one, ` +
        `so a second lineage or rotation fails) or, on an account migrated from KMS 1.0, land in ` +
        `its default instance; set it to the software or hardware key management instance the keys belong in`,
    );
  }
  // With the file backend the escrow is not in KMS; BYOK_ESCROW_INSTANCE_ID still places the lease secrets.
  if (backend === EscrowBackend.KmsSecrets)
    checkEscrowPlacement(r, keysInstance, escrowInstance, recoveryPublicKeyFile !== undefined, allowShared === 'true');

  // Audit.
  const sink = r.oneOf(V.AuditSink, Object.values(AuditSinkChoice), AuditSinkChoice.Stdout);
  const auditFile = r.raw(V.AuditFile);
  if ((sink === AuditSinkChoice.File || sink === AuditSinkChoice.Both) && auditFile === undefined) {
    r.fail(V.AuditFile, `required: the audit JSONL file (${V.AuditSink}=${sink})`);
  }

  // Policies.
  const defaults = parsePolicyDefaults(r);
  const lineages = parseOverrides(r, defaults);

  // Webhook secrets.
  const secret = parseSecretSetting(
    r,
    V.WebhookSecret,
    V.WebhookSecretName,
    /^[\s\S]+$/,
    `at least ${MIN_SECRET_CHARS} characters`,
  );
  const urlToken = parseSecretSetting(
    r,
    V.WebhookUrlToken,
    V.WebhookUrlTokenName,
    URL_TOKEN_PATTERN,
    `at least ${MIN_SECRET_CHARS} characters of A-Z a-z 0-9 . _ ~ -`,
  );

  // The orchestrator's own identity, so the webhook ignores ActionTrail events of its own writes.
  const names = (variable: string): string[] => {
    const raw = r.raw(variable);
    if (raw === undefined) return [];
    const list = raw
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== '');
    const bad = list.find((n) => !/^[A-Za-z0-9._@-]{1,64}$/.test(n));
    if (bad !== undefined) {
      const rule = 'must be comma-separated RAM role or session names (1-64 of A-Z a-z 0-9 . _ @ -)';
      r.fail(variable, `${rule}, got ${JSON.stringify(bad.slice(0, 64))}`);
    }
    return list;
  };
  const selfRoleNames = names(V.SelfRoleNames);
  const selfSessionNames = names(V.SelfSessionNames);

  // Alerts (shared/alerts).
  const alerts = parseAlerts(r);

  warnUnknown(r, env);

  if (r.problems.length > 0) throw new ConfigError(r.problems);
  return {
    region: region!,
    kms: {
      endpoint: endpoint!,
      protocol: protocol!,
      ...opt('maxRequestsPerSecond', maxRequestsPerSecond),
      ...opt('concurrency', concurrency),
      ...opt('qpsShare', qpsShare),
    },
    sweep: {
      shardLineages: shardLineages!,
      parallelShards: parallelShards!,
      escrowVerifyDays: escrowVerifyDays!,
      tagReconcileDays: tagReconcileDays!,
    },
    escrow: escrow!,
    instances: { ...opt('keys', keysInstance), ...opt('escrow', escrowInstance) },
    leaseKeyId: leaseKeyId!,
    leaseTtlSeconds: leaseTtlSeconds!,
    audit: { sink: sink!, ...opt('file', auditFile) },
    policies: { defaults: defaults as LineagePolicy, lineages },
    webhook: { ...opt('secret', secret), ...opt('urlToken', urlToken), selfRoleNames, selfSessionNames },
    alerts,
    warnings: r.warnings,
  };
}

/** A JSON-safe copy of `config` for `--show-config` output: secret values replaced by `[redacted]`. */
export function redactConfig(config: Config): Record<string, unknown> {
  const secret = (s: SecretSetting | undefined) =>
    s === undefined
      ? undefined
      : s.source === 'value'
        ? { source: 'value', value: REDACTED }
        : { source: s.source, secretName: s.secretName };
  return JSON.parse(
    JSON.stringify({
      ...config,
      webhook: { secret: secret(config.webhook.secret), urlToken: secret(config.webhook.urlToken) },
      alerts: {
        ...config.alerts,
        ...(config.alerts.webhook
          ? {
              webhook: {
                url: REDACTED,
                format: config.alerts.webhook.format,
                ...opt('secret', secret(config.alerts.webhook.secret)),
              },
            }
          : {}),
      },
    }),
  ) as Record<string, unknown>;
}
